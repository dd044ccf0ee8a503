//! The captive portal's HTTP side: answers intercepted requests (511, or 302 for OS
//! probes), serves the login, status and logout pages, and ties each connection to the
//! client's MAC from what the kernel saw, never from anything the client sends.

pub mod api;
pub mod csrf;
pub mod pages;
pub mod probes;
pub mod serve;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Extension, Form, Router,
    extract::{DefaultBodyLimit, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tracing::{debug, warn};

use crate::{
    datapath::{FlowIdentity, Identity},
    model::Mac,
    session::{EndReason, SessionError, Sessions, Via},
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
    /// The datapath's record of which MAC sent each connection.
    pub identity: Arc<Identity>,
    /// Anti-forgery tokens of the login and logout forms.
    pub csrf: csrf::Csrf,
    /// The HTTPS side (RFC 8908 API and the portal pages over TLS), when configured.
    pub api: Option<ApiSettings>,
    /// How users log in.
    pub auth: crate::auth::Authenticator,
    /// RADIUS client, when configured.
    pub radius: Option<std::sync::Arc<crate::radius::Radius>>,
}

pub struct ApiSettings {
    pub port: u16,
    /// DNS name for https URLs (the certificate's name); else the portal address.
    pub hostname: Option<String>,
    pub venue_info_url: Option<String>,
}

pub(crate) type AppState = Arc<Portal>;

pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login_submit))
        .route("/status", get(status_page))
        .route("/logout", axum::routing::post(logout))
        .route("/api/captive", get(api::captive))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(portal.clone(), intercept))
        .with_state(portal)
}

/// Canonical form of an address (IPv4-mapped IPv6 becomes IPv4).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl Portal {
    /// Whether a connection reached the portal by interception rather than directly.
    pub fn is_intercepted(&self, conn: &ConnInfo) -> bool {
        let local = canonical(conn.local.ip());
        let own = match local {
            IpAddr::V4(a) => self.ipv4 == Some(a),
            IpAddr::V6(a) => self.ipv6 == Some(a),
        };
        let port = conn.local.port();
        !(own && (port == self.port || self.api.as_ref().is_some_and(|a| a.port == port)))
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

    /// The login URL on the portal address of the client's own address family.
    pub fn login_url(&self, conn: &ConnInfo, original: Option<&str>) -> String {
        let host = self.host_for(conn);
        let port = if self.port == 80 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        match original {
            Some(o) => {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("redirect", o)
                    .finish();
                format!("http://{host}{port}/login?{q}")
            }
            None => format!("http://{host}{port}/login"),
        }
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
    fn form_token(&self, conn: &ConnInfo) -> String {
        let who = match self.identify(conn) {
            Ok((mac, _)) => mac.to_string(),
            Err(_) => "unknown".to_string(),
        };
        self.csrf.token(&who)
    }

    /// Whether a form POST is genuine: sent from the portal's own page (when the browser
    /// says where from) with a token made for this device.
    fn form_is_genuine(&self, headers: &HeaderMap, mac: Mac, token: Option<&str>) -> bool {
        csrf::same_origin(headers) && token.is_some_and(|t| self.csrf.verify(&mac.to_string(), t))
    }

    /// A sentence telling a captive user why their last session ended, if it ended
    /// recently for a reason worth telling.
    pub async fn why_captive(&self, conn: &ConnInfo) -> Option<&'static str> {
        let (mac, _) = self.identify(conn).ok()?;
        let reason = self.sessions.recent_end_reason(mac, crate::clock::now())?;
        match reason.as_str() {
            "quota" => Some("Your data allowance is used up. Sign in again to continue."),
            "expired" => Some("Your session time is up. Sign in again to continue."),
            "idle" => Some(
                "Your session ended because the device was inactive. Sign in again to continue.",
            ),
            "revoked" | "disconnected" => Some("Your session was ended by the network operator."),
            _ => None,
        }
    }
}

/// Intercepted connections never reach the portal's own routes: they get 511, or 302 if
/// the request is an OS connectivity probe.
async fn intercept(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    req: Request,
    next: Next,
) -> Response {
    if !portal.is_intercepted(&conn) {
        return next.run(req).await;
    }
    let original = original_url(req.uri(), req.headers(), &conn);
    // A connection intercepted while the client was captive stays bound to the portal
    // socket after login (the kernel's established-socket lookup finds it first). Send the
    // request back to where it was going on a fresh connection: 307 to the same URL, and
    // close this one so the browser cannot reuse it.
    if let Ok((mac, _)) = portal.identify(&conn)
        && portal.sessions.is_authorized(mac)
    {
        debug!(client = %conn.remote, url = %original, "signed-in client on an intercepted connection: 307 and close");
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [
                (header::LOCATION, header_value(&original)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::CONNECTION, HeaderValue::from_static("close")),
            ],
        )
            .into_response();
    }
    let host = request_host(req.uri(), req.headers()).unwrap_or_default();
    let path = req.uri().path();
    let login = portal.login_url(&conn, Some(&original));
    if let Some(probe) = probes::match_probe(&host, path) {
        portal
            .sessions
            .stats
            .answered_302
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        debug!(client = %conn.remote, probe = probe.platform, "connectivity probe intercepted");
        return (
            StatusCode::FOUND,
            [
                (header::LOCATION, header_value(&login)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            Html(pages::moved(&login)),
        )
            .into_response();
    }
    portal
        .sessions
        .stats
        .answered_511
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    debug!(client = %conn.remote, url = %original, "intercepted, answering 511");
    let why = portal.why_captive(&conn).await;
    (
        StatusCode::NETWORK_AUTHENTICATION_REQUIRED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(pages::authentication_required(&portal.venue, &login, why)),
    )
        .into_response()
}

fn header_value(s: &str) -> HeaderValue {
    // Built only from escaped, encoded parts; fall back to a safe value all the same.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("/login"))
}

/// The Host a request names: the authority of an absolute-form URI, else the Host header,
/// if it is a plausible host name or address.
fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })?;
    let ok = !host.is_empty()
        && host.len() <= 260
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    ok.then(|| host.to_ascii_lowercase())
}

/// The URL the client originally asked for.
fn original_url(uri: &Uri, headers: &HeaderMap, conn: &ConnInfo) -> String {
    let host = request_host(uri, headers).unwrap_or_else(|| match conn.local {
        SocketAddr::V4(a) if a.port() == 80 => a.ip().to_string(),
        SocketAddr::V6(a) if a.port() == 80 => format!("[{}]", a.ip()),
        a => a.to_string(),
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut url = format!("http://{host}{path}");
    if url.len() > MAX_REDIRECT {
        url = format!("http://{host}/");
    }
    url
}

/// A redirect target the portal is willing to send a browser to: an absolute http(s) URL.
fn safe_redirect(target: &str) -> Option<&str> {
    if target.len() > MAX_REDIRECT || target.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    let uri: Uri = target.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https"))
        .then_some(())
        .and(uri.authority())
        .map(|_| target)
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("this request did not come from a client on the LAN ({0})")]
    NotOnLan(IpAddr),
    #[error("the connection's packets came from more than one device")]
    Ambiguous,
    #[error("the form was not sent from this portal's page")]
    Forged,
    #[error("the terms were not accepted")]
    NotAccepted,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("internal error")]
    Internal,
    #[error("the login service is unavailable")]
    AuthUnavailable,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PortalError::NotOnLan(_) => (
                StatusCode::FORBIDDEN,
                "Device not recognised",
                "This page can only be used from a device connected to the guest network. \
                 If you are connected, reconnect to the network and try again."
                    .to_string(),
            ),
            PortalError::Ambiguous => (
                StatusCode::CONFLICT,
                "Please try again",
                "We could not tell which device this request came from. Please try again."
                    .to_string(),
            ),
            PortalError::Forged => (
                StatusCode::FORBIDDEN,
                "Page expired",
                "This form has expired or was not sent from this network's sign-in page. \
                 Please go back, reload the page and try again."
                    .to_string(),
            ),
            PortalError::NotAccepted => (
                StatusCode::BAD_REQUEST,
                "Terms not accepted",
                "Please go back and accept the terms of use to connect.".to_string(),
            ),
            PortalError::Session(SessionError::Full) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Network full",
                "The network cannot take more devices right now. Please try again later."
                    .to_string(),
            ),
            PortalError::AuthUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in unavailable",
                "The sign-in service is not answering right now. Please try again in a minute."
                    .to_string(),
            ),
            PortalError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.".to_string(),
            ),
            PortalError::Session(SessionError::EndNotRecorded(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signed out",
                "Your device is signed out, but the network could not record it yet.".to_string(),
            ),
            PortalError::Session(SessionError::Store(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in unavailable",
                "The network cannot record sign-ins right now. Please try again in a minute."
                    .to_string(),
            ),
            PortalError::Session(e) => {
                warn!("portal request failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Your device could not be signed in. Please try again.".to_string(),
                )
            }
        };
        (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::error(title, &message)),
        )
            .into_response()
    }
}

fn no_store(html: String) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

async fn root() -> Redirect {
    Redirect::to("/login")
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::error(
            "Not found",
            "There is no such page on this portal.",
        )),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    redirect: Option<String>,
}

async fn login_page(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let redirect = q.redirect.as_deref().and_then(safe_redirect);
    let why = portal.why_captive(&conn).await;
    no_store(pages::login(
        &portal.venue,
        &portal.terms,
        portal.auth.method,
        redirect,
        why,
        &portal.form_token(&conn),
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
    accept: Option<String>,
    redirect: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
}

async fn login_submit(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PortalError> {
    let (mac, ip) = portal.identify(&conn)?;
    if !portal.form_is_genuine(&headers, mac, form.token.as_deref()) {
        tracing::info!(%mac, %ip, "login form without a valid token or from another origin: refused");
        let redirect = form.redirect.as_deref().and_then(safe_redirect);
        return Ok((
            StatusCode::FORBIDDEN,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(pages::login(
                &portal.venue,
                &portal.terms,
                portal.auth.method,
                redirect,
                Some("This page had expired. Please try again."),
                &portal.csrf.token(&mac.to_string()),
            )),
        )
            .into_response());
    }
    if form.accept.as_deref() != Some("1") {
        return Err(PortalError::NotAccepted);
    }
    let creds = crate::auth::Credentials {
        username: form.username,
        password: form.password,
        code: form.code,
    };
    let decision = match (&portal.auth.method, &portal.radius) {
        (crate::auth::Method::Radius, Some(radius)) => match (&creds.username, &creds.password) {
            (Some(u), Some(p)) if !u.trim().is_empty() => {
                match radius
                    .authenticate(u.trim(), Some(p.as_bytes()), mac, Some(ip))
                    .await
                {
                    Ok(crate::radius::Decision::Accept(g)) => Ok(*g),
                    Ok(crate::radius::Decision::Reject) => Err(crate::auth::AuthError::Invalid),
                    Err(e) => {
                        tracing::warn!(%mac, "RADIUS login not decided: {e}");
                        return Err(PortalError::AuthUnavailable);
                    }
                }
            }
            _ => Err(crate::auth::AuthError::Invalid),
        },
        _ => {
            let p = portal.clone();
            // Password hashing, store reads and writes: off the async workers.
            tokio::task::spawn_blocking(move || p.auth.authenticate(&creds, mac, &p.sessions))
                .await
                .map_err(|_| PortalError::Internal)?
        }
    };
    let grant = match decision {
        Ok(g) => {
            portal.auth.forget_failures(ip);
            g
        }
        Err(crate::auth::AuthError::Invalid) => {
            let delay = portal.auth.failure_delay(ip);
            tracing::info!(%mac, %ip, delay_ms = delay.as_millis() as u64, "login refused");
            tokio::time::sleep(delay).await;
            let redirect = form.redirect.as_deref().and_then(safe_redirect);
            let message = match portal.auth.method {
                crate::auth::Method::Voucher => "Invalid voucher code.",
                _ => "Invalid user name or password.",
            };
            return Ok((
                StatusCode::FORBIDDEN,
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                Html(pages::login(
                    &portal.venue,
                    &portal.terms,
                    portal.auth.method,
                    redirect,
                    Some(message),
                    &portal.csrf.token(&mac.to_string()),
                )),
            )
                .into_response());
        }
        Err(crate::auth::AuthError::Unavailable) => return Err(PortalError::AuthUnavailable),
    };
    let via = match portal.auth.method {
        crate::auth::Method::ClickThrough => Via::ClickThrough,
        crate::auth::Method::Local => Via::Local,
        crate::auth::Method::Voucher => Via::Voucher,
        crate::auth::Method::Radius => Via::Radius,
    };
    let sessions = portal.sessions.clone();
    // Map update and an fsynced store write: off the async workers.
    tokio::task::spawn_blocking(move || {
        sessions.authorize(mac, Some(ip), via, grant, crate::clock::now())
    })
    .await
    .map_err(|_| PortalError::Internal)??;
    let target = form
        .redirect
        .as_deref()
        .and_then(safe_redirect)
        .unwrap_or("/status");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, header_value(target)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

async fn status_page(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
) -> Result<Response, PortalError> {
    let (mac, _) = portal.identify(&conn)?;
    let session = portal.sessions.get(mac, crate::clock::now());
    Ok(no_store(pages::status(
        &portal.venue,
        session.as_ref(),
        &portal.csrf.token(&mac.to_string()),
    )))
}

#[derive(Deserialize)]
struct LogoutForm {
    token: Option<String>,
}

async fn logout(
    State(portal): State<AppState>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PortalError> {
    let (mac, _) = portal.identify(&conn)?;
    if !portal.form_is_genuine(&headers, mac, form.token.as_deref()) {
        tracing::info!(%mac, "logout form without a valid token or from another origin: refused");
        return Err(PortalError::Forged);
    }
    let sessions = portal.sessions.clone();
    tokio::task::spawn_blocking(move || sessions.end(mac, EndReason::Logout, crate::clock::now()))
        .await
        .map_err(|_| PortalError::Internal)??;
    Ok(no_store(pages::signed_out(&portal.venue)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(local: &str, remote: &str) -> ConnInfo {
        ConnInfo {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

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

    #[test]
    fn original_url_uses_host_header_or_destination() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("Example.com"));
        let c = conn("203.0.113.7:80", "192.0.2.10:40000");
        let uri: Uri = "/path?q=1".parse().unwrap();
        assert_eq!(original_url(&uri, &h, &c), "http://example.com/path?q=1");
        assert_eq!(
            original_url(&uri, &HeaderMap::new(), &c),
            "http://203.0.113.7/path?q=1"
        );
        h.insert(header::HOST, HeaderValue::from_static("bad\"host<"));
        assert_eq!(original_url(&uri, &h, &c), "http://203.0.113.7/path?q=1");
    }
}
