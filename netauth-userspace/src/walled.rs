//! The walled garden: destinations captive clients may reach (a payment provider, the
//! certificate's OCSP/CRL hosts). Entries are prefixes or host names; host names are
//! resolved by the daemon and re-resolved when their DNS TTL runs out. The resulting set
//! of prefixes is kept in the kernel's LPM tries; changes apply at once, no restart.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use aya::maps::{LpmTrie, MapData, lpm_trie::Key};
use tracing::{info, warn};

use crate::store::{Store, StoreError};

/// Bounds on how long a resolution is used (the TTL, clamped).
const MIN_TTL: Duration = Duration::from_secs(5);
const MAX_TTL: Duration = Duration::from_secs(3600);
/// Retry delay after a failed resolution (old addresses are kept meanwhile).
const RETRY: Duration = Duration::from_secs(5);

/// One operator entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    Prefix(IpAddr, u8),
    Host(String),
}

impl Entry {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some((addr, len)) = t.split_once('/') {
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{s}' is not an address prefix"))?;
            let len: u8 = len
                .parse()
                .map_err(|_| format!("'{s}' has a bad prefix length"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max || len == 0 {
                return Err(format!("'{s}': prefix length must be 1..={max}"));
            }
            return Ok(Entry::Prefix(mask(ip, len), len));
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Entry::Prefix(ip, if ip.is_ipv4() { 32 } else { 128 }));
        }
        let host = t.trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.contains('.')
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !valid {
            return Err(format!(
                "'{s}' is neither an address, a prefix (a.b.c.d/n, x::/n) nor a host name"
            ));
        }
        Ok(Entry::Host(host))
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Prefix(ip, len) => write!(f, "{ip}/{len}"),
            Entry::Host(h) => f.write_str(h),
        }
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

pub use netauth_common::api::WalledEntry as EntryView;

struct Resolved {
    addrs: Vec<IpAddr>,
    refresh_at: Instant,
}

struct State {
    /// Entry -> from the config (true) or the API (false).
    entries: BTreeMap<Entry, bool>,
    resolved: BTreeMap<String, Resolved>,
    installed: BTreeSet<(IpAddr, u8)>,
    v4: LpmTrie<MapData, [u8; 4], u8>,
    v6: LpmTrie<MapData, [u8; 16], u8>,
}

pub struct WalledGarden {
    state: Mutex<State>,
    /// Where entries added through the API are kept.
    store: Store,
}

impl WalledGarden {
    /// The garden of the config's entries and those the API added earlier (kept in the
    /// store; an unreadable one is skipped with a warning).
    pub fn new(
        (v4, v6): crate::datapath::WalledMaps,
        config: &[Entry],
        store: Store,
    ) -> Result<Self, StoreError> {
        let api: Vec<Entry> = store
            .walled_entries()?
            .iter()
            .filter_map(|e| {
                Entry::parse(e)
                    .map_err(|why| warn!(entry = %e, "walled garden: stored entry skipped: {why}"))
                    .ok()
            })
            .collect();
        let mut entries = BTreeMap::new();
        for e in api {
            entries.insert(e, false);
        }
        for e in config {
            entries.insert(e.clone(), true);
        }
        let wg = Self {
            state: Mutex::new(State {
                entries,
                resolved: BTreeMap::new(),
                installed: BTreeSet::new(),
                v4,
                v6,
            }),
            store,
        };
        wg.sync();
        Ok(wg)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an entry, on disk first; returns false if it was there already.
    pub fn add(&self, e: Entry) -> Result<bool, StoreError> {
        self.store.walled_set(&e.to_string(), true)?;
        let added = self.lock().entries.insert(e.clone(), false).is_none();
        if added {
            info!(entry = %e, "walled garden: added");
            self.sync();
        }
        Ok(added)
    }

    /// Removes an API-added entry (from disk too); `Ok(false)` if there was none. Config
    /// entries stay: they belong to the config file.
    pub fn remove(&self, e: &Entry) -> Result<bool, RemoveError> {
        let mut st = self.lock();
        match st.entries.get(e) {
            None => return Ok(false),
            Some(true) => return Err(RemoveError::FromConfig),
            Some(false) => {}
        }
        self.store.walled_set(&e.to_string(), false)?;
        st.entries.remove(e);
        if let Entry::Host(h) = e {
            st.resolved.remove(h);
        }
        drop(st);
        info!(entry = %e, "walled garden: removed");
        self.sync();
        Ok(true)
    }

    pub fn list(&self) -> Vec<EntryView> {
        let st = self.lock();
        st.entries
            .iter()
            .map(|(e, from_config)| EntryView {
                entry: e.to_string(),
                source: if *from_config { "config" } else { "api" }.to_string(),
                addresses: match e {
                    Entry::Host(h) => st
                        .resolved
                        .get(h)
                        .map(|r| r.addrs.clone())
                        .unwrap_or_default(),
                    Entry::Prefix(..) => Vec::new(),
                },
            })
            .collect()
    }

    /// Brings the kernel tries in line with the entries and current resolutions.
    fn sync(&self) {
        let mut st = self.lock();
        let mut want = BTreeSet::new();
        for e in st.entries.keys() {
            match e {
                Entry::Prefix(ip, len) => {
                    want.insert((*ip, *len));
                }
                Entry::Host(h) => {
                    if let Some(r) = st.resolved.get(h) {
                        for a in &r.addrs {
                            want.insert((*a, if a.is_ipv4() { 32 } else { 128 }));
                        }
                    }
                }
            }
        }
        let installed = st.installed.clone();
        for (ip, len) in installed.difference(&want) {
            let r = match ip {
                IpAddr::V4(a) => st.v4.remove(&Key::new(u32::from(*len), a.octets())),
                IpAddr::V6(a) => st.v6.remove(&Key::new(u32::from(*len), a.octets())),
            };
            if let Err(e) = r {
                warn!("walled garden: removing {ip}/{len}: {e}");
            }
            st.installed.remove(&(*ip, *len));
        }
        for (ip, len) in want.difference(&installed) {
            let r = match ip {
                IpAddr::V4(a) => st.v4.insert(&Key::new(u32::from(*len), a.octets()), 1, 0),
                IpAddr::V6(a) => st.v6.insert(&Key::new(u32::from(*len), a.octets()), 1, 0),
            };
            match r {
                Ok(()) => {
                    st.installed.insert((*ip, *len));
                }
                Err(e) => warn!("walled garden: adding {ip}/{len}: {e}"),
            }
        }
    }

    /// Host names whose resolution is due.
    fn due(&self, now: Instant) -> Vec<String> {
        let st = self.lock();
        st.entries
            .keys()
            .filter_map(|e| match e {
                Entry::Host(h) => Some(h),
                _ => None,
            })
            .filter(|h| st.resolved.get(*h).is_none_or(|r| r.refresh_at <= now))
            .cloned()
            .collect()
    }

    fn set_resolution(&self, host: &str, addrs: Option<Vec<IpAddr>>, refresh_at: Instant) {
        let mut st = self.lock();
        if !st.entries.contains_key(&Entry::Host(host.to_string())) {
            return; // removed meanwhile
        }
        let old = st.resolved.get(host).map(|r| r.addrs.clone());
        let addrs = addrs.or(old.clone()).unwrap_or_default();
        if old.as_ref() != Some(&addrs) {
            info!(host, ?addrs, "walled garden: host resolved");
        }
        st.resolved
            .insert(host.to_string(), Resolved { addrs, refresh_at });
        drop(st);
        self.sync();
    }

    /// A resolver from the system's configuration.
    fn resolver() -> Result<hickory_resolver::TokioResolver, String> {
        let mut b = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| format!("no DNS configuration ({e})"))?;
        b.options_mut().ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
        b.build().map_err(|e| format!("no DNS resolver ({e})"))
    }

    /// Runs until cancelled: resolves host names when they are due (their TTL ran out).
    /// Without a resolver configuration (no /etc/resolv.conf) it waits for one; host names
    /// stay unresolved meanwhile, and nothing else is affected.
    pub async fn resolve_loop(self: std::sync::Arc<Self>) {
        let mut warned = false;
        let resolver = loop {
            match Self::resolver() {
                Ok(r) => break r,
                Err(e) => {
                    let hosts = self
                        .lock()
                        .entries
                        .keys()
                        .any(|e| matches!(e, Entry::Host(_)));
                    if hosts && !warned {
                        warn!("walled garden: {e}; host names stay unresolved until there is one");
                        warned = true;
                    }
                    tokio::time::sleep(RESOLVER_RETRY).await;
                }
            }
        };
        loop {
            for host in self.due(Instant::now()) {
                let name = format!("{host}.");
                match resolver.lookup_ip(name.as_str()).await {
                    Ok(lookup) => {
                        let mut addrs: Vec<IpAddr> = lookup.iter().collect();
                        addrs.sort();
                        addrs.dedup();
                        let ttl = lookup
                            .valid_until()
                            .saturating_duration_since(Instant::now())
                            .clamp(MIN_TTL, MAX_TTL);
                        self.set_resolution(&host, Some(addrs), Instant::now() + ttl);
                    }
                    Err(e) => {
                        warn!(host, "walled garden: resolving failed: {e}");
                        self.set_resolution(&host, None, Instant::now() + RETRY);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Why an entry was not removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("this entry comes from the configuration; remove it there")]
    FromConfig,
    #[error("could not record the change: {0}")]
    Store(#[from] StoreError),
}

/// How often a missing resolver configuration is looked for again.
const RESOLVER_RETRY: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse() {
        assert_eq!(
            Entry::parse("198.51.100.77/24"),
            Ok(Entry::Prefix("198.51.100.0".parse().unwrap(), 24))
        );
        assert_eq!(
            Entry::parse("2001:db8::1"),
            Ok(Entry::Prefix("2001:db8::1".parse().unwrap(), 128))
        );
        assert_eq!(
            Entry::parse("Pay.Example.COM."),
            Ok(Entry::Host("pay.example.com".into()))
        );
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::/0",
            "a..b",
            "-x.example",
            "x_y.example",
            "1.2.3.4/x",
        ] {
            assert!(Entry::parse(bad).is_err(), "{bad}");
        }
    }
}
