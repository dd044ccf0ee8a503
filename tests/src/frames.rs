//! A small builder of raw Ethernet frames for tests that feed frames to the datapath
//! directly (BPF_PROG_TEST_RUN, AF_PACKET): Ethernet with at most one 802.1Q/802.1ad tag,
//! ARP, IPv4 (options, fragment fields, TTL), IPv6 (hop limit, extension headers), and
//! TCP, UDP, ICMP and ICMPv6 on top, every checksum filled in.
//!
//! ```
//! use netauth_lab::frames::{Eth, Ipv4, L4, Tcp, TCP_SYN};
//! let eth = Eth::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
//! let ip = Ipv4::new([192, 0, 2, 10], [203, 0, 113, 80]);
//! let frame = eth.ipv4(&ip, &L4::Tcp(Tcp::new(40000, 443, TCP_SYN)));
//! assert_eq!(frame.len(), 14 + 20 + 20);
//! ```

use crate::net::inet_checksum;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// An optional VLAN tag: the TPID says which kind, the value is the VLAN id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    None,
    /// 802.1Q (TPID 0x8100).
    Dot1q(u16),
    /// 802.1ad service tag (TPID 0x88a8).
    Dot1ad(u16),
}

/// The Ethernet header of a frame.
#[derive(Clone, Copy, Debug)]
pub struct Eth {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub tag: Tag,
}

impl Eth {
    pub fn new(dst: [u8; 6], src: [u8; 6]) -> Self {
        Self {
            dst,
            src,
            tag: Tag::None,
        }
    }

    pub fn tagged(self, tag: Tag) -> Self {
        Self { tag, ..self }
    }

    /// The frame: header (and tag), `ethertype`, `payload`.
    pub fn frame(&self, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(18 + payload.len());
        f.extend_from_slice(&self.dst);
        f.extend_from_slice(&self.src);
        match self.tag {
            Tag::None => {}
            Tag::Dot1q(vid) | Tag::Dot1ad(vid) => {
                let tpid = if matches!(self.tag, Tag::Dot1q(_)) {
                    ETH_P_8021Q
                } else {
                    ETH_P_8021AD
                };
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
            }
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    pub fn arp(&self, arp: &Arp) -> Vec<u8> {
        self.frame(ETH_P_ARP, &arp.bytes())
    }

    pub fn ipv4(&self, ip: &Ipv4, l4: &L4) -> Vec<u8> {
        self.frame(ETH_P_IP, &ip.packet(l4))
    }

    pub fn ipv6(&self, ip: &Ipv6, l4: &L4) -> Vec<u8> {
        self.frame(ETH_P_IPV6, &ip.packet(l4))
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct Arp {
    /// 1: request, 2: reply.
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: [u8; 4],
    pub tha: [u8; 6],
    pub tpa: [u8; 4],
}

impl Arp {
    pub fn bytes(&self) -> Vec<u8> {
        let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
        a.extend_from_slice(&self.op.to_be_bytes());
        a.extend_from_slice(&self.sha);
        a.extend_from_slice(&self.spa);
        a.extend_from_slice(&self.tha);
        a.extend_from_slice(&self.tpa);
        a
    }
}

/// An IPv4 header (the protocol comes from the L4 part).
#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub id: u16,
    /// Options, padded with end-of-list bytes to a multiple of 4 (at most 40 bytes).
    pub options: Vec<u8>,
    /// More fragments.
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
}

impl Ipv4 {
    pub fn new(src: [u8; 4], dst: [u8; 4]) -> Self {
        Self {
            src,
            dst,
            ttl: 64,
            id: 0x1234,
            options: Vec::new(),
            mf: false,
            frag_offset: 0,
        }
    }

    /// Header and L4 part, with correct header, TCP/UDP/ICMP checksums.
    pub fn packet(&self, l4: &L4) -> Vec<u8> {
        let (proto, body) = l4.bytes(&self.src, &self.dst);
        let mut opts = self.options.clone();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        assert!(opts.len() <= 40, "IPv4 options are at most 40 bytes");
        let hlen = 20 + opts.len();
        let mut h = vec![0u8; 20];
        h[0] = 0x40 | (hlen / 4) as u8;
        h[2..4].copy_from_slice(&((hlen + body.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        let frag = (u16::from(self.mf) << 13) | (self.frag_offset & 0x1fff);
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = proto;
        h[12..16].copy_from_slice(&self.src);
        h[16..20].copy_from_slice(&self.dst);
        h.extend_from_slice(&opts);
        let sum = inet_checksum(&h, 0);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(&body);
        h
    }
}

/// An IPv6 extension header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ext {
    /// Hop-by-hop options (8 bytes of padding options).
    HopByHop,
    /// A routing header with no segments left.
    Routing,
    /// Destination options (8 bytes of padding options).
    DestOpts,
    /// A fragment header: offset in 8-byte units, more-fragments flag.
    Fragment { offset: u16, more: bool },
}

impl Ext {
    pub fn number(self) -> u8 {
        match self {
            Ext::HopByHop => 0,
            Ext::Routing => 43,
            Ext::Fragment { .. } => 44,
            Ext::DestOpts => 60,
        }
    }

    fn bytes(self, next: u8) -> [u8; 8] {
        match self {
            // PadN option filling the 6 bytes after next header and length.
            Ext::HopByHop | Ext::DestOpts => [next, 0, 1, 4, 0, 0, 0, 0],
            // Type 0, segments left 0, reserved.
            Ext::Routing => [next, 0, 0, 0, 0, 0, 0, 0],
            Ext::Fragment { offset, more } => {
                let f = (offset << 3) | u16::from(more);
                let [a, b] = f.to_be_bytes();
                [next, 0, a, b, 0, 0, 0x56, 0x78]
            }
        }
    }
}

/// An IPv6 header with its extension headers (the final protocol comes from the L4 part).
#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub hop_limit: u8,
    pub exts: Vec<Ext>,
}

impl Ipv6 {
    pub fn new(src: [u8; 16], dst: [u8; 16]) -> Self {
        Self {
            src,
            dst,
            hop_limit: 64,
            exts: Vec::new(),
        }
    }

    pub fn packet(&self, l4: &L4) -> Vec<u8> {
        let (proto, body) = l4.bytes(&self.src, &self.dst);
        let mut chain = Vec::new();
        for (i, e) in self.exts.iter().enumerate() {
            let next = self.exts.get(i + 1).map_or(proto, |n| n.number());
            chain.extend_from_slice(&e.bytes(next));
        }
        let first = self.exts.first().map_or(proto, |e| e.number());
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((chain.len() + body.len()) as u16).to_be_bytes());
        p.push(first);
        p.push(self.hop_limit);
        p.extend_from_slice(&self.src);
        p.extend_from_slice(&self.dst);
        p.extend_from_slice(&chain);
        p.extend_from_slice(&body);
        p
    }
}

/// A TCP segment.
#[derive(Clone, Debug)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Options, padded with end-of-list bytes to a multiple of 4 (at most 40 bytes).
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Tcp {
    pub fn new(sport: u16, dport: u16, flags: u8) -> Self {
        Self {
            sport,
            dport,
            seq: 0x1000_0000,
            ack: if flags & TCP_ACK != 0 { 0x2000_0000 } else { 0 },
            flags,
            window: 64240,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// The options a typical SYN carries: MSS, SACK permitted, timestamps, window scale.
    pub fn syn_options() -> Vec<u8> {
        vec![
            2, 4, 0x05, 0xb4, // MSS 1460
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamps
            1, // NOP
            3, 3, 7, // window scale 7
        ]
    }

    fn bytes(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        assert!(opts.len() <= 40, "TCP options are at most 40 bytes");
        let mut t = Vec::with_capacity(20 + opts.len() + self.payload.len());
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push((((20 + opts.len()) / 4) as u8) << 4);
        t.push(self.flags);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        t.extend_from_slice(&opts);
        t.extend_from_slice(&self.payload);
        t
    }
}

/// An ICMP or ICMPv6 message: type, code and the rest of the message.
#[derive(Clone, Debug)]
pub struct Icmp {
    pub ty: u8,
    pub code: u8,
    /// Everything after the checksum.
    pub body: Vec<u8>,
}

impl Icmp {
    /// A message with a 4-byte body (identifier and sequence number of an echo).
    pub fn new(ty: u8) -> Self {
        Self {
            ty,
            code: 0,
            body: vec![0x12, 0x34, 0, 1],
        }
    }

    /// A neighbour solicitation (135) or advertisement (136) for `target`, or any other
    /// ND-shaped message (reserved word, then the address).
    pub fn nd(ty: u8, target: [u8; 16]) -> Self {
        let mut body = vec![0u8; 4];
        if ty == 136 {
            body[0] = 0x20; // override
        }
        body.extend_from_slice(&target);
        Self { ty, code: 0, body }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut m = vec![self.ty, self.code, 0, 0];
        m.extend_from_slice(&self.body);
        m
    }
}

/// What an IP packet carries.
#[derive(Clone, Debug)]
pub enum L4 {
    Tcp(Tcp),
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    /// ICMP (IPv4); the checksum covers the message only.
    Icmp(Icmp),
    /// ICMPv6; the checksum covers the pseudo-header too.
    Icmpv6(Icmp),
    /// Any other protocol number with these bytes.
    Raw(u8, Vec<u8>),
}

impl L4 {
    pub fn udp(sport: u16, dport: u16) -> Self {
        L4::Udp {
            sport,
            dport,
            payload: b"netauth".to_vec(),
        }
    }

    pub fn proto(&self) -> u8 {
        match self {
            L4::Tcp(_) => IPPROTO_TCP,
            L4::Udp { .. } => IPPROTO_UDP,
            L4::Icmp(_) => IPPROTO_ICMP,
            L4::Icmpv6(_) => IPPROTO_ICMPV6,
            L4::Raw(p, _) => *p,
        }
    }

    /// (protocol, bytes with the checksum filled in) for a packet from `src` to `dst`
    /// (4 or 16 bytes each).
    pub fn bytes(&self, src: &[u8], dst: &[u8]) -> (u8, Vec<u8>) {
        let proto = self.proto();
        let (mut b, csum_at) = match self {
            L4::Tcp(t) => (t.bytes(), Some(16)),
            L4::Udp {
                sport,
                dport,
                payload,
            } => {
                let mut u = Vec::with_capacity(8 + payload.len());
                u.extend_from_slice(&sport.to_be_bytes());
                u.extend_from_slice(&dport.to_be_bytes());
                u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                u.extend_from_slice(&[0, 0]);
                u.extend_from_slice(payload);
                (u, Some(6))
            }
            L4::Icmp(m) => {
                let mut b = m.bytes();
                let sum = inet_checksum(&b, 0);
                b[2..4].copy_from_slice(&sum.to_be_bytes());
                (b, None)
            }
            L4::Icmpv6(m) => (m.bytes(), Some(2)),
            L4::Raw(_, b) => (b.clone(), None),
        };
        if let Some(at) = csum_at {
            let mut sum = inet_checksum(&b, pseudo_header_sum(src, dst, proto, b.len()));
            if sum == 0 && proto == IPPROTO_UDP {
                sum = 0xffff; // 0 means "no checksum" in UDP
            }
            b[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        (proto, b)
    }
}

/// The folded (not inverted) sum of a TCP/UDP/ICMPv6 pseudo-header, to start a checksum
/// with. `src`/`dst` are 4 bytes (IPv4) or 16 bytes (IPv6).
pub fn pseudo_header_sum(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    if src.len() == 4 {
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    }
    // inet_checksum returns the inverted fold; undo the inversion to chain sums.
    u32::from(!inet_checksum(&p, 0))
}

/// Whether the TCP/UDP/ICMPv6 checksum of `segment` (checksum field included) is right.
pub fn l4_checksum_ok(src: &[u8], dst: &[u8], proto: u8, segment: &[u8]) -> bool {
    inet_checksum(segment, pseudo_header_sum(src, dst, proto, segment.len())) == 0
}

/// The frame as hex, 32 bytes a line.
pub fn hex(frame: &[u8]) -> String {
    frame
        .chunks(32)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}
