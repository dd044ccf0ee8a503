//! What the TC program records about who sent what, for the daemon to read:
//!
//! * per portal connection, the MAC that sent its packets ([`record_flow`]): the portal
//!   binds a login to that MAC, and to nothing else. A flow seen from two MACs is poisoned,
//!   so spoofing a victim's address can make its login fail, never hand it to the spoofer;
//! * per address, the MAC that used it while captive ([`observe_captive`]), which does not
//!   change hands while the owner is active.

use netauth_common::{
    ADDR_OWNER_FRESH_NS, AddrOwner, Counter, FLOW_REUSE_NS, FlowKey, FlowOwner, IpKey,
};

use crate::{
    maps,
    packet::{
        ETH_P_ARP, IPPROTO_ICMPV6, Ip, Link, TCP_ACK, TCP_SYN, arp_sender_ipv4, icmpv6_type,
        nd_target, tcp_flags,
    },
    verdict::is_link_local_v6,
};

/// Refresh an owner's "last seen" at most this often (a write per packet costs).
const SEEN_REFRESH_NS: u64 = 1_000_000_000;

/// Remembers that `mac` uses the address `key`, unless another MAC used it within
/// [`ADDR_OWNER_FRESH_NS`].
#[inline(always)]
fn record_address(key: &IpKey, mac: [u8; 6]) {
    let now = maps::now_ns();
    if let Some(o) = maps::addr_record(key) {
        // SAFETY: value pointer of an LRU entry; racing writers only race on "last seen".
        let (owner, seen) = unsafe { ((*o).mac, (*o).seen_ns) };
        if owner == mac {
            if now.saturating_sub(seen) > SEEN_REFRESH_NS {
                unsafe { (*o).seen_ns = now };
            }
            return;
        }
        if now.saturating_sub(seen) <= ADDR_OWNER_FRESH_NS {
            maps::count(Counter::ADDR_CONFLICT);
            return;
        }
    }
    maps::addr_set(
        key,
        &AddrOwner {
            mac,
            _pad: [0; 2],
            seen_ns: now,
        },
    );
}

/// Records the addresses a captive client's passed frame uses or claims: the IP source
/// (`ip`; `None` for ARP), the sender of an ARP packet, the target of a
/// duplicate-address-detection probe.
// Not inlined (here and below): BPF-to-BPF calls keep these records' keys and values out
// of the TC program's stack frame, which the verifier limits to 512 bytes.
#[inline(never)]
pub fn observe_captive(data: usize, data_end: usize, link: &Link, ip: Option<&Ip>) {
    let mac = link.src_mac();
    match ip {
        None => {
            if link.ethertype == ETH_P_ARP
                && let Some(spa) = arp_sender_ipv4(data, data_end, link.l3)
                && spa != [0u8; 4]
            {
                record_address(&IpKey::from_v4(spa), mac);
            }
        }
        Some(ip) => {
            let mut src = IpKey::default();
            if !ip.src_into(data, data_end, &mut src) {
                return;
            }
            if src.addr != [0u8; 16] && src != IpKey::from_v4([0; 4]) {
                record_address(&src, mac);
            } else if ip.v6
                && ip.proto == IPPROTO_ICMPV6
                && icmpv6_type(data, data_end, ip.l4) == Some(135)
                && let Some(target) = nd_target(data, data_end, ip.l4)
                && !is_link_local_v6(&target)
            {
                record_address(&IpKey::from_v6(target), mac);
            }
        }
    }
}

/// Records which MAC sends the TCP flow `ip`/`ports` (source port in the high half, a
/// portal connection).
#[inline(never)]
pub fn record_flow(data: usize, data_end: usize, ip: &Ip, ports: u32, mac: &[u8; 6]) {
    let (sport, dport) = ((ports >> 16) as u16, ports as u16);
    let mac = *mac;
    let mut key = FlowKey {
        sport,
        dport,
        ..FlowKey::default()
    };
    // Written in place (see `Ip::src_into`); the casts are between same-layout types.
    // SAFETY: IpKey is a repr(C) [u8; 16], as are the key's address fields.
    let (s, d) = unsafe {
        (
            &mut *(&raw mut key.saddr).cast::<IpKey>(),
            &mut *(&raw mut key.daddr).cast::<IpKey>(),
        )
    };
    if !ip.src_into(data, data_end, s) || !ip.dst_into(data, data_end, d) {
        return;
    }
    let now = maps::now_ns();
    let syn =
        tcp_flags(data, data_end, ip.l4).is_some_and(|f| f & TCP_SYN != 0 && f & TCP_ACK == 0);
    if let Some(f) = maps::flow_record(&key) {
        // SAFETY: value pointer of an LRU entry.
        let (owner, first, conflict) = unsafe { ((*f).mac, (*f).first_ns, (*f).conflict) };
        if owner == mac {
            // The same device opening a new connection on a long-gone 4-tuple starts clean.
            if conflict != 0 && syn && now.saturating_sub(first) > FLOW_REUSE_NS {
                maps::flow_set(
                    &key,
                    &FlowOwner {
                        mac,
                        conflict: 0,
                        _pad: 0,
                        first_ns: now,
                    },
                );
            }
            return;
        }
        // Another MAC on this flow: nobody may be trusted with it any more.
        if conflict == 0 {
            unsafe { (*f).conflict = 1 };
            maps::count(Counter::FLOW_CONFLICT);
        }
        return;
    }
    maps::flow_set(
        &key,
        &FlowOwner {
            mac,
            conflict: 0,
            _pad: 0,
            first_ns: now,
        },
    );
}
