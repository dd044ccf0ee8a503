//! The portal's listeners: transparent TCP sockets (they accept connections addressed to
//! any IP, which is how intercepted flows arrive) and a hardened HTTP/1 accept loop.
//!
//! axum::serve is not used because a captive portal faces every unauthenticated device:
//! it needs a header-read timeout, a header size cap and a connection cap, and the
//! connection's local address (the original destination) in each request.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    body::Bytes,
    http::{HeaderValue, Request, Response, StatusCode, header},
};
use http_body_util::BodyExt as _;
use hyper::{body::Body as _, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt as _;
use tracing::{debug, warn};

use super::{ConnInfo, Site, intercept::Intercepted};
use crate::identity::FlowIdentity;

/// Limits on what one client can make the portal hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once, all clients together (per listener group).
    pub max_connections: usize,
    /// Connections open at once per client.
    pub per_client_connections: usize,
    /// Requests per second per client (with a burst of twice as many).
    pub per_client_rate: u32,
    pub header_read_timeout: Duration,
    /// A request body must arrive within this long.
    pub body_timeout: Duration,
    /// A connection is closed this long after it was accepted, busy or not (browsers
    /// reconnect); bounds what a slow client can hold.
    pub connection_lifetime: Duration,
    /// Also bounds the request head (hyper refuses heads larger than this).
    pub max_buf_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            per_client_connections: 32,
            per_client_rate: 20,
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            max_buf_size: 16 * 1024,
        }
    }
}

/// Who a connection belongs to, for fair shares: the MAC that sent it when the datapath
/// knows it, else the source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Mac(crate::model::Mac),
    Ip(std::net::IpAddr),
}

struct ClientShare {
    connections: usize,
    tokens: f64,
    refilled: std::time::Instant,
}

/// Each client's share of the portal: connections it holds and requests it makes. One
/// `Fairness` is shared by all portal listeners, so a client gets the same share whichever
/// address it is intercepted on.
pub struct Fairness {
    limits: Limits,
    slots: Arc<Semaphore>,
    clients: std::sync::Mutex<HashMap<ClientKey, ClientShare>>,
    /// Connections refused because their client held its share, and requests answered
    /// 429.
    pub refused_connections: AtomicU64,
    pub limited_requests: AtomicU64,
}

/// A connection's hold on its client's share, released on drop.
struct Held {
    fairness: Arc<Fairness>,
    key: ClientKey,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut clients = self.fairness.lock();
        if let Some(c) = clients.get_mut(&self.key) {
            c.connections = c.connections.saturating_sub(1);
        }
    }
}

impl Fairness {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            clients: Default::default(),
            refused_connections: AtomicU64::new(0),
            limited_requests: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, ClientShare>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a new connection if its client has a connection left in its share.
    fn admit(self: &Arc<Self>, key: ClientKey) -> Option<Held> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let mut clients = self.lock();
        if clients.len() > 65_536 {
            // Forget idle clients with a full bucket.
            let burst = f64::from(self.limits.per_client_rate) * 2.0;
            clients.retain(|_, c| c.connections > 0 || c.tokens < burst);
        }
        let c = clients.entry(key).or_insert_with(|| ClientShare {
            connections: 0,
            tokens: f64::from(self.limits.per_client_rate) * 2.0,
            refilled: std::time::Instant::now(),
        });
        if c.connections >= self.limits.per_client_connections {
            return None;
        }
        c.connections += 1;
        drop(clients);
        Some(Held {
            fairness: self.clone(),
            key,
            _slot: slot,
        })
    }

    /// Takes one request from the client's bucket; false: over its rate.
    pub(super) fn take_request(&self, key: ClientKey) -> bool {
        let rate = f64::from(self.limits.per_client_rate);
        let mut clients = self.lock();
        let Some(c) = clients.get_mut(&key) else {
            return true;
        };
        let now = std::time::Instant::now();
        let elapsed = now.duration_since(c.refilled).as_secs_f64();
        c.tokens = (c.tokens + elapsed * rate).min(rate * 2.0);
        c.refilled = now;
        if c.tokens >= 1.0 {
            c.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Raises this process's open-file limit to its hard limit: every portal connection is a
/// descriptor, and the default soft limit (1024) is what a few slow clients exhaust.
pub fn raise_fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    r.rlim_cur
}

/// The portal is for the LAN: its sockets take connections arriving on the LAN interface
/// only (SO_BINDTODEVICE), so the uplink, other LANs and the gateway itself get no portal
/// and no 511 on any of the gateway's addresses.
fn bind_to_lan(socket: &Socket, lan: &str) -> anyhow::Result<()> {
    socket
        .bind_device(Some(lan.as_bytes()))
        .with_context(|| format!("binding the portal socket to interface {lan}"))
}

/// A TCP listener on the LAN interface only. Intercepted connections need nothing
/// special: the datapath rewrites them to the portal's own address (see
/// `netauth-ebpf/src/nat.rs`).
pub async fn plain_listener(addr: SocketAddr, lan: &str) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    bind_to_lan(&socket, lan)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    // Answers go out whole, and a pipelined one must not wait for the previous one's ACK.
    // Linux copies the option to every connection the listener accepts, which saves a
    // setsockopt per connection (a test below holds the kernel to that).
    socket.set_tcp_nodelay(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into())?)
}

/// Which connections a listener takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Those addressed to the portal (its pages and API).
    Portal,
    /// Those the datapath intercepted (a captive client's plain HTTP to anywhere).
    Intercepted,
}

/// Accepts connections forever, serving each (over TLS when `tls` is given) within its
/// client's fair share: an intercepted one with the intercept answers, one addressed to
/// the portal with its router.
pub async fn serve(
    listener: TcpListener,
    accepts: Accepts,
    site: Arc<Site>,
    fairness: Arc<Fairness>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let limits = fairness.limits;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("portal accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = if accepts == Accepts::Intercepted {
            // The connection is known by where it was going (its own local address is
            // the portal's, which says nothing: no getsockname for it).
            match site.portal.identity.original_destination(remote) {
                Some(original) => original,
                None => {
                    debug!(%remote, "connection to the intercept port with no intercepted destination; closed");
                    continue;
                }
            }
        } else {
            let Ok(local) = stream.local_addr() else {
                continue;
            };
            local
        };
        let conn = ConnInfo { local, remote };
        // Who sent it, once per connection: its fair share is that device's, and the
        // intercept answers use it too.
        let who = site.portal.identity.flow(remote, local);
        let key = match who {
            FlowIdentity::Mac(m) => ClientKey::Mac(m),
            _ => ClientKey::Ip(remote.ip()),
        };
        let Some(held) = fairness.admit(key) else {
            // Over its share (or the portal is full): reset at once, holding nothing.
            fairness.refused_connections.fetch_add(1, Ordering::Relaxed);
            debug!(%remote, "connection share used up; connection reset");
            if let Ok(std) = stream.into_std() {
                let _ = socket2::SockRef::from(&std).set_linger(Some(Duration::ZERO));
            }
            continue;
        };
        let site = site.clone();
        let tls = tls.clone();
        let fairness = fairness.clone();
        tokio::spawn(async move {
            let intercepted = (accepts == Accepts::Intercepted)
                .then(|| Arc::new(Intercepted::new(&site.portal, conn, who)));
            let share = Share {
                fairness,
                key,
                limits,
                remote,
            };
            // A task's future is as large as its largest path, and is copied whole when
            // spawned: the hyper, h2c and TLS paths are boxed, so a task that answers an
            // intercepted HTTP/1 connection (most connections: every OS probe) carries
            // only its own state.
            let work = async {
                match tls {
                    None => match &intercepted {
                        Some(c) => match opening(&stream, limits.header_read_timeout).await {
                            Opening::H2 => {
                                Box::pin(serve_h2c(stream, &site, c.clone(), share)).await
                            }
                            Opening::Http1 => {
                                super::http1::serve(stream, &site, c.clone(), share).await
                            }
                            // Nothing within the time for a request's header: closed, as
                            // HTTP/1's header timeout would.
                            Opening::Silent => debug!(%remote, "no request in time; closed"),
                        },
                        None => {
                            Box::pin(serve_connection(stream, &site, conn, intercepted, share))
                                .await
                        }
                    },
                    Some(acceptor) => {
                        Box::pin(async {
                            match tokio::time::timeout(
                                limits.header_read_timeout,
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(tls_stream)) => {
                                    serve_connection(tls_stream, &site, conn, intercepted, share)
                                        .await
                                }
                                Ok(Err(e)) => debug!(%remote, "TLS handshake failed: {e}"),
                                Err(_) => debug!(%remote, "TLS handshake timed out"),
                            }
                        })
                        .await
                    }
                }
            };
            if tokio::time::timeout(limits.connection_lifetime, work)
                .await
                .is_err()
            {
                debug!(%remote, "portal connection reached its lifetime; closed");
            }
            drop(held);
        });
    }
}

/// What a connection may take of the portal: its client's share, and the limits.
#[derive(Clone)]
pub(super) struct Share {
    pub(super) fairness: Arc<Fairness>,
    pub(super) key: ClientKey,
    pub(super) limits: Limits,
    pub(super) remote: SocketAddr,
}

impl Share {
    /// The request with its body, within the client's rate and the body limits; else the
    /// answer that refuses it.
    async fn admit<B: From<Bytes>>(
        &self,
        req: Request<Incoming>,
    ) -> Result<Request<Bytes>, Response<B>> {
        if !self.fairness.take_request(self.key) {
            self.fairness
                .limited_requests
                .fetch_add(1, Ordering::Relaxed);
            return Err(too_many_requests());
        }
        let (parts, body) = req.into_parts();
        if body.is_end_stream() {
            return Ok(Request::from_parts(parts, Bytes::new()));
        }
        // The body must arrive in time: a client trickling it holds nothing for long.
        match tokio::time::timeout(
            self.limits.body_timeout,
            http_body_util::Limited::new(body, super::MAX_BODY).collect(),
        )
        .await
        {
            Ok(Ok(b)) => Ok(Request::from_parts(parts, b.to_bytes())),
            Ok(Err(_)) => Err(status_only(StatusCode::PAYLOAD_TOO_LARGE)),
            Err(_) => Err(status_only(StatusCode::REQUEST_TIMEOUT)),
        }
    }
}

async fn serve_connection<I>(
    io: I,
    site: &Arc<Site>,
    conn: ConnInfo,
    intercepted: Option<Arc<Intercepted>>,
    share: Share,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(share.limits.header_read_timeout)
        .max_buf_size(share.limits.max_buf_size);
    let remote = share.remote;
    let io = TokioIo::new(io);
    let served = match intercepted {
        Some(c) => {
            let site = site.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                answer_intercepted(site.clone(), share.clone(), c.clone(), req)
            });
            builder.serve_connection(io, service).await
        }
        None => {
            let app = site.app.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let (app, share) = (app.clone(), share.clone());
                async move {
                    match share.admit(req).await {
                        Ok(mut req) => {
                            req.extensions_mut().insert(conn);
                            app.oneshot(req.map(axum::body::Body::from)).await
                        }
                        Err(refused) => Ok(refused),
                    }
                }
            });
            builder.serve_connection(io, service).await
        }
    };
    if let Err(e) = served {
        debug!(%remote, "portal connection ended: {e}");
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How an intercepted plain connection opens.
enum Opening {
    /// With HTTP/2's preface ("prior knowledge", h2c).
    H2,
    Http1,
    /// With nothing (or an unfinished preface) within the time for a header.
    Silent,
}

/// Looks at a connection's first bytes without reading them, within `within`. HTTP/1
/// requests are told apart by their first byte or two.
async fn opening(stream: &tokio::net::TcpStream, within: Duration) -> Opening {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Opening::Http1,
            Err(_) => return Opening::Silent,
        };
        if n == 0 || !H2_PREFACE.starts_with(&buf[..n]) {
            return Opening::Http1;
        }
        if n == H2_PREFACE.len() {
            return Opening::H2;
        }
        // Part of the preface so far: wait for the rest (peek does not wait for more).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An intercepted h2c connection: the same answers (511, 302, 307) over HTTP/2, within
/// the same share, a few streams at a time.
async fn serve_h2c(
    stream: tokio::net::TcpStream,
    site: &Arc<Site>,
    c: Arc<Intercepted>,
    share: Share,
) {
    let mut builder =
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(8)
        .max_header_list_size(16 * 1024)
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .keep_alive_timeout(Duration::from_secs(5));
    let remote = share.remote;
    let site = site.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        answer_intercepted(site.clone(), share.clone(), c.clone(), req)
    });
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(%remote, "h2c portal connection ended: {e}");
    }
}

/// One request on an intercepted connection (HTTP/1 or h2c): within the device's share,
/// the intercept answer.
async fn answer_intercepted(
    site: Arc<Site>,
    share: Share,
    c: Arc<Intercepted>,
    req: Request<Incoming>,
) -> Result<Response<http_body_util::Full<Bytes>>, Infallible> {
    Ok(match share.admit(req).await {
        Ok(req) => site
            .answers
            .answer(&c, &req.into_parts().0)
            .map(http_body_util::Full::new),
        Err(refused) => refused,
    })
}

pub(super) fn too_many_requests<B: From<Bytes>>() -> Response<B> {
    let mut r = Response::new(B::from(Bytes::from_static(
        b"Too many requests from this device; try again in a second.\n",
    )));
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = r.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(super) fn status_only<B: From<Bytes>>(code: StatusCode) -> Response<B> {
    let mut r = Response::new(B::from(Bytes::new()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portal no longer sets TCP_NODELAY per connection: it relies on the kernel
    /// handing the listener's option to every accepted connection.
    #[tokio::test]
    async fn accepted_connections_inherit_the_listeners_nodelay() {
        let listener = plain_listener("127.0.0.1:0".parse().unwrap(), "lo")
            .await
            .expect("a listener on lo");
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap(), "accepted without TCP_NODELAY");
        // The option is the listener's, not a default: the connecting side has none.
        assert!(!client.nodelay().unwrap());
    }
}
