//! Options of `netauth run`. One struct serves the command line and the TOML config file
//! (`--config`): every option can be set in either, the command line wins, and
//! [`Settings::resolve`] applies the defaults in one place.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer, de::Error as _};

use crate::session::Quota;

/// Default admin socket path.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/netauth/admin.sock";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/netauth";
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf/netauth";
pub const DEFAULT_PORTAL_PORT: u16 = 8080;
pub const DEFAULT_API_PORT: u16 = 8443;
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_VENUE: &str = "Guest Wi-Fi";
pub const DEFAULT_FWMARK: u32 = 0x0a17_0000;
pub const DEFAULT_FWMARK_MASK: u32 = 0xffff_0000;
pub const DEFAULT_ROUTE_TABLE: u32 = 7327;
pub const DEFAULT_RULE_PRIORITY: u32 = 1000;

/// Largest byte count netauth takes anywhere: options, config file, admin API, RADIUS
/// attributes. 2^53 bytes (about 9 PB) is beyond any real allowance, stays far inside the
/// store's signed 64-bit INTEGER (larger values came back negative), and is exact for JSON
/// readers that use doubles (JavaScript).
pub const MAX_BYTES: u64 = 1 << 53;
/// Longest duration netauth takes anywhere: 10 years of 365.25 days (humantime's `10y`).
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);
/// Shortest duration: sessions count whole seconds.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// Config, terms and secret files larger than this are refused (`--config /dev/zero` would
/// otherwise be read without end).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// How the XDP program is attached to the LAN interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// `netauth run` options. In the config file the keys are the long option names
/// (`portal-port = 8080`, `session-timeout = "12h"`, `portal-ip = ["192.0.2.1"]`).
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunArgs {
    /// TOML file with any of these options (the command line overrides it).
    #[arg(long, value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// LAN interface to make captive (clients behind it must log in). Required.
    #[arg(long, value_name = "IFACE")]
    pub lan: Option<String>,

    /// Address(es) of the portal on the LAN, at most one IPv4 and one IPv6
    /// [default: the LAN interface's first IPv4 and first global IPv6 address].
    #[arg(long = "portal-ip", value_name = "IP")]
    #[serde(default)]
    pub portal_ip: Vec<IpAddr>,

    /// TCP port of the portal's HTTP listener (also receives intercepted HTTP) [default: 8080].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub portal_port: Option<u16>,

    /// XDP attach mode [default: auto].
    #[arg(long, value_enum)]
    pub xdp_mode: Option<XdpMode>,

    /// Session (hard) timeout, e.g. 24h, 90m, 30s [default: 24h].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub session_timeout: Option<Duration>,

    /// Idle timeout: a session with no traffic from the client for this long ends
    /// [default: none].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub idle_timeout: Option<Duration>,

    /// Default data allowance per session, up and down together (e.g. 500M, 2G, 1GiB)
    /// [default: unlimited].
    #[arg(long, value_parser = parse_bytes)]
    #[serde(default, deserialize_with = "de_bytes")]
    pub quota: Option<u64>,

    /// Default upload allowance per session [default: unlimited].
    #[arg(long, value_parser = parse_bytes)]
    #[serde(default, deserialize_with = "de_bytes")]
    pub quota_up: Option<u64>,

    /// Default download allowance per session [default: unlimited].
    #[arg(long, value_parser = parse_bytes)]
    #[serde(default, deserialize_with = "de_bytes")]
    pub quota_down: Option<u64>,

    /// Unix socket for the admin CLI/API, mode 0600 [default: /run/netauth/admin.sock].
    #[arg(long)]
    pub admin_socket: Option<PathBuf>,

    /// Directory of the session store (SQLite) [default: /var/lib/netauth].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,

    /// bpffs directory for pinned maps and links, one subdirectory per LAN interface
    /// [default: /sys/fs/bpf/netauth].
    #[arg(long)]
    pub bpffs: Option<PathBuf>,

    /// Also serve Prometheus metrics on this TCP address (e.g. 127.0.0.1:9317).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// PEM certificate (chain) for the HTTPS listener: the RFC 8908 Captive Portal API and
    /// the portal pages over TLS (`netauth cert` makes a self-signed pair for labs).
    #[arg(long, value_name = "PATH", requires = "api_tls_key")]
    pub api_tls_cert: Option<PathBuf>,

    /// PEM private key for --api-tls-cert.
    #[arg(long, value_name = "PATH", requires = "api_tls_cert")]
    pub api_tls_key: Option<PathBuf>,

    /// TCP port of the HTTPS listener [default: 8443].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub api_port: Option<u16>,

    /// DNS name of the portal for https URLs (must match the certificate) [default: the
    /// portal address].
    #[arg(long, value_name = "NAME")]
    pub api_hostname: Option<String>,

    /// `venue-info-url` announced by the Captive Portal API.
    #[arg(long, value_name = "URL")]
    pub venue_info_url: Option<String>,

    /// A destination captive clients may reach: an address, a prefix (198.51.100.0/24,
    /// 2001:db8::/48) or a host name (resolved, and kept current by its DNS TTL). Repeat
    /// for more; the admin API adds and removes entries at run time.
    #[arg(long = "walled-garden", value_name = "ENTRY")]
    #[serde(default)]
    pub walled_garden: Vec<String>,

    /// A DNS resolver captive clients may query (UDP and TCP 53); repeat for more. DNS to
    /// any other address is dropped, so nothing tunnels over port 53
    /// [default: the LAN interface's own addresses, i.e. a resolver on the gateway].
    #[arg(long = "dns-server", value_name = "IP")]
    #[serde(default)]
    pub dns_server: Vec<IpAddr>,

    /// A DHCP (v4 or v6) server captive clients may send to besides the broadcast and
    /// All_DHCP_Relay_Agents_and_Servers addresses; repeat for more
    /// [default: the LAN interface's own addresses].
    #[arg(long = "dhcp-server", value_name = "IP")]
    #[serde(default)]
    pub dhcp_server: Vec<IpAddr>,

    /// An NTP server captive clients may reach (UDP/123; they need the time to check the
    /// portal's certificate); repeat for more [default: the LAN interface's own addresses].
    #[arg(long = "ntp-server", value_name = "IP")]
    #[serde(default)]
    pub ntp_server: Vec<IpAddr>,

    /// A service on the gateway's LAN addresses that captive clients may reach besides the
    /// portal, DNS, DHCP, NTP and ping, as PROTO/PORT (tcp/22, udp/161); repeat for more.
    #[arg(long = "gateway-allow", value_name = "PROTO/PORT")]
    #[serde(default)]
    pub gateway_allow: Vec<String>,

    /// Hold each signed-in device to the addresses it acquired (the one it signed in
    /// from, addresses it used before, and those it announces with ARP or IPv6 neighbour
    /// discovery); packets from any other source address are dropped. Turn off for
    /// devices that change static addresses while signed in [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub bind_addresses: Option<bool>,

    /// Connections one client may hold open to the portal at once; more are refused
    /// [default: 32].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub portal_client_connections: Option<u32>,

    /// Requests per second one client may make to the portal (a burst of twice as many is
    /// allowed); beyond that it gets 429 [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub portal_client_rate: Option<u32>,

    /// Whether to believe the wall clock about time that passed while netauth was not
    /// running (after a reboot): `auto` when the kernel says the clock is synchronised
    /// (NTP), `always` (a battery-backed clock), `never` [default: auto]. Session lengths
    /// never follow steps of the wall clock while netauth runs.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub trust_wall_clock: Option<crate::clock::Trust>,

    /// How users log in [default: click-through].
    #[arg(long, value_enum)]
    pub auth_method: Option<crate::auth::Method>,

    /// Users file for --auth-method local (`netauth user add` edits it)
    /// [default: STATE_DIR/users].
    #[arg(long, value_name = "PATH")]
    pub users_file: Option<PathBuf>,

    /// RADIUS authentication server, ADDR or ADDR:PORT [port 1812]; repeat for fail-over
    /// in the given order. Needed by --auth-method radius and --radius-mac-auth.
    #[arg(long = "radius-server", value_name = "ADDR[:PORT]")]
    #[serde(default)]
    pub radius_server: Vec<String>,

    /// RADIUS accounting server, ADDR or ADDR:PORT [port 1813]; repeat for fail-over
    /// [default: the authentication servers' addresses, port 1813].
    #[arg(long = "radius-acct-server", value_name = "ADDR[:PORT]")]
    #[serde(default)]
    pub radius_acct_server: Vec<String>,

    /// File holding the RADIUS shared secret (first line). Never logged.
    #[arg(long, value_name = "PATH")]
    pub radius_secret_file: Option<PathBuf>,

    /// NAS-Identifier sent to RADIUS; Disconnect/CoA requests naming another are refused
    /// [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub radius_nas_identifier: Option<String>,

    /// NAS-IP-Address (or NAS-IPv6-Address) sent to RADIUS [default: the source address
    /// towards the first server].
    #[arg(long, value_name = "IP")]
    pub radius_nas_ip: Option<IpAddr>,

    /// How long to wait for a RADIUS answer before retransmitting [default: 3s].
    #[arg(long, value_parser = parse_timeout)]
    #[serde(default, deserialize_with = "de_timeout")]
    pub radius_timeout: Option<Duration>,

    /// Transmissions per RADIUS server before failing over to the next [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub radius_retries: Option<u32>,

    /// Interval of accounting Interim-Updates, unless the Access-Accept carries
    /// Acct-Interim-Interval [default: 5m].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub radius_interim_interval: Option<Duration>,

    /// Ask RADIUS about every new device, with its MAC (RFC 3580 form, 02-00-5E-10-00-01)
    /// as user name: an accepted device is online without a browser.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub radius_mac_auth: Option<bool>,

    /// File with the password of MAC-authentication requests [default: the MAC itself].
    #[arg(long, value_name = "PATH")]
    pub radius_mac_password_file: Option<PathBuf>,

    /// A device that is always online, without logging in (printers, point-of-sale);
    /// repeat for more.
    #[arg(long = "trusted-mac", value_name = "MAC")]
    #[serde(default)]
    pub trusted_mac: Vec<String>,

    /// A RADIUS Dynamic Authorization client (RFC 5176) allowed to send CoA and
    /// Disconnect requests; repeat for more. Enables the listener.
    #[arg(long = "das-client", value_name = "IP")]
    #[serde(default)]
    pub das_client: Vec<IpAddr>,

    /// Address of the CoA/Disconnect listener [default: [::]:3799].
    #[arg(long, value_name = "ADDR")]
    pub das_listen: Option<SocketAddr>,

    /// File with the secret shared with the DAS clients [default: --radius-secret-file].
    #[arg(long, value_name = "PATH")]
    pub das_secret_file: Option<PathBuf>,

    /// Venue name shown on the pages [default: "Guest Wi-Fi"].
    #[arg(long)]
    pub venue_name: Option<String>,

    /// Terms of use on the login page (plain text; blank lines separate paragraphs).
    #[arg(long, conflicts_with = "terms_file")]
    pub terms: Option<String>,

    /// Read the terms of use from a file instead.
    #[arg(long, value_name = "PATH")]
    pub terms_file: Option<PathBuf>,

    /// fwmark put on intercepted packets [default: 0x0a170000].
    #[arg(long, value_parser = parse_u32)]
    #[serde(default, deserialize_with = "de_u32")]
    pub fwmark: Option<u32>,

    /// Bits of the fwmark netauth owns [default: 0xffff0000].
    #[arg(long, value_parser = parse_u32)]
    #[serde(default, deserialize_with = "de_u32")]
    pub fwmark_mask: Option<u32>,

    /// Routing table for the local-delivery route of intercepted packets [default: 7327].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..0xffff_fff0))]
    pub route_table: Option<u32>,

    /// Priority of the policy-routing rule [default: 1000].
    #[arg(long)]
    pub rule_priority: Option<u32>,
}

/// Fully resolved settings of a running daemon.
#[derive(Clone, Debug)]
pub struct Settings {
    pub lan: String,
    pub portal_ip: Vec<IpAddr>,
    pub portal_port: u16,
    pub xdp_mode: XdpMode,
    pub session_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub quota: Quota,
    pub admin_socket: PathBuf,
    pub state_dir: PathBuf,
    pub bpffs: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    /// Certificate and key of the HTTPS listener.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    pub api_port: u16,
    pub api_hostname: Option<String>,
    pub venue_info_url: Option<String>,
    pub walled_garden: Vec<crate::walled::Entry>,
    pub auth_method: crate::auth::Method,
    pub users_file: PathBuf,
    pub venue_name: String,
    pub terms: String,
    pub radius: Option<RadiusSettings>,
    pub trusted_macs: Vec<crate::model::Mac>,
    /// CoA/Disconnect listener: address, clients, secret file.
    pub das: Option<(SocketAddr, Vec<IpAddr>, PathBuf)>,
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

pub const DEFAULT_TERMS: &str = "By connecting you agree to use this network lawfully and \
considerately. The operator may log the hardware address of your device and the time of your \
session, and may end sessions at any time.";

/// Reads a text file of at most [`MAX_FILE_BYTES`]; `what` names it in errors.
pub fn read_text_file(path: &Path, what: &str) -> anyhow::Result<String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{what} {} is larger than {} KiB; is it the right file?",
            path.display(),
            MAX_FILE_BYTES / 1024
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{what} {} is not UTF-8 text", path.display()))
}

/// Reads a config file; errors name the file, the line and the reason.
pub fn read_config_file(path: &Path) -> anyhow::Result<RunArgs> {
    let text = read_text_file(path, "config file")?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

/// The users file of `--auth-method local` as the daemon resolves it: `users-file`, else
/// `STATE_DIR/users`; the command line over the config file (`cli.config`) over defaults.
/// `netauth user` uses it too, so both always mean the same file.
pub fn users_file_path(cli: &RunArgs) -> anyhow::Result<PathBuf> {
    let file = match &cli.config {
        Some(p) => read_config_file(p)?,
        None => RunArgs::default(),
    };
    Ok(users_file(cli, &file))
}

fn users_file(cli: &RunArgs, file: &RunArgs) -> PathBuf {
    cli.users_file
        .clone()
        .or_else(|| file.users_file.clone())
        .unwrap_or_else(|| {
            cli.state_dir
                .clone()
                .or_else(|| file.state_dir.clone())
                .unwrap_or_else(|| DEFAULT_STATE_DIR.into())
                .join("users")
        })
}

impl Settings {
    /// Command line over config file over defaults.
    pub fn resolve(cli: RunArgs) -> anyhow::Result<Self> {
        let file = match &cli.config {
            Some(p) => read_config_file(p)?,
            None => RunArgs::default(),
        };
        macro_rules! pick {
            ($f:ident) => {
                cli.$f.clone().or(file.$f.clone())
            };
        }
        let lan = pick!(lan).ok_or_else(|| {
            anyhow::anyhow!(
                "no LAN interface: give --lan IFACE (or `lan = \"IFACE\"` in the config file)"
            )
        })?;
        let terms = match (pick!(terms), pick!(terms_file)) {
            (Some(t), _) => t,
            (None, Some(p)) => read_text_file(&p, "terms file")?,
            (None, None) => DEFAULT_TERMS.to_string(),
        };
        let radius = {
            let auth = if cli.radius_server.is_empty() {
                &file.radius_server
            } else {
                &cli.radius_server
            };
            let acct = if cli.radius_acct_server.is_empty() {
                &file.radius_acct_server
            } else {
                &cli.radius_acct_server
            };
            let auth_servers = auth
                .iter()
                .map(|a| parse_server(a, 1812))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("radius-server: {e}"))?;
            let mut acct_servers = acct
                .iter()
                .map(|a| parse_server(a, 1813))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("radius-acct-server: {e}"))?;
            if acct_servers.is_empty() {
                acct_servers = auth_servers
                    .iter()
                    .map(|a| SocketAddr::new(a.ip(), 1813))
                    .collect();
            }
            if auth_servers.is_empty() && acct_servers.is_empty() {
                // MAC authentication asks a RADIUS server: without one it would do nothing.
                if pick!(radius_mac_auth) == Some(true) {
                    bail!("radius-mac-auth needs radius-server (and radius-secret-file)");
                }
                None
            } else {
                Some(RadiusSettings {
                    auth_servers,
                    acct_servers,
                    secret_file: pick!(radius_secret_file)
                        .ok_or_else(|| anyhow::anyhow!("radius-server needs radius-secret-file"))?,
                    nas_identifier: match pick!(radius_nas_identifier) {
                        Some(n) => n,
                        None => hostname(),
                    },
                    nas_ip: pick!(radius_nas_ip),
                    timeout: pick!(radius_timeout).unwrap_or(Duration::from_secs(3)),
                    retries: pick!(radius_retries).unwrap_or(3),
                    interim: pick!(radius_interim_interval).unwrap_or(Duration::from_secs(300)),
                    mac_auth: pick!(radius_mac_auth).unwrap_or(false),
                    mac_password_file: pick!(radius_mac_password_file),
                })
            }
        };
        let trusted_macs = {
            let list = if cli.trusted_mac.is_empty() {
                &file.trusted_mac
            } else {
                &cli.trusted_mac
            };
            list.iter()
                .map(|m| m.parse::<crate::model::Mac>())
                .collect::<Result<Vec<_>, _>>()
                .context("trusted-mac")?
        };
        let das_clients = if cli.das_client.is_empty() {
            file.das_client.clone()
        } else {
            cli.das_client.clone()
        };
        let das = if das_clients.is_empty() {
            None
        } else {
            let secret = pick!(das_secret_file)
                .or(pick!(radius_secret_file))
                .ok_or_else(|| {
                    anyhow::anyhow!("das-client needs das-secret-file (or radius-secret-file)")
                })?;
            Some((
                pick!(das_listen).unwrap_or_else(|| "[::]:3799".parse().expect("literal")),
                das_clients,
                secret,
            ))
        };
        let list = |c: &Vec<IpAddr>, f: &Vec<IpAddr>| -> Option<Vec<IpAddr>> {
            let l = if c.is_empty() { f } else { c };
            (!l.is_empty()).then(|| l.clone())
        };
        let gateway_allow = {
            let l = if cli.gateway_allow.is_empty() {
                &file.gateway_allow
            } else {
                &cli.gateway_allow
            };
            l.iter()
                .map(|e| parse_gateway_service(e).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()
                .context("gateway-allow")?
        };
        let s = Settings {
            dns_servers: list(&cli.dns_server, &file.dns_server),
            dhcp_servers: list(&cli.dhcp_server, &file.dhcp_server),
            ntp_servers: list(&cli.ntp_server, &file.ntp_server),
            gateway_allow,
            bind_addresses: pick!(bind_addresses).unwrap_or(true),
            portal_client_connections: pick!(portal_client_connections).unwrap_or(32),
            portal_client_rate: pick!(portal_client_rate).unwrap_or(20),
            trust_wall_clock: pick!(trust_wall_clock).unwrap_or_default(),
            radius,
            trusted_macs,
            das,
            lan,
            portal_ip: if cli.portal_ip.is_empty() {
                file.portal_ip.clone()
            } else {
                cli.portal_ip.clone()
            },
            portal_port: pick!(portal_port).unwrap_or(DEFAULT_PORTAL_PORT),
            xdp_mode: pick!(xdp_mode).unwrap_or(XdpMode::Auto),
            session_timeout: pick!(session_timeout).unwrap_or(DEFAULT_SESSION_TIMEOUT),
            idle_timeout: pick!(idle_timeout),
            quota: Quota {
                up: pick!(quota_up),
                down: pick!(quota_down),
                total: pick!(quota),
            },
            admin_socket: pick!(admin_socket).unwrap_or_else(|| DEFAULT_ADMIN_SOCKET.into()),
            state_dir: pick!(state_dir).unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
            bpffs: pick!(bpffs).unwrap_or_else(|| DEFAULT_BPFFS.into()),
            metrics_listen: pick!(metrics_listen),
            api_tls: match (pick!(api_tls_cert), pick!(api_tls_key)) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => bail!("api-tls-cert and api-tls-key go together"),
            },
            api_port: pick!(api_port).unwrap_or(DEFAULT_API_PORT),
            api_hostname: pick!(api_hostname),
            venue_info_url: pick!(venue_info_url),
            walled_garden: {
                let list = if cli.walled_garden.is_empty() {
                    &file.walled_garden
                } else {
                    &cli.walled_garden
                };
                list.iter()
                    .map(|e| crate::walled::Entry::parse(e).map_err(anyhow::Error::msg))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .context("walled-garden")?
            },
            auth_method: pick!(auth_method).unwrap_or(crate::auth::Method::ClickThrough),
            users_file: users_file(&cli, &file),
            venue_name: pick!(venue_name).unwrap_or_else(|| DEFAULT_VENUE.into()),
            terms,
            fwmark: pick!(fwmark).unwrap_or(DEFAULT_FWMARK),
            fwmark_mask: pick!(fwmark_mask).unwrap_or(DEFAULT_FWMARK_MASK),
            route_table: pick!(route_table).unwrap_or(DEFAULT_ROUTE_TABLE),
            rule_priority: pick!(rule_priority).unwrap_or(DEFAULT_RULE_PRIORITY),
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.auth_method == crate::auth::Method::Radius
            && self
                .radius
                .as_ref()
                .is_none_or(|r| r.auth_servers.is_empty())
        {
            bail!("auth-method radius needs radius-server and radius-secret-file");
        }
        if let Some(r) = &self.radius {
            if r.mac_auth && r.auth_servers.is_empty() {
                bail!("radius-mac-auth needs radius-server");
            }
            if r.nas_identifier.is_empty() || r.nas_identifier.len() > 253 {
                bail!("radius-nas-identifier must be 1 to 253 characters");
            }
        }
        if self.fwmark_mask == 0 {
            bail!("fwmark-mask must not be 0");
        }
        if self.fwmark & !self.fwmark_mask != 0 || self.fwmark == 0 {
            bail!(
                "fwmark {:#x} must be non-zero and inside fwmark-mask {:#x}",
                self.fwmark,
                self.fwmark_mask
            );
        }
        let v4 = self.portal_ip.iter().filter(|a| a.is_ipv4()).count();
        let v6 = self.portal_ip.len() - v4;
        if v4 > 1 || v6 > 1 {
            bail!("give at most one IPv4 and one IPv6 portal-ip");
        }
        if self.api_tls.is_some() && self.api_port == self.portal_port {
            bail!("api-port and portal-port must differ");
        }
        if let Some(u) = &self.venue_info_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            bail!("venue-info-url must be an http(s) URL");
        }
        if self.lan.is_empty() || self.lan.len() > 15 || self.lan.contains('/') {
            bail!("'{}' is not an interface name", self.lan);
        }
        Ok(())
    }
}

/// RADIUS settings as resolved (the secrets are read when the RADIUS client starts).
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "netauth".into())
}

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

pub fn parse_u32(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a 32-bit number"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(i64),
    Str(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).map_err(D::Error::custom)
}

fn de_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_timeout(&s).map(Some).map_err(D::Error::custom)
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => u64::try_from(n)
            .map_err(|_| "a byte allowance must be larger than zero".to_string())
            .and_then(bytes_in_range)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{n}: {e}"))),
        NumOrStr::Str(s) => parse_bytes(&s).map(Some).map_err(D::Error::custom),
    }
}

fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
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
        let a: RunArgs = toml::from_str("radius-timeout = \"250ms\"\n").unwrap();
        assert_eq!(a.radius_timeout, Some(Duration::from_millis(250)));
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
    fn config_file_values_beyond_the_limits_name_the_line() {
        for (text, want) in [
            ("lan = \"eth1\"\nquota = 100000000000000000\n", "at most"),
            ("lan = \"eth1\"\nquota-up = \"10000000T\"\n", "at most"),
            ("lan = \"eth1\"\nquota-down = -1\n", "larger than zero"),
            ("lan = \"eth1\"\nidle-timeout = \"500ms\"\n", "at least 1s"),
            (
                "lan = \"eth1\"\nsession-timeout = \"20y\"\n",
                "at most 10 years",
            ),
        ] {
            let msg = toml::from_str::<RunArgs>(text).unwrap_err().to_string();
            assert!(msg.contains("line 2"), "{text}: {msg}");
            assert!(msg.contains(want), "{text}: {msg}");
        }
        let ok = toml::from_str::<RunArgs>("quota = 9007199254740992\n").unwrap();
        assert_eq!(ok.quota, Some(MAX_BYTES));
    }

    #[test]
    fn config_files_are_read_with_a_size_limit() {
        let dir = std::env::temp_dir().join(format!("netauth-cfg-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.toml");
        let mut text = "lan = \"eth1\"\n".to_string();
        text.push_str(&"# padding\n".repeat(120_000));
        std::fs::write(&big, &text).unwrap();
        let e = read_config_file(&big).unwrap_err().to_string();
        assert!(e.contains("larger than 1024 KiB"), "{e}");
        assert!(e.contains(&big.display().to_string()), "{e}");
        // A file that never ends is refused as quickly.
        let t = std::time::Instant::now();
        let e = read_config_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero is larger than"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = Settings::resolve(RunArgs {
            lan: Some("eth1".into()),
            terms_file: Some("/dev/zero".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("terms file /dev/zero is larger than"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn radius_mac_auth_without_a_server_is_refused() {
        let e = Settings::resolve(RunArgs {
            lan: Some("eth1".into()),
            radius_mac_auth: Some(true),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("radius-mac-auth needs radius-server"), "{e}");
        // Turned off explicitly, it needs nothing.
        assert!(
            Settings::resolve(RunArgs {
                lan: Some("eth1".into()),
                radius_mac_auth: Some(false),
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn the_users_file_is_found_as_the_daemon_finds_it() {
        let dir = std::env::temp_dir().join(format!("netauth-cfg-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with_dir = dir.join("state.toml");
        std::fs::write(&with_dir, "state-dir = \"/srv/na\"\n").unwrap();
        let with_file = dir.join("users.toml");
        std::fs::write(
            &with_file,
            "state-dir = \"/srv/na\"\nusers-file = \"/etc/na/users\"\n",
        )
        .unwrap();
        let path = |users_file: Option<&str>, state_dir: Option<&str>, config: Option<&Path>| {
            let cli = RunArgs {
                users_file: users_file.map(PathBuf::from),
                state_dir: state_dir.map(PathBuf::from),
                config: config.map(Path::to_path_buf),
                ..Default::default()
            };
            let p = users_file_path(&cli).unwrap();
            // The daemon resolves the same file.
            let s = Settings::resolve(RunArgs {
                lan: Some("eth1".into()),
                ..cli
            })
            .unwrap();
            assert_eq!(s.users_file, p);
            p
        };
        assert_eq!(path(None, None, None), Path::new("/var/lib/netauth/users"));
        assert_eq!(
            path(None, Some("/tmp/st"), None),
            Path::new("/tmp/st/users")
        );
        assert_eq!(
            path(None, None, Some(&with_dir)),
            Path::new("/srv/na/users")
        );
        assert_eq!(
            path(None, Some("/tmp/st"), Some(&with_dir)),
            Path::new("/tmp/st/users")
        );
        assert_eq!(
            path(None, None, Some(&with_file)),
            Path::new("/etc/na/users")
        );
        assert_eq!(
            path(Some("/tmp/u"), None, Some(&with_file)),
            Path::new("/tmp/u")
        );
        let _ = std::fs::remove_dir_all(&dir);
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
    fn config_file_errors_name_the_line_and_reason() {
        let e = toml::from_str::<RunArgs>("lan = \"eth1\"\nportal-prot = 80\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("unknown field `portal-prot`"), "{msg}");
        let e = toml::from_str::<RunArgs>("lan = \"eth1\"\n\nsession-timeout = \"forever\"\n")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("not a duration"), "{msg}");
    }

    #[test]
    fn radius_servers_parse_and_radius_needs_them() {
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
        let base = RunArgs {
            lan: Some("eth1".into()),
            auth_method: Some(crate::auth::Method::Radius),
            ..Default::default()
        };
        let e = Settings::resolve(base.clone()).unwrap_err().to_string();
        assert!(e.contains("radius-server"), "{e}");
        let e = Settings::resolve(RunArgs {
            radius_server: vec!["198.51.100.2".into()],
            ..base.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("radius-secret-file"), "{e}");
        let s = Settings::resolve(RunArgs {
            radius_server: vec!["198.51.100.2".into(), "198.51.100.3:11812".into()],
            radius_secret_file: Some("/etc/netauth/radius.secret".into()),
            trusted_mac: vec!["02:00:00:00:00:09".into()],
            ..base.clone()
        })
        .unwrap();
        let r = s.radius.unwrap();
        assert_eq!(
            r.acct_servers,
            vec![
                "198.51.100.2:1813".parse::<SocketAddr>().unwrap(),
                "198.51.100.3:1813".parse().unwrap()
            ]
        );
        assert_eq!(s.trusted_macs.len(), 1);
        assert!(
            Settings::resolve(RunArgs {
                trusted_mac: vec!["02:00:00:00:00".into()],
                ..base.clone()
            })
            .is_err()
        );
        let e = Settings::resolve(RunArgs {
            auth_method: None,
            das_client: vec!["198.51.100.2".parse().unwrap()],
            ..base
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("das-secret-file"), "{e}");
    }

    #[test]
    fn command_line_overrides_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("netauth-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("netauth.toml");
        std::fs::write(
            &path,
            "lan = \"eth1\"\nportal-port = 8081\nsession-timeout = \"2h\"\nquota = \"1G\"\nfwmark = \"0x00010000\"\n",
        )
        .unwrap();
        let cli = RunArgs {
            config: Some(path),
            portal_port: Some(9000),
            ..Default::default()
        };
        let s = Settings::resolve(cli).unwrap();
        assert_eq!(s.lan, "eth1");
        assert_eq!(s.portal_port, 9000);
        assert_eq!(s.session_timeout, Duration::from_secs(7200));
        assert_eq!(s.quota.total, Some(1_000_000_000));
        assert_eq!(s.fwmark, 0x10000);
        assert_eq!(s.route_table, DEFAULT_ROUTE_TABLE);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
