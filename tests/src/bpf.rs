//! Raw bpf(2) commands the lab needs and aya 0.14 does not offer (or offers at a cost that
//! shows): BPF_PROG_TEST_RUN on a raw fd with its timing, BPF_OBJ_GET_INFO_BY_FD of a map,
//! BPF_MAP_UPDATE_ELEM, BPF_MAP_LOOKUP_BATCH, BPF_OBJ_GET of a pinned map and loading an empty XDP program; and where
//! the build put netauth's eBPF object. Used by the differential verdict test and by the
//! bench's program-cost section.

use std::{
    os::fd::{FromRawFd as _, OwnedFd, RawFd},
    path::{Path, PathBuf},
};

use anyhow::Context as _;

const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_TCX_INGRESS: u32 = 46;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
/// What an XDP program returns to let a frame through.
pub const XDP_PASS: u32 = 2;

/// A zeroed `union bpf_attr` prefix, filled field by field at the kernel's offsets.
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }

    fn u32(mut self, off: usize, v: u32) -> Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64(mut self, off: usize, v: u64) -> Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn get_u32(&self, off: usize) -> u32 {
        get_u32(&self.0, off)
    }

    /// Runs `cmd` with this attribute; the kernel may write results back into it.
    fn call(&mut self, cmd: libc::c_long) -> std::io::Result<i64> {
        // SAFETY: `self.0` is a zeroed bpf_attr-sized buffer the kernel reads (and writes)
        // within its length; every pointer the callers put in it points at memory that is
        // live for the call.
        let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, self.0.as_mut_ptr(), self.0.len()) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(r)
    }
}

fn get_u32(a: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(a[off..off + 4].try_into().expect("4 bytes"))
}

/// Loads `r0 = verdict; exit` as a program of `prog_type`.
fn load_empty(prog_type: u32, verdict: u32) -> anyhow::Result<OwnedFd> {
    // BPF_ALU64|BPF_MOV|BPF_K (0xb7) dst r0, imm verdict; BPF_JMP|BPF_EXIT (0x95).
    let insns: [u64; 2] = [(u64::from(verdict) << 32) | 0xb7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut a = Attr::new()
        .u32(0, prog_type)
        .u32(4, insns.len() as u32)
        .u64(8, insns.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64);
    a.0[48..53].copy_from_slice(b"empty");
    let fd = a.call(BPF_PROG_LOAD).context("loading an empty program")?;
    // SAFETY: the kernel just returned this new fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Loads `r0 = XDP_PASS; exit` as an XDP program: the yardstick of program cost.
pub fn load_empty_xdp() -> anyhow::Result<OwnedFd> {
    load_empty(BPF_PROG_TYPE_XDP, XDP_PASS)
}

/// Loads `r0 = TC_ACT_OK; exit` as a TC program.
pub fn load_empty_tc() -> anyhow::Result<OwnedFd> {
    load_empty(BPF_PROG_TYPE_SCHED_CLS, 0)
}

/// How a program hooks an interface.
#[derive(Clone, Copy, Debug)]
pub enum Hook {
    XdpNative,
    XdpGeneric,
    TcIngress,
}

/// Attaches `prog` to interface `ifindex` (of the calling thread's network namespace) with
/// a bpf_link; the program stays attached while the returned fd is open.
pub fn attach(prog: &OwnedFd, ifindex: u32, hook: Hook) -> anyhow::Result<OwnedFd> {
    use std::os::fd::AsRawFd as _;
    let (attach_type, flags) = match hook {
        Hook::XdpNative => (BPF_XDP, XDP_FLAGS_DRV_MODE),
        Hook::XdpGeneric => (BPF_XDP, XDP_FLAGS_SKB_MODE),
        Hook::TcIngress => (BPF_TCX_INGRESS, 0),
    };
    let fd = Attr::new()
        .u32(0, prog.as_raw_fd() as u32)
        .u32(4, ifindex)
        .u32(8, attach_type)
        .u32(12, flags)
        .call(BPF_LINK_CREATE)
        .with_context(|| format!("attaching an empty program ({hook:?})"))?;
    // SAFETY: the kernel just returned this new fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_TEST_RUN of `prog` on `data`, `repeat` times: (return value, ns per run).
pub fn test_run(prog: RawFd, data: &[u8], repeat: u32) -> anyhow::Result<(u32, f64)> {
    let mut a = Attr::new()
        .u32(0, prog as u32)
        .u32(8, data.len() as u32)
        .u64(16, data.as_ptr() as u64)
        .u32(32, repeat);
    a.call(BPF_PROG_TEST_RUN).context("BPF_PROG_TEST_RUN")?;
    Ok((a.get_u32(4), f64::from(a.get_u32(36))))
}

/// A map's layout, as the kernel has it.
pub struct MapInfo {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
}

pub fn map_info(fd: RawFd) -> anyhow::Result<MapInfo> {
    let mut info = [0u8; 128];
    Attr::new()
        .u32(0, fd as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64)
        .call(BPF_OBJ_GET_INFO_BY_FD)
        .context("BPF_OBJ_GET_INFO_BY_FD")?;
    Ok(MapInfo {
        map_type: get_u32(&info, 0),
        key_size: get_u32(&info, 8),
        value_size: get_u32(&info, 12),
    })
}

/// Sets `key` to `value` (of the sizes the map has; per-CPU maps take one value a CPU).
pub fn map_update(fd: RawFd, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
    Attr::new()
        .u32(0, fd as u32)
        .u64(8, key.as_ptr() as u64)
        .u64(16, value.as_ptr() as u64)
        .call(BPF_MAP_UPDATE_ELEM)
        .context("BPF_MAP_UPDATE_ELEM")?;
    Ok(())
}

/// Every (key, value) of a hash map, a few hundred per BPF_MAP_LOOKUP_BATCH call. aya
/// 0.14 has no batch API, and its iterator costs two syscalls per entry.
pub fn map_lookup_batch(
    fd: RawFd,
    key_size: usize,
    value_size: usize,
) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    const CHUNK: usize = 256;
    let mut entries = Vec::new();
    let (mut in_batch, mut out_batch) = (0u64, 0u64);
    let mut first = true;
    loop {
        let mut keys = vec![0u8; CHUNK * key_size];
        let mut values = vec![0u8; CHUNK * value_size];
        // struct { in_batch, out_batch, keys, values: u64; count, map_fd: u32;
        // elem_flags, flags: u64 } of union bpf_attr.
        let in_ptr = if first { 0 } else { &raw const in_batch as u64 };
        let mut a = Attr::new()
            .u64(0, in_ptr)
            .u64(8, &raw mut out_batch as u64)
            .u64(16, keys.as_mut_ptr() as u64)
            .u64(24, values.as_mut_ptr() as u64)
            .u32(32, CHUNK as u32)
            .u32(36, fd as u32);
        let done = match a.call(BPF_MAP_LOOKUP_BATCH) {
            Ok(_) => false,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            Err(e) => return Err(e).context("BPF_MAP_LOOKUP_BATCH"),
        };
        let n = a.get_u32(32) as usize;
        for i in 0..n {
            entries.push((
                keys[i * key_size..(i + 1) * key_size].to_vec(),
                values[i * value_size..(i + 1) * value_size].to_vec(),
            ));
        }
        if done {
            return Ok(entries);
        }
        in_batch = out_batch;
        first = false;
    }
}

/// The map pinned at `pin` (BPF_OBJ_GET).
pub fn obj_get(pin: &Path) -> anyhow::Result<OwnedFd> {
    let path = std::ffi::CString::new(pin.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{} has a NUL byte", pin.display()))?;
    let fd = Attr::new()
        .u64(0, path.as_ptr() as u64)
        .call(BPF_OBJ_GET)
        .with_context(|| format!("BPF_OBJ_GET {}", pin.display()))?;
    // SAFETY: BPF_OBJ_GET returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The keys of the hash map pinned at `pin` (per-CPU maps too), read in batches.
pub fn pinned_map_keys(pin: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    use std::os::fd::AsRawFd as _;
    let fd = obj_get(pin)?;
    let info = map_info(fd.as_raw_fd())?;
    let value_size = match info.map_type {
        BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_LRU_PERCPU_HASH => {
            (info.value_size as usize).next_multiple_of(8) * possible_cpus()
        }
        _ => info.value_size as usize,
    };
    Ok(
        map_lookup_batch(fd.as_raw_fd(), info.key_size as usize, value_size)?
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
    )
}

/// How many CPUs the kernel may bring up: the number of values of a per-CPU map entry.
pub fn possible_cpus() -> usize {
    // "0-1" or "0,2-3"
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                n += b.parse::<usize>().unwrap_or(0) - a.parse::<usize>().unwrap_or(0) + 1
            }
            None if !part.is_empty() => n += 1,
            None => {}
        }
    }
    n.max(1)
}

/// The eBPF object built beside the `netauth` binary `bin` (`<target>/release/netauth` ->
/// `<target>/release/build/netauth-userspace-*/out/netauth`), the newest if several.
pub fn object_path(bin: &Path) -> anyhow::Result<PathBuf> {
    let build = bin
        .parent()
        .map(|d| d.join("build"))
        .with_context(|| format!("{} has no directory", bin.display()))?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(&build).with_context(|| format!("reading {}", build.display()))? {
        let e = e?;
        if !e
            .file_name()
            .to_string_lossy()
            .starts_with("netauth-userspace-")
        {
            continue;
        }
        let obj = e.path().join("out/netauth");
        if let Ok(m) = std::fs::metadata(&obj).and_then(|m| m.modified())
            && best.as_ref().is_none_or(|(t, _)| m > *t)
        {
            best = Some((m, obj));
        }
    }
    best.map(|(_, p)| p).with_context(|| {
        format!(
            "no netauth eBPF object under {} (cargo build --release -p netauth-userspace)",
            build.display()
        )
    })
}
