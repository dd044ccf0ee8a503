//! The admin API: HTTP+JSON over a Unix socket (mode 0600, so only root or the socket's
//! owner can use it), and the client the CLI verbs use.
//!
//! | method | path                      | body                                   | answer               |
//! |--------|---------------------------|----------------------------------------|----------------------|
//! | GET    | /v1/sessions              |                                        | `{"sessions":[...]}` |
//! | GET    | /v1/sessions/{mac}        |                                        | the session          |
//! | POST   | /v1/sessions              | `{"mac","duration","idle","quota",...}`| 201 + the session    |
//! | POST   | /v1/sessions/{mac}/extend | `{"duration":"1h"}`                    | the session          |
//! | DELETE | /v1/sessions/{mac}        |                                        | 200 + ended session  |
//! | GET    | /v1/status                |                                        | daemon facts         |
//! | POST   | /v1/shutdown              | `{"detach":true}`                      | 202                  |
//! | GET    | /metrics                  |                                        | Prometheus text      |

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, bail};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path as UrlPath, Request, State, rejection::JsonRejection},
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
};
use tower::ServiceExt as _;
use tracing::{debug, warn};

use crate::{
    config::{bytes_in_range, parse_bytes, parse_duration},
    model::Mac,
    session::{EndReason, Grant, Quota, SessionError, SessionView, Sessions, Via},
};

pub struct AdminState {
    pub sessions: Arc<Sessions>,
    pub walled: Arc<crate::walled::WalledGarden>,
    pub facts: Value,
    /// Asks the daemon to stop; `true`: and take the datapath down.
    pub shutdown: tokio::sync::mpsc::Sender<bool>,
    pub radius: Option<Arc<crate::radius::Radius>>,
    /// The LAN interface's neighbour table (addresses of devices an operator allows).
    pub lan: Option<crate::netlink::Lan>,
}

/// Binds the admin socket, refusing to steal one a live daemon is serving.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            bail!(
                "another netauth is already serving the admin socket {} (use --admin-socket for a second instance)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", path.display()))?;
    Ok(listener)
}

pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/v1/sessions", get(list).post(allow))
        .route("/v1/sessions/{mac}", delete(revoke).get(show))
        .route("/v1/sessions/{mac}/extend", post(extend))
        .route("/v1/status", get(status))
        .route("/v1/shutdown", post(shutdown))
        .route("/metrics", get(metrics))
        .route("/v1/vouchers", get(voucher_list).post(voucher_create))
        .route("/v1/vouchers/{code}", delete(voucher_revoke))
        .route("/v1/walled-garden", get(walled_list).post(walled_add))
        .route("/v1/walled-garden/{*entry}", delete(walled_remove))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::MethodNotAllowed(format!(
                "{} does not take {method} (see the Allow header)",
                uri.path()
            ))
        })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(state)
}

/// Makes every error answer `{"error":"..."}`: axum answers some requests itself, in plain
/// text (a path segment that does not decode, ...); those are rewritten here, in one place.
async fn json_errors(req: Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match http_body_util::Limited::new(body, 4096).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let msg = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut out = (status, Json(json!({ "error": msg }))).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// Longest request head and request target the admin socket reads.
const MAX_HEAD: usize = 16 * 1024;
const MAX_TARGET: usize = 8 * 1024;
/// Header fields per request (hyper's default).
const MAX_HEADERS: usize = 100;
/// A request head must arrive within this long.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the admin API on `listener`, one request per connection, until cancelled.
///
/// Not `axum::serve`: hyper answers requests it cannot parse (a target over 64 KiB: 414,
/// a head too large: 431, a malformed line: 400) by itself and without a body. So the
/// head is read and checked here first, with the rules hyper applies, and refused with
/// `{"error":"..."}`; only a head that passes is handed to hyper, which then parses it
/// the same way.
pub async fn serve(listener: UnixListener, app: Router) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, app.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                warn!("admin socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(mut stream: UnixStream, app: Router) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        // Closed (or failed) before a whole head: nobody to answer.
        Ok(Ok(None)) => return,
        Ok(Err((status, msg))) => return refuse(stream, status, &msg).await,
        Err(_) => {
            let msg = format!("no request head within {} s", HEAD_TIMEOUT.as_secs());
            return refuse(stream, StatusCode::REQUEST_TIMEOUT, &msg).await;
        }
    };
    let (rd, wr) = stream.into_split();
    let io = tokio::io::join(std::io::Cursor::new(head).chain(rd), wr);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        app.clone().oneshot(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(false);
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        debug!("admin connection ended: {e}");
    }
}

/// Reads until the end of the request head (the bytes may run into the body).
/// `Ok(None)`: the client went away first; `Err`: the answer that refuses the request.
async fn read_head(stream: &mut UnixStream) -> Result<Option<Vec<u8>>, (StatusCode, String)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let verdict = {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => Some(check_head(&req).and_then(|()| {
                    if len > MAX_HEAD {
                        Err(head_too_large())
                    } else {
                        Ok(())
                    }
                })),
                Ok(httparse::Status::Partial) => None,
                Err(httparse::Error::TooManyHeaders) => Some(Err((
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    format!("more than {MAX_HEADERS} header fields"),
                ))),
                Err(e) => Some(Err((
                    StatusCode::BAD_REQUEST,
                    format!("malformed request: {e}"),
                ))),
            }
        };
        match verdict {
            Some(Ok(())) => return Ok(Some(buf)),
            Some(Err(refusal)) => return Err(refusal),
            None => {}
        }
        if buf.len() > MAX_HEAD {
            let line = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
            return Err(if line > MAX_TARGET {
                target_too_long()
            } else {
                head_too_large()
            });
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn head_too_large() -> (StatusCode, String) {
    (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        format!("the request head is longer than {} KiB", MAX_HEAD / 1024),
    )
}

fn target_too_long() -> (StatusCode, String) {
    (
        StatusCode::URI_TOO_LONG,
        format!(
            "the request target is longer than {} KiB",
            MAX_TARGET / 1024
        ),
    )
}

/// What hyper refuses in a parsed head (its `Server::parse`), refused here first.
fn check_head(req: &httparse::Request) -> Result<(), (StatusCode, String)> {
    let bad = |m: &str| Err((StatusCode::BAD_REQUEST, m.to_string()));
    let target = req.path.unwrap_or_default();
    if target.len() > MAX_TARGET {
        return Err(target_too_long());
    }
    if axum::http::Method::from_bytes(req.method.unwrap_or_default().as_bytes()).is_err() {
        return bad("malformed request: bad method");
    }
    if target.parse::<axum::http::Uri>().is_err() {
        return bad("malformed request: bad request target");
    }
    let http11 = req.version == Some(1);
    let mut length = None;
    let mut chunked = None;
    for h in req.headers.iter() {
        if header::HeaderName::from_bytes(h.name.as_bytes()).is_err()
            || header::HeaderValue::from_bytes(h.value).is_err()
        {
            return bad("malformed request: bad header field");
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return bad("HTTP/1.0 requests cannot have Transfer-Encoding");
            }
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|b| *b == b',') {
                let n = std::str::from_utf8(part.trim_ascii())
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u64>().ok());
                match (n, length) {
                    (None, _) => return bad("malformed request: bad Content-Length"),
                    (Some(n), Some(prev)) if n != prev => {
                        return bad("malformed request: differing Content-Length values");
                    }
                    (Some(n), _) => length = Some(n),
                }
            }
        }
    }
    if chunked == Some(false) {
        return bad("malformed request: Transfer-Encoding must end with chunked");
    }
    Ok(())
}

/// Answers `status` with `{"error": msg}` and closes, reading what the client still sends
/// for a moment so it sees the answer and an orderly end rather than a reset.
async fn refuse(mut stream: UnixStream, status: StatusCode, msg: &str) {
    let body = json!({ "error": msg }).to_string();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err()
        || stream.write_all(body.as_bytes()).await.is_err()
        || stream.shutdown().await.is_err()
    {
        return;
    }
    let mut sink = [0u8; 8192];
    let mut left = 1usize << 20;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Internal(String),
    /// The change could not be recorded (the store refused it): 503.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        };
        (status, Json(json!({ "error": msg }))).into_response()
    }
}

fn parse_mac(s: &str) -> Result<Mac, ApiError> {
    s.parse().map_err(|e| ApiError::BadRequest(format!("{e}")))
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound(m) => ApiError::NotFound(format!("no session for {m}")),
            e @ (SessionError::Store(_) | SessionError::EndNotRecorded(_)) => {
                ApiError::Unavailable(format!("could not record: {e}"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Streams the listing: with 100k sessions, one JSON document built in memory cost the
/// daemon 65-130 MB per request, which the allocator kept.
async fn list(State(st): State<Arc<AdminState>>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let sessions = st.sessions.clone();
    tokio::task::spawn_blocking(move || {
        sessions.list_json(crate::clock::now(), |piece| tx.blocking_send(piece).is_ok());
        crate::memory::give_back();
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|piece| (Ok::<_, std::convert::Infallible>(Bytes::from(piece)), rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

async fn show(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    st.sessions
        .get(mac, crate::clock::now())
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no session for {mac}")))
}

/// Durations are strings ("2h"); byte counts are numbers or strings ("500M").
type AllowBody = netauth_common::api::AllowRequest;

fn bytes_field(name: &str, v: Option<&Value>) -> Result<Option<u64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(b) => bytes_in_range(b)
                .map(Some)
                .map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))),
            None => Err(ApiError::BadRequest(format!(
                "{name} must be a positive whole number of bytes, not {n}"
            ))),
        },
        Some(Value::String(s)) => parse_bytes(s)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{name} must be a number or a string like \"500M\", not {other}"
        ))),
    }
}

fn duration_field(name: &str, v: Option<&str>) -> Result<Option<std::time::Duration>, ApiError> {
    v.map(parse_duration)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
}

async fn allow(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<AllowBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mac = parse_mac(&body.mac)?;
    let grant = Grant {
        duration: duration_field("duration", body.duration.as_deref())?,
        idle: duration_field("idle", body.idle.as_deref())?,
        quota: Quota {
            total: bytes_field("quota", body.quota.as_ref())?,
            up: bytes_field("quota_up", body.quota_up.as_ref())?,
            down: bytes_field("quota_down", body.quota_down.as_ref())?,
        },
        ..Grant::default()
    };
    let sessions = st.sessions.clone();
    // Map update and an fsynced store write: off the async workers.
    let session = tokio::task::spawn_blocking(move || {
        sessions.authorize(mac, None, Via::Admin, grant, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if let Some(lan) = &st.lan {
        match crate::netlink::neighbour_addresses(&lan.handle, lan.ifindex, mac).await {
            Ok(ips) if !ips.is_empty() => {
                let sessions = st.sessions.clone();
                let _ =
                    tokio::task::spawn_blocking(move || sessions.adopt_addresses(mac, &ips)).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%mac, "neighbour table: {e:#}"),
        }
    }
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

type ExtendBody = netauth_common::api::ExtendRequest;

async fn extend(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
    body: Result<Json<ExtendBody>, JsonRejection>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let by = parse_duration(&body.duration)
        .map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?;
    let sessions = st.sessions.clone();
    let v = tokio::task::spawn_blocking(move || sessions.extend(mac, by, crate::clock::now()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(v))
}

async fn revoke(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    let mac = parse_mac(&mac)?;
    let sessions = st.sessions.clone();
    match tokio::task::spawn_blocking(move || {
        sessions.end(mac, EndReason::Revoked, crate::clock::now())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        Ok(Some(s)) => Ok(Json(s)),
        Ok(None) => Err(ApiError::NotFound(format!("no session for {mac}"))),
        Err(e) => Err(e.into()),
    }
}

async fn status(State(st): State<Arc<AdminState>>) -> Json<Value> {
    let counters: serde_json::Map<String, Value> = st
        .sessions
        .counters()
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut facts = st.facts.clone();
    facts["sessions"] = json!(st.sessions.count());
    facts["map_entries"] = json!(st.sessions.map_entries());
    facts["store"] = json!(st.sessions.store_health());
    facts["clock"] = json!({
        "wall_ms": crate::clock::real_wall_ms(),
        "boot_ms": crate::clock::boot_ms(),
        "kernel_synced": crate::clock::kernel_synced(),
        "wall_clock_trusted": crate::clock::wall_trusted(),
    });
    facts["counters"] = Value::Object(counters);
    Json(facts)
}

type ShutdownBody = netauth_common::api::ShutdownRequest;

async fn shutdown(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<ShutdownBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    st.shutdown
        .send(body.detach)
        .await
        .map_err(|_| ApiError::Internal("already shutting down".into()))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "detach": body.detach }))).into_response())
}

type VoucherBody = netauth_common::api::VoucherRequest;

async fn voucher_create(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<VoucherBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !(1..=10_000).contains(&body.count) {
        return Err(ApiError::BadRequest("count must be 1..=10000".into()));
    }
    let duration = parse_duration(&body.duration)
        .map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?;
    let quota = bytes_field("quota", body.quota.as_ref())?;
    let devices = body.devices.unwrap_or(1);
    if !(1..=1000).contains(&devices) {
        return Err(ApiError::BadRequest("devices must be 1..=1000".into()));
    }
    let sessions = st.sessions.clone();
    let v = tokio::task::spawn_blocking(move || {
        sessions.create_vouchers(
            body.count as usize,
            duration,
            quota,
            devices,
            crate::clock::now(),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("{e:#}")))?;
    Ok((StatusCode::CREATED, Json(json!({ "vouchers": v }))).into_response())
}

async fn voucher_list(State(st): State<Arc<AdminState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "vouchers": st.sessions.vouchers()? })))
}

async fn voucher_revoke(
    State(st): State<Arc<AdminState>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let code = crate::auth::normalize_code(&code)
        .ok_or_else(|| ApiError::BadRequest(format!("'{code}' is not a voucher code")))?;
    let sessions = st.sessions.clone();
    let c = code.clone();
    let found =
        tokio::task::spawn_blocking(move || sessions.revoke_voucher(&c, crate::clock::now()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    if found {
        Ok(Json(json!({ "revoked": code })))
    } else {
        Err(ApiError::NotFound(format!("no voucher {code}")))
    }
}

async fn walled_list(State(st): State<Arc<AdminState>>) -> Json<Value> {
    Json(json!({ "entries": st.walled.list() }))
}

type WalledBody = netauth_common::api::WalledRequest;

async fn walled_add(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<WalledBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let entry = crate::walled::Entry::parse(&body.entry).map_err(ApiError::BadRequest)?;
    st.sessions.walled_persist(&entry.to_string(), true)?;
    let added = st.walled.add(entry.clone());
    let code = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(json!({ "entry": entry.to_string() }))).into_response())
}

async fn walled_remove(
    State(st): State<Arc<AdminState>>,
    UrlPath(entry): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = crate::walled::Entry::parse(&entry).map_err(ApiError::BadRequest)?;
    match st.walled.remove(&entry) {
        Ok(true) => {
            st.sessions.walled_persist(&entry.to_string(), false)?;
            Ok(Json(json!({ "entry": entry.to_string() })))
        }
        Ok(false) => Err(ApiError::NotFound(format!(
            "{entry} is not in the walled garden"
        ))),
        Err(why) => Err(ApiError::BadRequest(why.into())),
    }
}

async fn metrics(State(st): State<Arc<AdminState>>) -> Response {
    let sessions = st.sessions.clone();
    let radius = st.radius.clone();
    let text =
        tokio::task::spawn_blocking(move || crate::metrics::render(&sessions, radius.as_deref()))
            .await
            .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A one-request-per-connection client for the admin socket.
pub struct AdminClient {
    pub socket: PathBuf,
}

impl AdminClient {
    /// Sends one request; returns the status code and the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let stream = UnixStream::connect(&self.socket).await.with_context(|| {
            format!(
                "cannot reach the netauth daemon at {} (is `netauth run` running? see --admin-socket)",
                self.socket.display()
            )
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("admin socket handshake")?;
        tokio::spawn(conn);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "netauth")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let resp = sender.send_request(req).await.context("admin request")?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }
}
