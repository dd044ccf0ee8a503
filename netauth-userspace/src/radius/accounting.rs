//! Accounting-Requests: the queued records (see [`crate::accounting`]) delivered in order.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, SystemTime},
};

use tracing::{debug, warn};

use super::{
    Radius,
    packet::{self, Packet, attr, chilli},
};
use crate::{
    model::{AcctRecord, AcctStatus, unix_ms},
    store::Store,
};

impl Radius {
    /// Builds the Accounting-Request for a queued record.
    pub(super) fn accounting_packet(&self, r: &AcctRecord, id: u8, now_ms: u64) -> Vec<u8> {
        let mut p = Packet::new(packet::ACCOUNTING_REQUEST, id);
        p.add_u32(
            attr::ACCT_STATUS_TYPE,
            match r.status {
                AcctStatus::Start => 1,
                AcctStatus::Stop => 2,
                AcctStatus::Interim => 3,
            },
        );
        p.add_str(attr::USER_NAME, &r.acct.username);
        p.add_str(attr::ACCT_SESSION_ID, &r.acct.session_id);
        p.add_u32(attr::ACCT_AUTHENTIC, if r.acct.radius_auth { 1 } else { 2 });
        Self::client_attrs(&mut p, r.mac, r.ip);
        self.nas_attrs(&mut p, r.acct.nas_port);
        for c in &r.acct.class {
            p.add(attr::CLASS, c.clone());
        }
        p.add_u32(attr::EVENT_TIMESTAMP, (r.event_ms / 1000) as u32);
        p.add_u32(
            attr::ACCT_DELAY_TIME,
            (now_ms.saturating_sub(r.event_ms) / 1000).min(u32::MAX as u64) as u32,
        );
        if r.status != AcctStatus::Start {
            let u = &r.usage;
            // Input is what the NAS received from the client: its upload.
            p.add_u32(
                attr::ACCT_SESSION_TIME,
                r.session_time_s.min(u32::MAX as u64) as u32,
            );
            p.add_u32(attr::ACCT_INPUT_OCTETS, u.up_bytes as u32);
            p.add_u32(attr::ACCT_INPUT_GIGAWORDS, (u.up_bytes >> 32) as u32);
            p.add_u32(attr::ACCT_OUTPUT_OCTETS, u.down_bytes as u32);
            p.add_u32(attr::ACCT_OUTPUT_GIGAWORDS, (u.down_bytes >> 32) as u32);
            p.add_u32(
                attr::ACCT_INPUT_PACKETS,
                u.up_packets.min(u32::MAX as u64) as u32,
            );
            p.add_u32(
                attr::ACCT_OUTPUT_PACKETS,
                u.down_packets.min(u32::MAX as u64) as u32,
            );
        }
        // RFC 2866 §4.1: any Access-Accept attribute but a few may be in an
        // Accounting-Request. Session-Timeout and the allowance, counted from the Start,
        // let a server tell another gateway what is left (examples/freeradius); the allowance
        // goes in the ChilliSpot attributes that granted it, split into gigawords.
        if let Some(t) = r.session_timeout_s {
            p.add_u32(attr::SESSION_TIMEOUT, t.min(u32::MAX as u64) as u32);
        }
        if let Some(q) = &r.quota {
            for (v, lo, hi) in [
                (q.up, chilli::MAX_INPUT_OCTETS, chilli::MAX_INPUT_GIGAWORDS),
                (
                    q.down,
                    chilli::MAX_OUTPUT_OCTETS,
                    chilli::MAX_OUTPUT_GIGAWORDS,
                ),
                (
                    q.total,
                    chilli::MAX_TOTAL_OCTETS,
                    chilli::MAX_TOTAL_GIGAWORDS,
                ),
            ] {
                if let Some(v) = v {
                    p.add_vendor_u32(chilli::VENDOR, lo, v as u32);
                    p.add_vendor_u32(chilli::VENDOR, hi, (v >> 32) as u32);
                }
            }
        }
        if let Some(c) = r.cause {
            p.add_u32(attr::ACCT_TERMINATE_CAUSE, c);
        }
        p.encode_hashed_request(&self.secret)
    }

    /// Delivers queued accounting requests in order, for ever. A request that no server
    /// acknowledges stays at the head of the queue and is retried with a growing pause
    /// (its Acct-Delay-Time grows with it).
    pub async fn accounting_loop(self: Arc<Self>, store: Store) {
        if self.acct.is_empty() {
            return std::future::pending().await;
        }
        let mut pause = Duration::from_secs(1);
        loop {
            let st = store.clone();
            let batch = tokio::task::spawn_blocking(move || st.acct_head(64))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| {
                    warn!("reading the accounting queue: {e}");
                    Vec::new()
                });
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            for (id, rec) in batch {
                let result = self
                    .exchange(&self.acct, "Accounting-Request", |pid| {
                        let raw = self.accounting_packet(&rec, pid, unix_ms(SystemTime::now()));
                        let auth: [u8; 16] = raw[4..20].try_into().expect("header");
                        (raw, auth)
                    })
                    .await;
                match result {
                    Ok(answer) if answer.code == packet::ACCOUNTING_RESPONSE => {
                        self.stats.acct_sent.fetch_add(1, Ordering::Relaxed);
                        debug!(mac = %rec.mac, status = ?rec.status, "accounting delivered");
                        let st = store.clone();
                        let removed = tokio::task::spawn_blocking(move || st.acct_remove(id)).await;
                        if let Ok(Err(e)) = removed {
                            warn!("removing a delivered accounting request from the queue: {e}");
                        }
                        pause = Duration::from_secs(1);
                    }
                    Ok(answer) => {
                        warn!(
                            code = answer.code,
                            "unexpected answer to an Accounting-Request; will retry"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(60));
                        break;
                    }
                    Err(e) => {
                        warn!(
                            queued = store.acct_queue_len().unwrap_or(0),
                            retry_in_s = pause.as_secs(),
                            "accounting not delivered ({e}); kept in the queue"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(60));
                        break;
                    }
                }
            }
        }
    }
}
