//! Datapath program cost with BPF_PROG_TEST_RUN: netauth's XDP program and its TC ingress
//! program as `--xdp-mode off` runs it (loaded from the object the build produced, globals
//! set as the daemon sets them) on a frame from an authorized MAC sending from its bound
//! address (hit) and from an unknown MAC (miss), with the clients map holding N entries;
//! each against an empty program of the same type (`r0 = pass; exit`).

use std::os::fd::{AsFd as _, AsRawFd as _};

use anyhow::{Context as _, bail};
use aya::{
    EbpfLoader,
    maps::Map,
    programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp},
};
use netauth_lab::{
    bpf::{self, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_HASH, XDP_PASS},
    mac_bytes,
};

use super::stats::median;

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

#[derive(Clone, Debug)]
pub struct CostRow {
    pub clients: u32,
    pub hit_ns: f64,
    pub miss_ns: f64,
    pub empty_ns: f64,
    pub hit_ret: u32,
    pub miss_ret: u32,
    /// The TC ingress program with `--xdp-mode off` (it is then the whole gate).
    pub tc_hit_ns: f64,
    pub tc_miss_ns: f64,
    pub tc_empty_ns: f64,
    pub tc_hit_ret: u32,
    pub tc_miss_ret: u32,
}

/// TC_ACT_OK and TC_ACT_SHOT.
const TC_ACT_OK: u32 = 0;

pub struct CostResult {
    pub rows: Vec<CostRow>,
    /// The hit frame at the largest client count with rate limits in the maps: (what,
    /// XDP ns, TC ns). The hit rows are a gateway that limits nobody.
    pub rate_rows: Vec<(String, f64, f64)>,
    pub map_kind: String,
    pub object: String,
}

/// A program that `--cost-loop` runs on its own, so that a sampling profiler sees only it
/// (`bench/extra/progcost-profile.sh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoopProgram {
    Xdp,
    Tc,
    EmptyXdp,
    EmptyTc,
}

pub fn run(
    bin: &std::path::Path,
    counts: &[u32],
    repeat: u32,
    trials: usize,
    looping: Option<(LoopProgram, u64)>,
) -> anyhow::Result<CostResult> {
    let obj = bpf::object_path(bin)?;
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
        .default_map_pin_directory(pins.path())
        .override_global("NETAUTH_PORTAL_V4", &v4, false)
        .override_global("NETAUTH_PORTAL_V6", &v6, false)
        .override_global("NETAUTH_PORTAL_PORT", &port, false)
        .override_global("NETAUTH_MARK", &mark, false)
        .override_global("NETAUTH_MARK_MASK", &mask, false)
        // As with --xdp-mode off: TC is the whole gate (XDP's program is the same either way).
        .override_global("NETAUTH_TC_COUNTS_INGRESS", &1u8, false)
        .load(&bytes)
        .with_context(|| format!("loading {}", obj.display()))?;
    let xdp: &mut Xdp = ebpf
        .program_mut("netauth_xdp")
        .context("no netauth_xdp program in the object")?
        .try_into()
        .context("netauth_xdp is not an XDP program")?;
    xdp.load().context("loading netauth_xdp")?;
    let prog_fd = xdp.fd()?.as_fd().as_raw_fd();
    let tc: &mut SchedClassifier = ebpf
        .program_mut("netauth_tc_ingress")
        .context("no netauth_tc_ingress program in the object")?
        .try_into()
        .context("netauth_tc_ingress is not a TC program")?;
    tc.load().context("loading netauth_tc_ingress")?;
    let tc_fd = tc.fd()?.as_fd().as_raw_fd();
    let map_fd = match ebpf
        .map("NETAUTH_CLIENTS")
        .context("no NETAUTH_CLIENTS map")?
    {
        Map::HashMap(d) | Map::PerCpuHashMap(d) | Map::LruHashMap(d) | Map::PerCpuLruHashMap(d) => {
            d.fd().as_fd().as_raw_fd()
        }
        _ => bail!("NETAUTH_CLIENTS is not a hash map"),
    };
    let facts = bpf::map_info(map_fd)?;
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
    let value = vec![
        0u8;
        if percpu {
            slot * bpf::possible_cpus()
        } else {
            slot
        }
    ];
    let map_kind = format!(
        "{} (type {}), key 8 B, value {} B",
        if percpu { "per-CPU hash" } else { "hash" },
        facts.map_type,
        facts.value_size
    );
    let insert = |mac: [u8; 6]| {
        let key = [mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0];
        bpf::map_update(map_fd, &key, &value)
    };
    let empty = bpf::load_empty_xdp()?;
    let empty_tc = bpf::load_empty_tc()?;
    let client = mac_bytes(super::topo::CLIENT_MAC);
    // The client sends from the address it acquired (`--bind-addresses`): bound to it.
    let bindings = match ebpf
        .map("NETAUTH_BINDINGS")
        .context("no NETAUTH_BINDINGS map")?
    {
        Map::HashMap(d) => d.fd().as_fd().as_raw_fd(),
        _ => bail!("NETAUTH_BINDINGS is not a hash map"),
    };
    let mut ip_key = [0u8; 16];
    ip_key[10] = 0xff;
    ip_key[11] = 0xff;
    ip_key[12..].copy_from_slice(&[192, 0, 2, 10]);
    let mut owner = [0u8; 8];
    owner[..6].copy_from_slice(&client);
    bpf::map_update(bindings, &ip_key, &owner)?;
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
        if let Some((which, secs)) = looping {
            let fd = match which {
                LoopProgram::Xdp => prog_fd,
                LoopProgram::Tc => tc_fd,
                LoopProgram::EmptyXdp => empty.as_raw_fd(),
                LoopProgram::EmptyTc => empty_tc.as_raw_fd(),
            };
            println!("bench: running {which:?} on the hit frame at {n} clients for {secs} s");
            let start = std::time::Instant::now();
            let mut runs = 0u64;
            while start.elapsed().as_secs() < secs {
                bpf::test_run(fd, &hit, repeat)?;
                runs += u64::from(repeat);
            }
            let ns = start.elapsed().as_nanos() as f64 / runs as f64;
            println!("bench: {runs} runs, {ns:.1} ns each with the harness's own time");
            continue;
        }
        let (mut h, mut m, mut e) = (Vec::new(), Vec::new(), Vec::new());
        let (mut th, mut tm, mut te) = (Vec::new(), Vec::new(), Vec::new());
        let (mut hit_ret, mut miss_ret) = (0, 0);
        let (mut tc_hit_ret, mut tc_miss_ret) = (0, 0);
        for _ in 0..trials {
            let (r, ns) = bpf::test_run(empty_tc.as_raw_fd(), &hit, repeat)?;
            if r != TC_ACT_OK {
                bail!("the empty TC program returned {r}");
            }
            te.push(ns);
            let (r, ns) = bpf::test_run(tc_fd, &hit, repeat)?;
            tc_hit_ret = r;
            th.push(ns);
            let (r, ns) = bpf::test_run(tc_fd, &miss, repeat)?;
            tc_miss_ret = r;
            tm.push(ns);
            let (r, ns) = bpf::test_run(empty.as_raw_fd(), &hit, repeat)?;
            if r != XDP_PASS {
                bail!("the empty program returned {r}");
            }
            e.push(ns);
            let (r, ns) = bpf::test_run(prog_fd, &hit, repeat)?;
            hit_ret = r;
            h.push(ns);
            let (r, ns) = bpf::test_run(prog_fd, &miss, repeat)?;
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
            tc_hit_ns: median(&th),
            tc_miss_ns: median(&tm),
            tc_empty_ns: median(&te),
            tc_hit_ret,
            tc_miss_ret,
        });
        eprintln!(
            "bench: program cost at {n} clients: XDP hit {:.1} ns (ret {hit_ret}), miss {:.1} ns (ret {miss_ret}), empty {:.1} ns; TC hit {:.1} ns (ret {tc_hit_ret}), miss {:.1} ns (ret {tc_miss_ret}), empty {:.1} ns",
            median(&h),
            median(&m),
            median(&e),
            median(&th),
            median(&tm),
            median(&te)
        );
        if hit_ret != XDP_PASS || tc_hit_ret != TC_ACT_OK {
            bail!(
                "an authorized frame did not pass (XDP {hit_ret}, TC {tc_hit_ret}): the hit \
                 figures would measure a drop"
            );
        }
    }
    if looping.is_some() {
        return Ok(CostResult {
            rows,
            rate_rows: Vec::new(),
            map_kind,
            object: obj.display().to_string(),
        });
    }
    // Rate limits, at the largest client count. The hit rows above are a gateway that
    // limits nobody (NETAUTH_RATES_ANY is 0: no rate lookup). Then: the same unlimited
    // client on a gateway that limits someone (one failed lookup), and a rate-limited
    // client (limits far above what the test sends, so the frame passes).
    let any = match ebpf.map("NETAUTH_RATES_ANY") {
        Some(Map::Array(d)) => Some(d.fd().as_fd().as_raw_fd()),
        _ => None,
    };
    let mut rate_rows = Vec::new();
    if let (Some(any), Some(Map::HashMap(d))) = (any, ebpf.map("NETAUTH_RATES")) {
        let rates = d.fd().as_fd().as_raw_fd();
        // Bit 0: someone is limited; the upper bits move when a client gains a limit.
        bpf::map_update(any, &0u32.to_ne_bytes(), &1u32.to_ne_bytes())?;
        let mut timed = |label: &str| -> anyhow::Result<()> {
            let (mut h, mut th) = (Vec::new(), Vec::new());
            for _ in 0..trials {
                let (r, ns) = bpf::test_run(prog_fd, &hit, repeat)?;
                if r != XDP_PASS {
                    bail!("{label}: the frame did not pass XDP ({r})");
                }
                h.push(ns);
                let (r, ns) = bpf::test_run(tc_fd, &hit, repeat)?;
                if r != TC_ACT_OK {
                    bail!("{label}: the frame did not pass TC ({r})");
                }
                th.push(ns);
            }
            eprintln!(
                "bench: program cost of {label} at {} clients: XDP hit {:.1} ns, TC hit {:.1} ns",
                counts.last().copied().unwrap_or(0),
                median(&h),
                median(&th)
            );
            rate_rows.push((label.to_string(), median(&h), median(&th)));
            Ok(())
        };
        timed("an unlimited client on a gateway with limits")?;
        let key = [
            client[0], client[1], client[2], client[3], client[4], client[5], 0, 0,
        ];
        // ClientRate: down_bps, up_bps, down_burst_ns, up_burst_ns, flags, 4 x state.
        let mut value = Vec::new();
        for v in [1u64 << 40, 1 << 40, 1 << 40, 1 << 40, 1, 0, 0, 0, 0] {
            value.extend_from_slice(&v.to_ne_bytes());
        }
        bpf::map_update(rates, &key, &value)?;
        // The client gained an entry: the value moves (as the daemon moves it).
        bpf::map_update(any, &0u32.to_ne_bytes(), &3u32.to_ne_bytes())?;
        timed("a rate-limited client")?;
    }
    drop(ebpf);
    drop(pins);
    Ok(CostResult {
        rows,
        rate_rows,
        map_kind,
        object: obj.display().to_string(),
    })
}
