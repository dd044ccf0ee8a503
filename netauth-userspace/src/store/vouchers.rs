//! Vouchers on disk: the codes, and which devices used each.

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use super::{Result, Store, StoreError, Voucher};
use crate::{clock, model::Mac};

const SELECT: &str = "SELECT v.code, v.duration_s, v.quota, v.devices, v.created_ms,
        v.first_used_ms, v.revoked,
        (SELECT COUNT(*) FROM voucher_devices d WHERE d.code = v.code), v.rate_up, v.rate_down
    FROM vouchers v";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Voucher> {
    Ok(Voucher {
        code: r.get(0)?,
        duration_s: r.get::<_, i64>(1)?.max(0) as u64,
        quota: r.get::<_, Option<i64>>(2)?.map(|q| q.max(0) as u64),
        devices: r.get::<_, i64>(3)?.max(0) as u32,
        created_ms: r.get::<_, i64>(4)?.max(0) as u64,
        first_used_ms: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
        revoked: r.get::<_, i64>(6)? != 0,
        devices_used: r.get::<_, i64>(7)?.max(0) as u32,
        rate_up_bps: r.get::<_, Option<i64>>(8)?.map(|v| v.max(0) as u64),
        rate_down_bps: r.get::<_, Option<i64>>(9)?.map(|v| v.max(0) as u64),
    })
}

fn get(conn: &Connection, code: &str) -> rusqlite::Result<Option<Voucher>> {
    conn.query_row(&format!("{SELECT} WHERE v.code = ?1"), params![code], row)
        .optional()
}

fn has_device(conn: &Connection, code: &str, mac: Mac) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM voucher_devices WHERE code = ?1 AND mac = ?2",
        params![code, mac.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Until when (session clock, ms) `code` is good for `mac` at `now_ms`, if it is.
fn valid_until(
    conn: &Connection,
    code: &str,
    mac: Mac,
    now_ms: u64,
) -> rusqlite::Result<Option<(Voucher, u64)>> {
    let Some(v) = get(conn, code)? else {
        return Ok(None);
    };
    let known = has_device(conn, code, mac)?;
    Ok(crate::model::voucher_ends(&v, known, now_ms).map(|ends| (v, ends)))
}

/// Spends `code` for `mac` in the transaction of the session it pays for: checked again
/// (another device may have taken the last slot since the login was checked), its clock
/// started by the first use, the device recorded. `None`: not valid any more.
pub fn spend(
    tx: &Transaction<'_>,
    code: &str,
    mac: Mac,
    now_ms: u64,
) -> rusqlite::Result<Option<u64>> {
    let Some((_, ends)) = valid_until(tx, code, mac, now_ms)? else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE vouchers SET first_used_ms = COALESCE(first_used_ms, ?2) WHERE code = ?1",
        params![code, clock::to_wall_ms(now_ms) as i64],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO voucher_devices(code, mac) VALUES (?1, ?2)",
        params![code, mac.to_string()],
    )?;
    Ok(Some(ends))
}

/// Moves `code`'s device slot from `from` to `to` in the transaction that moves the
/// session (`--on-new-mac transfer`): checked again (`from` must still hold a slot and the
/// voucher be good), so the voucher never counts more devices than it allows and the old
/// address cannot sign in again with a fresh allowance. `None`: not valid any more.
pub fn transfer(
    tx: &Transaction<'_>,
    code: &str,
    from: Mac,
    to: Mac,
    now_ms: u64,
) -> rusqlite::Result<Option<u64>> {
    if !has_device(tx, code, from)? {
        return Ok(None);
    }
    let Some((_, ends)) = valid_until(tx, code, from, now_ms)? else {
        return Ok(None);
    };
    // Sessions do not record which voucher paid for them: when `from` also holds a slot
    // of another voucher still good, its session may be that one's, which this code must
    // not take. Refused.
    let mut stmt = tx.prepare("SELECT code FROM voucher_devices WHERE mac = ?1 AND code != ?2")?;
    let others: Vec<String> = stmt
        .query_map(params![from.to_string(), code], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for other in others {
        if valid_until(tx, &other, from, now_ms)?.is_some() {
            return Ok(None);
        }
    }
    tx.execute(
        "DELETE FROM voucher_devices WHERE code = ?1 AND mac = ?2",
        params![code, from.to_string()],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO voucher_devices(code, mac) VALUES (?1, ?2)",
        params![code, to.to_string()],
    )?;
    Ok(Some(ends))
}

fn devices(conn: &Connection, code: &str) -> rusqlite::Result<Vec<Mac>> {
    let mut stmt = conn.prepare("SELECT mac FROM voucher_devices WHERE code = ?1")?;
    let macs = stmt
        .query_map(params![code], |r| r.get::<_, String>(0))?
        .filter_map(|m| m.ok()?.parse().ok())
        .collect();
    Ok(macs)
}

/// Moves voucher times (see [`Store::shift_times`]).
pub(super) fn shift(tx: &Transaction<'_>, by_ms: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE vouchers SET created_ms = created_ms + ?1,
            first_used_ms = first_used_ms + ?1",
        params![by_ms],
    )?;
    Ok(())
}

impl Store {
    pub fn voucher_create(&self, v: &[Voucher]) -> Result<()> {
        self.ack(|tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO vouchers(code, duration_s, quota, devices, created_ms, rate_up,
                    rate_down)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for v in v {
                stmt.execute(params![
                    v.code,
                    v.duration_s as i64,
                    v.quota.map(|q| q as i64),
                    v.devices as i64,
                    v.created_ms as i64,
                    v.rate_up_bps.map(|r| r as i64),
                    v.rate_down_bps.map(|r| r as i64),
                ])?;
            }
            Ok::<_, StoreError>(())
        })
    }

    pub fn vouchers(&self) -> Result<Vec<Voucher>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY v.created_ms, v.code"))?;
            let rows = stmt.query_map([], row)?;
            rows.collect()
        })
    }

    /// The voucher and until when it is good for `mac` at `now_ms` (session clock), if
    /// it is. Nothing is recorded: [`spend`] does that with the session.
    pub fn voucher_check(
        &self,
        code: &str,
        mac: Mac,
        now_ms: u64,
    ) -> Result<Option<(Voucher, u64)>> {
        self.read(|conn| valid_until(conn, code, mac, now_ms))
    }

    /// For a voucher good in time but without a slot for `mac` (a new device): the
    /// voucher, until when it is good for the devices that hold its slots, and those
    /// devices. `None` when it is unknown, revoked, over, or has a slot for `mac`.
    pub fn voucher_holders(
        &self,
        code: &str,
        mac: Mac,
        now_ms: u64,
    ) -> Result<Option<(Voucher, u64, Vec<Mac>)>> {
        self.read(|conn| {
            let Some(v) = get(conn, code)? else {
                return Ok(None);
            };
            if has_device(conn, code, mac)? || v.devices_used < v.devices {
                return Ok(None);
            }
            let Some(ends) = crate::model::voucher_ends(&v, true, now_ms) else {
                return Ok(None);
            };
            Ok(Some((v, ends, devices(conn, code)?)))
        })
    }

    /// Revokes a voucher; returns the MACs that used it, or `None` if there is no such code.
    pub fn voucher_revoke(&self, code: &str) -> Result<Option<Vec<Mac>>> {
        self.ack(|tx| {
            let n = tx.execute(
                "UPDATE vouchers SET revoked = 1 WHERE code = ?1",
                params![code],
            )?;
            if n == 0 {
                return Ok(None);
            }
            Ok::<_, StoreError>(Some(devices(tx, code)?))
        })
    }
}
