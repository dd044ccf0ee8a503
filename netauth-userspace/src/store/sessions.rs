//! Sessions on disk: one row per session, the active one per MAC with `ended_ms` NULL;
//! ended rows stay as history. A RADIUS session's accounting state is kept beside it.

use rusqlite::{Transaction, params};

use super::{Result, Store};
use crate::{
    clock,
    model::{Acct, Mac, Quota, Rate, Session, Usage, Via},
};

fn ips_text(s: &Session) -> String {
    s.ips
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Inserts a new active session or updates the active one for the same MAC. Statements
/// are prepared once per connection: a batch saves 100k sessions in one transaction.
pub fn save(tx: &Transaction<'_>, s: &Session) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (mac, ips, via, started_ms, ends_ms, idle_limit_s, quota_up,
            quota_down, quota_total, up_bytes, up_packets, down_bytes, down_packets,
            base_up_bytes, base_up_packets, base_down_bytes, base_down_packets, last_active_ms,
            rate_up, rate_down)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20)
         ON CONFLICT(mac) WHERE ended_ms IS NULL DO UPDATE SET
            ips = excluded.ips, via = excluded.via, started_ms = excluded.started_ms,
            ends_ms = excluded.ends_ms, idle_limit_s = excluded.idle_limit_s,
            quota_up = excluded.quota_up, quota_down = excluded.quota_down,
            quota_total = excluded.quota_total, up_bytes = excluded.up_bytes,
            up_packets = excluded.up_packets, down_bytes = excluded.down_bytes,
            down_packets = excluded.down_packets, base_up_bytes = excluded.base_up_bytes,
            base_up_packets = excluded.base_up_packets,
            base_down_bytes = excluded.base_down_bytes,
            base_down_packets = excluded.base_down_packets,
            last_active_ms = excluded.last_active_ms, rate_up = excluded.rate_up,
            rate_down = excluded.rate_down",
    )?
    .execute(params![
        s.mac.to_string(),
        ips_text(s),
        s.via.as_str(),
        clock::to_wall_ms(s.started_ms) as i64,
        clock::to_wall_ms(s.ends_ms) as i64,
        s.idle_limit_s.map(|v| v as i64),
        s.quota.up.map(|v| v as i64),
        s.quota.down.map(|v| v as i64),
        s.quota.total.map(|v| v as i64),
        s.usage.up_bytes as i64,
        s.usage.up_packets as i64,
        s.usage.down_bytes as i64,
        s.usage.down_packets as i64,
        s.base.up_bytes as i64,
        s.base.up_packets as i64,
        s.base.down_bytes as i64,
        s.base.down_packets as i64,
        clock::to_wall_ms(s.last_active_ms) as i64,
        s.rate.up.map(|v| v as i64),
        s.rate.down.map(|v| v as i64),
    ])?;
    match &s.acct {
        Some(a) => {
            let mut a = a.as_ref().clone();
            a.started_ms = clock::to_wall_ms(a.started_ms);
            let json = serde_json::to_string(&a).expect("plain data serializes");
            tx.prepare_cached(
                "INSERT INTO session_acct(mac, acct) VALUES (?1, ?2)
                 ON CONFLICT(mac) DO UPDATE SET acct = excluded.acct",
            )?
            .execute(params![s.mac.to_string(), json])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM session_acct WHERE mac = ?1")?
                .execute(params![s.mac.to_string()])?;
        }
    }
    Ok(())
}

/// Marks the active session of `s.mac` ended, with its final counters.
pub fn end(tx: &Transaction<'_>, s: &Session, ended_ms: u64, reason: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM session_acct WHERE mac = ?1")?
        .execute(params![s.mac.to_string()])?;
    tx.prepare_cached(
        "UPDATE sessions SET ended_ms = ?2, end_reason = ?3, up_bytes = ?4, up_packets = ?5,
            down_bytes = ?6, down_packets = ?7, last_active_ms = ?8
         WHERE mac = ?1 AND ended_ms IS NULL",
    )?
    .execute(params![
        s.mac.to_string(),
        clock::to_wall_ms(ended_ms) as i64,
        reason,
        s.usage.up_bytes as i64,
        s.usage.up_packets as i64,
        s.usage.down_bytes as i64,
        s.usage.down_packets as i64,
        clock::to_wall_ms(s.last_active_ms) as i64
    ])?;
    Ok(())
}

/// Moves the running times of active sessions (see [`Store::shift_times`]).
pub(super) fn shift(tx: &Transaction<'_>, by_ms: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE sessions SET started_ms = started_ms + ?1, ends_ms = ends_ms + ?1,
            last_active_ms = last_active_ms + ?1 WHERE ended_ms IS NULL",
        params![by_ms],
    )?;
    let accts: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT mac, acct FROM session_acct")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (mac, text) in accts {
        if let Ok(mut a) = serde_json::from_str::<Acct>(&text) {
            a.started_ms = (a.started_ms as i64 + by_ms).max(0) as u64;
            let json = serde_json::to_string(&a).expect("plain data serializes");
            tx.execute(
                "UPDATE session_acct SET acct = ?2 WHERE mac = ?1",
                params![mac, json],
            )?;
        }
    }
    Ok(())
}

impl Store {
    /// Records the addresses of active sessions, in one transaction.
    pub fn save_ips<'a>(&self, sessions: impl IntoIterator<Item = &'a Session>) -> Result<()> {
        self.batch(true, |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE sessions SET ips = ?2 WHERE mac = ?1 AND ended_ms IS NULL",
            )?;
            for s in sessions {
                stmt.execute(params![s.mac.to_string(), ips_text(s)])?;
            }
            Ok(())
        })
    }

    /// Writes the counters of many sessions in one transaction, without an fsync of its
    /// own: a power cut loses at most the last checkpoint's counters, never a session,
    /// and the next acknowledged change makes them durable. A checkpoint of 100k
    /// sessions would otherwise fsync ~200 times every 10 s.
    pub fn save_usage<'a>(&self, sessions: impl Iterator<Item = &'a Session>) -> Result<()> {
        self.batch(false, |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE sessions SET up_bytes = ?2, up_packets = ?3, down_bytes = ?4,
                    down_packets = ?5, last_active_ms = ?6 WHERE mac = ?1 AND ended_ms IS NULL",
            )?;
            for s in sessions {
                stmt.execute(params![
                    s.mac.to_string(),
                    s.usage.up_bytes as i64,
                    s.usage.up_packets as i64,
                    s.usage.down_bytes as i64,
                    s.usage.down_packets as i64,
                    clock::to_wall_ms(s.last_active_ms) as i64
                ])?;
            }
            Ok(())
        })
    }

    /// Every active session.
    pub fn active(&self) -> Result<Vec<Session>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT mac, ips, via, started_ms, ends_ms, idle_limit_s, quota_up, quota_down,
                    quota_total, up_bytes, up_packets, down_bytes, down_packets, base_up_bytes,
                    base_up_packets, base_down_bytes, base_down_packets, last_active_ms,
                    rate_up, rate_down
                 FROM sessions WHERE ended_ms IS NULL",
            )?;
            let rows = stmt.query_map([], row)?;
            let mut sessions: Vec<Session> = rows.collect::<rusqlite::Result<_>>()?;
            let mut stmt = conn.prepare("SELECT mac, acct FROM session_acct")?;
            let accts: std::collections::HashMap<Mac, String> = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
                .filter_map(|r| match r {
                    Ok((mac, acct)) => Some(Ok((mac.parse().ok()?, acct))),
                    Err(e) => Some(Err(e)),
                })
                .collect::<rusqlite::Result<_>>()?;
            if accts.is_empty() {
                return Ok(sessions);
            }
            for s in &mut sessions {
                if let Some(text) = accts.get(&s.mac) {
                    match serde_json::from_str::<Acct>(text) {
                        Ok(mut a) => {
                            a.started_ms = clock::from_wall_ms(a.started_ms);
                            s.acct = Some(Box::new(a));
                        }
                        Err(e) => tracing::warn!(mac = %s.mac, "unreadable accounting state: {e}"),
                    }
                }
            }
            Ok(sessions)
        })
    }
}

/// A stored session (its text read in place: restoring 100k sessions reads them all
/// before the gate opens).
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let text = |i: usize| -> rusqlite::Result<&str> { Ok(r.get_ref(i)?.as_str()?) };
    let (mac, ips, via) = (text(0)?, text(1)?, text(2)?);
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    let o = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
    };
    Ok(Session {
        mac: mac.parse::<Mac>().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        ips: ips.split(',').filter_map(|s| s.parse().ok()).collect(),
        via: Via::parse(via),
        started_ms: clock::from_wall_ms(u(3)?),
        ends_ms: clock::from_wall_ms(u(4)?),
        idle_limit_s: o(5)?,
        quota: Quota {
            up: o(6)?,
            down: o(7)?,
            total: o(8)?,
        },
        usage: Usage {
            up_bytes: u(9)?,
            up_packets: u(10)?,
            down_bytes: u(11)?,
            down_packets: u(12)?,
        },
        base: Usage {
            up_bytes: u(13)?,
            up_packets: u(14)?,
            down_bytes: u(15)?,
            down_packets: u(16)?,
        },
        last_active_ms: clock::from_wall_ms(u(17)?),
        rate: Rate {
            up: o(18)?,
            down: o(19)?,
        },
        acct: None,
    })
}
