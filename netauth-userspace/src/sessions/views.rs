//! What operators and the portal read of the table.

use std::time::SystemTime;

use super::{RECENT_END_MS, Sessions};
use crate::model::{EndReason, Mac, SessionView, unix_ms};

/// Sessions written per piece of a streamed listing.
const LIST_CHUNK: usize = 256;

impl Sessions {
    pub fn get(&self, mac: Mac, now: SystemTime) -> Option<SessionView> {
        let now_ms = unix_ms(now);
        let mut t = self.lock();
        t.fold(mac, now_ms);
        t.sessions.get(&mac).map(|s| s.view(now_ms))
    }

    /// Every session as JSON, written piece by piece to `out` (sorted by MAC), so
    /// listing 100k sessions never holds them all as views or as one JSON document.
    /// Returns false when `out` stopped taking pieces (the client went away).
    pub fn list_json(&self, now: SystemTime, mut out: impl FnMut(Vec<u8>) -> bool) -> bool {
        let now_ms = unix_ms(now);
        let macs = self.select(|_| true);
        self.fold_in_chunks(&macs, now_ms);
        if !out(b"{\"sessions\":[".to_vec()) {
            return false;
        }
        let mut first = true;
        for chunk in macs.chunks(LIST_CHUNK) {
            let mut buf = Vec::with_capacity(chunk.len() * 512);
            {
                let t = self.lock();
                for s in chunk.iter().filter_map(|m| t.sessions.get(m)) {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    let _ = serde_json::to_writer(&mut buf, &s.view(now_ms));
                }
            }
            if !out(buf) {
                return false;
            }
        }
        out(b"]}".to_vec())
    }

    /// Whether `mac` has a session (its counters are not read, no view is built).
    pub fn has(&self, mac: Mac) -> bool {
        self.lock().sessions.contains_key(&mac)
    }

    /// Why `mac`'s last session ended, if it ended within the last hour (and since this
    /// daemon started) and it has no session now.
    pub fn recent_end_reason(&self, mac: Mac, now: SystemTime) -> Option<EndReason> {
        let since = unix_ms(now).saturating_sub(RECENT_END_MS);
        let t = self.lock();
        if t.sessions.contains_key(&mac) {
            return None;
        }
        t.recent_ends
            .get(&mac)
            .filter(|(_, at)| *at >= since)
            .map(|(r, _)| *r)
    }
}
