//! Requests that were going elsewhere: a captive client's plain HTTP to any address,
//! steered here by the datapath. They never reach the portal's own routes: an OS
//! connectivity probe gets 302 to the login page (so the OS shows its sign-in window),
//! anything else 511 (RFC 6585) with a link to it.
//!
//! Every captive device sends these, often, so they are answered without the router:
//! the pages are rendered once ([`Template`]) and only the login URL is put in per
//! answer, and who sent the connection, where it was going and the login URL's start are
//! worked out once, when it is accepted. Per request the portal asks the kernel only when
//! the answer depends on it.

use std::{borrow::Cow, net::SocketAddr, sync::Arc, sync::atomic::Ordering};

use axum::{
    body::Bytes,
    http::{HeaderValue, Response, StatusCode, header, request::Parts},
};
use tracing::debug;

use super::asked::{Asked, Headers};
use super::{
    MAX_REDIRECT, Portal, header_value,
    pages::{Template, Why},
    probes,
};
use crate::identity::FlowIdentity;

/// One accepted intercepted connection: where it was going and who sent it, as the
/// datapath recorded it when the connection was accepted.
#[derive(Clone, Debug)]
pub struct Intercepted {
    pub conn: super::ConnInfo,
    pub who: FlowIdentity,
    /// The login URL up to its `redirect` value: the portal's address of the client's
    /// family, which the connection's addresses fix.
    login_prefix: String,
    /// The original destination as a URL's host, for requests that name no usable Host.
    destination: String,
}

impl Intercepted {
    pub fn new(portal: &Portal, conn: super::ConnInfo, who: FlowIdentity) -> Self {
        Self {
            login_prefix: portal.login_url(&conn, Some("")),
            destination: destination_host(&conn),
            conn,
            who,
        }
    }

    /// [`Portal::login_url`] with `original` as the redirect, from the prepared start.
    fn login_url(&self, original: &str) -> String {
        let mut url = String::with_capacity(self.login_prefix.len() + original.len() * 2);
        url.push_str(&self.login_prefix);
        url.extend(form_urlencoded::byte_serialize(original.as_bytes()));
        url
    }
}

/// The answers to intercepted requests, prepared once per language.
pub struct Answers {
    portal: Arc<Portal>,
    /// Per language: the 511 page without a reason, then one per [`Why`].
    page_511: Vec<Vec<Template>>,
    page_302: Vec<Template>,
}

impl Answers {
    pub fn new(portal: Arc<Portal>) -> Self {
        let theme = &portal.theme;
        let langs = 0..theme.i18n.langs.len();
        Self {
            page_511: langs
                .clone()
                .map(|l| {
                    std::iter::once(None)
                        .chain(Why::ALL.map(Some))
                        .map(|why| Template::authentication_required(theme, l, &portal.venue, why))
                        .collect()
                })
                .collect(),
            page_302: langs.map(|l| Template::moved(theme, l)).collect(),
            portal,
        }
    }

    /// The prepared 511 page in `lang` for `why`.
    fn page_511(&self, lang: usize, why: Option<Why>) -> &Template {
        let i = why.map_or(0, |w| {
            1 + Why::ALL.iter().position(|x| *x == w).unwrap_or(0)
        });
        &self.page_511[lang][i]
    }

    /// The answer to one request on an intercepted connection (h2c), as a response.
    pub fn answer(&self, c: &Intercepted, req: &Parts) -> Response<Bytes> {
        self.reply(c, &Asked::of(&req.uri, Headers::Map(&req.headers)))
            .into_response()
    }

    /// What to answer one request on an intercepted connection: 307 back to where it was
    /// going if the device has signed in since, else 302 for an OS probe, else 511. Of the
    /// request's headers it reads only Host, Accept-Language and If-None-Match.
    pub fn reply<'s>(&'s self, c: &Intercepted, req: &Asked<'_>) -> Reply<'s> {
        let portal = &self.portal;
        let host = request_host(req.authority, &req.headers);
        let original = original_url(
            host.as_deref().unwrap_or(&c.destination),
            req.path_and_query,
        );
        // A connection intercepted while the client was captive stays bound to the portal
        // socket after login (the kernel's established-socket lookup finds it first). Send
        // the request back to where it was going on a fresh connection: 307 to the same
        // URL, and close this one so the browser cannot reuse it.
        if self.signed_in(c) {
            debug!(client = %c.conn.remote, url = %original, "signed-in client on an intercepted connection: 307 and close");
            return Reply::Back(original);
        }
        let path = req.path();
        // The theme's static files, so that the 511 page can show them on any host.
        if let Some(asset) = path.strip_prefix(super::theme::ASSET_PREFIX)
            && let Some(r) = portal.theme.asset(asset, &req.headers)
        {
            return Reply::Ready(r);
        }
        let lang = portal
            .theme
            .i18n
            .choose(None, req.headers.str(&header::ACCEPT_LANGUAGE));
        let login = c.login_url(&original);
        // A connectivity probe, or plain HTTP to the gateway itself (RFC 6585 says an
        // origin server should not send 511): a 302 to the login page.
        let redirect = probes::match_probe(host.as_deref().unwrap_or_default(), path)
            .map(|p| p.platform)
            .or_else(|| {
                portal
                    .is_portal_address(c.conn.local.ip())
                    .then_some("the gateway's own address")
            });
        if let Some(why) = redirect {
            portal.stats.answered_302.fetch_add(1, Ordering::Relaxed);
            debug!(client = %c.conn.remote, probe = why, "connectivity probe or the gateway itself: 302");
            return Reply::Page {
                status: StatusCode::FOUND,
                page: &self.page_302[lang],
                login,
            };
        }
        portal.stats.answered_511.fetch_add(1, Ordering::Relaxed);
        debug!(client = %c.conn.remote, url = %original, "intercepted, answering 511");
        let why = match c.who {
            FlowIdentity::Mac(mac) => portal.why_mac_is_captive(mac),
            _ => portal.why_captive(&c.conn),
        };
        Reply::Page {
            status: StatusCode::NETWORK_AUTHENTICATION_REQUIRED,
            page: self.page_511(lang, why),
            login,
        }
    }

    /// Whether the device behind the connection is let through now. The session table
    /// answers first, without the kernel: the datapath passes no device without a session
    /// that was started while this daemon ran (the table is the client map's one writer,
    /// and adds a session under the same lock as its map entry; a device in the map
    /// without one was there before this daemon started, so no connection of it was ever
    /// steered to this portal). Only a device with a session is checked as before: the
    /// connection's own sender, now, and the map.
    fn signed_in(&self, c: &Intercepted) -> bool {
        let portal = &self.portal;
        if let FlowIdentity::Mac(mac) = c.who
            && !portal.sessions.has(mac)
        {
            return false;
        }
        portal
            .identify(&c.conn)
            .is_ok_and(|(mac, _)| portal.clients.is_authorized(mac))
    }
}

/// The answer to an intercepted request, before it is put in a response (h2c) or written
/// straight into the HTTP/1 responder's send buffer.
pub enum Reply<'a> {
    /// The device has signed in since: 307 back to this URL, and the connection closed.
    Back(String),
    /// An answer already made: a theme file or its 304 (or, from the HTTP/1 responder,
    /// a refusal).
    Ready(Response<Bytes>),
    /// A prepared page with the login URL put in: 302 to it (a probe), or 511.
    Page {
        status: StatusCode,
        page: &'a Template,
        login: String,
    },
}

impl Reply<'_> {
    pub fn into_response(self) -> Response<Bytes> {
        match self {
            Reply::Back(original) => {
                let mut r = response(StatusCode::TEMPORARY_REDIRECT, Bytes::new());
                let h = r.headers_mut();
                h.insert(header::LOCATION, header_value(&original));
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
            Reply::Ready(r) => r,
            Reply::Page {
                status,
                page,
                login,
            } => {
                let mut r = response(status, page.render(&login).into());
                if status == StatusCode::FOUND {
                    r.headers_mut()
                        .insert(header::LOCATION, header_value(&login));
                }
                html(r)
            }
        }
    }
}

fn response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html(mut r: Response<Bytes>) -> Response<Bytes> {
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The Host a request names: the authority of an absolute-form URI, else the Host header,
/// if it is a plausible host name or address.
fn request_host<'a>(authority: Option<&'a str>, headers: &Headers<'a>) -> Option<Cow<'a, str>> {
    let host = match authority {
        Some(a) => a,
        None => headers.str(&header::HOST)?,
    };
    let ok = !host.is_empty()
        && host.len() <= 260
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    if !ok {
        return None;
    }
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

/// The original destination of a connection as a URL's host (and port, unless 80).
fn destination_host(conn: &super::ConnInfo) -> String {
    match conn.local {
        SocketAddr::V4(a) if a.port() == 80 => a.ip().to_string(),
        SocketAddr::V6(a) if a.port() == 80 => format!("[{}]", a.ip()),
        a => a.to_string(),
    }
}

/// The URL the client originally asked for, on `host` (the one it named if plausible,
/// else where the connection was going).
fn original_url(host: &str, path: &str) -> String {
    let path = if "http://".len() + host.len() + path.len() > MAX_REDIRECT {
        "/"
    } else {
        path
    };
    let mut url = String::with_capacity("http://".len() + host.len() + path.len());
    url.push_str("http://");
    url.push_str(host);
    url.push_str(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Uri};

    fn conn(local: &str, remote: &str) -> super::super::ConnInfo {
        super::super::ConnInfo {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn original_url_uses_host_header_or_destination() {
        let url = |headers: &HeaderMap, uri: &Uri, c| {
            let asked = Asked::of(uri, Headers::Map(headers));
            let host = request_host(asked.authority, &asked.headers);
            original_url(
                host.as_deref().unwrap_or(&destination_host(c)),
                asked.path_and_query,
            )
        };
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("Example.com"));
        let c = conn("203.0.113.7:80", "192.0.2.10:40000");
        let uri: Uri = "/path?q=1".parse().unwrap();
        assert_eq!(url(&h, &uri, &c), "http://example.com/path?q=1");
        assert_eq!(
            url(&HeaderMap::new(), &uri, &c),
            "http://203.0.113.7/path?q=1"
        );
        h.insert(header::HOST, HeaderValue::from_static("bad\"host<"));
        assert_eq!(url(&h, &uri, &c), "http://203.0.113.7/path?q=1");
        let absolute: Uri = "http://Other.example:8080/x".parse().unwrap();
        assert_eq!(url(&h, &absolute, &c), "http://other.example:8080/x");
        let long: Uri = format!("/{}", "a".repeat(MAX_REDIRECT)).parse().unwrap();
        assert_eq!(url(&h, &long, &c), "http://203.0.113.7/");
        let v6 = conn("[2001:db8::7]:8080", "[2001:db8::10]:40000");
        assert_eq!(
            url(&HeaderMap::new(), &uri, &v6),
            "http://[2001:db8::7]:8080/path?q=1"
        );
    }

    #[test]
    fn login_url_from_the_prepared_start_matches_the_portals() {
        // The prepared start is the portal's login URL with an empty redirect; the rest
        // is the value encoded as the portal's own form encoder does it.
        for original in [
            "http://example.com/a b?c=d&e=\u{e9}#f",
            "http://[2001:db8::1]/%41",
        ] {
            let whole: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("redirect", original)
                .finish();
            let empty: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("redirect", "")
                .finish();
            let rest: String = form_urlencoded::byte_serialize(original.as_bytes()).collect();
            assert_eq!(whole, format!("{empty}{rest}"));
        }
    }
}
