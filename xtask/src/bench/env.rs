//! The machine: the tools the benchmark drives (installed from Debian when missing), the
//! "is it quiet enough" check, the facts the report records, and a registry of what the
//! run created so that Ctrl-C removes it too.

use std::{
    process::Command,
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// Debian packages the benchmark needs, with a command that proves each present.
pub const TOOLS: &[(&str, &str)] = &[
    ("netsniff-ng", "trafgen"),
    ("iperf3", "iperf3"),
    ("nginx", "nginx"),
    ("nftables", "nft"),
    ("iptables", "iptables-legacy"),
    ("iptables", "iptables-nft"),
    ("wrk", "wrk"),
    ("ethtool", "ethtool"),
    ("procps", "sysctl"),
    ("util-linux", "taskset"),
];

pub fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

/// Installs missing tools with apt-get (update once, then install); refuses with a message
/// naming what is missing when that is not possible.
pub fn ensure_tools() -> anyhow::Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(_, cmd)| which(cmd).is_none())
        .map(|(p, _)| *p)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("bench: installing {}", missing.join(" "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let s = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !s.success() {
            bail!("apt-get {} failed ({s})", args.join(" "));
        }
        Ok(())
    };
    let installed = apt(&["update", "-q"]).and_then(|()| {
        // Only ask apt for what it has a candidate for; name the rest.
        let unavailable: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|p| !apt_candidate(p))
            .collect();
        if !unavailable.is_empty() {
            bail!(
                "apt has no installation candidate for {}",
                unavailable.join(" ")
            );
        }
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&missing);
        apt(&args)
    });
    let still: Vec<&str> = TOOLS
        .iter()
        .filter(|(_, cmd)| which(cmd).is_none())
        .map(|(_, c)| *c)
        .collect();
    if !still.is_empty() {
        bail!(
            "the benchmark needs {} and could not install it ({}); install the Debian packages {} and retry",
            still.join(", "),
            installed
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default(),
            missing.join(" ")
        );
    }
    Ok(())
}

/// Whether `apt-cache policy PKG` shows an installation candidate.
fn apt_candidate(pkg: &str) -> bool {
    Command::new("apt-cache")
        .args(["policy", pkg])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Candidate:"))
                .any(|c| c.trim() != "(none)")
        })
        .unwrap_or(false)
}

/// One line of `cmd --version` style output, for the report.
pub fn version(cmd: &str, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("?")
                .trim()
                .to_string()
        }
        Err(_) => "not installed".into(),
    }
}

pub fn loadavg() -> (f64, f64, f64) {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = s
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    (
        v.first().copied().unwrap_or(f64::NAN),
        v.get(1).copied().unwrap_or(f64::NAN),
        v.get(2).copied().unwrap_or(f64::NAN),
    )
}

pub fn ncpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// CPU time (user+system ticks) of every process, by pid and name.
fn cpu_ticks() -> Vec<(u32, String, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The name is in parentheses and may contain spaces.
        let (Some(l), Some(r)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[l + 1..r].to_string();
        let f: Vec<&str> = stat[r + 2..].split_whitespace().collect();
        let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        out.push((pid, name, ticks));
    }
    out
}

/// Processes that used more than 20% of a CPU over the last `window`, with their share.
pub fn busy_processes(window: Duration) -> Vec<(u32, String, f64)> {
    let me = std::process::id();
    let a = cpu_ticks();
    std::thread::sleep(window);
    let b = cpu_ticks();
    let hz = 100.0; // USER_HZ on Linux
    let mut busy = Vec::new();
    for (pid, name, t1) in b {
        if pid == me {
            continue;
        }
        if let Some((_, _, t0)) = a.iter().find(|(p, _, _)| *p == pid) {
            let share = (t1.saturating_sub(*t0)) as f64 / hz / window.as_secs_f64();
            if share > 0.2 {
                busy.push((pid, name, share));
            }
        }
    }
    busy
}

/// The "is the machine quiet" check. Refuses when another process uses more than 20% of a
/// CPU; when none does but the 1-minute load is above half the CPUs (e.g. right after the
/// build this command itself ran), waits up to two minutes for it to settle, then refuses.
/// `force` measures anyway. Returns what it saw, for the report.
pub fn quiet_check(force: bool) -> anyhow::Result<String> {
    let limit = ncpus() as f64 * 0.5;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut announced = false;
    loop {
        let busy = busy_processes(Duration::from_secs(2));
        let (l1, l5, l15) = loadavg();
        let mut seen = format!("loadavg {l1:.2} {l5:.2} {l15:.2} at start");
        if busy.is_empty() {
            seen.push_str("; no other process above 20% CPU");
        } else {
            let list: Vec<String> = busy
                .iter()
                .map(|(p, n, s)| format!("{n}[{p}] {:.0}%", s * 100.0))
                .collect();
            seen.push_str(&format!("; busy: {}", list.join(", ")));
        }
        if force || (busy.is_empty() && l1 <= limit) {
            return Ok(seen);
        }
        if !busy.is_empty() || Instant::now() > deadline {
            bail!(
                "the machine is busy ({seen}); a benchmark now would measure the other work. \
                 Wait for it to finish, or pass --force to measure anyway (the report records the load)"
            );
        }
        if !announced {
            eprintln!("bench: waiting for the load to settle ({seen})");
            announced = true;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

pub fn kernel() -> String {
    version("uname", &["-srvm"])
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into())
}

// --- cleanup registry -------------------------------------------------------------

struct Registry {
    namespaces: Vec<String>,
    pids: Vec<u32>,
    mounts: Vec<std::path::PathBuf>,
    dirs: Vec<std::path::PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    namespaces: Vec::new(),
    pids: Vec::new(),
    mounts: Vec::new(),
    dirs: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn register_ns(name: &str) {
    registry().namespaces.push(name.to_string());
}

pub fn unregister_ns(name: &str) {
    registry().namespaces.retain(|n| n != name);
}

/// A scratch directory to remove on Ctrl-C.
pub fn register_dir(dir: &std::path::Path) {
    registry().dirs.push(dir.to_path_buf());
}

pub fn unregister_dir(dir: &std::path::Path) {
    registry().dirs.retain(|d| d != dir);
}

pub fn register_pid(pid: u32) {
    registry().pids.push(pid);
}

pub fn unregister_pid(pid: u32) {
    registry().pids.retain(|p| *p != pid);
}

/// Kills every process still running inside `ns` (processes this run started there) and
/// deletes the namespace.
pub fn delete_ns(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    netauth_lab::Ns {
        name: ns.to_string(),
    }
    .delete();
    unregister_ns(ns);
}

/// Ctrl-C: stop what the run started, remove its namespaces, exit.
pub fn install_interrupt_handler() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("\nbench: interrupted, cleaning up");
        let (pids, namespaces, mounts, dirs) = {
            let r = registry();
            (
                r.pids.clone(),
                r.namespaces.clone(),
                r.mounts.clone(),
                r.dirs.clone(),
            )
        };
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        for ns in namespaces {
            delete_ns(&ns);
        }
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")
}

/// Waits for a child up to `timeout`, then kills it. Returns whether it exited by itself.
pub fn wait_or_kill(child: &mut std::process::Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            unregister_pid(child.id());
            return true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            unregister_pid(child.id());
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGINT to the process group led by `child` (trafgen's workers are forked children
/// that the parent does not pass the signal to), SIGKILL to the group after `grace`.
pub fn interrupt_group(child: &mut std::process::Child, grace: Duration) {
    let pg = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGINT);
    if !wait_or_kill(child, grace) {
        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
    }
    // Workers that outlive the leader.
    let deadline = Instant::now() + grace;
    while nix::sys::signal::killpg(pg, None).is_ok() {
        if Instant::now() > deadline {
            let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The lab's private bpffs ([`netauth_lab::Bpffs`]), which Ctrl-C unmounts too.
pub struct Bpffs(netauth_lab::Bpffs);

impl Bpffs {
    pub fn mount(path: std::path::PathBuf) -> anyhow::Result<Self> {
        let fs = netauth_lab::Bpffs::mount(path)?;
        registry().mounts.push(fs.path.clone());
        Ok(Self(fs))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0.path
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        registry().mounts.retain(|m| *m != self.0.path);
    }
}
