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

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

pub use crate::model::{SessionView, Via};
use crate::{
    datapath::{Datapath, Identity},
    model::Mac,
    store::Store,
};

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    Expired,
    Idle,
    Quota,
    /// A RADIUS Disconnect-Request (RFC 5176).
    Disconnected,
    /// Replaced by a new login of the same device (accounting only).
    Replaced,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Idle => "idle",
            Self::Quota => "quota",
            Self::Disconnected => "disconnected",
            Self::Replaced => "replaced",
        }
    }

    /// The RADIUS Acct-Terminate-Cause (RFC 2866 §5.10) reported for this end. A used-up
    /// allowance is reported as Session-Timeout, as CoovaChilli does: RFC 2866 has no
    /// cause for it.
    pub fn terminate_cause(self) -> u32 {
        match self {
            Self::Logout => 1,
            Self::Idle => 4,
            Self::Expired | Self::Quota => 5,
            Self::Revoked | Self::Disconnected => 6,
            Self::Replaced => 10,
        }
    }
}

/// Traffic of a session: "up" is what the client sent, "down" what it received.
/// Bytes are layer-3 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub up_bytes: u64,
    pub up_packets: u64,
    pub down_bytes: u64,
    pub down_packets: u64,
}

impl Usage {
    /// `self - o`, floored at zero.
    pub fn minus(self, o: Usage) -> Usage {
        Usage {
            up_bytes: self.up_bytes.saturating_sub(o.up_bytes),
            up_packets: self.up_packets.saturating_sub(o.up_packets),
            down_bytes: self.down_bytes.saturating_sub(o.down_bytes),
            down_packets: self.down_packets.saturating_sub(o.down_packets),
        }
    }

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
    /// RADIUS accounting of this session, if it came from RADIUS (boxed: most sessions
    /// have none, and the session table is the daemon's largest structure).
    pub acct: Option<Box<Acct>>,
}

/// RADIUS accounting state of a session (stored with it, so accounting continues across
/// restarts with the same Acct-Session-Id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acct {
    /// User-Name to report (the Access-Accept's, else the one the user typed).
    pub username: String,
    pub session_id: String,
    /// Class attributes of the Access-Accept, echoed in every accounting request.
    pub class: Vec<Vec<u8>>,
    /// Seconds between Interim-Updates.
    pub interim_s: u64,
    pub nas_port: u32,
    /// Whether RADIUS authenticated the session (Acct-Authentic RADIUS, else Local).
    pub radius_auth: bool,
    /// Counters when accounting started: a renewal keeps the kernel's counters, RADIUS
    /// counts from its Start.
    #[serde(default)]
    pub base: Usage,
    #[serde(default)]
    pub started_ms: u64,
    /// When the last Start/Interim-Update was queued (memory only).
    #[serde(skip)]
    pub last_report_ms: u64,
}

/// Acct-Status-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcctStatus {
    Start,
    Stop,
    Interim,
}

/// One accounting request waiting to be delivered (queued on disk).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcctRecord {
    pub status: AcctStatus,
    pub mac: Mac,
    pub ip: Option<IpAddr>,
    pub acct: Acct,
    pub session_time_s: u64,
    /// Counted since the Start.
    pub usage: Usage,
    pub cause: Option<u32>,
    /// When it happened (wall-clock Unix ms): Event-Timestamp, and Acct-Delay-Time at
    /// sending.
    pub event_ms: u64,
}

impl AcctRecord {
    fn new(status: AcctStatus, s: &Session, acct: &Acct, now_ms: u64, cause: Option<u32>) -> Self {
        Self {
            status,
            mac: s.mac,
            ip: s
                .ips
                .iter()
                .rev()
                .find(|i| i.is_ipv4())
                .or(s.ips.last())
                .copied(),
            acct: acct.clone(),
            session_time_s: now_ms.saturating_sub(acct.started_ms) / 1000,
            usage: if status == AcctStatus::Start {
                Usage::default()
            } else {
                s.usage.minus(acct.base)
            },
            cause,
            event_ms: crate::clock::to_wall_ms(now_ms),
        }
    }
}

/// Which sessions a RADIUS Disconnect/CoA request means: every given field must match,
/// and the session must hold every address in `ips` (a request may name its IPv4 and its
/// IPv6 address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub mac: Option<Mac>,
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub ips: Vec<IpAddr>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.mac.is_none()
            && self.username.is_none()
            && self.session_id.is_none()
            && self.ips.is_empty()
    }

    fn matches(&self, s: &Session) -> bool {
        self.mac.is_none_or(|m| m == s.mac)
            && self.ips.iter().all(|ip| s.ips.contains(ip))
            && self
                .username
                .as_ref()
                .is_none_or(|u| s.acct.as_ref().is_some_and(|a| &a.username == u))
            && self
                .session_id
                .as_ref()
                .is_none_or(|id| s.acct.as_ref().is_some_and(|a| &a.session_id == id))
    }
}

/// New limits for a session (a RADIUS CoA-Request).
#[derive(Clone, Copy, Debug, Default)]
pub struct Change {
    /// Seconds of service counted from the session's start (RADIUS Session-Timeout).
    pub session_timeout_s: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub quota: Option<Quota>,
    /// New Acct-Interim-Interval.
    pub interim_s: Option<u64>,
}

impl Session {
    pub fn view(&self, now_ms: u64) -> SessionView {
        SessionView {
            mac: self.mac,
            ips: self.ips.clone(),
            ip: self.ips.last().copied(),
            via: self.via,
            started: crate::clock::to_wall_ms(self.started_ms) / 1000,
            expires: crate::clock::to_wall_ms(self.ends_ms).div_ceil(1000),
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
            username: self.acct.as_ref().map(|a| a.username.clone()),
            acct_session_id: self.acct.as_ref().map(|a| a.session_id.clone()),
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

/// How often idle limits are checked against the kernel's activity record.
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Sessions handled per lock acquisition in whole-table passes.
const LOCK_CHUNK: usize = 512;

/// Sessions written per piece of a streamed listing.
const LIST_CHUNK: usize = 256;

/// How often address bindings are reconciled with the sessions.
const BINDING_SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Addresses kept per session (and bound to it in the datapath).
const MAX_IPS: usize = 16;

/// How long the portal remembers why a session ended.
const RECENT_END_MS: u64 = 3600 * 1000;

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What to grant on authorization; `None` fields take the daemon's defaults.
#[derive(Clone, Debug, Default)]
pub struct Grant {
    pub duration: Option<Duration>,
    pub idle: Option<Duration>,
    pub quota: Quota,
    /// No default idle timeout or allowance (trusted devices).
    pub exempt: bool,
    /// RADIUS accounting for the session.
    pub acct: Option<Acct>,
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
    Store(#[from] crate::store::StoreError),
    /// The session ended in the datapath (the device is cut off), but its end could not be
    /// recorded yet: it is retried until the store takes it.
    #[error(
        "could not record the end of the session ({0}); the device is cut off, and the end \
         is recorded as soon as the store takes writes again"
    )]
    EndNotRecorded(crate::store::StoreError),
    #[error("no session for {0}")]
    NotFound(Mac),
}

impl From<rusqlite::Error> for SessionError {
    fn from(e: rusqlite::Error) -> Self {
        SessionError::Store(e.into())
    }
}

/// See [`Sessions::store_health`].
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StoreHealth {
    pub healthy: bool,
    pub pending_ends: usize,
    pub unrecorded_clients: usize,
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
    /// Who sends from which address (the datapath's records; no lock needed).
    pub identity: Arc<Identity>,
    /// Reads all counters in a few syscalls, without the lock (`None`: key by key).
    reader: Option<crate::counters::CounterReader>,
    /// Whether the batch reader has failed (then it is not tried again).
    batch_failed: std::sync::atomic::AtomicBool,
    /// The last refresh of every session's counters: (batch?, sessions, how long).
    pub last_full_refresh: Mutex<Option<(bool, usize, Duration)>>,
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
    /// Sessions ended in the datapath whose end the store did not take (a full disk):
    /// retried every tick, and before the same device is authorized again.
    pending_ends: Vec<PendingEnd>,
    /// Devices in the pinned client map that the store does not know (a store moved aside
    /// or lost): kept online and reported, never silently cut off.
    unrecorded: std::collections::HashSet<Mac>,
}

struct PendingEnd {
    session: Session,
    ended_ms: u64,
    reason: EndReason,
    stop: Option<AcctRecord>,
}

impl Inner {
    /// Records the ends the store did not take before; true when none is left.
    fn flush_pending_ends(&mut self) -> bool {
        let Inner {
            store,
            pending_ends,
            ..
        } = self;
        pending_ends.retain(|p| {
            match store.end(&p.session, p.ended_ms, p.reason.as_str(), p.stop.as_ref()) {
                Ok(()) => {
                    info!(mac = %p.session.mac, "the end of the session is recorded now");
                    false
                }
                Err(_) => true,
            }
        });
        pending_ends.is_empty()
    }
}

impl Session {
    /// Takes the kernel's counters (since the entry was created) and its last activity.
    fn apply_kernel(&mut self, k: Usage, last_seen_ms: Option<u64>) {
        self.usage = self.base.plus(k);
        if let Some(seen) = last_seen_ms {
            self.last_active_ms = self.last_active_ms.max(seen);
        }
    }
}

impl Inner {
    /// Refreshes a session's counters and activity from the kernel.
    fn fold(&mut self, mac: Mac, now_ms: u64) {
        let Some(s) = self.sessions.get_mut(&mac) else {
            return;
        };
        if let Some((k, last_seen_ms)) = self.datapath.usage(mac, now_ms) {
            s.apply_kernel(k, last_seen_ms);
        }
    }
}

impl Sessions {
    /// Loads the store and reconciles it with the kernel map both ways: sessions that
    /// ended while netauth was down are removed, sessions missing from the map (a reboot)
    /// are restored, map entries without a session are removed.
    pub fn new(
        datapath: Datapath,
        identity: Arc<Identity>,
        store: Store,
        defaults: Defaults,
        now: SystemTime,
    ) -> anyhow::Result<Arc<Self>> {
        let now_ms = unix_ms(now);
        let mut store = store;
        // Where the clocks stood at the last save says how far the stored times must move
        // (a step of the wall clock while netauth was stopped, or a reboot with a clock
        // that cannot be believed).
        if let Some(mark) = store.clock_mark()? {
            let trusted = crate::clock::wall_trusted();
            let shift = mark.shift_to_now(trusted);
            if shift.abs() >= 1000 {
                info!(
                    shift = %crate::clock::describe(shift),
                    same_boot = mark.boot_id == crate::clock::boot_id(),
                    wall_clock_trusted = trusted,
                    "stored session times moved to the wall clock"
                );
                store.shift_times(shift)?;
            }
        }
        let stored = store.active()?;
        let mut kernel: std::collections::HashSet<Mac> = datapath.keys().into_iter().collect();
        let mut inner = Inner {
            datapath,
            store,
            sessions: HashMap::new(),
            recent_ends: HashMap::new(),
            pending_ends: Vec::new(),
            unrecorded: Default::default(),
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
            if let Some(a) = &mut s.acct {
                a.last_report_ms = now_ms;
            }
            if let Some(reason) = s.due(now_ms) {
                let _ = inner.datapath.revoke(mac);
                let stop = s.acct.as_ref().map(|a| {
                    AcctRecord::new(
                        AcctStatus::Stop,
                        &s,
                        a,
                        now_ms,
                        Some(reason.terminate_cause()),
                    )
                });
                inner
                    .store
                    .end(&s, now_ms, reason.as_str(), stop.as_ref())?;
                info!(%mac, reason = reason.as_str(), "session ended while netauth was down");
                ended += 1;
                continue;
            }
            if !in_kernel {
                inner.datapath.authorize(mac, s.via == Via::Trusted)?;
                inner.store.save(&s, &[])?;
                restored += 1;
            }
            // The addresses it had (a reboot forgot the pinned bindings).
            for ip in &s.ips {
                if let Err(e) = inner.datapath.bind(*ip, mac) {
                    warn!(%mac, %ip, "could not restore an address binding: {e}");
                }
            }
            if !in_kernel {
            } else {
                kept += 1;
            }
            inner.sessions.insert(mac, s);
        }
        for stray in kernel {
            warn!(
                mac = %stray,
                "a device in the datapath is not in the session store (a store moved aside \
                 or lost?): kept online; `netauth revoke` ends it"
            );
            inner.unrecorded.insert(stray);
        }
        info!(
            kept,
            restored, ended, "sessions reconciled with the kernel map"
        );
        inner.store.set_clock_mark(&crate::clock::Mark::now())?;
        // NETAUTH_COUNTER_BATCH=off reads key by key (for kernels whose batch lookups
        // misbehave, and to compare the two).
        let reader = if std::env::var("NETAUTH_COUNTER_BATCH").is_ok_and(|v| v == "off") {
            info!("NETAUTH_COUNTER_BATCH=off: counters are read key by key");
            None
        } else {
            inner
                .datapath
                .counter_reader()
                .map_err(|e| warn!("no batch reader of the client map ({e}); reading key by key"))
                .ok()
        };
        Ok(Arc::new(Self {
            inner: Mutex::new(inner),
            identity,
            reader,
            batch_failed: std::sync::atomic::AtomicBool::new(false),
            last_full_refresh: Mutex::new(None),
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
        let idle = if grant.exempt {
            grant.idle
        } else {
            grant.idle.or(self.defaults.idle_timeout)
        };
        let quota = if grant.quota.is_limited() || grant.exempt {
            grant.quota
        } else {
            self.defaults.quota
        };
        let mut inner = self.lock();
        // An earlier end of this device not on disk yet must be first, or it would later
        // end this new session's row.
        if inner.pending_ends.iter().any(|p| p.session.mac == mac) && !inner.flush_pending_ends() {
            return Err(SessionError::Store(crate::store::StoreError::Sqlite(
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    Some("an earlier end of this device is not recorded yet".into()),
                ),
            )));
        }
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
            acct: None,
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
            if s.ips.len() > MAX_IPS {
                let old = s.ips.remove(0);
                inner.datapath.unbind(old, mac);
            }
        }
        if let Err(e) = inner.datapath.authorize(mac, grant.exempt) {
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
        // RADIUS accounting: a login (or renewal) is a new accounting session; the one
        // it replaces is stopped first.
        let old_acct = s.acct.take();
        if let Some(mut a) = grant.acct.clone() {
            a.base = s.usage;
            a.started_ms = now_ms;
            a.last_report_ms = now_ms;
            s.acct = Some(Box::new(a));
        }
        // The session and its accounting in one acknowledged change.
        let mut records = Vec::new();
        if let Some(old) = &old_acct {
            let cause = EndReason::Replaced.terminate_cause();
            records.push(AcctRecord::new(
                AcctStatus::Stop,
                &s,
                old,
                now_ms,
                Some(cause),
            ));
        }
        if let Some(a) = &s.acct {
            records.push(AcctRecord::new(AcctStatus::Start, &s, a, now_ms, None));
        }
        let refs: Vec<&AcctRecord> = records.iter().collect();
        if let Err(e) = inner.store.save(&s, &refs) {
            if existing.is_none() {
                let _ = inner.datapath.revoke(mac);
            }
            warn!(%mac, "could not record the session: {e}");
            return Err(e.into());
        }
        inner.unrecorded.remove(&mac);
        // The address the device signed in from is its own (the login connection's
        // packets came from its MAC).
        if let Some(ip) = ip
            && let Err(e) = inner.datapath.bind(ip, mac)
        {
            warn!(%mac, %ip, "could not bind the address: {e}");
        }
        inner.sessions.insert(mac, s.clone());
        drop(inner);
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        info!(%mac, %ip, via = via.as_str(), expires_in_s = duration.as_secs(), "client authorized");
        Ok(s.view(now_ms))
    }

    /// Gives an authorized device the addresses it is known by (the gateway's neighbour
    /// table) that no other device holds: a device allowed by an operator may not announce
    /// its addresses again before it sends.
    pub fn adopt_addresses(&self, mac: Mac, ips: &[IpAddr]) {
        let mut inner = self.lock();
        let Inner {
            datapath,
            sessions,
            store,
            ..
        } = &mut *inner;
        let Some(s) = sessions.get_mut(&mac) else {
            return;
        };
        let mut changed = false;
        for ip in ips {
            if datapath.bind_if_free(*ip, mac) && !s.ips.contains(ip) {
                s.ips.push(*ip);
                changed = true;
            }
        }
        if changed && let Err(e) = store.save_ips(s) {
            warn!(%mac, "could not record the device's addresses: {e}");
        }
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
        inner.store.save(&s, &[])?;
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
        // Cut off first: the device loses access even if the store fails below.
        let was_in_map = inner.datapath.revoke(mac)?;
        inner.unrecorded.remove(&mac);
        let session = inner.sessions.remove(&mac);
        let mut not_recorded = None;
        if let Some(s) = &session {
            for ip in &s.ips {
                inner.datapath.unbind(*ip, mac);
            }
            let stop = s.acct.as_ref().map(|a| {
                let cause = Some(reason.terminate_cause());
                AcctRecord::new(AcctStatus::Stop, s, a, now_ms, cause)
            });
            if let Err(e) = inner.store.end(s, now_ms, reason.as_str(), stop.as_ref()) {
                error!(%mac, "could not record the end of the session (the device is cut off; retried until the store takes it): {e}");
                inner.pending_ends.push(PendingEnd {
                    session: s.clone(),
                    ended_ms: now_ms,
                    reason,
                    stop,
                });
                not_recorded = Some(e);
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
        if let Some(e) = not_recorded {
            return Err(SessionError::EndNotRecorded(e));
        }
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
                acct: None,
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

    /// Every session as JSON, written piece by piece to `out` (sorted by MAC), so
    /// listing 100k sessions never holds them all as views or as one JSON document.
    /// Returns false when `out` stopped taking pieces (the client went away).
    pub fn list_json(&self, now: SystemTime, mut out: impl FnMut(Vec<u8>) -> bool) -> bool {
        let now_ms = unix_ms(now);
        let mut macs: Vec<Mac> = self.lock().sessions.keys().copied().collect();
        macs.sort();
        self.fold_in_chunks(&macs, now_ms);
        if !out(b"{\"sessions\":[".to_vec()) {
            return false;
        }
        let mut first = true;
        for chunk in macs.chunks(LIST_CHUNK) {
            let mut buf = Vec::with_capacity(chunk.len() * 512);
            {
                let inner = self.lock();
                for mac in chunk {
                    let Some(s) = inner.sessions.get(mac) else {
                        continue;
                    };
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    let _ = serde_json::to_writer(&mut buf, &s.view(now_ms));
                }
            }
            if !out(buf) {
                return false;
            }
        }
        out(b"]}".to_vec())
    }

    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Ends every session whose time, idle time or allowance has run out; returns how many.
    /// Sessions with a quota have their counters read every call; those with only an idle
    /// limit when `check_idle` (the daemon asks once a second: idle limits are whole
    /// seconds, and with an idle limit on every one of 100k sessions a read of all
    /// counters every 200 ms would keep a quarter of a core busy).
    pub fn enforce(&self, now: SystemTime, check_idle: bool) -> usize {
        let now_ms = unix_ms(now);
        let mut due = Vec::new();
        let limited: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.quota.is_limited() || (check_idle && s.idle_limit_s.is_some()))
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

    /// Refreshes the counters of `macs` from the kernel. When they are a good part of all
    /// sessions, the whole map is read with batch lookups (a few syscalls, without the
    /// lock) and applied; otherwise key by key, taking the lock for [`LOCK_CHUNK`] sessions
    /// at a time: with 100k sessions a single pass would hold logins and portal lookups
    /// for hundreds of milliseconds.
    fn fold_in_chunks(&self, macs: &[Mac], now_ms: u64) {
        let total = self.count();
        let t0 = std::time::Instant::now();
        let record = |batch: bool| {
            if macs.len() >= total && total > 0 {
                *self
                    .last_full_refresh
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some((batch, macs.len(), t0.elapsed()));
            }
        };
        if !macs.is_empty()
            && macs.len().saturating_mul(4) >= total
            && !self.batch_failed.load(Ordering::Relaxed)
            && let Some(reader) = &self.reader
        {
            let mono_now = crate::datapath::monotonic_ns();
            // Each batch (up to 4096 entries) is applied under the lock as it arrives;
            // fresher counters for sessions outside `macs` do no harm.
            let applied = reader.for_each_batch(total, |batch| {
                let mut inner = self.lock();
                for (m, k, seen_ns) in batch {
                    let Some(s) = inner.sessions.get_mut(m) else {
                        continue;
                    };
                    let seen_ms = (*seen_ns != 0).then(|| {
                        now_ms.saturating_sub(mono_now.saturating_sub(*seen_ns) / 1_000_000)
                    });
                    s.apply_kernel(*k, seen_ms);
                }
            });
            match applied {
                Ok(_) => {
                    record(true);
                    return;
                }
                Err(e) => {
                    warn!("batch lookup of the client map failed ({e}); reading key by key");
                    self.batch_failed.store(true, Ordering::Relaxed);
                }
            }
        }
        for chunk in macs.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            for m in chunk {
                inner.fold(*m, now_ms);
            }
        }
        record(false);
    }

    /// Follows a step of the wall clock: stored times move with it (session lengths do
    /// not change). Returns the step, if there was one.
    pub fn follow_clock(&self) -> Option<i64> {
        let mut inner = self.lock();
        // Under the lock: no session is saved between the step and the shift.
        let step = crate::clock::detect_step()?;
        warn!(
            step = %crate::clock::describe(step),
            "the wall clock stepped; session lengths and remaining times are unchanged"
        );
        if let Err(e) = inner.store.shift_times(step) {
            warn!("could not move the stored times with the clock: {e}");
        }
        let horizon = inner.store.set_clock_mark(&crate::clock::Mark::now());
        if let Err(e) = horizon {
            warn!("could not record the clocks: {e}");
        }
        Some(step)
    }

    /// Folds every session's kernel counters into the store.
    pub fn checkpoint(&self, now: SystemTime) {
        let now_ms = unix_ms(now);
        let macs: Vec<Mac> = self.lock().sessions.keys().copied().collect();
        self.fold_in_chunks(&macs, now_ms);
        // Written in chunks, releasing the lock between them.
        for chunk in macs.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            let Inner {
                store, sessions, ..
            } = &mut *inner;
            if let Err(e) = store.save_usage(chunk.iter().filter_map(|m| sessions.get(m))) {
                warn!("could not checkpoint counters: {e}");
            }
        }
        if let Err(e) = self.lock().store.set_clock_mark(&crate::clock::Mark::now()) {
            warn!("could not record the clocks: {e}");
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

    /// The MAC that used `ip` while captive, as the datapath recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        self.identity.recorded_mac(ip)
    }

    /// Reconciles the datapath's address bindings with the sessions: bindings of devices
    /// without a session go, and each session learns the addresses the datapath bound to
    /// it. Returns how many bindings were removed.
    pub fn sweep_bindings(&self) -> usize {
        let all = self.lock().datapath.bindings();
        let mut removed = 0;
        for chunk in all.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            let Inner {
                datapath,
                sessions,
                store,
                ..
            } = &mut *inner;
            let mut learned = Vec::new();
            for (ip, mac) in chunk {
                match sessions.get_mut(mac) {
                    Some(s) => {
                        if !s.ips.contains(ip) {
                            s.ips.push(*ip);
                            if s.ips.len() > MAX_IPS {
                                let old = s.ips.remove(0);
                                datapath.unbind(old, *mac);
                            }
                            learned.push(*mac);
                        }
                    }
                    None => {
                        datapath.unbind(*ip, *mac);
                        removed += 1;
                    }
                }
            }
            // Kept on disk, so a reboot (which forgets the pinned bindings) restores them.
            learned.sort();
            learned.dedup();
            for mac in learned {
                if let Some(s) = sessions.get(&mac)
                    && let Err(e) = store.save_ips(s)
                {
                    warn!(%mac, "could not record the device's addresses: {e}");
                }
            }
        }
        removed
    }

    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.lock().datapath.counters()
    }

    /// Recently active clients that are not authenticated.
    pub fn captive_clients(&self) -> usize {
        let seen: std::collections::HashSet<Mac> = self
            .identity
            .recorded_clients()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        let inner = self.lock();
        seen.into_iter()
            .filter(|m| !inner.sessions.contains_key(m))
            .count()
    }

    /// Recently active unauthenticated clients with an address each (IPv4 preferred).
    pub fn captive_with_addresses(&self) -> Vec<(Mac, Option<IpAddr>)> {
        // The address records are read without the session lock.
        let recorded = self.identity.recorded_clients();
        let inner = self.lock();
        let mut by_mac: HashMap<Mac, Option<IpAddr>> = HashMap::new();
        for (ip, mac) in recorded {
            if inner.sessions.contains_key(&mac) {
                continue;
            }
            let e = by_mac.entry(mac).or_insert(None);
            if e.is_none_or(|cur| cur.is_ipv6() && ip.is_ipv4()) {
                *e = Some(ip);
            }
        }
        let mut v: Vec<_> = by_mac.into_iter().collect();
        v.sort_by_key(|(m, _)| *m);
        v
    }

    /// Usage of active sessions plus that of sessions ended since start.
    pub fn total_usage(&self, now: SystemTime) -> Usage {
        let macs: Vec<Mac> = self.lock().sessions.keys().copied().collect();
        self.fold_in_chunks(&macs, unix_ms(now));
        let active = self
            .lock()
            .sessions
            .values()
            .fold(Usage::default(), |acc, s| acc.plus(s.usage));
        active.plus(
            *self
                .stats
                .ended_usage
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    pub fn map_entries(&self) -> usize {
        if let Some(r) = &self.reader
            && !self.batch_failed.load(Ordering::Relaxed)
            && let Ok(n) = r.for_each_batch(self.count(), |_| {})
        {
            return n;
        }
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
        let created_ms = crate::clock::to_wall_ms(unix_ms(now));
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
        let now_ms = unix_ms(crate::clock::now());
        let mut inner = self.lock();
        let Some(v) = inner.store.voucher(code)? else {
            return Ok(None);
        };
        if v.revoked {
            return Ok(None);
        }
        let starts = v
            .first_used_ms
            .map(crate::clock::from_wall_ms)
            .unwrap_or(now_ms);
        let ends = starts.saturating_add(v.duration_s.saturating_mul(1000));
        if now_ms >= ends {
            return Ok(None);
        }
        let known = inner.store.voucher_has_device(code, mac)?;
        if !known && v.devices_used >= v.devices {
            return Ok(None);
        }
        inner
            .store
            .voucher_use(code, mac, crate::clock::to_wall_ms(now_ms))?;
        Ok(Some(Grant {
            duration: Some(Duration::from_millis(ends - now_ms)),
            idle: None,
            quota: Quota {
                total: v.quota,
                ..Quota::default()
            },
            ..Grant::default()
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

    /// Queues an Interim-Update for every RADIUS session whose interval has passed;
    /// returns how many.
    pub fn accounting_due(&self, now: SystemTime) -> usize {
        let now_ms = unix_ms(now);
        let due: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| {
                s.acct.as_ref().is_some_and(|a| {
                    now_ms.saturating_sub(a.last_report_ms) >= a.interim_s.saturating_mul(1000)
                })
            })
            .map(|s| s.mac)
            .collect();
        let mut queued = 0;
        for chunk in due.chunks(LOCK_CHUNK) {
            let mut inner = self.lock();
            let mut records = Vec::with_capacity(chunk.len());
            for mac in chunk {
                inner.fold(*mac, now_ms);
                let Some(s) = inner.sessions.get(mac) else {
                    continue;
                };
                let Some(a) = s.acct.as_ref() else { continue };
                records.push(AcctRecord::new(AcctStatus::Interim, s, a, now_ms, None));
            }
            // One transaction per chunk: Interim-Updates are running totals, nobody waits
            // on them, and one fsync each would be hundreds a second at scale.
            match inner.store.queue_interims(&records) {
                Ok(()) => {
                    queued += records.len();
                    for r in &records {
                        if let Some(a) =
                            inner.sessions.get_mut(&r.mac).and_then(|s| s.acct.as_mut())
                        {
                            a.last_report_ms = now_ms;
                        }
                    }
                }
                Err(e) => warn!("could not queue {} Interim-Updates: {e}", records.len()),
            }
        }
        queued
    }

    /// The oldest queued accounting requests (id, record).
    pub fn acct_pending(&self, max: usize) -> Vec<(i64, AcctRecord)> {
        match self.lock().store.acct_head(max) {
            Ok(v) => v,
            Err(e) => {
                warn!("reading the accounting queue: {e}");
                Vec::new()
            }
        }
    }

    /// Forgets a delivered accounting request.
    pub fn acct_delivered(&self, id: i64) {
        if let Err(e) = self.lock().store.acct_remove(id) {
            warn!("removing a delivered accounting request from the queue: {e}");
        }
    }

    pub fn acct_queue_len(&self) -> u64 {
        self.lock().store.acct_queue_len().unwrap_or(0)
    }

    /// The highest NAS-Port of an active RADIUS session (to continue numbering).
    pub fn max_nas_port(&self) -> u32 {
        self.lock()
            .sessions
            .values()
            .filter_map(|s| s.acct.as_ref().map(|a| a.nas_port))
            .max()
            .unwrap_or(0)
    }

    /// MACs of the sessions `sel` selects.
    pub fn select(&self, sel: &Selector) -> Vec<Mac> {
        let mut v: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| sel.matches(s))
            .map(|s| s.mac)
            .collect();
        v.sort();
        v
    }

    /// Applies new limits to a session (RADIUS CoA).
    pub fn change(
        &self,
        mac: Mac,
        c: Change,
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
        if let Some(t) = c.session_timeout_s {
            s.ends_ms = s.started_ms.saturating_add(t.saturating_mul(1000));
        }
        if let Some(i) = c.idle_timeout_s {
            s.idle_limit_s = (i > 0).then_some(i);
        }
        if let Some(q) = c.quota {
            s.quota = q;
        }
        if let (Some(i), Some(a)) = (c.interim_s, s.acct.as_mut()) {
            a.interim_s = i;
        }
        inner.store.save(&s, &[])?;
        inner.sessions.insert(mac, s.clone());
        info!(%mac, expires_in_s = s.ends_ms.saturating_sub(now_ms) / 1000, "session limits changed");
        Ok(s.view(now_ms))
    }

    /// Trusted MACs: authorizes those given (without limits) and ends trusted sessions of
    /// MACs no longer in the list.
    pub fn apply_trusted(&self, macs: &[Mac], now: SystemTime) -> Result<(), SessionError> {
        let stale: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.via == Via::Trusted && !macs.contains(&s.mac))
            .map(|s| s.mac)
            .collect();
        for m in stale {
            self.end(m, EndReason::Revoked, now)?;
        }
        for m in macs {
            let grant = Grant {
                // Renewed at every start; ten years is the longest duration netauth takes.
                duration: Some(crate::config::MAX_DURATION),
                exempt: true,
                ..Grant::default()
            };
            self.authorize(*m, None, Via::Trusted, grant, now)?;
        }
        Ok(())
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

    /// Records the session ends the store refused earlier, if it takes them now.
    pub fn retry_pending_ends(&self) {
        let mut inner = self.lock();
        if !inner.pending_ends.is_empty() {
            inner.flush_pending_ends();
        }
    }

    /// What the operator must know about the store: whether it is still the file netauth
    /// opened, how many ended sessions are not on disk yet, how many devices in the
    /// datapath it does not know.
    pub fn store_health(&self) -> StoreHealth {
        let mut inner = self.lock();
        StoreHealth {
            healthy: inner.store.healthy(),
            pending_ends: inner.pending_ends.len(),
            unrecorded_clients: inner.unrecorded.len(),
        }
    }

    /// Attaches the datapath's programs to the interface (after the maps are filled).
    pub fn attach(&self) -> anyhow::Result<crate::datapath::Attached> {
        self.lock().datapath.attach()
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
        let mut last_idle_check = tokio::time::Instant::now();
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            interval.tick().await;
            let me = self.clone();
            let checkpoint = last_checkpoint.elapsed() >= checkpoint_every;
            if checkpoint {
                last_checkpoint = tokio::time::Instant::now();
            }
            let sweep = checkpoint || last_sweep.elapsed() >= BINDING_SWEEP_EVERY;
            if sweep {
                last_sweep = tokio::time::Instant::now();
            }
            let check_idle = last_idle_check.elapsed() >= IDLE_CHECK_EVERY;
            if check_idle {
                last_idle_check = tokio::time::Instant::now();
            }
            // Map syscalls and SQLite writes block: keep them off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                me.retry_pending_ends();
                me.follow_clock();
                let now = crate::clock::now();
                me.enforce(now, check_idle);
                if checkpoint {
                    me.checkpoint(now);
                }
                if sweep {
                    me.sweep_bindings();
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn every_address_a_selector_names_must_belong_to_the_session() {
        let v4: IpAddr = "192.0.2.10".parse().unwrap();
        let v6: IpAddr = "2001:db8:1::10".parse().unwrap();
        let other: IpAddr = "192.0.2.11".parse().unwrap();
        let s = Session {
            mac: "02:00:00:00:01:0a".parse().unwrap(),
            ips: vec![v4, v6],
            via: Via::Admin,
            started_ms: 0,
            ends_ms: 1,
            idle_limit_s: None,
            quota: Quota::default(),
            usage: Usage::default(),
            base: Usage::default(),
            last_active_ms: 0,
            acct: None,
        };
        let by = |ips: Vec<IpAddr>| Selector {
            ips,
            ..Selector::default()
        };
        assert!(by(vec![v4]).matches(&s));
        assert!(by(vec![v4, v6]).matches(&s));
        assert!(
            !by(vec![v4, other]).matches(&s),
            "one address is not enough"
        );
        assert!(
            !by(vec![other, v6]).matches(&s),
            "the order does not matter"
        );
        assert!(!by(vec![v4, v6]).is_empty());
    }
}
