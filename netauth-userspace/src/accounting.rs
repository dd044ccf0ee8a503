//! RADIUS accounting fed by session events: a session that started with accounting gets
//! a Start, one that ended (or was renewed by a new login) a Stop with its final counters
//! and cause, recorded in the same transaction as the session change; Interim-Updates
//! are queued on their interval. Delivery of the queue is the RADIUS client's
//! ([`crate::radius::Radius::accounting_loop`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use rusqlite::Transaction;
use tracing::warn;

use crate::{
    model::{Acct, AcctRecord, AcctStatus, EndReason, Session, Usage, unix_ms},
    sessions::{Event, Observer, Sessions},
    store::{self, Store},
};

/// Sessions' accounting requests per store transaction when queueing Interim-Updates.
const INTERIM_CHUNK: usize = 512;

/// The accounting observer of the session table.
#[derive(Default)]
pub struct Accounting {
    /// When each accounting session (by Acct-Session-Id) last reported, session clock ms.
    /// Memory only: after a restart the first Interim-Update comes one interval later.
    last_report: Mutex<HashMap<String, u64>>,
}

/// The request reporting `acct` of session `s` at `now_ms` (session clock).
pub fn record(
    status: AcctStatus,
    s: &Session,
    acct: &Acct,
    now_ms: u64,
    cause: Option<u32>,
) -> AcctRecord {
    AcctRecord {
        status,
        mac: s.mac,
        ip: s.accounting_ip(),
        acct: acct.clone(),
        session_time_s: now_ms.saturating_sub(acct.started_ms) / 1000,
        usage: if status == AcctStatus::Start {
            Usage::default()
        } else {
            s.usage.minus(acct.base)
        },
        cause,
        // Counted from the accounting session's Start, in every request, so a server
        // sees a CoA's change in the next Interim-Update.
        session_timeout_s: Some(s.ends_ms.saturating_sub(acct.started_ms) / 1000),
        quota: Some(s.quota.left_after(&acct.base)).filter(|q| q.is_limited()),
        event_ms: crate::clock::to_wall_ms(now_ms),
    }
}

impl Observer for Accounting {
    fn record(&self, tx: &Transaction<'_>, event: &Event<'_>, now_ms: u64) -> rusqlite::Result<()> {
        let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
        match *event {
            Event::Started { session, replaced } => {
                if let Some(old) = replaced {
                    let cause = Some(EndReason::Replaced.terminate_cause());
                    store::accounting::queue(
                        tx,
                        &record(AcctStatus::Stop, session, old, now_ms, cause),
                    )?;
                    last.remove(&old.session_id);
                }
                if let Some(a) = &session.acct {
                    store::accounting::queue(
                        tx,
                        &record(AcctStatus::Start, session, a, now_ms, None),
                    )?;
                    last.insert(a.session_id.clone(), now_ms);
                }
            }
            Event::Ended { session, reason } => {
                if let Some(a) = &session.acct {
                    let cause = Some(reason.terminate_cause());
                    store::accounting::queue(
                        tx,
                        &record(AcctStatus::Stop, session, a, now_ms, cause),
                    )?;
                    last.remove(&a.session_id);
                }
            }
        }
        Ok(())
    }
}

impl Accounting {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether `a`'s Interim-Update is due at `now_ms` (a session first seen here, as
    /// after a restart, starts its interval now).
    fn due(&self, a: &Acct, now_ms: u64) -> bool {
        let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
        let at = *last.entry(a.session_id.clone()).or_insert(now_ms);
        now_ms.saturating_sub(at) >= a.interim_s.saturating_mul(1000)
    }

    /// Queues an Interim-Update for every session whose interval has passed; returns how
    /// many.
    pub fn queue_interims(&self, sessions: &Sessions, store: &Store, now: SystemTime) -> usize {
        let now_ms = unix_ms(now);
        let due = sessions.collect(
            |s| s.acct.as_ref().is_some_and(|a| self.due(a, now_ms)),
            now,
        );
        let mut queued = 0;
        for chunk in due.chunks(INTERIM_CHUNK) {
            let records: Vec<AcctRecord> = chunk
                .iter()
                .filter_map(|s| {
                    let a = s.acct.as_ref()?;
                    Some(record(AcctStatus::Interim, s, a, now_ms, None))
                })
                .collect();
            // One transaction per chunk: Interim-Updates are running totals, nobody waits
            // on them, and one fsync each would be hundreds a second at scale.
            match store.queue_interims(&records) {
                Ok(()) => {
                    queued += records.len();
                    let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
                    for r in &records {
                        last.insert(r.acct.session_id.clone(), now_ms);
                    }
                }
                Err(e) => warn!("could not queue {} Interim-Updates: {e}", records.len()),
            }
        }
        queued
    }

    /// Queues Interim-Updates once a second, for ever.
    pub async fn interim_loop(self: Arc<Self>, sessions: Arc<Sessions>, store: Store) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let (me, s, st) = (self.clone(), sessions.clone(), store.clone());
            let _ = tokio::task::spawn_blocking(move || {
                me.queue_interims(&s, &st, crate::clock::now())
            })
            .await;
        }
    }
}

/// The NAS-Port to number the next RADIUS session with: after the highest in use.
pub fn next_nas_port(sessions: &Sessions) -> u32 {
    sessions
        .collect(|s| s.acct.is_some(), crate::clock::now())
        .iter()
        .filter_map(|s| s.acct.as_ref().map(|a| a.nas_port))
        .max()
        .unwrap_or(0)
        .wrapping_add(1)
        .max(1)
}
