//! netauth's kernel programs, attached to the LAN interface:
//!
//! * `netauth_xdp` (XDP): an authenticated source MAC passes at once (from an address
//!   bound to it, see [`verdict::source_bound`]); for anyone else only what
//!   [`verdict::classify`] allows goes on, the rest is dropped before an skb exists.
//! * `netauth_tc_ingress` (TC ingress): the same policy again (it is the only gate when XDP
//!   is off), plus steering of unauthenticated TCP/80 to the portal by rewriting its
//!   destination ([`nat`]), and the records the portal identifies clients by
//!   ([`identity`]). Every failure drops: the gate fails closed.
//! * `netauth_tc_egress` (TC egress): the portal's answers to intercepted connections get
//!   their original source back ([`nat::reverse`]); download accounting for authenticated
//!   clients, and their download limits (an earliest departure time for `fq`, see
//!   [`rate`]).
//!
//! The client and counter maps are pinned, and so are the links, so a daemon restart (or
//! crash) neither opens nor closes the network.
#![no_std]
#![no_main]
// BPF atomic instructions (see `rate`): inline assembly for the bpf arch is unstable.
#![feature(asm_experimental_arch)]

mod identity;
mod maps;
mod nat;
mod packet;
mod rate;
mod reset;
mod verdict;

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    helpers::bpf_xdp_adjust_meta,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;
use netauth_common::{ClientUsage, Counter, IpKey};

use crate::{
    maps::count,
    packet::{
        ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMPV6, IPPROTO_TCP, Link, load, parse_ip,
        parse_link, parse_ports,
    },
    verdict::{Action, classify, source_bound},
};

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
            (*usage).last_seen_ns = maps::now_ns();
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

/// What XDP leaves in the frame's metadata area for TC: "this frame is from an authorized
/// device, from an address bound to it, and counted". Only netauth's XDP program writes a
/// frame's metadata (a frame arrives from the wire with none), so TC can trust it and skip
/// its own lookup.
const META_AUTHENTICATED: u32 = 0x6e61_7501;
const META_LEN: usize = 4;

/// Marks the frame authenticated for TC (see [`META_AUTHENTICATED`]). Drivers without XDP
/// metadata refuse the adjustment: TC then looks the device up itself.
#[inline(always)]
fn mark_authenticated(ctx: &XdpContext) {
    // SAFETY: the helper moves the metadata start of this program's own frame.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -(META_LEN as i32)) } != 0 {
        return;
    }
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + META_LEN <= data {
        // SAFETY: bounds checked against the frame's data start just above.
        unsafe { core::ptr::write_unaligned(meta as *mut u32, META_AUTHENTICATED) };
    }
}

/// Whether XDP marked this frame authenticated (see [`META_AUTHENTICATED`]).
#[inline(always)]
fn xdp_authenticated(ctx: &TcContext) -> bool {
    // SAFETY: reading the metadata bounds of the skb this program runs on.
    let (meta, data) = unsafe {
        (
            (*ctx.skb.skb).data_meta as usize,
            (*ctx.skb.skb).data as usize,
        )
    };
    // SAFETY: bounds checked against the skb's data start.
    meta + META_LEN <= data
        && unsafe { core::ptr::read_unaligned(meta as *const u32) } == META_AUTHENTICATED
}

/// Source and destination port in one argument (BPF calls take at most five).
#[inline(always)]
fn ports(sport: u16, dport: u16) -> u32 {
    (u32::from(sport) << 16) | u32::from(dport)
}

#[xdp]
pub fn netauth_xdp(ctx: XdpContext) -> u32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let Some(link) = parse_link(data, data_end) else {
        count(Counter::XDP_DROP_MALFORMED);
        return xdp_action::XDP_DROP;
    };
    if let Some(usage) = maps::client(link.mac) {
        if !source_bound(data, data_end, &link, usage, maps::bind_strict()) {
            return xdp_action::XDP_DROP;
        }
        let bytes = (data_end - data).saturating_sub(link.l3) as u64;
        if !rate::up_allowed(link.mac, usage, bytes) {
            return xdp_action::XDP_DROP;
        }
        count_up(usage, 1, bytes, is_activity(data, data_end, &link));
        count(Counter::XDP_PASS_AUTHENTICATED);
        mark_authenticated(&ctx);
        return xdp_action::XDP_PASS;
    }
    match classify(data, data_end, &link).action {
        Action::Arp | Action::Infra | Action::Portal => {
            count(Counter::XDP_PASS_INFRA);
            xdp_action::XDP_PASS
        }
        Action::Walled => {
            count(Counter::XDP_PASS_WALLED);
            xdp_action::XDP_PASS
        }
        Action::Http => {
            count(Counter::XDP_PASS_HTTP);
            xdp_action::XDP_PASS
        }
        Action::Reset => {
            // TC builds the reset: it can turn the skb around, checksum state included.
            count(Counter::XDP_PASS_RESET);
            xdp_action::XDP_PASS
        }
        Action::Captive => {
            count(Counter::XDP_DROP_CAPTIVE);
            xdp_action::XDP_DROP
        }
        Action::Malformed => {
            count(Counter::XDP_DROP_MALFORMED);
            xdp_action::XDP_DROP
        }
    }
}

/// Header bytes the policy may read in the skb's linear area (Ethernet with a tag, IPv6
/// with a few extension headers, the L4 header).
const LINEAR_HEADERS: u32 = 192;

/// Bytes of the fixed network-layer header of a frame of `ethertype` (an ARP packet for
/// IPv4 over Ethernet is 28).
#[inline(always)]
fn l3_header_len(ethertype: u16) -> u32 {
    match ethertype {
        ETH_P_IP => 20,
        ETH_P_IPV6 => 40,
        ETH_P_ARP => 28,
        _ => 0,
    }
}

/// IPv6 extension headers the parser walks (hop-by-hop, routing, fragment, destination).
#[inline(always)]
fn is_ipv6_extension(next: u8) -> bool {
    matches!(next, 0 | 43 | 44 | 60)
}

/// Makes readable what an authorized device's frame is checked by, no more (a larger
/// pull can cost a new skb head where the stack's own pulls fit): the network header,
/// and for ICMPv6 (neighbour discovery announces addresses) its first 24 bytes.
#[inline(always)]
fn pull_authorized(ctx: &TcContext, link: &Link) -> bool {
    let l3 = link.l3 as u32;
    if !pull_headers(ctx, l3 + l3_header_len(link.ethertype)) {
        return false;
    }
    if link.ethertype == ETH_P_IPV6
        && load::<u8>(ctx.data(), ctx.data_end(), link.l3 + 6) == Some(IPPROTO_ICMPV6)
    {
        return pull_headers(ctx, l3 + 40 + 24);
    }
    true
}

/// Makes the first `want` bytes of the frame (or all of it, when shorter) readable: the
/// programs can only read the skb's linear area, and frames from AF_PACKET's TX ring or
/// some drivers carry their headers in page fragments. Pulling costs a copy (and a new
/// head when the skb is shared), so each path asks only for what it reads, and only when
/// it is not there already. Returns false when the headers cannot be made readable.
#[inline(always)]
pub(crate) fn pull_headers(ctx: &TcContext, want: u32) -> bool {
    // SAFETY: reading the length of the skb this program runs on.
    let len = unsafe { (*ctx.skb.skb).len };
    let want = if len < want { len } else { want };
    ((ctx.data_end() - ctx.data()) as u32) >= want || ctx.pull_data(want).is_ok()
}

#[classifier]
pub fn netauth_tc_ingress(ctx: TcContext) -> i32 {
    // Without XDP there is no metadata to read.
    if !maps::tc_counts_ingress() && xdp_authenticated(&ctx) {
        return tc_portal_flow(&ctx);
    }
    // The Ethernet header (and a VLAN tag) are normally linear already.
    let mut link = parse_link(ctx.data(), ctx.data_end());
    if link.is_none() && pull_headers(&ctx, 18) {
        link = parse_link(ctx.data(), ctx.data_end());
    }
    let Some(link) = link else {
        count(Counter::TC_DROP_MALFORMED);
        return TC_ACT_SHOT;
    };
    // Each path in its own BPF function: the verifier's 512-byte stack limit counts the
    // deepest call chain, not the sum of every branch's buffers.
    match maps::client(link.mac) {
        Some(usage) => tc_authorized(&ctx, &link, usage),
        None => {
            if !pull_headers(&ctx, LINEAR_HEADERS) {
                count(Counter::TC_DROP_MALFORMED);
                return TC_ACT_SHOT;
            }
            tc_captive(&ctx, &link)
        }
    }
}

/// TC ingress for a frame XDP already passed as authenticated: only the flow record of
/// the device's connections to the portal.
#[inline(never)]
fn tc_portal_flow(ctx: &TcContext) -> i32 {
    let mut link = parse_link(ctx.data(), ctx.data_end());
    if link.is_none() && pull_headers(ctx, 18) {
        link = parse_link(ctx.data(), ctx.data_end());
    }
    match link {
        Some(link) => portal_flow(ctx, &link),
        None => TC_ACT_OK,
    }
}

/// TC ingress for an authorized device: XDP's per-client work when XDP is off, and the
/// flow record of its connections to the portal (status page, logout, API).
#[inline(never)]
fn tc_authorized(ctx: &TcContext, link: &Link, usage: *mut ClientUsage) -> i32 {
    if maps::tc_counts_ingress() {
        if !pull_authorized(ctx, link) {
            count(Counter::TC_DROP_MALFORMED);
            return TC_ACT_SHOT;
        }
        let (data, data_end) = (ctx.data(), ctx.data_end());
        if !source_bound(data, data_end, link, usage, maps::bind_strict()) {
            return TC_ACT_SHOT;
        }
        let (packets, bytes) = skb_l3_size(ctx, data, data_end, link);
        if !rate::up_allowed(link.mac, usage, bytes) {
            return TC_ACT_SHOT;
        }
        count_up(usage, packets, bytes, is_activity(data, data_end, link));
    }
    portal_flow(ctx, link)
}

/// A signed-in device's TCP to the portal: records which MAC sent a flow to the portal's
/// own address and ports (the portal identifies a signed-in device's status, logout and
/// API requests by it); its HTTP on a connection intercepted while it was captive goes on
/// to the portal ([`nat::continue_intercepted`]).
#[inline(always)]
fn portal_flow(ctx: &TcContext, link: &Link) -> i32 {
    // Most traffic is not TCP: the protocol byte says so before any parsing (IPv6
    // extension headers before TCP are walked by the parser below). It is in the linear
    // area already on the authorized path (pulled for the address check); only then is
    // anything pulled.
    let proto_at = match link.ethertype {
        ETH_P_IP => link.l3 + 9,
        ETH_P_IPV6 => link.l3 + 6,
        _ => return TC_ACT_OK,
    };
    let mut proto = load::<u8>(ctx.data(), ctx.data_end(), proto_at);
    if proto.is_none() && pull_headers(ctx, proto_at as u32 + 1) {
        proto = load::<u8>(ctx.data(), ctx.data_end(), proto_at);
    }
    match proto {
        Some(IPPROTO_TCP) => {}
        Some(p) if link.ethertype == ETH_P_IPV6 && is_ipv6_extension(p) => {}
        _ => return TC_ACT_OK,
    }
    if !pull_headers(ctx, link.l3 as u32 + l3_header_len(link.ethertype)) {
        return TC_ACT_OK;
    }
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let ip = parse_ip(data, data_end, link);
    let Some(ip) = ip else { return TC_ACT_OK };
    // The ports (in the linear area already, unless the driver left the TCP header in a
    // page fragment); the flags only matter on a connection that was intercepted.
    if ip.proto != IPPROTO_TCP || !pull_headers(ctx, ip.l4 as u32 + 4) {
        return TC_ACT_OK;
    }
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let Some((sport, dport)) = parse_ports(data, data_end, ip.l4) else {
        return TC_ACT_OK;
    };
    if dport == verdict::PORT_HTTP {
        return match nat::continue_intercepted(ctx, &ip, sport) {
            Ok(()) => TC_ACT_OK,
            Err(()) => TC_ACT_SHOT,
        };
    }
    let mut dst = IpKey::default();
    if verdict::is_portal_port(dport)
        && ip.dst_into(data, data_end, &mut dst)
        && maps::is_portal_addr(ip.v6, &dst)
    {
        identity::record_flow(data, data_end, &ip, ports(sport, dport), &link.src_mac());
    }
    TC_ACT_OK
}

/// TC ingress for a device that is not authorized: the policy, the records the portal
/// identifies clients by, steering of HTTP to the portal and resets.
#[inline(never)]
fn tc_captive(ctx: &TcContext, link: &Link) -> i32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let v = classify(data, data_end, link);
    match v.action {
        Action::Walled => TC_ACT_OK,
        Action::Arp => {
            identity::observe_captive(data, data_end, link, None);
            TC_ACT_OK
        }
        Action::Infra => {
            identity::observe_captive(data, data_end, link, Some(&v.ip));
            TC_ACT_OK
        }
        Action::Portal => {
            identity::observe_captive(data, data_end, link, Some(&v.ip));
            identity::record_flow(data, data_end, &v.ip, v.ports, &link.src_mac());
            TC_ACT_OK
        }
        Action::Http => {
            identity::observe_captive(data, data_end, link, Some(&v.ip));
            identity::record_flow(data, data_end, &v.ip, v.ports, &link.src_mac());
            if nat::intercept(ctx, &v.ip, (v.ports >> 16) as u16, v.ports as u16).is_ok() {
                count(Counter::TC_STEERED);
                TC_ACT_OK
            } else {
                count(Counter::TC_DROP_STEER_FAILED);
                debug!(ctx, "netauth: steering failed, dropped");
                TC_ACT_SHOT
            }
        }
        Action::Reset => match reset::answer(ctx, link, &v.ip) {
            Ok(action) => {
                count(Counter::TC_RESET_SENT);
                action
            }
            Err(()) => {
                count(Counter::TC_DROP_CAPTIVE);
                TC_ACT_SHOT
            }
        },
        Action::Captive => {
            count(Counter::TC_DROP_CAPTIVE);
            TC_ACT_SHOT
        }
        Action::Malformed => {
            count(Counter::TC_DROP_MALFORMED);
            TC_ACT_SHOT
        }
    }
}

#[classifier]
pub fn netauth_tc_egress(ctx: TcContext) -> i32 {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    // Destination MAC: the first 6 bytes of the frame (the Ethernet header is linear on
    // egress; a frame too short to have one is not counted).
    if data + 14 > data_end {
        return TC_ACT_OK;
    }
    let Some(dst) = packet::load_mac(data, data_end, 0) else {
        return TC_ACT_OK;
    };
    let Some(usage) = maps::client(dst) else {
        // A captive client: what it gets from the gateway itself may be the portal's
        // answer on an intercepted connection.
        return if translate_egress(&ctx) {
            TC_ACT_OK
        } else {
            TC_ACT_SHOT
        };
    };
    // Only a packet the gateway sends itself has a socket (forwarded ones have none), and
    // only those can be the portal's: the forwarding path pays one load for this.
    // SAFETY: reading a field of the skb this program runs on.
    if !unsafe { (*ctx.skb.skb).__bindgen_anon_2.sk }.is_null() && !translate_egress(&ctx) {
        return TC_ACT_SHOT;
    }
    // A GSO skb's size needs its IP and L4 header lengths: only then are they pulled.
    // SAFETY: reading a field of the skb this program runs on.
    let want = if unsafe { (*ctx.skb.skb).gso_segs } > 1 {
        LINEAR_HEADERS
    } else {
        18
    };
    if !pull_headers(&ctx, want) {
        return TC_ACT_OK;
    }
    let (data, data_end) = (ctx.data(), ctx.data_end());
    if let Some(link) = parse_link(data, data_end) {
        let (packets, bytes) = skb_l3_size(&ctx, data, data_end, &link);
        match rate::down(dst, usage, bytes) {
            rate::Down::Free => {}
            // SAFETY: writing the departure time of the skb this program runs on (fq
            // holds it until then).
            rate::Down::At(t) => unsafe { (*ctx.skb.skb).tstamp = t },
            rate::Down::Drop => return TC_ACT_SHOT,
        }
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
    let ip = parse_ip(data, data_end, link);
    let hdr = match ip {
        Some(ip) => {
            let l4_hdr = match ip.proto {
                packet::IPPROTO_TCP => packet::tcp_header_len(data, data_end, ip.l4).unwrap_or(20),
                _ => 8,
            };
            (ip.l4 - link.l3 + l4_hdr) as u64
        }
        None => 0,
    };
    (segs as u64, l3_bytes + (segs as u64 - 1) * hdr)
}

/// The portal's answers on intercepted connections get the source the client's
/// connection has (see [`nat`]). False: a rewrite failed half-way, drop the packet.
#[inline(never)]
fn translate_egress(ctx: &TcContext) -> bool {
    // The headers the gateway itself builds are linear; pulling more (a frame's payload)
    // would copy for nothing.
    if !pull_headers(ctx, 18) {
        return true;
    }
    let Some(link) = parse_link(ctx.data(), ctx.data_end()) else {
        return true;
    };
    if !pull_headers(ctx, link.l3 as u32 + l3_header_len(link.ethertype) + 20) {
        return true;
    }
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let ip = parse_ip(data, data_end, &link);
    let Some(ip) = ip else { return true };
    if ip.proto != IPPROTO_TCP {
        return true;
    }
    let Some((sport, dport)) = parse_ports(data, data_end, ip.l4) else {
        return true;
    };
    nat::reverse(ctx, &ip, sport, dport).is_ok()
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
