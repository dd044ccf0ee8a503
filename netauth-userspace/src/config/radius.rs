//! RADIUS client options (RFC 2865/2866): servers, shared secret, NAS identity, retries,
//! accounting interval, MAC authentication; and [`RadiusSettings`], the one resolved form
//! the RADIUS client (`crate::radius`) runs on.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use anyhow::bail;
use clap::Args;
use serde::Deserialize;

use super::{
    parse::{
        de_duration, de_timeout, format_duration, parse_duration, parse_server, parse_timeout,
    },
    with_default,
};

pub const RADIUS_AUTH_PORT: u16 = 1812;
pub const RADIUS_ACCT_PORT: u16 = 1813;
pub const DEFAULT_RADIUS_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_RADIUS_RETRIES: u32 = 3;
pub const DEFAULT_RADIUS_INTERIM: Duration = Duration::from_secs(300);
pub const DEFAULT_RADIUS_MAC_AUTH: bool = false;

/// The default NAS-Identifier: the host name.
fn default_nas_identifier() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "netauth".into())
}

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "RADIUS")]
#[serde(default, rename_all = "kebab-case")]
pub struct RadiusArgs {
    #[arg(
        long = "radius-server",
        value_name = "ADDR[:PORT]",
        help = format!(
            "RADIUS authentication server, ADDR or ADDR:PORT [port {RADIUS_AUTH_PORT}]; repeat \
             for fail-over in the given order. Needed by --auth-method radius and \
             --radius-mac-auth"
        )
    )]
    pub radius_server: Vec<String>,

    #[arg(
        long = "radius-acct-server",
        value_name = "ADDR[:PORT]",
        help = with_default(
            "RADIUS accounting server, ADDR or ADDR:PORT; repeat for fail-over",
            format_args!("the authentication servers' addresses, port {RADIUS_ACCT_PORT}"),
        )
    )]
    pub radius_acct_server: Vec<String>,

    #[arg(
        long,
        value_name = "PATH",
        help = "File holding the RADIUS shared secret (first line). Never logged"
    )]
    pub radius_secret_file: Option<PathBuf>,

    #[arg(
        long,
        value_name = "NAME",
        help = with_default(
            "NAS-Identifier sent to RADIUS; Disconnect/CoA requests naming another are refused",
            "the host name",
        )
    )]
    pub radius_nas_identifier: Option<String>,

    #[arg(
        long,
        value_name = "IP",
        help = with_default(
            "NAS-IP-Address (or NAS-IPv6-Address) sent to RADIUS",
            "the source address towards the first server",
        )
    )]
    pub radius_nas_ip: Option<IpAddr>,

    #[arg(
        long,
        value_parser = parse_timeout,
        help = with_default(
            "How long to wait for a RADIUS answer before retransmitting",
            format_duration(DEFAULT_RADIUS_TIMEOUT),
        )
    )]
    #[serde(deserialize_with = "de_timeout")]
    pub radius_timeout: Option<Duration>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u32).range(1..=10),
        help = with_default(
            "Transmissions per RADIUS server before failing over to the next",
            DEFAULT_RADIUS_RETRIES,
        )
    )]
    pub radius_retries: Option<u32>,

    #[arg(
        long,
        value_parser = parse_duration,
        help = with_default(
            "Interval of accounting Interim-Updates, unless the Access-Accept carries \
             Acct-Interim-Interval",
            format_duration(DEFAULT_RADIUS_INTERIM),
        )
    )]
    #[serde(deserialize_with = "de_duration")]
    pub radius_interim_interval: Option<Duration>,

    #[arg(
        long,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL",
        help = with_default(
            "Ask RADIUS about every new device, with its MAC (RFC 3580 form, \
             02-00-5E-10-00-01) as user name: an accepted device is online without a browser",
            DEFAULT_RADIUS_MAC_AUTH,
        )
    )]
    pub radius_mac_auth: Option<bool>,

    #[arg(
        long,
        value_name = "PATH",
        help = with_default(
            "File with the password of MAC-authentication requests",
            "the MAC itself",
        )
    )]
    pub radius_mac_password_file: Option<PathBuf>,
}

super::merge_fields!(RadiusArgs {
    radius_server,
    radius_acct_server,
    radius_secret_file,
    radius_nas_identifier,
    radius_nas_ip,
    radius_timeout,
    radius_retries,
    radius_interim_interval,
    radius_mac_auth,
    radius_mac_password_file,
});

/// RADIUS settings as resolved (the secrets are read when the client starts).
#[derive(Clone, Debug)]
pub struct RadiusSettings {
    pub auth_servers: Vec<SocketAddr>,
    pub acct_servers: Vec<SocketAddr>,
    pub secret_file: PathBuf,
    pub nas_identifier: String,
    /// NAS-IP-Address / NAS-IPv6-Address; `None`: the source address towards the first
    /// server.
    pub nas_ip: Option<IpAddr>,
    pub timeout: Duration,
    /// Attempts per server before failing over.
    pub retries: u32,
    pub interim: Duration,
    pub mac_auth: bool,
    /// Password of MAC-authentication requests; `None`: the MAC itself.
    pub mac_password_file: Option<PathBuf>,
}

impl RadiusArgs {
    /// `None` when no server is given; then nothing else may ask for RADIUS.
    pub(super) fn resolve(&self) -> anyhow::Result<Option<RadiusSettings>> {
        let servers = |list: &[String], port, name| {
            list.iter()
                .map(|a| parse_server(a, port))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let auth_servers = servers(&self.radius_server, RADIUS_AUTH_PORT, "radius-server")?;
        let mut acct_servers = servers(
            &self.radius_acct_server,
            RADIUS_ACCT_PORT,
            "radius-acct-server",
        )?;
        if acct_servers.is_empty() {
            acct_servers = auth_servers
                .iter()
                .map(|a| SocketAddr::new(a.ip(), RADIUS_ACCT_PORT))
                .collect();
        }
        let mac_auth = self.radius_mac_auth.unwrap_or(DEFAULT_RADIUS_MAC_AUTH);
        if auth_servers.is_empty() && acct_servers.is_empty() {
            // MAC authentication asks a RADIUS server: without one it would do nothing.
            if mac_auth {
                bail!("radius-mac-auth needs radius-server (and radius-secret-file)");
            }
            return Ok(None);
        }
        if mac_auth && auth_servers.is_empty() {
            bail!("radius-mac-auth needs radius-server");
        }
        let Some(secret_file) = self.radius_secret_file.clone() else {
            bail!("radius-server needs radius-secret-file");
        };
        let nas_identifier = match &self.radius_nas_identifier {
            Some(n) => n.clone(),
            None => default_nas_identifier(),
        };
        if nas_identifier.is_empty() || nas_identifier.len() > 253 {
            bail!("radius-nas-identifier must be 1 to 253 characters");
        }
        Ok(Some(RadiusSettings {
            auth_servers,
            acct_servers,
            secret_file,
            nas_identifier,
            nas_ip: self.radius_nas_ip,
            timeout: self.radius_timeout.unwrap_or(DEFAULT_RADIUS_TIMEOUT),
            retries: self.radius_retries.unwrap_or(DEFAULT_RADIUS_RETRIES),
            interim: self
                .radius_interim_interval
                .unwrap_or(DEFAULT_RADIUS_INTERIM),
            mac_auth,
            mac_password_file: self.radius_mac_password_file.clone(),
        }))
    }
}
