//! Datapath program cost with BPF_PROG_TEST_RUN: netauth's XDP program (loaded from the
//! object the build produced, globals set as the daemon sets them) on a frame from an
//! authorized MAC (hit) and from an unknown MAC (miss), with the clients map holding N
//! entries; against an empty XDP program (`r0 = XDP_PASS; exit`).

use std::{
    os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd, RawFd},
    path::PathBuf,
};

use anyhow::{Context as _, bail};
use aya::{
    EbpfLoader,
    maps::Map,
    programs::{TestRun as _, TestRunOptions, Xdp},
};

use super::stats::median;

const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a zeroed bpf_attr-sized buffer the kernel reads (and writes)
    // within its length; every pointer in it points at memory live for the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn put_u32(a: &mut [u8; 128], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(a: &mut [u8; 128], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get_u32(a: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(a[off..off + 4].try_into().expect("4 bytes"))
}

/// Loads `r0 = 2 (XDP_PASS); exit` as an XDP program.
fn load_empty_xdp() -> anyhow::Result<OwnedFd> {
    // BPF_ALU64|BPF_MOV|BPF_K (0xb7) dst r0, imm 2; BPF_JMP|BPF_EXIT (0x95).
    let insns: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, BPF_PROG_TYPE_XDP);
    put_u32(&mut a, 4, insns.len() as u32);
    put_u64(&mut a, 8, insns.as_ptr() as u64);
    put_u64(&mut a, 16, license.as_ptr() as u64);
    a[48..53].copy_from_slice(b"empty");
    let fd = bpf(BPF_PROG_LOAD, &mut a).context("loading the empty XDP program")?;
    // SAFETY: the kernel just returned this new fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_TEST_RUN: (return value, ns per run).
fn test_run_raw(prog: RawFd, data: &[u8], repeat: u32) -> anyhow::Result<(u32, f64)> {
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, prog as u32);
    put_u32(&mut a, 8, data.len() as u32);
    put_u64(&mut a, 16, data.as_ptr() as u64);
    put_u32(&mut a, 32, repeat);
    bpf(BPF_PROG_TEST_RUN, &mut a).context("BPF_PROG_TEST_RUN")?;
    Ok((get_u32(&a, 4), f64::from(get_u32(&a, 36))))
}

struct MapFacts {
    map_type: u32,
    key_size: u32,
    value_size: u32,
}

fn map_info(fd: RawFd) -> anyhow::Result<MapFacts> {
    let mut info = [0u8; 128];
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, fd as u32);
    put_u32(&mut a, 4, info.len() as u32);
    put_u64(&mut a, 8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).context("BPF_OBJ_GET_INFO_BY_FD")?;
    Ok(MapFacts {
        map_type: get_u32(&info, 0),
        key_size: get_u32(&info, 8),
        value_size: get_u32(&info, 12),
    })
}

fn possible_cpus() -> usize {
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

/// The BPF object built beside `bin` (`<target>/release/netauth` ->
/// `<target>/release/build/netauth-userspace-*/out/netauth`), the newest if several.
pub fn object_path(bin: &std::path::Path) -> anyhow::Result<PathBuf> {
    let build = bin
        .parent()
        .map(|d| d.join("build"))
        .unwrap_or_else(|| crate::root().join("target/release/build"));
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
    best.map(|(_, p)| p)
        .context("no netauth BPF object under target/release/build (run cargo xtask build)")
}

fn frame(src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    // IPv4, 46 bytes, UDP, 192.0.2.10 -> 203.0.113.80
    let mut ip = [
        0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 10, 203, 0, 113, 80,
    ];
    let sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    let csum = !((sum & 0xffff) + (sum >> 16)) as u16;
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x9c, 0x40, 0, 9, 0, 26, 0, 0]); // UDP 40000 -> 9
    f.extend_from_slice(&[0x41; 18]);
    f
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}

#[derive(Clone, Debug)]
pub struct CostRow {
    pub clients: u32,
    pub hit_ns: f64,
    pub miss_ns: f64,
    pub empty_ns: f64,
    pub hit_ret: u32,
    pub miss_ret: u32,
}

pub struct CostResult {
    pub rows: Vec<CostRow>,
    pub map_kind: String,
    pub object: String,
}

pub fn run(
    bin: &std::path::Path,
    counts: &[u32],
    repeat: u32,
    trials: usize,
) -> anyhow::Result<CostResult> {
    let obj = object_path(bin)?;
    let bytes = std::fs::read(&obj).with_context(|| format!("reading {}", obj.display()))?;
    let v4: [u8; 4] = [192, 0, 2, 1];
    let v6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let port: u16 = 8080;
    let mark: u32 = 0x0a17_0000;
    let mask: u32 = 0xffff_0000;
    // The object pins its maps by name: give it a private bpffs for the duration.
    let pins = super::env::Bpffs::mount(
        std::env::temp_dir().join(format!("netauth-bench-progcost-{}", std::process::id())),
    )?;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(&pins.path)
        .override_global("NETAUTH_PORTAL_V4", &v4, false)
        .override_global("NETAUTH_PORTAL_V6", &v6, false)
        .override_global("NETAUTH_PORTAL_PORT", &port, false)
        .override_global("NETAUTH_MARK", &mark, false)
        .override_global("NETAUTH_MARK_MASK", &mask, false)
        .load(&bytes)
        .with_context(|| format!("loading {}", obj.display()))?;
    let xdp: &mut Xdp = ebpf
        .program_mut("netauth_xdp")
        .context("no netauth_xdp program in the object")?
        .try_into()
        .context("netauth_xdp is not an XDP program")?;
    xdp.load().context("loading netauth_xdp")?;
    let prog_fd = xdp.fd()?.as_fd().as_raw_fd();
    let map_fd = match ebpf
        .map("NETAUTH_CLIENTS")
        .context("no NETAUTH_CLIENTS map")?
    {
        Map::HashMap(d) | Map::PerCpuHashMap(d) | Map::LruHashMap(d) | Map::PerCpuLruHashMap(d) => {
            d.fd().as_fd().as_raw_fd()
        }
        _ => bail!("NETAUTH_CLIENTS is not a hash map"),
    };
    let facts = map_info(map_fd)?;
    if facts.key_size != 8 {
        bail!(
            "NETAUTH_CLIENTS key is {} bytes, expected 8",
            facts.key_size
        );
    }
    let percpu = matches!(
        facts.map_type,
        BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_LRU_PERCPU_HASH
    );
    let slot = (facts.value_size as usize).div_ceil(8) * 8;
    let value = vec![0u8; if percpu { slot * possible_cpus() } else { slot }];
    let map_kind = format!(
        "{} (type {}), key 8 B, value {} B",
        if percpu { "per-CPU hash" } else { "hash" },
        facts.map_type,
        facts.value_size
    );
    let insert = |mac: [u8; 6]| -> anyhow::Result<()> {
        let key = [mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0];
        let mut a = [0u8; 128];
        put_u32(&mut a, 0, map_fd as u32);
        put_u64(&mut a, 8, key.as_ptr() as u64);
        put_u64(&mut a, 16, value.as_ptr() as u64);
        bpf(BPF_MAP_UPDATE_ELEM, &mut a).context("BPF_MAP_UPDATE_ELEM")?;
        Ok(())
    };
    let empty = load_empty_xdp()?;
    let client = mac_bytes(super::topo::CLIENT_MAC);
    let hit = frame(client);
    let miss = frame(mac_bytes("02:cc:00:00:00:01"));
    // aya's own wrapper, once, to check the program runs under test before timing it raw.
    let xdp: &Xdp = ebpf
        .program("netauth_xdp")
        .context("no netauth_xdp program")?
        .try_into()?;
    let _ = xdp.test_run(TestRunOptions {
        data_in: Some(&hit),
        repeat: 1,
        ..Default::default()
    })?;

    let mut rows = Vec::new();
    let mut synthetic = 0u32;
    for &n in counts {
        let want = n.saturating_sub(1);
        while synthetic < want {
            insert(mac_bytes(&super::topo::synthetic_mac(synthetic)))?;
            synthetic += 1;
        }
        insert(client)?;
        let (mut h, mut m, mut e) = (Vec::new(), Vec::new(), Vec::new());
        let (mut hit_ret, mut miss_ret) = (0, 0);
        for _ in 0..trials {
            let (r, ns) = test_run_raw(empty.as_raw_fd(), &hit, repeat)?;
            if r != 2 {
                bail!("the empty program returned {r}");
            }
            e.push(ns);
            let (r, ns) = test_run_raw(prog_fd, &hit, repeat)?;
            hit_ret = r;
            h.push(ns);
            let (r, ns) = test_run_raw(prog_fd, &miss, repeat)?;
            miss_ret = r;
            m.push(ns);
        }
        rows.push(CostRow {
            clients: n,
            hit_ns: median(&h),
            miss_ns: median(&m),
            empty_ns: median(&e),
            hit_ret,
            miss_ret,
        });
        eprintln!(
            "bench: program cost at {n} clients: hit {:.1} ns (ret {hit_ret}), miss {:.1} ns (ret {miss_ret}), empty {:.1} ns",
            median(&h),
            median(&m),
            median(&e)
        );
    }
    drop(ebpf);
    drop(pins);
    Ok(CostResult {
        rows,
        map_kind,
        object: obj.display().to_string(),
    })
}
