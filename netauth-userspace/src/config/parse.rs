//! Values as netauth reads and writes them: durations, byte counts, numbers, servers,
//! gateway services, and the limits every one of them is held to, wherever it comes from
//! (options, config file, admin API, RADIUS attributes). Knows nothing about which option
//! a value belongs to.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use serde::{Deserialize, Deserializer, de::Error as _};

pub use crate::model::{MAX_BYTES, MAX_DURATION, MIN_DURATION};
/// Config, terms and secret files larger than this are refused (`--config /dev/zero` would
/// otherwise be read without end).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration (e.g. 30s, 15m, 24h): {e}"))?;
    duration_in_range(d).map_err(|e| format!("'{s}': {e}"))
}

/// A network timeout (`--radius-timeout`): unlike session durations it may be under a
/// second (`500ms`), but not zero, and at most [`MAX_DURATION`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration (e.g. 500ms, 3s): {e}"))?;
    if d.is_zero() {
        return Err(format!("'{s}': a timeout must be longer than zero"));
    }
    if d > MAX_DURATION {
        return Err(format!("'{s}': a duration may be at most 10 years"));
    }
    Ok(d)
}

/// A duration as an operator writes it (`24h`, `5m`, `3s`): what [`parse_duration`] reads
/// back. Help texts show defaults with it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if d.subsec_nanos() != 0 || s == 0 => humantime::format_duration(d).to_string(),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// Checks a duration against [`MIN_DURATION`] and [`MAX_DURATION`].
pub fn duration_in_range(d: Duration) -> Result<Duration, String> {
    if d < MIN_DURATION {
        return Err("a duration must be at least 1s (sessions count whole seconds)".into());
    }
    if d > MAX_DURATION {
        return Err("a duration may be at most 10 years".into());
    }
    Ok(d)
}

/// Checks a byte count against 1 and [`MAX_BYTES`].
pub fn bytes_in_range(n: u64) -> Result<u64, String> {
    if n == 0 {
        return Err("a byte allowance must be larger than zero".into());
    }
    if n > MAX_BYTES {
        return Err(format!(
            "a byte allowance may be at most {MAX_BYTES} bytes (about 9000T)"
        ));
    }
    Ok(n)
}

/// Byte counts: a number with an optional SI (k, M, G, T: powers of 1000) or IEC
/// (Ki, Mi, Gi, Ti: powers of 1024) prefix and an optional B; 1 to [`MAX_BYTES`].
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "'{s}' is not a byte count (e.g. 500M, 2G, 1GiB, 1048576)"
        ));
    }
    let unit = unit.trim().trim_end_matches(['B', 'b']);
    let mult: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => {
            return Err(format!(
                "'{s}' has an unknown unit (use k, M, G, T, Ki, Mi, Gi, Ti)"
            ));
        }
    };
    // Only digits remain, so a failed parse means more than u64 holds.
    let v = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .unwrap_or(u64::MAX);
    bytes_in_range(v).map_err(|e| format!("'{s}': {e}"))
}

/// Smallest and largest rate limit netauth takes, in bit/s.
pub const MIN_RATE: u64 = 1_000;
pub const MAX_RATE: u64 = 1_000_000_000_000;

/// A rate limit in bit/s: `10M`, `512k`, `1G`, `2.5M`, `64000` (decimal units; an
/// optional `bit`, `bps` or `b/s` suffix).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = ["bit/s", "bits", "bit", "bps", "b/s"]
        .iter()
        .find_map(|suffix| t.strip_suffix(suffix))
        .unwrap_or(t)
        .trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" => 1,
        "k" | "K" => 1_000,
        "M" | "m" => 1_000_000,
        "G" | "g" => 1_000_000_000,
        _ => {
            return Err(format!(
                "'{s}' is not a rate in bit/s (e.g. 512k, 10M, 1G, 64000)"
            ));
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a rate in bit/s (e.g. 512k, 10M, 1G, 64000)"))?;
    let bps = (v * mult as f64).round();
    if !(MIN_RATE as f64..=MAX_RATE as f64).contains(&bps) {
        return Err(format!("'{s}': a rate must be between 1k and 1000G bit/s"));
    }
    Ok(bps as u64)
}

/// A rate as text, in the largest unit that keeps it whole (`10M`, `512k`, `1500`).
pub fn format_rate(bps: u64) -> String {
    for (unit, m) in [("G", 1_000_000_000), ("M", 1_000_000), ("k", 1_000)] {
        if bps >= m && bps.is_multiple_of(m) {
            return format!("{}{unit}", bps / m);
        }
    }
    bps.to_string()
}

pub fn parse_u32(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a 32-bit number"))
}

/// `ADDR`, `ADDR:PORT`, `[V6]:PORT` or a bare IPv6 address.
pub fn parse_server(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    Err(format!(
        "'{s}' is not an address (e.g. 198.51.100.2, 198.51.100.2:1812, [2001:db8::2]:1812)"
    ))
}

/// `tcp/22`, `udp/161`: a gateway service as (IP protocol number, port).
pub fn parse_gateway_service(s: &str) -> Result<(u8, u16), String> {
    let (proto, port) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not PROTO/PORT (e.g. tcp/22, udp/161)"))?;
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        other => return Err(format!("'{other}' is not tcp or udp")),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}': the port must be 1..=65535"))?;
    Ok((proto, port))
}

// The config file's side of the parsers above: the same rules and messages, whether the
// file wrote a string or a number.

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(i64),
    Str(String),
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).map_err(D::Error::custom)
}

pub(super) fn de_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_timeout(&s).map(Some).map_err(D::Error::custom)
}

pub(super) fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => u64::try_from(n)
            .map_err(|_| "a byte allowance must be larger than zero".to_string())
            .and_then(bytes_in_range)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{n}: {e}"))),
        NumOrStr::Str(s) => parse_bytes(&s).map(Some).map_err(D::Error::custom),
    }
}

pub(super) fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => parse_rate(&n.to_string())
            .map(Some)
            .map_err(D::Error::custom),
        NumOrStr::Str(s) => parse_rate(&s).map(Some).map_err(D::Error::custom),
    }
}

pub(super) fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{n} is not a 32-bit number"))),
        NumOrStr::Str(s) => parse_u32(&s).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_bits_per_second_and_refuse_garbage() {
        assert_eq!(parse_rate("10M"), Ok(10_000_000));
        assert_eq!(parse_rate("512k"), Ok(512_000));
        assert_eq!(parse_rate("1G"), Ok(1_000_000_000));
        assert_eq!(parse_rate("2.5M"), Ok(2_500_000));
        assert_eq!(parse_rate("64000"), Ok(64_000));
        assert_eq!(parse_rate("20Mbit"), Ok(20_000_000));
        for bad in [
            "", "fast", "10X", "-5M", "0", "10M10", "1.2.3M", "2000G", "999",
        ] {
            let e = parse_rate(bad).unwrap_err();
            assert!(e.contains("rate"), "{bad}: {e}");
        }
        assert_eq!(format_rate(10_000_000), "10M");
        assert_eq!(format_rate(512_000), "512k");
        assert_eq!(format_rate(1_500), "1500");
    }

    #[test]
    fn durations_parse_and_reject_nonsense() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_under_a_second_or_over_ten_years_are_refused_with_the_limit() {
        let e = parse_duration("500ms").unwrap_err();
        assert!(e.contains("at least 1s"), "{e}");
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("10y"), Ok(MAX_DURATION));
        let e = parse_duration("11y").unwrap_err();
        assert!(e.contains("at most 10 years"), "{e}");
        assert!(parse_duration("99999999999999999999y").is_err());
        // A network timeout may be under a second, not zero.
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert!(
            parse_timeout("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(parse_timeout("11y").is_err());
        let a = super::super::file::parse_config("radius-timeout = \"250ms\"\n").unwrap();
        assert_eq!(a.radius.radius_timeout, Some(Duration::from_millis(250)));
    }

    #[test]
    fn durations_are_shown_as_they_are_written() {
        for (d, s) in [(86400, "24h"), (300, "5m"), (3, "3s"), (5400, "90m")] {
            assert_eq!(format_duration(Duration::from_secs(d)), s);
            assert_eq!(parse_duration(s), Ok(Duration::from_secs(d)));
        }
        let half = Duration::from_millis(500);
        assert_eq!(parse_timeout(&format_duration(half)), Ok(half));
    }

    #[test]
    fn byte_counts_beyond_the_limit_are_refused_not_wrapped() {
        // 10000000T is past 2^63: stored as a signed 64-bit number it came back negative.
        for big in [
            "10000000T",
            "9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999999",
            "9007199254740993",
        ] {
            let e = parse_bytes(big).unwrap_err();
            assert!(e.contains("at most 9007199254740992 bytes"), "{big}: {e}");
        }
        assert_eq!(parse_bytes("9007199254740992"), Ok(MAX_BYTES));
        assert_eq!(parse_bytes("8000T"), Ok(8_000_000_000_000_000));
        assert_eq!(bytes_in_range(MAX_BYTES + 1).map_err(|_| ()), Err(()));
        assert_eq!(bytes_in_range(0).map_err(|_| ()), Err(()));
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_u32("0x10"), Ok(16));
        assert_eq!(parse_u32("16"), Ok(16));
        assert!(parse_u32("0xfffffffff").is_err());
    }

    #[test]
    fn byte_counts_take_si_and_iec_units() {
        assert_eq!(parse_bytes("1500"), Ok(1500));
        assert_eq!(parse_bytes("500M"), Ok(500_000_000));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("5X").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }

    #[test]
    fn radius_servers_parse_with_their_default_port() {
        assert_eq!(
            parse_server("198.51.100.2", 1812),
            Ok("198.51.100.2:1812".parse().unwrap())
        );
        assert_eq!(
            parse_server("198.51.100.2:1645", 1812),
            Ok("198.51.100.2:1645".parse().unwrap())
        );
        assert_eq!(
            parse_server("2001:db8::2", 1813),
            Ok("[2001:db8::2]:1813".parse().unwrap())
        );
        assert!(parse_server("radius.example", 1812).is_err());
    }
}
