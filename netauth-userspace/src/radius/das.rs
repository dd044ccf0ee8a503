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
    model::Mac,
    model::{Change, EndReason, Selector},
    sessions::Sessions,
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
            let now = crate::model::unix_ms(SystemTime::now()) / 1000;
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

/// What a Disconnect/CoA-Request asks for.
#[derive(Debug)]
pub(crate) struct DasRequest {
    /// The sessions it means.
    pub selector: Selector,
    /// The new limits of a CoA-Request; `None` for a Disconnect-Request.
    pub change: Option<Change>,
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
    let DasRequest {
        selector: sel,
        change,
    } = match parse(req, &radius.settings().nas_identifier, radius.nas_ip()) {
        Ok(r) => r,
        Err(cause) => return (nak, Some(cause)),
    };
    let macs = sessions.select(|s| sel.matches(s));
    if macs.is_empty() {
        info!(?sel, "{what}-Request for no session: NAK");
        return (nak, Some(cause::SESSION_CONTEXT_NOT_FOUND));
    }

    let now = crate::clock::now();
    let Some(change) = change else {
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
    };
    for m in &macs {
        if let Err(e) = sessions.change(*m, change, now) {
            warn!(mac = %m, "CoA-Request: {e}");
            return (nak, Some(cause::RESOURCES_UNAVAILABLE));
        }
    }
    info!(sessions = macs.len(), ?sel, ?change, "CoA-Request applied");
    (ack, None)
}

/// Reads a Disconnect/CoA-Request (already authenticated) for the NAS named
/// `nas_identifier` at `nas_ip`: which sessions, and what to change. `Err` carries the
/// Error-Cause of the NAK. Every attribute is checked before anything is applied, so a
/// request is carried out whole or not at all.
pub(crate) fn parse(
    req: &Packet,
    nas_identifier: &str,
    nas_ip: Option<IpAddr>,
) -> Result<DasRequest, u32> {
    let disconnect = req.code == packet::DISCONNECT_REQUEST;
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
        // Only the ChilliSpot allowances and the ChilliSpot/WISPr maximum bandwidths
        // among vendor attributes: a CoA asking for anything else (a minimum bandwidth,
        // ...) must not be acknowledged unapplied.
        let vendor_ok = *t != attr::VENDOR_SPECIFIC
            || (v.len() >= 5
                && ((v[0..4] == packet::chilli::VENDOR.to_be_bytes()
                    && (super::limits::QUOTA_TYPES.contains(&v[4])
                        || super::limits::CHILLI_RATE_TYPES.contains(&v[4])))
                    || (v[0..4] == packet::wispr::VENDOR.to_be_bytes()
                        && super::limits::WISPR_RATE_TYPES.contains(&v[4]))));
        if !known || !vendor_ok {
            info!(
                attribute = t,
                "{what}-Request with an unsupported attribute: NAK"
            );
            return Err(cause::UNSUPPORTED_ATTRIBUTE);
        }
    }
    if req.get(attr::SERVICE_TYPE).is_some() {
        return Err(cause::UNSUPPORTED_SERVICE);
    }

    // The request must be meant for this NAS.
    if let Some(id) = req.get_str(attr::NAS_IDENTIFIER)
        && id != nas_identifier
    {
        return Err(cause::NAS_IDENTIFICATION_MISMATCH);
    }
    if let Some(v) = req.get(attr::NAS_IP_ADDRESS) {
        let given = <[u8; 4]>::try_from(v).ok().map(IpAddr::from);
        if given.is_none() || given != nas_ip {
            return Err(cause::NAS_IDENTIFICATION_MISMATCH);
        }
    }
    if let Some(v) = req.get(attr::NAS_IPV6_ADDRESS) {
        let given = <[u8; 16]>::try_from(v).ok().map(IpAddr::from);
        if given.is_none() || given != nas_ip {
            return Err(cause::NAS_IDENTIFICATION_MISMATCH);
        }
    }

    // Which sessions: every attribute given must match, so every address is kept.
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
            None => return Err(cause::INVALID_ATTRIBUTE_VALUE),
        }
    }
    for v in req.get_all(attr::FRAMED_IP_ADDRESS) {
        let b = <[u8; 4]>::try_from(v).map_err(|_| cause::INVALID_ATTRIBUTE_VALUE)?;
        sel.ips.push(IpAddr::from(b));
    }
    for v in req.get_all(attr::FRAMED_IPV6_ADDRESS) {
        let b = <[u8; 16]>::try_from(v).map_err(|_| cause::INVALID_ATTRIBUTE_VALUE)?;
        sel.ips.push(IpAddr::from(b));
    }
    if sel.is_empty() {
        return Err(cause::MISSING_ATTRIBUTE);
    }
    if disconnect {
        return Ok(DasRequest {
            selector: sel,
            change: None,
        });
    }

    // A value netauth cannot hold is refused, not clamped: the server learns at once
    // that the change was not made as asked.
    let limits = super::limits_from(req)
        .and_then(super::Limits::check)
        .map_err(|e| {
            info!("CoA-Request with an unusable value ({e}): NAK");
            cause::INVALID_ATTRIBUTE_VALUE
        })?;
    let change = Change {
        session_timeout_s: limits.session_timeout_s,
        idle_timeout_s: limits.idle_timeout_s,
        quota: limits.quota,
        interim_s: limits.interim_s.map(|v| v.max(super::MIN_SERVER_INTERIM)),
        // A CoA sets the limits it names; a direction it leaves out keeps its limit.
        rate_up: limits.rate_up.map(Some),
        rate_down: limits.rate_down.map(Some),
    };
    if change.session_timeout_s.is_none()
        && change.idle_timeout_s.is_none()
        && change.quota.is_none()
        && change.interim_s.is_none()
        && change.rate_up.is_none()
        && change.rate_down.is_none()
    {
        return Err(cause::MISSING_ATTRIBUTE);
    }
    Ok(DasRequest {
        selector: sel,
        change: Some(change),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::radius::packet::{
        chilli,
        fuzz::{self, SECRET},
    };

    const NAS_ID: &str = "gw";
    const NAS_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    fn request(code: u8, attrs: &[(u8, Vec<u8>)]) -> Packet {
        let mut p = Packet::new(code, 7);
        for (t, v) in attrs {
            p.add(*t, v.clone());
        }
        // Through the wire format, as the listener sees it.
        let raw = p.encode_hashed_request(SECRET);
        assert!(Packet::verify_hashed_request(&raw, SECRET));
        Packet::decode(&raw).unwrap()
    }

    fn vsa(t: u8, v: u32) -> Vec<u8> {
        let mut b = chilli::VENDOR.to_be_bytes().to_vec();
        b.extend_from_slice(&[t, 6]);
        b.extend_from_slice(&v.to_be_bytes());
        b
    }

    fn parse_coa(attrs: &[(u8, Vec<u8>)]) -> Result<DasRequest, u32> {
        parse(&request(packet::COA_REQUEST, attrs), NAS_ID, Some(NAS_IP))
    }

    fn user() -> (u8, Vec<u8>) {
        (attr::USER_NAME, b"alice".to_vec())
    }

    #[test]
    fn a_coa_with_a_value_netauth_cannot_hold_gets_invalid_attribute_value() {
        let big = u32::MAX.to_be_bytes().to_vec();
        for attrs in [
            vec![user(), (attr::SESSION_TIMEOUT, big.clone())],
            vec![user(), (attr::IDLE_TIMEOUT, big.clone())],
            vec![user(), (attr::ACCT_INTERIM_INTERVAL, big.clone())],
            vec![
                user(),
                (
                    attr::VENDOR_SPECIFIC,
                    vsa(chilli::MAX_TOTAL_GIGAWORDS, u32::MAX),
                ),
            ],
            // Wrong lengths are not skipped over either.
            vec![user(), (attr::SESSION_TIMEOUT, vec![0, 0, 60])],
            vec![
                user(),
                (attr::VENDOR_SPECIFIC, {
                    let mut v = vsa(chilli::MAX_INPUT_OCTETS, 1);
                    v.push(0);
                    v
                }),
            ],
        ] {
            assert_eq!(
                parse_coa(&attrs).map(|_| ()),
                Err(cause::INVALID_ATTRIBUTE_VALUE),
                "{attrs:?}"
            );
        }
        // At the limits: accepted.
        let r = parse_coa(&[
            user(),
            (attr::SESSION_TIMEOUT, 315_576_000u32.to_be_bytes().to_vec()),
            (
                attr::VENDOR_SPECIFIC,
                vsa(chilli::MAX_TOTAL_GIGAWORDS, 1 << 21),
            ),
        ])
        .unwrap();
        let c = r.change.unwrap();
        assert_eq!(c.session_timeout_s, Some(315_576_000));
        assert_eq!(c.quota.unwrap().total, Some(1 << 53));
    }

    #[test]
    fn a_coa_asking_for_an_unsupported_chillispot_attribute_is_refused() {
        // ChilliSpot-Config (6): netauth cannot apply it, so it must not ACK.
        let r = parse_coa(&[
            user(),
            (attr::SESSION_TIMEOUT, 60u32.to_be_bytes().to_vec()),
            (attr::VENDOR_SPECIFIC, vsa(6, 1000)),
        ]);
        assert_eq!(r.map(|_| ()), Err(cause::UNSUPPORTED_ATTRIBUTE));
    }

    #[test]
    fn a_coa_with_a_chillispot_bandwidth_changes_the_rate_limit() {
        // ChilliSpot-Bandwidth-Max-Up (4) in kbit/s.
        let r = parse_coa(&[user(), (attr::VENDOR_SPECIFIC, vsa(4, 1000))]);
        let c = r.unwrap().change.unwrap();
        assert_eq!((c.rate_up, c.rate_down), (Some(Some(1_000_000)), None));
        // Below 1 kbit/s: refused, not clamped.
        let r = parse_coa(&[user(), (attr::VENDOR_SPECIFIC, vsa(5, 0))]);
        assert!(r.is_err(), "nothing to change");
    }

    #[test]
    fn every_address_of_a_request_is_kept_in_the_selector() {
        let v4 = Ipv4Addr::new(192, 0, 2, 10);
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
        for code in [packet::DISCONNECT_REQUEST, packet::COA_REQUEST] {
            let req = request(
                code,
                &[
                    (attr::FRAMED_IP_ADDRESS, v4.octets().to_vec()),
                    (attr::FRAMED_IPV6_ADDRESS, v6.octets().to_vec()),
                    (attr::IDLE_TIMEOUT, 60u32.to_be_bytes().to_vec()),
                ]
                .into_iter()
                .filter(|(t, _)| code == packet::COA_REQUEST || *t != attr::IDLE_TIMEOUT)
                .collect::<Vec<_>>(),
            );
            let r = parse(&req, NAS_ID, Some(NAS_IP)).unwrap();
            assert_eq!(r.selector.ips, vec![IpAddr::V4(v4), IpAddr::V6(v6)]);
            assert_eq!(r.change.is_some(), code == packet::COA_REQUEST);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever decodes, however mangled, is parsed without a panic.
        #[test]
        fn mutated_requests_never_panic_the_parser(raw in fuzz::mutated()) {
            if let Ok(p) = Packet::decode(&raw) {
                let _ = parse(&p, NAS_ID, Some(NAS_IP));
                let _ = crate::radius::limits_from(&p).map(|l| l.check());
            }
        }

        /// Authentic requests with any attributes: they round-trip, verify, and parsing
        /// them answers without a panic.
        #[test]
        fn any_authentic_request_decodes_and_parses(
            disconnect in any::<bool>(),
            attrs in prop::collection::vec(
                (
                    prop_oneof![
                        Just(attr::USER_NAME), Just(attr::FRAMED_IP_ADDRESS),
                        Just(attr::FRAMED_IPV6_ADDRESS), Just(attr::CALLING_STATION_ID),
                        Just(attr::SESSION_TIMEOUT), Just(attr::IDLE_TIMEOUT),
                        Just(attr::ACCT_INTERIM_INTERVAL), Just(attr::VENDOR_SPECIFIC),
                        Just(attr::NAS_IP_ADDRESS), Just(attr::NAS_IDENTIFIER),
                        Just(attr::MESSAGE_AUTHENTICATOR), any::<u8>(),
                    ],
                    prop::collection::vec(any::<u8>(), 0..40),
                ),
                0..12,
            ),
        ) {
            let code = if disconnect { packet::DISCONNECT_REQUEST } else { packet::COA_REQUEST };
            let mut p = Packet::new(code, 1);
            for (t, v) in attrs {
                p.add(t, v);
            }
            let raw = p.encode_hashed_request(SECRET);
            // The encoder leaves a Message-Authenticator as given (here: random or
            // malformed), so only a request without one is authentic.
            let ma = p.get_all(attr::MESSAGE_AUTHENTICATOR).count();
            let decodable = p.get_all(attr::MESSAGE_AUTHENTICATOR).all(|v| v.len() == 16);
            prop_assert_eq!(Packet::verify_hashed_request(&raw, SECRET), ma == 0);
            match Packet::decode(&raw) {
                Ok(d) => {
                    prop_assert!(decodable);
                    prop_assert_eq!(&d.attrs, &p.attrs);
                    let _ = parse(&d, NAS_ID, Some(NAS_IP));
                }
                Err(_) => prop_assert!(!decodable),
            }
        }
    }
}
