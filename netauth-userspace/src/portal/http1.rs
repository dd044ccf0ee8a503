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

use std::{cell::RefCell, io::Write as _, mem::MaybeUninit, pin::Pin, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    http::{Method, Response, StatusCode, Uri, header},
};
use bytes::{Buf as _, BytesMut};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::{Instant, Sleep},
};
use tracing::debug;

use super::{
    Site,
    intercept::{Asked, Headers, Intercepted, Reply},
    pages::{Template, escape_url},
    serve::{Share, status_only, too_many_requests},
};

/// Headers a request may carry (more: 431, as hyper answers).
const MAX_HEADERS: usize = 100;
/// How long, and how much, the rest of a refused request is read and thrown away before
/// the connection is dropped, so the answer is not lost to a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

type RawHeaders<'a> = [MaybeUninit<httparse::Header<'a>>; MAX_HEADERS];

/// Room for one request's headers. Left uninitialised: httparse fills only as many as the
/// request has, and zeroing a hundred (3.2 KiB) per request was a memset per answer.
fn raw_headers<'a>() -> RawHeaders<'a> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// One request head, borrowed from the parse buffer: nothing of it is copied.
struct Head<'a> {
    target: Target<'a>,
    headers: &'a [httparse::Header<'a>],
    /// A HEAD request: the answer goes without its body.
    head_only: bool,
    /// The client wants the connection closed after this answer (or it must be).
    close: bool,
    /// The request carries a body (or asks to send one): answered, then closed.
    body: bool,
}

/// A request's target.
enum Target<'a> {
    /// A plain origin-form path and query, as a browser sends it (see [`plain_origin`]).
    Origin(&'a str),
    /// Any other form, parsed by `http` (an absolute-form URL, or an unusual path).
    Parsed(Uri),
}

impl Head<'_> {
    fn asked(&self) -> Asked<'_> {
        let headers = Headers::Raw(self.headers);
        match &self.target {
            Target::Origin(path_and_query) => Asked {
                authority: None,
                path_and_query,
                headers,
            },
            Target::Parsed(uri) => Asked::of(uri, headers),
        }
    }
}

/// The outcome of parsing the front of the buffer.
enum Parsed<'a> {
    Request(Head<'a>, usize),
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
    // The login URL as escaped for a page, kept between answers.
    let mut url = Vec::with_capacity(512);
    let mut deadline = Deadline::new(Instant::now() + limits.header_read_timeout);
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
/// timer-wheel removal and insertion per answer.
struct Deadline {
    at: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(at: Instant) -> Self {
        Self {
            at,
            timer: Box::pin(tokio::time::sleep_until(at)),
        }
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

/// Parses the head at the front of `buf`, its headers into `raw`.
fn parse<'a>(buf: &'a [u8], raw: &'a mut RawHeaders<'a>) -> Parsed<'a> {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(_) => return Parsed::Refused(StatusCode::BAD_REQUEST),
    };
    match head(req) {
        Some(h) => Parsed::Request(h, len),
        None => Parsed::Refused(StatusCode::BAD_REQUEST),
    }
}

/// The parts of a parsed head the answer needs, or None for a head HTTP forbids
/// (an unparsable target, two Host headers or one with a forbidden byte, a body framed
/// two ways).
fn head<'a>(req: httparse::Request<'a, 'a>) -> Option<Head<'a>> {
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let path = req.path?;
    let target = if plain_origin(path) {
        Target::Origin(path)
    } else {
        Target::Parsed(Uri::try_from(path).ok()?)
    };
    let http10 = req.version? == 0;
    let headers: &'a [httparse::Header<'a>] = req.headers;
    let (mut close, mut keep_alive, mut host) = (false, false, false);
    let (mut length, mut chunked, mut expect) = (None::<&[u8]>, false, false);
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            // As `HeaderValue::from_bytes` would take it.
            if host
                || !h
                    .value
                    .iter()
                    .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            {
                return None;
            }
            host = true;
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
    Some(Head {
        target,
        headers,
        head_only: method == Method::HEAD,
        close: close || (http10 && !keep_alive),
        body,
    })
}

/// Whether `target` is an origin-form path and query of RFC 3986 characters only, which
/// `http::Uri` takes as it is (a unit test holds it to that): the answer reads it from
/// the buffer. Anything else is parsed by `Uri`, which copies it.
fn plain_origin(target: &str) -> bool {
    target.starts_with('/')
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
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
        // As `header_value` takes it (the URL is built of encoded parts; the fallback is
        // never expected).
        let valid = login
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        out.extend_from_slice(if valid { login } else { "/login" }.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: text/html; charset=utf-8\r\n");
    escape_url(login, url);
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
    use axum::http::HeaderValue;

    /// Parses `text` and hands the outcome to `f` (the head borrows the parse's buffers).
    fn parsed<T>(text: &str, f: impl FnOnce(Parsed<'_>) -> T) -> T {
        let mut raw = raw_headers();
        f(parse(text.as_bytes(), &mut raw))
    }

    fn request<T>(text: &str, f: impl FnOnce(&Head<'_>, usize) -> T) -> T {
        parsed(text, |p| match p {
            Parsed::Request(h, len) => f(&h, len),
            _ => panic!("a request: {text:?}"),
        })
    }

    #[test]
    fn a_plain_get_keeps_the_connection() {
        request(
            "GET /a?b HTTP/1.1\r\nHost: Example.COM\r\n\r\nGET",
            |h, len| {
                assert_eq!(len, "GET /a?b HTTP/1.1\r\nHost: Example.COM\r\n\r\n".len());
                let a = h.asked();
                assert_eq!((a.authority, a.path_and_query), (None, "/a?b"));
                assert_eq!(a.headers.str(&header::HOST), Some("Example.COM"));
                assert!(!h.close && !h.body && !h.head_only);
            },
        );
        // The headers the answer reads are found in any case.
        request(
            "HEAD / HTTP/1.1\r\nHost: a\r\naccept-LANGUAGE: de\r\nIf-None-Match: \"1\"\r\nIf-None-Match: \"2\"\r\n\r\n",
            |h, _| {
                let a = h.asked();
                assert_eq!(a.headers.str(&header::ACCEPT_LANGUAGE), Some("de"));
                assert!(a.headers.any(&header::IF_NONE_MATCH, |v| v == b"\"2\""));
                assert!(a.headers.str(&header::COOKIE).is_none());
                assert!(h.head_only);
            },
        );
        // An absolute-form target names the host.
        request(
            "GET http://Other.example:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n",
            |h, _| {
                let a = h.asked();
                assert_eq!(a.authority, Some("Other.example:8080"));
                assert_eq!(a.path_and_query, "/x?y");
            },
        );
    }

    #[test]
    fn a_plain_origin_target_is_one_uri_takes_as_it_is() {
        // Every byte the fast path lets through is one `Uri` accepts and keeps unchanged,
        // so reading the target from the buffer answers what parsing it would.
        let mut plain = 0;
        for b in 0x21u8..0x7f {
            let target = format!("/a{}b?c{}d", b as char, b as char);
            if plain_origin(&target) {
                plain += 1;
                let uri =
                    Uri::try_from(target.as_str()).unwrap_or_else(|e| panic!("{target:?}: {e}"));
                assert_eq!(uri.path_and_query().unwrap().as_str(), target);
            }
        }
        assert_eq!(
            plain,
            62 + 20,
            "letters, digits and RFC 3986's other path bytes"
        );
        assert!(!plain_origin("*") && !plain_origin("http://a/") && !plain_origin("/a#b"));
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
            request(text, |h, _| {
                assert_eq!((h.close, h.body), (close, body), "{text:?}");
            });
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
            "GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n",
            "\x16\x03\x01\x00\x7fgarbage\r\n\r\n",
            "GET http://[::1/ HTTP/1.1\r\n\r\n",
        ] {
            parsed(text, |p| {
                assert!(
                    matches!(p, Parsed::Refused(StatusCode::BAD_REQUEST)),
                    "{text:?}"
                )
            });
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n"), |p| {
            assert!(matches!(
                p,
                Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            ))
        });
        parsed("GET / HTTP/1.1\r\nHost: a\r\n", |p| {
            assert!(matches!(p, Parsed::Partial))
        });
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

    #[tokio::test(start_paused = true)]
    async fn the_deadline_moves_with_each_request_on_one_timer() {
        let start = Instant::now();
        let mut d = Deadline::new(start + Duration::from_secs(10));
        // A request at 5 s moves it to 15 s: the timer fires at 10, finds it early, and
        // waits on; the deadline passes at 15, not before.
        tokio::time::sleep(Duration::from_secs(5)).await;
        d.extend(Instant::now() + Duration::from_secs(10));
        let early = tokio::time::timeout(Duration::from_secs(9), d.passed()).await;
        assert!(early.is_err(), "passed at {:?}", start.elapsed());
        d.passed().await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        // Without a request it passes at its time.
        let mut d = Deadline::new(Instant::now() + Duration::from_secs(10));
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
        let login = "http://192.0.2.1:8080/login?redirect=http%3A%2F%2Fexample.com%2F%3Fa%3D%22%3C";
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
            for (head_only, close) in [(false, false), (true, true)] {
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
                assert_eq!(undated(fast), undated(slow), "{status} {head_only}");
            }
        }
    }
}
