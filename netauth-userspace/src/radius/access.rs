//! Access-Requests: PAP logins and MAC authentication, and what an Access-Accept grants.

use std::{net::IpAddr, sync::atomic::Ordering, time::Duration};

use tracing::{info, warn};

use super::{
    Decision, MIN_SERVER_INTERIM, Radius, RadiusError, SERVICE_CALL_CHECK, SERVICE_LOGIN,
    limits::{LimitError, limits_from},
    mac_string,
    packet::{self, Packet, attr},
};
use crate::model::{Acct, Grant, Mac, Via};

impl Radius {
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
    pub(super) fn grant_from(
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
        // Port-Limit (RFC 2865 §5.42, "the maximum number of ports to be provided to the
        // user by the NAS"): here the devices the account may have sessions on at once.
        let devices = match a.get(attr::PORT_LIMIT) {
            None => None,
            Some(_) => match a.get_u32(attr::PORT_LIMIT) {
                Some(0) => return Err(LimitError::Zero("Port-Limit")),
                Some(n) => Some(n),
                None => return Err(LimitError::Malformed("Port-Limit")),
            },
        };
        Ok(Grant {
            devices,
            duration: secs(limits.session_timeout_s),
            idle: secs(limits.idle_timeout_s),
            quota: limits.quota.unwrap_or_default(),
            rate: limits.rate(),
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
}
