//! Session limits: how long a session lasts, how long it may idle, how many bytes it may
//! move (the admin API and RADIUS override these per session), and which clock counts
//! the time that passed while netauth was not running.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::{
    parse::{
        de_bytes, de_duration, de_rate, format_duration, parse_bytes, parse_duration, parse_rate,
    },
    value_name, with_default,
};
use crate::clock::Trust;
use crate::model::{Quota, Rate};

pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Session limits")]
#[serde(default, rename_all = "kebab-case")]
pub struct LimitsArgs {
    #[arg(
        long,
        value_parser = parse_duration,
        help = with_default(
            "Session (hard) timeout, e.g. 24h, 90m, 30s",
            format_duration(DEFAULT_SESSION_TIMEOUT),
        )
    )]
    #[serde(deserialize_with = "de_duration")]
    pub session_timeout: Option<Duration>,

    #[arg(
        long,
        value_parser = parse_duration,
        help = with_default(
            "Idle timeout: a session with no traffic from the client for this long ends",
            "none",
        )
    )]
    #[serde(deserialize_with = "de_duration")]
    pub idle_timeout: Option<Duration>,

    #[arg(
        long,
        value_parser = parse_bytes,
        help = with_default(
            "Default data allowance per session, up and down together (e.g. 500M, 2G, 1GiB)",
            "unlimited",
        )
    )]
    #[serde(deserialize_with = "de_bytes")]
    pub quota: Option<u64>,

    #[arg(
        long,
        value_parser = parse_bytes,
        help = with_default("Default upload allowance per session", "unlimited")
    )]
    #[serde(deserialize_with = "de_bytes")]
    pub quota_up: Option<u64>,

    #[arg(
        long,
        value_parser = parse_bytes,
        help = with_default("Default download allowance per session", "unlimited")
    )]
    #[serde(deserialize_with = "de_bytes")]
    pub quota_down: Option<u64>,

    #[arg(
        long,
        value_parser = parse_rate,
        value_name = "RATE",
        help = with_default(
            "Default upload rate limit per session in bit/s (e.g. 512k, 2M, 1G), policed per \
             device in the datapath",
            "unlimited",
        )
    )]
    #[serde(deserialize_with = "de_rate")]
    pub rate_up: Option<u64>,

    #[arg(
        long,
        value_parser = parse_rate,
        value_name = "RATE",
        help = with_default(
            "Default download rate limit per session in bit/s (e.g. 10M), shaped per device \
             with earliest departure times and the fq qdisc netauth puts on the LAN interface",
            "unlimited",
        )
    )]
    #[serde(deserialize_with = "de_rate")]
    pub rate_down: Option<u64>,

    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        help = with_default(
            "Whether to believe the wall clock about time that passed while netauth was not \
             running (after a reboot): `auto` when the kernel says the clock is synchronised \
             (NTP), `always` (a battery-backed clock), `never`. Session lengths never follow \
             steps of the wall clock while netauth runs",
            value_name(Trust::default()),
        )
    )]
    pub trust_wall_clock: Option<Trust>,
}

super::merge_fields!(LimitsArgs {
    session_timeout,
    idle_timeout,
    quota,
    quota_up,
    quota_down,
    rate_up,
    rate_down,
    trust_wall_clock,
});

impl LimitsArgs {
    pub(super) fn quota(&self) -> Quota {
        Quota {
            up: self.quota_up,
            down: self.quota_down,
            total: self.quota,
        }
    }

    pub(super) fn rate(&self) -> Rate {
        Rate {
            up: self.rate_up,
            down: self.rate_down,
        }
    }
}
