//! RADIUS (RFC 2865/2866/5176): PAP logins, MAC authentication, accounting and dynamic
//! authorization (CoA/Disconnect).
//!
//! The authenticator asks [`Radius::authenticate`]; an Access-Accept becomes a [`Grant`] whose
//! Session-Timeout, Idle-Timeout, ChilliSpot data quotas, Class and Acct-Interim-Interval
//! apply to the session. Accounting requests are queued on disk by the session table
//! (Start on login, Interim-Update on the interval, Stop with the terminate cause on every
//! end) and delivered in order by [`Radius::accounting_loop`], so a server outage or a
//! restart of netauth delays accounting but loses none of it. The shared secret is read
//! from a file and never logged.

mod access;
mod accounting;
pub mod das;
pub mod limits;
pub mod packet;

pub use limits::{LimitError, Limits, limits_from};

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use tracing::{debug, info, warn};

pub use crate::config::RadiusSettings;
use crate::model::{Grant, Mac};
use packet::{Packet, attr};

/// NAS-Port-Type Wireless-802.11 (RFC 2865 §5.41).
const PORT_TYPE_WIRELESS: u32 = 19;
/// Service-Type Login-User (web logins) and Call-Check (MAC authentication).
const SERVICE_LOGIN: u32 = 1;
const SERVICE_CALL_CHECK: u32 = 10;
/// A server that timed out is skipped for this long (unless all are down).
const DEAD_TIME: Duration = Duration::from_secs(30);
/// Lowest Acct-Interim-Interval taken from a server (RFC 2869 §5.16).
const MIN_SERVER_INTERIM: u64 = 60;

/// Reads a secret file: the first line, trimmed. Refuses empty secrets.
pub fn read_secret(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let text = crate::config::read_text_file(path, "the RADIUS secret file")?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        bail!("the RADIUS secret file {} is empty", path.display());
    }
    Ok(line.as_bytes().to_vec())
}

/// Calling-Station-Id / MAC user names in the RFC 3580 §3.21 form: `02-00-5E-10-00-01`.
pub fn mac_string(mac: Mac) -> String {
    let b = mac.0;
    format!(
        "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

struct Server {
    addr: SocketAddr,
    dead_until: Mutex<Option<Instant>>,
    /// Set once the server sent a Message-Authenticator in an answer; from then on an
    /// Access-* answer without one is refused (FreeRADIUS 3.2.5's "auto" rule against
    /// BlastRADIUS).
    sends_ma: AtomicBool,
}

impl Server {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            dead_until: Mutex::new(None),
            sends_ma: AtomicBool::new(false),
        }
    }

    fn alive(&self) -> bool {
        self.dead_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| Instant::now() >= t)
    }

    fn mark(&self, dead: bool) {
        *self.dead_until.lock().unwrap_or_else(|p| p.into_inner()) =
            dead.then(|| Instant::now() + DEAD_TIME);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RadiusError {
    #[error("no RADIUS server answered")]
    NoAnswer,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the request does not fit in a RADIUS packet")]
    TooLarge,
}

/// The answer to an Access-Request.
pub enum Decision {
    Accept(Box<Grant>),
    Reject,
}

#[derive(Default)]
pub struct RadiusStats {
    pub access_requests: AtomicU64,
    pub access_accepts: AtomicU64,
    pub access_rejects: AtomicU64,
    pub timeouts: AtomicU64,
    pub acct_sent: AtomicU64,
    pub das_requests: AtomicU64,
}

pub struct Radius {
    settings: RadiusSettings,
    /// Called-Station-Id: the LAN interface's MAC (and the venue after a colon).
    called_station: String,
    secret: Vec<u8>,
    mac_password: Option<Vec<u8>>,
    auth: Vec<Server>,
    acct: Vec<Server>,
    nas_ip: Option<IpAddr>,
    next_port: AtomicU32,
    pub stats: RadiusStats,
}

impl Radius {
    /// Reads the secret(s) and works out the NAS address; fails with a clear message.
    /// Sessions are numbered (NAS-Port) from 1 until [`Radius::number_ports_from`].
    pub fn new(settings: RadiusSettings, called_station: String) -> anyhow::Result<Arc<Self>> {
        if settings.auth_servers.is_empty() {
            bail!("radius-acct-server needs radius-server too (accounting is for RADIUS sessions)");
        }
        let secret = read_secret(&settings.secret_file)?;
        let mac_password = match &settings.mac_password_file {
            Some(p) => Some(read_secret(p)?),
            None => None,
        };
        let nas_ip = match settings.nas_ip {
            Some(ip) => Some(ip),
            None => {
                // The address the kernel would send from: what the server sees.
                let first = settings.auth_servers[0];
                let bind: SocketAddr = if first.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let s = std::net::UdpSocket::bind(bind)?;
                s.connect(first)
                    .and_then(|_| s.local_addr())
                    .map(|a| a.ip())
                    .map_err(|e| warn!("no route to RADIUS server {first}: {e}"))
                    .ok()
            }
        };
        let r = Self {
            auth: settings
                .auth_servers
                .iter()
                .map(|a| Server::new(*a))
                .collect(),
            acct: settings
                .acct_servers
                .iter()
                .map(|a| Server::new(*a))
                .collect(),
            secret,
            mac_password,
            nas_ip,
            next_port: AtomicU32::new(1),
            settings,
            called_station,
            stats: RadiusStats::default(),
        };
        info!(
            auth_servers = ?r.settings.auth_servers,
            acct_servers = ?r.settings.acct_servers,
            nas_identifier = %r.settings.nas_identifier,
            nas_ip = ?r.nas_ip,
            mac_auth = r.settings.mac_auth,
            "RADIUS configured"
        );
        Ok(Arc::new(r))
    }

    /// Numbers the next session's NAS-Port `port` (after those of restored sessions).
    pub fn number_ports_from(&self, port: u32) {
        self.next_port.store(port.max(1), Ordering::Relaxed);
    }

    pub fn settings(&self) -> &RadiusSettings {
        &self.settings
    }

    pub(crate) fn nas_ip(&self) -> Option<IpAddr> {
        self.nas_ip
    }

    fn nas_attrs(&self, p: &mut Packet, nas_port: u32) {
        p.add_str(attr::NAS_IDENTIFIER, &self.settings.nas_identifier);
        match self.nas_ip {
            Some(IpAddr::V4(a)) => p.add(attr::NAS_IP_ADDRESS, a.octets().to_vec()),
            Some(IpAddr::V6(a)) => p.add(attr::NAS_IPV6_ADDRESS, a.octets().to_vec()),
            None => {}
        }
        p.add_u32(attr::NAS_PORT, nas_port);
        p.add_u32(attr::NAS_PORT_TYPE, PORT_TYPE_WIRELESS);
        p.add_str(attr::CALLED_STATION_ID, &self.called_station);
    }

    fn client_attrs(p: &mut Packet, mac: Mac, ip: Option<IpAddr>) {
        p.add_str(attr::CALLING_STATION_ID, &mac_string(mac));
        match ip {
            Some(IpAddr::V4(a)) => p.add(attr::FRAMED_IP_ADDRESS, a.octets().to_vec()),
            Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => p.add(attr::FRAMED_IP_ADDRESS, v4.octets().to_vec()),
                None => p.add(attr::FRAMED_IPV6_ADDRESS, a.octets().to_vec()),
            },
            None => {}
        }
    }

    /// Sends a request built by `build` (called afresh for each server, with the
    /// identifier to use) to the first live server of `servers`, retransmitting the
    /// same datagram `retries` times per server before failing over to the next.
    /// Returns the verified answer.
    async fn exchange(
        &self,
        servers: &[Server],
        what: &str,
        build: impl Fn(u8) -> (Vec<u8>, [u8; 16]),
    ) -> Result<Packet, RadiusError> {
        // Live servers in configured order first, then the ones marked dead (better a
        // late answer than none).
        let mut order: Vec<&Server> = servers.iter().filter(|s| s.alive()).collect();
        order.extend(servers.iter().filter(|s| !s.alive()));
        for server in order {
            let bind: SocketAddr = if server.addr.is_ipv4() {
                "0.0.0.0:0".parse().expect("literal")
            } else {
                "[::]:0".parse().expect("literal")
            };
            let sock = tokio::net::UdpSocket::bind(bind).await?;
            if let Err(e) = sock.connect(server.addr).await {
                warn!(server = %server.addr, "RADIUS server unreachable: {e}");
                server.mark(true);
                continue;
            }
            let mut idb = [0u8; 1];
            getrandom::fill(&mut idb).expect("the kernel's random source");
            let (datagram, req_auth) = build(idb[0]);
            if datagram.len() > packet::MAX_LEN {
                return Err(RadiusError::TooLarge);
            }
            for attempt in 0..self.settings.retries.max(1) {
                if let Err(e) = sock.send(&datagram).await {
                    debug!(server = %server.addr, "send failed: {e}");
                }
                let deadline = tokio::time::Instant::now() + self.settings.timeout;
                let mut buf = vec![0u8; packet::MAX_LEN];
                loop {
                    let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                        Err(_) => break,
                        // ICMP port unreachable: the server is not running there.
                        Ok(Err(e)) => {
                            debug!(server = %server.addr, "receive failed: {e}");
                            tokio::time::sleep_until(deadline).await;
                            break;
                        }
                        Ok(Ok(n)) => n,
                    };
                    let raw = &buf[..n];
                    if n < packet::HEADER || raw[1] != idb[0] {
                        continue;
                    }
                    let Some(has_ma) = Packet::verify_response(raw, &req_auth, &self.secret) else {
                        warn!(server = %server.addr, "dropped a {what} answer that failed authentication (wrong shared secret?)");
                        continue;
                    };
                    let Ok(answer) = Packet::decode(raw) else {
                        warn!(server = %server.addr, "dropped a malformed {what} answer");
                        continue;
                    };
                    let access = matches!(
                        answer.code,
                        packet::ACCESS_ACCEPT | packet::ACCESS_REJECT | packet::ACCESS_CHALLENGE
                    );
                    if has_ma {
                        server.sends_ma.store(true, Ordering::Relaxed);
                    } else if access && server.sends_ma.load(Ordering::Relaxed) {
                        warn!(server = %server.addr, "dropped a {what} answer without Message-Authenticator");
                        continue;
                    }
                    server.mark(false);
                    return Ok(answer);
                }
                debug!(server = %server.addr, attempt, "no answer to {what}");
            }
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            warn!(
                server = %server.addr,
                tries = self.settings.retries.max(1),
                "RADIUS server did not answer the {what}; failing over"
            );
            server.mark(true);
        }
        Err(RadiusError::NoAnswer)
    }
}

#[cfg(test)]
mod tests;
