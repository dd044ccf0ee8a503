//! The active sessions, indexed by what the enforcement tick asks: which sessions' time is
//! up, which have a quota (only their counters can tell), and which may have gone idle.
//!
//! The tick runs five times a second; a walk of 100k sessions each time kept a core's
//! tenth busy and put milliseconds on the logins that waited beside it. With the index a
//! tick touches the sessions that are due, those with a quota, and those whose idle limit
//! could have run out, nothing else.
//!
//! A session cannot go idle before its last known activity plus its idle limit: the
//! activity only moves forward, and what the table knows of it is never later than the
//! kernel's record. So idle-limited sessions are filed under that moment, and only those
//! past it have their counters read; a read that finds newer activity files the session
//! further on. Reading every idle-limited session's counters once a second kept 9-14% of
//! a core busy at 100k sessions.
//!
//! The index is kept true by construction: every way to change a session goes through
//! this type. [`Active::get_mut`] hands out a [`Tracked`] session that re-indexes it, when
//! its end or limits changed, as it is dropped.

use std::{
    collections::BTreeSet,
    ops::{Deref, DerefMut, RangeBounds},
};

use indexmap::{IndexMap, IndexSet, map::Slice};

use crate::model::{Mac, Session};

/// What the index files a session under.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key {
    ends_ms: u64,
    quota: bool,
    /// The earliest moment the idle limit can run out (last activity + limit).
    idle_due_ms: Option<u64>,
}

impl Key {
    fn of(s: &Session) -> Self {
        Key {
            ends_ms: s.ends_ms,
            quota: s.quota.is_limited(),
            idle_due_ms: s
                .idle_limit_s
                .map(|l| s.last_active_ms.saturating_add(l.saturating_mul(1000))),
        }
    }
}

#[derive(Default)]
struct Index {
    /// Every session by its end.
    by_end: BTreeSet<(u64, Mac)>,
    /// Sessions with a quota (dense, so they can be walked a chunk at a time).
    quota: IndexSet<Mac>,
    /// Sessions with an idle limit, by the earliest moment it can run out.
    idle: BTreeSet<(u64, Mac)>,
}

impl Index {
    fn add(&mut self, mac: Mac, k: Key) {
        self.by_end.insert((k.ends_ms, mac));
        if k.quota {
            self.quota.insert(mac);
        }
        if let Some(at) = k.idle_due_ms {
            self.idle.insert((at, mac));
        }
    }

    fn remove(&mut self, mac: Mac, k: Key) {
        self.by_end.remove(&(k.ends_ms, mac));
        if k.quota {
            self.quota.swap_remove(&mac);
        }
        if let Some(at) = k.idle_due_ms {
            self.idle.remove(&(at, mac));
        }
    }
}

#[derive(Default)]
pub(super) struct Active {
    /// Dense (an index per session), so whole-table passes can walk it a chunk at a time.
    sessions: IndexMap<Mac, Session>,
    index: Index,
}

impl Active {
    pub fn with_capacity(n: usize) -> Self {
        Active {
            sessions: IndexMap::with_capacity(n),
            index: Index::default(),
        }
    }

    /// Room for `n` more sessions at once: a batch grows the table in one allocation, not
    /// by doubling, each freed step of which the allocator keeps.
    pub fn reserve(&mut self, n: usize) {
        self.sessions.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn get(&self, mac: &Mac) -> Option<&Session> {
        self.sessions.get(mac)
    }

    pub fn contains_key(&self, mac: &Mac) -> bool {
        self.sessions.contains_key(mac)
    }

    /// The session, to change: re-indexed as the returned guard is dropped.
    pub fn get_mut(&mut self, mac: &Mac) -> Option<Tracked<'_>> {
        let s = self.sessions.get_mut(mac)?;
        Some(Tracked {
            was: Key::of(s),
            s,
            index: &mut self.index,
        })
    }

    /// Adds or replaces `s`; returns the session it replaced.
    pub fn insert(&mut self, s: Session) -> Option<Session> {
        let (mac, now) = (s.mac, Key::of(&s));
        let old = self.sessions.insert(mac, s);
        match &old {
            Some(o) if Key::of(o) == now => {}
            Some(o) => {
                self.index.remove(mac, Key::of(o));
                self.index.add(mac, now);
            }
            None => self.index.add(mac, now),
        }
        old
    }

    /// Removes the session (the last one takes its place in the dense order).
    pub fn swap_remove(&mut self, mac: &Mac) -> Option<Session> {
        let s = self.sessions.swap_remove(mac)?;
        self.index.remove(*mac, Key::of(&s));
        Some(s)
    }

    pub fn keys(&self) -> impl Iterator<Item = &Mac> {
        self.sessions.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Sessions by their place in the dense order.
    pub fn get_range(&self, range: impl RangeBounds<usize>) -> Option<&Slice<Mac, Session>> {
        self.sessions.get_range(range)
    }

    /// Sessions whose end is at or before `now_ms`.
    pub fn ended_by(&self, now_ms: u64) -> impl Iterator<Item = &Session> {
        self.index
            .by_end
            .range(..=(now_ms, Mac([0xff; 6])))
            .filter_map(|(_, m)| self.sessions.get(m))
    }

    /// Sessions with an idle limit that may have run out by `now_ms` (their counters
    /// tell whether it has).
    pub fn idle_due_by(&self, now_ms: u64) -> impl Iterator<Item = &Mac> {
        self.index
            .idle
            .range(..=(now_ms, Mac([0xff; 6])))
            .map(|(_, m)| m)
    }

    /// How many sessions have a quota.
    pub fn quota_len(&self) -> usize {
        self.index.quota.len()
    }

    /// Sessions with a quota, by place (for a walk a chunk at a time).
    pub fn quota_range(&self, range: impl RangeBounds<usize>) -> impl Iterator<Item = &Mac> {
        self.index
            .quota
            .get_range(range)
            .into_iter()
            .flat_map(|s| s.iter())
    }

    /// Whether the index holds exactly what the sessions say (for tests).
    #[cfg(test)]
    pub fn index_is_true(&self) -> bool {
        let mut expected = Index::default();
        for s in self.sessions.values() {
            expected.add(s.mac, Key::of(s));
        }
        let set = |s: &IndexSet<Mac>| s.iter().copied().collect::<BTreeSet<Mac>>();
        expected.by_end == self.index.by_end
            && set(&expected.quota) == set(&self.index.quota)
            && expected.idle == self.index.idle
    }
}

/// A session being changed; its index entries follow the change when it is dropped.
pub(super) struct Tracked<'a> {
    s: &'a mut Session,
    was: Key,
    index: &'a mut Index,
}

impl Deref for Tracked<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.s
    }
}

impl DerefMut for Tracked<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.s
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        let now = Key::of(self.s);
        if now != self.was {
            self.index.remove(self.s.mac, self.was);
            self.index.add(self.s.mac, now);
        }
    }
}
