//! Dynamic Authorization Server (RFC 5176): Disconnect-Request ends sessions, CoA-Request
//! changes their timeouts and data allowance. Requests are taken only from the allow-list
//! and must carry a valid Request Authenticator (and Message-Authenticator, when present);
//! anything else is dropped silently, as RFC 5176 §3.4 asks. Answers are remembered for a
//! while so a retransmitted request is answered the same and applied once.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant, SystemTime},
};

use tracing::{info, warn};

use super::{
    Radius,
    packet::{self, Packet, attr},
};
use crate::{
    mac::Mac,
    session::{Change, EndReason, Selector, Sessions},
};

/// Error-Cause values (RFC 5176 §3.6).
pub mod cause {
    pub const UNSUPPORTED_ATTRIBUTE: u32 = 401;
    pub const MISSING_ATTRIBUTE: u32 = 402;
    pub const NAS_IDENTIFICATION_MISMATCH: u32 = 403;
    pub const INVALID_REQUEST: u32 = 404;
    pub const UNSUPPORTED_SERVICE: u32 = 405;
    pub const INVALID_ATTRIBUTE_VALUE: u32 = 407;
    pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;
    pub const RESOURCES_UNAVAILABLE: u32 = 506;
}

/// How long answers are kept for retransmissions.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct DasSettings {
    pub listen: SocketAddr,
    pub clients: Vec<IpAddr>,
    /// The secret shared with the DAS clients (default: the RADIUS secret).
    pub secret: Vec<u8>,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Binds the listener (dual-stack when given `[::]`).
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if listen.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&listen.into())
        .map_err(|e| anyhow::anyhow!("binding the CoA/Disconnect listener to {listen}: {e}"))?;
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

pub async fn serve(
    sock: tokio::net::UdpSocket,
    settings: DasSettings,
    radius: Arc<Radius>,
    sessions: Arc<Sessions>,
) {
    let allowed: Vec<IpAddr> = settings.clients.iter().map(|i| canonical(*i)).collect();
    // (client, identifier, authenticator) -> (answer, when).
    type Answered = HashMap<(SocketAddr, u8, [u8; 16]), (Vec<u8>, Instant)>;
    let mut answered: Answered = HashMap::new();
    let mut buf = vec![0u8; packet::MAX_LEN];
    let mut last_refusal_log = Instant::now() - Duration::from_secs(60);
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                warn!("CoA/Disconnect listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let raw = &buf[..n];
        if !allowed.contains(&canonical(from.ip())) {
            if last_refusal_log.elapsed() > Duration::from_secs(10) {
                warn!(%from, "dropped a CoA/Disconnect request from a client not in das-client");
                last_refusal_log = Instant::now();
            }
            continue;
        }
        if n < packet::HEADER || !matches!(raw[0], packet::DISCONNECT_REQUEST | packet::COA_REQUEST)
        {
            continue;
        }
        if !Packet::verify_hashed_request(raw, &settings.secret) {
            warn!(%from, "dropped a CoA/Disconnect request with a bad authenticator (wrong shared secret?)");
            continue;
        }
        let req = match Packet::decode(raw) {
            Ok(p) => p,
            Err(e) => {
                warn!(%from, "dropped a malformed CoA/Disconnect request: {e}");
                continue;
            }
        };
        // RFC 5176 §5.1: with Event-Timestamp, requests outside a 300 s window are
        // replays or stale, and dropped.
        if let Some(ts) = req.get_u32(attr::EVENT_TIMESTAMP) {
            let now = crate::session::unix_ms(SystemTime::now()) / 1000;
            if now.abs_diff(u64::from(ts)) > 300 {
                warn!(%from, "dropped a CoA/Disconnect request with a stale Event-Timestamp");
                continue;
            }
        }
        answered.retain(|_, (_, at)| at.elapsed() < DUPLICATE_WINDOW);
        let key = (from, req.id, req.authenticator);
        if let Some((reply, _)) = answered.get(&key) {
            let _ = sock.send_to(reply, from).await;
            continue;
        }
        radius.stats.das_requests.fetch_add(1, Ordering::Relaxed);
        let (code, error_cause) = {
            let (r, s, req2) = (radius.clone(), sessions.clone(), req.clone());
            tokio::task::spawn_blocking(move || handle(&r, &s, &req2))
                .await
                .unwrap_or((nak_for(req.code), Some(cause::RESOURCES_UNAVAILABLE)))
        };
        let mut reply = Packet::new(code, req.id);
        if let Some(c) = error_cause {
            reply.add_u32(attr::ERROR_CAUSE, c);
        }
        // Proxy-State is echoed in order (RFC 5176 §3.2).
        for ps in req.get_all(attr::PROXY_STATE) {
            reply.add(attr::PROXY_STATE, ps.to_vec());
        }
        let with_ma = req.get(attr::MESSAGE_AUTHENTICATOR).is_some();
        let bytes = reply.encode_response(&req.authenticator, &settings.secret, with_ma);
        if let Err(e) = sock.send_to(&bytes, from).await {
            warn!(%from, "could not answer a CoA/Disconnect request: {e}");
        }
        answered.insert(key, (bytes, Instant::now()));
    }
}

fn nak_for(code: u8) -> u8 {
    if code == packet::DISCONNECT_REQUEST {
        packet::DISCONNECT_NAK
    } else {
        packet::COA_NAK
    }
}

/// Decides a request: the answer code and Error-Cause.
fn handle(radius: &Radius, sessions: &Sessions, req: &Packet) -> (u8, Option<u32>) {
    let disconnect = req.code == packet::DISCONNECT_REQUEST;
    let (ack, nak) = if disconnect {
        (packet::DISCONNECT_ACK, packet::DISCONNECT_NAK)
    } else {
        (packet::COA_ACK, packet::COA_NAK)
    };
    let what = if disconnect { "Disconnect" } else { "CoA" };

    // Attributes this NAS understands in each request (RFC 5176 §3.5 table).
    const IDENTIFY: &[u8] = &[
        attr::USER_NAME,
        attr::NAS_IP_ADDRESS,
        attr::NAS_IDENTIFIER,
        attr::NAS_IPV6_ADDRESS,
        attr::NAS_PORT,
        attr::NAS_PORT_TYPE,
        attr::CALLING_STATION_ID,
        attr::CALLED_STATION_ID,
        attr::ACCT_SESSION_ID,
        attr::FRAMED_IP_ADDRESS,
        attr::FRAMED_IPV6_ADDRESS,
        attr::PROXY_STATE,
        attr::MESSAGE_AUTHENTICATOR,
        attr::EVENT_TIMESTAMP,
        attr::CLASS,
        attr::STATE,
        attr::REPLY_MESSAGE,
    ];
    const COA_CHANGES: &[u8] = &[
        attr::SESSION_TIMEOUT,
        attr::IDLE_TIMEOUT,
        attr::VENDOR_SPECIFIC,
        attr::ACCT_INTERIM_INTERVAL,
    ];
    for (t, v) in &req.attrs {
        let known = IDENTIFY.contains(t)
            || (disconnect && *t == attr::ACCT_TERMINATE_CAUSE)
            || (!disconnect && COA_CHANGES.contains(t));
        let vendor_ok = *t != attr::VENDOR_SPECIFIC
            || (v.len() >= 4
                && u32::from_be_bytes([v[0], v[1], v[2], v[3]]) == packet::chilli::VENDOR);
        if !known || !vendor_ok {
            info!(
                attribute = t,
                "{what}-Request with an unsupported attribute: NAK"
            );
            return (nak, Some(cause::UNSUPPORTED_ATTRIBUTE));
        }
    }
    if req.get(attr::SERVICE_TYPE).is_some() {
        return (nak, Some(cause::UNSUPPORTED_SERVICE));
    }

    // The request must be meant for this NAS.
    if let Some(id) = req.get_str(attr::NAS_IDENTIFIER)
        && id != radius.settings().nas_identifier
    {
        return (nak, Some(cause::NAS_IDENTIFICATION_MISMATCH));
    }
    let nas_ip = radius.nas_ip();
    if let Some(v) = req.get(attr::NAS_IP_ADDRESS) {
        let given = <[u8; 4]>::try_from(v).ok().map(IpAddr::from);
        if given.is_none() || given != nas_ip {
            return (nak, Some(cause::NAS_IDENTIFICATION_MISMATCH));
        }
    }
    if let Some(v) = req.get(attr::NAS_IPV6_ADDRESS) {
        let given = <[u8; 16]>::try_from(v).ok().map(IpAddr::from);
        if given.is_none() || given != nas_ip {
            return (nak, Some(cause::NAS_IDENTIFICATION_MISMATCH));
        }
    }

    // Which sessions.
    let mut sel = Selector {
        username: req.get_str(attr::USER_NAME),
        session_id: req.get_str(attr::ACCT_SESSION_ID),
        ..Selector::default()
    };
    if let Some(v) = req.get(attr::CALLING_STATION_ID) {
        match std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<Mac>().ok())
        {
            Some(m) => sel.mac = Some(m),
            None => return (nak, Some(cause::INVALID_ATTRIBUTE_VALUE)),
        }
    }
    if let Some(v) = req.get(attr::FRAMED_IP_ADDRESS) {
        match <[u8; 4]>::try_from(v) {
            Ok(b) => sel.ip = Some(IpAddr::from(b)),
            Err(_) => return (nak, Some(cause::INVALID_ATTRIBUTE_VALUE)),
        }
    }
    if let Some(v) = req.get(attr::FRAMED_IPV6_ADDRESS) {
        match <[u8; 16]>::try_from(v) {
            Ok(b) => sel.ip = Some(IpAddr::from(b)),
            Err(_) => return (nak, Some(cause::INVALID_ATTRIBUTE_VALUE)),
        }
    }
    if sel.is_empty() {
        return (nak, Some(cause::MISSING_ATTRIBUTE));
    }
    let macs = sessions.select(&sel);
    if macs.is_empty() {
        info!(?sel, "{what}-Request for no session: NAK");
        return (nak, Some(cause::SESSION_CONTEXT_NOT_FOUND));
    }

    let now = crate::clock::now();
    if disconnect {
        for m in &macs {
            if let Err(e) = sessions.end(*m, EndReason::Disconnected, now) {
                warn!(mac = %m, "Disconnect-Request: {e}");
                return (nak, Some(cause::RESOURCES_UNAVAILABLE));
            }
        }
        info!(
            sessions = macs.len(),
            ?sel,
            "Disconnect-Request: sessions ended"
        );
        return (ack, None);
    }

    let change = Change {
        session_timeout_s: req.get_u32(attr::SESSION_TIMEOUT).map(u64::from),
        idle_timeout_s: req.get_u32(attr::IDLE_TIMEOUT).map(u64::from),
        quota: super::quota_from(req),
        interim_s: req
            .get_u32(attr::ACCT_INTERIM_INTERVAL)
            .map(|v| u64::from(v).max(super::MIN_SERVER_INTERIM)),
    };
    if change.session_timeout_s.is_none()
        && change.idle_timeout_s.is_none()
        && change.quota.is_none()
        && change.interim_s.is_none()
    {
        return (nak, Some(cause::MISSING_ATTRIBUTE));
    }
    for m in &macs {
        if let Err(e) = sessions.change(*m, change, now) {
            warn!(mac = %m, "CoA-Request: {e}");
            return (nak, Some(cause::RESOURCES_UNAVAILABLE));
        }
    }
    info!(sessions = macs.len(), ?sel, ?change, "CoA-Request applied");
    (ack, None)
}
