//! `cargo xtask demo`: a lab in network namespaces (two clients on a switch, a gateway
//! running netauth, an upstream web server), then a client's way from 511 to online,
//! one step at a time. Everything is removed at the end, and on Ctrl-C.

use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail, ensure};
use netauth_lab::{GW_LAN_V4, Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, WEB_V6, http, net};

static CLEANUP: OnceLock<Mutex<Option<(String, u32)>>> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn on_ctrl_c() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    if let Some((id, pid)) = CLEANUP.get().and_then(|m| m.lock().ok()?.clone()) {
        eprintln!("\ninterrupted: removing the lab");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        std::thread::sleep(Duration::from_millis(500));
        if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let name = line.split_whitespace().next().unwrap_or("");
                if name.starts_with(&format!("{id}-")) {
                    let _ = Command::new("ip").args(["netns", "del", name]).status();
                }
            }
        }
    }
    std::process::exit(130);
}

struct Narrator {
    pace: Duration,
    step: usize,
}

impl Narrator {
    fn step(&mut self, what: &str) {
        self.step += 1;
        std::thread::sleep(self.pace);
        println!("\n\x1b[1m[{}] {what}\x1b[0m", self.step);
    }
}

fn show(r: &http::Response, headers: &[&str]) {
    println!("    HTTP {}", r.status);
    for h in headers {
        if let Some(v) = r.header(h) {
            println!("    {h}: {v}");
        }
    }
}

pub fn run(pace: f64) -> anyhow::Result<()> {
    let result = steps(pace);
    if INTERRUPTED.load(Ordering::SeqCst) {
        // The Ctrl-C handler is tearing the lab down and will exit; a step that failed
        // because of that is not news.
        std::thread::sleep(Duration::from_secs(10));
    }
    result
}

fn steps(pace: f64) -> anyhow::Result<()> {
    crate::require_root("the demo")?;
    let mut n = Narrator {
        pace: Duration::from_secs_f64(pace.clamp(0.0, 30.0)),
        step: 0,
    };
    CLEANUP.get_or_init(|| Mutex::new(None));
    ctrlc::set_handler(on_ctrl_c).context("installing the Ctrl-C handler")?;

    n.step("Building the lab: client-1 and client-2 on a LAN switch, a gateway, an upstream web server");
    let mut lab = Lab::new(2)?;
    println!(
        "    LAN 192.0.2.0/24 + 2001:db8:1::/64 (gateway 192.0.2.1), upstream web at {WEB_V4} and [{WEB_V6}]"
    );

    n.step("Starting netauth on the gateway's LAN port: `netauth run --lan lan0`");
    let id = lab.id.clone();
    let daemon = lab.start_netauth(&["--venue-name", "Demo Cafe"])?;
    if let Some(m) = CLEANUP.get() {
        *m.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, daemon.child.id()));
    }
    for line in daemon.log_text().lines() {
        println!("    {line}");
    }

    let c1 = lab.clients[0].clone();
    let c2 = lab.clients[1].clone();
    let web = SocketAddr::new(IpAddr::V4(WEB_V4), 80);
    let portal = SocketAddr::new(IpAddr::V4(GW_LAN_V4), PORTAL_PORT);

    n.step("client-1 (not signed in) opens http://news.example/ (any address, here 203.0.113.80)");
    let r = c1
        .ns
        .run(move || http::get(web, Some("news.example"), "/"))??;
    show(&r, &["cache-control"]);
    ensure!(r.status == 511, "expected 511, got {}", r.status);
    let login = r
        .body
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("no login link in the 511 page")?
        .replace("&amp;", "&");
    println!("    the page links to {login}");

    n.step("client-1's phone checks for a portal (Android probe): it gets 302 to the login page");
    let r = c1
        .ns
        .run(move || http::get(web, Some("connectivitycheck.gstatic.com"), "/generate_204"))??;
    show(&r, &["location"]);
    ensure!(r.status == 302);

    n.step("client-1 tries HTTPS (TCP 443): dropped in the kernel while captive");
    let https = SocketAddr::new(IpAddr::V4(WEB_V4), 443);
    let ok = c1
        .ns
        .run(move || net::tcp_connect(https, Duration::from_millis(800)).is_ok())?;
    println!(
        "    connection {}",
        if ok {
            "succeeded (unexpected!)"
        } else {
            "timed out"
        }
    );
    ensure!(!ok, "HTTPS passed while captive");

    n.step("client-1 opens the login page");
    let path = login
        .split_once(&format!(":{PORTAL_PORT}"))
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "/login".into());
    let r = c1.ns.run(move || http::get(portal, None, &path))??;
    show(&r, &[]);
    let title = r
        .body
        .split("<h1>")
        .nth(1)
        .and_then(|s| s.split("</h1>").next())
        .unwrap_or("?");
    println!("    page heading: {title}");
    ensure!(r.status == 200);

    n.step("client-1 accepts the terms (POST /login accept=1)");
    let r = c1.ns.run(move || {
        http::submit(
            portal,
            "/login",
            "/login",
            "accept=1&redirect=http%3A%2F%2Fnews.example%2F",
        )
    })??;
    show(&r, &["location"]);
    ensure!(r.status == 303);

    n.step("client-1 follows the redirect: the upstream page loads");
    let r = c1
        .ns
        .run(move || http::get(web, Some("news.example"), "/"))??;
    show(&r, &[]);
    ensure!(r.status == 200 && r.body.contains(UPSTREAM_MARKER));
    println!(
        "    body: {}",
        r.body
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(100)
            .collect::<String>()
    );
    let ok = c1
        .ns
        .run(move || net::tcp_connect(https, Duration::from_millis(800)).is_ok())?;
    println!(
        "    HTTPS now: {}",
        if ok { "connected" } else { "blocked" }
    );
    ensure!(ok);

    n.step("client-2 never signed in: still captive");
    let r = c2.ns.run(move || http::get(web, None, "/"))??;
    show(&r, &[]);
    ensure!(r.status == 511);

    n.step("The operator's view: `netauth sessions`");
    let out = lab.daemon().cli(&["sessions"]);
    print!("{}", indent(&String::from_utf8_lossy(&out.stdout)));

    n.step("The operator revokes client-1: `netauth revoke 02:00:00:00:01:0a`");
    let out = lab.daemon().cli(&["revoke", &c1.mac]);
    print!("{}", indent(&String::from_utf8_lossy(&out.stdout)));
    let r = c1.ns.run(move || http::get(web, None, "/"))??;
    println!("    client-1 gets HTTP {} again", r.status);
    ensure!(r.status == 511);

    n.step("Stopping netauth (SIGTERM): it removes its routing rule and detaches");
    let s = lab.daemon().stop()?;
    if !s.success() {
        bail!("netauth exited with {s}");
    }
    println!("    netauth {s}");
    lab.cleanup();
    if let Some(m) = CLEANUP.get() {
        *m.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
    println!("\nDemo finished; the lab is gone. Run `cargo xtask test` for the full test suite.");
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
