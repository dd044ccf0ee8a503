//! Packet parsing shared by the XDP and TC programs: Ethernet (with at most one 802.1Q /
//! 802.1ad tag), then IPv4 or IPv6 (walking the usual extension headers), then the L4 ports.
//!
//! Parsing only reads, with a bounds check before every access, so the verifier accepts it
//! and a short or malformed frame yields `None` instead of a wrong answer.

use core::mem::size_of;

use netauth_common::IpKey;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_ICMP: u8 = 1;
/// [`Ip::proto`] of a packet without its L4 header (255 is a reserved protocol number).
pub const NO_L4: u8 = 255;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;

#[inline(always)]
pub fn load<T: Copy>(data: usize, data_end: usize, off: usize) -> Option<T> {
    if data + off + size_of::<T>() > data_end {
        return None;
    }
    // SAFETY: bounds checked just above; packet memory has no alignment guarantee.
    Some(unsafe { core::ptr::read_unaligned((data + off) as *const T) })
}

#[inline(always)]
fn load_be16(data: usize, data_end: usize, off: usize) -> Option<u16> {
    load::<[u8; 2]>(data, data_end, off).map(u16::from_be_bytes)
}

/// The link layer: who sent the frame and what it carries.
#[derive(Clone, Copy)]
pub struct Link {
    /// The source MAC as the clients map's key word (see [`load_mac`]).
    pub mac: u64,
    pub ethertype: u16,
    /// Offset of the L3 header.
    pub l3: usize,
}

impl Link {
    /// The source MAC's six bytes.
    #[inline(always)]
    pub fn src_mac(&self) -> [u8; 6] {
        let b = self.mac.to_ne_bytes();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    }
}

/// The MAC address at `off` as one 64-bit word: its six bytes in memory order and two zero
/// bytes, the memory image of its [`MacKey`](netauth_common::MacKey). The programs carry
/// a MAC in this form because a `[u8; 6]` has no alignment: the compiler stores it byte by
/// byte, and the map lookup then reads those bytes back as words, which stalls the CPU's
/// store-to-load forwarding. That stall was about 5 of the 25 ns the TC program cost
/// over an empty program (`bench/extra/progcost-profile.sh` found it); a word is stored
/// and read back whole.
#[inline(always)]
pub fn load_mac(data: usize, data_end: usize, off: usize) -> Option<u64> {
    let lo: u32 = load(data, data_end, off)?;
    let hi: u16 = load(data, data_end, off + 4)?;
    let (lo, hi) = (lo.to_ne_bytes(), hi.to_ne_bytes());
    Some(u64::from_ne_bytes([
        lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], 0, 0,
    ]))
}

#[inline(always)]
pub fn parse_link(data: usize, data_end: usize) -> Option<Link> {
    let mac = load_mac(data, data_end, 6)?;
    let mut ethertype = load_be16(data, data_end, 12)?;
    let mut l3 = ETH_HLEN;
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        ethertype = load_be16(data, data_end, ETH_HLEN + 2)?;
        l3 += VLAN_HLEN;
    }
    Some(Link { mac, ethertype, l3 })
}

/// An IP packet's header facts. The addresses stay in the packet (copying them around
/// costs verifier stack); [`Ip::src`] and [`Ip::dst`] read them as map keys.
#[derive(Clone, Copy)]
pub struct Ip {
    pub v6: bool,
    /// L4 protocol, or [`NO_L4`] when the L4 header is not in this packet (a non-first
    /// fragment, or too many IPv6 extension headers to walk). A plain byte, not an
    /// `Option`: an undefined payload byte of `None` can end up in a register the verifier
    /// then refuses to read.
    pub proto: u8,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Offset of the L3 header.
    pub l3: usize,
    /// Offset of the L4 header.
    pub l4: usize,
}

impl Ip {
    /// A placeholder for verdicts that carry no IP packet.
    pub const NONE: Ip = Ip {
        v6: false,
        proto: NO_L4,
        ttl: 0,
        l3: 0,
        l4: 0,
    };

    /// Offset of the source address (the destination follows it).
    #[inline(always)]
    pub fn saddr_off(&self) -> usize {
        if self.v6 { self.l3 + 8 } else { self.l3 + 12 }
    }

    /// Writes the address at `off` into `key` (IPv4-mapped for IPv4), every byte of it.
    /// A 32-bit word at a time, straight from the packet into the key's memory: loading
    /// the address as one value would spread it over the verifier's stack, one 8-byte
    /// slot per byte, and a byte-wise fill or copy becomes a call to a byte loop
    /// (`memset`/`memcpy`) in BPF, which cost more than the map lookup it serves.
    #[inline(always)]
    fn addr_into(&self, data: usize, data_end: usize, off: usize, key: &mut IpKey) -> bool {
        let len = if self.v6 { 16 } else { 4 };
        if data + off + len > data_end {
            return false;
        }
        let src = (data + off) as *const [u8; 4];
        // SAFETY: `len` bytes at `off` are inside the packet (checked above); packet
        // memory has no alignment guarantee, hence the unaligned reads.
        let word = |i: usize| unsafe { src.add(i).read_unaligned() };
        if self.v6 {
            // SAFETY: IpKey is 16 bytes aligned to 4, so it is four u32 words.
            let words = unsafe { &mut *(key as *mut IpKey).cast::<[u32; 4]>() };
            words[0] = u32::from_ne_bytes(word(0));
            words[1] = u32::from_ne_bytes(word(1));
            words[2] = u32::from_ne_bytes(word(2));
            words[3] = u32::from_ne_bytes(word(3));
        } else {
            *key = IpKey::from_v4(word(0));
        }
        true
    }

    /// The source address as a map key (IPv4-mapped for IPv4), written into `key`.
    #[inline(always)]
    pub fn src_into(&self, data: usize, data_end: usize, key: &mut IpKey) -> bool {
        self.addr_into(data, data_end, self.saddr_off(), key)
    }

    /// The destination address as a map key, written into `key`.
    #[inline(always)]
    pub fn dst_into(&self, data: usize, data_end: usize, key: &mut IpKey) -> bool {
        let len = if self.v6 { 16 } else { 4 };
        self.addr_into(data, data_end, self.saddr_off() + len, key)
    }
}

#[inline(always)]
pub fn parse_ipv4(data: usize, data_end: usize, l3: usize) -> Option<Ip> {
    // The whole fixed header must be there; the fields used sit in its first 10 bytes.
    load::<[u8; 4]>(data, data_end, l3 + 16)?;
    let hdr: [u8; 10] = load(data, data_end, l3)?;
    if hdr[0] >> 4 != 4 {
        return None;
    }
    let ihl = (hdr[0] & 0x0f) as usize;
    if ihl < 5 {
        return None;
    }
    let frag_off = u16::from_be_bytes([hdr[6], hdr[7]]) & 0x1fff;
    Some(Ip {
        v6: false,
        proto: if frag_off == 0 { hdr[9] } else { NO_L4 },
        ttl: hdr[8],
        l3,
        l4: l3 + ihl * 4,
    })
}

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
const MAX_EXT_HEADERS: usize = 4;

#[inline(always)]
pub fn parse_ipv6(data: usize, data_end: usize, l3: usize) -> Option<Ip> {
    // The whole fixed header must be there; the fields used sit in its first 8 bytes.
    load::<[u8; 8]>(data, data_end, l3 + 32)?;
    let hdr: [u8; 8] = load(data, data_end, l3)?;
    if hdr[0] >> 4 != 6 {
        return None;
    }
    let mut next = hdr[6];
    let mut off = l3 + 40;
    let mut proto = NO_L4;
    // Up to MAX_EXT_HEADERS extension headers are walked; the protocol after the last of
    // them is still read (one more pass than headers).
    for walked in 0..=MAX_EXT_HEADERS {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST | NEXTHDR_FRAGMENT
                if walked == MAX_EXT_HEADERS =>
            {
                break; // more extension headers than are walked: no L4 header known
            }
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let ext: [u8; 2] = load(data, data_end, off)?;
                next = ext[0];
                off += (ext[1] as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let ext: [u8; 4] = load(data, data_end, off)?;
                let frag_off = u16::from_be_bytes([ext[2], ext[3]]) >> 3;
                if frag_off != 0 {
                    break; // no L4 header in a non-first fragment
                }
                next = ext[0];
                off += 8;
            }
            other => {
                proto = other;
                break;
            }
        }
    }
    Some(Ip {
        v6: true,
        proto,
        ttl: hdr[7],
        l3,
        l4: off,
    })
}

/// The IP header of a frame whose link layer is `link` (`None`: not IP, or malformed).
#[inline(always)]
pub fn parse_ip(data: usize, data_end: usize, link: &Link) -> Option<Ip> {
    match link.ethertype {
        ETH_P_IP => parse_ipv4(data, data_end, link.l3),
        ETH_P_IPV6 => parse_ipv6(data, data_end, link.l3),
        _ => None,
    }
}

/// Two packet bytes as the checksum helpers take a 2-byte value (`bpf_l3/l4_csum_replace`
/// read it in native order, as the bytes sit in the packet).
#[inline(always)]
pub fn csum_word(b: [u8; 2]) -> u64 {
    u16::from_ne_bytes(b) as u64
}

/// Four packet bytes as the checksum helpers take a 4-byte value.
#[inline(always)]
pub fn csum_dword(b: [u8; 4]) -> u64 {
    u32::from_ne_bytes(b) as u64
}

/// Source and destination port of a TCP or UDP header (host byte order).
#[inline(always)]
pub fn parse_ports(data: usize, data_end: usize, l4: usize) -> Option<(u16, u16)> {
    let ports: [u8; 4] = load(data, data_end, l4)?;
    Some((
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    ))
}

/// The ICMPv6 type byte.
#[inline(always)]
pub fn icmpv6_type(data: usize, data_end: usize, l4: usize) -> Option<u8> {
    // Load the whole 4-byte fixed header: a 1-byte bounds check at a variable offset
    // compiles to `ptr >= end`, which the verifier does not accept as a range proof.
    load::<[u8; 4]>(data, data_end, l4).map(|h| h[0])
}

/// Length of a TCP header (data offset * 4).
#[inline(always)]
pub fn tcp_header_len(data: usize, data_end: usize, l4: usize) -> Option<usize> {
    let h: [u8; 14] = load(data, data_end, l4)?;
    Some(((h[12] >> 4) as usize) * 4)
}

/// First byte of an IPv6 destination address (0xff: multicast).
#[inline(always)]
pub fn ipv6_dst_first_byte(data: usize, data_end: usize, l3: usize) -> Option<u8> {
    load::<[u8; 2]>(data, data_end, l3 + 24).map(|b| b[0])
}

pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The TCP flags byte.
#[inline(always)]
pub fn tcp_flags(data: usize, data_end: usize, l4: usize) -> Option<u8> {
    load::<[u8; 14]>(data, data_end, l4).map(|h| h[13])
}

/// Whether an IPv4 packet is a fragment of a larger datagram (more fragments follow, or
/// it is not the first).
#[inline(always)]
pub fn ipv4_fragmented(data: usize, data_end: usize, l3: usize) -> bool {
    match load::<[u8; 2]>(data, data_end, l3 + 6) {
        Some(f) => u16::from_be_bytes(f) & 0x3fff != 0,
        None => true,
    }
}

/// The sender protocol address of an Ethernet/IPv4 ARP packet (`None` for other ARP).
#[inline(always)]
pub fn arp_sender_ipv4(data: usize, data_end: usize, l3: usize) -> Option<[u8; 4]> {
    // htype(2) ptype(2) hlen(1) plen(1) oper(2) sha(6) spa(4) tha(6) tpa(4)
    let h: [u8; 28] = load(data, data_end, l3)?;
    if h[0..2] != [0, 1] || h[2..4] != [0x08, 0x00] || h[4] != 6 || h[5] != 4 {
        return None;
    }
    Some([h[14], h[15], h[16], h[17]])
}

/// The target address of an ICMPv6 neighbour solicitation or advertisement.
#[inline(always)]
pub fn nd_target(data: usize, data_end: usize, l4: usize) -> Option<[u8; 16]> {
    let h: [u8; 24] = load(data, data_end, l4)?;
    let mut t = [0u8; 16];
    t.copy_from_slice(&h[8..24]);
    Some(t)
}

/// The ICMP (v4) type byte.
#[inline(always)]
pub fn icmp_type(data: usize, data_end: usize, l4: usize) -> Option<u8> {
    load::<[u8; 4]>(data, data_end, l4).map(|h| h[0])
}
