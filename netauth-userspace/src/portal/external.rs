//! The external portal (`--external-portal URL`): the login page sends a captive device to
//! the operator's web application with who it is, signed; the application sends the
//! browser back with a signed grant. Both directions are HMAC-SHA256 over a canonical
//! string with a shared secret; the protocol is written down for third parties in
//! `docs/external-portal.md`.
//!
//! A grant is accepted once, only for the nonce the gateway issued to that very device,
//! before it expires, and only on a connection the datapath saw that device send.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::model::{Grant, Mac, Quota, Rate, Via};

/// The first line of every signed string: the protocol and its version.
const PROTOCOL: &str = "netauth-external-v1";
/// How long a nonce handed to the application may be redeemed.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(600);
/// A grant may not claim to be valid further ahead than this.
const MAX_GRANT_AHEAD_S: u64 = 3600;
/// Nonces outstanding at once (a device asking again and again replaces nothing: the
/// oldest are dropped).
const MAX_PENDING: usize = 65_536;
/// Longest grant query accepted, and longest single value.
pub const MAX_QUERY: usize = 4096;
const MAX_VALUE: usize = 2048;
/// Fields of the login request, in signing order.
pub const LOGIN_FIELDS: [&str; 7] = ["gw", "mac", "ip", "url", "grant_url", "nonce", "exp"];
/// Fields of a grant, in signing order.
pub const GRANT_FIELDS: [&str; 9] = [
    "gw",
    "mac",
    "nonce",
    "exp",
    "duration",
    "quota",
    "rate_up",
    "rate_down",
    "username",
];
/// Highest rate limit a grant may set, bit/s (a 100 Gbit/s link).
const MAX_RATE_BPS: u64 = 100_000_000_000;

/// Why a grant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("malformed grant")]
    Malformed,
    #[error("bad signature (tampered, or another secret)")]
    BadSignature,
    #[error("grant for another gateway")]
    OtherGateway,
    #[error("expired grant")]
    Expired,
    #[error("unknown or already used nonce (replay)")]
    Replayed,
    #[error("grant for another device")]
    OtherDevice,
}

/// A nonce handed out and not yet redeemed.
struct Pending {
    mac: Mac,
    original: Option<String>,
    issued: Instant,
}

/// What an accepted grant gives.
#[derive(Debug)]
pub struct Accepted {
    pub grant: Grant,
    pub username: String,
    /// Where the device was going when it was sent to the application.
    pub original: Option<String>,
}

pub struct External {
    /// The application's URL; the request's parameters are appended to it.
    url: String,
    key: Vec<u8>,
    /// The gateway's identity (`gw`), as RADIUS's Called-Station-Id.
    gateway: String,
    pending: Mutex<HashMap<String, Pending>>,
}

/// The string both sides sign: the protocol, the kind, then `name=value` per field in
/// the fixed order, each on its own line.
pub fn canonical(kind: &str, fields: &[(&str, &str)]) -> String {
    let mut s = format!("{PROTOCOL}\n{kind}\n");
    for (k, v) in fields {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// The signature of `message`: HMAC-SHA256, lowercase hex.
pub fn sign(key: &[u8], message: &str) -> String {
    let mut m = mac(key);
    m.update(message.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn now_unix() -> u64 {
    u64::try_from(crate::clock::real_wall_ms() / 1000).unwrap_or(0)
}

impl External {
    pub fn new(url: String, key: Vec<u8>, gateway: String) -> Self {
        Self {
            url,
            key,
            gateway,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The application URL a device is sent to, with a fresh nonce recorded for it.
    pub fn login_redirect(
        &self,
        device: Mac,
        ip: IpAddr,
        original: Option<&str>,
        grant_url: &str,
    ) -> anyhow::Result<String> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let exp = (now_unix() + NONCE_LIFETIME.as_secs()).to_string();
        let (mac_s, ip_s) = (device.to_string(), ip.to_string());
        let fields = [
            ("gw", self.gateway.as_str()),
            ("mac", &mac_s),
            ("ip", &ip_s),
            ("url", original.unwrap_or("")),
            ("grant_url", grant_url),
            ("nonce", &nonce),
            ("exp", &exp),
        ];
        let sig = sign(&self.key, &canonical("login", &fields));
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(fields).append_pair("sig", &sig);
        {
            let mut pending = self.lock();
            let now = Instant::now();
            pending.retain(|_, p| now.duration_since(p.issued) < NONCE_LIFETIME);
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, p)| p.issued)
                    .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
            pending.insert(
                nonce,
                Pending {
                    mac: device,
                    original: original.map(str::to_string),
                    issued: now,
                },
            );
        }
        let sep = if self.url.contains('?') { '&' } else { '?' };
        Ok(format!("{}{sep}{}", self.url, q.finish()))
    }

    /// Checks a grant (its query string) sent by `device`; on success its nonce is spent.
    pub fn redeem(&self, device: Mac, query: &str) -> Result<Accepted, Refusal> {
        if query.len() > MAX_QUERY {
            return Err(Refusal::Malformed);
        }
        let mut values: HashMap<String, String> = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let known = k == "sig" || GRANT_FIELDS.contains(&k.as_ref());
            if !known
                || v.len() > MAX_VALUE
                || v.chars().any(char::is_control)
                || values.insert(k.into_owned(), v.into_owned()).is_some()
            {
                return Err(Refusal::Malformed);
            }
        }
        let field = |k: &str| values.get(k).map(String::as_str).ok_or(Refusal::Malformed);
        let fields: Vec<(&str, &str)> = GRANT_FIELDS
            .iter()
            .map(|k| Ok((*k, field(k)?)))
            .collect::<Result<_, Refusal>>()?;
        let sig = unhex(field("sig")?).ok_or(Refusal::Malformed)?;
        let mut m = mac(&self.key);
        m.update(canonical("grant", &fields).as_bytes());
        m.verify_slice(&sig).map_err(|_| Refusal::BadSignature)?;
        // Signed by the application: now the values mean something.
        if field("gw")? != self.gateway {
            return Err(Refusal::OtherGateway);
        }
        let exp: u64 = field("exp")?.parse().map_err(|_| Refusal::Malformed)?;
        let now = now_unix();
        if exp < now {
            return Err(Refusal::Expired);
        }
        if exp > now + MAX_GRANT_AHEAD_S {
            return Err(Refusal::Malformed);
        }
        let granted: Mac = field("mac")?.parse().map_err(|_| Refusal::Malformed)?;
        let duration = match field("duration")? {
            "" => None,
            d => Some(
                d.parse::<u64>()
                    .ok()
                    .filter(|s| (1..=10 * 366 * 86_400).contains(s))
                    .ok_or(Refusal::Malformed)?,
            ),
        };
        let quota = match field("quota")? {
            "" => None,
            q => Some(
                q.parse::<u64>()
                    .ok()
                    .filter(|b| (1..=1 << 53).contains(b))
                    .ok_or(Refusal::Malformed)?,
            ),
        };
        let rate = |name| match field(name)? {
            "" => Ok(None),
            r => r
                .parse::<u64>()
                .ok()
                .filter(|b| (1..=MAX_RATE_BPS).contains(b))
                .map(Some)
                .ok_or(Refusal::Malformed),
        };
        let (up, down) = (rate("rate_up")?, rate("rate_down")?);
        let username = field("username")?.to_string();
        if username.len() > 253 {
            return Err(Refusal::Malformed);
        }
        let nonce = field("nonce")?;
        let mut pending = self.lock();
        let Some(p) = pending.get(nonce) else {
            return Err(Refusal::Replayed);
        };
        if p.issued.elapsed() >= NONCE_LIFETIME {
            pending.remove(nonce);
            return Err(Refusal::Expired);
        }
        // The grant must name the device the nonce was issued to, and be brought by it.
        if granted != p.mac || granted != device {
            return Err(Refusal::OtherDevice);
        }
        let p = pending.remove(nonce).expect("just found");
        Ok(Accepted {
            grant: Grant {
                duration: duration.map(Duration::from_secs),
                quota: Quota {
                    total: quota,
                    ..Quota::default()
                },
                rate: Rate { up, down },
                ..Grant::by(Via::External)
            },
            username,
            original: p.original,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "02:00:5e:10:00:01";
    const B: &str = "02:00:5e:10:00:02";

    fn ext() -> External {
        External::new(
            "http://198.51.100.2:8099/portal".into(),
            b"s3cret-s3cret-s3cret".to_vec(),
            "GW".into(),
        )
    }

    /// The nonce of a login redirect.
    fn nonce_of(url: &str) -> String {
        let q = url.split_once('?').unwrap().1;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "nonce")
            .unwrap()
            .1
            .into_owned()
    }

    fn grant(key: &[u8], mac: &str, nonce: &str, exp: u64, duration: &str) -> String {
        grant_with_rate(key, mac, nonce, exp, duration, "")
    }

    fn grant_with_rate(
        key: &[u8],
        mac: &str,
        nonce: &str,
        exp: u64,
        duration: &str,
        rate_down: &str,
    ) -> String {
        let exp = exp.to_string();
        let fields = [
            ("gw", "GW"),
            ("mac", mac),
            ("nonce", nonce),
            ("exp", exp.as_str()),
            ("duration", duration),
            ("quota", "1000000"),
            ("rate_up", "2000000"),
            ("rate_down", rate_down),
            ("username", "alice"),
        ];
        let sig = sign(key, &canonical("grant", &fields));
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(fields).append_pair("sig", &sig);
        q.finish()
    }

    #[test]
    fn the_login_redirect_is_signed_over_the_canonical_string() {
        let e = ext();
        let url = e
            .login_redirect(
                A.parse().unwrap(),
                "192.0.2.10".parse().unwrap(),
                Some("http://x/"),
                "http://g/grant",
            )
            .unwrap();
        assert!(url.starts_with("http://198.51.100.2:8099/portal?gw=GW&mac=02%3A00"));
        let q: HashMap<String, String> =
            form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        let fields: Vec<(&str, &str)> = LOGIN_FIELDS.iter().map(|k| (*k, q[*k].as_str())).collect();
        assert_eq!(
            q["sig"],
            sign(b"s3cret-s3cret-s3cret", &canonical("login", &fields))
        );
    }

    #[test]
    fn grants_are_accepted_once_for_their_device_in_time_and_untampered() {
        let e = ext();
        let key = b"s3cret-s3cret-s3cret";
        let (a, b): (Mac, Mac) = (A.parse().unwrap(), B.parse().unwrap());
        let ip = "192.0.2.10".parse().unwrap();
        let na = nonce_of(&e.login_redirect(a, ip, Some("http://x/"), "g").unwrap());
        let nb = nonce_of(&e.login_redirect(b, ip, None, "g").unwrap());
        let exp = now_unix() + 60;
        let good = grant(key, A, &na, exp, "3600");
        // Tampered, another secret, expired, malformed: refused, the nonce kept.
        let tampered = good.replace("duration=3600", "duration=360000");
        assert_eq!(e.redeem(a, &tampered).unwrap_err(), Refusal::BadSignature);
        assert_eq!(
            e.redeem(a, &grant(b"other", A, &na, exp, "3600"))
                .unwrap_err(),
            Refusal::BadSignature
        );
        assert_eq!(
            e.redeem(a, &grant(key, A, &na, now_unix() - 1, "3600"))
                .unwrap_err(),
            Refusal::Expired
        );
        for bad in [
            "",
            "gw=GW",
            &format!("{good}&mac={A}"),
            &"x".repeat(MAX_QUERY + 1),
        ] {
            assert_eq!(
                e.redeem(a, bad).unwrap_err(),
                Refusal::Malformed,
                "{bad:.40}"
            );
        }
        // For another device: A's grant brought by B, B's nonce granted to A.
        assert_eq!(e.redeem(b, &good).unwrap_err(), Refusal::OtherDevice);
        assert_eq!(
            e.redeem(a, &grant(key, A, &nb, exp, "3600")).unwrap_err(),
            Refusal::OtherDevice
        );
        let ok = e.redeem(a, &good).unwrap();
        assert_eq!(ok.grant.duration, Some(Duration::from_secs(3600)));
        assert_eq!(ok.grant.quota.total, Some(1_000_000));
        assert_eq!(
            (ok.grant.rate.up, ok.grant.rate.down),
            (Some(2_000_000), None)
        );
        assert_eq!(ok.username, "alice");
        assert_eq!(ok.original.as_deref(), Some("http://x/"));
        // Once.
        assert_eq!(e.redeem(a, &good).unwrap_err(), Refusal::Replayed);
    }

    #[test]
    fn a_grants_rate_limits_are_bit_per_second_numbers_in_range() {
        let e = ext();
        let key = b"s3cret-s3cret-s3cret";
        let a: Mac = A.parse().unwrap();
        let ip = "192.0.2.10".parse().unwrap();
        let exp = now_unix() + 60;
        for bad in ["0", "10M", "-1", "100000000001", "1.5"] {
            let n = nonce_of(&e.login_redirect(a, ip, None, "g").unwrap());
            assert_eq!(
                e.redeem(a, &grant_with_rate(key, A, &n, exp, "60", bad))
                    .unwrap_err(),
                Refusal::Malformed,
                "{bad}"
            );
        }
        let n = nonce_of(&e.login_redirect(a, ip, None, "g").unwrap());
        let ok = e
            .redeem(a, &grant_with_rate(key, A, &n, exp, "60", "10000000"))
            .unwrap();
        assert_eq!(ok.grant.rate.down, Some(10_000_000));
    }
}
