//! Local accounts: the users file, one `name:argon2id-PHC-hash` per line. Read at every
//! login attempt, so `netauth user add/remove` apply without a restart.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
};

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
}
