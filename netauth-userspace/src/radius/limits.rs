//! Session limits in RADIUS attributes (Access-Accept, CoA-Request), held to netauth's
//! limits.

use super::packet::{Packet, attr, chilli, wispr};
use crate::{
    config::{MAX_RATE, MIN_RATE},
    model::{MAX_BYTES, MAX_DURATION, Quota, Rate},
};

/// The session limits an Access-Accept or CoA-Request sets, as sent: Session-Timeout,
/// Idle-Timeout, Acct-Interim-Interval (seconds) and the data allowance (ChilliSpot
/// attributes with CoovaChilli's gigawords). Values may exceed netauth's limits:
/// [`Limits::check`] refuses those, [`Limits::clamped`] lowers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub session_timeout_s: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub interim_s: Option<u64>,
    /// `None` when no allowance attribute (or only zero ones) is present.
    pub quota: Option<Quota>,
    /// Rate limits in bit/s (WISPr-Bandwidth-Max-Up/Down in bit/s, else
    /// ChilliSpot-Bandwidth-Max-Up/Down in kbit/s); a zero one counts as absent.
    pub rate_up: Option<u64>,
    pub rate_down: Option<u64>,
}

/// A limit attribute netauth cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{0} is not a 32-bit number")]
    Malformed(&'static str),
    #[error("{0} of 0 allows nothing")]
    Zero(&'static str),
    #[error("{0} of {1} s is longer than 10 years")]
    TooLong(&'static str, u64),
    #[error("{0} of {1} bytes is more than {max} bytes", max = MAX_BYTES)]
    TooLarge(&'static str, u64),
    #[error("{0} of {1} bit/s is outside {MIN_RATE} to {MAX_RATE} bit/s")]
    BadRate(&'static str, u64),
}

pub(crate) const CHILLI_RATE_TYPES: [u8; 2] =
    [chilli::BANDWIDTH_MAX_UP, chilli::BANDWIDTH_MAX_DOWN];
pub(crate) const WISPR_RATE_TYPES: [u8; 2] = [wispr::BANDWIDTH_MAX_UP, wispr::BANDWIDTH_MAX_DOWN];

pub(crate) const QUOTA_TYPES: [u8; 6] = [
    chilli::MAX_INPUT_OCTETS,
    chilli::MAX_OUTPUT_OCTETS,
    chilli::MAX_TOTAL_OCTETS,
    chilli::MAX_INPUT_GIGAWORDS,
    chilli::MAX_OUTPUT_GIGAWORDS,
    chilli::MAX_TOTAL_GIGAWORDS,
];

/// Reads the limits of `p`; an attribute with the wrong length is an error, not ignored.
pub fn limits_from(p: &Packet) -> Result<Limits, LimitError> {
    let seconds = |t: u8, name: &'static str| -> Result<Option<u64>, LimitError> {
        match p.get(t) {
            None => Ok(None),
            Some(_) => p
                .get_u32(t)
                .map(|v| Some(u64::from(v)))
                .ok_or(LimitError::Malformed(name)),
        }
    };
    for v in p.get_all(attr::VENDOR_SPECIFIC) {
        let chilli_quota =
            v.len() >= 5 && v[0..4] == chilli::VENDOR.to_be_bytes() && QUOTA_TYPES.contains(&v[4]);
        if chilli_quota && (v.len() != 10 || v[5] != 6) {
            return Err(LimitError::Malformed("a ChilliSpot data allowance"));
        }
        let rate = v.len() >= 5
            && ((v[0..4] == chilli::VENDOR.to_be_bytes() && CHILLI_RATE_TYPES.contains(&v[4]))
                || (v[0..4] == wispr::VENDOR.to_be_bytes() && WISPR_RATE_TYPES.contains(&v[4])));
        if rate && (v.len() != 10 || v[5] != 6) {
            return Err(LimitError::Malformed("a bandwidth limit"));
        }
    }
    let rate = |w: u8, c: u8| {
        p.vendor_u32(wispr::VENDOR, w)
            .filter(|v| *v > 0)
            .map(u64::from)
            .or_else(|| {
                p.vendor_u32(chilli::VENDOR, c)
                    .filter(|v| *v > 0)
                    .map(|k| u64::from(k) * 1000)
            })
    };
    let octets = |lo: u8, hi: u8| {
        let l = p.vendor_u32(chilli::VENDOR, lo);
        let h = p.vendor_u32(chilli::VENDOR, hi);
        match (l, h) {
            (None, None) => None,
            (l, h) => Some((u64::from(h.unwrap_or(0)) << 32) | u64::from(l.unwrap_or(0))),
        }
        .filter(|v| *v > 0)
    };
    let q = Quota {
        up: octets(chilli::MAX_INPUT_OCTETS, chilli::MAX_INPUT_GIGAWORDS),
        down: octets(chilli::MAX_OUTPUT_OCTETS, chilli::MAX_OUTPUT_GIGAWORDS),
        total: octets(chilli::MAX_TOTAL_OCTETS, chilli::MAX_TOTAL_GIGAWORDS),
    };
    Ok(Limits {
        session_timeout_s: seconds(attr::SESSION_TIMEOUT, "Session-Timeout")?,
        idle_timeout_s: seconds(attr::IDLE_TIMEOUT, "Idle-Timeout")?,
        interim_s: seconds(attr::ACCT_INTERIM_INTERVAL, "Acct-Interim-Interval")?,
        quota: q.is_limited().then_some(q),
        rate_up: rate(wispr::BANDWIDTH_MAX_UP, chilli::BANDWIDTH_MAX_UP),
        rate_down: rate(wispr::BANDWIDTH_MAX_DOWN, chilli::BANDWIDTH_MAX_DOWN),
    })
}

type TooBig = fn(&'static str, u64) -> LimitError;

impl Limits {
    pub fn rate(&self) -> Rate {
        Rate {
            up: self.rate_up,
            down: self.rate_down,
        }
    }

    /// Calls `f` with each value that is set, its name, netauth's limit for it and the
    /// error for exceeding that.
    fn each(&mut self, mut f: impl FnMut(&'static str, &mut u64, u64, TooBig)) {
        let secs = MAX_DURATION.as_secs();
        let bytes = MAX_BYTES;
        for (name, v) in [
            ("Session-Timeout", &mut self.session_timeout_s),
            ("Idle-Timeout", &mut self.idle_timeout_s),
            ("Acct-Interim-Interval", &mut self.interim_s),
        ] {
            if let Some(v) = v {
                f(name, v, secs, LimitError::TooLong);
            }
        }
        if let Some(q) = &mut self.quota {
            for (name, v) in [
                ("the upload allowance", &mut q.up),
                ("the download allowance", &mut q.down),
                ("the data allowance", &mut q.total),
            ] {
                if let Some(v) = v {
                    f(name, v, bytes, LimitError::TooLarge);
                }
            }
        }
        for (name, v) in [
            ("the upload rate limit", &mut self.rate_up),
            ("the download rate limit", &mut self.rate_down),
        ] {
            if let Some(v) = v {
                f(name, v, MAX_RATE, LimitError::BadRate);
            }
        }
    }

    /// Lowers every value beyond netauth's limits to the limit, reporting each.
    pub fn clamped(mut self, mut report: impl FnMut(LimitError)) -> Self {
        self.each(|name, v, max, too_big| {
            if *v > max {
                report(too_big(name, *v));
                *v = max;
            }
        });
        for v in [&mut self.rate_up, &mut self.rate_down]
            .into_iter()
            .flatten()
        {
            if *v < MIN_RATE {
                report(LimitError::BadRate("a rate limit", *v));
                *v = MIN_RATE;
            }
        }
        self
    }

    /// Refuses values beyond netauth's limits.
    pub fn check(mut self) -> Result<Self, LimitError> {
        let mut first = None;
        self.each(|name, v, max, too_big| {
            if *v > max && first.is_none() {
                first = Some(too_big(name, *v));
            }
        });
        for v in [self.rate_up, self.rate_down].into_iter().flatten() {
            if v < MIN_RATE && first.is_none() {
                first = Some(LimitError::BadRate("a rate limit", v));
            }
        }
        first.map_or(Ok(self), Err)
    }
}
