//! The session verbs: `sessions`, `allow`, `extend`, `revoke`.

use std::time::Duration;

use netauth_common::api::{AdminClient, AllowRequest, SessionList, SessionView};

use super::{Failure, Outcome, print_json};
use crate::{
    config::{parse_bytes, parse_duration},
    model::Mac,
    portal::pages::{human, human_bytes},
};

/// What `netauth allow` grants.
#[derive(clap::Args)]
pub struct AllowArgs {
    mac: Mac,
    /// Session length [default: the daemon's --session-timeout].
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Idle timeout for this session [default: the daemon's --idle-timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle: Option<Duration>,
    /// Data allowance, up and down together (e.g. 500M, 2G).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    quota: Option<u64>,
    /// Upload allowance.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    quota_up: Option<u64>,
    /// Download allowance.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    quota_down: Option<u64>,
}

/// A duration as the API takes it: whole seconds.
pub(super) fn api_duration(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

pub async fn list(admin: &AdminClient, json: bool) -> Outcome {
    let sessions = admin.sessions().await?;
    if json {
        print_json(&SessionList { sessions })
    } else {
        print_table(&sessions);
        Ok(())
    }
}

pub async fn allow(admin: &AdminClient, a: AllowArgs) -> Outcome {
    let req = AllowRequest {
        mac: a.mac.to_string(),
        duration: a.duration.map(api_duration),
        idle: a.idle.map(api_duration),
        quota: a.quota.map(Into::into),
        quota_up: a.quota_up.map(Into::into),
        quota_down: a.quota_down.map(Into::into),
    };
    let session = admin.allow(&req).await?;
    let granted = a
        .duration
        .map(|d| d.as_secs())
        .unwrap_or_else(|| session.expires.saturating_sub(session.started));
    println!("{} authorized for {}", a.mac, human(granted));
    Ok(())
}

pub async fn extend(admin: &AdminClient, mac: Mac, by: Duration) -> Outcome {
    let session = admin.extend(mac, &api_duration(by)).await?;
    println!("{mac} now has {} left", human(session.seconds_remaining));
    Ok(())
}

pub async fn revoke(admin: &AdminClient, mac: Mac) -> Outcome {
    match admin.revoke(mac).await? {
        Some(_) => {
            println!("{mac} revoked");
            Ok(())
        }
        None => Err(Failure::failed(format!("no session for {mac}"))),
    }
}

fn print_table(sessions: &[SessionView]) {
    if sessions.is_empty() {
        println!("no sessions");
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!(
        "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}",
        "MAC", "IP", "VIA", "TIME LEFT", "UP", "DOWN", "DATA LEFT"
    );
    for s in sessions {
        println!(
            "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}",
            s.mac.to_string(),
            s.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
            s.via.as_str(),
            human(s.expires.saturating_sub(now)),
            human_bytes(s.up_bytes),
            human_bytes(s.down_bytes),
            s.bytes_remaining
                .map(human_bytes)
                .unwrap_or_else(|| "-".into()),
        );
    }
}
