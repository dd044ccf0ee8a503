//! What the intercept answer reads of a request ([`Asked`]), the same whether hyper parsed
//! it (h2c, the portal's own routes) or the intercepted HTTP/1 responder reads it where it
//! lies in its buffer.

use axum::http::{HeaderMap, HeaderName, Uri};

/// What the intercept answer reads of a request, borrowed from wherever it was parsed:
/// hyper's request (h2c) or the HTTP/1 responder's buffer, which so builds no header map
/// and copies no target per request.
pub struct Asked<'a> {
    /// The authority of an absolute-form target.
    pub authority: Option<&'a str>,
    /// The target's path and query ("/" when an absolute-form target has none).
    pub path_and_query: &'a str,
    pub headers: Headers<'a>,
}

impl<'a> Asked<'a> {
    pub fn of(uri: &'a Uri, headers: Headers<'a>) -> Self {
        Self {
            authority: uri.authority().map(|a| a.as_str()),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()),
            headers,
        }
    }

    /// The target's path, without the query.
    pub fn path(&self) -> &'a str {
        let p = self.path_and_query;
        p.split_once('?').map_or(p, |(path, _)| path)
    }
}

/// A request's headers, as hyper parsed them or as httparse left them in the buffer.
#[derive(Clone, Copy)]
pub enum Headers<'a> {
    Map(&'a HeaderMap),
    Raw(&'a [httparse::Header<'a>]),
}

impl<'a> Headers<'a> {
    /// The first `name` header as text, if it is visible ASCII (as `HeaderValue::to_str`
    /// takes it).
    pub fn str(&self, name: &HeaderName) -> Option<&'a str> {
        let value = match *self {
            Headers::Map(m) => m.get(name)?.as_bytes(),
            Headers::Raw(r) => {
                r.iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name.as_str()))?
                    .value
            }
        };
        if value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            std::str::from_utf8(value).ok()
        } else {
            None
        }
    }

    /// Whether any `name` header's value satisfies `f`.
    pub fn any(&self, name: &HeaderName, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        match *self {
            Headers::Map(m) => m.get_all(name).iter().any(|v| f(v.as_bytes())),
            Headers::Raw(r) => r
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name.as_str()) && f(h.value)),
        }
    }
}
