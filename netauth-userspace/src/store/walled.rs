//! Walled-garden entries added through the API, kept across restarts.

use rusqlite::params;

use super::{Result, Store, StoreError};

impl Store {
    pub fn walled_entries(&self) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT entry FROM walled_garden ORDER BY entry")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Records (`present`) or forgets an entry, as an acknowledged change.
    pub fn walled_set(&self, entry: &str, present: bool) -> Result<()> {
        self.ack(|tx| {
            if present {
                tx.execute(
                    "INSERT OR IGNORE INTO walled_garden(entry) VALUES (?1)",
                    params![entry],
                )?;
            } else {
                tx.execute("DELETE FROM walled_garden WHERE entry = ?1", params![entry])?;
            }
            Ok::<_, StoreError>(())
        })
    }
}
