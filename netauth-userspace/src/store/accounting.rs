//! The RADIUS accounting queue on disk: requests wait here until a server acknowledges
//! them, so none is lost to a restart or a server outage.

use rusqlite::{Transaction, params};

use super::{Result, Store};
use crate::model::{AcctRecord, AcctStatus};

/// Queues an accounting request for delivery. Interim-Updates carry running totals, so a
/// newer Interim-Update or the Stop replaces a session's undelivered ones: during a long
/// server outage the queue holds at most Start, one Interim-Update and Stop per session.
pub fn queue(tx: &Transaction<'_>, r: &AcctRecord) -> rusqlite::Result<()> {
    let json = serde_json::to_string(r).expect("plain data serializes");
    if r.status != AcctStatus::Start {
        tx.execute(
            "DELETE FROM acct_queue WHERE session_id = ?1 AND status = 'interim'",
            params![r.acct.session_id],
        )?;
    }
    let status = match r.status {
        AcctStatus::Start => "start",
        AcctStatus::Interim => "interim",
        AcctStatus::Stop => "stop",
    };
    tx.execute(
        "INSERT INTO acct_queue(session_id, status, record) VALUES (?1, ?2, ?3)",
        params![r.acct.session_id, status, json],
    )?;
    Ok(())
}

impl Store {
    /// Queues Interim-Updates in one transaction (running totals nobody waits on: not an
    /// acknowledged change of their own).
    pub fn queue_interims(&self, records: &[AcctRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.batch(true, |tx| {
            for r in records {
                queue(tx, r)?;
            }
            Ok(())
        })
    }

    /// The oldest `max` queued accounting requests. Unreadable rows (none are written)
    /// are dropped with a warning rather than blocking the queue.
    pub fn acct_head(&self, max: usize) -> Result<Vec<(i64, AcctRecord)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, record FROM acct_queue ORDER BY id LIMIT ?1")?;
            let rows: Vec<(i64, String)> = stmt
                .query_map(params![max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, text) in rows {
                match serde_json::from_str(&text) {
                    Ok(rec) => out.push((id, rec)),
                    Err(e) => {
                        tracing::warn!(id, "dropping an unreadable accounting record: {e}");
                        conn.execute("DELETE FROM acct_queue WHERE id = ?1", params![id])?;
                    }
                }
            }
            Ok(out)
        })
    }

    /// Forgets a delivered request.
    pub fn acct_remove(&self, id: i64) -> Result<()> {
        self.batch(true, |tx| {
            tx.execute("DELETE FROM acct_queue WHERE id = ?1", params![id])?;
            Ok(())
        })
    }

    pub fn acct_queue_len(&self) -> Result<u64> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM acct_queue", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Acct, Usage};

    fn record(status: AcctStatus, session_id: &str, up: u64) -> AcctRecord {
        AcctRecord {
            status,
            mac: "02:00:5e:10:00:01".parse().unwrap(),
            ip: None,
            acct: Acct {
                username: "alice".into(),
                session_id: session_id.into(),
                ..Acct::default()
            },
            session_time_s: 0,
            usage: Usage {
                up_bytes: up,
                ..Usage::default()
            },
            cause: None,
            session_timeout_s: None,
            quota: None,
            event_ms: 0,
        }
    }

    fn enqueue(store: &Store, r: &AcctRecord) {
        store
            .ack(|tx| queue(tx, r).map_err(super::super::StoreError::from))
            .unwrap();
    }

    #[test]
    fn undelivered_interim_updates_collapse_to_the_latest() {
        let (store, _dir) = super::super::temp("acct-queue");
        enqueue(&store, &record(AcctStatus::Start, "A", 0));
        enqueue(&store, &record(AcctStatus::Start, "B", 0));
        for up in 1..=5 {
            enqueue(&store, &record(AcctStatus::Interim, "A", up));
            enqueue(&store, &record(AcctStatus::Interim, "B", up));
        }
        let q = store.acct_head(100).unwrap();
        let kinds: Vec<_> = q
            .iter()
            .map(|(_, r)| (r.acct.session_id.as_str(), r.status, r.usage.up_bytes))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("A", AcctStatus::Start, 0),
                ("B", AcctStatus::Start, 0),
                ("A", AcctStatus::Interim, 5),
                ("B", AcctStatus::Interim, 5)
            ]
        );
        // The Stop supersedes A's pending Interim-Update; B's stays.
        enqueue(&store, &record(AcctStatus::Stop, "A", 9));
        let q = store.acct_head(100).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(q[3].1.status, AcctStatus::Stop);
        assert_eq!(q[2].1.acct.session_id, "B");
        store.acct_remove(q[0].0).unwrap();
        assert_eq!(store.acct_queue_len().unwrap(), 3);
    }
}
