//! The admin API: HTTP+JSON over a Unix socket (mode 0600, so only root or the socket's
//! owner can use it). The wire types and the typed client are in `netauth_common::api`.
//! Handlers are grouped by what they manage: [`sessions`], [`vouchers`], [`walled`],
//! the [`daemon`] itself; [`serve`] is the socket's HTTP server.
//!
//! | method | path                      | body                                   | answer               |
//! |--------|---------------------------|----------------------------------------|----------------------|
//! | GET    | /v1/sessions              |                                        | `{"sessions":[...]}` |
//! | GET    | /v1/sessions/{mac}        |                                        | the session          |
//! | POST   | /v1/sessions              | `{"mac","duration","idle","quota",...}`| 201 + the session    |
//! | POST   | /v1/sessions              | `[{...},...]` or NDJSON (a batch)      | 201 + `{"authorized","new","renewed"}` |
//! | POST   | /v1/sessions/{mac}/extend | `{"duration":"1h"}`                    | the session          |
//! | PATCH  | /v1/sessions/{mac}        | `{"rate_up":"2M","rate_down":"none"}`  | the session          |
//! | DELETE | /v1/sessions/{mac}        |                                        | 200 + ended session  |
//! | GET    | /v1/status                |                                        | daemon facts         |
//! | POST   | /v1/shutdown              | `{"detach":true}`                      | 202                  |
//! | GET    | /metrics                  |                                        | Prometheus text      |
//! | GET    | /v1/vouchers              |                                        | `{"vouchers":[...]}` |
//! | POST   | /v1/vouchers              | `{"count","duration","quota","devices"}`| 201 + the vouchers  |
//! | DELETE | /v1/vouchers/{code}       |                                        | `{"revoked":code}`   |
//! | GET    | /v1/walled-garden         |                                        | `{"entries":[...]}`  |
//! | POST   | /v1/walled-garden         | `{"entry":"host or prefix"}`           | 201 + the entry      |
//! | DELETE | /v1/walled-garden/{entry} |                                        | the entry            |

mod batch;
mod daemon;
mod serve;
mod sessions;
mod vouchers;
mod walled;

pub use serve::serve;

use std::{os::unix::fs::PermissionsExt as _, path::Path, sync::Arc};

use anyhow::{Context as _, bail};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request},
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tokio::net::{UnixListener, UnixStream};

use crate::{
    config::{bytes_in_range, parse_bytes, parse_duration},
    datapath::Counters,
    metrics::Metrics,
    model::Mac,
    sessions::{SessionError, Sessions},
    store::Store,
    walled::WalledGarden,
};

pub struct AdminState {
    pub sessions: Arc<Sessions>,
    /// Vouchers are read and written here directly.
    pub store: Store,
    pub walled: Arc<WalledGarden>,
    pub counters: Arc<Counters>,
    pub metrics: Arc<Metrics>,
    pub facts: Value,
    /// Asks the daemon to stop; `true`: and take the datapath down.
    pub shutdown: tokio::sync::mpsc::Sender<bool>,
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
        .route(
            "/v1/sessions",
            get(sessions::list)
                .post(sessions::allow)
                // A batch of sessions is a large body (the layer nearest the route wins).
                .layer(DefaultBodyLimit::max(batch::MAX_BODY)),
        )
        .route(
            "/v1/sessions/{mac}",
            delete(sessions::revoke)
                .get(sessions::show)
                .patch(sessions::limit),
        )
        .route("/v1/sessions/{mac}/extend", post(sessions::extend))
        .route("/v1/status", get(daemon::status))
        .route("/v1/shutdown", post(daemon::shutdown))
        .route("/metrics", get(daemon::metrics))
        .route(
            "/v1/vouchers",
            get(vouchers::voucher_list).post(vouchers::voucher_create),
        )
        .route("/v1/vouchers/{code}", delete(vouchers::voucher_revoke))
        .route(
            "/v1/walled-garden",
            get(walled::walled_list).post(walled::walled_add),
        )
        .route("/v1/walled-garden/{*entry}", delete(walled::walled_remove))
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

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Internal(String),
    /// The change could not be recorded (the store refused it): 503.
    Unavailable(String),
    /// The client map has no room for the change (nothing was changed): 507.
    Full(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::Full(m) => (StatusCode::INSUFFICIENT_STORAGE, m),
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
            e @ SessionError::BatchFull { .. } => ApiError::Full(e.to_string()),
            e @ SessionError::Repeated(_) => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A byte count given as a number or a string ("500M").
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

/// A rate limit in bit/s, as a number or a string ("10M"). `Ok(None)`: not given;
/// `Ok(Some(None))`: `"none"` (no limit).
pub(super) fn rate_field(name: &str, v: Option<&Value>) -> Result<Option<Option<u64>>, ApiError> {
    let bad = |e: String| ApiError::BadRequest(format!("{name}: {e}"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if matches!(s.trim(), "none" | "unlimited") => Ok(Some(None)),
        Some(Value::String(s)) => crate::config::parse_rate(s)
            .map(|r| Some(Some(r)))
            .map_err(bad),
        Some(Value::Number(n)) if n.as_u64().is_some() => crate::config::parse_rate(&n.to_string())
            .map(|r| Some(Some(r)))
            .map_err(bad),
        Some(other) => Err(bad(format!(
            "must be a number of bit/s or a string like \"10M\", not {other}"
        ))),
    }
}

/// A duration given as a string ("2h").
fn duration_field(name: &str, v: Option<&str>) -> Result<Option<std::time::Duration>, ApiError> {
    v.map(parse_duration)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
}
