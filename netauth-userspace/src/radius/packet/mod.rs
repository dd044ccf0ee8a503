//! RADIUS packets (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3, RFC 3579 §3.2).
//!
//! Hand-written rather than taken from the `radius` crate (0.4): that crate has no
//! Message-Authenticator support, which every Access-Request must carry since BlastRADIUS
//! (CVE-2024-3596), and no decoding of vendor attributes. The codec is small; the
//! cryptography (MD5, HMAC-MD5) comes from the RustCrypto crates. Decoding is strict: a
//! packet whose lengths disagree is refused as a whole, never partly used.

use hmac::{Hmac, Mac as _};
use md5::{Digest as _, Md5};

pub const ACCESS_REQUEST: u8 = 1;
pub const ACCESS_ACCEPT: u8 = 2;
pub const ACCESS_REJECT: u8 = 3;
pub const ACCOUNTING_REQUEST: u8 = 4;
pub const ACCOUNTING_RESPONSE: u8 = 5;
pub const ACCESS_CHALLENGE: u8 = 11;
pub const DISCONNECT_REQUEST: u8 = 40;
pub const DISCONNECT_ACK: u8 = 41;
pub const DISCONNECT_NAK: u8 = 42;
pub const COA_REQUEST: u8 = 43;
pub const COA_ACK: u8 = 44;
pub const COA_NAK: u8 = 45;

/// Attribute types used by netauth.
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const IDLE_TIMEOUT: u8 = 28;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const PROXY_STATE: u8 = 33;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_AUTHENTIC: u8 = 45;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const PORT_LIMIT: u8 = 62;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const NAS_IPV6_ADDRESS: u8 = 95;
    pub const ERROR_CAUSE: u8 = 101;
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
}

/// ChilliSpot/CoovaChilli vendor attributes, the de-facto data-quota attributes of
/// captive portals (FreeRADIUS ships them in dictionary.chillispot).
pub mod chilli {
    pub const VENDOR: u32 = 14559;
    pub const MAX_INPUT_OCTETS: u8 = 1;
    pub const MAX_OUTPUT_OCTETS: u8 = 2;
    pub const MAX_TOTAL_OCTETS: u8 = 3;
    /// CoovaChilli's gigaword companions (the upper 32 bits).
    pub const MAX_INPUT_GIGAWORDS: u8 = 21;
    pub const MAX_OUTPUT_GIGAWORDS: u8 = 22;
    pub const MAX_TOTAL_GIGAWORDS: u8 = 23;
    /// ChilliSpot-Bandwidth-Max-Up/Down, in kbit/s.
    pub const BANDWIDTH_MAX_UP: u8 = 4;
    pub const BANDWIDTH_MAX_DOWN: u8 = 5;
}

/// WISPr vendor attributes (Wi-Fi Alliance), FreeRADIUS's dictionary.wispr.
pub mod wispr {
    pub const VENDOR: u32 = 14122;
    /// WISPr-Bandwidth-Max-Up/Down, in bit/s.
    pub const BANDWIDTH_MAX_UP: u8 = 7;
    pub const BANDWIDTH_MAX_DOWN: u8 = 8;
}

pub const HEADER: usize = 20;
pub const MAX_LEN: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("shorter than a RADIUS header")]
    Short,
    #[error("length field {0} disagrees with the datagram")]
    Length(usize),
    #[error("attribute {0} has a bad length")]
    Attribute(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub id: u8,
    pub authenticator: [u8; 16],
    pub attrs: Vec<(u8, Vec<u8>)>,
}

type HmacMd5 = Hmac<Md5>;

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = HmacMd5::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Constant-time comparison of authenticators.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Packet {
    pub fn new(code: u8, id: u8) -> Self {
        Self {
            code,
            id,
            authenticator: [0; 16],
            attrs: Vec::new(),
        }
    }

    pub fn add(&mut self, t: u8, v: impl Into<Vec<u8>>) {
        let v = v.into();
        debug_assert!(v.len() <= 253);
        self.attrs.push((t, v));
    }

    pub fn add_u32(&mut self, t: u8, v: u32) {
        self.add(t, v.to_be_bytes().to_vec());
    }

    /// Adds a 32-bit vendor attribute (RFC 2865 §5.26 layout, as [`Packet::vendor_u32`]
    /// reads it).
    pub fn add_vendor_u32(&mut self, vendor: u32, vtype: u8, v: u32) {
        let mut b = vendor.to_be_bytes().to_vec();
        b.extend_from_slice(&[vtype, 6]);
        b.extend_from_slice(&v.to_be_bytes());
        self.add(attr::VENDOR_SPECIFIC, b);
    }

    /// Adds a text attribute, cut to 253 octets at a character boundary.
    pub fn add_str(&mut self, t: u8, s: &str) {
        let mut end = s.len().min(253);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.add(t, s.as_bytes()[..end].to_vec());
    }

    pub fn get(&self, t: u8) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(ty, _)| *ty == t)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_all(&self, t: u8) -> impl Iterator<Item = &[u8]> {
        self.attrs
            .iter()
            .filter(move |(ty, _)| *ty == t)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_u32(&self, t: u8) -> Option<u32> {
        self.get(t)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(u32::from_be_bytes)
    }

    pub fn get_str(&self, t: u8) -> Option<String> {
        self.get(t)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
    }

    /// The value of a vendor attribute (RFC 2865 §5.26 layout: one vendor type per VSA,
    /// as every common dictionary uses).
    pub fn vendor_u32(&self, vendor: u32, vtype: u8) -> Option<u32> {
        self.get_all(attr::VENDOR_SPECIFIC).find_map(|v| {
            if v.len() != 10 || u32::from_be_bytes(v[0..4].try_into().ok()?) != vendor {
                return None;
            }
            (v[4] == vtype && v[5] == 6).then(|| u32::from_be_bytes([v[6], v[7], v[8], v[9]]))
        })
    }

    /// Whether any vendor attribute of `vendor` is present.
    pub fn has_vendor(&self, vendor: u32) -> bool {
        self.get_all(attr::VENDOR_SPECIFIC)
            .any(|v| v.len() >= 4 && u32::from_be_bytes([v[0], v[1], v[2], v[3]]) == vendor)
    }

    /// Parses a datagram; the authenticators are checked separately.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < HEADER {
            return Err(DecodeError::Short);
        }
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        // RFC 2865 §3: octets beyond Length are padding and ignored; fewer is an error.
        if !(HEADER..=MAX_LEN).contains(&len) || len > b.len() {
            return Err(DecodeError::Length(len));
        }
        let mut attrs = Vec::new();
        let mut rest = &b[HEADER..len];
        while !rest.is_empty() {
            if rest.len() < 2 {
                return Err(DecodeError::Attribute(rest[0]));
            }
            let (t, l) = (rest[0], rest[1] as usize);
            // RFC 3579 §3.2: a Message-Authenticator is 18 octets long.
            if l < 2 || l > rest.len() || (t == attr::MESSAGE_AUTHENTICATOR && l != 18) {
                return Err(DecodeError::Attribute(t));
            }
            attrs.push((t, rest[2..l].to_vec()));
            rest = &rest[l..];
        }
        Ok(Self {
            code: b[0],
            id: b[1],
            authenticator: b[4..20].try_into().expect("16 bytes"),
            attrs,
        })
    }

    fn raw(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&[self.code, self.id, 0, 0]);
        out.extend_from_slice(&self.authenticator);
        for (t, v) in &self.attrs {
            out.push(*t);
            out.push((v.len() + 2) as u8);
            out.extend_from_slice(v);
        }
        let len = out.len() as u16;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// Position of the Message-Authenticator value in `raw` (a packet cut to its Length):
    /// `Ok(None)` without one. `Err` when the attributes do not fill the packet exactly, or
    /// the Message-Authenticator is not 18 octets or not the only one (RFC 3579 §3.2): a
    /// packet that cannot be checked is not authentic.
    fn ma_offset(raw: &[u8]) -> Result<Option<usize>, DecodeError> {
        let mut found = None;
        let mut rest = raw.get(HEADER..).ok_or(DecodeError::Short)?;
        let mut at = HEADER;
        while let [t, l, ..] = *rest {
            let l = usize::from(l);
            if l < 2 || l > rest.len() {
                return Err(DecodeError::Attribute(t));
            }
            if t == attr::MESSAGE_AUTHENTICATOR {
                if l != 18 || found.is_some() {
                    return Err(DecodeError::Attribute(t));
                }
                found = Some(at + 2);
            }
            rest = &rest[l..];
            at += l;
        }
        match rest.first() {
            Some(t) => Err(DecodeError::Attribute(*t)),
            None => Ok(found),
        }
    }

    /// Encodes an Access-Request: random Request Authenticator (already set by the
    /// caller, who needs it to hide the password) and a Message-Authenticator.
    pub fn encode_access_request(&mut self, secret: &[u8]) -> Vec<u8> {
        self.attrs
            .retain(|(t, _)| *t != attr::MESSAGE_AUTHENTICATOR);
        self.attrs.push((attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
        let mut raw = self.raw();
        // The Message-Authenticator is the last attribute: its value ends the packet.
        let off = raw.len() - 16;
        let mac = hmac_md5(secret, &raw);
        raw[off..].copy_from_slice(&mac);
        raw
    }

    /// Encodes a request whose authenticator is MD5 over the packet with a zero
    /// authenticator (Accounting-Request, CoA-Request, Disconnect-Request).
    pub fn encode_hashed_request(&mut self, secret: &[u8]) -> Vec<u8> {
        self.authenticator = [0; 16];
        let mut raw = self.raw();
        let auth = md5(&[&raw, secret]);
        raw[4..20].copy_from_slice(&auth);
        self.authenticator = auth;
        raw
    }

    /// Encodes a response to a request with authenticator `req_auth`; adds a
    /// Message-Authenticator when `with_ma` (RFC 3579 §3.2, RFC 5176 §3.3).
    pub fn encode_response(
        &mut self,
        req_auth: &[u8; 16],
        secret: &[u8],
        with_ma: bool,
    ) -> Vec<u8> {
        self.attrs
            .retain(|(t, _)| *t != attr::MESSAGE_AUTHENTICATOR);
        if with_ma {
            self.attrs.push((attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
        }
        self.authenticator = *req_auth;
        let mut raw = self.raw();
        if with_ma {
            // The Message-Authenticator is the last attribute: its value ends the packet.
            let off = raw.len() - 16;
            let mac = hmac_md5(secret, &raw);
            raw[off..].copy_from_slice(&mac);
        }
        let auth = md5(&[&raw, secret]);
        raw[4..20].copy_from_slice(&auth);
        raw
    }

    /// Checks a response datagram against the request it answers: the Response
    /// Authenticator, and the Message-Authenticator when present. `None`: not authentic;
    /// `Some(has_ma)`: authentic, and whether it carried a Message-Authenticator (the
    /// client then requires one from that server from now on).
    pub fn verify_response(raw: &[u8], req_auth: &[u8; 16], secret: &[u8]) -> Option<bool> {
        let raw = Self::cut_to_length(raw)?;
        let ma = Self::ma_offset(raw).ok()?;
        let mut copy = raw.to_vec();
        copy[4..20].copy_from_slice(req_auth);
        if !same(&md5(&[&copy, secret]), &raw[4..20]) {
            return None;
        }
        match ma {
            Some(off) => {
                let given = raw.get(off..off + 16)?;
                copy.get_mut(off..off + 16)?.fill(0);
                same(&hmac_md5(secret, &copy), given).then_some(true)
            }
            None => Some(false),
        }
    }

    /// Checks a hashed request (CoA/Disconnect/Accounting) and its Message-Authenticator
    /// when present.
    pub fn verify_hashed_request(raw: &[u8], secret: &[u8]) -> bool {
        let Some(raw) = Self::cut_to_length(raw) else {
            return false;
        };
        let Ok(ma) = Self::ma_offset(raw) else {
            return false;
        };
        let mut copy = raw.to_vec();
        copy[4..20].fill(0);
        if !same(&md5(&[&copy, secret]), &raw[4..20]) {
            return false;
        }
        match ma {
            Some(off) => match (raw.get(off..off + 16), copy.get_mut(off..off + 16)) {
                (Some(given), Some(zeroed)) => {
                    zeroed.fill(0);
                    same(&hmac_md5(secret, &copy), given)
                }
                _ => false,
            },
            None => true,
        }
    }

    /// The datagram without padding beyond its Length field; `None` when the Length is
    /// impossible (shorter than a header, longer than the datagram or RADIUS allows).
    fn cut_to_length(raw: &[u8]) -> Option<&[u8]> {
        let len = usize::from(u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]));
        if !(HEADER..=MAX_LEN).contains(&len) {
            return None;
        }
        raw.get(..len)
    }
}

/// Hides a User-Password (RFC 2865 §5.2). Passwords are limited to 128 octets.
pub fn hide_password(password: &[u8], req_auth: &[u8; 16], secret: &[u8]) -> Option<Vec<u8>> {
    if password.len() > 128 {
        return None;
    }
    let mut p = password.to_vec();
    let padded = p.len().div_ceil(16).max(1) * 16;
    p.resize(padded, 0);
    let mut prev: Vec<u8> = req_auth.to_vec();
    for chunk in p.chunks_mut(16) {
        let b = md5(&[secret, &prev]);
        for (c, k) in chunk.iter_mut().zip(b) {
            *c ^= k;
        }
        prev = chunk.to_vec();
    }
    Some(p)
}

/// A random 16-byte Request Authenticator.
pub fn random_authenticator() -> [u8; 16] {
    let mut a = [0u8; 16];
    getrandom::fill(&mut a).expect("the kernel's random source");
    a
}

#[cfg(test)]
mod tests;

/// Packets for the fuzz tests here and in the DAS: valid ones of every kind netauth
/// reads, and mutations of them, re-signed so the checks behind the authenticators are
/// reached too.
#[cfg(test)]
pub(crate) mod fuzz;
