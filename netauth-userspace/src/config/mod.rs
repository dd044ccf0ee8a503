//! Options of `netauth run` and the settings the daemon runs with.
//!
//! Every option can be given on the command line or in the TOML config file (`--config`,
//! whose keys are the long option names); the command line wins, and
//! [`Settings::resolve`] applies the defaults. The options come in sections, one file
//! each, and one struct per section serves clap and serde alike:
//!
//! - `network`: portal address and port, XDP mode, marks, routing, bound addresses;
//! - `walled`: what captive clients may reach before login (walled garden, DNS, DHCP, NTP);
//! - `portal`: venue, terms, per-client portal limits, the HTTPS listener and API;
//! - `limits`: session timeout, idle timeout, quotas, rate limits, trust in the wall clock;
//! - `auth`: the login method and trusted devices;
//! - `radius` and `das`: the RADIUS client and the CoA/Disconnect listener;
//! - [`RunArgs`] itself: the LAN interface, the daemon's files and sockets, which other
//!   verbs read too.
//!
//! Each default is a constant (or a function) next to its option, used by `--help` (see
//! `with_default`) and by `resolve`; a test checks the README's option table against
//! these definitions. `parse` holds the value parsers and limits, `file` reads the file.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// How a command-line value and a config-file value of one option combine: a value the
/// command line gave wins; a list the command line gave (any entries) replaces the file's
/// list instead of adding to it.
trait Merge {
    fn merge(self, file: Self) -> Self;
}

impl<T> Merge for Option<T> {
    fn merge(self, file: Self) -> Self {
        self.or(file)
    }
}

impl<T> Merge for Vec<T> {
    fn merge(self, file: Self) -> Self {
        if self.is_empty() { file } else { self }
    }
}

/// Implements [`Merge`] field by field. The struct literal names every field, so a field
/// left out of the list does not compile.
macro_rules! merge_fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl $crate::config::Merge for $t {
            fn merge(self, file: Self) -> Self {
                Self { $($f: $crate::config::Merge::merge(self.$f, file.$f)),* }
            }
        }
    };
}
use merge_fields;

pub mod auth;
pub mod das;
mod file;
pub mod limits;
pub mod network;
pub mod parse;
pub mod portal;
pub mod radius;
#[cfg(test)]
mod readme_table;
#[cfg(test)]
mod tests;
pub mod walled;

pub use auth::AuthArgs;
pub use das::DasArgs;
pub use file::{config_keys, parse_config, read_config_file, read_text_file};
pub use limits::{DEFAULT_SESSION_TIMEOUT, LimitsArgs};
pub use network::{
    DEFAULT_BPFFS, DEFAULT_FWMARK, DEFAULT_FWMARK_MASK, DEFAULT_PORTAL_PORT, DEFAULT_ROUTE_TABLE,
    DEFAULT_RULE_PRIORITY, NetworkArgs, XdpMode,
};
pub use parse::{
    MAX_BYTES, MAX_DURATION, MAX_FILE_BYTES, MAX_RATE, MIN_DURATION, MIN_RATE, bytes_in_range,
    duration_in_range, format_rate, parse_bytes, parse_duration, parse_gateway_service, parse_rate,
    parse_server, parse_timeout, parse_u32,
};
pub use portal::{DEFAULT_API_PORT, DEFAULT_TERMS, DEFAULT_VENUE, PortalArgs};
pub use radius::{RadiusArgs, RadiusSettings};
pub use walled::WalledArgs;

/// An option's help text ending in its default, as `--help` shows it (and the README's
/// option table, which a test holds to it).
fn with_default(help: &str, default: impl fmt::Display) -> String {
    format!("{help} [default: {default}]")
}

/// An enum value as the command line and the config file write it.
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

pub const DEFAULT_STATE_DIR: &str = "/var/lib/netauth";
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/netauth/admin.sock";

/// `netauth run` options. In the config file the keys are the long option names
/// (`portal-port = 8080`, `session-timeout = "12h"`, `portal-ip = ["192.0.2.1"]`); read
/// one with [`read_config_file`], which names the line of a bad key or value.
///
/// The fields outside the sections are the daemon itself: the interface it makes captive,
/// its files and its endpoints for operators. `netauth stop` and `netauth user` find the
/// daemon with them too.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunArgs {
    #[arg(
        long,
        value_name = "PATH",
        help = "TOML file with any of these options (the command line overrides it)"
    )]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    #[arg(
        long,
        value_name = "IFACE",
        help = "LAN interface to make captive (clients behind it must log in). Required"
    )]
    pub lan: Option<String>,

    #[arg(
        long,
        help = with_default("Directory of the session store (SQLite)", DEFAULT_STATE_DIR)
    )]
    pub state_dir: Option<PathBuf>,

    #[arg(
        long,
        help = with_default("Unix socket for the admin CLI/API, mode 0600", DEFAULT_ADMIN_SOCKET)
    )]
    pub admin_socket: Option<PathBuf>,

    #[arg(
        long,
        value_name = "PATH",
        help = with_default(
            "Users file for --auth-method local (`netauth user add` edits it)",
            "STATE_DIR/users",
        )
    )]
    pub users_file: Option<PathBuf>,

    #[arg(
        long,
        value_name = "ADDR",
        help = "Also serve Prometheus metrics on this TCP address (e.g. 127.0.0.1:9317)"
    )]
    pub metrics_listen: Option<SocketAddr>,

    #[arg(
        long,
        value_name = "ADDR",
        help = "Serve the admin web console on this TCP address (off unless given; meant for \
                a management network or 127.0.0.1 behind SSH; HTTPS with --api-tls-cert)"
    )]
    pub admin_web: Option<SocketAddr>,

    #[arg(
        long,
        value_name = "PATH",
        help = with_default(
            "Accounts of the admin web console (`netauth admin-user add` edits it)",
            "STATE_DIR/admin-users",
        )
    )]
    pub admin_users_file: Option<PathBuf>,

    #[command(flatten)]
    #[serde(flatten)]
    pub network: NetworkArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub walled: WalledArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub portal: PortalArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub limits: LimitsArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub radius: RadiusArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub das: DasArgs,
}

merge_fields!(RunArgs {
    config,
    lan,
    state_dir,
    admin_socket,
    users_file,
    metrics_listen,
    admin_web,
    admin_users_file,
    network,
    walled,
    portal,
    limits,
    auth,
    radius,
    das,
});

impl RunArgs {
    /// The command line over the config file it names (if any).
    fn with_file(self) -> anyhow::Result<Self> {
        let file = match &self.config {
            Some(p) => read_config_file(p)?,
            None => Self::default(),
        };
        Ok(self.merge(file))
    }

    /// The LAN interface, which has no default.
    fn lan(&self) -> anyhow::Result<String> {
        let Some(lan) = self.lan.clone() else {
            bail!("no LAN interface: give --lan IFACE (or `lan = \"IFACE\"` in the config file)");
        };
        if lan.is_empty() || lan.len() > 15 || lan.contains('/') {
            bail!("'{lan}' is not an interface name");
        }
        Ok(lan)
    }

    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_STATE_DIR.into())
    }

    /// The users file: `users-file`, else `STATE_DIR/users`.
    fn resolved_users_file(&self) -> PathBuf {
        self.users_file
            .clone()
            .unwrap_or_else(|| self.state_dir().join("users"))
    }

    fn resolved_admin_users_file(&self) -> PathBuf {
        self.admin_users_file
            .clone()
            .unwrap_or_else(|| self.state_dir().join("admin-users"))
    }
}

/// The admin console's accounts file as the daemon resolves it (`admin-users-file`, else
/// `STATE_DIR/admin-users`); `netauth admin-user` uses it too.
pub fn admin_users_file_path(cli: &RunArgs) -> anyhow::Result<PathBuf> {
    Ok(cli.clone().with_file()?.resolved_admin_users_file())
}

/// The users file of `--auth-method local` as the daemon resolves it: `users-file`, else
/// `STATE_DIR/users`; the command line over the config file (`cli.config`) over defaults.
/// `netauth user` uses it too, so both always mean the same file.
pub fn users_file_path(cli: &RunArgs) -> anyhow::Result<PathBuf> {
    Ok(cli.clone().with_file()?.resolved_users_file())
}

/// Fully resolved settings of a running daemon.
#[derive(Clone, Debug)]
pub struct Settings {
    pub lan: String,
    pub portal_ip: Vec<IpAddr>,
    pub portal_port: u16,
    pub intercept_port: u16,
    pub xdp_mode: XdpMode,
    pub session_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub quota: crate::model::Quota,
    /// Default rate limits per session.
    pub rate: crate::model::Rate,
    pub admin_socket: PathBuf,
    pub state_dir: PathBuf,
    pub bpffs: PathBuf,
    pub admin_web: Option<SocketAddr>,
    pub admin_users_file: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    /// Certificate and key of the HTTPS listener.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    pub api_tls_ocsp: Option<PathBuf>,
    pub api_port: u16,
    pub api_hostname: Option<String>,
    pub venue_info_url: Option<String>,
    pub walled_garden: Vec<crate::walled::Entry>,
    pub auth_method: crate::config::auth::Method,
    pub on_new_mac: crate::config::auth::OnNewMac,
    pub users_file: PathBuf,
    pub venue_name: String,
    pub terms: String,
    /// The operator's theme directory, over the built-in theme.
    pub theme: Option<PathBuf>,
    /// The external portal application's URL and the file with the shared secret.
    pub external_portal: Option<(String, PathBuf)>,
    pub radius: Option<RadiusSettings>,
    pub trusted_macs: Vec<crate::model::Mac>,
    /// CoA/Disconnect listener: address, clients, secret file.
    pub das: Option<(SocketAddr, Vec<IpAddr>, PathBuf)>,
    /// The policy-routing rule older versions installed, removed at start.
    pub fwmark: u32,
    pub fwmark_mask: u32,
    pub route_table: u32,
    pub rule_priority: u32,
    /// Resolvers, DHCP and NTP servers captive clients may use (`None`: the gateway's
    /// LAN addresses).
    pub dns_servers: Option<Vec<IpAddr>>,
    pub dhcp_servers: Option<Vec<IpAddr>>,
    pub ntp_servers: Option<Vec<IpAddr>>,
    /// Extra gateway services for captive clients: (IP protocol, port).
    pub gateway_allow: Vec<(u8, u16)>,
    pub bind_addresses: bool,
    pub portal_client_connections: u32,
    pub portal_client_rate: u32,
    pub trust_wall_clock: crate::clock::Trust,
}

impl Settings {
    /// Command line over config file over defaults. Each section checks its own values;
    /// what involves two sections is checked here.
    pub fn resolve(cli: RunArgs) -> anyhow::Result<Self> {
        let a = cli.with_file()?;
        let (network, portal) = (&a.network, &a.portal);
        let lan = a.lan()?;
        let external = portal.external_portal()?;
        let mut walled_garden = a.walled.garden()?;
        if let Some((_, _, host)) = &external
            && !walled_garden.contains(host)
        {
            walled_garden.push(host.clone());
        }
        let (fwmark, fwmark_mask) = network.fwmark()?;
        let mut s = Settings {
            lan,
            portal_ip: network.portal_ip()?,
            portal_port: network.portal_port.unwrap_or(DEFAULT_PORTAL_PORT),
            intercept_port: 0,
            xdp_mode: network.xdp_mode.unwrap_or(network::DEFAULT_XDP_MODE),
            bpffs: network
                .bpffs
                .clone()
                .unwrap_or_else(|| DEFAULT_BPFFS.into()),
            fwmark,
            fwmark_mask,
            route_table: network.route_table.unwrap_or(DEFAULT_ROUTE_TABLE),
            rule_priority: network.rule_priority.unwrap_or(DEFAULT_RULE_PRIORITY),
            bind_addresses: network
                .bind_addresses
                .unwrap_or(network::DEFAULT_BIND_ADDRESSES),
            walled_garden,
            dns_servers: a.walled.dns_servers(),
            dhcp_servers: a.walled.dhcp_servers(),
            ntp_servers: a.walled.ntp_servers(),
            gateway_allow: a.walled.gateway_services()?,
            venue_name: portal
                .venue_name
                .clone()
                .unwrap_or_else(|| DEFAULT_VENUE.into()),
            terms: portal.terms()?,
            theme: portal.theme.clone(),
            external_portal: external.map(|(u, f, _)| (u, f)),
            portal_client_connections: portal
                .portal_client_connections
                .unwrap_or(portal::DEFAULT_PORTAL_CLIENT_CONNECTIONS),
            portal_client_rate: portal
                .portal_client_rate
                .unwrap_or(portal::DEFAULT_PORTAL_CLIENT_RATE),
            api_tls: portal.api_tls()?,
            api_tls_ocsp: portal.api_tls_ocsp.clone(),
            api_port: portal.api_port.unwrap_or(DEFAULT_API_PORT),
            api_hostname: portal.api_hostname.clone(),
            venue_info_url: portal.venue_info_url()?,
            session_timeout: a.limits.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT),
            idle_timeout: a.limits.idle_timeout,
            quota: a.limits.quota(),
            rate: a.limits.rate(),
            auth_method: a.auth.auth_method.unwrap_or(auth::DEFAULT_AUTH_METHOD),
            on_new_mac: a.auth.on_new_mac.unwrap_or_default(),
            trusted_macs: a.auth.trusted_macs()?,
            radius: a.radius.resolve()?,
            das: a.das.resolve(a.radius.radius_secret_file.as_deref())?,
            users_file: a.resolved_users_file(),
            state_dir: a.state_dir(),
            admin_socket: a
                .admin_socket
                .clone()
                .unwrap_or_else(|| DEFAULT_ADMIN_SOCKET.into()),
            metrics_listen: a.metrics_listen,
            admin_web: a.admin_web,
            admin_users_file: a.resolved_admin_users_file(),
            trust_wall_clock: a.limits.trust_wall_clock.unwrap_or_default(),
        };
        if s.auth_method == crate::config::auth::Method::Radius
            && s.radius.as_ref().is_none_or(|r| r.auth_servers.is_empty())
        {
            bail!("auth-method radius needs radius-server and radius-secret-file");
        }
        if s.api_tls.is_some() && s.api_port == s.portal_port {
            bail!("api-port and portal-port must differ");
        }
        let taken = |p: u16| p == s.portal_port || (s.api_tls.is_some() && p == s.api_port);
        s.intercept_port = match network.intercept_port {
            Some(p) if taken(p) => {
                bail!("intercept-port must differ from portal-port and api-port")
            }
            Some(p) => p,
            // The default, or the next port up when the portal or the API has it (a
            // configuration from before the intercept port existed may use 8081).
            None => (network::DEFAULT_INTERCEPT_PORT..=u16::MAX)
                .find(|p| !taken(*p))
                .unwrap_or(network::DEFAULT_INTERCEPT_PORT),
        };
        Ok(s)
    }
}
