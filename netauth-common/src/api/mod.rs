//! The admin API as data: the JSON the daemon answers with and takes, one definition for
//! the server (`netauth-userspace`'s admin module), its CLI, the tests and the bench, and
//! the typed client they all use ([`AdminClient`]).

mod client;
mod mac;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use client::{AdminClient, ClientError};
pub use mac::{Mac, MacError};

/// How a session came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// The user accepted the terms on the portal.
    ClickThrough,
    /// An operator ran `netauth allow` (or the API).
    Admin,
    /// A user name and password from the users file.
    Local,
    /// A voucher code.
    Voucher,
    /// User name and password checked by a RADIUS server.
    Radius,
    /// The device's MAC address, accepted by a RADIUS server (no browser needed).
    RadiusMac,
    /// In the configured list of trusted MACs.
    Trusted,
    /// A signed grant from the operator's external portal application.
    External,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClickThrough => "click-through",
            Self::Admin => "admin",
            Self::Local => "local",
            Self::Voucher => "voucher",
            Self::Radius => "radius",
            Self::RadiusMac => "radius-mac",
            Self::Trusted => "trusted",
            Self::External => "external",
        }
    }

    /// The stored form back; unknown text (a newer netauth's) reads as `Admin`.
    pub fn parse(s: &str) -> Self {
        match s {
            "click-through" => Self::ClickThrough,
            "local" => Self::Local,
            "voucher" => Self::Voucher,
            "radius" => Self::Radius,
            "radius-mac" => Self::RadiusMac,
            "trusted" => Self::Trusted,
            "external" => Self::External,
            _ => Self::Admin,
        }
    }
}

/// A session as the API shows it: stable JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub mac: Mac,
    pub ips: Vec<IpAddr>,
    /// The most recent address, for tables.
    pub ip: Option<IpAddr>,
    pub via: Via,
    /// Unix seconds (wall clock).
    pub started: u64,
    /// Unix seconds (wall clock).
    pub expires: u64,
    pub seconds_remaining: u64,
    pub idle_timeout_s: Option<u64>,
    pub idle_s: u64,
    pub quota_up: Option<u64>,
    pub quota_down: Option<u64>,
    pub quota_total: Option<u64>,
    pub bytes_remaining: Option<u64>,
    pub up_bytes: u64,
    pub up_packets: u64,
    pub down_bytes: u64,
    pub down_packets: u64,
    /// RADIUS user name and Acct-Session-Id, for RADIUS sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acct_session_id: Option<String>,
    /// The MAC is locally administered (a randomised "private" address), which the device
    /// may change when it joins again. Absent from older daemons' answers: `false`.
    #[serde(default)]
    pub randomized_mac: bool,
    /// Rate limits in bit/s (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_up_bps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_down_bps: Option<u64>,
}

/// `GET /v1/sessions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// `POST /v1/sessions`: durations as text (`"2h"`), byte counts as numbers or text
/// (`"500M"`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRequest {
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_up: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_down: Option<serde_json::Value>,
    /// Rate limits in bit/s, as numbers or text (`"10M"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_up: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_down: Option<serde_json::Value>,
}

/// `PATCH /v1/sessions/MAC`: new rate limits for a running session, in bit/s as numbers
/// or text (`"10M"`); `"none"` removes a limit, an absent field keeps it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_up: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_down: Option<serde_json::Value>,
}

/// Content type of a batch given as NDJSON: one [`AllowRequest`] per line (blank lines
/// are skipped but counted, so errors name the line of the text sent).
pub const NDJSON: &str = "application/x-ndjson";

/// The most sessions one batch may hold: the client map's capacity.
pub const MAX_BATCH: usize = crate::MAX_CLIENTS as usize;

/// The answer to `POST /v1/sessions` with a batch (a JSON array of [`AllowRequest`]s, or
/// [`NDJSON`]). A batch is applied whole or not at all: every item is checked before
/// anything changes (a bad one is refused with 400 naming its index or line), and a
/// batch whose new devices do not all fit in the client map is refused (507) with
/// nothing authorized. This answer means every session of the batch is on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Sessions authorized: `new` + `renewed`.
    pub authorized: u64,
    /// Devices that had no session.
    pub new: u64,
    /// Active sessions renewed (their counters kept).
    pub renewed: u64,
}

/// `POST /v1/sessions/MAC/extend`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    pub duration: String,
}

/// `POST /v1/shutdown`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownRequest {
    #[serde(default)]
    pub detach: bool,
}

/// A voucher as stored and listed (times are wall-clock Unix ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    pub code: String,
    pub duration_s: u64,
    pub quota: Option<u64>,
    pub devices: u32,
    pub created_ms: u64,
    pub first_used_ms: Option<u64>,
    pub revoked: bool,
    pub devices_used: u32,
    /// Rate limits in bit/s of each device's session (absent: the daemon's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_up_bps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_down_bps: Option<u64>,
}

/// `GET /v1/vouchers`, and the answer to `POST /v1/vouchers`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VoucherList {
    pub vouchers: Vec<Voucher>,
}

/// `POST /v1/vouchers`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoucherRequest {
    pub count: u32,
    pub duration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<u32>,
    /// Rate limits in bit/s for each device that redeems a voucher (numbers or `"10M"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_up: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_down: Option<serde_json::Value>,
}

/// One walled-garden entry as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalledEntry {
    pub entry: String,
    /// "config" (from the command line or config file) or "api".
    pub source: String,
    /// For host names: the addresses it resolves to now.
    pub addresses: Vec<IpAddr>,
}

/// `GET /v1/walled-garden`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WalledList {
    pub entries: Vec<WalledEntry>,
}

/// `POST /v1/walled-garden` (and the answers to adding and removing one).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalledRequest {
    pub entry: String,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_from_an_older_daemon_has_no_randomized_mac_field() {
        let old = r#"{"mac":"02:00:5e:10:00:01","ips":[],"ip":null,"via":"admin",
            "started":1,"expires":2,"seconds_remaining":1,"idle_timeout_s":null,"idle_s":0,
            "quota_up":null,"quota_down":null,"quota_total":null,"bytes_remaining":null,
            "up_bytes":0,"up_packets":0,"down_bytes":0,"down_packets":0}"#;
        let s: SessionView = serde_json::from_str(old).unwrap();
        assert!(!s.randomized_mac);
    }
}
