//! The captive portal's HTTP side: answers intercepted requests ([`intercept`]: 511, or
//! 302 for OS probes), serves the login, status and logout pages ([`login`]), and ties
//! each connection to the client's MAC from what the kernel saw ([`crate::identity`]),
//! never from anything the client sends.

pub mod api;
pub mod asked;
pub mod csrf;
pub mod error;
pub mod external;
pub mod http1;
pub mod i18n;
pub mod intercept;
pub mod login;
pub mod pages;
pub mod probes;
pub mod serve;
pub mod theme;
pub mod tls;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::AtomicU64},
};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use tracing::warn;

pub use error::PortalError;
pub use pages::Why;

use crate::{
    datapath::ClientView,
    identity::{FlowIdentity, Identity, canonical},
    model::{EndReason, Mac},
    sessions::Sessions,
};

/// Largest request body the portal reads (the login form is a few dozen bytes).
pub const MAX_BODY: usize = 8 * 1024;
/// Longest original URL carried through the login flow.
const MAX_REDIRECT: usize = 2048;

/// Addresses of one accepted connection: `local` is the original destination when the
/// connection was intercepted.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Everything the portal's handlers share.
pub struct Portal {
    pub venue: String,
    pub terms: String,
    pub ipv4: Option<std::net::Ipv4Addr>,
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub port: u16,
    pub sessions: Arc<Sessions>,
    /// Whether the datapath lets a device through (no lock).
    pub clients: Arc<ClientView>,
    /// The datapath's record of which MAC sent each connection.
    pub identity: Arc<Identity>,
    /// Anti-forgery tokens of the login and logout forms.
    pub csrf: csrf::Csrf,
    /// The HTTPS side (RFC 8908 API and the portal pages over TLS), when configured.
    pub api: Option<ApiSettings>,
    /// How users log in.
    pub auth: crate::auth::Authenticator,
    pub stats: Arc<Stats>,
    /// The pages' templates, languages and static files.
    pub theme: Arc<theme::Theme>,
    /// The operator's external portal application, if sign-in happens there.
    pub external: Option<external::External>,
}

/// What the portal answered, for metrics.
#[derive(Default)]
pub struct Stats {
    pub answered_511: AtomicU64,
    pub answered_302: AtomicU64,
}

pub struct ApiSettings {
    pub port: u16,
    /// DNS name for https URLs (the certificate's name); else the portal address.
    pub hostname: Option<String>,
    pub venue_info_url: Option<String>,
}

pub(crate) type AppState = Arc<Portal>;

/// What the portal's listeners serve: the portal's own pages (the router) on connections
/// addressed to the portal, the intercept answers on intercepted ones.
pub struct Site {
    pub portal: Arc<Portal>,
    pub app: Router,
    pub answers: intercept::Answers,
}

impl Site {
    pub fn new(portal: Arc<Portal>) -> Arc<Self> {
        Arc::new(Self {
            app: router(portal.clone()),
            answers: intercept::Answers::new(portal.clone()),
            portal,
        })
    }
}

/// The portal's own pages. Intercepted connections never reach them: they arrive on the
/// intercept listener ([`serve::Accepts`]) and are answered by [`intercept`].
fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login::page).post(login::submit))
        .route("/status", get(login::status))
        .route("/logout", axum::routing::post(login::logout))
        .route("/api/captive", get(api::captive))
        .route("/_netauth/theme/{*path}", get(asset))
        .route("/_netauth/external/grant", get(login::external_grant))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(portal)
}

impl Portal {
    /// Whether `ip` is the portal's (the gateway's LAN) address.
    pub fn is_portal_address(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(a) => self.ipv4 == Some(a),
            IpAddr::V6(a) => self.ipv6 == Some(a),
        }
    }

    /// The portal's host for the client's own address family, as it goes in a URL.
    fn host_for(&self, conn: &ConnInfo) -> String {
        match (canonical(conn.remote.ip()), self.ipv4, self.ipv6) {
            (IpAddr::V6(_), _, Some(v6)) | (IpAddr::V4(_), None, Some(v6)) => format!("[{v6}]"),
            (_, Some(v4), _) => v4.to_string(),
            _ => match canonical(conn.local.ip()) {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            },
        }
    }

    /// An https URL on the API listener (RFC 8908 requires https), or the http portal
    /// URL when no TLS listener is configured.
    pub fn https_portal_url(&self, conn: &ConnInfo, path: &str) -> String {
        match &self.api {
            Some(api) => {
                let host = api.hostname.clone().unwrap_or_else(|| self.host_for(conn));
                let port = if api.port == 443 {
                    String::new()
                } else {
                    format!(":{}", api.port)
                };
                format!("https://{host}{port}{path}")
            }
            None => format!("http://{}:{}{path}", self.host_for(conn), self.port),
        }
    }

    /// `path` on the portal as the client reaches it: https on the API host name with TLS
    /// configured, else plain http on the address of the client's own family.
    pub fn portal_url(&self, conn: &ConnInfo, path: &str) -> String {
        if self.api.is_some() {
            return self.https_portal_url(conn, path);
        }
        let port = if self.port == 80 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!("http://{}{port}{path}", self.host_for(conn))
    }

    /// The login URL: with TLS configured the https one on the API host name (passwords
    /// and voucher codes never travel in clear), else the plain portal on the address of
    /// the client's own address family.
    pub fn login_url(&self, conn: &ConnInfo, original: Option<&str>) -> String {
        let base = self.portal_url(conn, "/login");
        match original {
            Some(o) => {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("redirect", o)
                    .finish();
                format!("{base}?{q}")
            }
            None => base,
        }
    }

    /// With TLS configured, the login on the plain listener answers `308` to the same
    /// path on the HTTPS one (a bookmark or an old page still lands on the encrypted form;
    /// 308 keeps a POST a POST, whose origin then no longer matches and is refused).
    pub fn plain_login(&self, conn: &ConnInfo, uri: &Uri) -> Option<Response> {
        let api = self.api.as_ref()?;
        if conn.local.port() == api.port {
            return None;
        }
        let target = self.https_portal_url(
            conn,
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/login"),
        );
        Some(
            (
                StatusCode::PERMANENT_REDIRECT,
                [
                    (header::LOCATION, header_value(&target)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
        )
    }

    /// The MAC behind a connection: the one the datapath saw send this very connection's
    /// packets. Never the address's last user, never anything the client sends: a device
    /// spoofing another's address cannot have its login. A connection whose packets came
    /// from two MACs is refused ("try again").
    pub fn identify(&self, conn: &ConnInfo) -> Result<(Mac, IpAddr), PortalError> {
        let ip = canonical(conn.remote.ip());
        match self.identity.flow(conn.remote, conn.local) {
            FlowIdentity::Mac(mac) => Ok((mac, ip)),
            FlowIdentity::Conflict => {
                warn!(client = %conn.remote, "packets of this connection came from more than one MAC (address spoofing?); refused");
                Err(PortalError::Ambiguous)
            }
            FlowIdentity::Unknown => Err(PortalError::NotOnLan(ip)),
        }
    }

    /// A fresh anti-forgery token for forms shown on this connection.
    pub(crate) fn form_token(&self, conn: &ConnInfo) -> String {
        let who = match self.identify(conn) {
            Ok((mac, _)) => mac.to_string(),
            Err(_) => "unknown".to_string(),
        };
        self.csrf.token(&who)
    }

    /// Whether a form POST is genuine: sent from the portal's own page (when the browser
    /// says where from) with a token made for this device.
    pub(crate) fn form_is_genuine(
        &self,
        headers: &HeaderMap,
        mac: Mac,
        token: Option<&str>,
    ) -> bool {
        csrf::same_origin(headers) && token.is_some_and(|t| self.csrf.verify(&mac.to_string(), t))
    }

    /// Why a captive user's last session ended, if it ended recently for a reason worth
    /// telling.
    pub fn why_captive(&self, conn: &ConnInfo) -> Option<Why> {
        let (mac, _) = self.identify(conn).ok()?;
        self.why_mac_is_captive(mac)
    }

    /// [`Self::why_captive`] for a device already identified.
    pub fn why_mac_is_captive(&self, mac: Mac) -> Option<Why> {
        let reason = self.sessions.recent_end_reason(mac, crate::clock::now())?;
        match reason {
            EndReason::Quota => Some(Why::Quota),
            EndReason::Expired => Some(Why::Expired),
            EndReason::Idle => Some(Why::Idle),
            EndReason::Revoked | EndReason::Disconnected => Some(Why::Operator),
            EndReason::Moved => Some(Why::Moved),
            EndReason::Logout | EndReason::Replaced => None,
        }
    }

    /// The language of a page: the one the request names with `?lang=` or the form's
    /// `lang` field, else the browser's (Accept-Language), else English.
    pub(crate) fn lang(&self, asked: Option<&str>, headers: &HeaderMap) -> usize {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        self.theme.i18n.choose(asked, accept)
    }
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(header_text(s)).unwrap_or_else(|_| HeaderValue::from_static("/login"))
}

/// `s` as the value of a Location the portal sends: URLs are built only from escaped,
/// encoded parts; should one ever hold a byte no header may, the login path instead.
pub(crate) fn header_text(s: &str) -> &str {
    if is_header_value(s.as_bytes()) {
        s
    } else {
        "/login"
    }
}

/// Whether `v` can be a header value as `HeaderValue::from_bytes` takes it: no control
/// byte but tab.
pub(crate) fn is_header_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A redirect target the portal is willing to send a browser to: an absolute http(s) URL.
pub(crate) fn safe_redirect(target: &str) -> Option<&str> {
    if target.len() > MAX_REDIRECT || target.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    let uri: Uri = target.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https"))
        .then_some(())
        .and(uri.authority())
        .map(|_| target)
}

pub(crate) fn no_store(html: String) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

async fn root() -> Redirect {
    Redirect::to("/login")
}

async fn not_found(State(portal): State<AppState>, headers: HeaderMap) -> Response {
    let lang = portal.lang(None, &headers);
    (
        StatusCode::NOT_FOUND,
        Html(pages::error(&portal.theme, lang, "error-not-found")),
    )
        .into_response()
}

/// A static file of the theme (also answered on intercepted connections, so a 511 page
/// on any host can show the venue's logo).
async fn asset(
    State(portal): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match portal.theme.asset(&path, &asked::Headers::Map(&headers)) {
        Some(r) => r.map(axum::body::Body::from),
        None => not_found(State(portal), headers).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_only_to_absolute_http_urls() {
        assert_eq!(
            safe_redirect("http://example.com/a?b=c"),
            Some("http://example.com/a?b=c")
        );
        assert_eq!(
            safe_redirect("https://example.com/"),
            Some("https://example.com/")
        );
        assert_eq!(safe_redirect("javascript:alert(1)"), None);
        assert_eq!(safe_redirect("/relative"), None);
        assert_eq!(safe_redirect("http://a/\r\nSet-Cookie: x"), None);
    }
}
