//! One HTTP/1 request head, read where it lies in the connection's buffer: httparse
//! splits it, this module checks what HTTP forbids and finds what the answer needs,
//! copying nothing of a request a browser sends.

use std::mem::MaybeUninit;

use axum::http::{Method, StatusCode, Uri};

use crate::portal::asked::{Asked, Headers};

/// Headers a request may carry (more: 431, as hyper answers).
pub(super) const MAX_HEADERS: usize = 100;

pub(super) type RawHeaders<'a> = [MaybeUninit<httparse::Header<'a>>; MAX_HEADERS];

/// Room for one request's headers. Left uninitialised: httparse fills only as many as the
/// request has, and zeroing a hundred (3.2 KiB) per request was a memset per answer.
pub(super) fn raw_headers<'a>() -> RawHeaders<'a> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// One request head, borrowed from the parse buffer: nothing of it is copied.
pub(super) struct Head<'a> {
    pub(super) target: Target<'a>,
    pub(super) headers: &'a [httparse::Header<'a>],
    /// A HEAD request: the answer goes without its body.
    pub(super) head_only: bool,
    /// The client wants the connection closed after this answer (or it must be).
    pub(super) close: bool,
    /// The request carries a body (or asks to send one): answered, then closed.
    pub(super) body: bool,
}

/// A request's target.
pub(super) enum Target<'a> {
    /// A plain origin-form path and query, as a browser sends it (see [`plain_origin`]).
    Origin(&'a str),
    /// Any other form, parsed by `http` (an absolute-form URL, or an unusual path).
    Parsed(Uri),
}

impl Head<'_> {
    pub(super) fn asked(&self) -> Asked<'_> {
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
pub(super) enum Parsed<'a> {
    Request(Head<'a>, usize),
    /// Not a whole head yet.
    Partial,
    Refused(StatusCode),
}

/// Parses the head at the front of `buf`, its headers into `raw`.
pub(super) fn parse<'a>(buf: &'a [u8], raw: &'a mut RawHeaders<'a>) -> Parsed<'a> {
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
            if host || !crate::portal::is_header_value(h.value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

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
}
