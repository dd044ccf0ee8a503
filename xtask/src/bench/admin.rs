//! A minimal HTTP/1.1 client: the daemon's admin API over its Unix socket (keep-alive,
//! several connections in parallel to fill the session table fast), and the response
//! reader the paced HTTP client shares.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context as _, bail};

/// Reads one HTTP/1.1 response from `s`; returns the status and whether the server will
/// close the connection. `buf` carries bytes read past the response (none with
/// request/response pairs, but kept for correctness).
pub fn read_response(s: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut close = false;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in head.lines() {
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("connection:") {
            close |= v.contains("close");
        } else if let Some(v) = line.strip_prefix("transfer-encoding:") {
            chunked |= v.contains("chunked");
        }
    }
    if chunked {
        // Read until the terminating chunk; good enough for small bodies.
        while !buf[head_end..].windows(5).any(|w| w == b"0\r\n\r\n") {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.clear();
        return Ok((status, close));
    }
    match length {
        Some(len) => {
            while buf.len() < head_end + len {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..(head_end + len).min(buf.len()));
        }
        None => {
            // Body until EOF.
            loop {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
            }
            buf.clear();
            close = true;
        }
    }
    Ok((status, close))
}

#[derive(Clone)]
pub struct Admin {
    socket: PathBuf,
}

struct Conn {
    stream: Option<UnixStream>,
    buf: Vec<u8>,
}

impl Admin {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    fn conn(&self) -> Conn {
        Conn {
            stream: None,
            buf: Vec::new(),
        }
    }

    fn request(&self, c: &mut Conn, method: &str, path: &str, body: &str) -> anyhow::Result<u16> {
        for attempt in 0..2 {
            if c.stream.is_none() {
                let s = UnixStream::connect(&self.socket)
                    .with_context(|| format!("connecting to {}", self.socket.display()))?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                c.stream = Some(s);
                c.buf.clear();
            }
            let s = c.stream.as_mut().expect("connected");
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: netauth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let result = s
                .write_all(req.as_bytes())
                .and_then(|()| read_response(s, &mut c.buf));
            match result {
                Ok((status, close)) => {
                    if close {
                        c.stream = None;
                    }
                    return Ok(status);
                }
                // A kept-alive connection the server closed: retry once on a new one.
                Err(e) if attempt == 0 => {
                    c.stream = None;
                    let _ = e;
                }
                Err(e) => return Err(e).context("admin API request"),
            }
        }
        unreachable!()
    }

    pub fn allow(&self, mac: &str) -> anyhow::Result<()> {
        let mut c = self.conn();
        self.allow_on(&mut c, mac)
    }

    fn allow_on(&self, c: &mut Conn, mac: &str) -> anyhow::Result<()> {
        let body = format!("{{\"mac\":\"{mac}\",\"duration\":\"24h\"}}");
        let status = self.request(c, "POST", "/v1/sessions", &body)?;
        if status != 201 && status != 200 {
            bail!("POST /v1/sessions {mac}: HTTP {status}");
        }
        Ok(())
    }

    /// GET `path` on a connection of its own; returns the body.
    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let mut s = UnixStream::connect(&self.socket)
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: netauth\r\nConnection: close\r\n\r\n"
        )?;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?;
        let text = String::from_utf8_lossy(&all);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("no end of the response head")?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
        }
        Ok(body.to_string())
    }

    /// Ends the session of `mac`; no session is fine.
    pub fn revoke(&self, mac: &str) -> anyhow::Result<()> {
        let mut c = self.conn();
        let status = self.request(&mut c, "DELETE", &format!("/v1/sessions/{mac}"), "")?;
        if status != 200 && status != 404 {
            bail!("DELETE /v1/sessions/{mac}: HTTP {status}");
        }
        Ok(())
    }

    /// Authorizes all `macs` over `conns` parallel keep-alive connections.
    pub fn allow_many(&self, macs: &[String], conns: usize) -> anyhow::Result<()> {
        if macs.is_empty() {
            return Ok(());
        }
        let per = macs.len().div_ceil(conns.max(1));
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let handles: Vec<_> = macs
                .chunks(per)
                .map(|chunk| {
                    scope.spawn(move || -> anyhow::Result<()> {
                        let mut c = self.conn();
                        for mac in chunk {
                            self.allow_on(&mut c, mac)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("admin thread panicked"))??;
            }
            Ok(())
        })
    }
}
