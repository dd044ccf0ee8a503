//! Portal answer rate: wrk for the peak rate (keep-alive, and a new connection per
//! request) and a paced open-loop client for latency at a fixed rate (the schedule, not
//! the previous answer, decides when a request is due, so a slow answer delays the ones
//! behind it and shows in their latency). Against nginx with one worker and `return 511`,
//! in the same gateway namespace, reached over the same veth; and against the same nginx
//! behind an nftables redirect, which is how openNDS- and nodogsplash-style portals steer a
//! captive device's web requests to their server (conntrack and NAT on every packet, as
//! netauth's own translation is on every intercepted one).

use std::{
    collections::BTreeMap,
    io::Write as _,
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use netauth_lab::http;

use super::{
    Plan, PortalResult, admin, env,
    stats::{median, percentile},
    topo::{self, CLIENT_MAC, Method, Path},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Intercepted,
    Direct,
    Nginx,
    /// nginx reached through an nftables `redirect` in the gateway namespace (only while
    /// this target is measured: a nat chain turns conntrack on for every flow there).
    NginxRedirected,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Intercepted,
        Target::Direct,
        Target::Nginx,
        Target::NginxRedirected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Target::Intercepted => "netauth, intercepted (GET http://203.0.113.80/ -> 511)",
            Target::Direct => "netauth, direct (GET http://192.0.2.1:8080/login -> 200)",
            Target::Nginx => "nginx 1 worker, `return 511` (GET http://192.0.2.1:8082/)",
            Target::NginxRedirected => {
                "the same nginx behind an nftables redirect (GET http://192.0.2.1:8083/ -> :8084)"
            }
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Target::Intercepted => "netauth intercepted",
            Target::Direct => "netauth direct",
            Target::Nginx => "nginx",
            Target::NginxRedirected => "nginx via nft redirect",
        }
    }

    fn addr(self) -> SocketAddr {
        match self {
            Target::Intercepted => SocketAddr::new([203, 0, 113, 80].into(), 80),
            Target::Direct => SocketAddr::new([192, 0, 2, 1].into(), 8080),
            Target::Nginx => SocketAddr::new([192, 0, 2, 1].into(), 8082),
            Target::NginxRedirected => SocketAddr::new([192, 0, 2, 1].into(), REDIRECTED_PORT),
        }
    }

    fn path(self) -> &'static str {
        match self {
            Target::Direct => "/login",
            _ => "/",
        }
    }

    fn url(self) -> String {
        format!("http://{}{}", self.addr(), self.path())
    }

    fn expect(self) -> u16 {
        match self {
            Target::Direct => 200,
            _ => 511,
        }
    }
}

/// The port [`Target::NginxRedirected`] asks for, and the one the redirect sends it to:
/// nginx's second listener. Not 8082: conntrack's entries of redirected connections
/// (reply tuple 192.0.2.1:8082 -> the client's port) outlive the nat table, and a later
/// direct SYN from the same client port to 8082 clashed with them and was dropped (nginx's
/// new-connection rate halved, its paced p50 became seconds of SYN retransmits).
const REDIRECTED_PORT: u16 = 8083;
const REDIRECT_TO: u16 = 8084;
const REDIRECT_TABLE: &str = "netauth_bench_redirect";

/// Runs `f` with the nftables redirect to nginx in place when `t` is
/// [`Target::NginxRedirected`] (an openNDS-style `nat` prerouting chain), and removes it
/// afterwards, so the other targets run without conntrack.
fn steered<T>(p: &Path, t: Target, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    if t != Target::NginxRedirected {
        return f();
    }
    let rules = format!(
        "table ip {REDIRECT_TABLE} {{\n  chain portal {{ type nat hook prerouting priority dstnat;\n    \
         iifname \"lan0\" tcp dport {REDIRECTED_PORT} redirect to :{REDIRECT_TO}\n  }}\n}}\n"
    );
    let file = p.dir.join("nft-redirect.nft");
    std::fs::write(&file, rules)?;
    p.gw.sh("nft", &["-f", &file.to_string_lossy()])?;
    let r = f();
    let removed = p.gw.sh("nft", &["delete", "table", "ip", REDIRECT_TABLE]);
    let r = r?;
    removed.context("removing the nftables redirect")?;
    Ok(r)
}

pub struct Nginx {
    child: Child,
}

impl Nginx {
    /// nginx in the path's gateway namespace, one worker on CPU 0, answering every request
    /// with 511 and a body as long as `body_len`.
    pub fn start(p: &Path, body_len: usize) -> anyhow::Result<Self> {
        let dir = p.dir.join("nginx");
        std::fs::create_dir_all(&dir)?;
        let d = dir.display();
        let body = "x".repeat(body_len.max(1));
        let conf = format!(
            "worker_processes 1;\nworker_cpu_affinity 01;\ndaemon off;\nmaster_process on;\n\
             pid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               keepalive_requests 1000000;\n  default_type \"text/html; charset=utf-8\";\n\
               server {{\n    listen 192.0.2.1:8082;\n    listen 192.0.2.1:{REDIRECT_TO};\n    add_header Cache-Control no-store always;\n\
                 location / {{ return 511 '{body}'; }}\n  }}\n}}\n"
        );
        let f = dir.join("nginx.conf");
        std::fs::write(&f, conf)?;
        let child =
            p.gw.command("nginx")
                .arg("-c")
                .arg(&f)
                .arg("-p")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting nginx")?;
        env::register_pid(child.id());
        let mut n = Nginx { child };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(s) = n.child.try_wait()? {
                bail!(
                    "nginx exited ({s}): {}",
                    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                );
            }
            let up = p.cl.run(|| {
                TcpStream::connect_timeout(&Target::Nginx.addr(), Duration::from_millis(200))
                    .is_ok()
            })?;
            if up {
                return Ok(n);
            }
            if Instant::now() > deadline {
                n.stop();
                bail!("nginx did not start listening");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The worker process (nginx's master forks it at start).
    fn worker(&self) -> Option<u32> {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    fn stop(&mut self) {
        // SIGQUIT: graceful; the master takes its worker with it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGQUIT,
        );
        env::wait_or_kill(&mut self.child, Duration::from_secs(5));
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request on a new connection: (status, body length).
pub fn probe(p: &Path, t: Target) -> anyhow::Result<(u16, usize)> {
    p.cl.run(move || -> anyhow::Result<(u16, usize)> {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            t.path()
        );
        let r = http::raw(t.addr(), req.as_bytes(), Duration::from_secs(3))?;
        Ok((r.status, r.body.len()))
    })?
}

/// Peak rate by wrk (one thread on CPU 1, 32 connections): requests per second, and the
/// share of answers that were not the expected status (wrk counts non-2xx/3xx).
pub fn wrk(p: &Path, t: Target, close: bool, secs: u32) -> anyhow::Result<f64> {
    let mut args: Vec<String> = ["-c", "1", "wrk", "-t1", "-c32", "-d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("{secs}s"));
    if close {
        args.extend(["-H".to_string(), "Connection: close".to_string()]);
    }
    args.push(t.url());
    let out = p.cl.sh(
        "taskset",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{out}"))?;
    let errors = out
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(str::trim)
        .unwrap_or("");
    if !errors.is_empty() {
        eprintln!(
            "bench: wrk {} ({}): {errors}",
            t.short(),
            if close { "close" } else { "keep-alive" }
        );
    }
    Ok(rps)
}

#[derive(Debug)]
pub struct Paced {
    /// SYNs the client had to retransmit during the run (TcpExt TCPSynRetrans).
    pub syn_retrans: u64,
    /// The gateway's TCP counters that moved during the run (name, delta), largest first.
    pub gw_counters: Vec<(String, u64)>,
    pub rate: f64,
    pub sent: usize,
    pub ok: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Open-loop client at `rate` requests/s for `secs`, over 8 workers (each a keep-alive
/// connection, or a new connection per request). Latency is measured from each request's
/// scheduled time; the first 10% of the schedule is warm-up and not counted.
pub fn paced(p: &Path, t: Target, close: bool, rate: f64, secs: f64) -> anyhow::Result<Paced> {
    const WORKERS: usize = 8;
    let total = (rate * secs) as usize;
    let expect = t.expect();
    let gw0 = p.gw.run(tcp_counters)?;
    let (lat, sent, ok, syn_retrans) = p.cl.run(move || {
        let syn0 = netstat("TCPSynRetrans").unwrap_or(0);
        let start = Instant::now() + Duration::from_millis(50);
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                std::thread::spawn(move || {
                    let mut lat = Vec::new();
                    let (mut sent, mut ok) = (0usize, 0usize);
                    let mut conn: Option<TcpStream> = None;
                    let mut buf = Vec::new();
                    let req = format!(
                        "GET {} HTTP/1.1\r\nHost: example.com\r\n{}\r\n",
                        t.path(),
                        if close { "Connection: close\r\n" } else { "" }
                    );
                    let mut i = w;
                    while i < total {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        sent += 1;
                        let result = (|| -> std::io::Result<u16> {
                            if conn.is_none() {
                                let s =
                                    TcpStream::connect_timeout(&t.addr(), Duration::from_secs(3))?;
                                s.set_nodelay(true)?;
                                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                                conn = Some(s);
                                buf.clear();
                            }
                            let s = conn.as_mut().expect("connected");
                            s.write_all(req.as_bytes())?;
                            let (r, will_close) = http::read_response(s, &mut buf)?;
                            if will_close || close {
                                conn = None;
                            }
                            Ok(r.status)
                        })();
                        let done = Instant::now();
                        match result {
                            Ok(status) if status == expect => {
                                ok += 1;
                                if i >= total / 10 {
                                    lat.push((done - due).as_secs_f64() * 1e3);
                                }
                            }
                            _ => conn = None,
                        }
                        i += WORKERS;
                    }
                    (lat, sent, ok)
                })
            })
            .collect();
        let mut all = Vec::new();
        let (mut sent, mut ok) = (0, 0);
        for h in handles {
            if let Ok((l, s, o)) = h.join() {
                all.extend(l);
                sent += s;
                ok += o;
            }
        }
        let syn = netstat("TCPSynRetrans").unwrap_or(0).saturating_sub(syn0);
        (all, sent, ok, syn)
    })?;
    let gw1 = p.gw.run(tcp_counters)?;
    let mut gw_counters: Vec<(String, u64)> = gw1
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(*gw0.get(k).unwrap_or(&0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    gw_counters.sort_by_key(|c| std::cmp::Reverse(c.1));
    Ok(Paced {
        syn_retrans,
        gw_counters,
        rate,
        sent,
        ok,
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
    })
}

/// All Tcp and TcpExt counters of the calling thread's network namespace.
fn tcp_counters() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for file in [
        "/proc/thread-self/net/snmp",
        "/proc/thread-self/net/netstat",
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [head, values] = pair else { continue };
            let Some(prefix) = head.split_whitespace().next() else {
                continue;
            };
            if prefix != "Tcp:" && prefix != "TcpExt:" {
                continue;
            }
            for (h, v) in head
                .split_whitespace()
                .zip(values.split_whitespace())
                .skip(1)
            {
                if let Ok(v) = v.parse::<u64>() {
                    out.insert(format!("{}{h}", prefix.trim_end_matches(':')), v);
                }
            }
        }
    }
    out
}

/// A TcpExt counter of the calling thread's network namespace.
fn netstat(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat").ok()?;
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [head, values] = pair else { continue };
        if !head.starts_with("TcpExt:") {
            continue;
        }
        let i = head.split_whitespace().position(|h| h == name)?;
        return values.split_whitespace().nth(i)?.parse().ok();
    }
    None
}

impl PortalResult {
    /// The median wrk rate of `t` over the rounds.
    pub fn peak_median(&self, t: Target, close: bool) -> f64 {
        median(&self.peaks(t, close))
    }

    /// netauth intercepted / nginx: the median of the ratios of the rounds (each ratio
    /// from one round, measured back to back).
    pub fn ratio(&self, close: bool) -> f64 {
        self.ratio_to(Target::Nginx, close)
    }

    /// netauth intercepted / `other`, as [`Self::ratio`].
    pub fn ratio_to(&self, other: Target, close: bool) -> f64 {
        let (n, x) = (
            self.peaks(Target::Intercepted, close),
            self.peaks(other, close),
        );
        let q: Vec<f64> = n.iter().zip(&x).map(|(n, x)| n / x).collect();
        median(&q)
    }

    fn peaks(&self, t: Target, close: bool) -> Vec<f64> {
        self.peak
            .iter()
            .filter(|(x, c, _)| *x == t && *c == close)
            .map(|(_, _, v)| *v)
            .collect()
    }
}

fn mode(close: bool) -> &'static str {
    if close {
        "new connection per request"
    } else {
        "keep-alive"
    }
}

/// The portal section: peak rates by wrk in interleaved rounds (netauth intercepted,
/// netauth direct, nginx, then again), then latency at one fixed rate, with the measured
/// client captive. The daemon and nginx run on CPU 0, the load generator on CPU 1; how
/// busy each CPU was during the wrk runs is recorded, so a saturated load generator
/// shows.
pub fn rate(plan: &Plan, p: &Path, clients: u32) -> anyhow::Result<PortalResult> {
    let mut res = PortalResult {
        clients,
        ..Default::default()
    };
    let client = p.admin()?;
    admin::revoke(&client, CLIENT_MAC)?;
    let pid = p.daemon_pid().context("no daemon")?;
    // Servers on CPU 0, the load generator on CPU 1.
    crate::status(
        Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &pid.to_string()])
            .stdout(Stdio::null()),
    )?;
    let result = (|| -> anyhow::Result<()> {
        let (status, body_len) = probe(p, Target::Intercepted)?;
        if status != 511 {
            bail!("an intercepted request got HTTP {status}, expected 511");
        }
        res.body_len = body_len;
        let nginx = Nginx::start(p, body_len)?;
        let nginx_worker = nginx.worker().context("no nginx worker process")?;
        for t in Target::ALL {
            let (status, len) = steered(p, t, || probe(p, t))?;
            res.checks
                .push(format!("{}: HTTP {status}, body {len} B", t.short()));
        }
        for close in [false, true] {
            let mut busy: BTreeMap<usize, Vec<Vec<f64>>> = BTreeMap::new();
            let mut cost: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
            for round in 0..plan.repeats {
                for (i, t) in Target::ALL.into_iter().enumerate() {
                    let server = if matches!(t, Target::Nginx | Target::NginxRedirected) {
                        nginx_worker
                    } else {
                        pid
                    };
                    let before = cpu_ticks();
                    let cpu0 = process_cpu_secs(server);
                    let rps = steered(p, t, || wrk(p, t, close, plan.wrk_secs))?;
                    let cpu1 = process_cpu_secs(server);
                    let answers = rps * f64::from(plan.wrk_secs) / 1e6;
                    busy.entry(i).or_default().push(cpu_busy_since(&before));
                    cost.entry(i)
                        .or_default()
                        .push(((cpu1.0 - cpu0.0) / answers, (cpu1.1 - cpu0.1) / answers));
                    eprintln!(
                        "bench: round {round}, wrk {} {}: {rps:.0} req/s",
                        t.short(),
                        mode(close)
                    );
                    res.peak.push((t, close, rps));
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            for (i, t) in Target::ALL.into_iter().enumerate() {
                let per_cpu: Vec<String> = (0..env::ncpus())
                    .map(|cpu| {
                        let v: Vec<f64> = busy[&i]
                            .iter()
                            .filter_map(|b| b.get(cpu))
                            .copied()
                            .collect();
                        format!("CPU {cpu} {:.0}%", median(&v) * 100.0)
                    })
                    .collect();
                res.checks.push(format!(
                    "CPU busy during wrk, {} {} (median of {} rounds): {}; the server process \
                     used {:.1} us of CPU per answer ({:.1} us user, {:.1} us system)",
                    t.short(),
                    mode(close),
                    plan.repeats,
                    per_cpu.join(", "),
                    median(&cost[&i].iter().map(|(u, s)| u + s).collect::<Vec<_>>()),
                    median(&cost[&i].iter().map(|c| c.0).collect::<Vec<_>>()),
                    median(&cost[&i].iter().map(|c| c.1).collect::<Vec<_>>()),
                ));
            }
            // One fixed rate for all of them: half the slowest peak, at most 5000/s.
            let slowest = Target::ALL
                .iter()
                .map(|t| res.peak_median(*t, close))
                .fold(f64::INFINITY, f64::min);
            let rate = ((slowest * 0.5 / 100.0).floor() * 100.0).clamp(100.0, 5000.0);
            for t in Target::ALL {
                let c0 = datapath_counters(p);
                let r = steered(p, t, || paced(p, t, close, rate, plan.paced_secs))?;
                let c1 = datapath_counters(p);
                let moved: Vec<String> = c1
                    .iter()
                    .filter_map(|(k, v)| {
                        let d = v.saturating_sub(*c0.get(k).unwrap_or(&0));
                        (d > 0).then(|| format!("{k} +{d}"))
                    })
                    .collect();
                res.checks.push(format!(
                    "netauth datapath counters during the paced {} {} run: {}",
                    t.short(),
                    if close {
                        "new-connection"
                    } else {
                        "keep-alive"
                    },
                    if moved.is_empty() {
                        "none moved".to_string()
                    } else {
                        moved.join(", ")
                    }
                ));
                eprintln!(
                    "bench: paced {} {} at {rate}/s: p50 {:.3} ms p99 {:.3} ms ({} of {} ok, {} SYN retransmits)",
                    t.short(),
                    mode(close),
                    r.p50_ms,
                    r.p99_ms,
                    r.ok,
                    r.sent,
                    r.syn_retrans
                );
                res.paced.push((t, close, r));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok(())
    })();
    let cpus = format!("0-{}", env::ncpus() - 1);
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status();
    let _ = admin::allow(&client, CLIENT_MAC);
    let _ = topo::announce_client(&p.cl);
    result?;
    Ok(res)
}

/// `cargo xtask bench --portal-only`: the portal section alone, on netauth as it runs by
/// default, at the largest of `clients`; prints each round and the ratios to nginx.
pub fn only(plan: &Plan, clients: &[u32]) -> anyhow::Result<()> {
    let prefix = format!("nb{}", std::process::id() % 100_000);
    let mut path = Path::new(&prefix, Method::Auto)?;
    let n = clients.iter().copied().max().context("no client counts")?;
    eprintln!("bench: {} -> {n} clients", Method::Auto.label());
    path.set_clients(n)?;
    let r = rate(plan, &path, n)?;
    println!(
        "\nPortal answer rate, {n} clients, {} interleaved round(s) of {} s:",
        plan.repeats, plan.wrk_secs
    );
    for close in [false, true] {
        println!("  {}:", mode(close));
        for t in Target::ALL {
            let rounds: Vec<String> = r
                .peaks(t, close)
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect();
            println!(
                "    {:<20} median {:>7.0} req/s  rounds {}",
                t.short(),
                r.peak_median(t, close),
                rounds.join(" ")
            );
        }
        println!(
            "    netauth intercepted / nginx: {:.2} x; / nginx via nft redirect: {:.2} x \
             (medians of the rounds' ratios)",
            r.ratio(close),
            r.ratio_to(Target::NginxRedirected, close)
        );
    }
    for (t, close, v) in &r.paced {
        println!(
            "  paced {} {} at {:.0}/s: p50 {:.3} ms, p99 {:.3} ms, {} of {} ok",
            t.short(),
            mode(*close),
            v.rate,
            v.p50_ms,
            v.p99_ms,
            v.ok,
            v.sent
        );
    }
    for c in &r.checks {
        println!("  - {c}");
    }
    Ok(())
}

/// The daemon's datapath counters (`GET /v1/status` -> counters).
fn datapath_counters(p: &Path) -> BTreeMap<String, u64> {
    p.daemon().map(|d| d.counters()).unwrap_or_default()
}

/// User and system CPU time of a process, all its threads (/proc/PID/stat), in seconds.
fn process_cpu_secs(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    match f[..] {
        [user, sys] => (user as f64 / hz, sys as f64 / hz),
        _ => (f64::NAN, f64::NAN),
    }
}

/// Busy and total jiffies of each CPU (/proc/stat).
fn cpu_ticks() -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().take(8).sum();
            // idle and iowait
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// The share of time each CPU was busy since `before`.
fn cpu_busy_since(before: &[(u64, u64)]) -> Vec<f64> {
    cpu_ticks()
        .iter()
        .zip(before)
        .map(|((b1, t1), (b0, t0))| {
            let t = t1.saturating_sub(*t0);
            if t == 0 {
                f64::NAN
            } else {
                b1.saturating_sub(*b0) as f64 / t as f64
            }
        })
        .collect()
}
