//! The verbs about the daemon itself: `status`, and `stop` (with `--detach`, also when no
//! daemon is running).

use std::time::Duration;

use netauth_common::api::{AdminClient, ClientError};

use super::{Failure, Outcome, print_json};
use crate::config::{DEFAULT_ADMIN_SOCKET, RunArgs, read_config_file};

/// How long `netauth stop` waits for the daemon to finish.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The facts `status` shows first, in this order; the counters follow.
const STATUS_FACTS: [&str; 10] = [
    "lan",
    "xdp_mode",
    "portal_ipv4",
    "portal_ipv6",
    "portal_port",
    "intercept_port",
    "sessions",
    "map_entries",
    "state_dir",
    "pin_dir",
];

pub async fn status(admin: &AdminClient, json: bool) -> Outcome {
    let facts = admin.status().await?;
    if json {
        return print_json(&facts);
    }
    for key in STATUS_FACTS {
        let v = match &facts[key] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        };
        println!("{key:<26} {v}");
    }
    if let Some(c) = facts["counters"].as_object() {
        for (k, v) in c {
            println!("{k:<26} {v}");
        }
    }
    Ok(())
}

/// Asks the daemon (found by its options: `--admin-socket`, else its config file's, else
/// the default) to stop, and waits until it has.
pub async fn stop(run: RunArgs, detach: bool) -> Outcome {
    let file_socket = match &run.config {
        Some(p) => read_config_file(p)?.admin_socket,
        None => None,
    };
    let admin = AdminClient::new(
        run.admin_socket
            .clone()
            .or(file_socket)
            .unwrap_or_else(|| DEFAULT_ADMIN_SOCKET.into()),
    );
    match admin.shutdown(detach).await {
        Ok(()) => {
            wait_until_stopped(&admin).await?;
            println!(
                "netauth stopped{}",
                if detach { " and detached" } else { "" }
            );
            Ok(())
        }
        Err(e @ ClientError::Api { .. }) => Err(e.into()),
        Err(e) if detach => {
            if run.lan.is_none() && run.config.is_none() {
                return Err(Failure::BadInput(format!(
                    "no daemon answers ({e}); give --lan IFACE (and --bpffs/--config if not default) to detach"
                )));
            }
            crate::daemon::detach_offline(run).await?;
            println!("netauth detached (no daemon was running)");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The daemon removes its socket as the last step of stopping.
async fn wait_until_stopped(admin: &AdminClient) -> Outcome {
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while admin.socket().exists() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::failed(format!(
                "the daemon accepted the stop but did not finish within {} s (its admin socket {} is still there)",
                STOP_WAIT.as_secs(),
                admin.socket().display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
