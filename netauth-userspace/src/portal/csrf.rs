//! Anti-forgery tokens for the portal's forms (login and logout).
//!
//! A page from another site must not be able to sign a visitor in (accepting terms or
//! spending a voucher on their behalf) or out. Every form the portal renders carries a
//! token: an HMAC-SHA256, under a key made at start, of the device it was rendered for
//! and the time. A POST is accepted only with a token made for the same device within
//! [`TOKEN_LIFETIME`], and, when the browser sends an `Origin`, only from the portal's
//! own origin. Nothing relies on cookies or JavaScript, so captive mini-browsers work.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// How long a rendered form stays usable.
pub const TOKEN_LIFETIME_S: u64 = 4 * 3600;

pub struct Csrf {
    key: [u8; 32],
}

/// Seconds on CLOCK_BOOTTIME: never jumps with the wall clock.
fn now_s() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64
}

impl Csrf {
    pub fn new() -> anyhow::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self { key })
    }

    fn mac(&self, who: &str, at: u64) -> [u8; 32] {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        m.update(who.as_bytes());
        m.update(&at.to_be_bytes());
        m.finalize().into_bytes().into()
    }

    /// A token for a form rendered for `who` (the device's MAC).
    pub fn token(&self, who: &str) -> String {
        self.token_at(who, now_s())
    }

    fn token_at(&self, who: &str, at: u64) -> String {
        let tag: String = self.mac(who, at)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{at:x}-{tag}")
    }

    /// Whether `token` was made for `who` and is still fresh.
    pub fn verify(&self, who: &str, token: &str) -> bool {
        self.verify_at(who, token, now_s())
    }

    fn verify_at(&self, who: &str, token: &str, now: u64) -> bool {
        let Some((at, tag)) = token.split_once('-') else {
            return false;
        };
        let Ok(at) = u64::from_str_radix(at, 16) else {
            return false;
        };
        if at > now || now - at > TOKEN_LIFETIME_S || tag.len() != 32 {
            return false;
        }
        let Some(tag) = (0..16)
            .map(|i| u8::from_str_radix(&tag[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        // Constant-time comparison of the tag.
        let want = self.mac(who, at);
        want[..16]
            .iter()
            .zip(&tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Whether a request's `Origin` (when the browser sent one) is the portal itself: its
/// authority must be the `Host` the request was sent to. Browsers send `Origin` on every
/// cross-site POST; `null` (privacy-sensitive contexts) is not the portal.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    use axum::http::header;
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn tokens_are_bound_to_the_device_and_expire() {
        let c = Csrf::new().unwrap();
        let t = c.token_at("02:00:00:00:01:0a", 1000);
        assert!(c.verify_at("02:00:00:00:01:0a", &t, 1000));
        assert!(c.verify_at("02:00:00:00:01:0a", &t, 1000 + TOKEN_LIFETIME_S));
        assert!(!c.verify_at("02:00:00:00:01:0a", &t, 1001 + TOKEN_LIFETIME_S));
        assert!(!c.verify_at("02:00:00:00:01:0b", &t, 1000));
        assert!(
            !c.verify_at("02:00:00:00:01:0a", &t, 999),
            "from the future"
        );
        let other = Csrf::new().unwrap();
        assert!(
            !other.verify_at("02:00:00:00:01:0a", &t, 1000),
            "another key"
        );
        let mut forged = t.clone();
        forged.replace_range(forged.len() - 1.., "0");
        forged.replace_range(forged.len() - 2..forged.len() - 1, "0");
        assert!(!c.verify_at("02:00:00:00:01:0a", &forged, 1000) || forged == t);
        for junk in ["", "-", "zz-00", "3e8-", "3e8-xyz", "3e8-0011"] {
            assert!(!c.verify_at("02:00:00:00:01:0a", junk, 1000), "{junk}");
        }
    }

    #[test]
    fn origin_must_be_the_portal_when_present() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("192.0.2.1:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://192.0.2.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
