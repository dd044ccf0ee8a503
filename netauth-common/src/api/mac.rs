//! `Mac`: a client's Ethernet address, the identity netauth authorizes (parsed and shown
//! the same way by the daemon, its API and its CLI).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A unicast Ethernet address of a LAN client.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MacError {
    #[error(
        "'{0}' is not a MAC address (expected six hex pairs separated by ':' or '-', e.g. 02:00:5e:10:00:01)"
    )]
    Syntax(String),
    #[error("{0} is a multicast/broadcast address, not a client")]
    Multicast(String),
    #[error("00:00:00:00:00:00 is not a client address")]
    Zero,
}

impl Mac {
    /// Whether the address is locally administered (bit 0x02 of the first octet): not
    /// the maker's, most often a phone's randomised "private" address, which may change
    /// when the device joins the network again.
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || MacError::Syntax(s.chars().take(64).collect());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let part = parts.next().ok_or_else(syntax)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(syntax());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| syntax())?;
        }
        if parts.next().is_some() {
            return Err(syntax());
        }
        let mac = Mac(out);
        if out == [0; 6] {
            return Err(MacError::Zero);
        }
        if out[0] & 1 == 1 {
            return Err(MacError::Multicast(mac.to_string()));
        }
        Ok(mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locally_administered_is_the_second_bit_of_the_first_octet() {
        for (mac, local) in [
            ("02:00:5e:10:00:01", true),
            ("da:a1:19:00:00:01", true),
            ("00:00:5e:00:53:01", false),
            ("f8:ff:c2:00:00:01", false),
        ] {
            assert_eq!(
                mac.parse::<Mac>().unwrap().is_locally_administered(),
                local,
                "{mac}"
            );
        }
    }

    #[test]
    fn parses_colon_and_dash_forms_case_insensitively() {
        let want = Mac([0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd]);
        assert_eq!("02:00:5e:10:ab:cd".parse::<Mac>(), Ok(want));
        assert_eq!("02-00-5E-10-AB-CD".parse::<Mac>(), Ok(want));
        assert_eq!(want.to_string(), "02:00:5e:10:ab:cd");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "02:00:5e:10:ab",
            "02:00:5e:10:ab:cd:ef",
            "02:00:5e:10:ab:cg",
            "2:00:5e:10:ab:cd",
            "02:00:5e:10:ab:+d",
            "02:00-5e:10:ab:cd",
            "020:0:5e:10:ab:cd",
        ] {
            assert!(
                matches!(bad.parse::<Mac>(), Err(MacError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_non_client_addresses() {
        assert_eq!("00:00:00:00:00:00".parse::<Mac>(), Err(MacError::Zero));
        assert!(matches!(
            "ff:ff:ff:ff:ff:ff".parse::<Mac>(),
            Err(MacError::Multicast(_))
        ));
        assert!(matches!(
            "01:00:5e:00:00:01".parse::<Mac>(),
            Err(MacError::Multicast(_))
        ));
    }
}
