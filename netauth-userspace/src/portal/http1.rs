//! The HTTP/1.1 responder of intercepted connections: every captive device's plain HTTP
//! to anywhere lands here, and every request gets a prepared answer (511, a probe's 302,
//! 307 after sign-in) — never a route, a body or an upgrade.
//!
//! Why not hyper's server, which serves everything else: for a connection whose every
//! answer is a prepared page, its general machinery (a timer armed per request, a header
//! map, the service future, body plumbing) cost ~11 µs of CPU per keep-alive answer where
//! nginx spends ~7 (`cargo xtask bench --portal-only`). Requests are parsed by httparse,
//! the parser hyper itself uses; this file only frames them and writes the answers, with
//! the same limits as the hyper path: the head within the header-read timeout and under
//! the buffer cap (else 408-less close, 431), a malformed head 400, the device's request
//! rate (429), `Connection: close` and HTTP/1.0 honoured, pipelined requests answered in
//! order, HEAD without a body. A request with a body (or `Expect`) is answered and the
//! connection closed behind it: nothing on this path reads a body, and closing (with the
//! rest of the body drained for a moment, as nginx's lingering close does) cannot
//! desynchronise the framing of a next request.

use std::{cell::RefCell, io::Write as _, mem::MaybeUninit, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header},
};
use bytes::{Buf as _, BytesMut};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};
use tracing::debug;

use super::{
    Site,
    intercept::{ANSWER_READS, Intercepted},
    serve::{Share, status_only, too_many_requests},
};

/// Headers a request may carry (more: 431, as hyper answers).
const MAX_HEADERS: usize = 100;
/// How long, and how much, the rest of a refused request is read and thrown away before
/// the connection is dropped, so the answer is not lost to a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// What one request head asks for, taken out of the parse buffer.
struct Head {
    parts: axum::http::request::Parts,
    /// The client wants the connection closed after this answer (or it must be).
    close: bool,
    /// The request carries a body (or asks to send one): answered, then closed.
    body: bool,
}

/// The outcome of parsing the front of the buffer.
// Moved once per request; boxing the head would allocate once per request instead.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Request(Head, usize),
    /// Not a whole head yet.
    Partial,
    Refused(StatusCode),
}

/// Serves one intercepted HTTP/1 connection until the client closes it, asks to, sends
/// something this path refuses, or stays silent past the header-read timeout. The
/// connection's lifetime is bounded by the caller.
pub(super) async fn serve(
    mut stream: TcpStream,
    site: &Arc<Site>,
    c: Arc<Intercepted>,
    share: Share,
) {
    let limits = share.limits;
    let remote = share.remote;
    let mut buf = BytesMut::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(8192);
    let mut deadline = Instant::now() + limits.header_read_timeout;
    loop {
        // Answer every whole request in the buffer (pipelining), in order.
        let mut end = None;
        loop {
            match parse(&buf) {
                Parsed::Partial => {
                    if buf.len() >= limits.max_buf_size {
                        end = Some(Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
                    }
                    break;
                }
                Parsed::Refused(code) => {
                    end = Some(Some(code));
                    break;
                }
                Parsed::Request(head, len) => {
                    buf.advance(len);
                    let res = if share.fairness.take_request(share.key) {
                        site.answers.answer(&c, &head.parts)
                    } else {
                        share
                            .fairness
                            .limited_requests
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        too_many_requests()
                    };
                    let close = head.close
                        || head.body
                        || res
                            .headers()
                            .get(header::CONNECTION)
                            .is_some_and(|v| v == "close");
                    write_response(&mut out, &res, head.parts.method == Method::HEAD, close);
                    if close {
                        end = Some(None);
                        break;
                    }
                    deadline = Instant::now() + limits.header_read_timeout;
                }
            }
        }
        if let Some(refusal) = end {
            if let Some(code) = refusal {
                debug!(%remote, %code, "intercepted request refused; closing");
                write_response(&mut out, &status_only(code), false, true);
            }
            if stream.write_all(&out).await.is_ok() {
                linger(stream).await;
            }
            return;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                debug!(%remote, "no whole request in time; closed");
                return;
            }
        }
    }
}

/// Parses the head at the front of `buf`.
fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    // Left uninitialised: httparse fills only as many as the request has, and zeroing
    // a hundred (3.2 KiB) per request was a memset per answer.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(_) => return Parsed::Refused(StatusCode::BAD_REQUEST),
    };
    match head(&req) {
        Some(h) => Parsed::Request(h, len),
        None => Parsed::Refused(StatusCode::BAD_REQUEST),
    }
}

/// The parts of a parsed head the answer needs, or None for a head HTTP forbids
/// (an unparsable target, two Host headers, a body framed two ways).
fn head(req: &httparse::Request<'_, '_>) -> Option<Head> {
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let uri = Uri::try_from(req.path?).ok()?;
    let version = match req.version? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut parts = Request::new(()).into_parts().0;
    let (mut close, mut keep_alive) = (false, false);
    let (mut length, mut chunked, mut expect) = (None::<&[u8]>, false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            if parts.headers.contains_key(header::HOST) {
                return None;
            }
            parts
                .headers
                .insert(header::HOST, HeaderValue::from_bytes(h.value).ok()?);
        } else if let Some(read) = ANSWER_READS[1..]
            .iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(name))
        {
            // Another header the answer reads (a value HTTP forbids is left out).
            if let Ok(v) = HeaderValue::from_bytes(h.value) {
                parts.headers.append(read.clone(), v);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if length.is_some_and(|l| l != h.value) {
                return None;
            }
            length = Some(h.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("expect") {
            expect = true;
        }
    }
    if chunked && length.is_some() {
        return None;
    }
    let body = match length {
        Some(l) => std::str::from_utf8(l).ok()?.trim().parse::<u64>().ok()? > 0 || chunked,
        None => chunked,
    } || expect;
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    Some(Head {
        parts,
        close: close || (version == Version::HTTP_10 && !keep_alive),
        body,
    })
}

/// Appends one answer: status line, its headers, Content-Length, Date and (when the
/// connection ends with it) `Connection: close`, then the body unless it answers HEAD.
fn write_response(out: &mut Vec<u8>, res: &Response<Bytes>, head_only: bool, close: bool) {
    let status = res.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in res.headers() {
        if name == header::CONNECTION || name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = res.body();
    // Written into the buffer as it is formatted (`to_string` would allocate per answer);
    // writing to a Vec cannot fail.
    let _ = write!(out, "content-length: {}", body.len());
    out.extend_from_slice(b"\r\ndate: ");
    with_date(|d| out.extend_from_slice(d.as_bytes()));
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// The HTTP date of now (RFC 9110 §6.6.1: an origin server with a clock sends one),
/// formatted once a second per thread.
fn with_date(f: impl FnOnce(&str)) {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        f(text)
    });
}

/// Closes the sending side, then reads and discards what the client still sends for a
/// moment, so the answer is not lost to a reset for unread data.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Parsed {
        parse(text.as_bytes())
    }

    #[test]
    fn a_plain_get_keeps_the_connection() {
        let Parsed::Request(h, len) = parsed("GET /a?b HTTP/1.1\r\nHost: Example.COM\r\n\r\nGET")
        else {
            panic!("a request");
        };
        assert_eq!(len, "GET /a?b HTTP/1.1\r\nHost: Example.COM\r\n\r\n".len());
        assert_eq!(h.parts.uri, "/a?b");
        assert_eq!(h.parts.headers[header::HOST], "Example.COM");
        assert!(!h.close && !h.body);
        // The headers the answer reads are passed on; others are not.
        let Parsed::Request(h, _) = parsed(
            "GET / HTTP/1.1\r\nHost: a\r\nAccept-Language: de\r\nCookie: x\r\nIf-None-Match: \"1\"\r\n\r\n",
        ) else {
            panic!("a request");
        };
        assert_eq!(h.parts.headers[header::ACCEPT_LANGUAGE], "de");
        assert_eq!(h.parts.headers[header::IF_NONE_MATCH], "\"1\"");
        assert!(h.parts.headers.get(header::COOKIE).is_none());
    }

    #[test]
    fn close_http10_and_bodies_end_the_connection() {
        for (text, close, body) in [
            (
                "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n",
                true,
                false,
            ),
            ("GET / HTTP/1.0\r\n\r\n", true, false),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                false,
                true,
            ),
            ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false, false),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
                false,
                true,
            ),
        ] {
            let Parsed::Request(h, _) = parsed(text) else {
                panic!("a request: {text:?}");
            };
            assert_eq!((h.close, h.body), (close, body), "{text:?}");
        }
    }

    #[test]
    fn forbidden_heads_are_refused() {
        for text in [
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: \x01\r\n\r\n",
            "\x16\x03\x01\x00\x7fgarbage\r\n\r\n",
            "GET http://[::1/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parsed(text), Parsed::Refused(StatusCode::BAD_REQUEST)),
                "{text:?}"
            );
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(matches!(
            parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        ));
        assert!(matches!(
            parsed("GET / HTTP/1.1\r\nHost: a\r\n"),
            Parsed::Partial
        ));
    }

    #[test]
    fn an_answer_is_framed_once_with_its_length_and_date() {
        let mut res = Response::new(Bytes::from_static(b"hello"));
        *res.status_mut() = StatusCode::NETWORK_AUTHENTICATION_REQUIRED;
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let mut out = Vec::new();
        write_response(&mut out, &res, false, false);
        write_response(&mut out, &res, true, true);
        let text = String::from_utf8(out).unwrap();
        let (first, second) = text.split_at(text.find("hello").unwrap() + 5);
        assert!(
            first.starts_with("HTTP/1.1 511 Network Authentication Required\r\n"),
            "{first}"
        );
        assert!(
            first.contains("\r\ncache-control: no-store\r\ncontent-length: 5\r\ndate: "),
            "{first}"
        );
        assert!(!first.contains("connection"), "{first}");
        assert!(
            second.ends_with("connection: close\r\n\r\n"),
            "HEAD: no body: {second}"
        );
    }
}
