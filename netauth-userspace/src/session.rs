//! Sessions: who is authorized, until when, within which limits, and what they used.
//! The one writer of the kernel's client map and of the session store, so map, store and
//! memory never disagree. Every change is on disk before it is acknowledged.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tracing::{info, warn};

use crate::{datapath::Datapath, mac::Mac, store::Store};

/// How a session came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// The user accepted the terms on the portal.
    ClickThrough,
    /// An operator ran `netauth allow` (or the API).
    Admin,
    /// A user name and password from the users file.
    Local,
    /// A voucher code.
    Voucher,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClickThrough => "click-through",
            Self::Admin => "admin",
            Self::Local => "local",
            Self::Voucher => "voucher",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "click-through" => Self::ClickThrough,
            "local" => Self::Local,
            "voucher" => Self::Voucher,
            _ => Self::Admin,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    Expired,
    Idle,
    Quota,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Idle => "idle",
            Self::Quota => "quota",
        }
    }
}

/// Traffic of a session: "up" is what the client sent, "down" what it received.
/// Bytes are layer-3 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub up_bytes: u64,
    pub up_packets: u64,
    pub down_bytes: u64,
    pub down_packets: u64,
}

impl Usage {
    fn plus(self, o: Usage) -> Usage {
        Usage {
            up_bytes: self.up_bytes.saturating_add(o.up_bytes),
            up_packets: self.up_packets.saturating_add(o.up_packets),
            down_bytes: self.down_bytes.saturating_add(o.down_bytes),
            down_packets: self.down_packets.saturating_add(o.down_packets),
        }
    }
}

/// A byte allowance; any limit that is set applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub up: Option<u64>,
    pub down: Option<u64>,
    pub total: Option<u64>,
}

impl Quota {
    pub fn is_limited(&self) -> bool {
        self.up.is_some() || self.down.is_some() || self.total.is_some()
    }

    /// Bytes left before the first limit is reached (`None`: unlimited).
    pub fn remaining(&self, u: &Usage) -> Option<u64> {
        [
            self.up.map(|q| q.saturating_sub(u.up_bytes)),
            self.down.map(|q| q.saturating_sub(u.down_bytes)),
            self.total
                .map(|q| q.saturating_sub(u.up_bytes.saturating_add(u.down_bytes))),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub mac: Mac,
    /// Addresses seen for this client, most recent last.
    pub ips: Vec<IpAddr>,
    pub via: Via,
    pub started_ms: u64,
    /// Hard end (unix ms).
    pub ends_ms: u64,
    pub idle_limit_s: Option<u64>,
    pub quota: Quota,
    /// Totals: `base` plus what the kernel entry counted.
    pub usage: Usage,
    /// Totals carried over from before the current kernel entry existed (a reboot).
    pub base: Usage,
    pub last_active_ms: u64,
}

/// What the API and pages show of a session: stable JSON.
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub mac: Mac,
    pub ips: Vec<IpAddr>,
    /// The most recent address, for tables.
    pub ip: Option<IpAddr>,
    pub via: Via,
    /// Unix seconds.
    pub started: u64,
    /// Unix seconds.
    pub expires: u64,
    pub seconds_remaining: u64,
    pub idle_timeout_s: Option<u64>,
    pub idle_s: u64,
    pub quota_up: Option<u64>,
    pub quota_down: Option<u64>,
    pub quota_total: Option<u64>,
    pub bytes_remaining: Option<u64>,
    pub up_bytes: u64,
    pub up_packets: u64,
    pub down_bytes: u64,
    pub down_packets: u64,
}

impl Session {
    pub fn view(&self, now_ms: u64) -> SessionView {
        SessionView {
            mac: self.mac,
            ips: self.ips.clone(),
            ip: self.ips.last().copied(),
            via: self.via,
            started: self.started_ms / 1000,
            expires: self.ends_ms.div_ceil(1000),
            seconds_remaining: self.ends_ms.saturating_sub(now_ms) / 1000,
            idle_timeout_s: self.idle_limit_s,
            idle_s: now_ms.saturating_sub(self.last_active_ms) / 1000,
            quota_up: self.quota.up,
            quota_down: self.quota.down,
            quota_total: self.quota.total,
            bytes_remaining: self.quota.remaining(&self.usage),
            up_bytes: self.usage.up_bytes,
            up_packets: self.usage.up_packets,
            down_bytes: self.usage.down_bytes,
            down_packets: self.usage.down_packets,
        }
    }

    fn due(&self, now_ms: u64) -> Option<EndReason> {
        if now_ms >= self.ends_ms {
            return Some(EndReason::Expired);
        }
        if let Some(idle) = self.idle_limit_s
            && now_ms.saturating_sub(self.last_active_ms) >= idle.saturating_mul(1000)
        {
            return Some(EndReason::Idle);
        }
        if self.quota.remaining(&self.usage) == Some(0) {
            return Some(EndReason::Quota);
        }
        None
    }
}

/// Sessions handled per lock acquisition in whole-table passes.
const LOCK_CHUNK: usize = 512;

/// How long the portal remembers why a session ended.
const RECENT_END_MS: u64 = 3600 * 1000;

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What to grant on authorization; `None` fields take the daemon's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Grant {
    pub duration: Option<Duration>,
    pub idle: Option<Duration>,
    pub quota: Quota,
}

#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub session_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub quota: Quota,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the kernel map rejected the update: {0}")]
    Map(#[from] aya::maps::MapError),
    #[error("the client table is full")]
    Full,
    #[error("the session store failed: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("no session for {0}")]
    NotFound(Mac),
}

/// Counters for metrics.
#[derive(Default)]
pub struct Stats {
    pub logins: AtomicU64,
    pub answered_511: AtomicU64,
    pub answered_302: AtomicU64,
    /// Usage of sessions that have ended since the daemon started.
    pub ended_usage: Mutex<Usage>,
}

pub struct Sessions {
    inner: Mutex<Inner>,
    pub defaults: Defaults,
    pub stats: Stats,
}

struct Inner {
    datapath: Datapath,
    store: Store,
    sessions: HashMap<Mac, Session>,
    /// Why recent sessions ended (for the portal's "why am I captive" line), kept in
    /// memory so answering an intercepted request never queries the store.
    recent_ends: HashMap<Mac, (EndReason, u64)>,
}

impl Inner {
    /// Refreshes a session's counters and activity from the kernel.
    fn fold(&mut self, mac: Mac, now_ms: u64) {
        let Some(s) = self.sessions.get_mut(&mac) else {
            return;
        };
        if let Some((k, last_seen_ms)) = self.datapath.usage(mac, now_ms) {
            s.usage = s.base.plus(k);
            if let Some(seen) = last_seen_ms {
                s.last_active_ms = s.last_active_ms.max(seen);
            }
        }
    }
}

impl Sessions {
    /// Loads the store and reconciles it with the kernel map both ways: sessions that
    /// ended while netauth was down are removed, sessions missing from the map (a reboot)
    /// are restored, map entries without a session are removed.
    pub fn new(
        datapath: Datapath,
        store: Store,
        defaults: Defaults,
        now: SystemTime,
    ) -> anyhow::Result<Arc<Self>> {
        let now_ms = unix_ms(now);
        let stored = store.active()?;
        let mut kernel: std::collections::HashSet<Mac> = datapath.keys().into_iter().collect();
        let mut inner = Inner {
            datapath,
            store,
            sessions: HashMap::new(),
            recent_ends: HashMap::new(),
        };
        let (mut kept, mut restored, mut ended) = (0, 0, 0);
        for mut s in stored {
            let in_kernel = kernel.remove(&s.mac);
            if in_kernel {
                // Same boot: the kernel kept counting while we were away.
                if let Some((k, seen)) = inner.datapath.usage(s.mac, now_ms) {
                    s.usage = s.base.plus(k);
                    if let Some(seen) = seen {
                        s.last_active_ms = s.last_active_ms.max(seen);
                    }
                }
            } else {
                // New kernel entry starts at zero: carry the totals so far.
                s.base = s.usage;
            }
            let mac = s.mac;
            if let Some(reason) = s.due(now_ms) {
                let _ = inner.datapath.revoke(mac);
                inner.store.end(&s, now_ms, reason.as_str())?;
                info!(%mac, reason = reason.as_str(), "session ended while netauth was down");
                ended += 1;
                continue;
            }
            if !in_kernel {
                inner.datapath.authorize(mac)?;
                inner.store.save(&s)?;
                restored += 1;
            } else {
                kept += 1;
            }
            inner.sessions.insert(mac, s);
        }
        for stray in kernel {
            warn!(mac = %stray, "kernel map entry without a session: removed");
            let _ = inner.datapath.revoke(stray);
        }
        info!(
            kept,
            restored, ended, "sessions reconciled with the kernel map"
        );
        Ok(Arc::new(Self {
            inner: Mutex::new(inner),
            defaults,
            stats: Stats::default(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update keeps map, store and table consistent step by step; a panic in
        // another request must not stop the gateway.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Authorizes `mac` (a new session, or a renewal of its active one that keeps its
    /// counters). Map first, then store; a failed store write takes the map entry back.
    pub fn authorize(
        &self,
        mac: Mac,
        ip: Option<IpAddr>,
        via: Via,
        grant: Grant,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        let now_ms = unix_ms(now);
        let duration = grant.duration.unwrap_or(self.defaults.session_timeout);
        let idle = grant.idle.or(self.defaults.idle_timeout);
        let quota = if grant.quota.is_limited() {
            grant.quota
        } else {
            self.defaults.quota
        };
        let mut inner = self.lock();
        inner.fold(mac, now_ms);
        let existing = inner.sessions.get(&mac).cloned();
        let mut s = existing.clone().unwrap_or(Session {
            mac,
            ips: Vec::new(),
            via,
            started_ms: now_ms,
            ends_ms: 0,
            idle_limit_s: None,
            quota: Quota::default(),
            usage: Usage::default(),
            base: Usage::default(),
            last_active_ms: now_ms,
        });
        if existing.is_none() {
            // A fresh kernel entry counts from zero.
            s.base = Usage::default();
        }
        s.via = via;
        s.ends_ms = now_ms.saturating_add(duration.as_millis() as u64);
        s.idle_limit_s = idle.map(|d| d.as_secs().max(1));
        s.quota = quota;
        s.last_active_ms = now_ms;
        if let Some(ip) = ip {
            s.ips.retain(|i| *i != ip);
            s.ips.push(ip);
            if s.ips.len() > 8 {
                s.ips.remove(0);
            }
        }
        if let Err(e) = inner.datapath.authorize(mac) {
            warn!(%mac, "authorization failed: {e}");
            return Err(match &e {
                aya::maps::MapError::SyscallError(sc)
                    if sc.io_error.raw_os_error() == Some(libc::E2BIG) =>
                {
                    SessionError::Full
                }
                _ => SessionError::Map(e),
            });
        }
        if let Err(e) = inner.store.save(&s) {
            if existing.is_none() {
                let _ = inner.datapath.revoke(mac);
            }
            warn!(%mac, "could not record the session: {e}");
            return Err(e.into());
        }
        inner.sessions.insert(mac, s.clone());
        drop(inner);
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        info!(%mac, %ip, via = via.as_str(), expires_in_s = duration.as_secs(), "client authorized");
        Ok(s.view(now_ms))
    }

    /// Moves the session's end `by` later.
    pub fn extend(
        &self,
        mac: Mac,
        by: Duration,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        let now_ms = unix_ms(now);
        let mut inner = self.lock();
        inner.fold(mac, now_ms);
        let mut s = inner
            .sessions
            .get(&mac)
            .cloned()
            .ok_or(SessionError::NotFound(mac))?;
        s.ends_ms = s.ends_ms.saturating_add(by.as_millis() as u64);
        inner.store.save(&s)?;
        inner.sessions.insert(mac, s.clone());
        info!(%mac, by_s = by.as_secs(), "session extended");
        Ok(s.view(now_ms))
    }

    /// Ends `mac`'s session. Returns it if there was one (in the table or only in the map).
    pub fn end(
        &self,
        mac: Mac,
        reason: EndReason,
        now: SystemTime,
    ) -> Result<Option<SessionView>, SessionError> {
        let now_ms = unix_ms(now);
        let mut inner = self.lock();
        inner.fold(mac, now_ms);
        let was_in_map = inner.datapath.revoke(mac)?;
        let session = inner.sessions.remove(&mac);
        if let Some(s) = &session {
            if let Err(e) = inner.store.end(s, now_ms, reason.as_str()) {
                warn!(%mac, "could not record the end of the session: {e}");
            }
            let horizon = now_ms.saturating_sub(RECENT_END_MS);
            inner.recent_ends.retain(|_, (_, at)| *at >= horizon);
            inner.recent_ends.insert(mac, (reason, now_ms));
            let mut ended = self
                .stats
                .ended_usage
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *ended = ended.plus(s.usage);
        }
        drop(inner);
        if session.is_none() && !was_in_map {
            return Ok(None);
        }
        let ip = session
            .as_ref()
            .and_then(|s| s.ips.last())
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        info!(%mac, %ip, reason = reason.as_str(), "client revoked");
        Ok(Some(match session {
            Some(s) => s.view(now_ms),
            None => Session {
                mac,
                ips: Vec::new(),
                via: Via::Admin,
                started_ms: 0,
                ends_ms: 0,
                idle_limit_s: None,
                quota: Quota::default(),
                usage: Usage::default(),
                base: Usage::default(),
                last_active_ms: 0,
            }
            .view(now_ms),
        }))
    }

    pub fn get(&self, mac: Mac, now: SystemTime) -> Option<SessionView> {
        let now_ms = unix_ms(now);
        let mut inner = self.lock();
        inner.fold(mac, now_ms);
        inner.sessions.get(&mac).map(|s| s.view(now_ms))
    }

    pub fn list(&self, now: SystemTime) -> Vec<SessionView> {
        let now_ms = unix_ms(now);
        let macs: Vec<Mac> = self.lock().sessions.keys().copied().collect();
        self.fold_in_chunks(&macs, now_ms);
        let mut v: Vec<_> = self
            .lock()
            .sessions
            .values()
            .map(|s| s.view(now_ms))
            .collect();
        v.sort_by_key(|s| s.mac);
        v
    }

    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Ends every session whose time, idle time or allowance has run out; returns how many.
    /// Only sessions with an idle limit or a quota need the kernel's counters each tick.
    pub fn enforce(&self, now: SystemTime) -> usize {
        let now_ms = unix_ms(now);
        let mut due = Vec::new();
        let limited: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.idle_limit_s.is_some() || s.quota.is_limited())
            .map(|s| s.mac)
            .collect();
        self.fold_in_chunks(&limited, now_ms);
        for s in self.lock().sessions.values() {
            if let Some(r) = s.due(now_ms) {
                due.push((s.mac, r));
            }
        }
        let mut ended = 0;
        for (mac, reason) in due {
            match self.end(mac, reason, now) {
                Ok(_) => ended += 1,
                Err(e) => warn!(%mac, "could not end session: {e}"),
            }
        }
        ended
    }

    /// Refreshes the counters of `macs` from the kernel, taking the lock for
    /// [`LOCK_CHUNK`] sessions at a time: with 100k sessions a single pass would hold
    /// logins and portal lookups for hundreds of milliseconds.
    fn fold_in_chunks(&self, macs: &[Mac], now_ms: u64) {
        for chunk in macs.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            for m in chunk {
                inner.fold(*m, now_ms);
            }
        }
    }

    /// Folds every session's kernel counters into the store.
    pub fn checkpoint(&self, now: SystemTime) {
        let now_ms = unix_ms(now);
        let macs: Vec<Mac> = self.lock().sessions.keys().copied().collect();
        // In chunks, releasing the lock between them: with 100k sessions a single pass
        // would hold logins and portal lookups for hundreds of milliseconds.
        for chunk in macs.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            for m in chunk {
                inner.fold(*m, now_ms);
            }
            let Inner {
                store, sessions, ..
            } = &mut *inner;
            if let Err(e) = store.save_usage(chunk.iter().filter_map(|m| sessions.get(m))) {
                warn!("could not checkpoint counters: {e}");
            }
        }
    }

    /// Why `mac`'s last session ended, if it ended within the last hour (and since this
    /// daemon started).
    pub fn recent_end_reason(&self, mac: Mac, now: SystemTime) -> Option<EndReason> {
        let since = unix_ms(now).saturating_sub(RECENT_END_MS);
        let inner = self.lock();
        if inner.sessions.contains_key(&mac) {
            return None;
        }
        inner
            .recent_ends
            .get(&mac)
            .filter(|(_, at)| *at >= since)
            .map(|(r, _)| *r)
    }

    /// The MAC that last sent from `ip`, as the datapath recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        self.lock().datapath.recorded_mac(ip)
    }

    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.lock().datapath.counters()
    }

    /// Recently active clients that are not authenticated.
    pub fn captive_clients(&self) -> usize {
        let inner = self.lock();
        inner
            .datapath
            .recorded_macs()
            .into_iter()
            .filter(|m| !inner.sessions.contains_key(m))
            .count()
    }

    /// Usage of active sessions plus that of sessions ended since start.
    pub fn total_usage(&self, now: SystemTime) -> Usage {
        let active = self.list(now).into_iter().fold(Usage::default(), |acc, v| {
            acc.plus(Usage {
                up_bytes: v.up_bytes,
                up_packets: v.up_packets,
                down_bytes: v.down_bytes,
                down_packets: v.down_packets,
            })
        });
        active.plus(
            *self
                .stats
                .ended_usage
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    pub fn map_entries(&self) -> usize {
        self.lock().datapath.keys().len()
    }

    pub fn is_authorized(&self, mac: Mac) -> bool {
        self.lock().datapath.is_authorized(mac)
    }

    /// Creates `count` vouchers; returns them.
    pub fn create_vouchers(
        &self,
        count: usize,
        duration: Duration,
        quota: Option<u64>,
        devices: u32,
        now: SystemTime,
    ) -> anyhow::Result<Vec<crate::store::Voucher>> {
        let created_ms = unix_ms(now);
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(crate::store::Voucher {
                code: crate::auth::new_voucher_code()?,
                duration_s: duration.as_secs().max(1),
                quota,
                devices,
                created_ms,
                first_used_ms: None,
                revoked: false,
                devices_used: 0,
            });
        }
        self.lock().store.voucher_create(&v)?;
        info!(
            count,
            duration_s = duration.as_secs(),
            devices,
            "vouchers created"
        );
        Ok(v)
    }

    pub fn vouchers(&self) -> Result<Vec<crate::store::Voucher>, SessionError> {
        Ok(self.lock().store.vouchers()?)
    }

    /// Checks a voucher for `mac` and records its use. `Ok(None)`: not valid (unknown,
    /// revoked, used up in time, or no device slot left).
    pub fn redeem_voucher(&self, code: &str, mac: Mac) -> Result<Option<Grant>, SessionError> {
        let now_ms = unix_ms(SystemTime::now());
        let mut inner = self.lock();
        let Some(v) = inner.store.voucher(code)? else {
            return Ok(None);
        };
        if v.revoked {
            return Ok(None);
        }
        let starts = v.first_used_ms.unwrap_or(now_ms);
        let ends = starts.saturating_add(v.duration_s.saturating_mul(1000));
        if now_ms >= ends {
            return Ok(None);
        }
        let known = inner.store.voucher_has_device(code, mac)?;
        if !known && v.devices_used >= v.devices {
            return Ok(None);
        }
        inner.store.voucher_use(code, mac, now_ms)?;
        Ok(Some(Grant {
            duration: Some(Duration::from_millis(ends - now_ms)),
            idle: None,
            quota: Quota {
                total: v.quota,
                ..Quota::default()
            },
        }))
    }

    /// Revokes a voucher and ends the sessions of the devices that used it.
    pub fn revoke_voucher(&self, code: &str, now: SystemTime) -> Result<bool, SessionError> {
        let macs = self.lock().store.voucher_revoke(code)?;
        let Some(macs) = macs else {
            return Ok(false);
        };
        for m in macs {
            let via_voucher = self
                .lock()
                .sessions
                .get(&m)
                .is_some_and(|s| s.via == Via::Voucher);
            if via_voucher {
                self.end(m, EndReason::Revoked, now)?;
            }
        }
        Ok(true)
    }

    /// Walled-garden entries stored by the API.
    pub fn walled_entries(&self) -> Vec<String> {
        self.lock().store.walled_entries().unwrap_or_default()
    }

    /// Records (or forgets) an API walled-garden entry on disk.
    pub fn walled_persist(&self, entry: &str, present: bool) -> Result<(), SessionError> {
        Ok(self.lock().store.walled_set(entry, present)?)
    }

    /// The walled-garden maps, taken once by the daemon.
    pub fn take_walled_maps(&self) -> Option<crate::datapath::WalledMaps> {
        self.lock().datapath.walled.take()
    }

    /// Takes the datapath down for good (`netauth stop --detach`).
    pub fn detach(&self) -> anyhow::Result<()> {
        self.lock().datapath.detach()
    }

    /// Runs until cancelled: enforces limits every `tick` and checkpoints counters every
    /// `checkpoint_every`.
    pub async fn maintain(self: Arc<Self>, tick: Duration, checkpoint_every: Duration) {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint = tokio::time::Instant::now();
        loop {
            interval.tick().await;
            let me = self.clone();
            let checkpoint = last_checkpoint.elapsed() >= checkpoint_every;
            if checkpoint {
                last_checkpoint = tokio::time::Instant::now();
            }
            // Map syscalls and SQLite writes block: keep them off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                let now = SystemTime::now();
                me.enforce(now);
                if checkpoint {
                    me.checkpoint(now);
                }
            })
            .await;
        }
    }
}
