//! The provisioning verbs, which need no daemon: `cert` (a self-signed certificate for
//! the HTTPS listener) and `dhcp-config` (the RFC 8910 options that announce the API).

use std::{net::IpAddr, path::Path};

use super::{Failure, Outcome};
use crate::provision::DhcpFormat;

pub fn cert(hostname: &str, ips: &[IpAddr], out_dir: &Path) -> Outcome {
    let (cert, key) = crate::provision::self_signed(hostname, ips, out_dir)
        .map_err(|e| Failure::failed(format!("{e:#}")))?;
    println!(
        "certificate: {}\nkey:         {}",
        cert.display(),
        key.display()
    );
    println!(
        "use: netauth run ... --api-tls-cert {} --api-tls-key {} --api-hostname {hostname}",
        cert.display(),
        key.display()
    );
    Ok(())
}

pub fn dhcp_config(
    format: DhcpFormat,
    api_uri: Option<String>,
    hostname: Option<String>,
    port: u16,
) -> Outcome {
    let uri = match (api_uri, hostname) {
        (Some(u), _) => u,
        (None, Some(h)) if port == 443 => format!("https://{h}/api/captive"),
        (None, Some(h)) => format!("https://{h}:{port}/api/captive"),
        (None, None) => {
            return Err(Failure::BadInput(
                "give --hostname NAME or --api-uri URI".into(),
            ));
        }
    };
    let text = crate::provision::dhcp_config(format, &uri)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    print!("{text}");
    Ok(())
}
