//! Prometheus text exposition of the daemon's state, rendered at scrape time from the
//! session table and the kernel's counters. Written by hand: the format is a few lines of
//! text, and rendering from live state avoids mirroring it into a metrics registry.

use std::{
    fmt::Write as _,
    sync::{Arc, atomic::Ordering},
};

use netauth_common::MAX_CLIENTS;

use crate::{
    datapath::Counters, identity::Identity, radius::Radius, sessions::Sessions, store::Store,
};

/// Everything `/metrics` reports on.
pub struct Metrics {
    pub sessions: Arc<Sessions>,
    pub identity: Arc<Identity>,
    pub counters: Arc<Counters>,
    pub portal: Arc<crate::portal::Stats>,
    pub radius: Option<Arc<Radius>>,
    pub store: Store,
}

impl Metrics {
    /// The Prometheus text, rendered off the async workers (map walks and store reads).
    pub async fn text(self: Arc<Self>) -> String {
        tokio::task::spawn_blocking(move || self.render())
            .await
            .unwrap_or_default()
    }

    /// An HTTP answer with the text.
    pub async fn response(self: Arc<Self>) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            self.text().await,
        )
            .into_response()
    }

    pub fn render(&self) -> String {
        render(self)
    }
}

fn render(m: &Metrics) -> String {
    let sessions = &m.sessions;
    let now = crate::clock::now();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {v}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
    };
    metric(
        "netauth_clients_authenticated",
        "gauge",
        "Clients with an active session.",
        &[("", sessions.count() as u64)],
    );
    metric(
        "netauth_clients_randomized_mac",
        "gauge",
        "Clients with an active session whose MAC is locally administered (randomised): \
         they may come back with another address and be asked to sign in again.",
        &[("", sessions.count_randomized() as u64)],
    );
    let (limited, down_dropped, up_dropped) = sessions.rate_stats();
    metric(
        "netauth_rate_limited_sessions",
        "gauge",
        "Active sessions with an upload or download rate limit.",
        &[("", limited as u64)],
    );
    metric(
        "netauth_rate_dropped_packets",
        "gauge",
        "Packets of rate-limited clients the datapath dropped since their limits were last \
         set: download beyond the 2 s horizon, upload beyond the policer's burst.",
        &[
            ("direction=\"down\"", down_dropped),
            ("direction=\"up\"", up_dropped),
        ],
    );
    metric(
        "netauth_clients_captive",
        "gauge",
        "Recently seen clients without a session.",
        &[(
            "",
            m.identity
                .recorded_devices(|mac| sessions.is_authorized(mac))
                .len() as u64,
        )],
    );
    let health = sessions.store_health();
    metric(
        "netauth_store_healthy",
        "gauge",
        "1 while the session store is the file netauth opened and takes writes; 0 once it \
         was removed or replaced (nothing more is acknowledged until a restart).",
        &[("", u64::from(health.healthy))],
    );
    metric(
        "netauth_store_pending_ends",
        "gauge",
        "Sessions ended in the datapath whose end the store has not taken yet (a full disk).",
        &[("", health.pending_ends as u64)],
    );
    metric(
        "netauth_clients_unrecorded",
        "gauge",
        "Devices the datapath lets through that the session store does not know (a store \
         moved aside or lost); they stay online until revoked.",
        &[("", health.unrecorded_clients as u64)],
    );
    metric(
        "netauth_logins_total",
        "counter",
        "Sessions granted (portal logins and admin allows) since start.",
        &[("", sessions.stats.logins.load(Ordering::Relaxed))],
    );
    metric(
        "netauth_portal_responses_total",
        "counter",
        "Answers to intercepted requests.",
        &[
            (
                "code=\"511\"",
                m.portal.answered_511.load(Ordering::Relaxed),
            ),
            (
                "code=\"302\"",
                m.portal.answered_302.load(Ordering::Relaxed),
            ),
        ],
    );
    let u = sessions.total_usage(now);
    metric(
        "netauth_client_bytes_total",
        "counter",
        "Layer-3 bytes of authenticated clients (sessions active now or ended since start).",
        &[
            ("direction=\"up\"", u.up_bytes),
            ("direction=\"down\"", u.down_bytes),
        ],
    );
    metric(
        "netauth_client_packets_total",
        "counter",
        "Packets of authenticated clients (sessions active now or ended since start).",
        &[
            ("direction=\"up\"", u.up_packets),
            ("direction=\"down\"", u.down_packets),
        ],
    );
    metric(
        "netauth_map_entries",
        "gauge",
        "Entries in the kernel's client map.",
        &[("map=\"clients\"", sessions.map_entries() as u64)],
    );
    metric(
        "netauth_map_capacity",
        "gauge",
        "Capacity of the kernel's client map.",
        &[("map=\"clients\"", u64::from(MAX_CLIENTS))],
    );
    let counters = m.counters.read();
    let labels: Vec<String> = counters
        .iter()
        .map(|(name, _)| format!("verdict=\"{name}\""))
        .collect();
    let samples: Vec<(&str, u64)> = labels
        .iter()
        .zip(&counters)
        .map(|(l, (_, v))| (l.as_str(), *v))
        .collect();
    metric(
        "netauth_datapath_packets_total",
        "counter",
        "Datapath decisions by verdict (drops by reason included).",
        &samples,
    );
    if let Some((batch, n, took)) = *sessions
        .last_full_refresh
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    {
        let label = if batch {
            "method=\"batch\""
        } else {
            "method=\"per-key\""
        };
        metric(
            "netauth_counter_refresh_microseconds",
            "gauge",
            "Duration of the last refresh of every session's counters from the kernel map, in microseconds.",
            &[(label, took.as_micros() as u64)],
        );
        metric(
            "netauth_counter_refresh_sessions",
            "gauge",
            "Sessions in that refresh.",
            &[(label, n as u64)],
        );
    }
    if let Some(r) = &m.radius {
        let s = &r.stats;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        metric(
            "netauth_radius_access_total",
            "counter",
            "RADIUS Access-Requests by outcome (MAC authentication included).",
            &[
                ("result=\"accept\"", get(&s.access_accepts)),
                ("result=\"reject\"", get(&s.access_rejects)),
                (
                    "result=\"no-answer\"",
                    get(&s.access_requests)
                        .saturating_sub(get(&s.access_accepts) + get(&s.access_rejects)),
                ),
            ],
        );
        metric(
            "netauth_radius_server_timeouts_total",
            "counter",
            "Times a RADIUS server did not answer all transmissions of a request.",
            &[("", get(&s.timeouts))],
        );
        metric(
            "netauth_radius_accounting_sent_total",
            "counter",
            "Accounting-Requests acknowledged by a server.",
            &[("", get(&s.acct_sent))],
        );
        metric(
            "netauth_radius_accounting_queued",
            "gauge",
            "Accounting-Requests waiting for delivery.",
            &[("", m.store.acct_queue_len().unwrap_or(0))],
        );
        metric(
            "netauth_radius_das_requests_total",
            "counter",
            "Authentic CoA and Disconnect requests received.",
            &[("", get(&s.das_requests))],
        );
    }
    out
}
