//! The admin web console (`--admin-web ADDR`): online sessions, vouchers, the walled
//! garden, status and the last day's graphs, for people who will not use a shell.
//!
//! Every page reads and every button changes through the admin API's own router (the
//! handlers behind the Unix socket), called in-process: one source of truth, the same
//! validation and the same errors. Pages are server-rendered HTML with no JavaScript.
//!
//! Its own accounts (argon2id, `netauth admin-user add`; separate from the portal's
//! users), a session cookie that is HttpOnly, SameSite=Strict and (over TLS) Secure, an
//! anti-forgery token in every form that changes anything, and failed logins limited per
//! address. It refuses connections from the LAN's own networks unless it was bound to a
//! LAN address: captive and signed-in guests never reach it.

mod access;
mod history;
mod pages;

pub use history::History;

use self::access::{change, cookie, login, login_page, logout, signed_in};

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Extension, Form, Router,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, Method, Request, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::portal::csrf::Csrf;

/// The console's session cookie.
const COOKIE: &str = "netauth_console";
/// How long a console login lasts.
const LOGIN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per address within [`FAILURE_WINDOW`].
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(600);

pub struct Console {
    /// The admin API's router.
    api: Router,
    accounts: PathBuf,
    /// Served over TLS: cookies are marked Secure.
    secure: bool,
    csrf: Csrf,
    logins: Mutex<HashMap<String, Login>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    history: Arc<History>,
    /// Networks on the LAN side that may not use the console (empty: bound on the LAN).
    refused: Vec<(IpAddr, u8)>,
}

struct Login {
    user: String,
    until: Instant,
}

/// The peer of a console connection.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

type St = Arc<Console>;

impl Console {
    pub fn new(
        api: Router,
        accounts: PathBuf,
        secure: bool,
        history: Arc<History>,
        refused: Vec<(IpAddr, u8)>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            api,
            accounts,
            secure,
            csrf: Csrf::new()?,
            logins: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            history,
            refused,
        }))
    }

    /// Whether a connection from `peer` may use the console.
    pub fn admits(&self, peer: IpAddr) -> bool {
        !self
            .refused
            .iter()
            .any(|(p, len)| crate::netlink::in_prefix(peer, *p, *len))
    }

    /// Calls the admin API: `(status, JSON body)`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let Ok(req) = req.body(body) else {
            return (StatusCode::BAD_REQUEST, json!({"error": "bad request"}));
        };
        let Ok(resp) = self.api.clone().oneshot(req).await;
        let status = resp.status();
        let bytes = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return (StatusCode::BAD_GATEWAY, json!({"error": e.to_string()})),
        };
        // JSON, except `/metrics` (Prometheus text, kept as a string).
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    /// The signed-in user behind a request's cookie, with the cookie's token.
    fn user(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let token = cookie(headers, COOKIE)?;
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        logins.retain(|_, l| l.until > now);
        logins.get(&token).map(|l| (l.user.clone(), token))
    }

    /// Whether `peer` has failed to log in too often lately.
    fn limited(&self, peer: IpAddr) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        f.get(&peer).is_some_and(|(n, _)| *n >= MAX_FAILURES)
    }

    fn failed(&self, peer: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let e = f.entry(peer).or_insert((0, Instant::now()));
        e.0 += 1;
    }
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sessions") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke", post(revoke))
        .route("/sessions/extend", post(extend))
        .route("/vouchers", get(vouchers).post(create_vouchers))
        .route("/vouchers/revoke", post(revoke_voucher))
        .route("/walled-garden", get(walled))
        .route("/walled-garden/add", post(walled_add))
        .route("/walled-garden/remove", post(walled_remove))
        .route("/status", get(status))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Html(pages::message("Not found", "No such page.")),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(console)
}

fn back(to: &str, note: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}note={}", pages::url_encode(note))).into_response()
}

fn api_error(v: &Value, status: StatusCode) -> String {
    v.get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| status.to_string())
}

/// A change through the API: the token checked, the call made, the outcome logged with
/// the console user, and the browser sent back to `page` with a note saying what happened.
struct Change<'a> {
    page: &'a str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// What the note says on success.
    done: String,
}

impl Console {
    async fn change(&self, headers: &HeaderMap, csrf: &str, ch: Change<'_>) -> Response {
        let (user, _) = match change(self, headers, csrf) {
            Ok(u) => u,
            Err(r) => return r.into_response(),
        };
        let (status, v) = self.call(ch.method, &ch.path, ch.body).await;
        if status.is_success() {
            info!(%user, "console: {}", ch.done);
            back(ch.page, &ch.done)
        } else {
            back(ch.page, &api_error(&v, status))
        }
    }

    /// A page's data from the API for the signed-in user: (user, their forms' token, JSON),
    /// or the answer instead (the login page, or the API's error).
    async fn read(
        &self,
        headers: &HeaderMap,
        title: &str,
        path: &str,
    ) -> Result<(String, String, Value), Response> {
        let (user, token) = signed_in(self, headers).map_err(IntoResponse::into_response)?;
        let (status, v) = self.call(Method::GET, path, None).await;
        if !status.is_success() {
            return Err(Html(pages::message(title, &api_error(&v, status))).into_response());
        }
        Ok((user, self.csrf.token(&token), v))
    }
}

#[derive(Deserialize, Default)]
struct Note {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

async fn sessions(State(c): State<St>, headers: HeaderMap, Query(n): Query<Note>) -> Response {
    let (user, csrf, v) = match c.read(&headers, "Sessions", "/v1/sessions").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = n.q.unwrap_or_default();
    let shown: Vec<Value> = v["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| q.is_empty() || pages::matches(s, &q))
        .cloned()
        .collect();
    let ctx = pages::Ctx {
        user: &user,
        csrf: &csrf,
        note: n.note.as_deref(),
    };
    Html(pages::sessions(&ctx, &shown, &q)).into_response()
}

#[derive(Deserialize)]
struct MacForm {
    #[serde(default)]
    mac: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    csrf: String,
}

async fn revoke(State(c): State<St>, headers: HeaderMap, Form(f): Form<MacForm>) -> Response {
    let Ok(mac) = f.mac.parse::<crate::model::Mac>() else {
        return back("/sessions", &format!("'{}' is not a MAC address", f.mac));
    };
    let ch = Change {
        page: "/sessions",
        method: Method::DELETE,
        path: format!("/v1/sessions/{mac}"),
        body: None,
        done: format!("{mac} revoked: captive again"),
    };
    c.change(&headers, &f.csrf, ch).await
}

async fn extend(State(c): State<St>, headers: HeaderMap, Form(f): Form<MacForm>) -> Response {
    let Ok(mac) = f.mac.parse::<crate::model::Mac>() else {
        return back("/sessions", &format!("'{}' is not a MAC address", f.mac));
    };
    let by = f.duration.trim();
    let ch = Change {
        page: "/sessions",
        method: Method::POST,
        path: format!("/v1/sessions/{mac}/extend"),
        body: Some(json!({ "duration": by })),
        done: format!("{mac} extended by {by}"),
    };
    c.change(&headers, &f.csrf, ch).await
}

async fn vouchers(State(c): State<St>, headers: HeaderMap, Query(n): Query<Note>) -> Response {
    let (user, csrf, v) = match c.read(&headers, "Vouchers", "/v1/vouchers").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = v["vouchers"].as_array().cloned().unwrap_or_default();
    let ctx = pages::Ctx {
        user: &user,
        csrf: &csrf,
        note: n.note.as_deref(),
    };
    Html(pages::vouchers(&ctx, &list)).into_response()
}

#[derive(Deserialize)]
struct VoucherForm {
    #[serde(default)]
    count: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    quota: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    csrf: String,
}

/// Creates a batch and answers its printable sheet.
async fn create_vouchers(
    State(c): State<St>,
    headers: HeaderMap,
    Form(f): Form<VoucherForm>,
) -> Response {
    let (user, _) = match change(&c, &headers, &f.csrf) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let count = match f.count.trim().parse::<u32>() {
        Ok(n @ 1..=1000) => n,
        _ => return back("/vouchers", "the count must be a number from 1 to 1000"),
    };
    let devices = match f.devices.trim() {
        "" => 1,
        d => match d.parse::<u32>() {
            Ok(n @ 1..=1000) => n,
            _ => return back("/vouchers", "devices must be a number from 1 to 1000"),
        },
    };
    let Ok(duration) = crate::config::parse_duration(f.duration.trim()) else {
        return back(
            "/vouchers",
            &format!("'{}' is not a duration (30m, 2h, 1d)", f.duration.trim()),
        );
    };
    let quota = match f.quota.trim() {
        "" => None,
        q => match crate::config::parse_bytes(q) {
            Ok(b) => Some(b),
            Err(e) => return back("/vouchers", &format!("quota: {e}")),
        },
    };
    let mut body = json!({
        "count": count,
        "duration": f.duration.trim(),
        "devices": devices,
    });
    if let Some(q) = quota {
        body["quota"] = json!(q);
    }
    let (status, v) = c.call(Method::POST, "/v1/vouchers", Some(body)).await;
    if !status.is_success() {
        return back("/vouchers", &api_error(&v, status));
    }
    let codes: Vec<String> = v["vouchers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    info!(%user, count = codes.len(), "console: vouchers created");
    Html(crate::portal::pages::voucher_sheet(
        &codes, duration, quota, devices,
    ))
    .into_response()
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn revoke_voucher(
    State(c): State<St>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let Some(code) = crate::vouchers::normalize(&f.code) else {
        return back("/vouchers", &format!("'{}' is not a voucher code", f.code));
    };
    let ch = Change {
        page: "/vouchers",
        method: Method::DELETE,
        path: format!("/v1/vouchers/{code}"),
        body: None,
        done: format!("{code} revoked"),
    };
    c.change(&headers, &f.csrf, ch).await
}

async fn walled(State(c): State<St>, headers: HeaderMap, Query(n): Query<Note>) -> Response {
    let (user, csrf, v) = match c.read(&headers, "Walled garden", "/v1/walled-garden").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ctx = pages::Ctx {
        user: &user,
        csrf: &csrf,
        note: n.note.as_deref(),
    };
    Html(pages::walled(&ctx, &v)).into_response()
}

#[derive(Deserialize)]
struct EntryForm {
    #[serde(default)]
    entry: String,
    #[serde(default)]
    csrf: String,
}

async fn walled_add(State(c): State<St>, headers: HeaderMap, Form(f): Form<EntryForm>) -> Response {
    let entry = f.entry.trim();
    let ch = Change {
        page: "/walled-garden",
        method: Method::POST,
        path: "/v1/walled-garden".into(),
        body: Some(json!({ "entry": entry })),
        done: format!("{entry} added to the walled garden"),
    };
    c.change(&headers, &f.csrf, ch).await
}

async fn walled_remove(
    State(c): State<St>,
    headers: HeaderMap,
    Form(f): Form<EntryForm>,
) -> Response {
    let entry = f.entry.trim();
    let ch = Change {
        page: "/walled-garden",
        method: Method::DELETE,
        path: format!("/v1/walled-garden/{}", pages::url_encode(entry)),
        body: None,
        done: format!("{entry} removed from the walled garden"),
    };
    c.change(&headers, &f.csrf, ch).await
}

async fn status(State(c): State<St>, headers: HeaderMap) -> Response {
    let (user, csrf, v) = match c.read(&headers, "Status", "/v1/status").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // RADIUS health and the accounting queue, as the metrics report them.
    let (_, m) = c.call(Method::GET, "/metrics", None).await;
    let health: Vec<(String, String)> = m
        .as_str()
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("netauth_radius_") || l.starts_with("netauth_store_"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ctx = pages::Ctx {
        user: &user,
        csrf: &csrf,
        note: None,
    };
    Html(pages::status(&ctx, &v, &health, &c.history.samples())).into_response()
}

/// Serves the console on `listener` forever (HTTPS with `tls`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let app = router(console.clone());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                warn!("console: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !console.admits(peer.ip()) {
            debug!(%peer, "console: connection from the LAN refused");
            continue;
        }
        let app = app.clone().layer(Extension(Peer(peer)));
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                app.clone().oneshot(req.map(Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            let result = match tls {
                Some(tls) => {
                    match tokio::time::timeout(Duration::from_secs(10), tls.accept(stream)).await {
                        Ok(Ok(s)) => {
                            builder
                                .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                                .await
                        }
                        _ => return,
                    }
                }
                None => {
                    builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = result {
                debug!(%peer, "console connection ended: {e}");
            }
        });
    }
}
