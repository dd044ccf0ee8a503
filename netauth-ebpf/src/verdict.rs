//! What an unauthenticated client may send. This is the whole captive policy, shared by
//! the XDP and TC programs so the two hooks can never disagree.

use crate::packet::{
    ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Ip, Link, TCP_ACK,
    TCP_RST, TCP_SYN, icmpv6_type, parse_ipv4, parse_ipv6, parse_ports, tcp_flags,
};

const PORT_DNS: u16 = 53;
const PORT_DHCPV4_SERVER: u16 = 67;
const PORT_DHCPV6_SERVER: u16 = 547;
const PORT_HTTP: u16 = 80;

/// The decision for a frame from a client that is not authenticated.
pub enum Verdict {
    /// Needed to get online (ARP, ND, DHCP, DNS) or addressed to the portal host: pass.
    Infra { ip: Option<Ip> },
    /// Addressed to the walled garden (operator-allowed destinations): pass.
    Walled,
    /// Plain HTTP to some other address: steer to the portal's transparent listener.
    Http { ip: Ip, sport: u16, dport: u16 },
    /// A TCP connection attempt to anything else: answer with a reset so apps fail fast
    /// (RFC 8952 allows this; a silent drop makes them hang).
    Reset { ip: Ip },
    /// Anything else: drop.
    Captive,
    /// Could not be parsed: drop.
    Malformed,
}

/// The portal's own address and port, as set at load time.
pub struct Portal {
    pub v4: [u8; 4],
    pub v6: [u8; 16],
    pub port: u16,
}

impl Portal {
    #[inline(always)]
    pub fn is_portal(&self, ip: &Ip) -> bool {
        if ip.v6 {
            ip.daddr == self.v6 && self.v6 != [0u8; 16]
        } else {
            ip.daddr[..4] == self.v4 && self.v4 != [0u8; 4]
        }
    }
}

/// `walled`: whether a destination is in the walled garden.
#[inline(always)]
pub fn classify(
    data: usize,
    data_end: usize,
    link: &Link,
    portal: &Portal,
    walled: impl Fn(&Ip) -> bool,
) -> Verdict {
    let ip = match link.ethertype {
        ETH_P_ARP => return Verdict::Infra { ip: None },
        ETH_P_IP => parse_ipv4(data, data_end, link.l3),
        ETH_P_IPV6 => parse_ipv6(data, data_end, link.l3),
        _ => return Verdict::Captive,
    };
    let Some(ip) = ip else {
        return Verdict::Malformed;
    };
    let to_portal = portal.is_portal(&ip);
    if !to_portal && walled(&ip) {
        return Verdict::Walled;
    }
    let Some(proto) = ip.proto else {
        // A fragment without its L4 header: only the portal host may receive it.
        return if to_portal {
            Verdict::Infra { ip: Some(ip) }
        } else {
            Verdict::Captive
        };
    };
    match proto {
        IPPROTO_TCP => {
            let Some((sport, dport)) = parse_ports(data, data_end, ip.l4) else {
                return Verdict::Malformed;
            };
            if to_portal && dport == portal.port {
                return Verdict::Infra { ip: Some(ip) };
            }
            if dport == PORT_HTTP {
                return Verdict::Http { ip, sport, dport };
            }
            if to_portal || dport == PORT_DNS {
                return Verdict::Infra { ip: Some(ip) };
            }
            match tcp_flags(data, data_end, ip.l4) {
                Some(f) if f & TCP_SYN != 0 && f & (TCP_ACK | TCP_RST) == 0 => {
                    Verdict::Reset { ip }
                }
                _ => Verdict::Captive,
            }
        }
        IPPROTO_UDP => {
            let Some((_, dport)) = parse_ports(data, data_end, ip.l4) else {
                return Verdict::Malformed;
            };
            let dhcp = if ip.v6 {
                dport == PORT_DHCPV6_SERVER
            } else {
                dport == PORT_DHCPV4_SERVER
            };
            if to_portal || dhcp || dport == PORT_DNS {
                Verdict::Infra { ip: Some(ip) }
            } else {
                Verdict::Captive
            }
        }
        IPPROTO_ICMPV6 if ip.v6 => {
            let Some(ty) = icmpv6_type(data, data_end, ip.l4) else {
                return Verdict::Malformed;
            };
            // MLD (130-132, 143) keeps multicast snooping switches delivering ND;
            // 133-137 are router/neighbour solicitation/advertisement and redirect.
            if to_portal || matches!(ty, 130..=137 | 143) {
                Verdict::Infra { ip: Some(ip) }
            } else {
                Verdict::Captive
            }
        }
        _ => {
            if to_portal {
                Verdict::Infra { ip: Some(ip) }
            } else {
                Verdict::Captive
            }
        }
    }
}
