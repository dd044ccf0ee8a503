//! netauth's datapath policy as a plain statement in Rust: what should happen to a frame a
//! LAN device sends, given who is signed in and what the network looks like. The
//! differential test (`tests/tests/verdicts.rs`) runs frames through the real XDP and TC
//! programs and compares every verdict with [`decide`].
//!
//! This is written from the policy's wording, not from the kernel code: it parses frames
//! its own way and states each rule in the order the policy gives them.
//!
//! The policy, in short:
//!
//! * A frame too short for its Ethernet header (with at most one 802.1Q/802.1ad tag) is
//!   dropped.
//! * A signed-in (authorized) device passes, unless address binding is strict and the
//!   device is not exempt: then it may send only from addresses bound to it (see
//!   [`authorized`]).
//! * Everyone else is captive: only what it needs to get online passes (see [`captive`]),
//!   and nothing from an address another device holds.
//!
//! Readings chosen where the wording leaves something open (each said again where it is
//! applied):
//!
//! * Addresses are compared the way the maps store them: an IPv4 address is the same as
//!   its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`).
//! * An IPv4 header is parsable when its 20 fixed bytes are in the frame, its version is 4
//!   and its IHL at least 5; options are skipped by the IHL. The total-length field is not
//!   consulted (except to tell whether a SYN carries data). An IPv6 header is parsable when
//!   its 40 fixed bytes are there with version 6 and every extension header walked shows
//!   its first bytes (next header and length; for a fragment header also the offset).
//! * An L4 field the decision needs must be in the frame, else the packet is malformed
//!   (dropped): TCP/UDP need their two ports, the SYN test needs the TCP flags byte, ICMP
//!   and ICMPv6 need their 4-byte header (type, code, checksum).
//! * Frames of other ethertypes from an authorized device have no source address to
//!   check: they pass.
//! * The unspecified address (ARP probe, DAD) and link-local targets are never bound.
//! * TC answers a SYN with a reset only when it can build a proper one (see
//!   [`reset_answerable`]); otherwise it drops the SYN. The wording only says "TC answers
//!   with a RST"; this refinement comes from the kernel's documented choices.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// Bits of an infrastructure address's flags.
pub mod infra {
    pub const DNS: u32 = 1;
    pub const DHCP: u32 = 2;
    pub const NTP: u32 = 4;
    pub const GATEWAY: u32 = 8;
}

pub type Mac = [u8; 6];

/// Which program sees the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Xdp,
    TcIngress,
}

/// What should become of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// XDP_PASS / TC_ACT_OK.
    Pass,
    /// XDP_DROP / TC_ACT_SHOT.
    Drop,
    /// Plain HTTP from a captive device: XDP passes it on; TC steers it to the portal
    /// (rewritten to the portal's address and intercept port), or drops an IPv4 fragment.
    SteerOrDrop,
    /// A captive device's connection attempt: XDP passes it on; TC turns it into a TCP
    /// RST back to the sender (TC_ACT_REDIRECT).
    Reset,
}

/// The decision about one frame, with why, and the address binding it creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub expected: Expected,
    pub reason: &'static str,
    /// An address that becomes bound to the sender.
    pub binds: Option<(IpAddr, Mac)>,
}

/// A device that is signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// Not held to its bound addresses.
    pub exempt: bool,
}

/// Who used an address before signing in (`NETAUTH_CLIENT_ADDRS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub mac: Mac,
    /// Last seen more than 60 s ago.
    pub stale: bool,
}

/// Everything the decision depends on.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Signed-in devices (`NETAUTH_CLIENTS`).
    pub clients: HashMap<Mac, Client>,
    /// Addresses bound to devices (`NETAUTH_BINDINGS`).
    pub bindings: HashMap<IpAddr, Mac>,
    /// Address owners seen while captive (`NETAUTH_CLIENT_ADDRS`).
    pub owners: HashMap<IpAddr, Owner>,
    /// What each infrastructure address is for ([`infra`] bits, `NETAUTH_INFRA`).
    pub infra: HashMap<IpAddr, u32>,
    /// Walled-garden prefixes (`NETAUTH_WALLED_V4`/`_V6`).
    pub walled: Vec<(IpAddr, u8)>,
    /// (protocol, port) services on the gateway captive devices may use.
    pub gateway_allow: HashSet<(u8, u16)>,
    pub portal_port: u16,
    /// 0: none.
    pub api_port: u16,
    /// Authorized devices may only send from addresses bound to them.
    pub strict: bool,
    /// XDP is attached: TC leaves the binding check to it.
    pub xdp_attached: bool,
}

/// An address as the maps key it: IPv4-mapped IPv6 addresses are IPv4 addresses.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
        v4 => v4,
    }
}

impl State {
    fn flags(&self, ip: IpAddr) -> u32 {
        self.infra.get(&canonical(ip)).copied().unwrap_or(0)
    }

    fn is_walled(&self, ip: IpAddr) -> bool {
        self.walled
            .iter()
            .any(|&(net, len)| in_prefix(ip, net, len))
    }

    fn is_portal_port(&self, port: u16) -> bool {
        port == self.portal_port || (self.api_port != 0 && port == self.api_port)
    }

    /// Records what a decision did to the state (the binding it created).
    pub fn apply(&mut self, d: &Decision) {
        if let Some((ip, mac)) = d.binds {
            self.bindings.insert(canonical(ip), mac);
        }
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

fn byte(f: &[u8], at: usize) -> Option<u8> {
    f.get(at).copied()
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(f.get(at..at + 2)?.try_into().ok()?))
}

fn array<const N: usize>(f: &[u8], at: usize) -> Option<[u8; N]> {
    f.get(at..at + N)?.try_into().ok()
}

/// The Ethernet header: sender, ethertype (after at most one VLAN tag), where L3 starts.
struct Link {
    src: Mac,
    ethertype: u16,
    l3: usize,
}

fn link(f: &[u8]) -> Option<Link> {
    let src = array::<6>(f, 6)?;
    match be16(f, 12)? {
        0x8100 | 0x88a8 => Some(Link {
            src,
            ethertype: be16(f, 16)?,
            l3: 18,
        }),
        ethertype => Some(Link {
            src,
            ethertype,
            l3: 14,
        }),
    }
}

/// An IP packet's facts.
struct Packet {
    v6: bool,
    src: IpAddr,
    dst: IpAddr,
    /// TTL or hop limit.
    hops: u8,
    /// The L4 protocol and where its header starts; `None` when this packet does not
    /// carry the L4 header (a later fragment, or an extension-header chain longer than
    /// the policy walks).
    l4: Option<(u8, usize)>,
    /// Where the L3 header starts.
    l3: usize,
    /// Bytes of L3 payload per the header's length field (IPv4: total length minus the
    /// header; IPv6: payload length minus extension headers).
    l4_len_field: usize,
    /// An IPv4 packet with more fragments to come.
    more_fragments: bool,
}

fn ipv4(f: &[u8], l3: usize) -> Option<Packet> {
    let h = array::<20>(f, l3)?;
    if h[0] >> 4 != 4 || h[0] & 0x0f < 5 {
        return None;
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let fragment_offset = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    Some(Packet {
        v6: false,
        src: IpAddr::V4(Ipv4Addr::from(array::<4>(&h, 12)?)),
        dst: IpAddr::V4(Ipv4Addr::from(array::<4>(&h, 16)?)),
        hops: h[8],
        l4: (fragment_offset == 0).then_some((h[9], l3 + header_len)),
        l3,
        l4_len_field: total.saturating_sub(header_len),
        more_fragments: h[6] & 0x20 != 0,
    })
}

/// How many IPv6 extension headers the policy walks to find the L4 header.
pub const MAX_EXTENSION_HEADERS: usize = 4;

fn ipv6(f: &[u8], l3: usize) -> Option<Packet> {
    let h = array::<40>(f, l3)?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let mut next = h[6];
    let mut at = l3 + 40;
    let mut walked = 0;
    let l4 = loop {
        let is_extension = matches!(next, 0 | 43 | 44 | 60);
        if !is_extension {
            break Some((next, at));
        }
        if walked == MAX_EXTENSION_HEADERS {
            break None; // more extension headers than the policy walks
        }
        walked += 1;
        if next == 44 {
            // Fragment header: next header, reserved, offset (13 bits) and flags.
            let frag = array::<4>(f, at)?;
            if u16::from_be_bytes([frag[2], frag[3]]) >> 3 != 0 {
                break None; // a later fragment: no L4 header here
            }
            next = frag[0];
            at += 8;
        } else {
            // Hop-by-hop, routing, destination options: next header, length in 8-byte
            // units not counting the first 8.
            next = byte(f, at)?;
            at += (usize::from(byte(f, at + 1)?) + 1) * 8;
        }
    };
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    Some(Packet {
        v6: true,
        src: IpAddr::V6(Ipv6Addr::from(array::<16>(&h, 8)?)),
        dst: IpAddr::V6(Ipv6Addr::from(array::<16>(&h, 24)?)),
        hops: h[7],
        l4,
        l3,
        l4_len_field: payload_len.saturating_sub(at - (l3 + 40)),
        more_fragments: false,
    })
}

fn ip(f: &[u8], link: &Link) -> Option<Packet> {
    match link.ethertype {
        ETH_P_IP => ipv4(f, link.l3),
        ETH_P_IPV6 => ipv6(f, link.l3),
        _ => None,
    }
}

/// The ICMP/ICMPv6 type, when the 4-byte ICMP header is there.
fn icmp_type(f: &[u8], l4: usize) -> Option<u8> {
    array::<4>(f, l4).map(|h| h[0])
}

fn is_link_local_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

fn is_unspecified(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

const BROADCAST: IpAddr = IpAddr::V4(Ipv4Addr::BROADCAST);
const ALL_DHCP_AGENTS: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2));

/// Where a frame's headers start, as the policy parses them (for tests that look inside
/// the packets they send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub l3: usize,
    pub v6: bool,
    /// The L4 protocol and offset, when this packet carries the L4 header.
    pub l4: Option<(u8, usize)>,
}

/// The [`Layout`] of an IP frame; `None` for anything that is not a parsable IP packet.
pub fn layout(frame: &[u8]) -> Option<Layout> {
    let link = link(frame)?;
    let p = ip(frame, &link)?;
    Some(Layout {
        l3: link.l3,
        v6: p.v6,
        l4: p.l4,
    })
}

/// What should become of `frame` when `hook` sees it.
pub fn decide(frame: &[u8], state: &State, hook: Hook) -> Decision {
    let Some(link) = link(frame) else {
        return drop("too short for its Ethernet header");
    };
    match state.clients.get(&link.src) {
        Some(client) => authorized(frame, &link, *client, state, hook),
        None => captive(frame, &link, state, hook),
    }
}

/// [`decide`] without the reason and the binding.
pub fn verdict(frame: &[u8], state: &State, hook: Hook) -> Expected {
    decide(frame, state, hook).expected
}

fn pass(reason: &'static str) -> Decision {
    Decision {
        expected: Expected::Pass,
        reason,
        binds: None,
    }
}

fn drop(reason: &'static str) -> Decision {
    Decision {
        expected: Expected::Drop,
        reason,
        binds: None,
    }
}

/// A signed-in device. Without strict binding (or for an exempt device) everything
/// passes. With it:
///
/// * ARP passes, and its sender address is claimed;
/// * IPv4 from 0.0.0.0 and IPv6 from :: or a link-local address pass (they cannot leave
///   the link); a duplicate-address-detection solicitation from :: claims its target;
/// * any other source must be bound to the device; an unbound one becomes bound when the
///   frame claims it (ARP, IPv6 NS/NA from it) and no other device holds it, or when the
///   device used it before signing in; otherwise the frame is dropped;
/// * an IP header that cannot be parsed is dropped.
///
/// When XDP is attached, TC leaves this check to XDP and passes the device's frames.
fn authorized(frame: &[u8], link: &Link, client: Client, state: &State, hook: Hook) -> Decision {
    let checked_here = hook == Hook::Xdp || !state.xdp_attached;
    if !state.strict || client.exempt {
        return pass("authorized (no binding check for this device)");
    }
    if !checked_here {
        return pass("authorized (XDP checks the binding)");
    }
    let mac = link.src;
    match link.ethertype {
        ETH_P_ARP => {
            let mut d = pass("authorized ARP");
            if let Some(sender) = arp_sender(frame, link.l3)
                && !is_unspecified(sender)
            {
                d.binds = claim(state, sender, mac, true);
            }
            d
        }
        ETH_P_IP | ETH_P_IPV6 => {
            let Some(p) = ip(frame, link) else {
                return drop("authorized, strict: unparsable IP header");
            };
            let icmpv6 = match p.l4 {
                Some((ICMPV6, l4)) if p.v6 => icmp_type(frame, l4).map(|t| (t, l4)),
                _ => None,
            };
            if is_unspecified(p.src) {
                let mut d = pass("authorized, strict: from the unspecified address");
                if let Some((135, l4)) = icmpv6
                    && let Some(target) = array::<16>(frame, l4 + 8)
                {
                    let target = IpAddr::V6(Ipv6Addr::from(target));
                    if !is_link_local_v6(target) && !is_unspecified(target) {
                        d.binds = claim(state, target, mac, true);
                    }
                }
                return d;
            }
            if is_link_local_v6(p.src) {
                return pass("authorized, strict: from a link-local address");
            }
            let claims = matches!(icmpv6, Some((135 | 136, _)));
            match state.bindings.get(&canonical(p.src)) {
                Some(owner) if *owner == mac => pass("authorized, strict: source bound to it"),
                Some(_) => drop("authorized, strict: source bound to another device"),
                None => match claim(state, p.src, mac, claims) {
                    Some(b) => Decision {
                        binds: Some(b),
                        ..pass(if claims {
                            "authorized, strict: claims a free source (ND)"
                        } else {
                            "authorized, strict: source it used before signing in"
                        })
                    },
                    None => drop("authorized, strict: source never acquired"),
                },
            }
        }
        _ => pass("authorized, strict: not IP (no source address)"),
    }
}

/// The binding `ip` -> `mac` if `mac` may acquire the unbound-or-its-own address `ip`:
/// it is already bound to `mac` (nothing new), or it is unbound and the device used it
/// before signing in, or the frame `claims` it and no other device used it within the
/// last minute.
fn claim(state: &State, ip: IpAddr, mac: Mac, claims: bool) -> Option<(IpAddr, Mac)> {
    let ip = canonical(ip);
    if state.flags(ip) != 0 {
        return None; // an infrastructure address is never a device's
    }
    if state.bindings.contains_key(&ip) {
        return None; // bound already (to this device: nothing to learn; to another: no)
    }
    let learnable = match state.owners.get(&ip) {
        Some(o) if o.mac == mac => true,
        Some(o) => claims && o.stale,
        None => claims,
    };
    learnable.then_some((ip, mac))
}

/// The sender address of an Ethernet/IPv4 ARP packet.
fn arp_sender(f: &[u8], l3: usize) -> Option<IpAddr> {
    let a = array::<28>(f, l3)?;
    if a[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::new(a[14], a[15], a[16], a[17])))
}

/// A device that is not signed in: only what it needs to get online passes.
fn captive(frame: &[u8], link: &Link, state: &State, hook: Hook) -> Decision {
    match link.ethertype {
        ETH_P_ARP => return pass("captive ARP"),
        ETH_P_IP | ETH_P_IPV6 => {}
        _ => return drop("captive, not IP"),
    }
    let Some(p) = ip(frame, link) else {
        return drop("captive, unparsable IP header");
    };
    if held_by_another(state, p.src, link.src) {
        return drop("captive, from an address another device holds");
    }
    let flags = state.flags(p.dst);
    let to_gateway = flags & infra::GATEWAY != 0;
    if !to_gateway && state.is_walled(p.dst) {
        return pass("captive, to the walled garden");
    }
    let Some((proto, l4)) = p.l4 else {
        return drop("captive, no L4 header in this packet");
    };
    let malformed = drop("captive, L4 header cut short");
    match proto {
        TCP => {
            let Some(dport) = be16(frame, l4 + 2) else {
                return malformed;
            };
            if to_gateway && state.is_portal_port(dport) {
                return pass("captive TCP to the portal");
            }
            if dport == 80 {
                return Decision {
                    expected: Expected::SteerOrDrop,
                    reason: "captive HTTP",
                    binds: None,
                };
            }
            if dport == 53 && flags & infra::DNS != 0 {
                return pass("captive TCP DNS");
            }
            if to_gateway && state.gateway_allow.contains(&(TCP, dport)) {
                return pass("captive TCP to an allowed gateway service");
            }
            let Some(tcp_flags) = byte(frame, l4 + 13) else {
                return malformed;
            };
            let (syn, ack, rst) = (
                tcp_flags & 0x02 != 0,
                tcp_flags & 0x10 != 0,
                tcp_flags & 0x04 != 0,
            );
            if !(syn && !ack && !rst) {
                return drop("captive TCP, not a connection attempt");
            }
            if hook == Hook::TcIngress && !reset_answerable(frame, &p, l4) {
                return drop("captive SYN TC cannot answer");
            }
            Decision {
                expected: Expected::Reset,
                reason: "captive SYN",
                binds: None,
            }
        }
        UDP => {
            let Some(dport) = be16(frame, l4 + 2) else {
                return malformed;
            };
            let allowed = match dport {
                53 => flags & infra::DNS != 0,
                123 => flags & infra::NTP != 0,
                67 if !p.v6 => flags & infra::DHCP != 0 || p.dst == BROADCAST,
                547 if p.v6 => flags & infra::DHCP != 0 || p.dst == ALL_DHCP_AGENTS,
                _ => false,
            } || (to_gateway && state.gateway_allow.contains(&(UDP, dport)));
            if allowed {
                pass("captive UDP to infrastructure")
            } else {
                drop("captive UDP elsewhere")
            }
        }
        ICMP if !p.v6 => match icmp_type(frame, l4) {
            None => malformed,
            Some(8) if to_gateway => pass("captive ping to the gateway"),
            Some(_) => drop("captive ICMP"),
        },
        ICMPV6 if p.v6 => {
            let Some(ty) = icmp_type(frame, l4) else {
                return malformed;
            };
            let on_link = to_gateway
                || is_link_local_v6(p.dst)
                || matches!(p.dst, IpAddr::V6(a) if a.segments()[0] == 0xff02);
            let ok = match ty {
                128 => to_gateway,
                130..=132 | 143 => p.hops == 1,
                133..=137 => p.hops == 255 && on_link,
                _ => false,
            };
            if ok {
                pass("captive ICMPv6 allowed")
            } else {
                drop("captive ICMPv6")
            }
        }
        _ => drop("captive, other protocol"),
    }
}

/// Whether a captive device sends from an address that is not its to use: one of the
/// infrastructure addresses (the gateway, the named servers), one bound to another
/// (signed-in) device, or one another device used within the last minute. The
/// unspecified address (DHCP, duplicate address detection) is nobody's.
fn held_by_another(state: &State, src: IpAddr, mac: Mac) -> bool {
    if is_unspecified(src) {
        return false;
    }
    let src = canonical(src);
    state.flags(src) != 0
        || state.bindings.get(&src).is_some_and(|m| *m != mac)
        || state
            .owners
            .get(&src)
            .is_some_and(|o| o.mac != mac && !o.stale)
}

/// Whether TC can turn this SYN into a proper reset: the whole TCP header is in the frame
/// (20..=60 bytes), the segment carries no data (the IP length fields say it is just the
/// header, and it is not the first fragment of a longer datagram), and an IPv6 packet has
/// no extension headers. Otherwise TC drops the SYN.
fn reset_answerable(frame: &[u8], p: &Packet, l4: usize) -> bool {
    let Some(doff) = byte(frame, l4 + 12).map(|b| usize::from(b >> 4) * 4) else {
        return false;
    };
    (20..=60).contains(&doff)
        && frame.len() >= l4 + doff
        && p.l4_len_field == doff
        && !p.more_fragments
        && (!p.v6 || l4 == p.l3 + 40)
}
