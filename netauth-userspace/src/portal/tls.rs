//! The HTTPS side's certificate: the PEM chain and key, and, with `--api-tls-ocsp`, an
//! OCSP response stapled to every handshake (RFC 6066 status_request), so clients
//! validating the API's certificate need no OCSP server of their own, which a captive
//! client cannot reach. The response file is reloaded when it changes (a cron job or
//! certbot hook fetches a fresh one before the old one expires); a file that cannot be
//! read or is not DER keeps the previous response stapled and says so in the log.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, bail};
use rustls::{
    crypto::ring::sign::any_supported_type,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tracing::{info, warn};

/// How often the OCSP response file is checked for a change.
pub const OCSP_CHECK: Duration = Duration::from_secs(5);

/// Serves one certificate, with the current OCSP response (if any).
#[derive(Debug)]
pub struct Stapler {
    key: RwLock<Arc<CertifiedKey>>,
    ocsp: Option<PathBuf>,
    /// What the loaded response file looked like (modified time, length).
    seen: RwLock<Option<(SystemTime, u64)>>,
}

impl ResolvesServerCert for Stapler {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// An OCSP response: non-empty DER (a SEQUENCE), at most 64 KiB.
fn read_ocsp(path: &Path) -> anyhow::Result<(Vec<u8>, SystemTime, u64)> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let der = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if der.first() != Some(&0x30) || der.len() < 8 || der.len() > 64 * 1024 {
        bail!(
            "{} is not a DER OCSP response (`openssl ocsp -respout` writes one)",
            path.display()
        );
    }
    Ok((der, meta.modified()?, meta.len()))
}

impl Stapler {
    /// Reloads the OCSP response if its file changed. Returns whether it did.
    pub fn refresh(&self) -> bool {
        let Some(path) = &self.ocsp else {
            return false;
        };
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_none() || stamp == *self.seen.read().unwrap_or_else(|e| e.into_inner()) {
            return false;
        }
        match read_ocsp(path) {
            Ok((der, modified, len)) => {
                let mut key = self.key.write().unwrap_or_else(|e| e.into_inner());
                let mut next = (**key).clone();
                next.ocsp = Some(der);
                *key = Arc::new(next);
                *self.seen.write().unwrap_or_else(|e| e.into_inner()) = Some((modified, len));
                info!(file = %path.display(), "OCSP response reloaded");
                true
            }
            Err(e) => {
                // Remember the bad file so the warning is not repeated every check.
                *self.seen.write().unwrap_or_else(|e| e.into_inner()) = stamp;
                warn!("{e:#}; the previous OCSP response stays stapled");
                false
            }
        }
    }

    /// Checks the response file every [`OCSP_CHECK`], forever.
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(OCSP_CHECK);
        loop {
            tick.tick().await;
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.refresh()).await;
        }
    }
}

/// The acceptor for the HTTPS listeners and the resolver behind it.
pub fn acceptor(
    cert: &Path,
    key: &Path,
    ocsp: Option<&Path>,
) -> anyhow::Result<(tokio_rustls::TlsAcceptor, Arc<Stapler>)> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    let signing = any_supported_type(&key).context("unsupported private key")?;
    let mut certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .context("certificate and key do not match")?;
    let mut seen = None;
    if let Some(path) = ocsp {
        // At start a missing or bad response is a configuration error.
        let (der, modified, len) = read_ocsp(path)?;
        certified.ocsp = Some(der);
        seen = Some((modified, len));
    }
    let stapler = Arc::new(Stapler {
        key: RwLock::new(Arc::new(certified)),
        ocsp: ocsp.map(Path::to_path_buf),
        seen: RwLock::new(seen),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(stapler.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), stapler))
}
