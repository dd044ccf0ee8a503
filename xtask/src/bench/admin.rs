//! What the bench asks of the admin API beyond what the typed client offers: the grant
//! and revoke it repeats between samples, and filling the session table with many
//! clients at once (one batch).

use netauth_common::api::{AdminClient, AllowRequest, ClientError};

/// Authorizes `mac` for a day (longer than any run).
async fn allow_on(admin: &AdminClient, mac: &str) -> anyhow::Result<()> {
    let req = AllowRequest {
        mac: mac.to_string(),
        duration: Some("24h".into()),
        ..AllowRequest::default()
    };
    admin
        .allow(&req)
        .await
        .map_err(|e| anyhow::anyhow!("POST /v1/sessions {mac}: {e}"))?;
    Ok(())
}

pub fn allow(admin: &AdminClient, mac: &str) -> anyhow::Result<()> {
    AdminClient::block_on(allow_on(admin, mac))
}

/// Ends the session of `mac`; no session is fine.
pub fn revoke(admin: &AdminClient, mac: &str) -> anyhow::Result<()> {
    let mac = mac.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    AdminClient::block_on(admin.revoke(mac))
        .map_err(|e: ClientError| anyhow::anyhow!("DELETE /v1/sessions/{mac}: {e}"))?;
    Ok(())
}

/// Authorizes all `macs` for a day in one batch request (`POST /v1/sessions` with
/// NDJSON, as `netauth allow --from FILE` sends it): all of them, or an error.
pub fn allow_batch(admin: &AdminClient, macs: &[String]) -> anyhow::Result<()> {
    if macs.is_empty() {
        return Ok(());
    }
    let reqs: Vec<AllowRequest> = macs
        .iter()
        .map(|mac| AllowRequest {
            mac: mac.clone(),
            duration: Some("24h".into()),
            ..AllowRequest::default()
        })
        .collect();
    let done = AdminClient::block_on(admin.allow_batch(&reqs))
        .map_err(|e| anyhow::anyhow!("POST /v1/sessions with {} sessions: {e}", reqs.len()))?;
    if done.authorized != reqs.len() as u64 {
        anyhow::bail!(
            "POST /v1/sessions authorized {} of {} sessions",
            done.authorized,
            reqs.len()
        );
    }
    Ok(())
}
