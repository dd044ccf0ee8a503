//! Vouchers: codes an operator prints and hands out, each good for a time (counted from
//! its first use), an optional data allowance and a number of devices. A login with a
//! code is checked here; the code is spent with the session it pays for (see
//! [`crate::sessions::Sessions::authorize`]), so a login that fails leaves it unused.

use std::time::{Duration, SystemTime};

use tracing::info;

use crate::{
    model::{EndReason, Grant, Mac, Quota, Via, unix_ms},
    sessions::{SessionError, Sessions},
    store::{Store, StoreError, Voucher},
};

/// Voucher codes use an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
pub const ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";
/// 12 symbols of a 25-letter alphabet: about 55.7 bits, far beyond online guessing
/// (which the failure delay slows to a few attempts a minute per client).
pub const LEN: usize = 12;

/// What a batch of new vouchers grants.
#[derive(Clone, Copy, Debug)]
pub struct Terms {
    pub duration: Duration,
    pub quota: Option<u64>,
    pub devices: u32,
    /// Rate limits of each redeeming device's session.
    pub rate: crate::model::Rate,
}

/// Creates `count` vouchers; returns them.
pub fn create(
    store: &Store,
    count: usize,
    terms: Terms,
    now: SystemTime,
) -> anyhow::Result<Vec<Voucher>> {
    let created_ms = crate::clock::to_wall_ms(unix_ms(now));
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        v.push(Voucher {
            code: new_code()?,
            duration_s: terms.duration.as_secs().max(1),
            quota: terms.quota,
            devices: terms.devices,
            created_ms,
            first_used_ms: None,
            revoked: false,
            devices_used: 0,
            rate_up_bps: terms.rate.up,
            rate_down_bps: terms.rate.down,
        });
    }
    store.voucher_create(&v)?;
    info!(
        count,
        duration_s = terms.duration.as_secs(),
        devices = terms.devices,
        "vouchers created"
    );
    Ok(v)
}

/// What a typed code grants `mac` now, if it is good: `None` when it is not a code,
/// unknown, revoked, used up in time, or without a device slot for `mac` (unless
/// `transfer`: then a voucher whose slots are all taken names the devices holding them,
/// one of whose sessions `mac` may take over; see [`Grant::moves_from`]).
pub fn check(
    store: &Store,
    typed: &str,
    mac: Mac,
    now: SystemTime,
    transfer: bool,
) -> Result<Option<Grant>, StoreError> {
    let Some(code) = normalize(typed) else {
        return Ok(None);
    };
    let now_ms = unix_ms(now);
    let (v, ends, moves_from) = match store.voucher_check(&code, mac, now_ms)? {
        Some((v, ends)) => (v, ends, Vec::new()),
        None if transfer => match store.voucher_holders(&code, mac, now_ms)? {
            Some(found) => found,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    Ok(Some(Grant {
        duration: Some(Duration::from_millis(ends - now_ms)),
        quota: Quota {
            total: v.quota,
            ..Quota::default()
        },
        rate: crate::model::Rate {
            up: v.rate_up_bps,
            down: v.rate_down_bps,
        },
        voucher: Some(code),
        moves_from,
        ..Grant::by(Via::Voucher)
    }))
}

/// Revokes a voucher and ends the sessions it paid for. Returns whether it existed.
pub fn revoke(
    store: &Store,
    sessions: &Sessions,
    code: &str,
    now: SystemTime,
) -> Result<bool, SessionError> {
    let Some(macs) = store.voucher_revoke(code)? else {
        return Ok(false);
    };
    for m in macs {
        sessions.end_if(m, EndReason::Revoked, now, |s, _| s.via == Via::Voucher)?;
    }
    Ok(true)
}

pub fn new_code() -> anyhow::Result<String> {
    let mut out = String::with_capacity(LEN + 2);
    let mut produced = 0;
    while produced < LEN {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        for byte in b {
            // Rejection sampling keeps the distribution uniform.
            if (byte as usize) < 250 && produced < LEN {
                if produced > 0 && produced % 4 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[byte as usize % 25] as char);
                produced += 1;
            }
        }
    }
    Ok(out)
}

/// The canonical form of a typed code (case, spaces and dashes do not matter), or `None`
/// when it cannot be a voucher.
pub fn normalize(s: &str) -> Option<String> {
    let symbols: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' '))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if symbols.len() != LEN || !symbols.iter().all(|b| ALPHABET.contains(b)) {
        return None;
    }
    let mut out = String::new();
    for (i, b) in symbols.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(*b as char);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voucher_codes_are_unambiguous_and_normalize() {
        let c = new_code().unwrap();
        assert_eq!(c.len(), LEN + 2);
        assert_eq!(
            normalize(&c.to_lowercase().replace('-', " ")),
            Some(c.clone())
        );
        assert!(
            c.bytes()
                .filter(|b| *b != b'-')
                .all(|b| ALPHABET.contains(&b))
        );
        assert_ne!(new_code().unwrap(), c);
        assert_eq!(normalize("0000-0000-0000"), None);
        assert_eq!(normalize("ACDE-FGHJ"), None);
    }

    #[test]
    fn a_checked_voucher_is_not_spent_until_its_session_is_recorded() {
        let (store, _dir) = crate::store::temp("voucher-check");
        let now = SystemTime::now();
        let v = create(
            &store,
            1,
            Terms {
                duration: Duration::from_secs(3600),
                quota: Some(1000),
                devices: 1,
                rate: crate::model::Rate {
                    up: None,
                    down: Some(10_000_000),
                },
            },
            now,
        )
        .unwrap();
        let a: Mac = "02:00:00:00:00:0a".parse().unwrap();
        let b: Mac = "02:00:00:00:00:0b".parse().unwrap();
        let g = check(&store, &v[0].code.to_lowercase(), a, now, false)
            .unwrap()
            .unwrap();
        assert_eq!(g.via, Via::Voucher);
        assert_eq!(g.quota.total, Some(1000));
        assert_eq!(
            g.rate.down,
            Some(10_000_000),
            "the batch's limit goes with each grant"
        );
        assert_eq!(g.voucher.as_deref(), Some(v[0].code.as_str()));
        // Checking spends nothing: another device may still take the one slot.
        assert!(check(&store, &v[0].code, b, now, false).unwrap().is_some());
        assert_eq!(store.vouchers().unwrap()[0].devices_used, 0);
        assert!(
            check(&store, "ACDE-FGHJ-KMNP", a, now, false)
                .unwrap()
                .is_none()
        );
    }
}
