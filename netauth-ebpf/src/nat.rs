//! Steering a captive client's plain HTTP to the portal by address translation.
//!
//! TC ingress rewrites the destination of such a packet to the portal's own address and
//! intercept port and remembers the original destination under the client's address and
//! port ([`MAP_INTERCEPTS`](netauth_common::MAP_INTERCEPTS)); TC egress puts it back on the
//! portal's answers. The packet is then addressed to the gateway itself, so the main
//! routing table delivers it: netauth needs no policy-routing rule, whose mere existence
//! makes the kernel walk the rule list for every forwarded packet's route lookup (about
//! a tenth of the forwarding rate on this gateway's path; see bench `fib-rule`).
//!
//! Checksums are updated only through `bpf_l3_csum_replace`/`bpf_l4_csum_replace` (see
//! [`crate::reset`] for why); an IPv6 address change is also folded into a
//! CHECKSUM_COMPLETE skb's sum (`BPF_F_RECOMPUTE_CSUM`), as IPv6 has no header checksum
//! to absorb it.

use aya_ebpf::{
    bindings::{BPF_F_PSEUDO_HDR, BPF_F_RECOMPUTE_CSUM},
    helpers::bpf_csum_diff,
    programs::TcContext,
};
use netauth_common::{Endpoint, IpKey};

use crate::{
    maps,
    packet::{Ip, TCP_ACK, TCP_SYN, csum_dword, csum_word, ipv4_fragmented, tcp_flags},
    verdict::PORT_HTTP,
};

/// Which end of a TCP packet [`rewrite`] changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Source,
    Destination,
}

/// Makes `to` the source or destination (address and port) of a TCP packet, with every
/// checksum the change touches.
// Not inlined: its buffers stay out of the callers' frames (the verifier's 512-byte
// stack limit counts the deepest call chain).
#[inline(never)]
fn rewrite(ctx: &TcContext, ip: &Ip, end: End, to: &Endpoint) -> Result<(), ()> {
    let csum = ip.l4 + 16;
    let (addr_off, port_off) = match (end, ip.v6) {
        (End::Source, _) => (ip.saddr_off(), ip.l4),
        (End::Destination, true) => (ip.saddr_off() + 16, ip.l4 + 2),
        (End::Destination, false) => (ip.saddr_off() + 4, ip.l4 + 2),
    };
    if ip.v6 {
        let mut old: [u8; 16] = ctx.load(addr_off).map_err(|_| ())?;
        let mut new = to.addr;
        // SAFETY: both buffers hold 16 bytes (a multiple of 4, as the helper needs).
        let diff =
            unsafe { bpf_csum_diff(old.as_mut_ptr().cast(), 16, new.as_mut_ptr().cast(), 16, 0) };
        if diff < 0 {
            return Err(());
        }
        ctx.l4_csum_replace(csum, 0, diff as u64, BPF_F_PSEUDO_HDR as u64)
            .map_err(|_| ())?;
        ctx.store(addr_off, &new, BPF_F_RECOMPUTE_CSUM as u64)
            .map_err(|_| ())?;
    } else {
        let old: [u8; 4] = ctx.load(addr_off).map_err(|_| ())?;
        let a = &to.addr;
        let new = [a[12], a[13], a[14], a[15]];
        ctx.l3_csum_replace(ip.l3 + 10, csum_dword(old), csum_dword(new), 4)
            .map_err(|_| ())?;
        ctx.l4_csum_replace(
            csum,
            csum_dword(old),
            csum_dword(new),
            BPF_F_PSEUDO_HDR as u64 | 4,
        )
        .map_err(|_| ())?;
        ctx.store(addr_off, &new, 0).map_err(|_| ())?;
    }
    let old: [u8; 2] = ctx.load(port_off).map_err(|_| ())?;
    let new = to.port.to_be_bytes();
    ctx.l4_csum_replace(csum, csum_word(old), csum_word(new), 2)
        .map_err(|_| ())?;
    ctx.store(port_off, &new, 0).map_err(|_| ())
}

/// Writes the source and the destination of a TCP packet (with the ports given) into
/// `src` and `dst`; false when the packet is too short to hold them.
#[inline(always)]
fn ends(
    ctx: &TcContext,
    ip: &Ip,
    (sport, dport): (u16, u16),
    src: &mut Endpoint,
    dst: &mut Endpoint,
) -> bool {
    let (data, data_end) = (ctx.data(), ctx.data_end());
    src.port = sport;
    dst.port = dport;
    // SAFETY: IpKey is a repr(C) [u8; 16], the layout of an endpoint's address field.
    let (s, d) = unsafe {
        (
            &mut *(&raw mut src.addr).cast::<IpKey>(),
            &mut *(&raw mut dst.addr).cast::<IpKey>(),
        )
    };
    ip.src_into(data, data_end, s) && ip.dst_into(data, data_end, d)
}

/// Steers a captive client's packet to HTTP's port to the portal: remembers where it
/// was going and rewrites its destination to the portal's address and intercept port.
/// `Err`: it could not be (no portal address of its family, a fragment, a full map, a
/// helper error), and the caller drops it.
// Not inlined: the endpoints stay out of the caller's stack frame.
#[inline(never)]
pub fn intercept(ctx: &TcContext, ip: &Ip, sport: u16, dport: u16) -> Result<(), ()> {
    // A fragment's other parts would go on to the original destination.
    if !ip.v6 && ipv4_fragmented(ctx.data(), ctx.data_end(), ip.l3) {
        return Err(());
    }
    let portal = maps::portal_addr(ip.v6).ok_or(())?;
    let (mut client, mut original) = (Endpoint::default(), Endpoint::default());
    if !ends(ctx, ip, (sport, dport), &mut client, &mut original) {
        return Err(());
    }
    let known = match maps::intercepted(&client) {
        // SAFETY: value pointer of an LRU entry, copied out at once.
        Some(o) => (unsafe { *o }) == original,
        None => false,
    };
    if !known && !maps::intercept_set(&client, &original) {
        return Err(());
    }
    to_portal(ctx, ip, &portal)
}

/// Rewrites a TCP packet's destination to the portal's address and intercept port.
#[inline(always)]
fn to_portal(ctx: &TcContext, ip: &Ip, portal: &IpKey) -> Result<(), ()> {
    let to = Endpoint {
        addr: portal.addr,
        port: maps::intercept_port(),
        _pad: [0; 2],
    };
    rewrite(ctx, ip, End::Destination, &to)
}

/// For a signed-in device's TCP packet to HTTP's port: if it belongs to a connection
/// intercepted while the device was captive, it still goes to the portal (which answers
/// a signed-in device with a redirect to the same URL and closes), so the browser's kept
/// connection ends cleanly instead of being forwarded, out of state, to a server that
/// never saw it. A SYN starts a new connection: it goes out, and the record goes.
#[inline(never)]
pub fn continue_intercepted(ctx: &TcContext, ip: &Ip, sport: u16) -> Result<(), ()> {
    let (mut client, mut dst) = (Endpoint::default(), Endpoint::default());
    if !ends(ctx, ip, (sport, PORT_HTTP), &mut client, &mut dst) {
        return Ok(());
    }
    let Some(o) = maps::intercepted(&client) else {
        return Ok(());
    };
    // SAFETY: value pointer of an LRU entry, copied out at once.
    if (unsafe { *o }) != dst {
        return Ok(());
    }
    // The flags, pulled only now (most signed-in HTTP has no record); unreadable flags
    // leave the packet alone, as a SYN would be.
    let flags = crate::pull_headers(ctx, ip.l4 as u32 + 14)
        .then(|| tcp_flags(ctx.data(), ctx.data_end(), ip.l4))
        .flatten();
    let Some(flags) = flags else {
        return Ok(());
    };
    let syn = flags & TCP_SYN != 0 && flags & TCP_ACK == 0;
    if syn {
        maps::intercept_forget(&client);
        return Ok(());
    }
    match maps::portal_addr(ip.v6) {
        Some(portal) => to_portal(ctx, ip, &portal),
        None => Ok(()),
    }
}

/// On TC egress, for a TCP packet the gateway itself sends: if it comes from the portal's
/// intercept port to an intercepted client, gives it the source the client's connection
/// has (the original destination). `Err`: a rewrite failed half-way; the caller drops.
#[inline(never)]
pub fn reverse(ctx: &TcContext, ip: &Ip, sport: u16, dport: u16) -> Result<(), ()> {
    if sport != maps::intercept_port() {
        return Ok(());
    }
    // The portal's answer: its source is the portal, its destination the client.
    let (mut portal, mut client) = (Endpoint::default(), Endpoint::default());
    if !ends(ctx, ip, (sport, dport), &mut portal, &mut client) {
        return Ok(());
    }
    if !maps::is_portal_addr(ip.v6, &IpKey { addr: portal.addr }) {
        return Ok(());
    }
    let Some(o) = maps::intercepted(&client) else {
        return Ok(());
    };
    // SAFETY: value pointer of an LRU entry, copied out at once.
    let original = unsafe { *o };
    rewrite(ctx, ip, End::Source, &original)
}
