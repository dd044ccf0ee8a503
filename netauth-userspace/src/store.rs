//! The durable session store: SQLite in the state directory. A session is written (and
//! fsynced: WAL with synchronous=FULL) before a login or admin command is acknowledged.
//! A store that cannot be opened or fails its integrity check stops the daemon; it is
//! never silently replaced.
//!
//! Times are kept as wall-clock Unix ms (readable by anyone who opens the file) and
//! converted here, at the boundary, to and from the daemon's session clock
//! ([`crate::clock`]); when the wall clock steps, [`Store::shift_times`] moves them with
//! it, and [`Store::clock_mark`] says where both clocks stood at the last save.

use std::{
    io::{Read as _, Seek as _, Write as _},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, Transaction, params};

use crate::{
    clock::{self, Mark},
    model::Mac,
    session::Session,
};

pub struct Store {
    conn: Connection,
    pub path: PathBuf,
    /// Device and inode of the file opened: a store unlinked or replaced under the running
    /// daemon is noticed before anything more is acknowledged.
    identity: (u64, u64),
    /// The commit marker (see [`Store::open`]) and the generation it holds.
    marker: std::fs::File,
    generation: u64,
    /// Set once the file was found removed or replaced: every write fails from then on.
    lost: bool,
}

/// Why a write was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the session store {0} was removed or replaced while netauth ran; nothing more is \
         recorded until netauth is restarted"
    )]
    Lost(PathBuf),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Size of the commit marker file: fixed, so it is rewritten in place (no allocation:
/// it can be updated on a full disk).
const MARKER_LEN: usize = 64;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id            INTEGER PRIMARY KEY,
    mac           TEXT NOT NULL,
    ips           TEXT NOT NULL DEFAULT '',
    via           TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    ends_ms       INTEGER NOT NULL,
    idle_limit_s  INTEGER,
    quota_up      INTEGER,
    quota_down    INTEGER,
    quota_total   INTEGER,
    up_bytes      INTEGER NOT NULL DEFAULT 0,
    up_packets    INTEGER NOT NULL DEFAULT 0,
    down_bytes    INTEGER NOT NULL DEFAULT 0,
    down_packets  INTEGER NOT NULL DEFAULT 0,
    base_up_bytes     INTEGER NOT NULL DEFAULT 0,
    base_up_packets   INTEGER NOT NULL DEFAULT 0,
    base_down_bytes   INTEGER NOT NULL DEFAULT 0,
    base_down_packets INTEGER NOT NULL DEFAULT 0,
    last_active_ms INTEGER NOT NULL,
    ended_ms      INTEGER,
    end_reason    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_one_active_per_mac ON sessions(mac) WHERE ended_ms IS NULL;
CREATE INDEX IF NOT EXISTS sessions_by_end ON sessions(ended_ms);
CREATE TABLE IF NOT EXISTS walled_garden (entry TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS vouchers (
    code          TEXT PRIMARY KEY,
    duration_s    INTEGER NOT NULL,
    quota         INTEGER,
    devices       INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    first_used_ms INTEGER,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS session_acct (mac TEXT PRIMARY KEY, acct TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS acct_queue_by_session ON acct_queue(session_id);
CREATE TABLE IF NOT EXISTS voucher_devices (
    code TEXT NOT NULL,
    mac  TEXT NOT NULL,
    PRIMARY KEY (code, mac)
);
";

impl Store {
    /// Opens (creating if absent) `dir/sessions.db`, after proving the directory takes
    /// a write. Every acknowledged change bumps a generation counter in the same
    /// transaction and then in `sessions.db-marker`; a store whose generation is behind
    /// its marker lost committed changes (its write-ahead log went missing or was damaged
    /// after a crash, or the file was truncated or replaced) and is refused.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
        prove_writable(dir)?;
        let path = dir.join("sessions.db");
        let fail = |what: &str, e: rusqlite::Error| {
            anyhow::anyhow!(
                "the session store {} is unusable ({what}: {e}); netauth will not replace it — \
                 move it aside to start with an empty store",
                path.display()
            )
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| fail("open", e))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| fail("integrity check", e))?;
        if check != "ok" {
            bail!(
                "the session store {} is corrupt ({check}); netauth will not replace it — \
                 move it aside to start with an empty store",
                path.display()
            );
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail("journal mode", e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| fail("synchronous", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| fail("schema", e))?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| fail("schema version", e))?;
        match version.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| fail("schema version", e))?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => bail!(
                "the session store {} has schema version {v}; this netauth knows {SCHEMA_VERSION}",
                path.display()
            ),
        }
        let generation: u64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'commit_generation'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| fail("commit generation", e))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let marker_path = dir.join("sessions.db-marker");
        let mut marker = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&marker_path)
            .with_context(|| format!("opening {}", marker_path.display()))?;
        let mut text = String::new();
        marker
            .read_to_string(&mut text)
            .with_context(|| format!("reading {}", marker_path.display()))?;
        let marked: u64 = text
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .parse()
            .unwrap_or(0);
        if generation < marked {
            bail!(
                "the session store {} is older than the changes netauth last acknowledged \
                 (commit {generation}, marker {marked}): its write-ahead log \
                 (sessions.db-wal) was lost or damaged after a crash, or the file was \
                 truncated or replaced. netauth will not start with it: devices it \
                 authorized would lose access or be forgotten. Restore the missing file, or \
                 move sessions.db, sessions.db-wal and sessions.db-marker aside to start \
                 with an empty store",
                path.display()
            );
        }
        let meta = std::fs::metadata(&path)?;
        let mut store = Self {
            conn,
            path,
            identity: (meta.dev(), meta.ino()),
            marker,
            generation,
            lost: false,
        };
        store
            .write_marker()
            .with_context(|| format!("writing {}", marker_path.display()))?;
        Ok(store)
    }

    fn write_marker(&mut self) -> std::io::Result<()> {
        let mut buf = format!("{}\n", self.generation).into_bytes();
        buf.resize(MARKER_LEN, 0);
        self.marker.rewind()?;
        self.marker.write_all(&buf)?;
        self.marker.sync_data()
    }

    /// Fails once the file this store opened is no longer the one at its path.
    fn check_alive(&mut self) -> Result<()> {
        if !self.lost {
            let same =
                std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
            if !same {
                self.lost = true;
                tracing::error!(
                    path = %self.path.display(),
                    "the session store was removed or replaced while netauth ran: nothing \
                     more is acknowledged until netauth is restarted"
                );
            }
        }
        if self.lost {
            return Err(StoreError::Lost(self.path.clone()));
        }
        Ok(())
    }

    /// Whether the store is still the file netauth opened.
    pub fn healthy(&mut self) -> bool {
        self.check_alive().is_ok()
    }

    /// Runs `f` as one acknowledged change: in a transaction that also bumps the commit
    /// generation, fsynced, then marked (see [`Store::open`]).
    fn ack<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.check_alive()?;
        let tx = self.conn.transaction()?;
        let out = f(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('commit_generation', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![(self.generation + 1).to_string()],
        )?;
        tx.commit()?;
        self.generation += 1;
        if let Err(e) = self.write_marker() {
            // The change is on disk; only the marker lags (that is safe: a marker behind
            // the store is never refused).
            tracing::warn!("could not update the commit marker: {e}");
        }
        Ok(out)
    }

    /// Inserts a new active session or updates the active one for the same MAC, with the
    /// accounting requests that go with the change, as one acknowledged change.
    pub fn save(&mut self, s: &Session, acct: &[&crate::session::AcctRecord]) -> Result<()> {
        self.ack(|tx| {
            tx_save(tx, s)?;
            for r in acct {
                tx_acct(tx, r)?;
            }
            Ok(())
        })
    }

    /// Records the addresses of an active session.
    pub fn save_ips(&mut self, s: &Session) -> Result<()> {
        self.check_alive()?;
        let ips = s
            .ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.conn.execute(
            "UPDATE sessions SET ips = ?2 WHERE mac = ?1 AND ended_ms IS NULL",
            params![s.mac.to_string(), ips],
        )?;
        Ok(())
    }

    /// Queues Interim-Updates in one transaction (they are running totals nobody waits
    /// on: not an acknowledged change of their own).
    pub fn queue_interims(&mut self, records: &[crate::session::AcctRecord]) -> Result<()> {
        self.check_alive()?;
        if records.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for r in records {
            tx_acct(&tx, r)?;
        }
        Ok(tx.commit()?)
    }

    /// Queues an accounting request for delivery (see [`tx_acct`]).
    pub fn acct_enqueue(&mut self, r: &crate::session::AcctRecord) -> Result<()> {
        self.ack(|tx| tx_acct(tx, r))
    }
}

fn tx_save(tx: &Transaction<'_>, s: &Session) -> rusqlite::Result<()> {
    {
        let ips = s
            .ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        tx.execute(
            "INSERT INTO sessions (mac, ips, via, started_ms, ends_ms, idle_limit_s, quota_up,
                quota_down, quota_total, up_bytes, up_packets, down_bytes, down_packets,
                base_up_bytes, base_up_packets, base_down_bytes, base_down_packets, last_active_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
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
                last_active_ms = excluded.last_active_ms",
            params![
                s.mac.to_string(),
                ips,
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
            ],
        )?;
        match &s.acct {
            Some(a) => {
                let mut a = a.as_ref().clone();
                a.started_ms = clock::to_wall_ms(a.started_ms);
                let json = serde_json::to_string(&a).expect("plain data serializes");
                tx.execute(
                    "INSERT INTO session_acct(mac, acct) VALUES (?1, ?2)
                     ON CONFLICT(mac) DO UPDATE SET acct = excluded.acct",
                    params![s.mac.to_string(), json],
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM session_acct WHERE mac = ?1",
                    params![s.mac.to_string()],
                )?;
            }
        }
    }
    Ok(())
}

/// Queues an accounting request for delivery. Interim-Updates carry running totals, so a
/// newer Interim-Update or the Stop replaces a session's undelivered ones: during a long
/// server outage the queue holds at most Start, one Interim-Update and Stop per session.
fn tx_acct(tx: &Transaction<'_>, r: &crate::session::AcctRecord) -> rusqlite::Result<()> {
    use crate::session::AcctStatus;
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

/// Marks the active session of `s.mac` ended, with its final counters.
fn tx_end(tx: &Transaction<'_>, s: &Session, ended_ms: u64, reason: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM session_acct WHERE mac = ?1",
        params![s.mac.to_string()],
    )?;
    tx.execute(
        "UPDATE sessions SET ended_ms = ?2, end_reason = ?3, up_bytes = ?4, up_packets = ?5,
            down_bytes = ?6, down_packets = ?7, last_active_ms = ?8
         WHERE mac = ?1 AND ended_ms IS NULL",
        params![
            s.mac.to_string(),
            clock::to_wall_ms(ended_ms) as i64,
            reason,
            s.usage.up_bytes as i64,
            s.usage.up_packets as i64,
            s.usage.down_bytes as i64,
            s.usage.down_packets as i64,
            clock::to_wall_ms(s.last_active_ms) as i64
        ],
    )?;
    Ok(())
}

/// Proves `dir` takes a durable write (a read-only state directory, or one on a full or
/// broken file system, is refused at start rather than at the first login).
fn prove_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(".netauth-write-test");
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&probe)?;
        f.write_all(b"netauth")?;
        f.sync_all()?;
        std::fs::File::open(dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    result.with_context(|| {
        format!(
            "the state directory {} does not take writes; netauth records every session \
             there before acknowledging it, so it will not start",
            dir.display()
        )
    })
}

impl Store {
    /// The oldest `max` queued accounting requests. Unreadable rows (none are written)
    /// are dropped with a warning rather than blocking the queue.
    pub fn acct_head(
        &self,
        max: usize,
    ) -> rusqlite::Result<Vec<(i64, crate::session::AcctRecord)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, record FROM acct_queue ORDER BY id LIMIT ?1")?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, text) in rows {
            match serde_json::from_str(&text) {
                Ok(rec) => out.push((id, rec)),
                Err(e) => {
                    tracing::warn!(id, "dropping an unreadable accounting record: {e}");
                    self.conn
                        .execute("DELETE FROM acct_queue WHERE id = ?1", params![id])?;
                }
            }
        }
        Ok(out)
    }

    pub fn acct_remove(&mut self, id: i64) -> Result<()> {
        self.check_alive()?;
        self.conn
            .execute("DELETE FROM acct_queue WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn acct_queue_len(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM acct_queue", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
    }

    /// Writes the counters of many sessions in one transaction. Counter checkpoints are
    /// committed without an fsync of their own (`synchronous = NORMAL`, which in WAL mode
    /// keeps the database consistent): a power cut loses at most the last checkpoint's
    /// counters, never a session, and the next fully synced commit (any login or end)
    /// makes them durable. A checkpoint of 100k sessions would otherwise fsync ~200
    /// times every 10 s, each time holding the session lock.
    pub fn save_usage<'a>(&mut self, sessions: impl Iterator<Item = &'a Session>) -> Result<()> {
        self.check_alive()?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self.save_usage_tx(sessions);
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        Ok(result.and(restored)?)
    }

    fn save_usage_tx<'a>(
        &mut self,
        sessions: impl Iterator<Item = &'a Session>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
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
        }
        tx.commit()
    }

    /// Ends the active session of `s.mac` (with its final counters, and its accounting
    /// Stop when it has one) as one acknowledged change.
    pub fn end(
        &mut self,
        s: &Session,
        ended_ms: u64,
        reason: &str,
        stop: Option<&crate::session::AcctRecord>,
    ) -> Result<()> {
        self.ack(|tx| {
            tx_end(tx, s, ended_ms, reason)?;
            if let Some(r) = stop {
                tx_acct(tx, r)?;
            }
            Ok(())
        })
    }

    /// Every active session.
    pub fn active(&self) -> rusqlite::Result<Vec<Session>> {
        let mut stmt = self.conn.prepare(
            "SELECT mac, ips, via, started_ms, ends_ms, idle_limit_s, quota_up, quota_down,
                quota_total, up_bytes, up_packets, down_bytes, down_packets, base_up_bytes,
                base_up_packets, base_down_bytes, base_down_packets, last_active_ms
             FROM sessions WHERE ended_ms IS NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            let mac: String = r.get(0)?;
            let ips: String = r.get(1)?;
            let via: String = r.get(2)?;
            let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
            let o = |i: usize| -> rusqlite::Result<Option<u64>> {
                Ok(r.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
            };
            Ok(Session {
                mac: mac.parse::<Mac>().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
                ips: ips.split(',').filter_map(|s| s.parse().ok()).collect(),
                via: crate::session::Via::parse(&via),
                started_ms: clock::from_wall_ms(u(3)?),
                ends_ms: clock::from_wall_ms(u(4)?),
                idle_limit_s: o(5)?,
                quota: crate::session::Quota {
                    up: o(6)?,
                    down: o(7)?,
                    total: o(8)?,
                },
                usage: crate::session::Usage {
                    up_bytes: u(9)?,
                    up_packets: u(10)?,
                    down_bytes: u(11)?,
                    down_packets: u(12)?,
                },
                base: crate::session::Usage {
                    up_bytes: u(13)?,
                    up_packets: u(14)?,
                    down_bytes: u(15)?,
                    down_packets: u(16)?,
                },
                last_active_ms: clock::from_wall_ms(u(17)?),
                acct: None,
            })
        })?;
        let mut sessions: Vec<Session> = rows.collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare("SELECT mac, acct FROM session_acct")?;
        let accts: std::collections::HashMap<String, String> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for s in &mut sessions {
            if let Some(text) = accts.get(&s.mac.to_string()) {
                match serde_json::from_str::<crate::session::Acct>(text) {
                    Ok(mut a) => {
                        a.started_ms = clock::from_wall_ms(a.started_ms);
                        s.acct = Some(Box::new(a));
                    }
                    Err(e) => tracing::warn!(mac = %s.mac, "unreadable accounting state: {e}"),
                }
            }
        }
        Ok(sessions)
    }

    /// Where both clocks stood at the last save, if one was recorded.
    pub fn clock_mark(&self) -> rusqlite::Result<Option<Mark>> {
        let get = |k: &str| -> rusqlite::Result<Option<String>> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", params![k], |r| {
                    r.get(0)
                })
                .optional()
        };
        let (Some(boot_id), Some(boot_ms), Some(wall_ms)) = (
            get("clock_boot_id")?,
            get("clock_boot_ms")?,
            get("clock_wall_ms")?,
        ) else {
            return Ok(None);
        };
        Ok(match (boot_ms.parse(), wall_ms.parse()) {
            (Ok(boot_ms), Ok(wall_ms)) => Some(Mark {
                boot_id,
                boot_ms,
                wall_ms,
            }),
            _ => None,
        })
    }

    /// Records where both clocks stand now (with every save of counters, and at stop).
    pub fn set_clock_mark(&mut self, m: &Mark) -> Result<()> {
        self.check_alive()?;
        let tx = self.conn.transaction()?;
        for (k, v) in [
            ("clock_boot_id", m.boot_id.clone()),
            ("clock_boot_ms", m.boot_ms.to_string()),
            ("clock_wall_ms", m.wall_ms.to_string()),
        ] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        Ok(tx.commit()?)
    }

    /// Moves every stored time that is still running (active sessions, their accounting
    /// start, vouchers) by `by_ms`: the wall clock stepped, the times move with it, so
    /// lengths and remaining times stay what they were.
    pub fn shift_times(&mut self, by_ms: i64) -> Result<()> {
        self.ack(|tx| shift_times(tx, by_ms))
    }

    /// Walled-garden entries added through the API.
    pub fn walled_entries(&self) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT entry FROM walled_garden ORDER BY entry")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    pub fn walled_set(&mut self, entry: &str, present: bool) -> Result<()> {
        self.ack(|tx| {
            if present {
                tx.execute(
                    "INSERT OR IGNORE INTO walled_garden(entry) VALUES (?1)",
                    params![entry],
                )?;
            } else {
                tx.execute("DELETE FROM walled_garden WHERE entry = ?1", params![entry])?;
            }
            Ok(())
        })
    }

    pub fn voucher_create(&mut self, v: &[Voucher]) -> Result<()> {
        self.ack(|tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO vouchers(code, duration_s, quota, devices, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for v in v {
                stmt.execute(params![
                    v.code,
                    v.duration_s as i64,
                    v.quota.map(|q| q as i64),
                    v.devices as i64,
                    v.created_ms as i64
                ])?;
            }
            Ok(())
        })
    }

    pub fn vouchers(&self) -> rusqlite::Result<Vec<Voucher>> {
        let mut stmt = self.conn.prepare(
            "SELECT v.code, v.duration_s, v.quota, v.devices, v.created_ms, v.first_used_ms,
                    v.revoked, (SELECT COUNT(*) FROM voucher_devices d WHERE d.code = v.code)
             FROM vouchers v ORDER BY v.created_ms, v.code",
        )?;
        let rows = stmt.query_map([], voucher_row)?;
        rows.collect()
    }

    pub fn voucher(&self, code: &str) -> rusqlite::Result<Option<Voucher>> {
        self.conn
            .query_row(
                "SELECT v.code, v.duration_s, v.quota, v.devices, v.created_ms, v.first_used_ms,
                        v.revoked, (SELECT COUNT(*) FROM voucher_devices d WHERE d.code = v.code)
                 FROM vouchers v WHERE v.code = ?1",
                params![code],
                voucher_row,
            )
            .optional()
    }

    /// Records that `mac` used `code` (first use starts the clock). Returns whether `mac`
    /// was already one of its devices.
    pub fn voucher_use(&mut self, code: &str, mac: Mac, now_ms: u64) -> Result<bool> {
        self.ack(|tx| {
            tx.execute(
                "UPDATE vouchers SET first_used_ms = COALESCE(first_used_ms, ?2) WHERE code = ?1",
                params![code, now_ms as i64],
            )?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO voucher_devices(code, mac) VALUES (?1, ?2)",
                params![code, mac.to_string()],
            )?;
            Ok(added == 0)
        })
    }

    pub fn voucher_has_device(&self, code: &str, mac: Mac) -> rusqlite::Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM voucher_devices WHERE code = ?1 AND mac = ?2",
                params![code, mac.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
    }

    /// Revokes a voucher; returns the MACs that used it, or `None` if there is no such code.
    pub fn voucher_revoke(&mut self, code: &str) -> Result<Option<Vec<Mac>>> {
        self.ack(|tx| {
            let n = tx.execute(
                "UPDATE vouchers SET revoked = 1 WHERE code = ?1",
                params![code],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let mut stmt = tx.prepare("SELECT mac FROM voucher_devices WHERE code = ?1")?;
            let macs = stmt
                .query_map(params![code], |r| r.get::<_, String>(0))?
                .filter_map(|m| m.ok()?.parse().ok())
                .collect();
            Ok(Some(macs))
        })
    }
}

fn shift_times(tx: &Transaction<'_>, by_ms: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE sessions SET started_ms = started_ms + ?1, ends_ms = ends_ms + ?1,
            last_active_ms = last_active_ms + ?1 WHERE ended_ms IS NULL",
        params![by_ms],
    )?;
    tx.execute(
        "UPDATE vouchers SET created_ms = created_ms + ?1,
            first_used_ms = first_used_ms + ?1",
        params![by_ms],
    )?;
    let accts: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT mac, acct FROM session_acct")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (mac, text) in accts {
        if let Ok(mut a) = serde_json::from_str::<crate::session::Acct>(&text) {
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

/// A voucher as stored.
pub use netauth_common::api::Voucher;

fn voucher_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Voucher> {
    Ok(Voucher {
        code: r.get(0)?,
        duration_s: r.get::<_, i64>(1)?.max(0) as u64,
        quota: r.get::<_, Option<i64>>(2)?.map(|q| q.max(0) as u64),
        devices: r.get::<_, i64>(3)?.max(0) as u32,
        created_ms: r.get::<_, i64>(4)?.max(0) as u64,
        first_used_ms: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
        revoked: r.get::<_, i64>(6)? != 0,
        devices_used: r.get::<_, i64>(7)?.max(0) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Acct, AcctRecord, AcctStatus, Usage};

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
            event_ms: 0,
        }
    }

    #[test]
    fn undelivered_interim_updates_collapse_to_the_latest() {
        let dir = std::env::temp_dir().join(format!("netauth-store-{}", std::process::id()));
        let mut store = Store::open(&dir).unwrap();
        store
            .acct_enqueue(&record(AcctStatus::Start, "A", 0))
            .unwrap();
        store
            .acct_enqueue(&record(AcctStatus::Start, "B", 0))
            .unwrap();
        for up in 1..=5 {
            store
                .acct_enqueue(&record(AcctStatus::Interim, "A", up))
                .unwrap();
            store
                .acct_enqueue(&record(AcctStatus::Interim, "B", up))
                .unwrap();
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
        store
            .acct_enqueue(&record(AcctStatus::Stop, "A", 9))
            .unwrap();
        let q = store.acct_head(100).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(q[3].1.status, AcctStatus::Stop);
        assert_eq!(q[2].1.acct.session_id, "B");
        store.acct_remove(q[0].0).unwrap();
        assert_eq!(store.acct_queue_len().unwrap(), 3);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
