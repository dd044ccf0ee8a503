//! Sessions granted: one device at a login or an admin command ([`Sessions::authorize`]),
//! or many at once from an operator's batch ([`Sessions::authorize_many`]). Both take the
//! same steps: an earlier end of the device still waiting for the store is recorded
//! first; the map is changed first, then the store (with what the observer records) in
//! one acknowledged transaction; a map entry the store did not take is taken back.

use std::{collections::HashSet, net::IpAddr, sync::atomic::Ordering, time::SystemTime};

use rusqlite::Transaction;
use tracing::{debug, info, warn};

use super::{Event, SessionError, Sessions, Table};
use crate::{
    datapath::clients::{NewEntry, is_full},
    model::{Acct, Grant, Mac, Session, SessionView, Usage, unix_ms},
    store::StoreError,
};

/// A session about to be granted.
pub(super) struct Granted {
    pub(super) s: Session,
    /// The device had an active session, which this one renews (its counters kept).
    pub(super) renewed: bool,
    /// The device has its kernel entry (a renewal's, or one the store does not know).
    pub(super) in_map: bool,
    /// Not held to its bound addresses.
    pub(super) exempt: bool,
    /// The accounting session this one replaces, which ends with it.
    pub(super) replaced: Option<Box<Acct>>,
}

/// What a batch did (see [`Sessions::authorize_many`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Authorized {
    /// Devices that had no session.
    pub new: usize,
    /// Active sessions renewed.
    pub renewed: usize,
}

impl Sessions {
    /// The session `grant` gives `mac` at `now_ms`: its active session renewed (counters
    /// kept) or a new one, with the daemon's defaults for what the grant leaves open.
    fn granted(
        &self,
        t: &mut Table,
        mac: Mac,
        ip: Option<IpAddr>,
        grant: &Grant,
        now_ms: u64,
    ) -> Granted {
        let duration = grant.duration.unwrap_or(self.defaults.session_timeout);
        let idle = if grant.exempt {
            grant.idle
        } else {
            grant.idle.or(self.defaults.idle_timeout)
        };
        let quota = if grant.quota.is_limited() || grant.exempt {
            grant.quota
        } else {
            self.defaults.quota
        };
        let in_map = t.fold(mac, now_ms) || t.unrecorded.contains(&mac);
        let existing = t.sessions.get(&mac);
        let renewed = existing.is_some();
        let mut s = existing.cloned().unwrap_or_else(|| Session {
            via: grant.via,
            started_ms: now_ms,
            last_active_ms: now_ms,
            // A fresh kernel entry counts from zero.
            base: Usage::default(),
            ..Session::unrecorded(mac)
        });
        s.via = grant.via;
        s.ends_ms = now_ms.saturating_add(duration.as_millis() as u64);
        s.idle_limit_s = idle.map(|d| d.as_secs().max(1));
        s.quota = quota;
        s.rate = if grant.exempt {
            grant.rate
        } else {
            grant.rate.or(self.defaults.rate)
        };
        s.last_active_ms = now_ms;
        if let Some(ip) = ip {
            Table::remember_ip(&mut t.bindings, &mut s, ip);
        }
        // A login (or renewal) is a new accounting session; the one it replaces ends.
        let replaced = s.acct.take();
        if let Some(mut a) = grant.acct.clone() {
            a.base = s.usage;
            a.started_ms = now_ms;
            s.acct = Some(Box::new(a));
        }
        Granted {
            s,
            renewed,
            in_map,
            exempt: grant.exempt,
            replaced,
        }
    }

    /// Records a granted session and what the observer makes of its start, in `tx`.
    pub(super) fn record_start(
        &self,
        tx: &Transaction<'_>,
        g: &Granted,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        crate::store::sessions::save(tx, &g.s)?;
        let event = Event::Started {
            session: &g.s,
            replaced: g.replaced.as_deref(),
        };
        self.observer.record(tx, &event, now_ms)?;
        Ok(())
    }

    /// Records the ends still waiting for the store of the devices `wanted` selects; an
    /// error (and nothing changed) when one cannot be recorded: it would later end a
    /// session granted now.
    pub(super) fn settle_pending_ends(
        &self,
        t: &mut Table,
        wanted: impl Fn(Mac) -> bool,
    ) -> Result<(), SessionError> {
        if t.pending_ends.iter().any(|p| wanted(p.session.mac)) && !self.flush_pending_ends(t) {
            return Err(
                StoreError::full("an earlier end of this device is not recorded yet").into(),
            );
        }
        Ok(())
    }

    /// Authorizes `mac` (a new session, or a renewal of its active one that keeps its
    /// counters) with what `grant` says, the daemon's defaults for the rest. Map first,
    /// then store; a failed store write takes the map entry back. A voucher the grant
    /// spends is spent in the same transaction, so a login that fails leaves it unused.
    /// A grant that [moves](Grant::moves_from) a voucher's session to `mac` is
    /// [`Sessions::transfer`].
    pub fn authorize(
        &self,
        mac: Mac,
        ip: Option<IpAddr>,
        grant: Grant,
        now: SystemTime,
    ) -> Result<SessionView, SessionError> {
        if !grant.moves_from.is_empty() {
            return self.transfer(mac, ip, grant, now);
        }
        let now_ms = unix_ms(now);
        // A device limit is counted under the lock the session is granted under, so two
        // logins at once cannot both take the last slot; a move that finds its session
        // gone (another login took it) counts again.
        let mut tries = 0;
        let mut t = loop {
            let t = self.lock();
            let Some(limit) = grant.devices else {
                break t;
            };
            let holders = account_devices(&t, mac, &grant, now_ms);
            if holders.len() < limit as usize {
                break t;
            }
            drop(t);
            tries += 1;
            if !grant.transfer || tries > 3 {
                info!(%mac, devices = holders.len(), "login refused: the account's device limit is reached");
                return Err(SessionError::DeviceLimit);
            }
            let moving = Grant {
                moves_from: holders,
                ..grant.clone()
            };
            match self.transfer(mac, ip, moving, now) {
                Err(SessionError::NothingToMove) => continue,
                r => return r,
            }
        };
        self.settle_pending_ends(&mut t, |m| m == mac)?;
        let mut g = self.granted(&mut t, mac, ip, &grant, now_ms);
        if let Err(e) = t.clients.authorize(mac, grant.exempt) {
            warn!(%mac, "authorization failed: {e}");
            return Err(if is_full(&e) {
                SessionError::Full
            } else {
                SessionError::Map(e)
            });
        }
        let recorded = self.store.ack(|tx| {
            if let Some(code) = &grant.voucher {
                match crate::store::vouchers::spend(tx, code, mac, now_ms)? {
                    Some(ends) => g.s.ends_ms = g.s.ends_ms.min(ends),
                    None => return Err(SessionError::VoucherSpent),
                }
            }
            self.record_start(tx, &g, now_ms)
        });
        if let Err(e) = recorded {
            if !g.renewed {
                let _ = t.clients.revoke(mac);
            }
            warn!(%mac, "could not record the session: {e}");
            return Err(e);
        }
        t.unrecorded.remove(&mac);
        // The address the device signed in from is its own (the login connection's
        // packets came from its MAC).
        if let Some(ip) = ip
            && let Err(e) = t.bindings.bind(ip, mac)
        {
            warn!(%mac, %ip, "could not bind the address: {e}");
        }
        let s = g.s;
        t.apply_rate(&s);
        t.sessions.insert(s.clone());
        drop(t);
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        let expires_in_s = s.ends_ms.saturating_sub(now_ms) / 1000;
        info!(%mac, %ip, via = grant.via.as_str(), expires_in_s, "client authorized");
        Ok(s.view(now_ms))
    }

    /// Authorizes many devices at once (an operator's batch, each MAC once): the whole
    /// batch, or nothing. Each device is granted as by [`Sessions::authorize`] (without
    /// an address; batches spend no vouchers), its map entry is added, and then every
    /// session and what the observer records of it is written in one acknowledged
    /// transaction. When the map cannot take every new device (it is full), or the store
    /// refuses the batch, the entries the batch added are taken back: nothing changed.
    /// The table is locked throughout (about a second for 100k devices).
    pub fn authorize_many(
        &self,
        grants: &[(Mac, Grant)],
        now: SystemTime,
    ) -> Result<Authorized, SessionError> {
        let now_ms = unix_ms(now);
        let mut seen = HashSet::with_capacity(grants.len());
        if let Some((mac, _)) = grants.iter().find(|(m, _)| !seen.insert(*m)) {
            return Err(SessionError::Repeated(*mac));
        }
        debug_assert!(grants.iter().all(|(_, g)| g.voucher.is_none()));
        let mut t = self.lock();
        self.settle_pending_ends(&mut t, |m| seen.contains(&m))?;
        let granted: Vec<Granted> = grants
            .iter()
            .map(|(mac, grant)| self.granted(&mut t, *mac, None, grant, now_ms))
            .collect();
        let new = granted.iter().filter(|g| !g.renewed).count();
        // The entries this batch adds: new devices', and a renewal's whose entry went
        // missing. A device in the map without a session (one the store does not know)
        // keeps its entry, counters and all, whatever happens here.
        let entries: Vec<NewEntry> = granted
            .iter()
            .filter(|g| !g.in_map)
            .map(|g| NewEntry {
                mac: g.s.mac,
                exempt: g.exempt,
                carried: Usage::default(),
            })
            .collect();
        let take_back = |t: &mut Table, added: &[NewEntry]| {
            for e in added {
                if let Err(err) = t.clients.revoke(e.mac) {
                    warn!(mac = %e.mac, "could not take back a map entry of a failed batch: {err}");
                }
            }
        };
        let (fitted, failed) = t.clients.insert_new(&entries);
        if let Some(e) = failed {
            take_back(&mut t, &entries[..fitted]);
            warn!(
                fitted,
                new = entries.len(),
                "batch refused by the client map: {e}"
            );
            return Err(if is_full(&e) {
                SessionError::BatchFull {
                    fitted,
                    new: entries.len(),
                }
            } else {
                SessionError::Map(e)
            });
        }
        let recorded = self.store.ack(|tx| {
            granted
                .iter()
                .try_for_each(|g| self.record_start(tx, g, now_ms))
        });
        if let Err(e) = recorded {
            take_back(&mut t, &entries);
            warn!(devices = granted.len(), "could not record the batch: {e}");
            return Err(e);
        }
        let mut authorized = Vec::with_capacity(granted.len());
        t.sessions.reserve(new);
        for g in granted {
            let mac = g.s.mac;
            t.unrecorded.remove(&mac);
            authorized.push((mac, g.s.via, g.s.ends_ms));
            t.apply_rate(&g.s);
            t.sessions.insert(g.s);
        }
        drop(t);
        self.stats
            .logins
            .fetch_add(authorized.len() as u64, Ordering::Relaxed);
        // One line for the batch; each device's only at debug level: 100k lines took a
        // tenth to a third of the time of a 100k batch (more on a busy machine).
        if tracing::enabled!(tracing::Level::DEBUG) {
            for (mac, via, ends_ms) in &authorized {
                let expires_in_s = ends_ms.saturating_sub(now_ms) / 1000;
                debug!(%mac, ip = "-", via = via.as_str(), expires_in_s, "client authorized");
            }
        }
        let done = Authorized {
            new,
            renewed: authorized.len() - new,
        };
        info!(new = done.new, renewed = done.renewed, "batch authorized");
        Ok(done)
    }

    /// Gives authorized devices the addresses they are known by (the gateway's neighbour
    /// table) that no other device holds: a device allowed by an operator may not
    /// announce its addresses again before it sends. One store write for all of them.
    pub fn adopt_addresses(&self, found: &[(Mac, Vec<IpAddr>)]) {
        let mut t = self.lock();
        let Table {
            bindings, sessions, ..
        } = &mut *t;
        let mut changed = Vec::new();
        for (mac, ips) in found {
            let Some(mut s) = sessions.get_mut(mac) else {
                continue;
            };
            let mut new = false;
            for ip in ips {
                if bindings.bind_if_free(*ip, *mac) && !s.ips.contains(ip) {
                    s.ips.push(*ip);
                    new = true;
                }
            }
            if new {
                changed.push(*mac);
            }
        }
        if changed.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .save_ips(changed.iter().filter_map(|m| sessions.get(m)))
        {
            warn!(
                devices = changed.len(),
                "could not record the devices' addresses: {e}"
            );
        }
    }
}

/// Whether `s` is a session RADIUS authenticated for `user`.
pub(super) fn same_account(s: &Session, user: &str) -> bool {
    s.acct
        .as_ref()
        .is_some_and(|a| a.radius_auth && a.username == user)
}

/// The other devices with a running session of the account `grant` is for (same RADIUS
/// User-Name), when `mac` has none itself (a renewal is not a new device).
fn account_devices(t: &Table, mac: Mac, grant: &Grant, now_ms: u64) -> Vec<Mac> {
    let Some(user) = grant.acct.as_ref().map(|a| &a.username) else {
        return Vec::new();
    };
    if t.sessions.contains_key(&mac) {
        return Vec::new();
    }
    t.sessions
        .values()
        .filter(|s| s.due(now_ms).is_none() && same_account(s, user))
        .map(|s| s.mac)
        .collect()
}
