//! Answering a captive client's TCP SYN with a RST, built in place from the SYN and sent
//! back out of the LAN interface.
//!
//! Checksums are updated only through `bpf_l3_csum_replace`/`bpf_l4_csum_replace`, which
//! honour the skb's checksum state: for a CHECKSUM_PARTIAL skb (a client with checksum
//! offload) they update only the pseudo-header part the hardware expects, for any other
//! they update the full checksum. Writing a freshly computed checksum instead would be
//! wrong for one of the two.

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_F_PSEUDO_HDR, TC_ACT_REDIRECT},
    helpers::{bpf_csum_diff, bpf_redirect, bpf_skb_change_tail, bpf_skb_load_bytes},
    programs::TcContext,
};

use crate::packet::{Ip, Link, TCP_ACK, TCP_RST, csum_dword, csum_word};

const MAX_OPTIONS: usize = 40;
const TTL: u8 = 64;

/// Turns the SYN in `ctx` into the matching RST|ACK and redirects it to the interface it
/// came from. Any failure: `Err`, and the caller drops the packet.
// Not inlined: a BPF-to-BPF call keeps this branch's buffers out of the caller's stack
// frame (the TC program would exceed the verifier's 512-byte stack otherwise).
#[inline(never)]
pub fn answer(ctx: &TcContext, link: &Link, ip: &Ip) -> Result<i32, ()> {
    let l3 = link.l3;
    let l4 = ip.l4;
    if ip.v6 && l4 != l3 + 40 {
        return Err(()); // extension headers: not worth answering
    }
    if !ip.v6 && crate::packet::ipv4_fragmented(ctx.data(), ctx.data_end(), l3) {
        // A SYN in a fragment: a reset copied from it would be a fragment too, held for
        // reassembly by the client and never acted on.
        return Err(());
    }
    let eth: [u8; 12] = ctx.load(0).map_err(|_| ())?;
    let tcp: [u8; 20] = ctx.load(l4).map_err(|_| ())?;
    let doff = ((tcp[12] >> 4) as usize) * 4;
    if !(20..=60).contains(&doff) {
        return Err(());
    }
    let ip_payload_old = if ip.v6 {
        let b: [u8; 2] = ctx.load(l3 + 4).map_err(|_| ())?;
        u16::from_be_bytes(b) as usize
    } else {
        let b: [u8; 2] = ctx.load(l3 + 2).map_err(|_| ())?;
        (u16::from_be_bytes(b) as usize).saturating_sub(l4 - l3)
    };
    if ip_payload_old != doff {
        return Err(()); // a SYN carrying data (TFO): drop rather than answer
    }
    let csum = l4 + 16;

    // TCP options go away: take their bytes out of the checksum.
    let opt_len = doff - 20;
    if opt_len > 0 {
        let mut opts = [0u8; MAX_OPTIONS];
        if opt_len > MAX_OPTIONS {
            return Err(());
        }
        // The raw helper: the wrapper's min(len - off, buf) may be zero to the verifier.
        // SAFETY: opts has room for opt_len (1..=40) bytes.
        if unsafe {
            bpf_skb_load_bytes(
                ctx.as_ptr(),
                (l4 + 20) as u32,
                opts.as_mut_ptr().cast(),
                opt_len as u32,
            )
        } != 0
        {
            return Err(());
        }
        // SAFETY: `opts` holds opt_len (a multiple of 4, <= 40) initialised bytes.
        let diff = unsafe {
            bpf_csum_diff(
                opts.as_mut_ptr().cast(),
                opt_len as u32,
                core::ptr::null_mut(),
                0,
                0,
            )
        };
        if diff < 0 {
            return Err(());
        }
        ctx.l4_csum_replace(csum, 0, diff as u64, 0)
            .map_err(|_| ())?;
    }

    // Header fields, each with its checksum update.
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let new_seq = [0u8; 4];
    let new_ack = seq.wrapping_add(1).to_be_bytes();
    let new_flags = [5 << 4, TCP_RST | TCP_ACK];
    let zero2 = [0u8; 2];
    let old_seq = [tcp[4], tcp[5], tcp[6], tcp[7]];
    let old_ack = [tcp[8], tcp[9], tcp[10], tcp[11]];
    let old_flags = [tcp[12], tcp[13]];
    let old_win = [tcp[14], tcp[15]];
    let old_urg = [tcp[18], tcp[19]];
    ctx.l4_csum_replace(csum, csum_dword(old_seq), csum_dword(new_seq), 4)
        .map_err(|_| ())?;
    ctx.l4_csum_replace(csum, csum_dword(old_ack), csum_dword(new_ack), 4)
        .map_err(|_| ())?;
    ctx.l4_csum_replace(csum, csum_word(old_flags), csum_word(new_flags), 2)
        .map_err(|_| ())?;
    ctx.l4_csum_replace(csum, csum_word(old_win), csum_word(zero2), 2)
        .map_err(|_| ())?;
    ctx.l4_csum_replace(csum, csum_word(old_urg), csum_word(zero2), 2)
        .map_err(|_| ())?;
    // The pseudo header's TCP length shrinks to 20.
    let old_tcp_len = (doff as u16).to_be_bytes();
    let new_tcp_len = 20u16.to_be_bytes();
    ctx.l4_csum_replace(
        csum,
        csum_word(old_tcp_len),
        csum_word(new_tcp_len),
        BPF_F_PSEUDO_HDR as u64 | 2,
    )
    .map_err(|_| ())?;

    // Ports and addresses swap: sums of swapped fields are unchanged.
    let mut out = [0u8; 20];
    out[0..2].copy_from_slice(&tcp[2..4]);
    out[2..4].copy_from_slice(&tcp[0..2]);
    out[4..8].copy_from_slice(&new_seq);
    out[8..12].copy_from_slice(&new_ack);
    out[12..14].copy_from_slice(&new_flags);
    out[16..18].copy_from_slice(&tcp[16..18]);
    // Store everything but the checksum field, which the helpers maintain.
    ctx.store(l4, &[out[0], out[1], out[2], out[3]], 0)
        .map_err(|_| ())?;
    ctx.store(l4 + 4, &[out[4], out[5], out[6], out[7]], 0)
        .map_err(|_| ())?;
    ctx.store(l4 + 8, &[out[8], out[9], out[10], out[11]], 0)
        .map_err(|_| ())?;
    ctx.store(l4 + 12, &[out[12], out[13], 0u8, 0u8], 0)
        .map_err(|_| ())?;
    ctx.store(l4 + 18, &zero2, 0).map_err(|_| ())?;

    if ip.v6 {
        let src: [u8; 16] = ctx.load(l3 + 8).map_err(|_| ())?;
        let dst: [u8; 16] = ctx.load(l3 + 24).map_err(|_| ())?;
        ctx.store(l3 + 8, &dst, 0).map_err(|_| ())?;
        ctx.store(l3 + 24, &src, 0).map_err(|_| ())?;
        ctx.store(l3 + 4, &new_tcp_len, 0).map_err(|_| ())?;
        ctx.store(l3 + 7, &TTL, 0).map_err(|_| ())?;
    } else {
        let hdr: [u8; 20] = ctx.load(l3).map_err(|_| ())?;
        let new_total = ((l4 - l3 + 20) as u16).to_be_bytes();
        ctx.l3_csum_replace(
            l3 + 10,
            csum_word([hdr[2], hdr[3]]),
            csum_word(new_total),
            2,
        )
        .map_err(|_| ())?;
        ctx.l3_csum_replace(
            l3 + 10,
            csum_word([hdr[8], hdr[9]]),
            csum_word([TTL, hdr[9]]),
            2,
        )
        .map_err(|_| ())?;
        ctx.store(l3 + 2, &new_total, 0).map_err(|_| ())?;
        ctx.store(l3 + 8, &TTL, 0).map_err(|_| ())?;
        ctx.store(l3 + 12, &[hdr[16], hdr[17], hdr[18], hdr[19]], 0)
            .map_err(|_| ())?;
        ctx.store(l3 + 16, &[hdr[12], hdr[13], hdr[14], hdr[15]], 0)
            .map_err(|_| ())?;
    }

    // Back to the client: its MAC becomes the destination.
    let mut mac = [0u8; 12];
    mac[0..6].copy_from_slice(&eth[6..12]);
    mac[6..12].copy_from_slice(&eth[0..6]);
    ctx.store(0, &mac, 0).map_err(|_| ())?;

    // SAFETY: helper calls on the skb this program runs on.
    unsafe {
        if bpf_skb_change_tail(ctx.as_ptr().cast(), (l4 + 20) as u32, 0) != 0 {
            return Err(());
        }
        let ifindex = (*ctx.skb.skb).ifindex;
        if bpf_redirect(ifindex, 0) != TC_ACT_REDIRECT as i64 {
            return Err(());
        }
    }
    Ok(TC_ACT_REDIRECT as i32)
}
