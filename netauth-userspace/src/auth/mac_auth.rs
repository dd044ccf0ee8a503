//! RADIUS MAC authentication: every second, captive devices the datapath saw are asked
//! about (the MAC as user name, Service-Type Call-Check); an accepted device is
//! authorized without a browser.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::warn;

use crate::{
    identity::Identity,
    model::Mac,
    radius::{Decision, Radius, mac_string},
    sessions::Sessions,
};

/// Devices asked per round.
const PER_ROUND: usize = 64;
/// When a device RADIUS decided on is asked again.
const ASK_AGAIN: Duration = Duration::from_secs(60);
/// When a device no server answered for is asked again.
const RETRY: Duration = Duration::from_secs(10);

/// Runs for ever.
pub async fn run(radius: Arc<Radius>, identity: Arc<Identity>, sessions: Arc<Sessions>) {
    // MAC -> when it may be asked again.
    let mut asked: HashMap<Mac, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        asked.retain(|_, t| *t > now);
        let (id, s) = (identity.clone(), sessions.clone());
        // The address records and the client map are read without the session lock.
        let captive =
            tokio::task::spawn_blocking(move || id.recorded_devices(|m| s.is_authorized(m)))
                .await
                .unwrap_or_default();
        let fresh: Vec<(Mac, IpAddr)> = captive
            .into_iter()
            .filter(|(m, _)| !asked.contains_key(m))
            .take(PER_ROUND)
            .collect();
        for (mac, _) in &fresh {
            asked.insert(*mac, now + ASK_AGAIN);
        }
        let attempts = fresh.into_iter().map(|(mac, ip)| {
            let radius = radius.clone();
            let sessions = sessions.clone();
            async move {
                match radius.authenticate(&mac_string(mac), None, mac, Some(ip)).await {
                    Ok(Decision::Accept(grant)) => {
                        let r = tokio::task::spawn_blocking(move || {
                            sessions.authorize(mac, Some(ip), *grant, crate::clock::now())
                        })
                        .await;
                        if let Ok(Err(e)) = r {
                            warn!(%mac, "MAC authentication accepted but authorization failed: {e}");
                        }
                        None
                    }
                    Ok(Decision::Reject) => None,
                    // Ask again soon when no server answered.
                    Err(_) => Some(mac),
                }
            }
        });
        for retry in futures::future::join_all(attempts)
            .await
            .into_iter()
            .flatten()
        {
            asked.insert(retry, Instant::now() + RETRY);
        }
    }
}
