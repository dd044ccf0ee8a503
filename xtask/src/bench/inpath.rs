//! What the gate's programs cost in the forwarding path itself, not in BPF_PROG_TEST_RUN:
//! the kernel's own run-time statistics (BPF_ENABLE_STATS), read before and after one
//! flood per method. This is the profile behind the forwarding ratios: it says how many
//! nanoseconds of each forwarded packet netauth's programs take, against the empty
//! programs on the same hooks, under the same flood and the same caches.
//!
//! The statistics are on only while this pass runs (the kernel turns them off when the
//! descriptor `enable_stats` returns is closed, also if the harness dies), so the pps
//! samples of the report are never taken with them: timing every run costs two clock
//! reads per packet.

use std::collections::BTreeMap;

use anyhow::Context as _;
use aya::{
    programs::loaded_programs,
    sys::{Stats, enable_stats},
};

use super::{
    FwdBlock, fwd,
    topo::{Method, Path},
};

/// The methods that run BPF programs on the gateway (the others have nothing to time),
/// in the report's order.
pub fn methods() -> impl Iterator<Item = Method> {
    Method::ALL.into_iter().filter(|m| m.runs_programs())
}

/// One program's runs during a flood.
#[derive(Debug, Clone)]
pub struct ProgRuns {
    /// The program's name and hook, e.g. `netauth_tc_ingress (tc)`.
    pub name: String,
    pub runs: u64,
    pub ns_per_run: f64,
}

/// One method's flood with the statistics on.
#[derive(Debug, Clone)]
pub struct InPathRow {
    pub method: Method,
    /// Packets per second that arrived during this flood (with the statistics' own cost).
    pub pps: f64,
    pub progs: Vec<ProgRuns>,
}

impl InPathRow {
    /// Nanoseconds of program time per forwarded packet: a forwarded packet meets each
    /// hook on its path once, so the sum of the per-run times of the programs that the
    /// flood ran. A program that ran for less than half as many packets as the busiest
    /// one (an egress hook seeing the odd ARP reply) is not on the flood's path.
    pub fn ns_per_packet(&self) -> f64 {
        let mut on = self.on_path().peekable();
        if on.peek().is_none() {
            return f64::NAN;
        }
        on.map(|p| p.ns_per_run).sum()
    }

    /// The programs on the flood's path (see [`Self::ns_per_packet`]).
    pub fn on_path(&self) -> impl Iterator<Item = &ProgRuns> {
        let most = self.progs.iter().map(|p| p.runs).max().unwrap_or(0);
        self.progs
            .iter()
            .filter(move |p| most > 0 && p.runs * 2 >= most)
    }
}

#[derive(Debug, Default)]
pub struct InPath {
    pub rows: Vec<InPathRow>,
    pub failures: Vec<String>,
}

impl InPath {
    pub fn row(&self, m: Method) -> Option<&InPathRow> {
        self.rows.iter().find(|r| r.method == m)
    }

    /// A netauth mode's program time per packet over the empty programs on the same
    /// hooks: what netauth's own work costs a forwarded packet.
    pub fn over_empty(&self, m: Method, auto_mode: &str) -> Option<f64> {
        let own = self.row(m)?.ns_per_packet();
        let empty = self.row(empty_hooks(m, auto_mode)?)?.ns_per_packet();
        let d = own - empty;
        d.is_finite().then_some(d)
    }
}

/// The empty programs on the hooks a netauth mode runs on (`auto` as it was reported to
/// run: `off`, `native` or `generic`).
pub fn empty_hooks(m: Method, auto_mode: &str) -> Option<Method> {
    match m {
        Method::TcOnly => Some(Method::EmptyTc),
        Method::XdpNative => Some(Method::EmptyXdpNativeTc),
        Method::XdpGeneric => Some(Method::EmptyXdpGenericTc),
        Method::Auto => match auto_mode {
            "off" => Some(Method::EmptyTc),
            "native" => Some(Method::EmptyXdpNativeTc),
            "generic" => Some(Method::EmptyXdpGenericTc),
            _ => None,
        },
        _ => None,
    }
}

/// The pps ratio a program time per packet predicts against the empty hooks: a packet
/// that took `1e9 / empty_pps` ns on the empty hooks takes `over` ns more.
pub fn predicted_ratio(empty_pps: f64, over: f64) -> f64 {
    let t = 1e9 / empty_pps;
    t / (t + over)
}

/// (name with hook, run time ns, run count) of every XDP and TC program loaded now.
fn snapshot() -> anyhow::Result<BTreeMap<u32, (String, u64, u64)>> {
    let mut out = BTreeMap::new();
    for info in loaded_programs() {
        let info = info.context("reading a loaded program's info")?;
        // The uapi numbers (BPF_PROG_TYPE_SCHED_CLS 3, _SCHED_ACT 4, _XDP 6): aya does not
        // re-export the generated enum's type, only values of it.
        let hook = match info.program_type() as u32 {
            6 => "xdp",
            3 | 4 => "tc",
            _ => continue,
        };
        let name = info.name_as_str().unwrap_or("?");
        out.insert(
            info.id(),
            (
                format!("{name} ({hook})"),
                info.run_time().as_nanos() as u64,
                info.run_count(),
            ),
        );
    }
    Ok(out)
}

/// The programs that ran between two snapshots, summed by name and hook.
fn ran(
    before: &BTreeMap<u32, (String, u64, u64)>,
    after: &BTreeMap<u32, (String, u64, u64)>,
) -> Vec<ProgRuns> {
    let mut by_name: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (id, (name, ns, cnt)) in after {
        let (ns0, cnt0) = before.get(id).map(|b| (b.1, b.2)).unwrap_or((0, 0));
        let (dns, dcnt) = (ns.saturating_sub(ns0), cnt.saturating_sub(cnt0));
        if dcnt == 0 {
            continue;
        }
        let e = by_name.entry(name.clone()).or_default();
        e.0 += dns;
        e.1 += dcnt;
    }
    by_name
        .into_iter()
        .map(|(name, (ns, runs))| ProgRuns {
            name,
            runs,
            ns_per_run: ns as f64 / runs as f64,
        })
        .collect()
}

/// One flood per method that runs programs, with the kernel timing every program run.
pub fn measure(paths: &mut [Path], clients: u32, secs: f64) -> anyhow::Result<InPath> {
    let _stats = enable_stats(Stats::RunTime).context("BPF_ENABLE_STATS (run time)")?;
    let mut out = InPath::default();
    for p in paths.iter_mut().filter(|p| p.method.runs_programs()) {
        let label = p.method.label();
        let r = (|| -> anyhow::Result<InPathRow> {
            let before = snapshot()?;
            let pps = fwd::pps(p, secs)?;
            let after = snapshot()?;
            Ok(InPathRow {
                method: p.method,
                pps,
                progs: ran(&before, &after),
            })
        })();
        match r {
            Ok(row) => {
                eprintln!(
                    "bench: {clients} clients, in path, {label:<40} {:>6.1} ns of programs per packet ({})",
                    row.ns_per_packet(),
                    row.progs
                        .iter()
                        .map(|g| format!("{} {:.1} ns x {}", g.name, g.ns_per_run, g.runs))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                out.rows.push(row);
            }
            Err(e) => out.failures.push(format!("{label}: {e:#}")),
        }
    }
    Ok(out)
}

/// The report's section: per block, each method's program time per forwarded packet,
/// and netauth's over the empty programs on its hooks; `None` when no block has any.
pub fn section(fwd: &[FwdBlock], auto_mode: &str) -> Option<String> {
    use std::fmt::Write as _;
    if fwd.iter().all(|b| b.inpath.is_none()) {
        return None;
    }
    let mut w = String::new();
    let _ = writeln!(
        w,
        "One more flood per method after each block's pps rounds, with the kernel timing every \
         program run (BPF_ENABLE_STATS, on for this pass only: it costs every run two clock reads). \
         ns of program time per forwarded packet (the sum of the per-run times of the programs on the \
         packet's path); in parentheses, for netauth, the difference to the empty programs on the same \
         hooks: netauth's own work on a forwarded packet. The last row is the time a whole packet \
         takes without any filter (1 / the block's no-filter median pps), to set them against.\n"
    );
    let _ = write!(w, "| method |");
    for b in fwd {
        let _ = write!(w, " {} clients |", super::report::fmt_n(b.clients));
    }
    let _ = write!(w, "\n|---|");
    for _ in fwd {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);
    for m in methods() {
        let _ = write!(w, "| {} |", m.label());
        for b in fwd {
            let cell = b
                .inpath
                .as_ref()
                .and_then(|ip| ip.row(m))
                .map(|row| {
                    let own = format!("{:.0}", row.ns_per_packet());
                    match b.inpath.as_ref().and_then(|ip| ip.over_empty(m, auto_mode)) {
                        Some(d) => format!("{own} ({d:+.0})"),
                        None => own,
                    }
                })
                .unwrap_or_else(|| "-".into());
            let _ = write!(w, " {cell} |");
        }
        let _ = writeln!(w);
    }
    let _ = write!(w, "| *a no-filter packet, ns* |");
    for b in fwd {
        let pps = super::stats::median(b.pps.get(&Method::None).map(Vec::as_slice).unwrap_or(&[]));
        let _ = write!(w, " {:.0} |", 1e9 / pps);
    }
    let _ = writeln!(w);
    let details: Vec<String> = fwd
        .iter()
        .filter_map(|b| b.inpath.as_ref().map(|ip| (b.clients, ip)))
        .flat_map(|(n, ip)| {
            ip.rows.iter().map(move |row| {
                format!(
                    "- {} clients, {}: {}",
                    super::report::fmt_n(n),
                    row.method.label(),
                    row.on_path()
                        .map(|g| format!("`{}` {:.1} ns x {} runs", g.name, g.ns_per_run, g.runs))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    let _ = writeln!(
        w,
        "\nThe programs on each flood's path (programs that ran for less than half as many packets, \
         such as an egress hook seeing neighbour traffic, are left out), with the time of one run. \
         The flood's frames come from trafgen's TX ring with the headers after Ethernet in page \
         fragments: netauth's TC program pulls the IP header into the linear area (counted in its \
         run time), which the kernel's IP input would otherwise do itself, outside any program; \
         a NIC's frames usually arrive with their headers linear.\n\n{}",
        details.join("\n")
    );
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_the_difference_of_two_snapshots_summed_by_name() {
        let before = BTreeMap::from([
            (1, ("a (tc)".to_string(), 1_000, 10)),
            (2, ("a (tc)".to_string(), 500, 5)),
            (3, ("idle (xdp)".to_string(), 70, 7)),
        ]);
        let after = BTreeMap::from([
            (1, ("a (tc)".to_string(), 3_000, 60)),
            (2, ("a (tc)".to_string(), 1_500, 55)),
            (3, ("idle (xdp)".to_string(), 70, 7)),
            (4, ("new (xdp)".to_string(), 1_200, 60)),
        ]);
        let r = ran(&before, &after);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].name.as_str(), r[0].runs), ("a (tc)", 100));
        assert!((r[0].ns_per_run - 30.0).abs() < 1e-9);
        assert_eq!((r[1].name.as_str(), r[1].runs), ("new (xdp)", 60));
        let mut row = InPathRow {
            method: Method::TcOnly,
            pps: 1.0,
            progs: r,
        };
        // Both ran for at least half the packets of the busiest: 30 + 20 ns.
        assert!((row.ns_per_packet() - 50.0).abs() < 1e-9);
        // A program that ran for a few packets only is not on the flood's path.
        row.progs.push(ProgRuns {
            name: "egress (tc)".into(),
            runs: 3,
            ns_per_run: 500.0,
        });
        assert!((row.ns_per_packet() - 50.0).abs() < 1e-9);
    }
}
