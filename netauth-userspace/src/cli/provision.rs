//! The provisioning verbs, which need no daemon: `cert` (a self-signed certificate for
//! the HTTPS listener) and `dhcp-config` (the RFC 8910 options that announce the API).

use std::{net::IpAddr, path::Path};

use super::{Failure, Outcome};
use crate::provision::{Announce, DhcpFormat};

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

/// What `dhcp-config` announces, and in which form.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("announce").required(true))]
pub struct DhcpConfigArgs {
    /// Which server's configuration to print.
    #[arg(long, value_enum)]
    format: DhcpFormat,
    /// The API's URI as clients reach it (https://NAME[:PORT]/api/captive).
    #[arg(long, group = "announce", value_name = "URI")]
    api_uri: Option<String>,
    /// The portal's DNS name (the API is https://HOSTNAME:PORT/api/captive).
    #[arg(long, group = "announce", value_name = "NAME")]
    hostname: Option<String>,
    /// The HTTPS port, with --hostname.
    #[arg(long, requires = "hostname", default_value_t = crate::config::DEFAULT_API_PORT)]
    port: u16,
    /// Announce that this network has no captive portal
    /// (urn:ietf:params:capport:unrestricted, RFC 8910 section 2).
    #[arg(long, group = "announce")]
    unrestricted: bool,
    /// The LAN interface the server answers on (kea4, kea6 and radvd name it).
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
}

/// Prints the configuration; a warning (stderr) when the API's host is an address.
pub fn dhcp_config(args: DhcpConfigArgs) -> Outcome {
    let what = match (args.api_uri, args.hostname) {
        (Some(uri), _) => Announce::Api(uri),
        (None, Some(host)) => Announce::Api(crate::provision::api_uri(&host, args.port)),
        (None, None) => Announce::Unrestricted,
    };
    let config = crate::provision::dhcp_config(args.format, &what, args.interface.as_deref())
        .map_err(|e| Failure::BadInput(format!("{e:#}")))?;
    for w in &config.warnings {
        eprintln!("netauth: warning: {w}");
    }
    print!("{}", config.text);
    Ok(())
}
