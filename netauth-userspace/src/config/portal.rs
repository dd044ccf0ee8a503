//! Portal options: what the pages say (venue, terms) and look like (theme), how much one client may ask of the
//! portal, and the HTTPS listener with the Captive Portal API (RFC 8908).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use serde::Deserialize;

use super::{read_text_file, with_default};

pub const DEFAULT_VENUE: &str = "Guest Wi-Fi";
pub const DEFAULT_TERMS: &str = "By connecting you agree to use this network lawfully and \
considerately. The operator may log the hardware address of your device and the time of your \
session, and may end sessions at any time.";
pub const DEFAULT_PORTAL_CLIENT_CONNECTIONS: u32 = 32;
pub const DEFAULT_PORTAL_CLIENT_RATE: u32 = 20;
pub const DEFAULT_API_PORT: u16 = 8443;

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Portal")]
#[serde(default, rename_all = "kebab-case")]
pub struct PortalArgs {
    #[arg(long, help = with_default("Venue name shown on the pages", DEFAULT_VENUE))]
    pub venue_name: Option<String>,

    #[arg(
        long,
        conflicts_with = "terms_file",
        help = with_default(
            "Terms of use on the login page (plain text; blank lines separate paragraphs)",
            "a short built-in notice",
        )
    )]
    pub terms: Option<String>,

    #[arg(
        long,
        value_name = "PATH",
        help = "Read the terms of use from a file instead"
    )]
    pub terms_file: Option<PathBuf>,

    #[arg(
        long,
        value_name = "DIR",
        help = with_default(
            "Theme directory: templates/ (minijinja) and locales/ (Fluent, per language) \
             override the built-in pages and strings file by file, static/ is served under \
             /_netauth/theme/",
            "the built-in theme",
        )
    )]
    pub theme: Option<PathBuf>,

    #[arg(
        long,
        value_name = "URL",
        requires = "external_portal_secret_file",
        help = "Send captive devices to this web application to sign in, with a signed \
                request; it grants access with a signed redirect back \
                (docs/external-portal.md). Its host joins the walled garden"
    )]
    pub external_portal: Option<String>,

    #[arg(
        long,
        value_name = "PATH",
        requires = "external_portal",
        help = "The secret shared with --external-portal (first line, at least 16 characters)"
    )]
    pub external_portal_secret_file: Option<PathBuf>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u32).range(1..=65535),
        help = with_default(
            "Connections one client may hold open to the portal at once; more are refused",
            DEFAULT_PORTAL_CLIENT_CONNECTIONS,
        )
    )]
    pub portal_client_connections: Option<u32>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u32).range(1..=100000),
        help = with_default(
            "Requests per second one client may make to the portal (a burst of twice as many \
             is allowed); beyond that it gets 429",
            DEFAULT_PORTAL_CLIENT_RATE,
        )
    )]
    pub portal_client_rate: Option<u32>,

    #[arg(
        long,
        value_name = "PATH",
        requires = "api_tls_key",
        help = "PEM certificate (chain) for the HTTPS listener: the RFC 8908 Captive Portal API \
                and the portal pages over TLS (`netauth cert` makes a self-signed pair for labs)"
    )]
    pub api_tls_cert: Option<PathBuf>,

    #[arg(
        long,
        value_name = "PATH",
        requires = "api_tls_cert",
        help = "PEM private key for --api-tls-cert"
    )]
    pub api_tls_key: Option<PathBuf>,

    #[arg(
        long,
        value_name = "PATH",
        requires = "api_tls_cert",
        help = "DER OCSP response for --api-tls-cert, stapled to every handshake and reloaded \
                when the file changes (fetch it with `openssl ocsp ... -respout PATH`)"
    )]
    pub api_tls_ocsp: Option<PathBuf>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u16).range(1..),
        help = with_default("TCP port of the HTTPS listener", DEFAULT_API_PORT)
    )]
    pub api_port: Option<u16>,

    #[arg(
        long,
        value_name = "NAME",
        help = with_default(
            "DNS name of the portal for https URLs (must match the certificate)",
            "the portal address",
        )
    )]
    pub api_hostname: Option<String>,

    #[arg(
        long,
        value_name = "URL",
        help = "`venue-info-url` announced by the Captive Portal API"
    )]
    pub venue_info_url: Option<String>,
}

super::merge_fields!(PortalArgs {
    venue_name,
    terms,
    terms_file,
    theme,
    external_portal,
    external_portal_secret_file,
    portal_client_connections,
    portal_client_rate,
    api_tls_cert,
    api_tls_key,
    api_tls_ocsp,
    api_port,
    api_hostname,
    venue_info_url,
});

impl PortalArgs {
    /// The terms as given, else read from the terms file, else [`DEFAULT_TERMS`].
    pub(super) fn terms(&self) -> anyhow::Result<String> {
        Ok(match (&self.terms, &self.terms_file) {
            (Some(t), _) => t.clone(),
            (None, Some(p)) => read_text_file(p, "terms file")?,
            (None, None) => DEFAULT_TERMS.to_string(),
        })
    }

    /// Certificate and key of the HTTPS listener, which come in pairs.
    pub(super) fn api_tls(&self) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
        match (&self.api_tls_cert, &self.api_tls_key) {
            (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
            (None, None) => Ok(None),
            _ => bail!("api-tls-cert and api-tls-key go together"),
        }
    }

    /// The external portal's URL and secret file, which come in pairs; the URL's host
    /// (for the walled garden).
    pub(super) fn external_portal(
        &self,
    ) -> anyhow::Result<Option<(String, PathBuf, crate::walled::Entry)>> {
        let (url, secret) = match (&self.external_portal, &self.external_portal_secret_file) {
            (Some(u), Some(s)) => (u, s),
            (None, None) => return Ok(None),
            _ => bail!("external-portal and external-portal-secret-file go together"),
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("external-portal {url:?} is not a URL: {e}"))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if matches!(parsed.scheme(), "http" | "https") => {
                d.to_string()
            }
            Some(url::Host::Ipv4(a)) if matches!(parsed.scheme(), "http" | "https") => {
                a.to_string()
            }
            Some(url::Host::Ipv6(a)) if matches!(parsed.scheme(), "http" | "https") => {
                a.to_string()
            }
            _ => bail!("external-portal must be an http(s) URL with a host"),
        };
        if parsed.fragment().is_some() {
            bail!("external-portal must not have a #fragment");
        }
        let entry = crate::walled::Entry::parse(&host)
            .map_err(|e| anyhow::anyhow!("external-portal host: {e}"))?;
        Ok(Some((url.clone(), secret.clone(), entry)))
    }

    pub(super) fn venue_info_url(&self) -> anyhow::Result<Option<String>> {
        if let Some(u) = &self.venue_info_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            bail!("venue-info-url must be an http(s) URL");
        }
        Ok(self.venue_info_url.clone())
    }
}
