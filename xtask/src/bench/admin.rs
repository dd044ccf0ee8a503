//! What the bench asks of the admin API beyond what the typed client offers: the grant
//! and revoke it repeats between samples, and filling the session table with many
//! clients fast, over parallel connections.

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

/// Authorizes all `macs` over `conns` requests in parallel.
pub fn allow_many(admin: &AdminClient, macs: &[String], conns: usize) -> anyhow::Result<()> {
    if macs.is_empty() {
        return Ok(());
    }
    let per = macs.len().div_ceil(conns.max(1));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = macs
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || -> anyhow::Result<()> {
                    AdminClient::block_on(async {
                        for mac in chunk {
                            allow_on(admin, mac).await?;
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("admin thread panicked"))??;
        }
        Ok(())
    })
}
