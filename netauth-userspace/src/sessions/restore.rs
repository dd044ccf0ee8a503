//! The session table at start: the store's sessions, moved with the clocks, reconciled
//! with the kernel map both ways.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::SystemTime,
};

use tracing::{info, warn};

use super::{Observer, Parts, Sessions, Stats, Table};
use crate::{
    clock,
    model::{Defaults, Via, unix_ms},
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
                sessions: HashMap::new(),
                recent_ends: HashMap::new(),
                pending_ends: Vec::new(),
                unrecorded: HashSet::new(),
            }),
            store,
            view,
            reader,
            batch_failed: AtomicBool::new(false),
            last_full_refresh: Mutex::new(None),
            defaults,
            stats: Stats::default(),
            observer,
        };
        let (mut kept, mut restored, mut ended) = (0, 0, 0);
        {
            let mut t = me.lock();
            for mut s in stored {
                let mac = s.mac;
                let in_kernel = kernel.remove(&mac);
                if in_kernel {
                    // Same boot: the kernel kept counting while we were away.
                    if let Some((k, seen)) = t.clients.usage(mac, now_ms) {
                        s.apply_kernel(k, seen);
                    }
                } else {
                    // A new kernel entry starts at zero: carry the totals so far.
                    s.base = s.usage;
                }
                if let Some(reason) = s.due(now_ms) {
                    let _ = t.clients.revoke(mac);
                    me.record_end(&s, now_ms, reason)?;
                    info!(%mac, reason = reason.as_str(), "session ended while netauth was down");
                    ended += 1;
                    continue;
                }
                if in_kernel {
                    kept += 1;
                } else {
                    t.clients.authorize(mac, s.via == Via::Trusted)?;
                    me.store.ack(|tx| {
                        crate::store::sessions::save(tx, &s).map_err(crate::store::StoreError::from)
                    })?;
                    restored += 1;
                }
                // The addresses it had (a reboot forgot the pinned bindings).
                for ip in &s.ips {
                    if let Err(e) = t.bindings.bind(*ip, mac) {
                        warn!(%mac, %ip, "could not restore an address binding: {e}");
                    }
                }
                t.sessions.insert(mac, s);
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
        info!(
            kept,
            restored, ended, "sessions reconciled with the kernel map"
        );
        me.store.set_clock_mark(&clock::Mark::now())?;
        Ok(Arc::new(me))
    }
}
