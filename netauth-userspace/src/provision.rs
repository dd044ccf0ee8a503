//! Telling clients where the portal is: RFC 8910 DHCP/RA options for the Captive Portal
//! API URI, and self-signed certificates for labs.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DhcpFormat {
    /// dnsmasq `dhcp-option` lines (DHCPv4 option 114 and DHCPv6 option 103), to add to
    /// dnsmasq.conf.
    Dnsmasq,
    /// A complete kea-dhcp4 configuration file (option 114), with a placeholder subnet.
    Kea4,
    /// A complete kea-dhcp6 configuration file (option 103), with a placeholder subnet.
    Kea6,
    /// Kea `option-data` for Dhcp4 and Dhcp6, to merge into existing Kea configurations
    /// (not a file Kea loads: each server takes its own file).
    Kea,
    /// A radvd `interface` block with `AdvCaptivePortalAPI` (RA option 37; radvd 2.20 or
    /// later).
    Radvd,
}

impl DhcpFormat {
    /// Whether the text names the LAN interface (and so needs `--interface`).
    pub fn names_interface(self) -> bool {
        matches!(
            self,
            DhcpFormat::Kea4 | DhcpFormat::Kea6 | DhcpFormat::Radvd
        )
    }
}

/// What the options announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announce {
    /// The Captive Portal API's URI.
    Api(String),
    /// RFC 8910 section 2: the network has no captive portal.
    Unrestricted,
}

/// The URI that tells clients there is no captive portal (RFC 8910 section 2).
pub const UNRESTRICTED: &str = "urn:ietf:params:capport:unrestricted";

impl Announce {
    /// The option's value.
    pub fn value(&self) -> &str {
        match self {
            Announce::Api(uri) => uri,
            Announce::Unrestricted => UNRESTRICTED,
        }
    }
}

/// RFC 8910 limits the DHCPv4 option to 255 bytes (one option's length octet).
pub const MAX_URI: usize = 255;

/// radvd (scanner.l) keeps a quoted string in 256 bytes, quotes and NUL included: a longer
/// URI would be announced cut short.
pub const MAX_RADVD_URI: usize = 253;

/// The API's URI on the portal's host name and HTTPS port (an IPv6 address in brackets).
pub fn api_uri(hostname: &str, port: u16) -> String {
    let host = match hostname.parse::<std::net::Ipv6Addr>() {
        Ok(a) => format!("[{a}]"),
        Err(_) => hostname.to_string(),
    };
    if port == 443 {
        format!("https://{host}/api/captive")
    } else {
        format!("https://{host}:{port}/api/captive")
    }
}

/// Checks that clients can use `uri` as the Captive Portal API URI: https, a host, at most
/// [`MAX_URI`] bytes, only characters RFC 3986 allows unencoded. Returns the address when
/// the host is an address literal, which is allowed but discouraged (RFC 8910 section 2:
/// the API's certificate is checked against the name).
pub fn validate_uri(uri: &str) -> anyhow::Result<Option<IpAddr>> {
    if let Some(c) = uri.chars().find(|c| !uri_char(*c)) {
        bail!("the URI contains {c:?}, which must be percent-encoded (RFC 3986)");
    }
    if uri.len() > MAX_URI {
        bail!(
            "the URI is {} bytes; DHCP option 114 holds at most {MAX_URI}",
            uri.len()
        );
    }
    let parsed = url::Url::parse(uri).with_context(|| format!("'{uri}' is not a URI"))?;
    if parsed.scheme() != "https" {
        bail!(
            "the Captive Portal API URI must be https (RFC 8908), got '{uri}' \
             (--unrestricted announces that there is no portal)"
        );
    }
    Ok(match parsed.host() {
        Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        Some(url::Host::Domain(_)) => None,
        None => bail!("'{uri}' names no host"),
    })
}

/// The characters a URI may hold as they are (RFC 3986 section 2: unreserved, reserved and
/// the percent sign).
fn uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Checks a LAN interface name for the configurations that name it: a Linux interface
/// name (at most 15 bytes) that radvd reads as one word.
pub fn validate_interface(name: &str) -> anyhow::Result<()> {
    let word = name.len() <= 15
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !word {
        bail!(
            "'{name}' is not an interface name this writes (up to 15 letters, digits, \
             '.', '_' or '-', starting with a letter)"
        );
    }
    Ok(())
}

/// The configuration text for `format`, with warnings for the operator (the text is
/// usable as it is).
#[derive(Debug)]
pub struct DhcpConfig {
    pub text: String,
    pub warnings: Vec<String>,
}

/// The configuration announcing `what` in `format`; `interface` (the LAN interface) is
/// needed by, and only by, the formats that name it.
pub fn dhcp_config(
    format: DhcpFormat,
    what: &Announce,
    interface: Option<&str>,
) -> anyhow::Result<DhcpConfig> {
    let mut warnings = Vec::new();
    if let Announce::Api(uri) = what
        && let Some(addr) = validate_uri(uri)?
    {
        warnings.push(format!(
            "the API URI's host {addr} is an address literal; RFC 8910 section 2 says it \
             SHOULD be a DNS name (clients check the API's TLS certificate against it)"
        ));
    }
    let iface = match (format.names_interface(), interface) {
        (true, Some(i)) => {
            validate_interface(i)?;
            i
        }
        (true, None) => bail!(
            "--format {} needs --interface IFACE (the LAN interface it serves)",
            format_name(format)
        ),
        (false, Some(_)) => bail!(
            "--interface applies to --format kea4, kea6 and radvd, not {}",
            format_name(format)
        ),
        (false, None) => "",
    };
    let value = what.value();
    let text = match format {
        DhcpFormat::Dnsmasq => format!(
            "# RFC 8910: {} for DHCPv4 (option 114) and DHCPv6 (option 103)\n\
             dhcp-option=114,\"{value}\"\n\
             dhcp-option=option6:103,\"{value}\"\n",
            meaning(what)
        ),
        DhcpFormat::Kea4 => kea_file(false, what, iface)?,
        DhcpFormat::Kea6 => kea_file(true, what, iface)?,
        DhcpFormat::Kea => pretty(&json!({
            "Dhcp4": { "option-data": [ kea_option(false, value) ] },
            "Dhcp6": { "option-data": [ kea_option(true, value) ] },
        }))?,
        DhcpFormat::Radvd => {
            if value.len() > MAX_RADVD_URI {
                bail!(
                    "the URI is {} bytes; radvd announces at most {MAX_RADVD_URI}",
                    value.len()
                );
            }
            format!(
                "# RFC 8910: {} in router advertisements (option 37).\n\
                 # Needs radvd 2.20 or later (AdvCaptivePortalAPI): older radvd rejects it.\n\
                 # Merge into radvd.conf (one block per interface: add the prefixes, RDNSS, ...).\n\
                 interface {iface}\n\
                 {{\n    AdvSendAdvert on;\n    AdvCaptivePortalAPI \"{value}\";\n}};\n",
                meaning(what)
            )
        }
    };
    Ok(DhcpConfig { text, warnings })
}

fn format_name(format: DhcpFormat) -> String {
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn meaning(what: &Announce) -> &'static str {
    match what {
        Announce::Api(_) => "the Captive Portal API's URI",
        Announce::Unrestricted => "this network has no captive portal",
    }
}

/// One Kea `option-data` entry. Kea splits `data` at commas (it is a list in CSV form)
/// unless they are escaped, so a comma in the URI is written `\,`.
fn kea_option(v6: bool, value: &str) -> Value {
    let (name, code) = if v6 {
        ("v6-captive-portal", 103)
    } else {
        ("v4-captive-portal", 114)
    };
    json!({ "name": name, "code": code, "data": value.replace(',', "\\,") })
}

/// A whole kea-dhcp4 or kea-dhcp6 file: the interface, the option, and a subnet the
/// operator replaces with the LAN's (documentation addresses, named as a placeholder).
fn kea_file(v6: bool, what: &Announce, iface: &str) -> anyhow::Result<String> {
    let comment = format!(
        "RFC 8910: {}. Written by netauth dhcp-config: replace the placeholder subnet \
         with your LAN's.",
        meaning(what)
    );
    let placeholder = "PLACEHOLDER: your LAN's subnet, pool, and the gateway's addresses";
    let v = if v6 {
        json!({ "Dhcp6": {
            "comment": comment,
            "interfaces-config": { "interfaces": [iface] },
            "option-data": [ kea_option(true, what.value()) ],
            "subnet6": [ {
                "comment": placeholder,
                "id": 1,
                "interface": iface,
                "subnet": "2001:db8:1::/64",
                "pools": [ { "pool": "2001:db8:1::100 - 2001:db8:1::1ff" } ],
                "option-data": [ { "name": "dns-servers", "data": "2001:db8:1::1" } ],
            } ],
        } })
    } else {
        json!({ "Dhcp4": {
            "comment": comment,
            "interfaces-config": { "interfaces": [iface] },
            "option-data": [ kea_option(false, what.value()) ],
            "subnet4": [ {
                "comment": placeholder,
                "id": 1,
                "interface": iface,
                "subnet": "192.0.2.0/24",
                "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ],
                "option-data": [
                    { "name": "routers", "data": "192.0.2.1" },
                    { "name": "domain-name-servers", "data": "192.0.2.1" },
                ],
            } ],
        } })
    };
    pretty(&v)
}

fn pretty(v: &Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// Writes a self-signed certificate and key for `hostname` (plus `ips`) into `dir`;
/// returns their paths.
pub fn self_signed(
    hostname: &str,
    ips: &[std::net::IpAddr],
    dir: &Path,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if hostname.is_empty()
        || hostname.len() > 253
        || !hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        bail!("'{hostname}' is not a host name");
    }
    let mut names = vec![hostname.to_string()];
    names.extend(ips.iter().map(|i| i.to_string()));
    let ck = rcgen::generate_simple_self_signed(names).context("generating the certificate")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cert = dir.join(format!("{hostname}.crt"));
    let key = dir.join(format!("{hostname}.key"));
    std::fs::write(&cert, ck.cert.pem()).with_context(|| format!("writing {}", cert.display()))?;
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)
            .with_context(|| format!("writing {}", key.display()))?;
        f.write_all(ck.signing_key.serialize_pem().as_bytes())?;
    }
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "https://portal.example.net:8443/api/captive";

    fn api(uri: &str) -> Announce {
        Announce::Api(uri.to_string())
    }

    #[test]
    fn dnsmasq_and_kea_carry_the_uri() {
        let d = dhcp_config(DhcpFormat::Dnsmasq, &api(URI), None).unwrap();
        assert!(d.text.contains(&format!("dhcp-option=114,\"{URI}\"")));
        assert!(
            d.text
                .contains(&format!("dhcp-option=option6:103,\"{URI}\""))
        );
        assert!(d.warnings.is_empty());
        let k = dhcp_config(DhcpFormat::Kea, &api(URI), None).unwrap();
        let k: Value = serde_json::from_str(&k.text).unwrap();
        assert_eq!(k["Dhcp4"]["option-data"][0]["code"], 114);
        assert_eq!(k["Dhcp6"]["option-data"][0]["data"], URI);
    }

    #[test]
    fn kea_files_name_the_interface_and_escape_commas() {
        let uri = "https://portal.example.net/api/captive?a=1,2";
        let k4 = dhcp_config(DhcpFormat::Kea4, &api(uri), Some("lan0")).unwrap();
        let k4: Value = serde_json::from_str(&k4.text).unwrap();
        assert_eq!(k4["Dhcp4"]["interfaces-config"]["interfaces"][0], "lan0");
        assert_eq!(k4["Dhcp4"]["subnet4"][0]["interface"], "lan0");
        assert_eq!(
            k4["Dhcp4"]["option-data"][0]["data"],
            "https://portal.example.net/api/captive?a=1\\,2"
        );
        assert!(k4.get("Dhcp6").is_none());
        let k6 = dhcp_config(DhcpFormat::Kea6, &Announce::Unrestricted, Some("lan0")).unwrap();
        let k6: Value = serde_json::from_str(&k6.text).unwrap();
        assert_eq!(k6["Dhcp6"]["option-data"][0]["code"], 103);
        assert_eq!(k6["Dhcp6"]["option-data"][0]["data"], UNRESTRICTED);
    }

    #[test]
    fn the_interface_is_needed_exactly_where_it_is_named() {
        assert!(dhcp_config(DhcpFormat::Kea4, &api(URI), None).is_err());
        assert!(dhcp_config(DhcpFormat::Radvd, &api(URI), None).is_err());
        assert!(dhcp_config(DhcpFormat::Dnsmasq, &api(URI), Some("lan0")).is_err());
        assert!(dhcp_config(DhcpFormat::Radvd, &api(URI), Some("lan0; evil")).is_err());
        assert!(dhcp_config(DhcpFormat::Radvd, &api(URI), Some("0lan")).is_err());
    }

    #[test]
    fn radvd_block_announces_the_uri_and_its_version() {
        let r = dhcp_config(DhcpFormat::Radvd, &api(URI), Some("eth1.20")).unwrap();
        assert!(r.text.contains("interface eth1.20\n{"), "{}", r.text);
        assert!(r.text.contains(&format!("AdvCaptivePortalAPI \"{URI}\";")));
        assert!(r.text.contains("radvd 2.20 or later"));
        let long = format!("https://{}/api", "a".repeat(MAX_RADVD_URI - 11));
        assert!(long.len() > MAX_RADVD_URI && long.len() <= MAX_URI);
        assert!(dhcp_config(DhcpFormat::Radvd, &api(&long), Some("lan0")).is_err());
        assert!(dhcp_config(DhcpFormat::Dnsmasq, &api(&long), None).is_ok());
    }

    #[test]
    fn unrestricted_is_the_rfc_8910_urn() {
        let d = dhcp_config(DhcpFormat::Dnsmasq, &Announce::Unrestricted, None).unwrap();
        assert!(
            d.text
                .contains("dhcp-option=114,\"urn:ietf:params:capport:unrestricted\"")
        );
        assert!(d.text.contains("no captive portal"));
    }

    #[test]
    fn address_literals_are_warned_about() {
        for (uri, addr) in [
            ("https://192.0.2.1:8443/api/captive", "192.0.2.1"),
            ("https://[2001:db8::1]/api/captive", "2001:db8::1"),
        ] {
            let d = dhcp_config(DhcpFormat::Dnsmasq, &api(uri), None).unwrap();
            assert_eq!(d.warnings.len(), 1, "{uri}");
            assert!(d.warnings[0].contains(addr), "{:?}", d.warnings);
            assert!(d.text.contains(uri));
        }
        assert_eq!(
            api_uri("2001:db8::1", 443),
            "https://[2001:db8::1]/api/captive"
        );
        assert_eq!(
            api_uri("portal.example.net", 8443),
            "https://portal.example.net:8443/api/captive"
        );
    }

    #[test]
    fn uri_limits_are_enforced() {
        let long = format!("https://{}/api/captive", "a".repeat(250));
        for bad in [
            long.as_str(),
            "http://portal/api",
            "https://x/\"quoted\"",
            "https://x/a b",
            "portal.example.net/api",
        ] {
            assert!(
                dhcp_config(DhcpFormat::Dnsmasq, &api(bad), None).is_err(),
                "{bad}"
            );
        }
    }
}
