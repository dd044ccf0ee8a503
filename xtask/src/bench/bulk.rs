//! Bulk sessions (issue 13): loading many sessions at once, and getting all of them back
//! after a reboot. On a fresh path of the mode netauth picks by default, `n` sessions are
//! loaded in one batch through the admin API (as `netauth allow --from FILE` does), the
//! gateway "reboots" (netauth stops, its pinned maps and links go, the store remains) and
//! netauth starts again: the restore figure is the time from its start to its serving,
//! which it does only once every stored session is in the client map and its programs
//! are attached. The nftables MAC set is loaded with the same clients for comparison.

use std::time::Instant;

use anyhow::{Context as _, bail};

use super::topo::{Method, Path};

/// What a bulk run measured.
#[derive(Debug, Clone)]
pub struct BulkResult {
    pub clients: u32,
    /// Seconds for one batch of `clients` sessions, answer included (every session is on
    /// disk by then).
    pub load_s: f64,
    /// The daemon's RSS right after the load.
    pub rss_after_load_kb: Option<u64>,
    /// Seconds from netauth's start after a reboot to its serving, every session restored.
    pub restore_s: f64,
    /// Entries in the client map right after the restart.
    pub in_map: usize,
    /// Whether the measured client (the batch's last) passed right after the restart.
    pub passes: bool,
    /// Seconds to load the same clients into the nftables MAC set (`nft -f`).
    pub nft_load_s: Option<f64>,
}

/// Loads `n` sessions into a fresh netauth, reboots it and measures its restore.
pub fn measure(prefix: &str, n: u32) -> anyhow::Result<BulkResult> {
    let nft_load_s = {
        let mut p = Path::new(&format!("{prefix}b"), Method::NftSet)?;
        p.set_clients(n)?;
        p.last_fill.map(|(d, _)| d.as_secs_f64())
    };
    let mut p = Path::new(&format!("{prefix}b"), Method::Auto)?;
    p.set_clients(n)
        .with_context(|| format!("loading {n} sessions"))?;
    let load_s = p.last_fill.context("no fill recorded")?.0.as_secs_f64();
    let rss_after_load_kb = p.daemon_pid().and_then(super::rss_kb);
    if !p.client_passes() {
        bail!("the measured client does not pass after the load");
    }
    p.reboot()?;
    let t = Instant::now();
    p.start_daemon()?;
    let restore_s = t.elapsed().as_secs_f64();
    let passes = p.client_passes();
    let in_map = netauth_lab::bpf::pinned_map_keys(&p.pin_dir().join("NETAUTH_CLIENTS"))
        .context("reading the client map")?
        .len();
    Ok(BulkResult {
        clients: n,
        load_s,
        rss_after_load_kb,
        restore_s,
        in_map,
        passes,
        nft_load_s,
    })
}

/// `--bulk-only`: the bulk figures at each of `counts`, printed.
pub fn print(prefix: &str, counts: &[u32]) -> anyhow::Result<()> {
    for &n in counts {
        let b = measure(prefix, n)?;
        println!(
            "{} sessions: load {:.3} s (nftables set {}; daemon RSS after it {} MB), restore \
             after a reboot {:.3} s ({} entries in the map, the last client {})",
            b.clients,
            b.load_s,
            b.nft_load_s
                .map(|s| format!("{s:.3} s"))
                .unwrap_or("-".into()),
            b.rss_after_load_kb
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or("-".into()),
            b.restore_s,
            b.in_map,
            if b.passes { "passes" } else { "does NOT pass" }
        );
    }
    Ok(())
}
