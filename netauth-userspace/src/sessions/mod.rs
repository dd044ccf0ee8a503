//! The session table: who is authorized, until when, within which limits, and what they
//! used. The one writer of the kernel's client map and address bindings, and of the
//! sessions on disk, so map, store and memory never disagree: the map is changed first
//! (a device is cut off even if the disk fails), and every change is on disk before it
//! is acknowledged. What follows from a session starting or ending (accounting) is told
//! to an [`Observer`], which records it in the same transaction.
//!
//! - `active`: the sessions, indexed by end, quota and the moment an idle limit can run out.
//! - `authorize`: sessions granted, one at a time or an operator's batch at once.
//! - `transfer`: a voucher's session moved to a device's new address (`--on-new-mac`).
//! - `restore`: the table at start, reconciled with the kernel map and the clocks.
//! - `maintain`: limits enforced, counters checkpointed, bindings swept, clock steps.
//! - `usage`: the kernel's counters folded into the sessions.
//! - `views`: what operators and the portal read.

mod active;
mod authorize;
pub mod events;
mod maintain;
mod restore;
mod transfer;
mod usage;
mod views;

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64},
    },
    time::{Duration, SystemTime},
};

use serde::Serialize;
use tracing::{error, info, warn};

use active::Active;
pub use authorize::Authorized;
pub use events::{Event, Observer};

use crate::{
    datapath::{Bindings, ClientMap, ClientView, counters::CounterReader},
    model::{Change, Defaults, EndReason, Grant, Mac, Session, SessionView, Usage, Via, unix_ms},
    store::{Store, StoreError},
};

/// A condition a session must still meet, at a time (ms), to be ended.
type Condition<'a> = dyn Fn(&Session, u64) -> bool + 'a;

/// Sessions handled per lock acquisition in whole-table passes.
const LOCK_CHUNK: usize = 512;

/// Addresses kept per session (and bound to it in the datapath).
const MAX_IPS: usize = 16;

/// How long the portal remembers why a session ended.
const RECENT_END_MS: u64 = 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the kernel map rejected the update: {0}")]
    Map(#[from] aya::maps::MapError),
    #[error("the client table is full")]
    Full,
    /// A batch's new devices did not all fit in the client map: nothing was authorized.
    #[error(
        "the client table is full: {fitted} of the batch's {new} new devices fitted; \
         nothing was authorized"
    )]
    BatchFull { fitted: usize, new: usize },
    /// A batch named a device twice.
    #[error("{0} is in the batch twice")]
    Repeated(Mac),
    #[error("the session store failed: {0}")]
    Store(#[from] StoreError),
    /// The session ended in the datapath (the device is cut off), but its end could not be
    /// recorded yet: it is retried until the store takes it.
    #[error(
        "could not record the end of the session ({0}); the device is cut off, and the end \
         is recorded as soon as the store takes writes again"
    )]
    EndNotRecorded(StoreError),
    #[error("no session for {0}")]
    NotFound(Mac),
    /// The voucher the grant spends is no longer good (another device took its last slot,
    /// it was revoked, or its time ran out since the login was checked).
    #[error("the voucher is no longer valid")]
    VoucherSpent,
    /// The account has sessions on as many devices as it may (RADIUS Port-Limit), and
    /// `--on-new-mac refuse` keeps them.
    #[error("the account is signed in on as many devices as it may be")]
    DeviceLimit,
    /// None of the account's other devices has a session left to move (they ended since
    /// the login was checked): the login is an ordinary one.
    #[error("no session of the account to move")]
    NothingToMove,
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
    /// Usage of sessions that have ended since the daemon started.
    pub ended_usage: Mutex<Usage>,
}

/// Where sessions live: memory, the kernel and the disk.
pub struct Parts {
    pub clients: ClientMap,
    pub bindings: Bindings,
    pub store: Store,
}

pub struct Sessions {
    table: Mutex<Table>,
    store: Store,
    /// Lookups in the client map that need no lock.
    view: Arc<ClientView>,
    /// Reads all counters in a few syscalls, without the lock (`None`: key by key).
    reader: Option<CounterReader>,
    /// Whether the batch reader has failed (then it is not tried again).
    batch_failed: AtomicBool,
    /// The last refresh of every session's counters: (batch?, sessions, how long).
    pub last_full_refresh: Mutex<Option<(bool, usize, Duration)>>,
    /// What the last checkpoint wrote of each session, so the next writes only changes.
    checkpointed: Mutex<HashMap<Mac, maintain::Written>>,
    pub defaults: Defaults,
    pub stats: Stats,
    observer: Arc<dyn Observer>,
}

struct Table {
    clients: ClientMap,
    bindings: Bindings,
    /// Indexed by end and counted limits, for the enforcement tick; dense, so whole-table
    /// passes can walk it a chunk at a time ([`Sessions::scan`]).
    sessions: Active,
    /// Why recent sessions ended (for the portal's "why am I captive" line), kept in
    /// memory so answering an intercepted request never queries the store.
    recent_ends: HashMap<Mac, (EndReason, u64)>,
    /// Sessions ended in the datapath whose end the store did not take (a full disk):
    /// retried every tick, and before the same device is authorized again.
    pending_ends: Vec<PendingEnd>,
    /// Devices in the pinned client map that the store does not know (a store moved aside
    /// or lost): kept online and reported, never silently cut off.
    unrecorded: HashSet<Mac>,
}

struct PendingEnd {
    session: Session,
    ended_ms: u64,
    reason: EndReason,
}

impl Table {
    /// Refreshes a session's counters and activity from the kernel. Whether the session
    /// has its kernel entry.
    fn fold(&mut self, mac: Mac, now_ms: u64) -> bool {
        let Some(mut s) = self.sessions.get_mut(&mac) else {
            return false;
        };
        let Some((k, last_seen_ms)) = self.clients.usage(mac, now_ms) else {
            return false;
        };
        s.apply_kernel(k, last_seen_ms);
        true
    }

    /// Puts the session's rate limits into the datapath (a failure leaves the device
    /// unlimited, never captive or uncounted: authorization is the client map's alone).
    fn apply_rate(&mut self, s: &Session) {
        if let Err(e) = self.clients.set_rate(s.mac, s.rate) {
            warn!(mac = %s.mac, "could not set the rate limits: {e}");
        }
    }

    /// Remembers `ip` as the session's latest address, dropping (and unbinding) the
    /// oldest beyond [`MAX_IPS`].
    fn remember_ip(bindings: &mut Bindings, s: &mut Session, ip: IpAddr) {
        s.ips.retain(|i| *i != ip);
        s.ips.push(ip);
        if s.ips.len() > MAX_IPS {
            let old = s.ips.remove(0);
            bindings.unbind(old, s.mac);
        }
    }
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update keeps map, store and table consistent step by step; a panic in
        // another request must not stop the gateway.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the end of a session and what follows from it, as one acknowledged change.
    fn record_end(&self, s: &Session, ended_ms: u64, reason: EndReason) -> Result<(), StoreError> {
        self.store
            .ack(|tx| self.record_end_in(tx, s, ended_ms, reason))
    }

    /// Records the end of a session and what follows from it in `tx`.
    fn record_end_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        s: &Session,
        ended_ms: u64,
        reason: EndReason,
    ) -> Result<(), StoreError> {
        crate::store::sessions::end(tx, s, ended_ms, reason.as_str())?;
        self.observer
            .record(tx, &Event::Ended { session: s, reason }, ended_ms)?;
        Ok(())
    }

    /// Changes an active session with `f` and records it.
    fn update(
        &self,
        mac: Mac,
        now_ms: u64,
        f: impl FnOnce(&mut Session),
    ) -> Result<Session, SessionError> {
        let mut t = self.lock();
        t.fold(mac, now_ms);
        let mut s = t
            .sessions
            .get(&mac)
            .cloned()
            .ok_or(SessionError::NotFound(mac))?;
        f(&mut s);
        self.store
            .ack(|tx| crate::store::sessions::save(tx, &s).map_err(StoreError::from))?;
        t.apply_rate(&s);
        t.sessions.insert(s.clone());
        Ok(s)
    }

    /// Moves the session's end `by` later.
    pub fn extend(
        &self,
        mac: Mac,
        by: Duration,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        let now_ms = unix_ms(now);
        let s = self.update(mac, now_ms, |s| {
            s.ends_ms = s.ends_ms.saturating_add(by.as_millis() as u64);
        })?;
        info!(%mac, by_s = by.as_secs(), "session extended");
        Ok(s.view(now_ms))
    }

    /// Applies new limits to a session (RADIUS CoA).
    pub fn change(
        &self,
        mac: Mac,
        c: Change,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        let now_ms = unix_ms(now);
        let s = self.update(mac, now_ms, |s| {
            if let Some(t) = c.session_timeout_s {
                s.ends_ms = s.started_ms.saturating_add(t.saturating_mul(1000));
            }
            if let Some(i) = c.idle_timeout_s {
                s.idle_limit_s = (i > 0).then_some(i);
            }
            if let Some(q) = c.quota {
                s.quota = q;
            }
            if let Some(r) = c.rate_up {
                s.rate.up = r;
            }
            if let Some(r) = c.rate_down {
                s.rate.down = r;
            }
            if let (Some(i), Some(a)) = (c.interim_s, s.acct.as_mut()) {
                a.interim_s = i;
            }
        })?;
        let expires_in_s = s.ends_ms.saturating_sub(now_ms) / 1000;
        info!(%mac, expires_in_s, "session limits changed");
        Ok(s.view(now_ms))
    }

    /// Ends `mac`'s session. Returns it if there was one (in the table or only in the map).
    pub fn end(
        &self,
        mac: Mac,
        reason: EndReason,
        now: SystemTime,
    ) -> Result<Option<SessionView>, SessionError> {
        self.end_where(mac, reason, now, None)
    }

    /// Ends `mac`'s session if, with its counters fresh and under the table's lock, it
    /// still meets `only_if` (a session extended since it was found due, or renewed by a
    /// new login, is kept). Returns it if it ended.
    pub fn end_if(
        &self,
        mac: Mac,
        reason: EndReason,
        now: SystemTime,
        only_if: impl Fn(&Session, u64) -> bool,
    ) -> Result<Option<SessionView>, SessionError> {
        self.end_where(mac, reason, now, Some(&only_if))
    }

    fn end_where(
        &self,
        mac: Mac,
        reason: EndReason,
        now: SystemTime,
        only_if: Option<&Condition<'_>>,
    ) -> Result<Option<SessionView>, SessionError> {
        let now_ms = unix_ms(now);
        let mut t = self.lock();
        t.fold(mac, now_ms);
        if let Some(check) = only_if {
            match t.sessions.get(&mac) {
                Some(s) if check(s, now_ms) => {}
                _ => return Ok(None),
            }
        }
        // Cut off first: the device loses access even if the store fails below.
        let was_in_map = t.clients.revoke(mac)?;
        t.unrecorded.remove(&mac);
        let session = t.sessions.swap_remove(&mac);
        let mut not_recorded = None;
        if let Some(s) = &session {
            for ip in &s.ips {
                t.bindings.unbind(*ip, mac);
            }
            if let Err(e) = self.record_end(s, now_ms, reason) {
                error!(%mac, "could not record the end of the session (the device is cut off; retried until the store takes it): {e}");
                t.pending_ends.push(PendingEnd {
                    session: s.clone(),
                    ended_ms: now_ms,
                    reason,
                });
                not_recorded = Some(e);
            }
            let horizon = now_ms.saturating_sub(RECENT_END_MS);
            t.recent_ends.retain(|_, (_, at)| *at >= horizon);
            t.recent_ends.insert(mac, (reason, now_ms));
            let mut ended = self
                .stats
                .ended_usage
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *ended = ended.plus(s.usage);
        }
        drop(t);
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
        let s = session.unwrap_or_else(|| Session::unrecorded(mac));
        Ok(Some(s.view(now_ms)))
    }

    /// Records the ends the store did not take before; true when none is left.
    fn flush_pending_ends(&self, t: &mut Table) -> bool {
        t.pending_ends.retain(
            |p| match self.record_end(&p.session, p.ended_ms, p.reason) {
                Ok(()) => {
                    info!(mac = %p.session.mac, "the end of the session is recorded now");
                    false
                }
                Err(_) => true,
            },
        );
        t.pending_ends.is_empty()
    }

    /// Records the session ends the store refused earlier, if it takes them now.
    pub fn retry_pending_ends(&self) {
        let mut t = self.lock();
        if !t.pending_ends.is_empty() {
            self.flush_pending_ends(&mut t);
        }
    }

    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Sessions of locally administered (randomised) addresses.
    pub fn count_randomized(&self) -> usize {
        self.lock()
            .sessions
            .keys()
            .filter(|m| m.is_locally_administered())
            .count()
    }

    /// Sessions with a rate limit, and the packets the datapath dropped for their limits
    /// (download beyond the horizon, upload beyond the burst).
    pub fn rate_stats(&self) -> (usize, u64, u64) {
        let t = self.lock();
        let limited = t.sessions.values().filter(|s| s.rate.is_limited()).count();
        let (mut down, mut up) = (0, 0);
        for mac in t.clients.rate_keys() {
            if let Some(r) = t.clients.rate_state(mac) {
                down += r.down_dropped;
                up += r.up_dropped;
            }
        }
        (limited, down, up)
    }

    /// Whether the datapath lets `mac` through (no lock: a lookup in the kernel map).
    pub fn is_authorized(&self, mac: Mac) -> bool {
        self.view.is_authorized(mac)
    }

    /// The client map's reader, for those who only ask "is this device let through?".
    pub fn client_view(&self) -> Arc<ClientView> {
        self.view.clone()
    }

    /// Visits every session, [`LOCK_CHUNK`] at a time under the table's lock, so a login
    /// waits for one chunk, never for a walk of 100k sessions. A session moved into an
    /// already visited place by a removal meanwhile is missed until the next walk (for
    /// the checkpoint, 10 s later).
    fn scan(&self, mut f: impl FnMut(&Session)) {
        self.in_chunks(
            |t| t.sessions.len(),
            |t, r| {
                t.sessions
                    .get_range(r)
                    .into_iter()
                    .flat_map(|c| c.values())
                    .for_each(&mut f)
            },
        );
    }

    /// The sessions with a quota, [`LOCK_CHUNK`] at a time under the lock.
    fn with_quota(&self) -> Vec<Mac> {
        let mut out = Vec::new();
        self.in_chunks(
            |t| t.sessions.quota_len(),
            |t, r| out.extend(t.sessions.quota_range(r)),
        );
        out
    }

    /// The chunked walk of [`Sessions::scan`] and [`Sessions::with_quota`]: `len` items,
    /// handed to `take` a range of at most [`LOCK_CHUNK`] at a time, the lock taken anew
    /// for each range.
    fn in_chunks(
        &self,
        len: impl Fn(&Table) -> usize,
        mut take: impl FnMut(&Table, std::ops::Range<usize>),
    ) {
        let mut at = 0;
        loop {
            let t = self.lock();
            let end = (at + LOCK_CHUNK).min(len(&t));
            if at >= end {
                return;
            }
            take(&t, at..end);
            at = end;
        }
    }

    /// MACs of the sessions `pred` selects, sorted.
    pub fn select(&self, pred: impl Fn(&Session) -> bool) -> Vec<Mac> {
        let mut v: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| pred(s))
            .map(|s| s.mac)
            .collect();
        v.sort();
        v
    }

    /// What the operator must know about the store: whether it is still the file netauth
    /// opened, how many ended sessions are not on disk yet, how many devices in the
    /// datapath it does not know.
    pub fn store_health(&self) -> StoreHealth {
        let healthy = self.store.healthy();
        let t = self.lock();
        StoreHealth {
            healthy,
            pending_ends: t.pending_ends.len(),
            unrecorded_clients: t.unrecorded.len(),
        }
    }

    /// Trusted MACs: authorizes those given (without limits) and ends trusted sessions of
    /// MACs no longer in the list.
    pub fn apply_trusted(&self, macs: &[Mac], now: SystemTime) -> Result<(), SessionError> {
        for m in self.select(|s| s.via == Via::Trusted && !macs.contains(&s.mac)) {
            self.end(m, EndReason::Revoked, now)?;
        }
        for m in macs {
            let grant = Grant {
                // Renewed at every start; ten years is the longest duration netauth takes.
                duration: Some(crate::model::MAX_DURATION),
                exempt: true,
                ..Grant::by(Via::Trusted)
            };
            self.authorize(*m, None, grant, now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_maintain;
