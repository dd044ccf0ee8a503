//! Telling clients where the portal is: RFC 8910 DHCP/RA options for the Captive Portal
//! API URI, and self-signed certificates for labs.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DhcpFormat {
    /// dnsmasq `dhcp-option` lines (DHCPv4 option 114 and DHCPv6 option 103).
    Dnsmasq,
    /// Kea `option-data` for Dhcp4 and Dhcp6.
    Kea,
    /// The IPv6 RA option 37 as hex bytes, for RA daemons that take raw options.
    Ra,
}

/// RFC 8910 limits the DHCPv4 option to 255 bytes (one option's length octet).
pub const MAX_URI: usize = 255;

pub fn validate_uri(uri: &str) -> anyhow::Result<()> {
    if !uri.starts_with("https://") {
        bail!("the Captive Portal API URI must be https (RFC 8908), got '{uri}'");
    }
    if uri.len() > MAX_URI {
        bail!(
            "the URI is {} bytes; DHCP option 114 holds at most {MAX_URI}",
            uri.len()
        );
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'"' || b > 0x7e)
    {
        bail!("the URI contains characters that need encoding");
    }
    Ok(())
}

/// The configuration text for `format`.
pub fn dhcp_config(format: DhcpFormat, uri: &str) -> anyhow::Result<String> {
    validate_uri(uri)?;
    Ok(match format {
        DhcpFormat::Dnsmasq => format!(
            "# RFC 8910: Captive Portal API URI for DHCPv4 (114) and DHCPv6 (103)\n\
             dhcp-option=114,\"{uri}\"\n\
             dhcp-option=option6:103,\"{uri}\"\n"
        ),
        DhcpFormat::Kea => {
            let v = serde_json::json!({
                "Dhcp4": { "option-data": [ { "name": "v4-captive-portal", "code": 114, "data": uri } ] },
                "Dhcp6": { "option-data": [ { "name": "v6-captive-portal", "code": 103, "data": uri } ] },
            });
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        DhcpFormat::Ra => {
            let opt = ra_option(uri);
            let hex: Vec<String> = opt.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "# RFC 8910 section 2.3: IPv6 RA option 37 ({} bytes)\n{}\n",
                opt.len(),
                hex.join(" ")
            )
        }
    })
}

/// RA option 37: type, length in units of 8 octets, the URI, NUL padding to a multiple
/// of 8 bytes.
pub fn ra_option(uri: &str) -> Vec<u8> {
    let mut v = vec![37u8, 0];
    v.extend_from_slice(uri.as_bytes());
    while v.len() % 8 != 0 {
        v.push(0);
    }
    v[1] = (v.len() / 8) as u8;
    v
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

    #[test]
    fn dnsmasq_and_kea_carry_the_uri() {
        let uri = "https://portal.example.net:8443/api/captive";
        let d = dhcp_config(DhcpFormat::Dnsmasq, uri).unwrap();
        assert!(d.contains(&format!("dhcp-option=114,\"{uri}\"")));
        assert!(d.contains(&format!("dhcp-option=option6:103,\"{uri}\"")));
        let k: serde_json::Value =
            serde_json::from_str(&dhcp_config(DhcpFormat::Kea, uri).unwrap()).unwrap();
        assert_eq!(k["Dhcp4"]["option-data"][0]["code"], 114);
        assert_eq!(k["Dhcp6"]["option-data"][0]["data"], uri);
    }

    #[test]
    fn uri_limits_are_enforced() {
        let long = format!("https://{}/api/captive", "a".repeat(250));
        assert!(dhcp_config(DhcpFormat::Dnsmasq, &long).is_err());
        assert!(dhcp_config(DhcpFormat::Dnsmasq, "http://portal/api").is_err());
        assert!(dhcp_config(DhcpFormat::Dnsmasq, "https://x/\"quoted\"").is_err());
    }

    #[test]
    fn ra_option_is_padded_to_8_bytes() {
        let o = ra_option("https://p.example/api");
        assert_eq!(o.len() % 8, 0);
        assert_eq!(o[0], 37);
        assert_eq!(o[1] as usize * 8, o.len());
        assert_eq!(&o[2..23], b"https://p.example/api");
        assert!(o[23..].iter().all(|b| *b == 0));
    }
}
