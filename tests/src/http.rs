//! A deliberately tiny HTTP/1.1 client for the lab: the tests must be able to send
//! malformed and oversized requests byte for byte, which full clients refuse to do.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes and reads the answer until the server closes (or `timeout`).
pub fn raw(addr: SocketAddr, request: &[u8], timeout: Duration) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    exchange(&mut s, request)
}

/// Sends raw bytes over a Unix socket (the admin API) and reads the answer until the
/// server closes; for requests a real client would refuse to send (well-formed ones go
/// through the typed `AdminClient`).
pub fn unix_raw(path: &std::path::Path, request: &[u8]) -> std::io::Result<Response> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    exchange(&mut s, request)
}

/// Writes `request`, then reads until the server closes.
fn exchange(s: &mut (impl Read + Write), request: &[u8]) -> std::io::Result<Response> {
    // A server may answer (413, 400) and close before the whole request is written: the
    // write then fails, but the answer is there to read.
    let write_err = s.write_all(request).err();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Err(write_err.unwrap_or(e)),
            Err(_) => break,
        }
    }
    if buf.is_empty()
        && let Some(e) = write_err
    {
        return Err(e);
    }
    parse(&buf).ok_or_else(|| not_http(&buf))
}

fn not_http(buf: &[u8]) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not an HTTP response: {:?}", String::from_utf8_lossy(buf)),
    )
}

pub fn parse(buf: &[u8]) -> Option<Response> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&buf[end + 4..]).into_owned(),
    })
}

fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) if a.port() == 80 => a.ip().to_string(),
        SocketAddr::V6(a) if a.port() == 80 => format!("[{}]", a.ip()),
        a => a.to_string(),
    }
}

/// GET `path` from `addr`, with `Host` defaulting to the address.
pub fn get(addr: SocketAddr, host: Option<&str>, path: &str) -> std::io::Result<Response> {
    let host = host.map(str::to_string).unwrap_or_else(|| host_of(addr));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netauth-lab\r\nConnection: close\r\n\r\n"
    );
    raw(addr, req.as_bytes(), Duration::from_secs(3))
}

/// POST an urlencoded form.
pub fn post_form(addr: SocketAddr, path: &str, form: &str) -> std::io::Result<Response> {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        host_of(addr),
        form.len()
    );
    raw(addr, req.as_bytes(), Duration::from_secs(3))
}

/// The anti-forgery token of the form in a portal page, if it has one.
pub fn form_token(page: &str) -> Option<String> {
    form_field(page, "token")
}

/// The value of the first `<input name="NAME" value="...">` in `page`.
pub fn form_field(page: &str, name: &str) -> Option<String> {
    let key = format!("name=\"{name}\" value=\"");
    let at = page.find(&key)? + key.len();
    let end = page[at..].find('"')?;
    Some(page[at..at + end].to_string())
}

/// Submits a portal form as a browser would: loads the page the form is on (`page`),
/// takes its anti-forgery token, and POSTs `form` (urlencoded, without the token) to
/// `action`. Fails when the page has no form token.
pub fn submit(addr: SocketAddr, page: &str, action: &str, form: &str) -> std::io::Result<Response> {
    let shown = get(addr, None, page)?;
    let token = form_token(&shown.body).ok_or_else(|| {
        std::io::Error::other(format!("{page} has no form token: {}", shown.status))
    })?;
    let body = if form.is_empty() {
        format!("token={token}")
    } else {
        format!("token={token}&{form}")
    };
    post_form(addr, action, &body)
}

/// Reads one response from a connection that may stay open (keep-alive): its head, then
/// the body its Content-Length or chunked encoding delimits (chunks decoded), or without
/// either everything until the server closes. `buf` holds what was read past this
/// response, for the next call. Returns the response and whether the server will close
/// the connection.
pub fn read_response(s: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<(Response, bool)> {
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if !read_more(s, buf)? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
    };
    let mut response = parse(&buf[..head_end]).ok_or_else(|| not_http(&buf[..head_end]))?;
    let has = |name: &str, word: &str| {
        response
            .header(name)
            .is_some_and(|v| v.to_ascii_lowercase().contains(word))
    };
    let mut close = has("connection", "close");
    let body = if has("transfer-encoding", "chunked") {
        read_chunked(s, buf, head_end)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "Content-Length"))?;
        while buf.len() < head_end + len && read_more(s, buf)? {}
        let end = (head_end + len).min(buf.len());
        let body = buf[head_end..end].to_vec();
        buf.drain(..end);
        body
    } else {
        while read_more(s, buf)? {}
        close = true;
        buf.drain(..).skip(head_end).collect()
    };
    response.body = String::from_utf8_lossy(&body).into_owned();
    Ok((response, close))
}

/// Decodes a chunked body that starts at `buf[start..]`, reading as needed; leaves in
/// `buf` what follows it.
fn read_chunked(s: &mut impl Read, buf: &mut Vec<u8>, start: usize) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunked body");
    let mut at = start;
    let mut body = Vec::new();
    loop {
        let eol = loop {
            if let Some(p) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + p;
            }
            if !read_more(s, buf)? {
                return Err(bad());
            }
        };
        let size = std::str::from_utf8(&buf[at..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .ok_or_else(bad)?;
        // The chunk and its CRLF; the last (empty) chunk is followed by an empty line.
        let end = eol + 2 + size + 2;
        while buf.len() < end {
            if !read_more(s, buf)? {
                return Err(bad());
            }
        }
        body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
        at = end;
        if size == 0 {
            buf.drain(..at);
            return Ok(body);
        }
    }
}

/// Appends what the next read brings; false at the end of the stream.
fn read_more(s: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// One request over TLS to `server_name` at `addr`, trusting exactly the certificates in
/// `ca_pem` (the lab's self-signed ones); the answer as the server closes the connection.
pub fn https(
    server_name: &str,
    addr: SocketAddr,
    request: &str,
    ca_pem: &[u8],
) -> std::io::Result<Response> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string()).map_err(std::io::Error::other)?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request.as_bytes())?;
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    parse(&buf).ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
