//! RADIUS (RFC 2865/2866/5176): PAP logins, MAC authentication, accounting and dynamic
//! authorization (CoA/Disconnect).
//!
//! The portal asks [`Radius::login`]; an Access-Accept becomes a [`Grant`] whose
//! Session-Timeout, Idle-Timeout, ChilliSpot data quotas, Class and Acct-Interim-Interval
//! apply to the session. Accounting requests are queued on disk by the session table
//! (Start on login, Interim-Update on the interval, Stop with the terminate cause on every
//! end) and delivered in order by [`Radius::accounting_loop`], so a server outage or a
//! restart of netauth delays accounting but loses none of it. The shared secret is read
//! from a file and never logged.

pub mod das;
pub mod packet;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use anyhow::bail;
use tracing::{debug, info, warn};

pub use crate::config::RadiusSettings;
use crate::{
    model::{Acct, AcctRecord, AcctStatus, Grant, Mac, Quota, Via, unix_ms},
    store::Store,
};
use packet::{Packet, attr, chilli};

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

    fn new_session_id() -> String {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the kernel's random source");
        b.iter().map(|x| format!("{x:02X}")).collect()
    }

    /// A PAP login (Service-Type Login-User) or, with `password` `None`, MAC
    /// authentication (Service-Type Call-Check, the MAC as user name).
    pub async fn authenticate(
        &self,
        username: &str,
        password: Option<&[u8]>,
        mac: Mac,
        ip: Option<IpAddr>,
    ) -> Result<Decision, RadiusError> {
        let mac_auth = password.is_none();
        let mac_user = mac_string(mac);
        let password: Vec<u8> = match password {
            Some(p) => p.to_vec(),
            None => self
                .mac_password
                .clone()
                .unwrap_or_else(|| mac_user.as_bytes().to_vec()),
        };
        if password.len() > 128 || username.is_empty() || username.len() > 253 {
            return Ok(Decision::Reject);
        }
        let nas_port = self.next_port.fetch_add(1, Ordering::Relaxed).max(1);
        let session_id = Self::new_session_id();
        self.stats.access_requests.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .exchange(&self.auth, "Access-Request", |id| {
                let mut p = Packet::new(packet::ACCESS_REQUEST, id);
                p.authenticator = packet::random_authenticator();
                p.add_str(attr::USER_NAME, username);
                let hidden = packet::hide_password(&password, &p.authenticator, &self.secret)
                    .expect("length checked");
                p.add(attr::USER_PASSWORD, hidden);
                p.add_u32(
                    attr::SERVICE_TYPE,
                    if mac_auth {
                        SERVICE_CALL_CHECK
                    } else {
                        SERVICE_LOGIN
                    },
                );
                Self::client_attrs(&mut p, mac, ip);
                self.nas_attrs(&mut p, nas_port);
                p.add_str(attr::ACCT_SESSION_ID, &session_id);
                let auth = p.authenticator;
                (p.encode_access_request(&self.secret), auth)
            })
            .await?;
        match answer.code {
            packet::ACCESS_ACCEPT => {
                let via = if mac_auth {
                    Via::RadiusMac
                } else {
                    Via::Radius
                };
                let grant = match self.grant_from(&answer, username, session_id, nas_port, via) {
                    Ok(g) => g,
                    Err(e) => {
                        // A limit netauth cannot read is not ignored: the session would
                        // get the defaults, maybe more than the server meant to grant.
                        warn!(%mac, user = %username, "RADIUS Access-Accept refused: {e}");
                        self.stats.access_rejects.fetch_add(1, Ordering::Relaxed);
                        return Ok(Decision::Reject);
                    }
                };
                self.stats.access_accepts.fetch_add(1, Ordering::Relaxed);
                info!(
                    %mac,
                    user = %username,
                    mac_auth,
                    session_timeout_s = grant.duration.map(|d| d.as_secs()),
                    idle_timeout_s = grant.idle.map(|d| d.as_secs()),
                    quota = ?grant.quota,
                    "RADIUS Access-Accept"
                );
                Ok(Decision::Accept(Box::new(grant)))
            }
            packet::ACCESS_CHALLENGE => {
                // Multi-round methods need a form netauth does not offer.
                warn!(%mac, "RADIUS answered Access-Challenge, which netauth does not support; treated as a reject");
                self.stats.access_rejects.fetch_add(1, Ordering::Relaxed);
                Ok(Decision::Reject)
            }
            _ => {
                self.stats.access_rejects.fetch_add(1, Ordering::Relaxed);
                info!(%mac, user = %username, mac_auth, "RADIUS Access-Reject");
                Ok(Decision::Reject)
            }
        }
    }

    /// Session limits and accounting state from an Access-Accept. A limit attribute with
    /// a bad layout is an error (the login is refused); a value beyond netauth's limits
    /// is clamped to them with a warning: that only ever lowers what the server granted
    /// (never more time or data than it allowed), while refusing would lock out a user
    /// the server accepted over a limit nobody reaches (10 years, 2^53 bytes). Servers
    /// do send such values to mean "no limit" (Session-Timeout 0xffffffff, gigawords
    /// 0xffffffff).
    fn grant_from(
        &self,
        a: &Packet,
        username: &str,
        session_id: String,
        nas_port: u32,
        via: Via,
    ) -> Result<Grant, LimitError> {
        let limits = limits_from(a)?
            .clamped(|e| warn!(user = %username, "RADIUS Access-Accept: {e}; clamped"));
        let secs = |v: Option<u64>| v.filter(|v| *v > 0).map(Duration::from_secs);
        let interim = match limits.interim_s {
            Some(v) if v > 0 => v.max(MIN_SERVER_INTERIM),
            _ => self.settings.interim.as_secs().max(1),
        };
        Ok(Grant {
            duration: secs(limits.session_timeout_s),
            idle: secs(limits.idle_timeout_s),
            quota: limits.quota.unwrap_or_default(),
            acct: Some(Acct {
                username: a
                    .get_str(attr::USER_NAME)
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| username.to_string()),
                session_id,
                class: a.get_all(attr::CLASS).map(<[u8]>::to_vec).collect(),
                interim_s: interim,
                nas_port,
                radius_auth: true,
                ..Acct::default()
            }),
            ..Grant::by(via)
        })
    }

    /// Builds the Accounting-Request for a queued record.
    fn accounting_packet(&self, r: &AcctRecord, id: u8, now_ms: u64) -> Vec<u8> {
        let mut p = Packet::new(packet::ACCOUNTING_REQUEST, id);
        p.add_u32(
            attr::ACCT_STATUS_TYPE,
            match r.status {
                AcctStatus::Start => 1,
                AcctStatus::Stop => 2,
                AcctStatus::Interim => 3,
            },
        );
        p.add_str(attr::USER_NAME, &r.acct.username);
        p.add_str(attr::ACCT_SESSION_ID, &r.acct.session_id);
        p.add_u32(attr::ACCT_AUTHENTIC, if r.acct.radius_auth { 1 } else { 2 });
        Self::client_attrs(&mut p, r.mac, r.ip);
        self.nas_attrs(&mut p, r.acct.nas_port);
        for c in &r.acct.class {
            p.add(attr::CLASS, c.clone());
        }
        p.add_u32(attr::EVENT_TIMESTAMP, (r.event_ms / 1000) as u32);
        p.add_u32(
            attr::ACCT_DELAY_TIME,
            (now_ms.saturating_sub(r.event_ms) / 1000).min(u32::MAX as u64) as u32,
        );
        if r.status != AcctStatus::Start {
            let u = &r.usage;
            // Input is what the NAS received from the client: its upload.
            p.add_u32(
                attr::ACCT_SESSION_TIME,
                r.session_time_s.min(u32::MAX as u64) as u32,
            );
            p.add_u32(attr::ACCT_INPUT_OCTETS, u.up_bytes as u32);
            p.add_u32(attr::ACCT_INPUT_GIGAWORDS, (u.up_bytes >> 32) as u32);
            p.add_u32(attr::ACCT_OUTPUT_OCTETS, u.down_bytes as u32);
            p.add_u32(attr::ACCT_OUTPUT_GIGAWORDS, (u.down_bytes >> 32) as u32);
            p.add_u32(
                attr::ACCT_INPUT_PACKETS,
                u.up_packets.min(u32::MAX as u64) as u32,
            );
            p.add_u32(
                attr::ACCT_OUTPUT_PACKETS,
                u.down_packets.min(u32::MAX as u64) as u32,
            );
        }
        if let Some(c) = r.cause {
            p.add_u32(attr::ACCT_TERMINATE_CAUSE, c);
        }
        p.encode_hashed_request(&self.secret)
    }

    /// Delivers queued accounting requests in order, for ever. A request that no server
    /// acknowledges stays at the head of the queue and is retried with a growing pause
    /// (its Acct-Delay-Time grows with it).
    pub async fn accounting_loop(self: Arc<Self>, store: Store) {
        if self.acct.is_empty() {
            return std::future::pending().await;
        }
        let mut pause = Duration::from_secs(1);
        loop {
            let st = store.clone();
            let batch = tokio::task::spawn_blocking(move || st.acct_head(64))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| {
                    warn!("reading the accounting queue: {e}");
                    Vec::new()
                });
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            for (id, rec) in batch {
                let result = self
                    .exchange(&self.acct, "Accounting-Request", |pid| {
                        let raw = self.accounting_packet(&rec, pid, unix_ms(SystemTime::now()));
                        let auth: [u8; 16] = raw[4..20].try_into().expect("header");
                        (raw, auth)
                    })
                    .await;
                match result {
                    Ok(answer) if answer.code == packet::ACCOUNTING_RESPONSE => {
                        self.stats.acct_sent.fetch_add(1, Ordering::Relaxed);
                        debug!(mac = %rec.mac, status = ?rec.status, "accounting delivered");
                        let st = store.clone();
                        let removed = tokio::task::spawn_blocking(move || st.acct_remove(id)).await;
                        if let Ok(Err(e)) = removed {
                            warn!("removing a delivered accounting request from the queue: {e}");
                        }
                        pause = Duration::from_secs(1);
                    }
                    Ok(answer) => {
                        warn!(
                            code = answer.code,
                            "unexpected answer to an Accounting-Request; will retry"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(60));
                        break;
                    }
                    Err(e) => {
                        warn!(
                            queued = store.acct_queue_len().unwrap_or(0),
                            retry_in_s = pause.as_secs(),
                            "accounting not delivered ({e}); kept in the queue"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(60));
                        break;
                    }
                }
            }
        }
    }
}

/// The session limits an Access-Accept or CoA-Request sets, as sent: Session-Timeout,
/// Idle-Timeout, Acct-Interim-Interval (seconds) and the data allowance (ChilliSpot
/// attributes with CoovaChilli's gigawords). Values may exceed netauth's limits:
/// [`Limits::check`] refuses those, [`Limits::clamped`] lowers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub session_timeout_s: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub interim_s: Option<u64>,
    /// `None` when no allowance attribute (or only zero ones) is present.
    pub quota: Option<Quota>,
}

/// A limit attribute netauth cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{0} is not a 32-bit number")]
    Malformed(&'static str),
    #[error("{0} of {1} s is longer than 10 years")]
    TooLong(&'static str, u64),
    #[error("{0} of {1} bytes is more than {max} bytes", max = crate::config::MAX_BYTES)]
    TooLarge(&'static str, u64),
}

pub(crate) const QUOTA_TYPES: [u8; 6] = [
    chilli::MAX_INPUT_OCTETS,
    chilli::MAX_OUTPUT_OCTETS,
    chilli::MAX_TOTAL_OCTETS,
    chilli::MAX_INPUT_GIGAWORDS,
    chilli::MAX_OUTPUT_GIGAWORDS,
    chilli::MAX_TOTAL_GIGAWORDS,
];

/// Reads the limits of `p`; an attribute with the wrong length is an error, not ignored.
pub fn limits_from(p: &Packet) -> Result<Limits, LimitError> {
    let seconds = |t: u8, name: &'static str| -> Result<Option<u64>, LimitError> {
        match p.get(t) {
            None => Ok(None),
            Some(_) => p
                .get_u32(t)
                .map(|v| Some(u64::from(v)))
                .ok_or(LimitError::Malformed(name)),
        }
    };
    for v in p.get_all(attr::VENDOR_SPECIFIC) {
        let chilli_quota =
            v.len() >= 5 && v[0..4] == chilli::VENDOR.to_be_bytes() && QUOTA_TYPES.contains(&v[4]);
        if chilli_quota && (v.len() != 10 || v[5] != 6) {
            return Err(LimitError::Malformed("a ChilliSpot data allowance"));
        }
    }
    let octets = |lo: u8, hi: u8| {
        let l = p.vendor_u32(chilli::VENDOR, lo);
        let h = p.vendor_u32(chilli::VENDOR, hi);
        match (l, h) {
            (None, None) => None,
            (l, h) => Some((u64::from(h.unwrap_or(0)) << 32) | u64::from(l.unwrap_or(0))),
        }
        .filter(|v| *v > 0)
    };
    let q = Quota {
        up: octets(chilli::MAX_INPUT_OCTETS, chilli::MAX_INPUT_GIGAWORDS),
        down: octets(chilli::MAX_OUTPUT_OCTETS, chilli::MAX_OUTPUT_GIGAWORDS),
        total: octets(chilli::MAX_TOTAL_OCTETS, chilli::MAX_TOTAL_GIGAWORDS),
    };
    Ok(Limits {
        session_timeout_s: seconds(attr::SESSION_TIMEOUT, "Session-Timeout")?,
        idle_timeout_s: seconds(attr::IDLE_TIMEOUT, "Idle-Timeout")?,
        interim_s: seconds(attr::ACCT_INTERIM_INTERVAL, "Acct-Interim-Interval")?,
        quota: q.is_limited().then_some(q),
    })
}

type TooBig = fn(&'static str, u64) -> LimitError;

impl Limits {
    /// Calls `f` with each value that is set, its name, netauth's limit for it and the
    /// error for exceeding that.
    fn each(&mut self, mut f: impl FnMut(&'static str, &mut u64, u64, TooBig)) {
        let secs = crate::config::MAX_DURATION.as_secs();
        let bytes = crate::config::MAX_BYTES;
        for (name, v) in [
            ("Session-Timeout", &mut self.session_timeout_s),
            ("Idle-Timeout", &mut self.idle_timeout_s),
            ("Acct-Interim-Interval", &mut self.interim_s),
        ] {
            if let Some(v) = v {
                f(name, v, secs, LimitError::TooLong);
            }
        }
        if let Some(q) = &mut self.quota {
            for (name, v) in [
                ("the upload allowance", &mut q.up),
                ("the download allowance", &mut q.down),
                ("the data allowance", &mut q.total),
            ] {
                if let Some(v) = v {
                    f(name, v, bytes, LimitError::TooLarge);
                }
            }
        }
    }

    /// Lowers every value beyond netauth's limits to the limit, reporting each.
    pub fn clamped(mut self, mut report: impl FnMut(LimitError)) -> Self {
        self.each(|name, v, max, too_big| {
            if *v > max {
                report(too_big(name, *v));
                *v = max;
            }
        });
        self
    }

    /// Refuses values beyond netauth's limits.
    pub fn check(mut self) -> Result<Self, LimitError> {
        let mut first = None;
        self.each(|name, v, max, too_big| {
            if *v > max && first.is_none() {
                first = Some(too_big(name, *v));
            }
        });
        first.map_or(Ok(self), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Usage;

    fn radius() -> Radius {
        Radius {
            settings: RadiusSettings {
                auth_servers: vec!["198.51.100.2:1812".parse().unwrap()],
                acct_servers: vec!["198.51.100.2:1813".parse().unwrap()],
                secret_file: "/nonexistent".into(),
                nas_identifier: "gw".into(),
                nas_ip: None,
                timeout: Duration::from_secs(1),
                retries: 1,
                interim: Duration::from_secs(60),
                mac_auth: false,
                mac_password_file: None,
            },
            called_station: "02-00-00-00-00-01:Guest".into(),
            secret: b"s3cret".to_vec(),
            mac_password: None,
            auth: Vec::new(),
            acct: Vec::new(),
            nas_ip: Some("198.51.100.1".parse().unwrap()),
            next_port: AtomicU32::new(1),
            stats: RadiusStats::default(),
        }
    }

    #[test]
    fn accounting_splits_octets_into_gigawords_and_carries_the_cause() {
        let r = radius();
        let rec = AcctRecord {
            status: AcctStatus::Stop,
            mac: "02:00:5e:10:00:01".parse().unwrap(),
            ip: Some("192.0.2.10".parse().unwrap()),
            acct: Acct {
                username: "alice".into(),
                session_id: "ABCD".into(),
                class: vec![b"plan".to_vec()],
                interim_s: 60,
                nas_port: 7,
                radius_auth: true,
                ..Acct::default()
            },
            session_time_s: 3600,
            usage: Usage {
                up_bytes: (5u64 << 32) + 123,
                up_packets: 10,
                down_bytes: 77,
                down_packets: 3,
            },
            cause: Some(crate::model::EndReason::Idle.terminate_cause()),
            event_ms: 1_000_000,
        };
        let raw = r.accounting_packet(&rec, 9, 4_000_000);
        assert!(Packet::verify_hashed_request(&raw, b"s3cret"));
        let p = Packet::decode(&raw).unwrap();
        assert_eq!(p.get_u32(attr::ACCT_STATUS_TYPE), Some(2));
        assert_eq!(p.get_u32(attr::ACCT_INPUT_OCTETS), Some(123));
        assert_eq!(p.get_u32(attr::ACCT_INPUT_GIGAWORDS), Some(5));
        assert_eq!(p.get_u32(attr::ACCT_OUTPUT_OCTETS), Some(77));
        assert_eq!(p.get_u32(attr::ACCT_OUTPUT_GIGAWORDS), Some(0));
        assert_eq!(p.get_u32(attr::ACCT_INPUT_PACKETS), Some(10));
        assert_eq!(p.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(4));
        assert_eq!(p.get_u32(attr::ACCT_DELAY_TIME), Some(3000));
        assert_eq!(p.get_u32(attr::EVENT_TIMESTAMP), Some(1000));
        assert_eq!(p.get_u32(attr::NAS_PORT), Some(7));
        assert_eq!(p.get(attr::CLASS), Some(&b"plan"[..]));
        assert_eq!(
            p.get_str(attr::CALLING_STATION_ID).unwrap(),
            "02-00-5E-10-00-01"
        );
        assert_eq!(p.get(attr::NAS_IP_ADDRESS), Some(&[198, 51, 100, 1][..]));
    }

    #[test]
    fn accept_attributes_become_the_grant() {
        let r = radius();
        let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
        a.add_u32(attr::SESSION_TIMEOUT, 600);
        a.add_u32(attr::IDLE_TIMEOUT, 0);
        a.add_u32(attr::ACCT_INTERIM_INTERVAL, 5);
        a.add(attr::CLASS, b"one".to_vec());
        a.add(attr::CLASS, b"two".to_vec());
        let vsa = |t: u8, v: u32| {
            let mut b = chilli::VENDOR.to_be_bytes().to_vec();
            b.extend_from_slice(&[t, 6]);
            b.extend_from_slice(&v.to_be_bytes());
            b
        };
        a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_TOTAL_OCTETS, 1000));
        a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_TOTAL_GIGAWORDS, 2));
        a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_OUTPUT_OCTETS, 500));
        let g = r
            .grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
            .unwrap();
        assert_eq!(g.duration, Some(Duration::from_secs(600)));
        assert_eq!(g.idle, None, "Idle-Timeout 0 means none");
        assert_eq!(g.quota.total, Some((2u64 << 32) + 1000));
        assert_eq!(g.quota.down, Some(500));
        assert_eq!(g.quota.up, None);
        let acct = g.acct.unwrap();
        assert_eq!(acct.interim_s, MIN_SERVER_INTERIM, "clamped to 60 s");
        assert_eq!(acct.class, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(acct.username, "alice");
        assert_eq!(acct.nas_port, 3);
    }
    fn vsa(t: u8, v: u32) -> Vec<u8> {
        let mut b = chilli::VENDOR.to_be_bytes().to_vec();
        b.extend_from_slice(&[t, 6]);
        b.extend_from_slice(&v.to_be_bytes());
        b
    }

    #[test]
    fn absurd_accept_values_are_clamped_to_the_limits() {
        let r = radius();
        let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
        a.add_u32(attr::SESSION_TIMEOUT, u32::MAX);
        a.add_u32(attr::IDLE_TIMEOUT, u32::MAX);
        a.add_u32(attr::ACCT_INTERIM_INTERVAL, u32::MAX);
        a.add(
            attr::VENDOR_SPECIFIC,
            vsa(chilli::MAX_TOTAL_OCTETS, u32::MAX),
        );
        a.add(
            attr::VENDOR_SPECIFIC,
            vsa(chilli::MAX_TOTAL_GIGAWORDS, u32::MAX),
        );
        a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_INPUT_GIGAWORDS, 1));
        let g = r
            .grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
            .unwrap();
        let max = crate::config::MAX_DURATION;
        assert_eq!(g.duration, Some(max));
        assert_eq!(g.idle, Some(max));
        assert_eq!(g.acct.unwrap().interim_s, max.as_secs());
        assert_eq!(g.quota.total, Some(crate::config::MAX_BYTES));
        assert_eq!(g.quota.up, Some(1 << 32), "within the limit: unchanged");
        assert_eq!(g.quota.down, None);
    }

    #[test]
    fn an_accept_with_an_unreadable_limit_is_refused() {
        let r = radius();
        let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
        a.add(attr::SESSION_TIMEOUT, vec![0, 0, 1]);
        assert_eq!(
            r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
                .unwrap_err(),
            LimitError::Malformed("Session-Timeout")
        );
        let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
        let mut short = vsa(chilli::MAX_TOTAL_OCTETS, 5);
        short.pop();
        a.add(attr::VENDOR_SPECIFIC, short);
        assert!(
            r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
                .is_err()
        );
        // Other vendors' attributes and other ChilliSpot ones are not netauth's business.
        let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
        a.add(attr::VENDOR_SPECIFIC, vec![0, 0, 0, 9, 1, 3, 7]);
        a.add(attr::VENDOR_SPECIFIC, vsa(4, 1000));
        assert!(
            r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
                .is_ok()
        );
    }

    #[test]
    fn limits_check_refuses_what_clamped_lowers() {
        let mut p = Packet::new(packet::COA_REQUEST, 1);
        p.add(
            attr::VENDOR_SPECIFIC,
            vsa(chilli::MAX_OUTPUT_GIGAWORDS, 1 << 21),
        );
        let l = limits_from(&p).unwrap();
        assert_eq!(l.quota.unwrap().down, Some(1 << 53));
        assert_eq!(l.check(), Ok(l));
        let mut p = Packet::new(packet::COA_REQUEST, 1);
        p.add(
            attr::VENDOR_SPECIFIC,
            vsa(chilli::MAX_OUTPUT_GIGAWORDS, 1 << 21),
        );
        p.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_OUTPUT_OCTETS, 1));
        let l = limits_from(&p).unwrap();
        assert_eq!(
            l.check(),
            Err(LimitError::TooLarge(
                "the download allowance",
                (1 << 53) + 1
            ))
        );
        let mut reported = Vec::new();
        let c = l.clamped(|e| reported.push(e));
        assert_eq!(c.quota.unwrap().down, Some(crate::config::MAX_BYTES));
        assert_eq!(reported.len(), 1);
        let mut p = Packet::new(packet::COA_REQUEST, 1);
        p.add_u32(attr::SESSION_TIMEOUT, 315_576_001);
        assert!(matches!(
            limits_from(&p).unwrap().check(),
            Err(LimitError::TooLong("Session-Timeout", 315_576_001))
        ));
    }
}
