//! netauth's kernel programs, attached to the LAN interface:
//!
//! * `netauth_xdp` (XDP): an authenticated source MAC passes at once; for anyone else only
//!   what [`verdict::classify`] allows goes on, the rest is dropped before an skb exists.
//! * `netauth_tc_ingress` (TC ingress): the same policy again (it is the only gate when XDP
//!   is off), plus steering of unauthenticated TCP/80 to the portal's transparent listener
//!   with `bpf_sk_assign` and a fwmark. Every failure drops: the gate fails closed.
//! * `netauth_tc_egress` (TC egress): download accounting for authenticated clients.
//!
//! The client and counter maps are pinned, and so are the links, so a daemon restart (or
//! crash) neither opens nor closes the network.
#![no_std]
#![no_main]

mod packet;
mod reset;
mod verdict;

use aya_ebpf::{
    EbpfContext, Global,
    bindings::{
        BPF_F_CURRENT_NETNS, BPF_TCP_LISTEN, TC_ACT_OK, TC_ACT_SHOT, bpf_sock, bpf_sock_tuple,
        xdp_action,
    },
    helpers::{bpf_ktime_get_coarse_ns, bpf_sk_assign, bpf_sk_release, bpf_skc_lookup_tcp},
    macros::{classifier, map, xdp},
    maps::{LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;
use netauth_common::{
    ClientUsage, Counter, IpKey, MAX_CLIENT_ADDRS, MAX_CLIENTS, MAX_WALLED, MacKey,
};

use crate::{
    packet::{ETH_P_IP, ETH_P_IPV6, Ip, parse_ipv4, parse_ipv6, parse_link},
    verdict::{Portal, Verdict, classify},
};

#[map(name = "NETAUTH_CLIENTS")]
static CLIENTS: PerCpuHashMap<MacKey, ClientUsage> = PerCpuHashMap::pinned(MAX_CLIENTS, 0);

#[map(name = "NETAUTH_CLIENT_ADDRS")]
static CLIENT_ADDRS: LruHashMap<IpKey, MacKey> = LruHashMap::with_max_entries(MAX_CLIENT_ADDRS, 0);

#[map(name = "NETAUTH_WALLED_V4")]
static WALLED_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(MAX_WALLED, 0);

#[map(name = "NETAUTH_WALLED_V6")]
static WALLED_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(MAX_WALLED, 0);

#[map(name = "NETAUTH_COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(Counter::SLOTS, 0);

#[unsafe(no_mangle)]
static NETAUTH_PORTAL_V4: Global<[u8; 4]> = Global::new([0; 4]);
#[unsafe(no_mangle)]
static NETAUTH_PORTAL_V6: Global<[u8; 16]> = Global::new([0; 16]);
#[unsafe(no_mangle)]
static NETAUTH_PORTAL_PORT: Global<u16> = Global::new(8080);
#[unsafe(no_mangle)]
static NETAUTH_MARK: Global<u32> = Global::new(0x0a17_0000);
#[unsafe(no_mangle)]
static NETAUTH_MARK_MASK: Global<u32> = Global::new(0xffff_0000);
#[unsafe(no_mangle)]
static NETAUTH_TC_COUNTS_INGRESS: Global<u8> = Global::new(0);

#[inline(always)]
fn count(index: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no other writer on this CPU while the program runs.
        unsafe { *slot += 1 };
    }
}

/// Whether a destination is in the walled garden.
#[inline(always)]
fn walled(ip: &Ip) -> bool {
    if ip.v6 {
        WALLED_V6.get(Key::new(128, ip.daddr)).is_some()
    } else {
        let d = ip.daddr;
        WALLED_V4
            .get(Key::new(32, [d[0], d[1], d[2], d[3]]))
            .is_some()
    }
}

#[inline(always)]
fn portal() -> Portal {
    Portal {
        v4: NETAUTH_PORTAL_V4.load(),
        v6: NETAUTH_PORTAL_V6.load(),
        port: NETAUTH_PORTAL_PORT.load(),
    }
}

/// This CPU's accounting slot of an authenticated client; `None`: not authenticated.
#[inline(always)]
fn client(mac: [u8; 6]) -> Option<*mut ClientUsage> {
    CLIENTS.get_ptr_mut(MacKey::new(mac))
}

/// Counts one upload frame/skb of `bytes` layer-3 bytes carrying `packets` packets.
/// `active`: the frame shows the user doing something (not just the link-layer chatter
/// a present-but-unused device sends by itself), so it resets the idle timer.
#[inline(always)]
fn count_up(usage: *mut ClientUsage, packets: u64, bytes: u64, active: bool) {
    // SAFETY: per-CPU slot returned by the map lookup; only this CPU writes it.
    unsafe {
        (*usage).up_packets += packets;
        (*usage).up_bytes += bytes;
        if active {
            (*usage).last_seen_ns = bpf_ktime_get_coarse_ns();
        }
    }
}

/// Whether a frame is user activity for the idle timer: not ARP, and not IPv6 to a
/// multicast group (router solicitations, MLD, DAD and address-resolution solicits).
#[inline(always)]
fn is_activity(data: usize, data_end: usize, link: &packet::Link) -> bool {
    match link.ethertype {
        ETH_P_IP => true,
        ETH_P_IPV6 => packet::ipv6_dst_first_byte(data, data_end, link.l3) != Some(0xff),
        _ => false,
    }
}

#[xdp]
pub fn netauth_xdp(ctx: XdpContext) -> u32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let Some(link) = parse_link(data, data_end) else {
        count(Counter::XDP_DROP_MALFORMED);
        return xdp_action::XDP_DROP;
    };
    if let Some(usage) = client(link.src_mac) {
        count_up(
            usage,
            1,
            (data_end - data).saturating_sub(link.l3) as u64,
            is_activity(data, data_end, &link),
        );
        count(Counter::XDP_PASS_AUTHENTICATED);
        return xdp_action::XDP_PASS;
    }
    match classify(data, data_end, &link, &portal(), walled) {
        Verdict::Infra { .. } => {
            count(Counter::XDP_PASS_INFRA);
            xdp_action::XDP_PASS
        }
        Verdict::Walled => {
            count(Counter::XDP_PASS_WALLED);
            xdp_action::XDP_PASS
        }
        Verdict::Http { .. } => {
            count(Counter::XDP_PASS_HTTP);
            xdp_action::XDP_PASS
        }
        Verdict::Reset { .. } => {
            // TC builds the reset: it can turn the skb around, checksum state included.
            count(Counter::XDP_PASS_RESET);
            xdp_action::XDP_PASS
        }
        Verdict::Captive => {
            count(Counter::XDP_DROP_CAPTIVE);
            xdp_action::XDP_DROP
        }
        Verdict::Malformed => {
            count(Counter::XDP_DROP_MALFORMED);
            xdp_action::XDP_DROP
        }
    }
}

#[classifier]
pub fn netauth_tc_ingress(ctx: TcContext) -> i32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let Some(link) = parse_link(data, data_end) else {
        count(Counter::TC_DROP_MALFORMED);
        return TC_ACT_SHOT;
    };
    let portal = portal();
    if let Some(usage) = client(link.src_mac) {
        if NETAUTH_TC_COUNTS_INGRESS.load() != 0 {
            let (packets, bytes) = skb_l3_size(&ctx, data, data_end, &link);
            count_up(usage, packets, bytes, is_activity(data, data_end, &link));
        }
        // Keep the address record current for authenticated clients too, but only for
        // traffic to the portal (status/logout pages): the rest passes untouched.
        let ip = match link.ethertype {
            ETH_P_IP => parse_ipv4(data, data_end, link.l3),
            ETH_P_IPV6 => parse_ipv6(data, data_end, link.l3),
            _ => None,
        };
        if let Some(ip) = ip
            && portal.is_portal(&ip)
        {
            record_address(&ip, link.src_mac);
        }
        return TC_ACT_OK;
    }
    match classify(data, data_end, &link, &portal, walled) {
        Verdict::Walled => TC_ACT_OK,
        Verdict::Infra { ip } => {
            if let Some(ip) = ip {
                record_address(&ip, link.src_mac);
            }
            TC_ACT_OK
        }
        Verdict::Http { ip, sport, dport } => {
            record_address(&ip, link.src_mac);
            if steer(&ctx, &ip, sport, dport, portal.port).is_ok() {
                count(Counter::TC_STEERED);
                TC_ACT_OK
            } else {
                count(Counter::TC_DROP_STEER_FAILED);
                debug!(&ctx, "netauth: steering failed, dropped");
                TC_ACT_SHOT
            }
        }
        Verdict::Reset { ip } => match reset::answer(&ctx, &link, &ip) {
            Ok(action) => {
                count(Counter::TC_RESET_SENT);
                action
            }
            Err(()) => {
                count(Counter::TC_DROP_CAPTIVE);
                TC_ACT_SHOT
            }
        },
        Verdict::Captive => {
            count(Counter::TC_DROP_CAPTIVE);
            TC_ACT_SHOT
        }
        Verdict::Malformed => {
            count(Counter::TC_DROP_MALFORMED);
            TC_ACT_SHOT
        }
    }
}

#[classifier]
pub fn netauth_tc_egress(ctx: TcContext) -> i32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    // Destination MAC: the first 6 bytes of the frame.
    if data + 14 > data_end {
        return TC_ACT_OK;
    }
    // SAFETY: bounds checked above.
    let dst: [u8; 6] = unsafe { core::ptr::read_unaligned(data as *const [u8; 6]) };
    if let Some(usage) = client(dst)
        && let Some(link) = parse_link(data, data_end)
    {
        let (packets, bytes) = skb_l3_size(&ctx, data, data_end, &link);
        // SAFETY: per-CPU slot; only this CPU writes it.
        unsafe {
            (*usage).down_packets += packets;
            (*usage).down_bytes += bytes;
        }
    }
    TC_ACT_OK
}

/// Packets and layer-3 bytes an skb stands for on the wire. A GSO/GRO skb carries
/// `gso_segs` packets, each with its own IP and L4 headers, which `len` counts only once.
#[inline(always)]
fn skb_l3_size(ctx: &TcContext, data: usize, data_end: usize, link: &packet::Link) -> (u64, u64) {
    // SAFETY: reading fields of the skb this program runs on.
    let (len, segs) = unsafe { ((*ctx.skb.skb).len, (*ctx.skb.skb).gso_segs) };
    let l3_bytes = (len as u64).saturating_sub(link.l3 as u64);
    if segs <= 1 {
        return (1, l3_bytes);
    }
    let ip = match link.ethertype {
        ETH_P_IP => parse_ipv4(data, data_end, link.l3),
        ETH_P_IPV6 => parse_ipv6(data, data_end, link.l3),
        _ => None,
    };
    let hdr = match ip {
        Some(ip) => {
            let l4_hdr = match ip.proto {
                Some(packet::IPPROTO_TCP) => {
                    packet::tcp_header_len(data, data_end, ip.l4).unwrap_or(20)
                }
                _ => 8,
            };
            (ip.l4 - link.l3 + l4_hdr) as u64
        }
        None => 0,
    };
    (segs as u64, l3_bytes + (segs as u64 - 1) * hdr)
}

/// Remember which MAC last sent from this address, so the portal can tie a connection to a
/// client from what the datapath saw. Unspecified sources (DHCP discovery, DAD) say nothing.
#[inline(always)]
fn record_address(ip: &Ip, mac: [u8; 6]) {
    let key = if ip.v6 {
        IpKey::from_v6(ip.saddr)
    } else {
        IpKey::from_v4([ip.saddr[0], ip.saddr[1], ip.saddr[2], ip.saddr[3]])
    };
    if ip.saddr == [0u8; 16] {
        return;
    }
    let _ = CLIENT_ADDRS.insert(&key, &MacKey::new(mac), 0);
}

/// Hand the packet to the portal: to the established child socket of this flow if there
/// is one, else to the transparent listener; then mark it so policy routing delivers it
/// locally. Mirrors the kernel selftest `test_sk_assign.c`.
#[inline(always)]
fn steer(ctx: &TcContext, ip: &Ip, sport: u16, dport: u16, portal_port: u16) -> Result<(), ()> {
    // SAFETY: an all-zero tuple is valid; the union member written matches the size passed.
    let mut tuple: bpf_sock_tuple = unsafe { core::mem::zeroed() };
    let size = if ip.v6 {
        let t = unsafe { &mut tuple.__bindgen_anon_1.ipv6 };
        t.saddr = words(&ip.saddr);
        t.daddr = words(&ip.daddr);
        t.sport = sport.to_be();
        t.dport = dport.to_be();
        core::mem::size_of_val(t)
    } else {
        let t = unsafe { &mut tuple.__bindgen_anon_1.ipv4 };
        t.saddr = u32::from_ne_bytes([ip.saddr[0], ip.saddr[1], ip.saddr[2], ip.saddr[3]]);
        t.daddr = u32::from_ne_bytes([ip.daddr[0], ip.daddr[1], ip.daddr[2], ip.daddr[3]]);
        t.sport = sport.to_be();
        t.dport = dport.to_be();
        core::mem::size_of_val(t)
    } as u32;

    // 1. An established (or handshaking) socket for exactly this flow.
    let sk = lookup(ctx, &mut tuple, size);
    if !sk.is_null() {
        // SAFETY: non-null socket pointer returned by the helper; released below.
        if unsafe { (*sk).state } != BPF_TCP_LISTEN {
            let ret = unsafe { bpf_sk_assign(ctx.as_ptr(), sk.cast(), 0) };
            unsafe { bpf_sk_release(sk.cast()) };
            return finish(ctx, ret);
        }
        unsafe { bpf_sk_release(sk.cast()) };
    }

    // 2. The portal listener (bound to the wildcard address on the portal port).
    if ip.v6 {
        let t = unsafe { &mut tuple.__bindgen_anon_1.ipv6 };
        t.daddr = [0; 4];
        t.dport = portal_port.to_be();
    } else {
        let t = unsafe { &mut tuple.__bindgen_anon_1.ipv4 };
        t.daddr = 0;
        t.dport = portal_port.to_be();
    }
    let sk = lookup(ctx, &mut tuple, size);
    if sk.is_null() {
        return Err(());
    }
    if unsafe { (*sk).state } != BPF_TCP_LISTEN {
        unsafe { bpf_sk_release(sk.cast()) };
        return Err(());
    }
    let ret = unsafe { bpf_sk_assign(ctx.as_ptr(), sk.cast(), 0) };
    unsafe { bpf_sk_release(sk.cast()) };
    finish(ctx, ret)
}

#[inline(always)]
fn lookup(ctx: &TcContext, tuple: &mut bpf_sock_tuple, size: u32) -> *mut bpf_sock {
    // SAFETY: `tuple` is a valid bpf_sock_tuple of at least `size` bytes.
    unsafe {
        bpf_skc_lookup_tcp(
            ctx.as_ptr(),
            tuple as *mut bpf_sock_tuple,
            size,
            BPF_F_CURRENT_NETNS as u64,
            0,
        )
    }
}

#[inline(always)]
fn finish(ctx: &TcContext, assign_ret: i64) -> Result<(), ()> {
    if assign_ret != 0 {
        return Err(());
    }
    let mask = NETAUTH_MARK_MASK.load();
    // SAFETY: reading the mark field of the skb this program runs on.
    let old = unsafe { (*ctx.skb.skb).mark };
    ctx.set_mark((old & !mask) | (NETAUTH_MARK.load() & mask));
    Ok(())
}

#[inline(always)]
fn words(addr: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]),
        u32::from_ne_bytes([addr[4], addr[5], addr[6], addr[7]]),
        u32::from_ne_bytes([addr[8], addr[9], addr[10], addr[11]]),
        u32::from_ne_bytes([addr[12], addr[13], addr[14], addr[15]]),
    ]
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
