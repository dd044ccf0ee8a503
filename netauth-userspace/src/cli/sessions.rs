//! The session verbs: `sessions`, `allow` (one device; many with `--from`, see
//! [`super::bulk`]), `extend`, `limit`, `revoke`.

use std::{path::PathBuf, time::Duration};

use netauth_common::api::{AdminClient, AllowRequest, LimitRequest, SessionList, SessionView};

use super::{Failure, Outcome, print_json};
use crate::{
    config::{format_rate, parse_bytes, parse_duration, parse_rate},
    model::Mac,
    portal::pages::{human, human_bytes},
};

/// What `netauth allow` grants.
#[derive(clap::Args)]
pub struct AllowArgs {
    /// The device to authorize.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    mac: Option<Mac>,
    /// Authorize every device of FILE at once ("-": standard input), all or none. One
    /// device a line: `MAC [--for DUR] [--idle DUR] [--quota B] [--quota-up B]
    /// [--quota-down B]`, or a JSON object as the API takes it; `#` starts a comment.
    /// The options given here apply to the lines that do not set their own.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    #[command(flatten)]
    grant: GrantArgs,
}

/// The limits of a session, as `allow` takes them (and each line of `allow --from`).
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct GrantArgs {
    /// Session length [default: the daemon's --session-timeout].
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Idle timeout for this session [default: the daemon's --idle-timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle: Option<Duration>,
    /// Data allowance, up and down together (e.g. 500M, 2G).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub quota: Option<u64>,
    /// Upload allowance.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub quota_up: Option<u64>,
    /// Download allowance.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub quota_down: Option<u64>,
    /// Upload rate limit in bit/s (e.g. 5M) [default: the daemon's --rate-up].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate_up: Option<u64>,
    /// Download rate limit in bit/s (e.g. 20M) [default: the daemon's --rate-down].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate_down: Option<u64>,
}

/// What `netauth limit` changes of a running session.
#[derive(clap::Args)]
pub struct LimitArgs {
    /// The device whose session changes.
    mac: Mac,
    /// New upload rate limit in bit/s (e.g. 2M), or `none` to remove it.
    #[arg(long, value_name = "RATE", value_parser = parse_rate_or_none)]
    rate_up: Option<RateArg>,
    /// New download rate limit in bit/s (e.g. 10M), or `none` to remove it.
    #[arg(long, value_name = "RATE", value_parser = parse_rate_or_none)]
    rate_down: Option<RateArg>,
}

/// A rate or `none`.
#[derive(Clone, Copy, Debug)]
pub struct RateArg(Option<u64>);

fn parse_rate_or_none(s: &str) -> Result<RateArg, String> {
    match s.trim() {
        "none" | "unlimited" => Ok(RateArg(None)),
        _ => parse_rate(s).map(|r| RateArg(Some(r))),
    }
}

fn rate_json(r: RateArg) -> serde_json::Value {
    match r.0 {
        Some(bps) => bps.into(),
        None => "none".into(),
    }
}

impl GrantArgs {
    /// The API's request for `mac` with these limits.
    pub fn request(&self, mac: Mac) -> AllowRequest {
        AllowRequest {
            mac: mac.to_string(),
            duration: self.duration.map(api_duration),
            idle: self.idle.map(api_duration),
            quota: self.quota.map(Into::into),
            quota_up: self.quota_up.map(Into::into),
            quota_down: self.quota_down.map(Into::into),
            rate_up: self.rate_up.map(Into::into),
            rate_down: self.rate_down.map(Into::into),
        }
    }
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
    let AllowArgs { mac, from, grant } = a;
    let mac = match (mac, from) {
        (_, Some(file)) => return super::bulk::allow_from(admin, &file, &grant).await,
        (Some(mac), None) => mac,
        (None, None) => return Err(Failure::BadInput("allow needs a MAC or --from FILE".into())),
    };
    let session = admin.allow(&grant.request(mac)).await?;
    let granted = grant
        .duration
        .map(|d| d.as_secs())
        .unwrap_or_else(|| session.expires.saturating_sub(session.started));
    println!("{mac} authorized for {}", human(granted));
    Ok(())
}

pub async fn extend(admin: &AdminClient, mac: Mac, by: Duration) -> Outcome {
    let session = admin.extend(mac, &api_duration(by)).await?;
    println!("{mac} now has {} left", human(session.seconds_remaining));
    Ok(())
}

pub async fn limit(admin: &AdminClient, a: LimitArgs) -> Outcome {
    if a.rate_up.is_none() && a.rate_down.is_none() {
        return Err(Failure::BadInput(
            "limit needs --rate-up and/or --rate-down (a rate or `none`)".into(),
        ));
    }
    let req = LimitRequest {
        rate_up: a.rate_up.map(rate_json),
        rate_down: a.rate_down.map(rate_json),
    };
    let s = admin.limit(a.mac, &req).await?;
    println!(
        "{} now limited to {} down, {} up",
        a.mac,
        rate_text(s.rate_down_bps),
        rate_text(s.rate_up_bps)
    );
    Ok(())
}

/// A rate limit for people: `10M` (bit/s) or `unlimited`.
fn rate_text(bps: Option<u64>) -> String {
    bps.map(format_rate)
        .unwrap_or_else(|| "unlimited".to_string())
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
        "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:<10}",
        "MAC",
        "IP",
        "VIA",
        "TIME LEFT",
        "UP",
        "DOWN",
        "DATA LEFT",
        "RATE UP",
        "RATE DOWN",
        "RANDOMISED"
    );
    for s in sessions {
        println!(
            "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}  {:<10}",
            s.mac.to_string(),
            s.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
            s.via.as_str(),
            human(s.expires.saturating_sub(now)),
            human_bytes(s.up_bytes),
            human_bytes(s.down_bytes),
            s.bytes_remaining
                .map(human_bytes)
                .unwrap_or_else(|| "-".into()),
            s.rate_up_bps.map(format_rate).unwrap_or_else(|| "-".into()),
            s.rate_down_bps
                .map(format_rate)
                .unwrap_or_else(|| "-".into()),
            // A locally administered address: the device may come back with another.
            if s.randomized_mac { "yes" } else { "-" },
        );
    }
}
