//! Who may log in. One [`Authenticator`], configured with `--auth-method`, decides every
//! login attempt and returns the [`Grant`] it earns, carrying how the session came to be
//! ([`Via`]): click-through, a local account ([`local`]), a voucher
//! ([`crate::vouchers`]) or RADIUS PAP ([`crate::radius`]). MAC authentication (no
//! login at all) is [`mac_auth`]. Nothing about why an attempt failed leaves this module
//! beyond "invalid", and no secret is ever logged.

pub mod local;
pub mod mac_auth;

use std::{
    collections::HashMap,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use serde::Deserialize;

pub use local::{UsersFile, valid_username};

pub use crate::config::auth::{Method, OnNewMac};

use crate::{
    model::{Grant, Mac, Via},
    radius::{Decision, Radius},
    store::Store,
};

/// What the user typed.
#[derive(Debug, Default, Deserialize)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong credentials, whatever the detail.
    #[error("invalid")]
    Invalid,
    /// The back end could not decide (store error, no RADIUS server answered): a clear
    /// message, no session.
    #[error("the login service is unavailable")]
    Unavailable,
}

/// The back end of each method.
enum Backend {
    ClickThrough,
    /// Read at every attempt, so `netauth user add/remove` apply without a restart.
    Local(PathBuf),
    Voucher(Store),
    Radius(Arc<Radius>),
}

pub struct Authenticator {
    pub method: Method,
    /// What a voucher without a device slot for a new address does (`--on-new-mac`).
    pub on_new_mac: OnNewMac,
    backend: Backend,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Authenticator {
    /// Checks what `method` needs (the users file loads, a RADIUS client exists) without
    /// any side effect.
    pub fn new(
        method: Method,
        users_file: Option<&Path>,
        store: &Store,
        radius: Option<&Arc<Radius>>,
    ) -> anyhow::Result<Self> {
        let backend = match method {
            Method::ClickThrough => Backend::ClickThrough,
            Method::Local => {
                let path = users_file.context("auth-method local needs users-file")?;
                let f = UsersFile::load(path)?;
                if f.users.is_empty() {
                    tracing::warn!(
                        "users file {} has no users yet (add some with `netauth user add`)",
                        path.display()
                    );
                }
                Backend::Local(path.to_path_buf())
            }
            Method::Voucher => Backend::Voucher(store.clone()),
            Method::Radius => Backend::Radius(
                radius
                    .context("auth-method radius needs radius-server")?
                    .clone(),
            ),
        };
        Ok(Self {
            method,
            on_new_mac: OnNewMac::default(),
            backend,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Decides a login by the device `mac` from `ip`; `Ok` carries what to grant
    /// (defaults unless the method says otherwise). Blocking work (password hashing,
    /// store reads) runs off the async workers.
    pub async fn authenticate(
        &self,
        creds: Credentials,
        mac: Mac,
        ip: IpAddr,
    ) -> Result<Grant, AuthError> {
        let blocking = |f: Box<dyn FnOnce() -> Result<Grant, AuthError> + Send>| async move {
            tokio::task::spawn_blocking(f)
                .await
                .unwrap_or(Err(AuthError::Unavailable))
        };
        match &self.backend {
            Backend::ClickThrough => Ok(Grant::by(Via::ClickThrough)),
            Backend::Local(path) => {
                let (Some(user), Some(pass)) = (creds.username, creds.password) else {
                    return Err(AuthError::Invalid);
                };
                let path = path.clone();
                blocking(Box::new(move || {
                    let users = UsersFile::load(&path).map_err(|e| {
                        tracing::warn!("users file: {e:#}");
                        AuthError::Unavailable
                    })?;
                    if users.verify(user.trim(), &pass) {
                        Ok(Grant::by(Via::Local))
                    } else {
                        Err(AuthError::Invalid)
                    }
                }))
                .await
            }
            Backend::Voucher(store) => {
                let code = creds.code.ok_or(AuthError::Invalid)?;
                let store = store.clone();
                let transfer = self.on_new_mac == OnNewMac::Transfer;
                blocking(Box::new(move || {
                    crate::vouchers::check(&store, &code, mac, crate::clock::now(), transfer)
                        .map_err(|e| {
                            tracing::warn!("voucher check: {e}");
                            AuthError::Unavailable
                        })?
                        .ok_or(AuthError::Invalid)
                }))
                .await
            }
            Backend::Radius(radius) => {
                let (Some(user), Some(pass)) = (&creds.username, &creds.password) else {
                    return Err(AuthError::Invalid);
                };
                let user = user.trim();
                if user.is_empty() {
                    return Err(AuthError::Invalid);
                }
                match radius
                    .authenticate(user, Some(pass.as_bytes()), mac, Some(ip))
                    .await
                {
                    Ok(Decision::Accept(g)) => Ok(Grant {
                        transfer: self.on_new_mac == OnNewMac::Transfer,
                        ..*g
                    }),
                    Ok(Decision::Reject) => Err(AuthError::Invalid),
                    Err(e) => {
                        tracing::warn!(%mac, "RADIUS login not decided: {e}");
                        Err(AuthError::Unavailable)
                    }
                }
            }
        }
    }

    /// With `--on-new-mac`'s choice.
    pub fn with_on_new_mac(mut self, on_new_mac: OnNewMac) -> Self {
        self.on_new_mac = on_new_mac;
        self
    }

    /// How long to hold back the answer to a failed attempt from `ip`: it doubles with
    /// each failure (250 ms .. 8 s) and is forgotten after 15 quiet minutes.
    pub fn failure_delay(&self, ip: IpAddr) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        f.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(900));
        let entry = f.entry(ip).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        Duration::from_millis(250u64 << (entry.0 - 1).min(5))
    }

    pub fn forget_failures(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_delay_grows_and_caps() {
        let (store, _dir) = crate::store::temp("auth-delay");
        let a = Authenticator::new(Method::ClickThrough, None, &store, None).unwrap();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let d: Vec<_> = (0..8).map(|_| a.failure_delay(ip).as_millis()).collect();
        assert_eq!(d, vec![250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        a.forget_failures(ip);
        assert_eq!(a.failure_delay(ip).as_millis(), 250);
    }

    #[tokio::test]
    async fn every_method_says_how_the_session_came_to_be() {
        let (store, dir) = crate::store::temp("auth-via");
        let mac: Mac = "02:00:00:00:00:0a".parse().unwrap();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let click = Authenticator::new(Method::ClickThrough, None, &store, None).unwrap();
        let g = click
            .authenticate(Credentials::default(), mac, ip)
            .await
            .unwrap();
        assert_eq!(g.via, Via::ClickThrough);

        let users = dir.0.join("users");
        let mut f = UsersFile::load(&users).unwrap();
        f.set_password("alice", "correct horse").unwrap();
        f.save().unwrap();
        let local = Authenticator::new(Method::Local, Some(&users), &store, None).unwrap();
        let creds = |p: &str| Credentials {
            username: Some(" alice ".into()),
            password: Some(p.into()),
            code: None,
        };
        assert_eq!(
            local
                .authenticate(creds("correct horse"), mac, ip)
                .await
                .unwrap()
                .via,
            Via::Local
        );
        assert!(matches!(
            local.authenticate(creds("wrong horse"), mac, ip).await,
            Err(AuthError::Invalid)
        ));

        let vouchers = Authenticator::new(Method::Voucher, None, &store, None).unwrap();
        let v = crate::vouchers::create(
            &store,
            1,
            crate::vouchers::Terms {
                duration: Duration::from_secs(60),
                quota: None,
                devices: 1,
                rate: Default::default(),
            },
            crate::clock::now(),
        )
        .unwrap();
        let code = Credentials {
            code: Some(v[0].code.clone()),
            ..Credentials::default()
        };
        let g = vouchers.authenticate(code, mac, ip).await.unwrap();
        assert_eq!(g.via, Via::Voucher);
        assert_eq!(g.voucher.as_deref(), Some(v[0].code.as_str()));
        assert!(Authenticator::new(Method::Radius, None, &store, None).is_err());
    }
}
