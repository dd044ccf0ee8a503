//! Requests that were going elsewhere: a captive client's plain HTTP to any address,
//! steered here by the datapath. They never reach the portal's own routes: an OS
//! connectivity probe gets 302 to the login page (so the OS shows its sign-in window),
//! anything else 511 (RFC 6585) with a link to it.

use std::{net::SocketAddr, sync::atomic::Ordering};

use axum::{
    Extension,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use tracing::debug;

use super::{AppState, ConnInfo, MAX_REDIRECT, header_value, pages, probes};

/// Intercepted connections never reach the portal's own routes: they get 511, or 302 if
/// the request is an OS connectivity probe.
pub(super) async fn intercept(
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
        && portal.clients.is_authorized(mac)
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
        portal.stats.answered_302.fetch_add(1, Ordering::Relaxed);
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
    portal.stats.answered_511.fetch_add(1, Ordering::Relaxed);
    debug!(client = %conn.remote, url = %original, "intercepted, answering 511");
    let why = portal.why_captive(&conn).await;
    (
        StatusCode::NETWORK_AUTHENTICATION_REQUIRED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(pages::authentication_required(&portal.venue, &login, why)),
    )
        .into_response()
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
