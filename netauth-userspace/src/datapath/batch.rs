//! The bpf(2) batch commands aya 0.14 does not wrap, issued directly on a map's file
//! descriptor: `BPF_MAP_LOOKUP_BATCH` reads every client's counters in a few syscalls
//! ([`super::counters`]), `BPF_MAP_UPDATE_BATCH` adds thousands of clients
//! ([`super::clients`]) or address bindings ([`super::bindings`]) per syscall. Both are
//! in Linux since 5.6 for hash maps, per-CPU ones too.

use std::{io, os::fd::RawFd};

/// `BPF_MAP_LOOKUP_BATCH` (include/uapi/linux/bpf.h).
pub const LOOKUP: libc::c_long = 24;
/// `BPF_MAP_UPDATE_BATCH`.
const UPDATE: libc::c_long = 26;

/// Elements written per `BPF_MAP_UPDATE_BATCH`.
const UPDATE_CHUNK: usize = 4096;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
pub struct BatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

impl BatchAttr {
    /// An attribute for `count` keys and values of the map `fd`.
    pub fn new<K>(fd: RawFd, keys: *const K, values: *const u8, count: usize) -> Self {
        Self {
            keys: keys as u64,
            values: values as u64,
            count: count as u32,
            map_fd: fd as u32,
            ..Default::default()
        }
    }
}

/// Runs batch command `cmd`. The kernel sets `attr.count` to the elements it processed,
/// also when it fails part-way.
///
/// # Safety
/// `attr.keys` and `attr.values` (and `in_batch`/`out_batch` when set) must point to
/// buffers of at least `attr.count` keys and values of the map's sizes (per-CPU values:
/// one slot per possible CPU, each rounded up to 8 bytes), valid for the call.
pub unsafe fn run(cmd: libc::c_long, attr: &mut BatchAttr) -> io::Result<()> {
    // SAFETY: `attr` is a valid bpf_attr prefix for a batch command; the caller vouches
    // for the buffers it points to.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut BatchAttr,
            size_of::<BatchAttr>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `keys[i]` with the `i`-th value of `values` (each `value_len` bytes as the map
/// takes it: for a per-CPU map, one 8-byte-aligned slot per possible CPU) into the map
/// `fd`, a few thousand per syscall, replacing entries already there. Returns how many
/// were written (the first ones) and the error that stopped the rest.
pub fn update<K: bytemuck::Pod>(
    fd: RawFd,
    keys: &[K],
    values: &[u8],
    value_len: usize,
) -> (usize, Option<io::Error>) {
    assert_eq!(values.len(), keys.len() * value_len, "one value per key");
    let mut done = 0;
    for (k, v) in keys
        .chunks(UPDATE_CHUNK)
        .zip(values.chunks(UPDATE_CHUNK * value_len.max(1)))
    {
        let mut attr = BatchAttr::new(fd, k.as_ptr(), v.as_ptr(), k.len());
        // SAFETY: `k` and `v` hold `k.len()` keys and values of the map's sizes (asserted
        // above for the values; the caller's types for the keys).
        if let Err(e) = unsafe { run(UPDATE, &mut attr) } {
            return (done + (attr.count as usize).min(k.len()), Some(e));
        }
        done += k.len();
    }
    (done, None)
}
