//! The plain data netauth reasons about: devices, what they used, what they were granted,
//! their sessions and why one ended. No I/O here; every other module builds on these.

use std::{net::IpAddr, time::Duration};

pub use netauth_common::api::{Mac, MacError, SessionView, Via};
use serde::{Deserialize, Serialize};

/// Largest byte count netauth takes anywhere: options, config file, admin API, RADIUS
/// attributes. 2^53 bytes (about 9 PB) is beyond any real allowance, stays far inside the
/// store's signed 64-bit INTEGER (larger values came back negative), and is exact for JSON
/// readers that use doubles (JavaScript).
pub const MAX_BYTES: u64 = 1 << 53;
/// Longest duration netauth takes anywhere: 10 years of 365.25 days (humantime's `10y`).
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);
/// Shortest duration: sessions count whole seconds.
pub const MIN_DURATION: Duration = Duration::from_secs(1);

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    Expired,
    Idle,
    Quota,
    /// A RADIUS Disconnect-Request (RFC 5176).
    Disconnected,
    /// Replaced by a new login of the same device (accounting only).
    Replaced,
    /// Moved to another device address: the same voucher signed in from a new MAC
    /// (`--on-new-mac transfer`) and took the rest of this session with it.
    Moved,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Idle => "idle",
            Self::Quota => "quota",
            Self::Disconnected => "disconnected",
            Self::Replaced => "replaced",
            Self::Moved => "moved",
        }
    }

    /// The RADIUS Acct-Terminate-Cause (RFC 2866 §5.10) reported for this end. A used-up
    /// allowance is reported as Session-Timeout, as CoovaChilli does: RFC 2866 has no
    /// cause for it.
    pub fn terminate_cause(self) -> u32 {
        match self {
            Self::Logout => 1,
            Self::Idle => 4,
            Self::Expired | Self::Quota => 5,
            Self::Revoked | Self::Disconnected => 6,
            // NAS-Request: the gateway ended it for the same user's new address.
            Self::Replaced | Self::Moved => 10,
        }
    }
}

/// Traffic of a session: "up" is what the client sent, "down" what it received.
/// Bytes are layer-3 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    pub up_bytes: u64,
    pub up_packets: u64,
    pub down_bytes: u64,
    pub down_packets: u64,
}

impl Usage {
    /// `self - o`, floored at zero.
    pub fn minus(self, o: Usage) -> Usage {
        Usage {
            up_bytes: self.up_bytes.saturating_sub(o.up_bytes),
            up_packets: self.up_packets.saturating_sub(o.up_packets),
            down_bytes: self.down_bytes.saturating_sub(o.down_bytes),
            down_packets: self.down_packets.saturating_sub(o.down_packets),
        }
    }

    pub fn plus(self, o: Usage) -> Usage {
        Usage {
            up_bytes: self.up_bytes.saturating_add(o.up_bytes),
            up_packets: self.up_packets.saturating_add(o.up_packets),
            down_bytes: self.down_bytes.saturating_add(o.down_bytes),
            down_packets: self.down_packets.saturating_add(o.down_packets),
        }
    }
}

/// A byte allowance; any limit that is set applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub up: Option<u64>,
    pub down: Option<u64>,
    pub total: Option<u64>,
}

impl Quota {
    pub fn is_limited(&self) -> bool {
        self.up.is_some() || self.down.is_some() || self.total.is_some()
    }

    /// Bytes left before the first limit is reached (`None`: unlimited).
    pub fn remaining(&self, u: &Usage) -> Option<u64> {
        [
            self.up.map(|q| q.saturating_sub(u.up_bytes)),
            self.down.map(|q| q.saturating_sub(u.down_bytes)),
            self.total
                .map(|q| q.saturating_sub(u.up_bytes.saturating_add(u.down_bytes))),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What is left of the allowance after `u`: each limit less what counts against it.
    pub fn left_after(&self, u: &Usage) -> Quota {
        Quota {
            up: self.up.map(|q| q.saturating_sub(u.up_bytes)),
            down: self.down.map(|q| q.saturating_sub(u.down_bytes)),
            total: self
                .total
                .map(|q| q.saturating_sub(u.up_bytes.saturating_add(u.down_bytes))),
        }
    }
}

/// Rate limits in bit/s; `None`: unlimited in that direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub up: Option<u64>,
    pub down: Option<u64>,
}

impl Rate {
    pub fn is_limited(&self) -> bool {
        self.up.is_some() || self.down.is_some()
    }

    /// These limits where set, `other`'s elsewhere.
    pub fn or(self, other: Rate) -> Rate {
        Rate {
            up: self.up.or(other.up),
            down: self.down.or(other.down),
        }
    }
}

/// RADIUS accounting state of a session (stored with it, so accounting continues across
/// restarts with the same Acct-Session-Id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acct {
    /// User-Name to report (the Access-Accept's, else the one the user typed).
    pub username: String,
    pub session_id: String,
    /// Class attributes of the Access-Accept, echoed in every accounting request.
    pub class: Vec<Vec<u8>>,
    /// Seconds between Interim-Updates.
    pub interim_s: u64,
    pub nas_port: u32,
    /// Whether RADIUS authenticated the session (Acct-Authentic RADIUS, else Local).
    pub radius_auth: bool,
    /// Counters when accounting started: a renewal keeps the kernel's counters, RADIUS
    /// counts from its Start.
    #[serde(default)]
    pub base: Usage,
    #[serde(default)]
    pub started_ms: u64,
}

/// Acct-Status-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcctStatus {
    Start,
    Stop,
    Interim,
}

/// One accounting request waiting to be delivered (queued on disk).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcctRecord {
    pub status: AcctStatus,
    pub mac: Mac,
    pub ip: Option<IpAddr>,
    pub acct: Acct,
    pub session_time_s: u64,
    /// Counted since the Start.
    pub usage: Usage,
    pub cause: Option<u32>,
    /// The session's limits counted from this accounting session's Start: seconds from
    /// the Start to the session's end (Session-Timeout), and what was left of the data
    /// allowance at the Start (ChilliSpot attributes). A RADIUS server that keeps them
    /// can tell another gateway what remains (see examples/freeradius). Missing in
    /// requests queued by older daemons.
    #[serde(default)]
    pub session_timeout_s: Option<u64>,
    #[serde(default)]
    pub quota: Option<Quota>,
    /// When it happened (wall-clock Unix ms): Event-Timestamp, and Acct-Delay-Time at
    /// sending.
    pub event_ms: u64,
}

/// A device's session: who, until when, within which limits, what it used. Times are on
/// the session clock (see [`crate::clock`]), in ms.
#[derive(Clone, Debug)]
pub struct Session {
    pub mac: Mac,
    /// Addresses seen for (and bound to) this client, most recent last.
    pub ips: Vec<IpAddr>,
    pub via: Via,
    pub started_ms: u64,
    /// Hard end.
    pub ends_ms: u64,
    pub idle_limit_s: Option<u64>,
    pub quota: Quota,
    /// Rate limits, applied in the datapath.
    pub rate: Rate,
    /// Totals: `base` plus what the kernel entry counted.
    pub usage: Usage,
    /// Totals carried over from before the current kernel entry existed (a reboot).
    pub base: Usage,
    pub last_active_ms: u64,
    /// RADIUS accounting of this session, if it came from RADIUS (boxed: most sessions
    /// have none, and the session table is the daemon's largest structure).
    pub acct: Option<Box<Acct>>,
}

impl Session {
    /// A session that only the datapath knew of (a device let through but not recorded).
    pub fn unrecorded(mac: Mac) -> Self {
        Session {
            mac,
            ips: Vec::new(),
            via: Via::Admin,
            started_ms: 0,
            ends_ms: 0,
            idle_limit_s: None,
            quota: Quota::default(),
            rate: Rate::default(),
            usage: Usage::default(),
            base: Usage::default(),
            last_active_ms: 0,
            acct: None,
        }
    }

    /// Why the session must end at `now_ms`, if it must.
    pub fn due(&self, now_ms: u64) -> Option<EndReason> {
        if now_ms >= self.ends_ms {
            return Some(EndReason::Expired);
        }
        if let Some(idle) = self.idle_limit_s
            && now_ms.saturating_sub(self.last_active_ms) >= idle.saturating_mul(1000)
        {
            return Some(EndReason::Idle);
        }
        if self.quota.remaining(&self.usage) == Some(0) {
            return Some(EndReason::Quota);
        }
        None
    }

    /// Takes the kernel's counters (since the entry was created) and its last activity.
    pub fn apply_kernel(&mut self, k: Usage, last_seen_ms: Option<u64>) {
        self.usage = self.base.plus(k);
        if let Some(seen) = last_seen_ms {
            self.last_active_ms = self.last_active_ms.max(seen);
        }
    }

    /// What operators and the portal see of the session at `now_ms`.
    pub fn view(&self, now_ms: u64) -> SessionView {
        SessionView {
            mac: self.mac,
            ips: self.ips.clone(),
            ip: self.ips.last().copied(),
            via: self.via,
            started: crate::clock::to_wall_ms(self.started_ms) / 1000,
            expires: crate::clock::to_wall_ms(self.ends_ms).div_ceil(1000),
            seconds_remaining: self.ends_ms.saturating_sub(now_ms) / 1000,
            idle_timeout_s: self.idle_limit_s,
            idle_s: now_ms.saturating_sub(self.last_active_ms) / 1000,
            quota_up: self.quota.up,
            quota_down: self.quota.down,
            quota_total: self.quota.total,
            bytes_remaining: self.quota.remaining(&self.usage),
            up_bytes: self.usage.up_bytes,
            up_packets: self.usage.up_packets,
            down_bytes: self.usage.down_bytes,
            down_packets: self.usage.down_packets,
            username: self.acct.as_ref().map(|a| a.username.clone()),
            acct_session_id: self.acct.as_ref().map(|a| a.session_id.clone()),
            randomized_mac: self.mac.is_locally_administered(),
            rate_up_bps: self.rate.up,
            rate_down_bps: self.rate.down,
        }
    }

    /// The address to name the device by in accounting: its latest IPv4, else its latest.
    pub fn accounting_ip(&self) -> Option<IpAddr> {
        self.ips
            .iter()
            .rev()
            .find(|i| i.is_ipv4())
            .or(self.ips.last())
            .copied()
    }
}

/// What a login (or an operator) grants; `None` fields take the daemon's defaults.
#[derive(Clone, Debug)]
pub struct Grant {
    /// How the session came to be.
    pub via: Via,
    pub duration: Option<Duration>,
    pub idle: Option<Duration>,
    pub quota: Quota,
    /// Rate limits; a direction left `None` takes the daemon's default (not for exempt
    /// grants).
    pub rate: Rate,
    /// No default idle timeout or allowance, and not held to its addresses (trusted
    /// devices).
    pub exempt: bool,
    /// RADIUS accounting for the session.
    pub acct: Option<Acct>,
    /// The voucher this grant spends (recorded with the session, in one step, so a login
    /// that fails leaves the voucher unused).
    pub voucher: Option<String>,
    /// The devices the voucher's slots are taken by, when it has none left for this one
    /// and `--on-new-mac transfer` lets the new device take over one of their sessions
    /// (see [`crate::sessions::Sessions::authorize`]). Empty: an ordinary grant.
    pub moves_from: Vec<Mac>,
    /// How many devices the credential may have sessions on at once (a RADIUS
    /// Access-Accept's Port-Limit); `None`: any number.
    pub devices: Option<u32>,
    /// A login beyond [`Grant::devices`] takes over the session of one of the
    /// credential's devices (`--on-new-mac transfer`) instead of being refused.
    pub transfer: bool,
}

impl Grant {
    /// The defaults, granted by `via`.
    pub fn by(via: Via) -> Self {
        Self {
            via,
            duration: None,
            idle: None,
            quota: Quota::default(),
            rate: Rate::default(),
            exempt: false,
            acct: None,
            voucher: None,
            moves_from: Vec::new(),
            devices: None,
            transfer: false,
        }
    }
}

/// The daemon's defaults for what a grant leaves open.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub session_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub quota: Quota,
    pub rate: Rate,
}

/// Which sessions a RADIUS Disconnect/CoA request means: every given field must match,
/// and the session must hold every address in `ips` (a request may name its IPv4 and its
/// IPv6 address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub mac: Option<Mac>,
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub ips: Vec<IpAddr>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.mac.is_none()
            && self.username.is_none()
            && self.session_id.is_none()
            && self.ips.is_empty()
    }

    pub fn matches(&self, s: &Session) -> bool {
        self.mac.is_none_or(|m| m == s.mac)
            && self.ips.iter().all(|ip| s.ips.contains(ip))
            && self
                .username
                .as_ref()
                .is_none_or(|u| s.acct.as_ref().is_some_and(|a| &a.username == u))
            && self
                .session_id
                .as_ref()
                .is_none_or(|id| s.acct.as_ref().is_some_and(|a| &a.session_id == id))
    }
}

/// New limits for a session (a RADIUS CoA-Request, `netauth limit`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Change {
    /// Seconds of service counted from the session's start (RADIUS Session-Timeout).
    pub session_timeout_s: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub quota: Option<Quota>,
    /// New upload rate limit (`Some(None)`: remove it; `None`: keep the session's).
    pub rate_up: Option<Option<u64>>,
    /// New download rate limit, likewise.
    pub rate_down: Option<Option<u64>>,
    /// New Acct-Interim-Interval.
    pub interim_s: Option<u64>,
}

/// Until when (session clock, ms) a voucher is good at `now_ms` for a device (`known`:
/// one that used it before), if it is: not revoked, within its time (counted from the
/// first use), and a device slot left for a new device.
pub fn voucher_ends(v: &netauth_common::api::Voucher, known: bool, now_ms: u64) -> Option<u64> {
    if v.revoked || (!known && v.devices_used >= v.devices) {
        return None;
    }
    let starts = v
        .first_used_ms
        .map(crate::clock::from_wall_ms)
        .unwrap_or(now_ms);
    let ends = starts.saturating_add(v.duration_s.saturating_mul(1000));
    (now_ms < ends).then_some(ends)
}

/// Milliseconds since the Unix epoch of a time on the session clock.
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_a_selector_names_must_belong_to_the_session() {
        let v4: IpAddr = "192.0.2.10".parse().unwrap();
        let v6: IpAddr = "2001:db8:1::10".parse().unwrap();
        let other: IpAddr = "192.0.2.11".parse().unwrap();
        let s = Session {
            ips: vec![v4, v6],
            ends_ms: 1,
            ..Session::unrecorded("02:00:00:00:01:0a".parse().unwrap())
        };
        let by = |ips: Vec<IpAddr>| Selector {
            ips,
            ..Selector::default()
        };
        assert!(by(vec![v4]).matches(&s));
        assert!(by(vec![v4, v6]).matches(&s));
        assert!(
            !by(vec![v4, other]).matches(&s),
            "one address is not enough"
        );
        assert!(
            !by(vec![other, v6]).matches(&s),
            "the order does not matter"
        );
        assert!(!by(vec![v4, v6]).is_empty());
    }

    #[test]
    fn a_session_is_due_for_the_first_limit_it_reaches() {
        let mut s = Session {
            ends_ms: 10_000,
            idle_limit_s: Some(5),
            quota: Quota {
                total: Some(100),
                ..Quota::default()
            },
            last_active_ms: 1_000,
            ..Session::unrecorded("02:00:00:00:01:0a".parse().unwrap())
        };
        assert_eq!(s.due(2_000), None);
        assert_eq!(s.due(6_000), Some(EndReason::Idle));
        assert_eq!(s.due(10_000), Some(EndReason::Expired));
        s.usage.down_bytes = 100;
        assert_eq!(s.due(2_000), Some(EndReason::Quota));
    }
}
