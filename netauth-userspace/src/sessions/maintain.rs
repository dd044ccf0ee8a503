//! Keeping the table true over time: limits enforced, counters checkpointed to disk,
//! address bindings reconciled, stored times moved when the wall clock steps, and ends
//! the store refused retried.

use std::{
    collections::HashMap,
    sync::{Arc, MutexGuard},
    time::{Duration, SystemTime},
};

use tracing::warn;

use super::{LOCK_CHUNK, Sessions, Table};
use crate::{
    clock,
    model::{EndReason, Mac, Session, unix_ms},
};

/// What a checkpoint wrote of a session (which session, its counters, its last activity),
/// as a 64-bit SipHash: 16 bytes a session in the map instead of 56. Two different states
/// hash alike with a chance of 2^-64, and then only one checkpoint skips the session (its
/// next change is written).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Written(u64);

impl Written {
    fn of(s: &Session) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (s.started_ms, s.usage, s.last_active_ms).hash(&mut h);
        Written(h.finish())
    }
}

/// How often idle limits are checked against the kernel's activity record.
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Sessions written per checkpoint transaction.
const CHECKPOINT_CHUNK: usize = 64;

/// How often address bindings are reconciled with the sessions.
const BINDING_SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Sessions {
    /// Ends every session whose time, idle time or allowance has run out; returns how many.
    /// Sessions with a quota have their counters read every call; those with an idle
    /// limit when `check_idle` (the daemon asks once a second: idle limits are whole
    /// seconds), and only once their last known activity plus the limit has passed.
    ///
    /// A session found due is ended only if it is still due when its end is taken, under
    /// the table's lock: one extended or renewed in between is kept.
    pub fn enforce(&self, now: SystemTime, check_idle: bool) -> usize {
        let due = self.due(now, check_idle);
        self.end_due(due, now)
    }

    /// The sessions due to end at `now`, and why. Found through the table's index, never
    /// by a walk of every session: those whose time is up, and those whose counters must
    /// be read first (a quota, or an idle limit when `check_idle`), which are then read
    /// and checked.
    pub(super) fn due(&self, now: SystemTime, check_idle: bool) -> Vec<(Mac, EndReason)> {
        let now_ms = unix_ms(now);
        let mut due: Vec<(Mac, EndReason)> = {
            let t = self.lock();
            t.sessions
                .ended_by(now_ms)
                .filter_map(|s| s.due(now_ms).map(|r| (s.mac, r)))
                .collect()
        };
        let mut limited = self.with_quota();
        if check_idle {
            // Only those whose idle limit can have run out (see `active`).
            let t = self.lock();
            limited.extend(t.sessions.idle_due_by(now_ms));
        }
        limited.sort();
        limited.dedup();
        self.fold_in_chunks(&limited, now_ms);
        for chunk in limited.chunks(LOCK_CHUNK) {
            let t = self.lock();
            due.extend(chunk.iter().filter_map(|m| {
                let s = t.sessions.get(m)?;
                s.due(now_ms).map(|r| (*m, r))
            }));
        }
        // A session both out of time and over its quota is ended once, for its time.
        let mut seen = std::collections::HashSet::with_capacity(due.len());
        due.retain(|(m, _)| seen.insert(*m));
        due
    }

    /// Ends the sessions found due that still are, each checked again under the lock.
    pub(super) fn end_due(&self, due: Vec<(Mac, EndReason)>, now: SystemTime) -> usize {
        let mut ended = 0;
        for (mac, reason) in due {
            match self.end_if(mac, reason, now, |s, at| s.due(at) == Some(reason)) {
                Ok(Some(_)) => ended += 1,
                Ok(None) => {}
                Err(e) => warn!(%mac, "could not end session: {e}"),
            }
        }
        ended
    }

    /// Follows a step of the wall clock: stored times move with it (session lengths do
    /// not change). Returns the step, if there was one.
    pub fn follow_clock(&self) -> Option<i64> {
        // Under the lock: no session is saved between the step and the shift.
        let _t = self.lock();
        let step = clock::detect_step()?;
        warn!(
            step = %clock::describe(step),
            "the wall clock stepped; session lengths and remaining times are unchanged"
        );
        if let Err(e) = self.store.shift_times(step) {
            warn!("could not move the stored times with the clock: {e}");
        }
        if let Err(e) = self.store.set_clock_mark(&clock::Mark::now()) {
            warn!("could not record the clocks: {e}");
        }
        Some(step)
    }

    /// Folds every session's kernel counters into the store. Only sessions whose counters
    /// or activity changed since the last checkpoint are written: on a gateway most
    /// sessions are quiet at any moment, and 100k rows rewritten every ten seconds kept
    /// the disk and the table's lock busy for nothing. What was written is remembered in
    /// one map of hashes, changed in place.
    pub fn checkpoint(&self, now: SystemTime) {
        let now_ms = unix_ms(now);
        let mut macs = Vec::with_capacity(self.count());
        self.scan(|s| macs.push(s.mac));
        self.fold_in_chunks(&macs, now_ms);
        let mut changed = Vec::new();
        for chunk in macs.chunks(LOCK_CHUNK) {
            let t = self.lock();
            let written = self.checkpointed();
            changed.extend(
                chunk
                    .iter()
                    .filter_map(|m| t.sessions.get(m))
                    .filter(|s| written.get(&s.mac) != Some(&Written::of(s)))
                    .map(|s| s.mac),
            );
        }
        // The map grows once, not by doubling along the chunks (the allocator keeps each
        // freed step). Rows are written in small transactions, releasing the table's lock
        // (and the store's) between them: a login waits for one of them at most (about a
        // quarter of a millisecond), not for a checkpoint of 100k sessions.
        self.checkpointed().reserve(changed.len());
        for chunk in changed.chunks(CHECKPOINT_CHUNK) {
            let t = self.lock();
            let rows: Vec<&Session> = chunk.iter().filter_map(|m| t.sessions.get(m)).collect();
            match self.store.save_usage(rows.iter().copied()) {
                Ok(()) => self
                    .checkpointed()
                    .extend(rows.iter().map(|s| (s.mac, Written::of(s)))),
                // Not remembered as written: tried again at the next checkpoint.
                Err(e) => warn!("could not checkpoint counters: {e}"),
            }
        }
        // Sessions that ended are forgotten once they are a fifth of what is remembered.
        let t = self.lock();
        let mut written = self.checkpointed();
        if written.len() > t.sessions.len() + t.sessions.len() / 4 {
            written.retain(|m, _| t.sessions.contains_key(m));
        }
        drop((written, t));
        if let Err(e) = self.store.set_clock_mark(&clock::Mark::now()) {
            warn!("could not record the clocks: {e}");
        }
    }

    fn checkpointed(&self) -> MutexGuard<'_, HashMap<Mac, Written>> {
        self.checkpointed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reconciles the datapath's address bindings with the sessions: bindings of devices
    /// without a session go, and each session learns the addresses the datapath bound to
    /// it. Returns how many bindings were removed.
    pub fn sweep_bindings(&self) -> usize {
        let all = self.lock().bindings.all();
        let mut removed = 0;
        for chunk in all.chunks(LOCK_CHUNK) {
            let mut t = self.lock();
            let Table {
                bindings, sessions, ..
            } = &mut *t;
            let mut learned: Vec<Mac> = Vec::new();
            for (ip, mac) in chunk {
                match sessions.get_mut(mac) {
                    Some(mut s) => {
                        if !s.ips.contains(ip) {
                            Table::remember_ip(bindings, &mut s, *ip);
                            learned.push(*mac);
                        }
                    }
                    None => {
                        bindings.unbind(*ip, *mac);
                        removed += 1;
                    }
                }
            }
            // Kept on disk, so a reboot (which forgets the pinned bindings) restores them.
            learned.sort();
            learned.dedup();
            if let Err(e) = self
                .store
                .save_ips(learned.iter().filter_map(|mac| sessions.get(mac)))
            {
                warn!(
                    devices = learned.len(),
                    "could not record the devices' addresses: {e}"
                );
            }
        }
        removed
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
                let now = clock::now();
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
