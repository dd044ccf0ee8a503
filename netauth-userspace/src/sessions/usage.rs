//! The kernel's counters folded into the sessions: key by key for a few sessions, the
//! whole map in a few batch syscalls (without the table's lock) when many are wanted.

use std::{sync::atomic::Ordering, time::SystemTime};

use tracing::warn;

use super::{LOCK_CHUNK, Sessions};
use crate::{
    datapath::{clients::seen_ms, monotonic_ns},
    model::{Mac, Session, Usage, unix_ms},
};

impl Sessions {
    /// Refreshes the counters of `macs` from the kernel. When they are a good part of all
    /// sessions, the whole map is read with batch lookups (a few syscalls, without the
    /// lock) and applied; otherwise key by key, taking the lock for [`LOCK_CHUNK`] sessions
    /// at a time: with 100k sessions a single pass would hold logins and portal lookups
    /// for hundreds of milliseconds.
    pub(super) fn fold_in_chunks(&self, macs: &[Mac], now_ms: u64) {
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
            let mono_now = monotonic_ns();
            // Each batch (up to 4096 entries) is applied under the lock as it arrives;
            // fresher counters for sessions outside `macs` do no harm.
            let applied = reader.for_each_batch(total, |batch| {
                let mut t = self.lock();
                for (m, k, seen_ns) in batch {
                    if let Some(mut s) = t.sessions.get_mut(m) {
                        s.apply_kernel(*k, seen_ms(*seen_ns, mono_now, now_ms));
                    }
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
            let mut t = self.lock();
            for m in chunk {
                t.fold(*m, now_ms);
            }
        }
        record(false);
    }

    /// Copies of the sessions `pred` selects, with fresh counters.
    pub fn collect(&self, pred: impl Fn(&Session) -> bool, now: SystemTime) -> Vec<Session> {
        let now_ms = unix_ms(now);
        let macs = self.select(&pred);
        self.fold_in_chunks(&macs, now_ms);
        let mut out = Vec::with_capacity(macs.len());
        for chunk in macs.chunks(LOCK_CHUNK) {
            let t = self.lock();
            out.extend(chunk.iter().filter_map(|m| t.sessions.get(m)).cloned());
        }
        out
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

    /// Entries in the kernel's client map (a few batch syscalls, without the lock).
    pub fn map_entries(&self) -> usize {
        if let Some(r) = &self.reader
            && !self.batch_failed.load(Ordering::Relaxed)
            && let Ok(n) = r.for_each_batch(self.count(), |_| {})
        {
            return n;
        }
        self.view.count()
    }
}
