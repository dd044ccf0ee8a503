//! Keeping the table true over time: limits enforced, counters checkpointed to disk,
//! address bindings reconciled, stored times moved when the wall clock steps, and ends
//! the store refused retried.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use tracing::warn;

use super::{LOCK_CHUNK, Sessions, Table};
use crate::{
    clock,
    model::{EndReason, Mac, unix_ms},
};

/// How often idle limits are checked against the kernel's activity record.
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Sessions written per checkpoint transaction.
const CHECKPOINT_CHUNK: usize = 64;

/// How often address bindings are reconciled with the sessions.
const BINDING_SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Sessions {
    /// Ends every session whose time, idle time or allowance has run out; returns how many.
    /// Sessions with a quota have their counters read every call; those with only an idle
    /// limit when `check_idle` (the daemon asks once a second: idle limits are whole
    /// seconds, and with an idle limit on every one of 100k sessions a read of all
    /// counters every 200 ms would keep a quarter of a core busy).
    ///
    /// A session found due is ended only if it is still due when its end is taken, under
    /// the table's lock: one extended or renewed in between is kept.
    pub fn enforce(&self, now: SystemTime, check_idle: bool) -> usize {
        let due = self.due(now, check_idle);
        self.end_due(due, now)
    }

    /// The sessions due to end at `now`, and why. One walk of the table, a chunk at a time
    /// ([`Sessions::scan`]): it finds those whose time is up and those whose counters
    /// must be read first (a quota, or an idle limit when `check_idle`), which are then
    /// read and checked.
    pub(super) fn due(&self, now: SystemTime, check_idle: bool) -> Vec<(Mac, EndReason)> {
        let now_ms = unix_ms(now);
        let (mut limited, mut due) = (Vec::new(), Vec::new());
        self.scan(|s| {
            if s.quota.is_limited() || (check_idle && s.idle_limit_s.is_some()) {
                limited.push(s.mac);
            } else if let Some(r) = s.due(now_ms) {
                due.push((s.mac, r));
            }
        });
        limited.sort();
        self.fold_in_chunks(&limited, now_ms);
        for chunk in limited.chunks(LOCK_CHUNK) {
            let t = self.lock();
            due.extend(chunk.iter().filter_map(|m| {
                let s = t.sessions.get(m)?;
                s.due(now_ms).map(|r| (*m, r))
            }));
        }
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

    /// Folds every session's kernel counters into the store.
    pub fn checkpoint(&self, now: SystemTime) {
        let now_ms = unix_ms(now);
        let mut macs = Vec::with_capacity(self.count());
        self.scan(|s| macs.push(s.mac));
        self.fold_in_chunks(&macs, now_ms);
        // Written in small transactions, releasing the table's lock (and the store's)
        // between them: a login waits for one of them at most (about a quarter of a
        // millisecond), not for a checkpoint of 100k sessions.
        for chunk in macs.chunks(CHECKPOINT_CHUNK) {
            let t = self.lock();
            if let Err(e) = self
                .store
                .save_usage(chunk.iter().filter_map(|m| t.sessions.get(m)))
            {
                warn!("could not checkpoint counters: {e}");
            }
        }
        if let Err(e) = self.store.set_clock_mark(&clock::Mark::now()) {
            warn!("could not record the clocks: {e}");
        }
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
                    Some(s) => {
                        if !s.ips.contains(ip) {
                            Table::remember_ip(bindings, s, *ip);
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
