//! `cargo xtask bench`: measures netauth against the alternatives, in network namespaces
//! on this machine, and writes a Markdown report with SVG plots (issue 6).
//!
//! Sections: forwarding (pps and TCP) against the number of authorized clients for seven
//! methods, datapath program cost (BPF_PROG_TEST_RUN), time to authorize, portal answer
//! rate against nginx, and memory. The method follows `notes/benchmarking.md`: interleaved
//! repeats, medians, ratios to "no filter" from the same block, blocks whose baseline
//! varies more than 10% flagged. Every number in the report is measured in the run that
//! writes it; a section that fails says so instead of showing numbers.

mod admin;
mod auth;
mod bulk;
mod env;
mod fwd;
mod inpath;
mod portal;
mod progcost;
mod report;
mod shaping;
mod stats;
mod topo;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use netauth_common::api::AdminClient;

use self::topo::{CLIENT_MAC, Method, Path};

#[derive(clap::Args, Debug, Clone)]
pub struct Opts {
    /// One repeat at 1 and 10k clients (a few minutes) instead of five at 1, 1k, 10k, 100k.
    #[arg(long)]
    pub quick: bool,
    /// Only check that the harness works: tiny samples, report under target/bench-smoke.
    #[arg(long)]
    pub smoke: bool,
    /// Run even when the machine looks busy (the report records the load).
    #[arg(long)]
    pub force: bool,
    /// Use the existing target/release/netauth instead of building it first.
    #[arg(long)]
    pub no_build: bool,
    /// A note for the report's facts table (e.g. how the binary under test was built).
    #[arg(long)]
    pub note: Option<String>,
    /// Where to write the report (default: bench/results; target/bench-quick with
    /// --quick, target/bench-smoke with --smoke).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only compare forwarding (pps) of these methods (keys as in the report, e.g.
    /// `tc-only,nft-set,empty-tc`; "no filter" is always measured), at --clients, and
    /// print the ratios: for profiling, no report is written.
    #[arg(long, value_delimiter = ',')]
    pub fwd_only: Vec<String>,
    /// Only measure the programs' cost (BPF_PROG_TEST_RUN) at --clients and print it: for
    /// profiling, no report is written.
    #[arg(long)]
    pub cost_only: bool,
    /// With --cost-only: run only this program on the hit frame, at each of --clients,
    /// for --cost-loop-secs, so that a sampling profiler sees it alone
    /// (bench/extra/progcost-profile.sh).
    #[arg(long, value_enum, requires = "cost_only")]
    pub cost_loop: Option<progcost::LoopProgram>,
    /// Seconds of --cost-loop at each client count.
    #[arg(long, default_value_t = 8)]
    pub cost_loop_secs: u64,
    /// Only load sessions in one batch and restore them after a reboot, at --clients, and
    /// print the figures: for profiling, no report is written.
    #[arg(long)]
    pub bulk_only: bool,
    /// Only measure the time to authorize on netauth as `auto` runs it, at --clients (the
    /// full run's number of logins per count), and print median, p99 and maximum: for
    /// profiling, no report is written.
    #[arg(long)]
    pub auth_only: bool,
    /// Only measure the portal's answer rate against nginx, at the largest of --clients,
    /// and print each round and the ratios: for profiling, no report is written.
    #[arg(long)]
    pub portal_only: bool,
    /// Only compare per-client download limits, netauth against tc HTB (a class and a
    /// u32 filter per MAC) and no shaping, at the plan's limited-client counts (or
    /// --clients if given), and print the figures: no report is written.
    #[arg(long)]
    pub shaping_only: bool,
    /// Client counts for --fwd-only, --cost-only, --bulk-only, --auth-only, --portal-only
    /// and --shaping-only.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub clients: Vec<u32>,
    /// Interleaved rounds (overrides the plan's).
    #[arg(long)]
    pub repeats: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: &'static str,
    pub counts: Vec<u32>,
    pub repeats: usize,
    pub pps_secs: f64,
    pub tcp_secs: u32,
    pub logins: usize,
    pub cmd_reps: usize,
    pub wrk_secs: u32,
    pub paced_secs: f64,
    pub testrun_repeat: u32,
    pub testrun_trials: usize,
    /// Limited clients of the shaping section, and its TCP seconds.
    pub shaping_counts: Vec<u32>,
    pub shaping_tcp_secs: u32,
}

impl Plan {
    fn new(o: &Opts) -> Self {
        let mut plan = Self::preset(o);
        if let Some(n) = o.repeats {
            plan.repeats = n.max(1);
        }
        plan
    }

    fn preset(o: &Opts) -> Self {
        if o.smoke {
            Plan {
                mode: if o.quick { "smoke (quick)" } else { "smoke" },
                counts: vec![1, 1000],
                repeats: 1,
                pps_secs: 0.5,
                tcp_secs: 1,
                logins: 10,
                cmd_reps: 3,
                wrk_secs: 1,
                paced_secs: 1.0,
                testrun_repeat: 100_000,
                testrun_trials: 3,
                shaping_counts: vec![1, 100],
                shaping_tcp_secs: 2,
            }
        } else if o.quick {
            Plan {
                mode: "quick",
                counts: vec![1, 10_000],
                repeats: 1,
                pps_secs: 1.0,
                tcp_secs: 2,
                logins: 50,
                cmd_reps: 5,
                wrk_secs: 3,
                paced_secs: 3.0,
                testrun_repeat: 1_000_000,
                testrun_trials: 5,
                shaping_counts: vec![1, 1_000],
                shaping_tcp_secs: 5,
            }
        } else {
            Plan {
                mode: "full",
                counts: vec![1, 1_000, 10_000, 100_000],
                repeats: 5,
                pps_secs: 2.0,
                tcp_secs: 2,
                // Enough that the p99 is not simply the slowest login.
                logins: 300,
                cmd_reps: 10,
                wrk_secs: 5,
                paced_secs: 5.0,
                testrun_repeat: 1_000_000,
                testrun_trials: 5,
                shaping_counts: vec![1, 1_000, 10_000],
                shaping_tcp_secs: 8,
            }
        }
    }
}

/// Forwarding samples of one block (one client count), in measurement order.
#[derive(Default, Debug)]
pub struct FwdBlock {
    pub clients: u32,
    pub pps: BTreeMap<Method, Vec<f64>>,
    pub tcp: BTreeMap<Method, Vec<f64>>,
    pub failures: Vec<String>,
    /// Seconds to bring each method to this client count, and entries added.
    pub fill: BTreeMap<Method, (f64, u32)>,
    /// The programs' own time per forwarded packet, from the kernel's run-time statistics.
    pub inpath: Option<inpath::InPath>,
}

#[derive(Default, Debug)]
pub struct AuthRow {
    pub clients: u32,
    pub login_ms: Vec<f64>,
    pub login_error: Option<String>,
    pub cmd_ms: BTreeMap<Method, Vec<f64>>,
    pub cmd_errors: Vec<String>,
}

#[derive(Default, Debug, Clone)]
pub struct MemRow {
    pub clients: u32,
    pub rss_kb: Option<u64>,
    pub clients_map_memlock: Option<u64>,
    pub all_maps_memlock: Option<u64>,
    /// The daemon's last refresh of every session's counters: (method, microseconds).
    pub refresh: Option<(String, u64)>,
    /// RSS after ten complete listings of every session (`GET /v1/sessions`).
    pub rss_after_listings_kb: Option<u64>,
}

#[derive(Default, Debug)]
pub struct PortalResult {
    pub clients: u32,
    /// (target, close, wrk requests/s), one per interleaved round.
    pub peak: Vec<(portal::Target, bool, f64)>,
    pub paced: Vec<(portal::Target, bool, portal::Paced)>,
    pub body_len: usize,
    pub checks: Vec<String>,
}

/// Sessions the bulk section loads and restores, in every mode: the figure.
const BULK_CLIENTS: u32 = 100_000;

#[derive(Default)]
pub struct Results {
    pub started: String,
    pub finished: String,
    pub plan: Option<Plan>,
    pub facts: Vec<(String, String)>,
    pub fwd: Vec<FwdBlock>,
    pub cost: Option<progcost::CostResult>,
    pub cost_error: Option<String>,
    pub auth: Vec<AuthRow>,
    pub mem_idle: MemRow,
    pub mem: Vec<MemRow>,
    pub portal: Option<PortalResult>,
    pub portal_error: Option<String>,
    pub bulk: Option<bulk::BulkResult>,
    pub bulk_error: Option<String>,
    pub shaping: Option<shaping::ShapingResult>,
    pub shaping_error: Option<String>,
    pub xdp_status: BTreeMap<Method, String>,
    pub notes: Vec<String>,
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// (memlock of NETAUTH_CLIENTS, memlock of all the process's maps), from the fdinfo of the
/// daemon's map fds (the kernel's own accounting of each map's memory).
fn map_memlock(pid: u32) -> (Option<u64>, Option<u64>) {
    let mut seen = std::collections::BTreeSet::new();
    let (mut clients, mut total) = (None, 0u64);
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return (None, None);
    };
    for e in dir.flatten() {
        let Ok(info) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (Some(id), Some(memlock)) = (field("map_id:"), field("memlock:")) else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        total += memlock;
        let name = aya::maps::MapInfo::from_id(id as u32)
            .ok()
            .and_then(|i| i.name_as_str().map(str::to_string));
        if name.as_deref() == Some("NETAUTH_CLIENTS") {
            clients = Some(memlock);
        }
    }
    (clients, (total > 0).then_some(total))
}

/// Scrapes the daemon's metrics (rendering them refreshes every session's counters from
/// the kernel map first) and reads how long that refresh took.
fn counter_refresh(p: &Path) -> Option<(String, u64)> {
    let metrics = p.daemon().ok()?.metrics().ok()?;
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix("netauth_counter_refresh_microseconds{method=\"")?;
        let (method, value) = rest.split_once("\"} ")?;
        Some((method.to_string(), value.trim().parse().ok()?))
    })
}

/// Lists every session ten times (as a monitoring script polling the API would) and
/// reads the daemon's RSS afterwards.
fn rss_after_listings(p: &Path) -> Option<u64> {
    let admin = p.admin().ok()?;
    for _ in 0..10 {
        AdminClient::block_on(admin.sessions()).ok()?;
    }
    p.daemon_pid().and_then(rss_kb)
}

fn mem_row(p: &Path, clients: u32) -> MemRow {
    let pid = p.daemon_pid();
    let (c, all) = pid.map(map_memlock).unwrap_or((None, None));
    let rss = pid.and_then(rss_kb);
    let refresh = (clients > 0).then(|| counter_refresh(p)).flatten();
    MemRow {
        clients,
        rss_kb: rss,
        clients_map_memlock: c,
        all_maps_memlock: all,
        refresh,
        rss_after_listings_kb: (clients > 0).then(|| rss_after_listings(p)).flatten(),
    }
}

fn xdp_status(p: &Path) -> String {
    let Some(d) = p.daemon.as_ref() else {
        return String::new();
    };
    let out = d.cli(&["status", "--json"]);
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(_) => return String::from_utf8_lossy(&out.stdout).trim().to_string(),
    };
    for key in ["xdp_mode", "xdp", "datapath"] {
        if let Some(x) = v.get(key) {
            return x.to_string();
        }
    }
    v.to_string().chars().take(200).collect()
}

pub fn run(opts: &Opts) -> anyhow::Result<()> {
    crate::require_root("the benchmark")?;
    env::ensure_tools()?;
    if !opts.fwd_only.is_empty() {
        return fwd_only(opts);
    }
    if opts.bulk_only {
        env::install_interrupt_handler()?;
        let prefix = format!("nk{}", std::process::id() % 100_000);
        return bulk::print(&prefix, &opts.clients);
    }
    if opts.auth_only {
        env::install_interrupt_handler()?;
        let prefix = format!("na{}", std::process::id() % 100_000);
        return auth::print(&prefix, &opts.clients, Plan::new(opts).logins);
    }
    if opts.cost_only {
        let plan = Plan::new(opts);
        let bin = netauth_lab::netauth_bin();
        progcost::run(
            &bin,
            &opts.clients,
            plan.testrun_repeat,
            plan.testrun_trials,
            opts.cost_loop.map(|p| (p, opts.cost_loop_secs)),
        )?;
        return Ok(());
    }
    let quiet = env::quiet_check(opts.force)?;
    // Measure one binary from start to end, even if the workspace is rebuilt meanwhile.
    let snapshot = std::env::temp_dir().join(format!("netauth-bench-bin-{}", std::process::id()));
    let bin = netauth_lab::netauth_bin();
    std::fs::copy(&bin, &snapshot)
        .with_context(|| format!("copying {} (run cargo xtask build)", bin.display()))?;
    // SAFETY: no other thread exists yet (the Ctrl-C handler's thread starts below).
    unsafe { std::env::set_var("NETAUTH_BIN", &snapshot) };
    env::register_dir(&snapshot);
    let binary_facts = format!(
        "{} (copied to {} for the run)",
        bin.display(),
        snapshot.display()
    );
    env::install_interrupt_handler()?;
    let plan = Plan::new(opts);
    if opts.shaping_only {
        // --clients defaults to [1]: the plan's counts unless others were asked for.
        let counts = if opts.clients == [1] {
            plan.shaping_counts.clone()
        } else {
            opts.clients.clone()
        };
        let prefix = format!("ns{}", std::process::id() % 100_000);
        let r = shaping::print(
            &prefix,
            &counts,
            plan.repeats,
            plan.pps_secs,
            plan.shaping_tcp_secs,
        );
        let _ = std::fs::remove_file(&snapshot);
        return r;
    }
    if opts.portal_only {
        let r = portal::only(&plan, &opts.clients);
        let _ = std::fs::remove_file(&snapshot);
        return r;
    }
    let out_dir = opts.out.clone().unwrap_or_else(|| {
        if opts.smoke {
            crate::root().join("target/bench-smoke")
        } else if opts.quick {
            crate::root().join("target/bench-quick")
        } else {
            crate::root().join("bench/results")
        }
    });
    let t_all = Instant::now();
    let mut r = Results {
        started: utc_now(),
        plan: Some(plan.clone()),
        ..Default::default()
    };
    r.facts = facts(&quiet, &binary_facts, &bin);
    if let Some(note) = &opts.note {
        r.facts.push(("note".into(), note.clone()));
    }
    eprintln!(
        "bench: {} run, clients {:?}, {} repeat(s)",
        plan.mode, plan.counts, plan.repeats
    );

    // 1. Program cost: no namespaces, nothing else running.
    match progcost::run(
        &bin,
        &plan.counts,
        plan.testrun_repeat,
        plan.testrun_trials,
        None,
    ) {
        Ok(c) => r.cost = Some(c),
        Err(e) => {
            eprintln!("bench: program cost failed: {e:#}");
            r.cost_error = Some(format!("{e:#}"));
        }
    }

    // 2. The paths, then each client count in turn.
    let prefix = format!("nb{}", std::process::id() % 100_000);
    let mut paths = Vec::new();
    for m in Method::ALL {
        eprintln!("bench: building the {} path", m.label());
        paths.push(Path::new(&prefix, m)?);
    }
    // Memory, logins and the portal are measured on netauth as it runs by default.
    let native = Method::ALL
        .iter()
        .position(|m| *m == Method::Auto)
        .expect("auto");
    for p in &paths {
        if p.method.is_netauth() {
            r.xdp_status.insert(p.method, xdp_status(p));
        }
    }
    r.mem_idle = mem_row(&paths[native], 0);
    let mut during = Vec::new();
    for &n in &plan.counts {
        let (l1, _, _) = env::loadavg();
        let busy = env::busy_processes(Duration::from_secs(1));
        let busy: Vec<String> = busy
            .iter()
            .map(|(p, name, s)| format!("{name}[{p}] {:.0}%", s * 100.0))
            .collect();
        during.push(format!(
            "{} clients: loadavg {l1:.2}{}",
            n,
            if busy.is_empty() {
                String::new()
            } else {
                format!(", busy: {}", busy.join(", "))
            }
        ));
        let mut block = FwdBlock {
            clients: n,
            ..Default::default()
        };
        for p in paths.iter_mut() {
            eprintln!("bench: {} -> {n} clients", p.method.label());
            p.set_clients(n)
                .with_context(|| format!("{}: setting {n} clients", p.method.label()))?;
            if let Some((d, added)) = p.last_fill {
                block.fill.insert(p.method, (d.as_secs_f64(), added));
            }
        }
        r.mem.push(mem_row(&paths[native], n));
        forwarding(&plan, &mut paths, &mut block);
        r.fwd.push(block);
        r.auth.push(authorize(&plan, &paths, n));
    }

    // 3. Portal answer rate at the largest client count.
    let last = *plan.counts.last().expect("counts");
    match portal::rate(&plan, &paths[native], last) {
        Ok(p) => r.portal = Some(p),
        Err(e) => {
            eprintln!("bench: portal answer rate failed: {e:#}");
            r.portal_error = Some(format!("{e:#}"));
        }
    }
    drop(paths);

    // 4. Bulk: 100k sessions in one batch, and their restore after a reboot (issue 13).
    eprintln!("bench: bulk load and restore of {BULK_CLIENTS} sessions");
    match bulk::measure(&prefix, BULK_CLIENTS) {
        Ok(b) => r.bulk = Some(b),
        Err(e) => {
            eprintln!("bench: bulk load and restore failed: {e:#}");
            r.bulk_error = Some(format!("{e:#}"));
        }
    }

    // 5. Shaping: per-client download limits against tc HTB (issue 15).
    eprintln!(
        "bench: shaping at {:?} limited clients",
        plan.shaping_counts
    );
    match shaping::measure(
        &format!("{prefix}s"),
        &plan.shaping_counts,
        plan.repeats,
        plan.pps_secs,
        plan.shaping_tcp_secs,
    ) {
        Ok(s) => r.shaping = Some(s),
        Err(e) => {
            eprintln!("bench: shaping failed: {e:#}");
            r.shaping_error = Some(format!("{e:#}"));
        }
    }

    r.facts
        .push(("load before each block".into(), during.join("; ")));
    r.finished = utc_now();
    let (l1, l5, l15) = env::loadavg();
    r.facts.push((
        "load at end".into(),
        format!("loadavg {l1:.2} {l5:.2} {l15:.2}"),
    ));
    r.facts.push((
        "run time".into(),
        format!("{:.1} min", t_all.elapsed().as_secs_f64() / 60.0),
    ));
    let _ = std::fs::remove_file(&snapshot);
    let file = report::write(&r, &out_dir)?;
    println!("\nReport: {}", file.display());
    if opts.smoke {
        smoke_check(&r)?;
    }
    Ok(())
}

fn facts(quiet: &str, binary: &str, bin: &std::path::Path) -> Vec<(String, String)> {
    let commit = Command::new("git")
        .args([
            "-C",
            &crate::root().to_string_lossy(),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| {
            Command::new("date")
                .args([
                    "-u",
                    "-d",
                    &format!("@{}", d.as_secs()),
                    "+%Y-%m-%d %H:%M UTC",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    vec![
        ("kernel".into(), env::kernel()),
        (
            "CPU".into(),
            format!("{} x {}", env::ncpus(), env::cpu_model()),
        ),
        ("machine state".into(), quiet.to_string()),
        (
            "netauth".into(),
            format!("{binary}, built {built}; workspace at {commit}"),
        ),
        ("trafgen".into(), env::version("trafgen", &["-v"])),
        ("iperf3".into(), env::version("iperf3", &["-v"])),
        ("wrk".into(), env::version("wrk", &["-v"])),
        ("nginx".into(), env::version("nginx", &["-v"])),
        ("nft".into(), env::version("nft", &["-v"])),
        (
            "iptables-legacy".into(),
            env::version("iptables-legacy", &["-V"]),
        ),
        ("iptables-nft".into(), env::version("iptables-nft", &["-V"])),
    ]
}

/// `--fwd-only`: forwarding of a few methods against no filter, interleaved, ratios
/// printed (the report's method, without the report).
fn fwd_only(opts: &Opts) -> anyhow::Result<()> {
    let mut methods = vec![Method::None];
    for key in &opts.fwd_only {
        let m = Method::ALL
            .into_iter()
            .find(|m| m.key() == key)
            .with_context(|| {
                let keys: Vec<_> = Method::ALL.iter().map(|m| m.key()).collect();
                format!("no method {key}; the methods are {}", keys.join(", "))
            })?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    env::install_interrupt_handler()?;
    let plan = Plan {
        counts: opts.clients.clone(),
        ..Plan::new(opts)
    };
    let prefix = format!("nf{}", std::process::id() % 100_000);
    let mut paths = Vec::new();
    for m in methods {
        paths.push(Path::new(&prefix, m)?);
    }
    for &n in &plan.counts {
        let mut block = FwdBlock {
            clients: n,
            ..Default::default()
        };
        for p in paths.iter_mut() {
            p.set_clients(n)?;
        }
        for round in 0..plan.repeats {
            for p in paths.iter_mut() {
                let v = fwd::pps(p, plan.pps_secs).unwrap_or(f64::NAN);
                block.pps.entry(p.method).or_default().push(v);
                eprintln!("round {round} {:<40} {v:>10.0} pps", p.method.label());
            }
        }
        let base = stats::median(&block.pps[&Method::None]);
        println!(
            "\n{n} clients, median of {} (ratio to no filter):",
            plan.repeats
        );
        for (m, v) in &block.pps {
            let med = stats::median(v);
            let rounds: Vec<String> = v
                .iter()
                .zip(&block.pps[&Method::None])
                .map(|(a, b)| format!("{:.2}", a / b))
                .collect();
            println!(
                "  {:<40} {med:>10.0} pps ({:.3}; by round {})",
                m.label(),
                med / base,
                rounds.join(" ")
            );
        }
        if paths.iter().any(|p| p.method.runs_programs()) {
            let ip = inpath::measure(&mut paths, n, plan.pps_secs)?;
            // Each program's runs are in measure's log lines above.
            println!(
                "\n{n} clients, programs' time per forwarded packet (kernel run-time statistics):"
            );
            for row in &ip.rows {
                println!(
                    "  {:<40} {:>6.1} ns  ({} pps with the statistics on)",
                    row.method.label(),
                    row.ns_per_packet(),
                    row.pps.round()
                );
            }
            for f in &ip.failures {
                println!("  failed: {f}");
            }
        }
    }
    Ok(())
}

fn forwarding(plan: &Plan, paths: &mut [Path], block: &mut FwdBlock) {
    let n = block.clients;
    for round in 0..plan.repeats {
        for p in paths.iter_mut() {
            let v = match fwd::pps(p, plan.pps_secs) {
                Ok(v) => v,
                Err(e) => {
                    block
                        .failures
                        .push(format!("pps {} round {round}: {e:#}", p.method.label()));
                    f64::NAN
                }
            };
            eprintln!(
                "bench: {n} clients, round {round}, {:<40} {:>10.0} pps",
                p.method.label(),
                v
            );
            block.pps.entry(p.method).or_default().push(v);
        }
    }
    match inpath::measure(paths, n, plan.pps_secs) {
        Ok(ip) => {
            block
                .failures
                .extend(ip.failures.iter().map(|f| format!("in path {f}")));
            block.inpath = Some(ip);
        }
        Err(e) => block.failures.push(format!("in path: {e:#}")),
    }
    for round in 0..plan.repeats {
        for p in paths.iter_mut() {
            let v = match fwd::tcp(p, plan.tcp_secs) {
                Ok(v) => v,
                Err(e) => {
                    block
                        .failures
                        .push(format!("tcp {} round {round}: {e:#}", p.method.label()));
                    f64::NAN
                }
            };
            eprintln!(
                "bench: {n} clients, round {round}, {:<32} {:>8.3} Gbit/s",
                p.method.label(),
                v
            );
            block.tcp.entry(p.method).or_default().push(v);
        }
    }
}

fn authorize(plan: &Plan, paths: &[Path], n: u32) -> AuthRow {
    let mut row = AuthRow {
        clients: n,
        ..Default::default()
    };
    let native = paths
        .iter()
        .find(|p| p.method == Method::Auto)
        .expect("auto path");
    match auth::login_times(native, plan.logins) {
        Ok(v) => {
            eprintln!(
                "bench: {n} clients, login to passthrough: median {:.2} ms, p99 {:.2} ms",
                stats::median(&v),
                stats::percentile(&v, 99.0)
            );
            row.login_ms = v;
        }
        Err(e) => {
            eprintln!("bench: login timing failed: {e:#}");
            row.login_error = Some(format!("{e:#}"));
        }
    }
    // The measured client must be authorized again, and last, for the next block.
    if let Err(e) = native
        .admin()
        .and_then(|a| admin::allow(&a, CLIENT_MAC))
        .and_then(|()| topo::announce_client(&native.cl))
    {
        row.cmd_errors
            .push(format!("re-authorizing the client: {e:#}"));
    }
    for m in [
        Method::IptLegacy,
        Method::IptNft,
        Method::NftSet,
        Method::Auto,
    ] {
        let p = paths.iter().find(|p| p.method == m).expect("path");
        match auth::command_times(p, plan.cmd_reps) {
            Ok(v) => {
                eprintln!(
                    "bench: {n} clients, {} add one client: median {:.2} ms",
                    m.label(),
                    stats::median(&v)
                );
                row.cmd_ms.insert(m, v);
            }
            Err(e) => row.cmd_errors.push(format!("{}: {e:#}", m.label())),
        }
    }
    row
}

/// The smoke run's verdict: every section produced numbers.
fn smoke_check(r: &Results) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if r.cost.is_none() {
        missing.push("program cost");
    }
    if r.fwd
        .iter()
        .any(|b| b.pps.values().flatten().any(|v| !v.is_finite()))
    {
        missing.push("pps");
    }
    if r.fwd
        .iter()
        .any(|b| b.tcp.values().flatten().any(|v| !v.is_finite()))
    {
        missing.push("tcp");
    }
    if r.fwd.iter().any(|b| {
        b.inpath.as_ref().is_none_or(|ip| {
            ip.rows.len() < inpath::methods().count()
                || ip.rows.iter().any(|row| !row.ns_per_packet().is_finite())
        })
    }) {
        missing.push("programs' time in the forwarding path");
    }
    if r.auth
        .iter()
        .any(|a| a.login_ms.is_empty() || !a.cmd_errors.is_empty())
    {
        missing.push("time to authorize");
    }
    if r.portal.is_none() {
        missing.push("portal answer rate");
    }
    if r.mem.iter().any(|m| m.rss_kb.is_none()) {
        missing.push("memory");
    }
    if r.shaping.as_ref().is_none_or(|s| {
        s.blocks.iter().any(|b| {
            !b.failures.is_empty()
                || b.pps.values().flatten().any(|v| !v.is_finite())
                || b.rate.len() < 2
        })
    }) {
        missing.push("shaping");
    }
    if !missing.is_empty() {
        bail!("smoke run: no figures for {}", missing.join(", "));
    }
    println!("bench smoke: every section produced figures");
    Ok(())
}
