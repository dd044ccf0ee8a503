//! Options of `netauth run`: one struct, documented once, used by the CLI and the README.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

/// Default admin socket path.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/netauth/admin.sock";

/// How the XDP program is attached to the LAN interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpMode {
    /// Native (driver) mode where the driver supports it, else generic.
    Auto,
    /// Driver mode only; fail if the driver lacks XDP support.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Generic,
    /// No XDP: the TC program makes every decision.
    Off,
}

#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// LAN interface to make captive (clients behind it must log in).
    #[arg(long, value_name = "IFACE")]
    pub lan: String,

    /// Address(es) of the portal on the LAN, at most one IPv4 and one IPv6
    /// [default: the LAN interface's first IPv4 and first global IPv6 address].
    #[arg(long = "portal-ip", value_name = "IP")]
    pub portal_ip: Vec<IpAddr>,

    /// TCP port of the portal's HTTP listener (also receives intercepted HTTP).
    #[arg(long, default_value_t = 8080, value_parser = clap::value_parser!(u16).range(1..))]
    pub portal_port: u16,

    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub xdp_mode: XdpMode,

    /// How long a session lasts after login (e.g. 24h, 90m, 30s).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub session_timeout: Duration,

    /// Unix socket for the admin CLI/API (created with mode 0600).
    #[arg(long, default_value = DEFAULT_ADMIN_SOCKET)]
    pub admin_socket: PathBuf,

    /// Venue name shown on the login page.
    #[arg(long, default_value = "Guest Wi-Fi")]
    pub venue_name: String,

    /// Terms of use shown on the login page (plain text; blank lines separate paragraphs).
    #[arg(long, conflicts_with = "terms_file")]
    pub terms: Option<String>,

    /// Read the terms of use from a file instead.
    #[arg(long, value_name = "PATH")]
    pub terms_file: Option<PathBuf>,

    /// fwmark put on intercepted packets (hex with 0x, or decimal).
    #[arg(long, default_value = "0x0a170000", value_parser = parse_u32)]
    pub fwmark: u32,

    /// Bits of the fwmark netauth owns.
    #[arg(long, default_value = "0xffff0000", value_parser = parse_u32)]
    pub fwmark_mask: u32,

    /// Routing table for the local-delivery route of intercepted packets.
    #[arg(long, default_value_t = 7327, value_parser = clap::value_parser!(u32).range(1..0xffff_fff0))]
    pub route_table: u32,

    /// Priority of the policy-routing rule.
    #[arg(long, default_value_t = 1000)]
    pub rule_priority: u32,
}

pub const DEFAULT_TERMS: &str = "By connecting you agree to use this network lawfully and \
considerately. The operator may log the hardware address of your device and the time of your \
session, and may end sessions at any time.";

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration (e.g. 30s, 15m, 24h): {e}"))?;
    if d.is_zero() {
        return Err("a duration must be longer than zero".into());
    }
    if d > Duration::from_secs(10 * 365 * 24 * 3600) {
        return Err("a duration may be at most 10 years".into());
    }
    Ok(d)
}

pub fn parse_u32(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a 32-bit number"))
}

impl RunArgs {
    /// Checks that cannot be expressed in clap attributes.
    pub fn validate(&self) -> Result<(), String> {
        if self.fwmark_mask == 0 {
            return Err("--fwmark-mask must not be 0".into());
        }
        if self.fwmark & !self.fwmark_mask != 0 || self.fwmark == 0 {
            return Err(format!(
                "--fwmark {:#x} must be non-zero and inside --fwmark-mask {:#x}",
                self.fwmark, self.fwmark_mask
            ));
        }
        let v4 = self.portal_ip.iter().filter(|a| a.is_ipv4()).count();
        let v6 = self.portal_ip.len() - v4;
        if v4 > 1 || v6 > 1 {
            return Err("give at most one IPv4 and one IPv6 --portal-ip".into());
        }
        if self.lan.is_empty() || self.lan.len() > 15 || self.lan.contains('/') {
            return Err(format!("'{}' is not an interface name", self.lan));
        }
        Ok(())
    }

    pub fn terms_text(&self) -> anyhow::Result<String> {
        use anyhow::Context as _;
        match (&self.terms, &self.terms_file) {
            (Some(t), _) => Ok(t.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading --terms-file {}", path.display())),
            (None, None) => Ok(DEFAULT_TERMS.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_reject_nonsense() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_u32("0x10"), Ok(16));
        assert_eq!(parse_u32("16"), Ok(16));
        assert!(parse_u32("0xfffffffff").is_err());
    }
}
