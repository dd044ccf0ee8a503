//! A session moved to a new device address (`--on-new-mac transfer`): a credential
//! without a device slot left, signed in again from a new MAC (a phone that randomised
//! its address), continues one of its sessions there with the time and data that session
//! had left; that session ends "moved". The credential is a voucher (its slot passes from
//! the old address to the new one in the same store transaction) or a RADIUS account
//! whose Access-Accept set a device limit (Port-Limit): its old session's accounting gets
//! a Stop (Acct-Terminate-Cause NAS-Request) and the new one a Start with the same
//! User-Name and Class, queued in that transaction.
//!
//! The order keeps a crash anywhere from putting both addresses online or doubling the
//! allowance: the old address is cut off in the map first; then the old session's end,
//! the slot's move and the new session's start commit as one; only then does the new
//! address get its map entry. A crash before the commit leaves the store with the old
//! session, which a restart puts back into the map; after it, the store has only the new
//! one, which a restart puts into the map.

use std::{net::IpAddr, sync::atomic::Ordering, time::SystemTime};

use tracing::{info, warn};

use super::{
    RECENT_END_MS, SessionError, Sessions, Table,
    authorize::{Granted, same_account},
};
use crate::{
    datapath::clients::NewEntry,
    model::{EndReason, Grant, Mac, Session, SessionView, Via, unix_ms},
};

impl Sessions {
    /// Moves to `mac` the session of one of the devices `grant.moves_from` names (the
    /// credential's holders; the least recently active one that still has a session):
    /// same end, the data it had left as its allowance, a new accounting session under
    /// the old one's User-Name and Class (the allowance it continues is the one granted
    /// with them). Refused when none of them has a session, or when `mac` already has
    /// one (an address the datapath already lets through): a voucher with
    /// [`SessionError::VoucherSpent`], an account with [`SessionError::NothingToMove`].
    pub(super) fn transfer(
        &self,
        mac: Mac,
        ip: Option<IpAddr>,
        grant: Grant,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        let now_ms = unix_ms(now);
        let code = grant.voucher.clone();
        let user = grant.acct.as_ref().map(|a| a.username.clone());
        let refused = if code.is_some() {
            SessionError::VoucherSpent
        } else {
            SessionError::NothingToMove
        };
        // Whose session may be moved: the voucher's, or the account's.
        let movable = |s: &Session| match (&code, &user) {
            (Some(_), _) => s.via == Via::Voucher,
            (None, Some(u)) => same_account(s, u),
            (None, None) => false,
        };
        let mut t = self.lock();
        self.settle_pending_ends(&mut t, |m| m == mac || grant.moves_from.contains(&m))?;
        if t.fold(mac, now_ms) || t.unrecorded.contains(&mac) || t.sessions.contains_key(&mac) {
            return Err(refused);
        }
        for m in &grant.moves_from {
            t.fold(*m, now_ms);
        }
        let Some(old) = grant
            .moves_from
            .iter()
            .filter(|m| **m != mac)
            .filter_map(|m| t.sessions.get(m))
            .filter(|s| movable(s) && s.due(now_ms).is_none())
            .min_by_key(|s| (s.last_active_ms, s.mac))
            .cloned()
        else {
            return Err(refused);
        };
        let mut s = Session {
            via: grant.via,
            started_ms: now_ms,
            last_active_ms: now_ms,
            ends_ms: old.ends_ms,
            idle_limit_s: old.idle_limit_s,
            quota: old.quota.left_after(&old.usage),
            rate: old.rate,
            ..Session::unrecorded(mac)
        };
        if let Some(ip) = ip {
            Table::remember_ip(&mut t.bindings, &mut s, ip);
        }
        if let Some(mut a) = grant.acct.clone() {
            a.started_ms = now_ms;
            if let Some(o) = &old.acct {
                a.username = o.username.clone();
                a.class = o.class.clone();
            }
            s.acct = Some(Box::new(a));
        }
        // Cut the old address off first: from here on at most one of them is online.
        t.clients.revoke(old.mac)?;
        let mut g = Granted {
            s,
            renewed: false,
            in_map: false,
            exempt: false,
            replaced: None,
        };
        let recorded = self.store.ack(|tx| {
            if let Some(code) = &code {
                match crate::store::vouchers::transfer(tx, code, old.mac, mac, now_ms)? {
                    Some(ends) => g.s.ends_ms = g.s.ends_ms.min(ends),
                    None => return Err(SessionError::VoucherSpent),
                }
            }
            self.record_end_in(tx, &old, now_ms, EndReason::Moved)?;
            self.record_start(tx, &g, now_ms)
        });
        if let Err(e) = recorded {
            // Nothing was recorded: the old session goes on, its counters carried over.
            let back = NewEntry {
                mac: old.mac,
                exempt: false,
                carried: old.usage.minus(old.base),
            };
            if let (_, Some(me)) = t.clients.insert_new(&[back]) {
                warn!(mac = %old.mac, "could not put back the session of a failed move: {me}");
            }
            warn!(%mac, from = %old.mac, "could not move the session: {e}");
            return Err(e);
        }
        for ip in &old.ips {
            t.bindings.unbind(*ip, old.mac);
        }
        t.sessions.swap_remove(&old.mac);
        let horizon = now_ms.saturating_sub(RECENT_END_MS);
        t.recent_ends.retain(|_, (_, at)| *at >= horizon);
        t.recent_ends.insert(old.mac, (EndReason::Moved, now_ms));
        {
            let mut ended = self
                .stats
                .ended_usage
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *ended = ended.plus(old.usage);
        }
        let s = g.s;
        t.sessions.insert(s.clone());
        // The session is on disk: a map that refuses it now (it just freed an entry) is
        // an error for this login; a restart, or the next login, puts it in.
        let entered = t.clients.authorize(mac, false);
        if entered.is_ok() {
            t.apply_rate(&s);
        }
        if entered.is_ok()
            && let Some(ip) = ip
            && let Err(e) = t.bindings.bind(ip, mac)
        {
            warn!(%mac, %ip, "could not bind the address: {e}");
        }
        drop(t);
        let old_ip = old
            .ips
            .last()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        info!(mac = %old.mac, ip = %old_ip, reason = EndReason::Moved.as_str(), to = %mac, "client revoked");
        if let Err(e) = entered {
            warn!(%mac, "the moved session is recorded but the map refused it: {e}");
            return Err(SessionError::Map(e));
        }
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        let expires_in_s = s.ends_ms.saturating_sub(now_ms) / 1000;
        info!(%mac, %ip, via = s.via.as_str(), expires_in_s, from = %old.mac, "client authorized (session moved)");
        Ok(s.view(now_ms))
    }
}
