//! Who may log in: the `Authenticator` chosen by `--auth-method`. Each method says which
//! form fields the login page shows and decides on a login attempt; the portal turns a
//! `Grant` into a session. Nothing about why an attempt failed leaves this module beyond
//! "invalid", and no secret is ever logged.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::session::{Grant, Sessions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Accept the terms, nothing else.
    ClickThrough,
    /// User name and password from the users file (argon2id hashes).
    Local,
    /// A voucher code from `netauth voucher create`.
    Voucher,
    /// User name and password checked by RADIUS servers (PAP).
    Radius,
}

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
    /// The back end could not decide (store error): a clear message, no session.
    #[error("the login service is unavailable")]
    Unavailable,
}

pub struct Authenticator {
    pub method: Method,
    /// Read at every attempt, so `netauth user add/remove` apply without a restart.
    users_file: Option<PathBuf>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Authenticator {
    pub fn new(method: Method, users_file: Option<&Path>) -> anyhow::Result<Self> {
        let users_file = match method {
            Method::Local => {
                let path = users_file.context("auth-method local needs users-file")?;
                let f = UsersFile::load(path)?;
                if f.users.is_empty() {
                    tracing::warn!(
                        "users file {} has no users yet (add some with `netauth user add`)",
                        path.display()
                    );
                }
                Some(path.to_path_buf())
            }
            _ => None,
        };
        Ok(Self {
            method,
            users_file,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Decides a login; `Ok` carries what to grant (defaults unless the method says
    /// otherwise). The MAC is only used to tie a voucher to devices.
    pub fn authenticate(
        &self,
        creds: &Credentials,
        mac: crate::model::Mac,
        sessions: &Sessions,
    ) -> Result<Grant, AuthError> {
        match self.method {
            Method::ClickThrough => Ok(Grant::default()),
            Method::Local => {
                let (Some(user), Some(pass)) = (&creds.username, &creds.password) else {
                    return Err(AuthError::Invalid);
                };
                let path = self.users_file.as_ref().ok_or(AuthError::Unavailable)?;
                let users = UsersFile::load(path).map_err(|e| {
                    tracing::warn!("users file: {e:#}");
                    AuthError::Unavailable
                })?;
                if users.verify(user.trim(), pass) {
                    Ok(Grant::default())
                } else {
                    Err(AuthError::Invalid)
                }
            }
            // Asked asynchronously by the portal (`Radius::authenticate`).
            Method::Radius => Err(AuthError::Unavailable),
            Method::Voucher => {
                let code = creds.code.as_deref().ok_or(AuthError::Invalid)?;
                let code = normalize_code(code).ok_or(AuthError::Invalid)?;
                sessions
                    .redeem_voucher(&code, mac)
                    .map_err(|_| AuthError::Unavailable)?
                    .ok_or(AuthError::Invalid)
            }
        }
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

/// The users file: one `name:argon2id-PHC-hash` per line, `#` comments.
pub struct UsersFile {
    pub path: PathBuf,
    pub users: BTreeMap<String, String>,
}

/// User names: letters, digits and `._-@`, at most 64 characters.
pub fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

impl UsersFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut users = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                bail!("{}:{}: expected name:hash", path.display(), n + 1);
            };
            if !valid_username(name) || PasswordHash::new(hash).is_err() {
                bail!("{}:{}: bad user name or hash", path.display(), n + 1);
            }
            users.insert(name.to_string(), hash.to_string());
        }
        Ok(Self {
            path: path.to_path_buf(),
            users,
        })
    }

    pub fn save(&self) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("writing {}", tmp.display()))?;
            writeln!(
                f,
                "# netauth users: name:argon2id hash (edit with `netauth user`)"
            )?;
            for (u, h) in &self.users {
                writeln!(f, "{u}:{h}")?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }

    pub fn set_password(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        if !valid_username(user) {
            bail!("'{user}' is not a valid user name (letters, digits, ._-@; at most 64)");
        }
        if password.chars().count() < 8 {
            bail!("a password needs at least 8 characters");
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
            .to_string();
        self.users.insert(user.to_string(), hash);
        Ok(())
    }

    pub fn verify(&self, user: &str, password: &str) -> bool {
        // Unknown users cost the same hash as known ones, so timing does not tell them apart.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2E4ZpUzBFX7UCYVkOLk2Y7Xf4hd3OlyP6V3D9z2Gc3g";
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY, false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    }
}

/// Voucher codes use an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
pub const VOUCHER_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";
/// 12 symbols of a 25-letter alphabet: about 55.7 bits, far beyond online guessing
/// (which the failure delay slows to a few attempts a minute per client).
pub const VOUCHER_LEN: usize = 12;

pub fn new_voucher_code() -> anyhow::Result<String> {
    let mut out = String::with_capacity(VOUCHER_LEN + 2);
    let mut produced = 0;
    while produced < VOUCHER_LEN {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        for byte in b {
            // Rejection sampling keeps the distribution uniform.
            if (byte as usize) < 250 && produced < VOUCHER_LEN {
                if produced > 0 && produced % 4 == 0 {
                    out.push('-');
                }
                out.push(VOUCHER_ALPHABET[byte as usize % 25] as char);
                produced += 1;
            }
        }
    }
    Ok(out)
}

/// The canonical form of a typed code (case, spaces and dashes do not matter), or `None`
/// when it cannot be a voucher.
pub fn normalize_code(s: &str) -> Option<String> {
    let symbols: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' '))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if symbols.len() != VOUCHER_LEN || !symbols.iter().all(|b| VOUCHER_ALPHABET.contains(b)) {
        return None;
    }
    let mut out = String::new();
    for (i, b) in symbols.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(*b as char);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let dir = std::env::temp_dir().join(format!("netauth-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let mut f = UsersFile::load(&path).unwrap();
        f.set_password("alice", "correct horse").unwrap();
        f.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("alice:$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"));
        let f = UsersFile::load(&path).unwrap();
        assert!(f.verify("alice", "correct horse"));
        assert!(!f.verify("alice", "wrong horse"));
        assert!(!f.verify("bob", "correct horse"));
        let mut f = f;
        assert!(f.set_password("bad name", "longenough").is_err());
        assert!(f.set_password("carol", "short").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn voucher_codes_are_unambiguous_and_normalize() {
        let c = new_voucher_code().unwrap();
        assert_eq!(c.len(), VOUCHER_LEN + 2);
        assert_eq!(
            normalize_code(&c.to_lowercase().replace('-', " ")),
            Some(c.clone())
        );
        assert!(
            c.bytes()
                .filter(|b| *b != b'-')
                .all(|b| VOUCHER_ALPHABET.contains(&b))
        );
        assert_ne!(new_voucher_code().unwrap(), c);
        assert_eq!(normalize_code("0000-0000-0000"), None);
        assert_eq!(normalize_code("ACDE-FGHJ"), None);
    }

    #[test]
    fn failure_delay_grows_and_caps() {
        let a = Authenticator::new(Method::ClickThrough, None).unwrap();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let d: Vec<_> = (0..8).map(|_| a.failure_delay(ip).as_millis()).collect();
        assert_eq!(d, vec![250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        a.forget_failures(ip);
        assert_eq!(a.failure_delay(ip).as_millis(), 250);
    }
}
