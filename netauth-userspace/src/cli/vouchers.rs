//! The voucher verbs: `voucher create`, `voucher list`, `voucher revoke`.

use std::{path::PathBuf, time::Duration};

use netauth_common::api::{AdminClient, Voucher, VoucherList, VoucherRequest};

use super::{Failure, Outcome, print_json, sessions::api_duration};
use crate::{
    config::{parse_bytes, parse_duration},
    portal::pages::{human, human_bytes, voucher_sheet},
};

#[derive(clap::Subcommand)]
pub enum VoucherAction {
    /// Make new voucher codes; each one's clock starts at its first use.
    Create {
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// How long a voucher lasts from its first use.
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        /// Data allowance per device.
        #[arg(long, value_parser = parse_bytes)]
        quota: Option<u64>,
        /// Upload rate limit in bit/s of each device that redeems one (e.g. 2M).
        #[arg(long, value_name = "RATE", value_parser = crate::config::parse_rate)]
        rate_up: Option<u64>,
        /// Download rate limit in bit/s of each device that redeems one (e.g. 10M).
        #[arg(long, value_name = "RATE", value_parser = crate::config::parse_rate)]
        rate_down: Option<u64>,
        /// How many devices may use one voucher.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        devices: u32,
        /// Also write a printable HTML sheet of the codes.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// List the vouchers, their use and what is left of them.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a voucher: its devices' sessions end and it can no longer be used.
    Revoke { code: String },
}

pub async fn run(admin: &AdminClient, action: VoucherAction) -> Outcome {
    match action {
        VoucherAction::Create {
            count,
            duration,
            quota,
            rate_up,
            rate_down,
            devices,
            html,
        } => {
            let rate = (rate_up, rate_down);
            create(admin, count, duration, quota, rate, devices, html).await
        }
        VoucherAction::List { json } => list(admin, json).await,
        VoucherAction::Revoke { code } => revoke(admin, &code).await,
    }
}

async fn create(
    admin: &AdminClient,
    count: u32,
    duration: Duration,
    quota: Option<u64>,
    (rate_up, rate_down): (Option<u64>, Option<u64>),
    devices: u32,
    html: Option<PathBuf>,
) -> Outcome {
    if !(1..=10_000).contains(&count) {
        return Err(Failure::BadInput("--count must be 1..=10000".into()));
    }
    let req = VoucherRequest {
        count,
        duration: api_duration(duration),
        quota: quota.map(Into::into),
        devices: Some(devices),
        rate_up: rate_up.map(Into::into),
        rate_down: rate_down.map(Into::into),
    };
    let codes: Vec<String> = admin
        .create_vouchers(&req)
        .await?
        .into_iter()
        .map(|v| v.code)
        .collect();
    for c in &codes {
        println!("{c}");
    }
    if let Some(path) = html {
        std::fs::write(&path, voucher_sheet(&codes, duration, quota, devices))?;
        eprintln!("printable sheet: {}", path.display());
    }
    Ok(())
}

async fn list(admin: &AdminClient, json: bool) -> Outcome {
    let vouchers = admin.vouchers().await?;
    if json {
        return print_json(&VoucherList { vouchers });
    }
    println!(
        "{:<15} {:>10} {:>10} {:>8} {:<10}",
        "CODE", "DURATION", "QUOTA", "DEVICES", "STATE"
    );
    for v in &vouchers {
        println!(
            "{:<15} {:>10} {:>10} {:>8} {:<10}",
            v.code,
            human(v.duration_s),
            v.quota.map(human_bytes).unwrap_or_else(|| "-".into()),
            format!("{}/{}", v.devices_used, v.devices),
            state(v)
        );
    }
    Ok(())
}

fn state(v: &Voucher) -> &'static str {
    if v.revoked {
        "revoked"
    } else if v.first_used_ms.is_none() {
        "unused"
    } else {
        "in use"
    }
}

async fn revoke(admin: &AdminClient, typed: &str) -> Outcome {
    let Some(code) = crate::vouchers::normalize(typed) else {
        return Err(Failure::BadInput(format!(
            "'{typed}' is not a voucher code"
        )));
    };
    if !admin.revoke_voucher(&code).await? {
        return Err(Failure::failed(format!("no voucher {code}")));
    }
    println!("{code} revoked");
    Ok(())
}
