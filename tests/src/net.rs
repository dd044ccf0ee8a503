//! Small servers and probes for the lab. Servers poll a stop flag so a lab can shut them
//! down; probes are meant to run on a thread inside a client namespace (`Ns::run`).

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use socket2::{Domain, Protocol, Socket, Type};

fn socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    Ok(s)
}

fn tcp_listener(ip: IpAddr, port: u16) -> std::io::Result<TcpListener> {
    let s = socket(SocketAddr::new(ip, port), Type::STREAM, Protocol::TCP)?;
    s.listen(128)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Serves `200 OK` pages whose body contains `marker` and the requested path.
pub fn serve_http(
    ip: IpAddr,
    port: u16,
    marker: &'static str,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicUsize>,
) {
    let Ok(listener) = tcp_listener(ip, port) else {
        return;
    };
    ready.fetch_add(1, Ordering::SeqCst);
    accept_loop(listener, stop, move |mut s| {
        let head = read_head(&mut s);
        let path = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/")
            .to_string();
        let body = format!(
            "<!doctype html><html><head><title>Upstream</title></head><body>\
<h1>{marker}</h1><p>You reached the upstream web server: {path}</p></body></html>\n"
        );
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
}

/// Accepts TCP connections and echoes what they send.
pub fn serve_tcp_echo(ip: IpAddr, port: u16, stop: Arc<AtomicBool>, ready: Arc<AtomicUsize>) {
    let Ok(listener) = tcp_listener(ip, port) else {
        return;
    };
    ready.fetch_add(1, Ordering::SeqCst);
    accept_loop(listener, stop, |mut s| {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
}

fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream) + Send + Sync + Clone + 'static,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let h = handle.clone();
                std::thread::spawn(move || h(s));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Echoes UDP datagrams back to their sender.
pub fn serve_udp_echo(ip: IpAddr, port: u16, stop: Arc<AtomicBool>, ready: Arc<AtomicUsize>) {
    let Ok(s) = socket(SocketAddr::new(ip, port), Type::DGRAM, Protocol::UDP) else {
        return;
    };
    let s: UdpSocket = s.into();
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    ready.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    }
}

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether a TCP connection to `addr` is established within `timeout`, and the error if not.
pub fn tcp_connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    TcpStream::connect_timeout(&addr, timeout)
}

/// Sends one datagram from `local_port` (0: any) to `addr` and waits for the echo.
pub fn udp_echo(addr: SocketAddr, local_port: u16, timeout: Duration) -> bool {
    let local: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], local_port))
    } else {
        SocketAddr::from(([0u16; 8], local_port))
    };
    let Ok(s) = socket(local, Type::DGRAM, Protocol::UDP) else {
        return false;
    };
    let s: UdpSocket = s.into();
    let _ = s.set_read_timeout(Some(timeout));
    let payload = b"netauth-lab-probe";
    if s.send_to(payload, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.recv_from(&mut buf), Ok((n, _)) if &buf[..n] == payload)
}
