//! The session table at start: the store's sessions, moved with the clocks, reconciled
//! with the kernel map both ways.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::SystemTime,
};

use tracing::{info, warn};

use super::{Active, Observer, Parts, Sessions, Stats, Table};
use crate::{
    clock,
    datapath::clients::NewEntry,
    model::{Defaults, EndReason, Session, Via, unix_ms},
};

impl Sessions {
    /// Loads the store and reconciles it with the kernel map both ways: sessions that
    /// ended while netauth was down are ended, sessions missing from the map (a reboot)
    /// are restored, map entries without a session are kept and reported.
    pub fn new(
        parts: Parts,
        defaults: Defaults,
        observer: Arc<dyn Observer>,
        now: SystemTime,
    ) -> anyhow::Result<Arc<Self>> {
        let now_ms = unix_ms(now);
        let Parts {
            clients,
            bindings,
            store,
        } = parts;
        // Where the clocks stood at the last save says how far the stored times must move
        // (a step of the wall clock while netauth was stopped, or a reboot with a clock
        // that cannot be believed).
        if let Some(mark) = store.clock_mark()? {
            let trusted = clock::wall_trusted();
            let shift = mark.shift_to_now(trusted);
            if shift.abs() >= 1000 {
                info!(
                    shift = %clock::describe(shift),
                    same_boot = mark.boot_id == clock::boot_id(),
                    wall_clock_trusted = trusted,
                    "stored session times moved to the wall clock"
                );
                store.shift_times(shift)?;
            }
        }
        let view = Arc::new(clients.view()?);
        // NETAUTH_COUNTER_BATCH=off reads key by key (for kernels whose batch lookups
        // misbehave, and to compare the two).
        let reader = if std::env::var("NETAUTH_COUNTER_BATCH").is_ok_and(|v| v == "off") {
            info!("NETAUTH_COUNTER_BATCH=off: counters are read key by key");
            None
        } else {
            clients
                .counter_reader()
                .map_err(|e| warn!("no batch reader of the client map ({e}); reading key by key"))
                .ok()
        };
        let stored = store.active()?;
        let mut kernel: HashSet<_> = clients.keys().into_iter().collect();
        let me = Self {
            table: Mutex::new(Table {
                clients,
                bindings,
                sessions: Active::with_capacity(stored.len()),
                recent_ends: HashMap::new(),
                pending_ends: Vec::new(),
                unrecorded: HashSet::new(),
            }),
            store,
            view,
            reader,
            batch_failed: AtomicBool::new(false),
            last_full_refresh: Mutex::new(None),
            checkpointed: Mutex::new(HashMap::new()),
            defaults,
            stats: Stats::default(),
            observer,
        };
        // Sessions that ended while netauth was down are recorded in one transaction, not
        // one fsync each; the kernel entries of those it restores are added a few thousand
        // per syscall. With 100k devices, one at a time took seconds with the gate closed
        // to the devices not restored yet.
        let mut ended: Vec<(Session, EndReason)> = Vec::new();
        let mut restore: Vec<NewEntry> = Vec::new();
        let mut kept = 0;
        {
            let mut t = me.lock();
            let mut bound = Vec::new();
            for mut s in stored {
                let mac = s.mac;
                let in_kernel = kernel.remove(&mac);
                if in_kernel {
                    // Same boot: the kernel kept counting while we were away.
                    if let Some((k, seen)) = t.clients.usage(mac, now_ms) {
                        s.apply_kernel(k, seen);
                    }
                }
                if let Some(reason) = s.due(now_ms) {
                    let _ = t.clients.revoke(mac);
                    ended.push((s, reason));
                    continue;
                }
                if in_kernel {
                    kept += 1;
                } else {
                    // A new kernel entry starts from the totals so far (beyond the stored
                    // base), so the stored session stays as it is.
                    restore.push(NewEntry {
                        mac,
                        exempt: s.via == Via::Trusted,
                        carried: s.usage.minus(s.base),
                    });
                }
                // The addresses it had (a reboot forgot the pinned bindings).
                bound.extend(s.ips.iter().map(|ip| (*ip, mac)));
                t.apply_rate(&s);
                t.sessions.insert(s);
            }
            if let (_, Some(e)) = t.clients.insert_new(&restore) {
                return Err(anyhow::anyhow!(
                    "restoring {} sessions into the client map: {e}",
                    restore.len()
                ));
            }
            for (ip, mac, e) in t.bindings.bind_all(&bound) {
                warn!(%mac, %ip, "could not restore an address binding: {e}");
            }
            for stray in kernel {
                warn!(
                    mac = %stray,
                    "a device in the datapath is not in the session store (a store moved \
                     aside or lost?): kept online; `netauth revoke` ends it"
                );
                t.unrecorded.insert(stray);
            }
        }
        if !ended.is_empty() {
            me.store.ack(|tx| {
                ended
                    .iter()
                    .try_for_each(|(s, reason)| me.record_end_in(tx, s, now_ms, *reason))
            })?;
        }
        for (s, reason) in &ended {
            info!(mac = %s.mac, reason = reason.as_str(), "session ended while netauth was down");
        }
        info!(
            kept,
            restored = restore.len(),
            ended = ended.len(),
            "sessions reconciled with the kernel map"
        );
        me.store.set_clock_mark(&clock::Mark::now())?;
        Ok(Arc::new(me))
    }
}
