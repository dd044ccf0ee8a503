//! The admin API: HTTP+JSON over a Unix socket (mode 0600, so only root or the socket's
//! owner can use it), and the client the CLI verbs use.
//!
//! | method | path                 | body                           | answer                 |
//! |--------|----------------------|--------------------------------|------------------------|
//! | GET    | /v1/sessions         |                                | `{"sessions":[...]}`   |
//! | POST   | /v1/sessions         | `{"mac":"..","duration":"2h"}` | 201 + the session      |
//! | DELETE | /v1/sessions/{mac}   |                                | 200 + ended session    |
//! | GET    | /v1/status           |                                | daemon facts, counters |

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use anyhow::{Context as _, bail};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path as UrlPath, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{UnixListener, UnixStream};

use crate::{
    config::parse_duration,
    mac::Mac,
    session::{EndReason, Session, Sessions, Via},
};

pub struct AdminState {
    pub sessions: Arc<Sessions>,
    pub facts: Value,
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
        .route("/v1/status", get(status))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(json!({ "error": msg }))).into_response()
    }
}

fn parse_mac(s: &str) -> Result<Mac, ApiError> {
    s.parse().map_err(|e| ApiError::BadRequest(format!("{e}")))
}

async fn list(State(st): State<Arc<AdminState>>) -> Json<Value> {
    Json(json!({ "sessions": st.sessions.list() }))
}

async fn show(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<Session>, ApiError> {
    let mac = parse_mac(&mac)?;
    st.sessions
        .get(mac)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no session for {mac}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowBody {
    mac: String,
    /// e.g. "2h"; default: the daemon's session timeout.
    duration: Option<String>,
}

async fn allow(
    State(st): State<Arc<AdminState>>,
    body: Result<Json<AllowBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mac = parse_mac(&body.mac)?;
    let duration = body
        .duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let session = st
        .sessions
        .authorize(mac, None, Via::Admin, duration, SystemTime::now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

async fn revoke(
    State(st): State<Arc<AdminState>>,
    UrlPath(mac): UrlPath<String>,
) -> Result<Json<Session>, ApiError> {
    let mac = parse_mac(&mac)?;
    match st.sessions.end(mac, EndReason::Revoked) {
        Ok(Some(s)) => Ok(Json(s)),
        Ok(None) => Err(ApiError::NotFound(format!("no session for {mac}"))),
        Err(e) => Err(ApiError::Internal(e.to_string())),
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
    facts["sessions"] = json!(st.sessions.list().len());
    facts["counters"] = Value::Object(counters);
    Json(facts)
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
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }
}
