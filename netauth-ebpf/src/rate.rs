//! Per-client rate limits ([`netauth_common::ClientRate`] in `NETAUTH_RATES`).
//!
//! * Download: an earliest departure time (EDT) per client. The TC egress program gives
//!   each packet `skb->tstamp` = the client's next free departure time and moves that time
//!   on by the packet's duration at the client's rate; the `fq` qdisc the daemon puts on
//!   the LAN interface holds each packet until its time (as Cilium's bandwidth manager
//!   does). A packet whose time lies beyond [`RATE_HORIZON_NS`] is dropped, which bounds
//!   the queue and tells TCP to slow down.
//!   On a kernel without `fq` (`CONFIG_NET_SCH_FQ` off, as on the lab machine this was
//!   built on) the daemon marks the limits [`rate_flags::POLICE_DOWN`] and the download is
//!   policed like the upload.
//! * Upload: policed at the first program that sees the frame (XDP, or TC ingress when
//!   XDP is off) with a token bucket in its GCRA form: the client's "theoretical arrival
//!   time" moves on by each packet's duration; a packet arriving more than the burst
//!   before it is dropped. Policing was chosen over an ingress EDT because the forwarding
//!   path clears the ingress departure time unless the uplink also runs `fq` and the time
//!   is set as a delivery time, which netauth does not own; a drop at ingress costs
//!   nothing and needs no qdisc, and with a burst of half a second of the rate (at
//!   least 256 KiB, `RATE_BURST_NS`) TCP reaches the limit (see the lab test `shaping` for the figures).
//!
//! The state is one value per client shared by every CPU (a per-CPU bucket would give a
//! client a full rate on every CPU). `bpf_spin_lock` needs a map with BTF for its value,
//! which aya-ebpf 0.2's legacy map definitions do not carry, and Rust's atomics compile to
//! plain loads and stores on the `bpfel` target (it is declared single-threaded), so the
//! shared times are moved with BPF's own atomic instructions through inline assembly
//! (`atomic_fetch_add`, kernel >= 5.12). Only the re-anchoring of an idle client's time to
//! "now" is a plain store: two CPUs racing there let one packet through early, once.
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, HashMap},
};
use netauth_common::{
    ClientRate, ClientUsage, MAX_CLIENTS, MacKey, RATE_HORIZON_NS, RATES_ANY_BIT, rate_flags,
};

#[map(name = "NETAUTH_RATES")]
static RATES: HashMap<MacKey, ClientRate> =
    HashMap::pinned(MAX_CLIENTS, aya_ebpf::bindings::BPF_F_NO_PREALLOC as u32);

// Bit 0 set while RATES has entries; changes when a client gains one (see
// `netauth_common::MAP_RATES_ANY`).
#[map(name = "NETAUTH_RATES_ANY")]
static RATES_ANY: Array<u32> = Array::with_max_entries(1, 0);

/// `mac`'s rate state (`mac` as a key word, see [`crate::packet::load_mac`]), if the
/// gateway limits anyone and `mac` is limited. `usage`: this CPU's slot of the client's
/// entry, which caches a "not limited" answer until the daemon gives a client a new entry
/// (see `ClientUsage::rates_seen`): an unlimited client among limited ones pays a load and
/// a compare, not a failed hash lookup.
#[inline(always)]
fn state(mac: u64, usage: *mut ClientUsage) -> Option<*mut ClientRate> {
    // SAFETY: copied out at once.
    let token = RATES_ANY.get_ptr(0).map(|v| unsafe { *v }).unwrap_or(0);
    if token & RATES_ANY_BIT == 0 {
        return None;
    }
    // SAFETY: this CPU's slot of a client map value that stays valid for the program's
    // run; only this CPU writes it.
    unsafe {
        if (*usage).rates_seen == token && (*usage).rate_limited == 0 {
            return None;
        }
        let r = RATES.get_ptr_mut(&MacKey::from_word(mac));
        (*usage).rates_seen = token;
        (*usage).rate_limited = u32::from(r.is_some());
        r
    }
}

/// `*p += v` atomically; returns the old value.
#[inline(always)]
fn fetch_add(p: *mut u64, v: u64) -> u64 {
    let mut v = v;
    // SAFETY: `p` points into a map value that stays valid for the program's run.
    unsafe {
        core::arch::asm!(
            "{v} = atomic_fetch_add((u64 *)({p} + 0), {v})",
            p = in(reg) p,
            v = inout(reg) v,
        );
    }
    v
}

#[inline(always)]
fn read(p: *const u64) -> u64 {
    // SAFETY: as for `fetch_add`; a torn read is impossible for an aligned u64.
    unsafe { core::ptr::read_volatile(p) }
}

#[inline(always)]
fn write(p: *mut u64, v: u64) {
    // SAFETY: as for `read`.
    unsafe { core::ptr::write_volatile(p, v) }
}

/// Nanoseconds `bytes` take at `bps`.
#[inline(always)]
fn duration_ns(bytes: u64, bps: u64) -> u64 {
    // Below 2^30 bytes the product fits in 64 bits (a saturating multiply would need a
    // 128-bit one, which BPF has not).
    let bytes = if bytes > 1 << 30 { 1 << 30 } else { bytes };
    bytes.wrapping_mul(8_000_000_000) / bps
}

/// What to do with a download packet of `bytes` to `mac`.
pub enum Down {
    /// No limit (or no entry): as before.
    Free,
    /// Leave at this CLOCK_MONOTONIC time.
    At(u64),
    /// Beyond the horizon: drop.
    Drop,
}

/// With [`rate_flags::POLICE_DOWN`] (no `fq` on the interface) the download is policed
/// like the upload instead: a departure time nothing honours would shape nothing.
#[inline(always)]
pub fn down(mac: u64, usage: *mut ClientUsage, bytes: u64) -> Down {
    let Some(r) = state(mac, usage) else {
        return Down::Free;
    };
    // SAFETY: map value pointer from the lookup just above.
    let (bps, flags, burst) = unsafe { ((*r).down_bps, (*r).flags, (*r).down_burst_ns) };
    if bps == 0 {
        return Down::Free;
    }
    let police = flags & rate_flags::POLICE_DOWN != 0;
    let cost = duration_ns(bytes, bps);
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let next_p = unsafe { core::ptr::addr_of_mut!((*r).down_next_ns) };
    let next = read(next_p);
    if next <= now {
        write(next_p, now + cost);
        return if police { Down::Free } else { Down::At(now) };
    }
    if next - now > if police { burst } else { RATE_HORIZON_NS } {
        fetch_add(unsafe { core::ptr::addr_of_mut!((*r).down_dropped) }, 1);
        return Down::Drop;
    }
    let at = fetch_add(next_p, cost);
    if police { Down::Free } else { Down::At(at) }
}

/// Whether an upload packet of `bytes` from `mac` is within the client's limit.
#[inline(always)]
pub fn up_allowed(mac: u64, usage: *mut ClientUsage, bytes: u64) -> bool {
    let Some(r) = state(mac, usage) else {
        return true;
    };
    // SAFETY: map value pointer from the lookup just above.
    let (bps, burst) = unsafe { ((*r).up_bps, (*r).up_burst_ns) };
    if bps == 0 {
        return true;
    }
    let cost = duration_ns(bytes, bps);
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let next_p = unsafe { core::ptr::addr_of_mut!((*r).up_next_ns) };
    let next = read(next_p);
    if next <= now {
        write(next_p, now + cost);
        return true;
    }
    if next - now > burst {
        fetch_add(unsafe { core::ptr::addr_of_mut!((*r).up_dropped) }, 1);
        return false;
    }
    fetch_add(next_p, cost);
    true
}
