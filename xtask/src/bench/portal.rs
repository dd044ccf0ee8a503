//! Portal answer rate: wrk for the peak rate (keep-alive, and a new connection per
//! request) and a paced open-loop client for latency at a fixed rate (the schedule, not
//! the previous answer, decides when a request is due, so a slow answer delays the ones
//! behind it and shows in their latency). Against nginx with one worker and `return 511`,
//! in the same gateway namespace, reached over the same veth.

use std::{
    io::Write as _,
    net::{SocketAddr, TcpStream},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use netauth_lab::http;

use super::{env, stats::percentile, topo::Path};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Intercepted,
    Direct,
    Nginx,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Intercepted, Target::Direct, Target::Nginx];

    pub fn label(self) -> &'static str {
        match self {
            Target::Intercepted => "netauth, intercepted (GET http://203.0.113.80/ -> 511)",
            Target::Direct => "netauth, direct (GET http://192.0.2.1:8080/login -> 200)",
            Target::Nginx => "nginx 1 worker, `return 511` (GET http://192.0.2.1:8081/)",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Target::Intercepted => "netauth intercepted",
            Target::Direct => "netauth direct",
            Target::Nginx => "nginx",
        }
    }

    fn addr(self) -> SocketAddr {
        match self {
            Target::Intercepted => SocketAddr::new([203, 0, 113, 80].into(), 80),
            Target::Direct => SocketAddr::new([192, 0, 2, 1].into(), 8080),
            Target::Nginx => SocketAddr::new([192, 0, 2, 1].into(), 8081),
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
               keepalive_requests 1000000;\n  default_type text/html;\n\
               server {{\n    listen 192.0.2.1:8081;\n    add_header Cache-Control no-store always;\n\
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
