//! The durable store: SQLite in the state directory, one connection shared by every
//! aggregate (sessions, vouchers, the accounting queue, the walled garden), each of which
//! keeps its SQL in its own file. A change is written (and fsynced: WAL with
//! synchronous=FULL) before a login or an admin command is acknowledged. A store that
//! cannot be opened or fails its integrity check stops the daemon; it is never silently
//! replaced.
//!
//! Changes that belong together (a session and its accounting Start, a voucher and the
//! session it pays for) are written by [`Store::ack`] in one transaction: either all of
//! them are on disk or none is.
//!
//! Times are kept as wall-clock Unix ms (readable by anyone who opens the file) and
//! converted at the boundary to and from the daemon's session clock ([`crate::clock`]);
//! when the wall clock steps, [`Store::shift_times`] moves them with it, and
//! [`Store::clock_mark`] says where both clocks stood at the last save.

pub mod accounting;
pub mod sessions;
pub mod vouchers;
pub mod walled;

use std::{
    io::{Read as _, Seek as _, Write as _},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, Transaction, params};

use crate::clock::Mark;

pub use netauth_common::api::Voucher;

/// A handle on the store; clones share the one connection (each call takes it briefly).
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
    pub path: PathBuf,
}

struct Db {
    conn: Connection,
    path: PathBuf,
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

impl StoreError {
    /// A write refused as if the disk were full (a change that must wait for another).
    pub fn full(why: &str) -> Self {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some(why.into()),
        ))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Size of the commit marker file: fixed, so it is rewritten in place (no allocation:
/// it can be updated on a full disk).
const MARKER_LEN: usize = 64;

const SCHEMA_VERSION: i64 = 2;

/// What each schema version adds to the one before, applied in order to an older store
/// in the transaction that records the new version (version 1 is [`SCHEMA`]).
const MIGRATIONS: [(i64, &str); 1] = [(
    2,
    // Rate limits in bit/s per session and per voucher batch.
    "ALTER TABLE sessions ADD COLUMN rate_up INTEGER;
     ALTER TABLE sessions ADD COLUMN rate_down INTEGER;
     ALTER TABLE vouchers ADD COLUMN rate_up INTEGER;
     ALTER TABLE vouchers ADD COLUMN rate_down INTEGER;",
)];

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
        // A new store starts at version 1 ([`SCHEMA`]) and migrates like an old one.
        let version: i64 = match version.as_deref() {
            None => {
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema', '1')", [])
                    .map_err(|e| fail("schema version", e))?;
                1
            }
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=SCHEMA_VERSION).contains(&n) => n,
                _ => bail!(
                    "the session store {} has schema version {v}; this netauth knows \
                     1 to {SCHEMA_VERSION}",
                    path.display()
                ),
            },
        };
        for (to, sql) in MIGRATIONS {
            if version >= to {
                continue;
            }
            let batch = format!(
                "BEGIN IMMEDIATE; {sql} UPDATE meta SET value = '{to}' WHERE key = 'schema'; COMMIT;"
            );
            if let Err(e) = conn.execute_batch(&batch) {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(fail(&format!("migrating to schema version {to}"), e));
            }
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
        let mut db = Db {
            conn,
            path: path.clone(),
            identity: (meta.dev(), meta.ino()),
            marker,
            generation,
            lost: false,
        };
        db.write_marker()
            .with_context(|| format!("writing {}", marker_path.display()))?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            path,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic elsewhere leaves the connection usable: SQLite rolls back an open
        // transaction when it is dropped.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store is still the file netauth opened.
    pub fn healthy(&self) -> bool {
        self.lock().check_alive().is_ok()
    }

    /// Runs `f` as one acknowledged change: in a transaction that also bumps the commit
    /// generation, fsynced, then marked (see [`Store::open`]). `f` failing rolls it all
    /// back.
    pub fn ack<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut db = self.lock();
        db.check_alive()?;
        let next = db.generation + 1;
        let tx = db.conn.transaction().map_err(StoreError::from)?;
        let out = f(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('commit_generation', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![next.to_string()],
        )
        .map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        db.generation = next;
        if let Err(e) = db.write_marker() {
            // The change is on disk; only the marker lags (that is safe: a marker behind
            // the store is never refused).
            tracing::warn!("could not update the commit marker: {e}");
        }
        Ok(out)
    }

    /// Runs `f` in a transaction that is not an acknowledged change of its own: nobody
    /// waits on it, and with `durable` false it is committed without an fsync
    /// (`synchronous = NORMAL`, which in WAL mode keeps the database consistent; the next
    /// acknowledged change makes it durable). For counters and running totals.
    fn batch<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut db = self.lock();
        db.check_alive()?;
        if !durable {
            db.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let result = (|| {
            let tx = db.conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        if !durable {
            db.conn.pragma_update(None, "synchronous", "FULL")?;
        }
        result
    }

    /// Reads with the connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        Ok(f(&self.lock().conn)?)
    }

    /// Where both clocks stood at the last save, if one was recorded.
    pub fn clock_mark(&self) -> Result<Option<Mark>> {
        self.read(|conn| {
            let get = |k: &str| -> rusqlite::Result<Option<String>> {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", params![k], |r| {
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
        })
    }

    /// Records where both clocks stand now (with every save of counters, and at stop).
    pub fn set_clock_mark(&self, m: &Mark) -> Result<()> {
        self.batch(true, |tx| {
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
            Ok(())
        })
    }

    /// Moves every stored time that is still running (active sessions, their accounting
    /// start, vouchers) by `by_ms`: the wall clock stepped, the times move with it, so
    /// lengths and remaining times stay what they were.
    pub fn shift_times(&self, by_ms: i64) -> Result<()> {
        self.ack(|tx| {
            sessions::shift(tx, by_ms)?;
            vouchers::shift(tx, by_ms)?;
            Ok::<_, StoreError>(())
        })
    }
}

impl Db {
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

/// A temporary store for unit tests.
#[cfg(test)]
pub(crate) fn temp(name: &str) -> (Store, tempdir::Dir) {
    let dir = tempdir::Dir::new(name);
    (Store::open(&dir.0).expect("a temporary store"), dir)
}

#[cfg(test)]
pub(crate) mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("netauth-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            Self(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_sessions() {
        let dir = tempdir::Dir::new("migrate");
        std::fs::create_dir_all(&dir.0).unwrap();
        {
            // A store as netauth wrote it before rate limits (schema 1).
            let conn = Connection::open(dir.0.join("sessions.db")).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "INSERT INTO meta(key, value) VALUES ('schema', '1');
                 INSERT INTO sessions (mac, via, started_ms, ends_ms, last_active_ms)
                    VALUES ('02:00:00:00:01:0a', 'admin', 1, 4102444800000, 1);
                 INSERT INTO vouchers(code, duration_s, devices, created_ms)
                    VALUES ('ACDEFGHJKMNP', 3600, 1, 1);",
            )
            .unwrap();
        }
        let store = Store::open(&dir.0).expect("migrated");
        let s = store.active().unwrap();
        assert_eq!(s.len(), 1, "the session is kept");
        assert_eq!(s[0].rate, crate::model::Rate::default());
        let v = store.vouchers().unwrap();
        assert_eq!((v[0].rate_up_bps, v[0].rate_down_bps), (None, None));
        drop(store);
        // And a second start finds version 2 and changes nothing.
        let store = Store::open(&dir.0).expect("reopened");
        assert_eq!(store.active().unwrap().len(), 1);
        let version: String = store
            .read(|c| {
                c.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert_eq!(version, "2");
    }
}
