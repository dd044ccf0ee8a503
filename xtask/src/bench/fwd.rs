//! Forwarding through a path: packets per second of small UDP frames (trafgen, one CPU)
//! counted where they arrive upstream, and TCP throughput (iperf3, client TSO/GSO off).

use std::{
    os::unix::process::CommandExt as _,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use netauth_lab::Ns;

use super::{
    env,
    topo::{CLIENT_MAC, CLIENT_V4, GW_LAN_MAC, Path, TARGET_V4, rx_packets},
};

/// 60-byte frames (64 on the wire with FCS): Ethernet + IPv4 + UDP to the upstream's
/// discard port + 18 bytes of payload.
fn trafgen_config() -> String {
    format!(
        "{{\n  eth(da={GW_LAN_MAC}, sa={CLIENT_MAC}, type=0x0800),\n  \
         ipv4(saddr={CLIENT_V4}, daddr={TARGET_V4}, ttl=64, proto=17),\n  \
         udp(sport=40000, dport=9),\n  fill(0x41, 18)\n}}\n"
    )
}

/// Waits until packets stop arriving on `rx_if` in `rx` (a slow filter leaves a backlog
/// that is still being forwarded after the sender stops; it must not spill into the next
/// sample).
pub fn drain_on(rx: &Ns, rx_if: &str, label: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = rx_packets(rx, rx_if)?;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_millis(150) {
        if Instant::now() > deadline {
            bail!("{label}: packets still arriving 30 s after the sender stopped");
        }
        std::thread::sleep(Duration::from_millis(30));
        let now = rx_packets(rx, rx_if)?;
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    Ok(())
}

fn drain(p: &Path) -> anyhow::Result<()> {
    drain_on(&p.up, "up0", p.method.label())
}

/// Packets per second that reach the upstream while trafgen floods from the client.
pub fn pps(p: &Path, secs: f64) -> anyhow::Result<f64> {
    let cfg = p.dir.join("trafgen.cfg");
    if !cfg.exists() {
        std::fs::write(&cfg, trafgen_config())?;
    }
    flood(&p.cl, "eth0", &cfg, (&p.up, "up0"), secs, p.method.label())
}

/// Packets per second that arrive on `rx_if` in `rx` while trafgen sends the frames of
/// `cfg` out of `out_if` in `sender` on one CPU. trafgen sometimes gives up when its
/// TX_RING flush meets a full veth (EAGAIN; seen against native XDP on the peer, in the
/// committed report too): such a sample measured nothing, and is taken once more.
pub fn flood(
    sender: &Ns,
    out_if: &str,
    cfg: &std::path::Path,
    rx: (&Ns, &str),
    secs: f64,
    label: &str,
) -> anyhow::Result<f64> {
    match flood_once(sender, out_if, cfg, rx, secs, label) {
        Err(e) if format!("{e:#}").contains("Resource temporarily unavailable") => {
            eprintln!("bench: {label}: trafgen gave up on a full ring ({e:#}); once more");
            flood_once(sender, out_if, cfg, rx, secs, label)
        }
        r => r,
    }
}

fn flood_once(
    sender: &Ns,
    out_if: &str,
    cfg: &std::path::Path,
    (rx, rx_if): (&Ns, &str),
    secs: f64,
    label: &str,
) -> anyhow::Result<f64> {
    drain_on(rx, rx_if, label)?;
    let mut child = sender
        .command("trafgen")
        .args(["-o", out_if, "-c"])
        .arg(cfg)
        .args(["--cpus", "1", "--no-sock-mem", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .context("starting trafgen")?;
    env::register_pid(child.id());
    let result = (|| -> anyhow::Result<f64> {
        std::thread::sleep(Duration::from_millis(300));
        if let Some(s) = child.try_wait()? {
            bail!("trafgen exited early ({s})");
        }
        let (c1, t1) = (rx_packets(rx, rx_if)?, Instant::now());
        std::thread::sleep(Duration::from_secs_f64(secs));
        let (c2, t2) = (rx_packets(rx, rx_if)?, Instant::now());
        if let Some(s) = child.try_wait()? {
            bail!("trafgen exited during the measurement ({s})");
        }
        Ok((c2 - c1) as f64 / (t2 - t1).as_secs_f64())
    })();
    env::interrupt_group(&mut child, Duration::from_secs(30));
    env::unregister_pid(child.id());
    if result.is_err() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        return result.with_context(|| format!("trafgen: {}", err.trim()));
    }
    drain_on(rx, rx_if, label)?;
    result
}

/// TCP throughput in Gbit/s from the client to the upstream (received bytes), or an error
/// when iperf3 fails or does not finish in time.
pub fn tcp(p: &mut Path, secs: u32) -> anyhow::Result<f64> {
    Ok(iperf(p, secs, false)? / 1e9)
}

/// An iperf3 TCP transfer between the client and the upstream for `secs`: upload, or
/// download with `reverse`; the receiver's rate in bit/s.
pub fn iperf(p: &mut Path, secs: u32, reverse: bool) -> anyhow::Result<f64> {
    let mut cmd = p.cl.command("iperf3");
    if reverse {
        cmd.arg("-R");
    }
    let mut child = cmd
        .args([
            "-c",
            "203.0.113.80",
            "-p",
            "5201",
            "-J",
            "--connect-timeout",
            "3000",
            "-t",
        ])
        .arg(secs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -c")?;
    env::register_pid(child.id());
    let mut stdout = child.stdout.take().context("iperf3 stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let finished = env::wait_or_kill(&mut child, Duration::from_secs(u64::from(secs) + 20));
    let out = reader.join().unwrap_or_default();
    if !finished {
        // The server may still think a test runs: give the next sample a fresh one.
        p.start_iperf_server()?;
        drain(p)?;
        bail!("iperf3 did not finish within {} s", secs + 20);
    }
    let v: serde_json::Value = serde_json::from_str(&out).context("iperf3 -J output")?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        p.start_iperf_server()?;
        bail!("iperf3: {e}");
    }
    let bps = v
        .pointer("/end/sum_received/bits_per_second")
        .and_then(|x| x.as_f64())
        .context("iperf3 output has no end.sum_received")?;
    drain(p)?;
    Ok(bps)
}
