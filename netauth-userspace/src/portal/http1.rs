//! The HTTP/1.1 responder of intercepted connections: every captive device's plain HTTP
//! to anywhere lands here, and every request gets a prepared answer (511, a probe's 302,
//! 307 after sign-in) — never a route, a body or an upgrade.
//!
//! Why not hyper's server, which serves everything else: for a connection whose every
//! answer is a prepared page, its general machinery (a timer armed per request, a header
//! map, the service future, body plumbing) cost ~11 µs of CPU per keep-alive answer where
//! nginx spends ~7 (`cargo xtask bench --portal-only`). Nor `http`'s request and response
//! types: building a header map, a URI and a response per answer cost 0.4 µs of the 2.3
//! µs of user CPU this path spent per answer (nginx: 1.5). A request is read where it
//! lies in the buffer ([`Asked`]) and a page is put together straight into the send
//! buffer. Requests are parsed by httparse, the parser hyper itself uses; this file only
//! frames them and writes the answers, with
//! the same limits as the hyper path: the head within the header-read timeout and under
//! the buffer cap (else 408-less close, 431), a malformed head 400, the device's request
//! rate (429), `Connection: close` and HTTP/1.0 honoured, pipelined requests answered in
//! order, HEAD without a body. A request with a body (or `Expect`) is answered and the
//! connection closed behind it: nothing on this path reads a body, and closing (with the
//! rest of the body drained for a moment, as nginx's lingering close does) cannot
//! desynchronise the framing of a next request.

use std::{cell::RefCell, io::Write as _, pin::Pin, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    http::{Response, StatusCode, header},
};
use bytes::{Buf as _, BytesMut};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::{Instant, Sleep},
};
use tracing::debug;

mod request;

use request::{Parsed, parse, raw_headers};

use super::{
    Site,
    intercept::{Intercepted, Reply},
    pages::{Template, escaped_url},
    serve::{Share, status_only, too_many_requests},
};

/// How long, and how much, the rest of a refused request is read and thrown away before
/// the connection is dropped, so the answer is not lost to a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

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
    // The login URL as escaped for a page, when it has characters to escape (it never
    // does as the portal builds it, so this stays unallocated).
    let mut url = Vec::new();
    let at = Instant::now() + limits.header_read_timeout;
    let timer = tokio::time::sleep_until(at);
    tokio::pin!(timer);
    let mut deadline = Deadline::new(at, timer);
    loop {
        // Answer every whole request in the buffer (pipelining), in order.
        let mut end = None;
        loop {
            let mut raw = raw_headers();
            match parse(&buf, &mut raw) {
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
                    let reply = if share.fairness.take_request(share.key) {
                        site.answers.reply(&c, &head.asked())
                    } else {
                        share
                            .fairness
                            .limited_requests
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        Reply::Ready(too_many_requests())
                    };
                    let close = head.close || head.body;
                    let close = write_reply(&mut out, reply, head.head_only, close, &mut url);
                    buf.advance(len);
                    if close {
                        end = Some(None);
                        break;
                    }
                    deadline.extend(Instant::now() + limits.header_read_timeout);
                }
            }
        }
        if let Some(refusal) = end {
            if let Some(code) = refusal {
                debug!(%remote, %code, "intercepted request refused; closing");
                write_response(&mut out, &status_only(code), false, true);
            }
            if stream.write_all(&out).await.is_ok() {
                linger(stream, &mut buf).await;
            }
            return;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        tokio::select! {
            biased;
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            () = deadline.passed() => {
                debug!(%remote, "no whole request in time; closed");
                return;
            }
        }
    }
}

/// When the next request's head must have arrived, on one timer per connection that is
/// moved only when it fires early: moving it at every request (a timeout per read) was a
/// timer-wheel removal and insertion per answer. The timer lives on the connection's
/// stack (a box would be an allocation per connection).
struct Deadline<'t> {
    at: Instant,
    timer: Pin<&'t mut Sleep>,
}

impl<'t> Deadline<'t> {
    /// The deadline `at`, on `timer` (set to it).
    fn new(at: Instant, timer: Pin<&'t mut Sleep>) -> Self {
        Self { at, timer }
    }

    /// Moves the deadline to `at` (later than before).
    fn extend(&mut self, at: Instant) {
        self.at = at;
    }

    /// Completes once the deadline has passed. Dropping it early loses nothing.
    async fn passed(&mut self) {
        loop {
            self.timer.as_mut().await;
            if Instant::now() >= self.at {
                return;
            }
            self.timer.as_mut().reset(self.at);
        }
    }
}

/// Appends the answer to one request; returns whether the connection ends with it
/// (`close`, or the answer ends it).
fn write_reply(
    out: &mut Vec<u8>,
    reply: Reply<'_>,
    head_only: bool,
    close: bool,
    url: &mut Vec<u8>,
) -> bool {
    match reply {
        Reply::Page {
            status,
            page,
            login,
        } => {
            write_page(out, status, page, &login, head_only, close, url);
            close
        }
        other => {
            let res = other.into_response();
            let close = close
                || res
                    .headers()
                    .get(header::CONNECTION)
                    .is_some_and(|v| v == "close");
            write_response(out, &res, head_only, close);
            close
        }
    }
}

/// Appends a prepared page's answer (a 511, or a probe's 302 with the login URL as its
/// Location), the page put together straight into `out`, with the headers
/// [`Reply::into_response`] gives it, in its order. `url` is scratch space.
fn write_page(
    out: &mut Vec<u8>,
    status: StatusCode,
    page: &Template,
    login: &str,
    head_only: bool,
    close: bool,
    url: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncache-control: no-store\r\n");
    if status == StatusCode::FOUND {
        out.extend_from_slice(b"location: ");
        out.extend_from_slice(super::header_text(login).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: text/html; charset=utf-8\r\n");
    let url = escaped_url(login, url);
    write_tail(out, page.len_with(url.len()), close);
    if !head_only {
        page.write(url, out);
    }
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
    write_tail(out, body.len(), close);
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// The end of an answer's head: Content-Length, Date, `Connection: close` if it ends
/// the connection.
fn write_tail(out: &mut Vec<u8>, len: usize, close: bool) {
    // Written into the buffer as it is formatted (`to_string` would allocate per answer);
    // writing to a Vec cannot fail.
    let _ = write!(out, "content-length: {len}");
    out.extend_from_slice(b"\r\ndate: ");
    with_date(|d| out.extend_from_slice(d.as_bytes()));
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
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
/// moment, so the answer is not lost to a reset for unread data. It drains into the
/// connection's own buffer: an array here would sit in every connection's task (the
/// future holds the space of its deepest await), and be copied with it on each spawn.
async fn linger(mut stream: TcpStream, sink: &mut BytesMut) {
    let _ = stream.shutdown().await;
    let until = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        sink.clear();
        match tokio::time::timeout_at(until, stream.read_buf(sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Parses `text` and hands the outcome to `f` (the head borrows the parse's buffers).
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

    #[tokio::test(start_paused = true)]
    async fn the_deadline_moves_with_each_request_on_one_timer() {
        let start = Instant::now();
        let timer = tokio::time::sleep_until(start + Duration::from_secs(10));
        tokio::pin!(timer);
        let mut d = Deadline::new(start + Duration::from_secs(10), timer);
        // A request at 5 s moves it to 15 s: the timer fires at 10, finds it early, and
        // waits on; the deadline passes at 15, not before.
        tokio::time::sleep(Duration::from_secs(5)).await;
        d.extend(Instant::now() + Duration::from_secs(10));
        let early = tokio::time::timeout(Duration::from_secs(9), d.passed()).await;
        assert!(early.is_err(), "passed at {:?}", start.elapsed());
        d.passed().await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        // Without a request it passes at its time.
        let at = Instant::now() + Duration::from_secs(10);
        let timer = tokio::time::sleep_until(at);
        tokio::pin!(timer);
        let mut d = Deadline::new(at, timer);
        d.passed().await;
        assert_eq!(start.elapsed(), Duration::from_secs(25));
    }

    #[test]
    fn a_page_written_in_place_is_the_response_it_stands_for() {
        // The 511 and the probe's 302 are written straight into the send buffer; byte
        // for byte (but the date) they are what the h2c path's response would be.
        let theme = super::super::theme::Theme::load(None).unwrap();
        let pages = [
            Template::authentication_required(&theme, 0, "Cafe", None),
            Template::moved(&theme, 0),
        ];
        // A login URL as the portal builds it, and one with characters to escape.
        let logins = [
            "http://192.0.2.1:8080/login?redirect=http%3A%2F%2Fexample.com%2F%3Fa%3D%22%3C",
            "http://portal.example/login?x=\"<a>&redirect=%2F",
        ];
        let undated = |b: Vec<u8>| {
            let t = String::from_utf8(b).unwrap();
            let at = t.find("date: ").unwrap() + 6;
            let end = at + t[at..].find('\r').unwrap();
            format!("{}{}", &t[..at], &t[end..])
        };
        let mut url = Vec::new();
        for (status, page) in [
            (StatusCode::NETWORK_AUTHENTICATION_REQUIRED, &pages[0]),
            (StatusCode::FOUND, &pages[1]),
        ] {
            for ((head_only, close), login) in [(false, false), (true, true)]
                .into_iter()
                .flat_map(|c| logins.map(|l| (c, l)))
            {
                let reply = || Reply::Page {
                    status,
                    page,
                    login: login.to_string(),
                };
                let mut fast = Vec::new();
                assert_eq!(
                    write_reply(&mut fast, reply(), head_only, close, &mut url),
                    close
                );
                let mut slow = Vec::new();
                write_response(&mut slow, &reply().into_response(), head_only, close);
                assert_eq!(undated(fast), undated(slow), "{status} {head_only} {login}");
            }
        }
    }
}
