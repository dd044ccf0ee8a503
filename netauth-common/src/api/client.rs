//! The typed client of the admin API (HTTP/1.1 + JSON over the daemon's Unix socket).
//! The CLI uses it; so do the tests and the bench, through [`AdminClient::block_on`].

use std::{
    future::Future,
    path::{Path, PathBuf},
};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::UnixStream;

use super::{
    AllowRequest, BatchSummary, ErrorBody, ExtendRequest, LimitRequest, Mac, NDJSON, SessionList,
    SessionView, ShutdownRequest, Voucher, VoucherList, VoucherRequest, WalledEntry, WalledList,
    WalledRequest,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the netauth daemon at {socket} (is `netauth run` running? see --admin-socket): {source}"
    )]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("admin request failed: {0}")]
    Http(#[from] hyper::Error),
    /// The daemon refused the request (its `{"error": ...}` message).
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer to {what}: {source}")]
    Decode {
        what: String,
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status of an answer the daemon refused with.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one daemon's admin socket. Each request opens a connection of its own.
#[derive(Clone, Debug)]
pub struct AdminClient {
    socket: PathBuf,
}

impl AdminClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs one of this client's futures to completion on a runtime of its own, for
    /// callers without one (tests, the bench).
    pub fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
            .block_on(f)
    }

    /// One request with a JSON body (if any); the status and the body, whatever the
    /// status.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        self.raw_typed(method, path, "application/json", body).await
    }

    /// [`AdminClient::raw`] with a body of `content_type`.
    pub async fn raw_typed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Unreachable {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "netauth")
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a well-formed request");
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes.to_vec()))
    }

    /// A request whose 2xx answer is `T`; anything else is [`ClientError::Api`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("plain data serializes"));
        let (status, bytes) = self.raw(method, path, body).await?;
        Self::answer(method, path, status, &bytes)
    }

    /// A 2xx answer as `T`; anything else as [`ClientError::Api`].
    fn answer<T: DeserializeOwned>(
        method: &str,
        path: &str,
        status: u16,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<ErrorBody>(bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).trim().to_string());
            return Err(ClientError::Api { status, message });
        }
        serde_json::from_slice(bytes).map_err(|source| ClientError::Decode {
            what: format!("{method} {path}"),
            source,
        })
    }

    pub async fn sessions(&self) -> Result<Vec<SessionView>, ClientError> {
        let l: SessionList = self.call("GET", "/v1/sessions", None::<&()>).await?;
        Ok(l.sessions)
    }

    /// The session of `mac`, `None` when it has none.
    pub async fn session(&self, mac: Mac) -> Result<Option<SessionView>, ClientError> {
        match self
            .call("GET", &format!("/v1/sessions/{mac}"), None::<&()>)
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(None),
            r => r.map(Some),
        }
    }

    pub async fn allow(&self, req: &AllowRequest) -> Result<SessionView, ClientError> {
        self.call("POST", "/v1/sessions", Some(req)).await
    }

    /// Authorizes every session of `reqs` in one request: all of them, or (with an
    /// error saying why) none. See [`BatchSummary`].
    pub async fn allow_batch(&self, reqs: &[AllowRequest]) -> Result<BatchSummary, ClientError> {
        let mut body = Vec::with_capacity(reqs.len() * 64);
        for r in reqs {
            serde_json::to_writer(&mut body, r).expect("plain data serializes");
            body.push(b'\n');
        }
        self.allow_ndjson(body).await
    }

    /// Authorizes the sessions of an NDJSON body as it is (see [`NDJSON`]): the daemon's
    /// errors name lines of `body`.
    pub async fn allow_ndjson(&self, body: Vec<u8>) -> Result<BatchSummary, ClientError> {
        let (method, path) = ("POST", "/v1/sessions");
        let (status, bytes) = self.raw_typed(method, path, NDJSON, Some(body)).await?;
        Self::answer(method, path, status, &bytes)
    }

    pub async fn extend(&self, mac: Mac, duration: &str) -> Result<SessionView, ClientError> {
        let req = ExtendRequest {
            duration: duration.to_string(),
        };
        self.call("POST", &format!("/v1/sessions/{mac}/extend"), Some(&req))
            .await
    }

    /// Changes the rate limits of `mac`'s running session.
    pub async fn limit(&self, mac: Mac, req: &LimitRequest) -> Result<SessionView, ClientError> {
        self.call("PATCH", &format!("/v1/sessions/{mac}"), Some(req))
            .await
    }

    /// Ends the session of `mac`; `None` when it had none.
    pub async fn revoke(&self, mac: Mac) -> Result<Option<SessionView>, ClientError> {
        match self
            .call("DELETE", &format!("/v1/sessions/{mac}"), None::<&()>)
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(None),
            r => r.map(Some),
        }
    }

    /// The daemon's facts and counters (free-form JSON).
    pub async fn status(&self) -> Result<serde_json::Value, ClientError> {
        self.call("GET", "/v1/status", None::<&()>).await
    }

    pub async fn shutdown(&self, detach: bool) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .call("POST", "/v1/shutdown", Some(&ShutdownRequest { detach }))
            .await?;
        Ok(())
    }

    /// The Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, bytes) = self.raw("GET", "/metrics", None).await?;
        if status != 200 {
            return Err(ClientError::Api {
                status,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn vouchers(&self) -> Result<Vec<Voucher>, ClientError> {
        let l: VoucherList = self.call("GET", "/v1/vouchers", None::<&()>).await?;
        Ok(l.vouchers)
    }

    pub async fn create_vouchers(&self, req: &VoucherRequest) -> Result<Vec<Voucher>, ClientError> {
        let l: VoucherList = self.call("POST", "/v1/vouchers", Some(req)).await?;
        Ok(l.vouchers)
    }

    /// Revokes a voucher (canonical code); false when there is no such voucher.
    pub async fn revoke_voucher(&self, code: &str) -> Result<bool, ClientError> {
        match self
            .call::<serde_json::Value>("DELETE", &format!("/v1/vouchers/{code}"), None::<&()>)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn walled_garden(&self) -> Result<Vec<WalledEntry>, ClientError> {
        let l: WalledList = self.call("GET", "/v1/walled-garden", None::<&()>).await?;
        Ok(l.entries)
    }

    /// Adds an entry; the canonical form back.
    pub async fn walled_add(&self, entry: &str) -> Result<String, ClientError> {
        let r: WalledRequest = self
            .call(
                "POST",
                "/v1/walled-garden",
                Some(&WalledRequest {
                    entry: entry.to_string(),
                }),
            )
            .await?;
        Ok(r.entry)
    }

    /// Removes an entry (in canonical form); the canonical form back.
    pub async fn walled_remove(&self, entry: &str) -> Result<String, ClientError> {
        let r: WalledRequest = self
            .call("DELETE", &format!("/v1/walled-garden/{entry}"), None::<&()>)
            .await?;
        Ok(r.entry)
    }
}
