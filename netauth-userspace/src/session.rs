//! Sessions: who is authorized, since when, until when, and how. The one place that
//! writes the kernel's client map, so the session table and the map never disagree.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tracing::{info, warn};

use crate::{datapath::Datapath, mac::Mac};

/// How a session came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// The user accepted the terms on the portal.
    ClickThrough,
    /// An operator ran `netauth allow`.
    Admin,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    Expired,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub mac: Mac,
    pub ip: Option<IpAddr>,
    pub via: Via,
    /// Unix seconds.
    pub started: u64,
    /// Unix seconds (rounded up).
    pub expires: u64,
    /// The exact end, for enforcement.
    #[serde(skip)]
    pub deadline: SystemTime,
}

impl Session {
    pub fn seconds_left(&self, now: SystemTime) -> u64 {
        self.deadline
            .duration_since(now)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the kernel map rejected the update: {0}")]
    Map(#[from] aya::maps::MapError),
    #[error("the client table is full")]
    Full,
}

/// The session table plus the kernel map it drives.
pub struct Sessions {
    inner: Mutex<Inner>,
    pub default_timeout: Duration,
}

struct Inner {
    datapath: Datapath,
    sessions: HashMap<Mac, Session>,
}

impl Sessions {
    pub fn new(datapath: Datapath, default_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                datapath,
                sessions: HashMap::new(),
            }),
            default_timeout,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave map and table half-updated in a way
        // that matters more than stopping would: keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Authorizes `mac` (new session, or a renewed one) until now + `duration`.
    pub fn authorize(
        &self,
        mac: Mac,
        ip: Option<IpAddr>,
        via: Via,
        duration: Option<Duration>,
        now: SystemTime,
    ) -> Result<Session, SessionError> {
        let duration = duration.unwrap_or(self.default_timeout);
        let started = unix(now);
        let deadline = now + duration;
        let session = Session {
            mac,
            ip,
            via,
            started,
            expires: unix(deadline + Duration::from_millis(999)),
            deadline,
        };
        let mut inner = self.lock();
        if let Err(e) = inner.datapath.authorize(mac, started) {
            warn!(%mac, "authorization failed: {e}");
            return Err(match &e {
                aya::maps::MapError::SyscallError(s)
                    if s.io_error.raw_os_error() == Some(libc::E2BIG) =>
                {
                    SessionError::Full
                }
                _ => SessionError::Map(e),
            });
        }
        inner.sessions.insert(mac, session.clone());
        drop(inner);
        let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        info!(%mac, %ip, via = ?via, expires_in_s = duration.as_secs(), "client authorized");
        Ok(session)
    }

    /// Ends `mac`'s session; returns it if there was one (in the table or the map).
    pub fn end(&self, mac: Mac, reason: EndReason) -> Result<Option<Session>, SessionError> {
        let mut inner = self.lock();
        let was_in_map = inner.datapath.revoke(mac)?;
        let session = inner.sessions.remove(&mac);
        drop(inner);
        if session.is_some() || was_in_map {
            let ip = session
                .as_ref()
                .and_then(|s| s.ip)
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into());
            info!(%mac, %ip, reason = reason.as_str(), "client revoked");
            Ok(session.or(Some(Session {
                mac,
                ip: None,
                via: Via::Admin,
                started: 0,
                expires: 0,
                deadline: UNIX_EPOCH,
            })))
        } else {
            Ok(None)
        }
    }

    pub fn get(&self, mac: Mac) -> Option<Session> {
        self.lock().sessions.get(&mac).cloned()
    }

    pub fn list(&self) -> Vec<Session> {
        let mut v: Vec<_> = self.lock().sessions.values().cloned().collect();
        v.sort_by_key(|s| s.mac);
        v
    }

    /// Ends every session whose time is up; returns how many ended.
    pub fn expire(&self, now: SystemTime) -> usize {
        let due: Vec<Mac> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.deadline <= now)
            .map(|s| s.mac)
            .collect();
        let mut ended = 0;
        for mac in due {
            match self.end(mac, EndReason::Expired) {
                Ok(_) => ended += 1,
                Err(e) => warn!(%mac, "could not end expired session: {e}"),
            }
        }
        ended
    }

    /// The MAC that last sent from `ip`, as the datapath recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        self.lock().datapath.recorded_mac(ip)
    }

    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.lock().datapath.counters()
    }

    pub fn is_authorized(&self, mac: Mac) -> bool {
        self.lock().datapath.is_authorized(mac)
    }

    /// Runs until cancelled: ends expired sessions within `tick` of their end.
    pub async fn expiry_loop(self: Arc<Self>, tick: Duration) {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.expire(SystemTime::now());
        }
    }
}
