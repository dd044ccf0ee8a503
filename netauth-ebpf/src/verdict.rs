//! What a client may send. This is the whole policy, shared by the XDP and TC programs so
//! the two hooks can never disagree:
//!
//! * [`classify`]: a client that is not authorized may reach only what it needs to get
//!   online, and only where that lives: DNS, DHCP and NTP on the servers the operator
//!   named (by default the gateway itself), IPv6 neighbour discovery and MLD on the link,
//!   the portal's own ports, ICMP echo to the gateway, the walled garden, and plain HTTP
//!   to anywhere (steered to the portal). Nothing else, so nothing tunnels out.
//! * [`source_bound`]: an authorized device may send only from the addresses it acquired
//!   (with `--bind-addresses`), so copying a signed-in device's MAC is not enough.
//!
//! The plain-Rust statement of the same policy that the differential test checks these
//! programs against is `tests/src/policy.rs`.

use netauth_common::{ADDR_OWNER_FRESH_NS, ClientUsage, Counter, IpKey, client_flags, infra};

use crate::{
    maps,
    packet::{
        ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
        Ip, Link, NO_L4, TCP_ACK, TCP_RST, TCP_SYN, arp_sender_ipv4, icmp_type, icmpv6_type, load,
        nd_target, parse_ipv4, parse_ipv6, parse_ports, tcp_flags,
    },
};

const PORT_DNS: u16 = 53;
const PORT_DHCPV4_SERVER: u16 = 67;
const PORT_DHCPV6_SERVER: u16 = 547;
const PORT_NTP: u16 = 123;
pub const PORT_HTTP: u16 = 80;

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
const ALL_DHCP_RELAYS_AND_SERVERS: [u8; 16] =
    [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2];

/// What to do with a frame from a client that is not authorized.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// ARP: pass.
    Arp,
    /// Needed to get online, on the link or to a named server: pass.
    Infra,
    /// TCP to the portal's own ports on the gateway: pass (and remember the flow's MAC).
    Portal,
    /// Addressed to the walled garden (operator-allowed destinations): pass.
    Walled,
    /// Plain HTTP to any address: steer to the portal's transparent listener.
    Http,
    /// A TCP connection attempt to anything else: answer with a reset so apps fail fast
    /// (RFC 8952 allows this; a silent drop makes them hang).
    Reset,
    /// Anything else: drop.
    Captive,
    /// Could not be parsed: drop.
    Malformed,
}

/// The decision with what it applies to. Every field is always set (the packet facts are
/// [`Ip::NONE`] where there is no IP packet): an enum whose variants carry different
/// payloads leaves undefined bytes that the verifier refuses to read.
#[derive(Clone, Copy)]
pub struct Verdict {
    pub action: Action,
    pub ip: Ip,
    /// Source port in the high half, destination port in the low half (TCP/UDP).
    pub ports: u32,
}

impl Verdict {
    #[inline(always)]
    const fn of(action: Action) -> Self {
        Self {
            action,
            ip: Ip::NONE,
            ports: 0,
        }
    }

    #[inline(always)]
    const fn with(action: Action, ip: Ip, sport: u16, dport: u16) -> Self {
        Self {
            action,
            ip,
            ports: ((sport as u32) << 16) | dport as u32,
        }
    }
}

/// A port the portal serves on its own addresses (HTTP, or the HTTPS API).
#[inline(always)]
pub fn is_portal_port(port: u16) -> bool {
    let api = maps::api_port();
    port == maps::portal_port() || (api != 0 && port == api)
}

#[inline(always)]
pub fn is_link_local_v6(a: &[u8; 16]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

/// Link-local-scope multicast (ff02::/16): never forwarded.
#[inline(always)]
fn is_link_multicast_v6(a: &[u8; 16]) -> bool {
    a[0] == 0xff && a[1] == 0x02
}

/// The IPv4 limited broadcast, as a key.
const BROADCAST_V4: IpKey = IpKey::from_v4([255, 255, 255, 255]);

/// The policy for a frame from a client that is not authorized.
#[inline(always)]
pub fn classify(data: usize, data_end: usize, link: &Link) -> Verdict {
    let ip = match link.ethertype {
        ETH_P_ARP => return Verdict::of(Action::Arp),
        ETH_P_IP => parse_ipv4(data, data_end, link.l3),
        ETH_P_IPV6 => parse_ipv6(data, data_end, link.l3),
        _ => return Verdict::of(Action::Captive),
    };
    let Some(ip) = ip else {
        return Verdict::of(Action::Malformed);
    };
    if spoofed_source(data, data_end, &ip, link.src_mac()) {
        maps::count(Counter::DROP_SPOOFED_SOURCE);
        return Verdict::of(Action::Captive);
    }
    let mut daddr = IpKey::default();
    if !ip.dst_into(data, data_end, &mut daddr) {
        return Verdict::of(Action::Malformed);
    }
    let dst = maps::infra_flags(&daddr);
    let to_gateway = dst & infra::GATEWAY != 0;
    if !to_gateway && maps::walled(ip.v6, &daddr) {
        return Verdict::of(Action::Walled);
    }
    // A fragment without its L4 header says nothing about where it goes: drop it.
    if ip.proto == NO_L4 {
        return Verdict::of(Action::Captive);
    }
    match ip.proto {
        IPPROTO_TCP => {
            let Some((sport, dport)) = parse_ports(data, data_end, ip.l4) else {
                return Verdict::of(Action::Malformed);
            };
            if to_gateway && is_portal_port(dport) {
                return Verdict::with(Action::Portal, ip, sport, dport);
            }
            if dport == PORT_HTTP {
                return Verdict::with(Action::Http, ip, sport, dport);
            }
            if (dport == PORT_DNS && dst & infra::DNS != 0)
                || (to_gateway && maps::gateway_allows(IPPROTO_TCP, dport))
            {
                return Verdict::with(Action::Infra, ip, sport, dport);
            }
            match tcp_flags(data, data_end, ip.l4) {
                Some(f) if f & TCP_SYN != 0 && f & (TCP_ACK | TCP_RST) == 0 => {
                    Verdict::with(Action::Reset, ip, sport, dport)
                }
                _ => Verdict::of(Action::Captive),
            }
        }
        IPPROTO_UDP => {
            let Some((sport, dport)) = parse_ports(data, data_end, ip.l4) else {
                return Verdict::of(Action::Malformed);
            };
            let allowed = match dport {
                PORT_DNS => dst & infra::DNS != 0,
                PORT_NTP => dst & infra::NTP != 0,
                PORT_DHCPV4_SERVER if !ip.v6 => dst & infra::DHCP != 0 || daddr == BROADCAST_V4,
                PORT_DHCPV6_SERVER if ip.v6 => {
                    dst & infra::DHCP != 0 || daddr.addr == ALL_DHCP_RELAYS_AND_SERVERS
                }
                _ => false,
            } || (to_gateway && maps::gateway_allows(IPPROTO_UDP, dport));
            if allowed {
                Verdict::with(Action::Infra, ip, sport, dport)
            } else {
                Verdict::of(Action::Captive)
            }
        }
        IPPROTO_ICMP if !ip.v6 => match icmp_type(data, data_end, ip.l4) {
            None => Verdict::of(Action::Malformed),
            Some(ICMP_ECHO_REQUEST) if to_gateway => Verdict::with(Action::Infra, ip, 0, 0),
            Some(_) => Verdict::of(Action::Captive),
        },
        IPPROTO_ICMPV6 if ip.v6 => {
            let Some(ty) = icmpv6_type(data, data_end, ip.l4) else {
                return Verdict::of(Action::Malformed);
            };
            let on_link =
                to_gateway || is_link_local_v6(&daddr.addr) || is_link_multicast_v6(&daddr.addr);
            let pass = match ty {
                ICMPV6_ECHO_REQUEST => to_gateway,
                // MLD (RFC 2710/3810): hop limit 1, so it never leaves the link.
                130..=132 | 143 => ip.ttl == 1,
                // Router/neighbour solicitation and advertisement, redirect (RFC 4861):
                // hop limit 255 and on the link only.
                133..=137 => ip.ttl == 255 && on_link,
                _ => false,
            };
            if pass {
                Verdict::with(Action::Infra, ip, 0, 0)
            } else {
                Verdict::of(Action::Captive)
            }
        }
        _ => Verdict::of(Action::Captive),
    }
}

/// Whether a captive client sends from an address that another device holds: an
/// infrastructure address, one bound to a signed-in device, or one another MAC used within
/// [`ADDR_OWNER_FRESH_NS`].
/// Unspecified sources (DHCP, duplicate address detection) hold nothing.
#[inline(always)]
fn spoofed_source(data: usize, data_end: usize, ip: &Ip, mac: [u8; 6]) -> bool {
    let mut src = IpKey::default();
    if !ip.src_into(data, data_end, &mut src)
        || src.addr == [0u8; 16]
        || src == IpKey::from_v4([0; 4])
    {
        return false;
    }
    // Nobody on the LAN sends as the gateway or as one of the servers it names.
    if maps::infra_flags(&src) != 0 {
        return true;
    }
    if let Some(owner) = maps::binding(&src)
        && owner != mac
    {
        return true;
    }
    match maps::addr_owner(&src) {
        Some((owner, seen_ns)) => {
            owner != mac && maps::now_ns().saturating_sub(seen_ns) <= ADDR_OWNER_FRESH_NS
        }
        None => false,
    }
}

/// Whether an authorized device's frame comes from an address it may use. Without
/// `--bind-addresses` (or for exempt devices) every frame does. Otherwise:
///
/// * ARP, unspecified and link-local sources always pass (they cannot leave the link);
///   ARP and neighbour discovery also *claim* their address for the device when no other
///   device holds it;
/// * an address bound to the device passes (the last one per family is cached in the
///   device's per-CPU slot, so the binding map is consulted only when the source changes);
/// * an unbound address is learned if the frame claims it or the device used it before
///   it signed in; an address bound to another device, or never acquired, is dropped.
#[inline(always)]
pub fn source_bound(
    data: usize,
    data_end: usize,
    link: &Link,
    usage: *mut ClientUsage,
    strict: bool,
) -> bool {
    if !strict {
        return true;
    }
    // SAFETY: per-CPU slot of this client returned by the map lookup.
    if unsafe { (*usage).flags } & client_flags::EXEMPT_BINDING != 0 {
        return true;
    }
    let mac = link.src_mac();
    match link.ethertype {
        ETH_P_ARP => {
            if let Some(spa) = arp_sender_ipv4(data, data_end, link.l3)
                && spa != [0u8; 4]
            {
                learn(&IpKey::from_v4(spa), mac, true);
            }
            true
        }
        ETH_P_IP => {
            if parse_ipv4(data, data_end, link.l3).is_none() {
                return false;
            }
            // The source address, read straight from the header (bounds-checked).
            let Some(src) = load::<[u8; 4]>(data, data_end, link.l3 + 12) else {
                return false;
            };
            let epoch = maps::bind_epoch();
            // SAFETY: as above; only this CPU writes its slot.
            if src == [0u8; 4]
                || (src == unsafe { (*usage).bound_v4 }
                    && unsafe { (*usage).bound_epoch_v4 } == epoch)
            {
                return true;
            }
            if learn(&IpKey::from_v4(src), mac, false) {
                unsafe {
                    (*usage).bound_v4 = src;
                    (*usage).bound_epoch_v4 = epoch;
                };
                true
            } else {
                false
            }
        }
        ETH_P_IPV6 => source_bound_v6(data, data_end, link, usage),
        _ => true,
    }
}

/// [`source_bound`] for IPv6 (its own BPF function: the XDP program's stack is shared
/// with the authorized path's counting).
#[inline(never)]
fn source_bound_v6(data: usize, data_end: usize, link: &Link, usage: *mut ClientUsage) -> bool {
    let mac = link.src_mac();
    let Some(ip) = parse_ipv6(data, data_end, link.l3) else {
        return false;
    };
    let mut src = IpKey::default();
    if !ip.src_into(data, data_end, &mut src) {
        return false;
    }
    // The ICMPv6 type as a plain byte (0, unused by ICMPv6, when there is none): an
    // Option here compiled into arithmetic on a packet pointer, which the verifier refuses.
    let icmp: u8 = if ip.proto == IPPROTO_ICMPV6 {
        icmpv6_type(data, data_end, ip.l4).unwrap_or(0)
    } else {
        0
    };
    if src.addr == [0u8; 16] {
        // Duplicate address detection (a neighbour solicitation from ::): the device
        // announces the address it is about to use.
        if icmp == ICMPV6_NS
            && let Some(target) = nd_target(data, data_end, ip.l4)
            && !is_link_local_v6(&target)
            && target != [0u8; 16]
        {
            learn(&IpKey::from_v6(target), mac, true);
        }
        return true;
    }
    let epoch = maps::bind_epoch();
    // SAFETY: per-CPU slot of this client; only this CPU writes it.
    if is_link_local_v6(&src.addr)
        || (src.addr == unsafe { (*usage).bound_v6 } && unsafe { (*usage).bound_epoch_v6 } == epoch)
    {
        return true;
    }
    if learn(&src, mac, icmp == ICMPV6_NS || icmp == ICMPV6_NA) {
        unsafe {
            (*usage).bound_v6 = src.addr;
            (*usage).bound_epoch_v6 = epoch;
        };
        true
    } else {
        false
    }
}

/// Whether `key` is (or now becomes) bound to `mac`. `claim`: the frame announces the
/// address (ARP, neighbour discovery), so a free address is learned even if the device
/// never used it before signing in. Infrastructure addresses (the gateway's, the named
/// servers') are never a device's.
#[inline(always)]
fn learn(key: &IpKey, mac: [u8; 6], claim: bool) -> bool {
    if maps::infra_flags(key) != 0 {
        maps::count(Counter::DROP_UNBOUND_SOURCE);
        return false;
    }
    match maps::binding(key) {
        Some(owner) if owner == mac => return true,
        Some(_) => {
            maps::count(Counter::DROP_UNBOUND_SOURCE);
            return false;
        }
        None => {}
    }
    let learnable = match maps::addr_owner(key) {
        Some((owner, seen_ns)) => {
            owner == mac || (claim && maps::now_ns().saturating_sub(seen_ns) > ADDR_OWNER_FRESH_NS)
        }
        None => claim,
    };
    if learnable && maps::bind(key, mac) {
        maps::count(Counter::BINDING_LEARNED);
        true
    } else {
        maps::count(Counter::DROP_UNBOUND_SOURCE);
        false
    }
}
