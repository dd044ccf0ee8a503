//! The admin socket's HTTP server: one request per connection, every refusal answered
//! in JSON.

use std::time::Duration;

use axum::{
    Router,
    http::{StatusCode, header},
};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
};
use tower::ServiceExt as _;
use tracing::{debug, warn};

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
