//! Time to authorize. netauth: from the login POST leaving the client to the first probe
//! that gets through (the client sends a UDP echo request to an upstream port, blocked
//! while captive, every ~1 ms). Beside it, the wall time of the same change made by a
//! command: `iptables -A` (legacy and nft back ends) and `nft add element` with N clients
//! already present, and `netauth allow` (the CLI through the admin socket).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use super::{
    admin,
    topo::{CLIENT_MAC, ECHO_PORT, Method, Path, TARGET_V4},
};

const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// One login: (ms from the POST to the first echoed probe, HTTP status of the login).
fn one_login(p: &Path, nonce: u32) -> anyhow::Result<(f64, u16)> {
    p.cl.run(move || -> anyhow::Result<(f64, u16)> {
        let udp = UdpSocket::bind("0.0.0.0:0")?;
        udp.connect(SocketAddr::new(TARGET_V4.into(), ECHO_PORT))?;
        udp.set_nonblocking(true)?;
        let mut buf = [0u8; 64];
        // Captive first: a probe must go unanswered.
        let mut confirmed = false;
        for attempt in 0..50u32 {
            let mut msg = [0u8; 8];
            msg[..4].copy_from_slice(&nonce.to_be_bytes());
            msg[4..].copy_from_slice(&(u32::MAX - attempt).to_be_bytes());
            udp.send(&msg)?;
            std::thread::sleep(Duration::from_millis(20));
            let mut answered = false;
            while let Ok(n) = udp.recv(&mut buf) {
                answered |= n == 8;
            }
            if !answered {
                confirmed = true;
                break;
            }
        }
        if !confirmed {
            bail!("the client is not captive before the login (probes pass)");
        }
        let portal = SocketAddr::new([192, 0, 2, 1].into(), 8080);
        // The form's anti-forgery token, as a browser has it from the page it shows.
        let page = netauth_lab::http::get(portal, None, "/login").context("loading the login page")?;
        let token = netauth_lab::http::form_token(&page.body)
            .context("the login page has no form token")?;
        let mut tcp = TcpStream::connect_timeout(&portal, Duration::from_secs(2))
            .context("connecting to the portal")?;
        tcp.set_nodelay(true)?;
        let body = format!("token={token}&accept=1&redirect=http%3A%2F%2Fexample.com%2F");
        let req = format!(
            "POST /login HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let t0 = Instant::now();
        tcp.write_all(req.as_bytes())?;
        tcp.set_nonblocking(true)?;
        let mut seq = 0u32;
        let mut next = t0;
        let mut response = Vec::new();
        let passed = loop {
            let now = Instant::now();
            if now >= next {
                let mut msg = [0u8; 8];
                msg[..4].copy_from_slice(&nonce.to_be_bytes());
                msg[4..].copy_from_slice(&seq.to_be_bytes());
                let _ = udp.send(&msg);
                seq += 1;
                next += PROBE_INTERVAL;
            }
            let mut got = None;
            while let Ok(n) = udp.recv(&mut buf) {
                if n == 8 && buf[..4] == nonce.to_be_bytes() {
                    let s = u32::from_be_bytes(buf[4..8].try_into().expect("4"));
                    if s < u32::MAX - 100 {
                        got = Some(Instant::now());
                    }
                }
            }
            let mut chunk = [0u8; 4096];
            if let Ok(n) = tcp.read(&mut chunk) {
                response.extend_from_slice(&chunk[..n]);
            }
            if let Some(t) = got {
                break t;
            }
            if t0.elapsed() > Duration::from_secs(3) {
                bail!("no probe got through within 3 s of the login");
            }
            let wait = next.saturating_duration_since(Instant::now());
            if wait > Duration::from_micros(100) {
                std::thread::sleep(wait.min(Duration::from_micros(200)));
            }
        };
        let ms = (passed - t0).as_secs_f64() * 1e3;
        // The login's own answer.
        tcp.set_nonblocking(false)?;
        tcp.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut chunk = [0u8; 4096];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
            }
        }
        let status = String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((ms, status))
    })?
}

/// `logins` logins on a netauth path (the client's session is revoked through the admin
/// API before each). Returns the times in ms.
pub fn login_times(p: &Path, logins: usize) -> anyhow::Result<Vec<f64>> {
    let client = p.admin()?;
    let mut times = Vec::with_capacity(logins);
    for i in 0..logins {
        admin::revoke(&client, CLIENT_MAC)?;
        let (ms, status) = one_login(p, 0x4e41_0000 + i as u32)?;
        if status != 303 {
            bail!("login answered HTTP {status}, expected 303");
        }
        times.push(ms);
    }
    Ok(times)
}

/// `--auth-only`: [`login_times`] on netauth as `auto` runs it, at each count in turn.
pub fn print(prefix: &str, counts: &[u32], logins: usize) -> anyhow::Result<()> {
    let mut p = Path::new(prefix, Method::Auto)?;
    for &n in counts {
        p.set_clients(n)?;
        let v = login_times(&p, logins)?;
        let max = v.iter().copied().fold(f64::NAN, f64::max);
        eprintln!(
            "auth: {n} clients, {logins} logins: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            super::stats::median(&v),
            super::stats::percentile(&v, 99.0),
            max
        );
    }
    Ok(())
}

fn time_cmd(p: &Path, program: &str, args: &[String]) -> anyhow::Result<f64> {
    let (program, args) = (program.to_string(), args.to_vec());
    p.gw.run(move || -> anyhow::Result<f64> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let t = Instant::now();
        netauth_lab::sh(&program, &args)?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    })?
}

/// Wall time (ms) of adding one client to the path's filter, by the method's own command,
/// `reps` times (each addition is undone, untimed, before the next).
pub fn command_times(p: &Path, reps: usize) -> anyhow::Result<Vec<f64>> {
    let mut v = Vec::with_capacity(reps);
    for i in 0..reps {
        let mac = format!("02:cc:00:00:{:02x}:{:02x}", (i >> 8) & 0xff, i & 0xff);
        let s = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match p.method {
            Method::IptLegacy | Method::IptNft => {
                let ipt = if p.method == Method::IptLegacy {
                    "iptables-legacy"
                } else {
                    "iptables-nft"
                };
                let rule = s(&[
                    "FORWARD",
                    "-i",
                    "lan0",
                    "-m",
                    "mac",
                    "--mac-source",
                    &mac,
                    "-j",
                    "ACCEPT",
                ]);
                let mut add = vec!["-A".to_string()];
                add.extend(rule.iter().cloned());
                v.push(time_cmd(p, ipt, &add)?);
                let mut del = vec!["-D".to_string()];
                del.extend(rule);
                p.gw.sh(ipt, &del.iter().map(String::as_str).collect::<Vec<_>>())?;
            }
            Method::NftSet => {
                let elem = format!("{{ {mac} }}");
                v.push(time_cmd(
                    p,
                    "nft",
                    &s(&["add", "element", "inet", "nbgate", "allowed", &elem]),
                )?);
                p.gw.sh(
                    "nft",
                    &["delete", "element", "inet", "nbgate", "allowed", &elem],
                )?;
            }
            m if m.is_netauth() => {
                let sock = p.daemon()?.admin_socket.to_string_lossy().into_owned();
                let bin = netauth_lab::netauth_bin().to_string_lossy().into_owned();
                v.push(time_cmd(
                    p,
                    &bin,
                    &s(&["allow", &mac, "--for", "1h", "--admin-socket", &sock]),
                )?);
                admin::revoke(&p.admin()?, &mac)?;
            }
            _ => bail!("no filter to change on this path"),
        }
    }
    Ok(v)
}
