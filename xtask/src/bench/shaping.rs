//! Shaping (issue 15): N clients each limited, netauth's per-client limits in its
//! datapath against the way the anchors do it, `tc` HTB with one class and one u32 filter
//! per client MAC, and against no shaping at all.
//!
//! The compared direction is download (traffic to the client), on the same hook for both:
//! the gateway's LAN egress (`lan0`), where netauth's TC egress program applies the
//! client's download limit and where HTB classifies on `ether dst`. Upload is not
//! compared: HTB shapes only at egress, so an upload HTB needs an IFB device (or the WAN
//! egress, where the client's MAC is gone), which is a different path from netauth's
//! ingress policer.
//!
//! Per N: `N - 1` synthetic MACs limited to 10 Mbit/s and the measured client last,
//! limited to 10 Gbit/s (a limit that does not bind) while trafgen floods 64-byte UDP
//! frames from the upstream to it, so the packets per second arriving at the client are
//! the cost of classifying and metering, not of the limit. Then the measured client's
//! limit drops to 10 Mbit/s and an iperf3 TCP download (`-R`) measures the achieved rate.

use std::{collections::BTreeMap, fmt::Write as _, time::Instant};

use anyhow::{Context as _, bail};
use netauth_common::api::{AdminClient, AllowRequest, LimitRequest};

use super::{
    fwd, stats,
    topo::{self, CLIENT_MAC, CLIENT_V4, Method, Path, TARGET_V4, synthetic_mac},
};

/// The limit of every synthetic client and of the measured one during the accuracy run.
pub const LIMIT_BPS: f64 = 10e6;
const LIMIT: &str = "10M";
/// The measured client's limit during the pps flood (does not bind).
const HIGH: &str = "10G";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shaper {
    None,
    Netauth,
    Htb,
}

impl Shaper {
    pub const ALL: [Shaper; 3] = [Shaper::None, Shaper::Netauth, Shaper::Htb];

    pub fn label(self) -> &'static str {
        match self {
            Shaper::None => "no shaping",
            Shaper::Netauth => "netauth (rate map, TC egress)",
            Shaper::Htb => "tc HTB, class + u32 filter per MAC",
        }
    }
}

/// One client count's samples.
#[derive(Debug, Default)]
pub struct ShapeBlock {
    pub clients: u32,
    /// Packets per second to the measured client, round by round.
    pub pps: BTreeMap<Shaper, Vec<f64>>,
    /// Achieved TCP download rate (bit/s) of the measured client limited to 10 Mbit/s.
    pub rate: BTreeMap<Shaper, Vec<f64>>,
    /// Seconds to install the N limits.
    pub fill_s: BTreeMap<Shaper, f64>,
    pub failures: Vec<String>,
}

#[derive(Debug, Default)]
pub struct ShapingResult {
    pub blocks: Vec<ShapeBlock>,
    pub tcp_secs: u32,
}

/// Frames from the upstream to the client: Ethernet + IPv4 + UDP + 18 bytes.
fn trafgen_down(gw_wan_mac: &str, up_mac: &str) -> String {
    format!(
        "{{\n  eth(da={gw_wan_mac}, sa={up_mac}, type=0x0800),\n  \
         ipv4(saddr={TARGET_V4}, daddr={CLIENT_V4}, ttl=64, proto=17),\n  \
         udp(sport=9, dport=40000),\n  fill(0x41, 18)\n}}\n"
    )
}

fn link_mac(ns: &netauth_lab::Ns, ifname: &str) -> anyhow::Result<String> {
    let out = ns.ip(&["-br", "link", "show", "dev", ifname])?;
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_whitespace()
        .nth(2)
        .map(str::to_string)
        .with_context(|| format!("no MAC in `ip -br link show {ifname}`: {s}"))
}

struct Lane {
    shaper: Shaper,
    path: Path,
    /// Synthetic clients limited so far (netauth grows; HTB is rebuilt).
    synthetic: u32,
}

impl Lane {
    fn new(prefix: &str, shaper: Shaper) -> anyhow::Result<Self> {
        let path = match shaper {
            Shaper::None => Path::new(prefix, Method::None)?,
            Shaper::Netauth => Path::new(prefix, Method::Auto)?,
            Shaper::Htb => Path::new(&format!("{prefix}h"), Method::None)?,
        };
        // The gateway knows the client (no ARP in the measured path).
        path.gw.ip(&[
            "neigh",
            "replace",
            &CLIENT_V4.to_string(),
            "lladdr",
            CLIENT_MAC,
            "dev",
            "lan0",
            "nud",
            "permanent",
        ])?;
        let cfg = trafgen_down(&link_mac(&path.gw, "wan0")?, &link_mac(&path.up, "up0")?);
        std::fs::write(path.dir.join("trafgen-down.cfg"), cfg)?;
        Ok(Lane {
            shaper,
            path,
            synthetic: 0,
        })
    }

    /// Limits `n` clients: `n - 1` synthetic ones at 10 Mbit/s, the measured one last at
    /// 10 Gbit/s. Returns the seconds it took.
    fn set_limited(&mut self, n: u32) -> anyhow::Result<f64> {
        let want = n.saturating_sub(1);
        let t = Instant::now();
        match self.shaper {
            Shaper::None => {}
            Shaper::Netauth => {
                let admin = self.path.admin()?;
                super::admin::revoke(&admin, CLIENT_MAC)?;
                let mut reqs: Vec<AllowRequest> = (self.synthetic..want)
                    .map(|i| limited(&synthetic_mac(i), LIMIT))
                    .collect();
                reqs.push(limited(CLIENT_MAC, HIGH));
                let done = AdminClient::block_on(admin.allow_batch(&reqs))
                    .map_err(|e| anyhow::anyhow!("POST /v1/sessions ({}): {e}", reqs.len()))?;
                if done.authorized != reqs.len() as u64 {
                    bail!("authorized {} of {} sessions", done.authorized, reqs.len());
                }
                topo::announce_client(&self.path.cl)?;
            }
            Shaper::Htb => self.load_htb(want)?,
        }
        self.synthetic = want;
        Ok(t.elapsed().as_secs_f64())
    }

    /// The anchors' way: HTB on lan0, a class with `rate` per client and a u32 filter on
    /// the client's MAC pointing to it, the measured client's class and filter last (the
    /// filters are matched in order). Unclassified traffic passes unshaped (`default 0`).
    fn load_htb(&self, synthetic: u32) -> anyhow::Result<()> {
        let mut s = String::with_capacity(200 * (synthetic as usize + 4));
        s.push_str("qdisc replace dev lan0 root handle 1: htb default 0\n");
        let mut add = |minor: u32, mac: &str, rate: &str| {
            let _ = writeln!(
                s,
                "class add dev lan0 parent 1: classid 1:{minor:x} htb rate {rate} quantum 1514\n\
                 filter add dev lan0 parent 1: protocol ip prio 1 u32 match ether dst {mac} \
                 flowid 1:{minor:x}"
            );
        };
        for i in 0..synthetic {
            add(i + 2, &synthetic_mac(i), "10mbit");
        }
        add(1, CLIENT_MAC, "10gbit");
        let f = self.path.dir.join("htb.batch");
        std::fs::write(&f, s)?;
        // A rebuild starts from an empty root (replace keeps no classes of the old one).
        let _ = self
            .path
            .gw
            .sh("tc", &["qdisc", "del", "dev", "lan0", "root"]);
        self.path.gw.sh("tc", &["-batch", &f.to_string_lossy()])?;
        Ok(())
    }

    /// Sets the measured client's limit (`LIMIT` or `HIGH`).
    fn set_client_limit(&self, rate: &str) -> anyhow::Result<()> {
        match self.shaper {
            Shaper::None => {}
            Shaper::Netauth => {
                let admin = self.path.admin()?;
                let mac = CLIENT_MAC.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                let req = LimitRequest {
                    rate_down: Some(rate.into()),
                    ..LimitRequest::default()
                };
                AdminClient::block_on(admin.limit(mac, &req))
                    .map_err(|e| anyhow::anyhow!("PATCH /v1/sessions/{mac}: {e}"))?;
            }
            Shaper::Htb => {
                let tc_rate = if rate == LIMIT { "10mbit" } else { "10gbit" };
                self.path.gw.sh(
                    "tc",
                    &[
                        "class", "change", "dev", "lan0", "parent", "1:", "classid", "1:1", "htb",
                        "rate", tc_rate, "quantum", "1514",
                    ],
                )?;
            }
        }
        // A limit change takes effect within 1 s (issue 15); HTB's at once.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(())
    }

    fn pps(&self, secs: f64) -> anyhow::Result<f64> {
        let p = &self.path;
        fwd::flood(
            &p.up,
            "up0",
            &p.dir.join("trafgen-down.cfg"),
            (&p.cl, "eth0"),
            secs,
            self.shaper.label(),
        )
    }
}

fn limited(mac: &str, rate_down: &str) -> AllowRequest {
    AllowRequest {
        mac: mac.to_string(),
        duration: Some("24h".into()),
        rate_down: Some(rate_down.into()),
        rate_up: Some(rate_down.into()),
        ..AllowRequest::default()
    }
}

/// Measures every count in `counts`: `repeats` interleaved pps rounds of `pps_secs`, and
/// `min(repeats, 3)` TCP downloads of `tcp_secs` per limited shaper.
pub fn measure(
    prefix: &str,
    counts: &[u32],
    repeats: usize,
    pps_secs: f64,
    tcp_secs: u32,
) -> anyhow::Result<ShapingResult> {
    let mut lanes = Vec::new();
    for s in Shaper::ALL {
        eprintln!("bench: shaping, building the {} path", s.label());
        lanes.push(Lane::new(prefix, s)?);
    }
    let mut r = ShapingResult {
        tcp_secs,
        ..Default::default()
    };
    for &n in counts {
        let mut b = ShapeBlock {
            clients: n,
            ..Default::default()
        };
        for l in lanes.iter_mut() {
            let s = l
                .set_limited(n)
                .with_context(|| format!("{}: limiting {n} clients", l.shaper.label()))?;
            eprintln!(
                "bench: shaping, {} -> {n} limited in {s:.2} s",
                l.shaper.label()
            );
            b.fill_s.insert(l.shaper, s);
        }
        for round in 0..repeats {
            for l in &lanes {
                let v = l.pps(pps_secs).unwrap_or_else(|e| {
                    b.failures
                        .push(format!("pps {} round {round}: {e:#}", l.shaper.label()));
                    f64::NAN
                });
                eprintln!(
                    "bench: shaping, {n} limited, round {round}, {:<36} {v:>10.0} pps",
                    l.shaper.label()
                );
                b.pps.entry(l.shaper).or_default().push(v);
            }
        }
        for l in lanes.iter_mut().filter(|l| l.shaper != Shaper::None) {
            let res = l.set_client_limit(LIMIT).and_then(|()| {
                (0..repeats.min(3))
                    .map(|_| fwd::iperf(&mut l.path, tcp_secs, true))
                    .collect::<anyhow::Result<Vec<f64>>>()
            });
            match res {
                Ok(v) => {
                    for x in &v {
                        eprintln!(
                            "bench: shaping, {n} limited, {:<36} TCP down {:.2} Mbit/s (limit 10)",
                            l.shaper.label(),
                            x / 1e6
                        );
                    }
                    b.rate.insert(l.shaper, v);
                }
                Err(e) => b.failures.push(format!("tcp {}: {e:#}", l.shaper.label())),
            }
            if let Err(e) = l.set_client_limit(HIGH) {
                b.failures.push(format!("{}: {e:#}", l.shaper.label()));
            }
        }
        r.blocks.push(b);
    }
    Ok(r)
}

fn med(v: Option<&Vec<f64>>) -> f64 {
    v.map(|v| stats::median(v)).unwrap_or(f64::NAN)
}

/// The section's table (Markdown), also printed by `--shaping-only`.
pub fn table(r: &ShapingResult) -> String {
    let mut w = String::new();
    let _ = write!(w, "| |");
    for b in &r.blocks {
        let _ = write!(w, " {} limited |", b.clients);
    }
    let _ = write!(w, "\n|---|");
    for _ in &r.blocks {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);
    for s in Shaper::ALL {
        let _ = write!(
            w,
            "| {} pps to the client (ratio to no shaping) |",
            s.label()
        );
        for b in &r.blocks {
            let base = med(b.pps.get(&Shaper::None));
            let v = med(b.pps.get(&s));
            let _ = write!(w, " {:.0} k ({:.2}) |", v / 1e3, v / base);
        }
        let _ = writeln!(w);
    }
    for s in [Shaper::Netauth, Shaper::Htb] {
        let _ = write!(
            w,
            "| {} TCP download, limit 10 Mbit/s ({} s) |",
            s.label(),
            r.tcp_secs
        );
        for b in &r.blocks {
            let v = med(b.rate.get(&s));
            let _ = write!(
                w,
                " {:.2} Mbit/s ({:.0}%) |",
                v / 1e6,
                v / LIMIT_BPS * 100.0
            );
        }
        let _ = writeln!(w);
    }
    for s in [Shaper::Netauth, Shaper::Htb] {
        let _ = write!(w, "| {} time to install the limits |", s.label());
        for b in &r.blocks {
            let _ = write!(
                w,
                " {:.2} s |",
                b.fill_s.get(&s).copied().unwrap_or(f64::NAN)
            );
        }
        let _ = writeln!(w);
    }
    let _ = write!(w, "| *baseline spread (max-min)/median* |");
    for b in &r.blocks {
        let v = b.pps.get(&Shaper::None).cloned().unwrap_or_default();
        let spread = stats::spread(&v);
        let flag = if spread > 0.10 { "over 10%" } else { "ok" };
        let _ = write!(w, " {:.1}% {flag} |", spread * 100.0);
    }
    let _ = writeln!(w);
    for b in &r.blocks {
        for f in &b.failures {
            let _ = writeln!(w, "\n- {} limited: {f}", b.clients);
        }
    }
    w
}

/// The issue's targets, as (verdict, text); never enforced.
pub fn targets(r: &ShapingResult) -> Vec<(Option<bool>, String)> {
    let ratio = |b: &ShapeBlock, s: Shaper| med(b.pps.get(&s)) / med(b.pps.get(&Shaper::None));
    let mut out = Vec::new();
    if let (Some(f), Some(l)) = (r.blocks.first(), r.blocks.last()) {
        let (a, z) = (ratio(f, Shaper::Netauth), ratio(l, Shaper::Netauth));
        let ok = (a.is_finite() && z.is_finite()).then_some(z >= 0.9 * a);
        out.push((
            ok,
            format!(
                "netauth per-packet cost flat 1 -> {} limited clients: pps ratio to no shaping \
                 {a:.2} -> {z:.2} (target: within 10%)",
                l.clients
            ),
        ));
    }
    let at = r
        .blocks
        .iter()
        .find(|b| b.clients == 1000)
        .or(r.blocks.last());
    if let Some(b) = at {
        let (na, htb) = (
            med(b.pps.get(&Shaper::Netauth)),
            med(b.pps.get(&Shaper::Htb)),
        );
        let ok = (na.is_finite() && htb.is_finite()).then_some(na > htb);
        out.push((
            ok,
            format!(
                "netauth vs HTB at {} limited clients: {:.0} k pps against {:.0} k pps \
                 (target: netauth's per-packet cost below HTB's at 1k{})",
                b.clients,
                na / 1e3,
                htb / 1e3,
                if b.clients == 1000 {
                    ""
                } else {
                    "; this run has no 1k block"
                }
            ),
        ));
    }
    let rates: Vec<String> = r
        .blocks
        .iter()
        .map(|b| {
            format!(
                "{}: {:.0}%",
                b.clients,
                med(b.rate.get(&Shaper::Netauth)) / LIMIT_BPS * 100.0
            )
        })
        .collect();
    let all = r.blocks.iter().all(|b| {
        let x = med(b.rate.get(&Shaper::Netauth)) / LIMIT_BPS;
        (0.9..=1.1).contains(&x)
    });
    let measured = r
        .blocks
        .iter()
        .all(|b| med(b.rate.get(&Shaper::Netauth)).is_finite());
    out.push((
        measured.then_some(all && !r.blocks.is_empty()),
        format!(
            "netauth accuracy within 10% at every N (TCP download / 10 Mbit/s limit): {}",
            rates.join(", ")
        ),
    ));
    out
}

/// `--shaping-only`: the section at `counts`, printed.
pub fn print(
    prefix: &str,
    counts: &[u32],
    repeats: usize,
    pps_secs: f64,
    tcp_secs: u32,
) -> anyhow::Result<()> {
    let r = measure(prefix, counts, repeats, pps_secs, tcp_secs)?;
    println!(
        "\nShaping, download on lan0 egress: median of {repeats} pps round(s) of {pps_secs} s, \
         64-byte UDP from the upstream to the measured client (limit 10 Gbit/s, not binding); \
         TCP download with its limit at 10 Mbit/s:\n"
    );
    println!("{}", table(&r));
    for (ok, t) in targets(&r) {
        let v = match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "N/A ",
        };
        println!("{v}  {t}");
    }
    Ok(())
}
