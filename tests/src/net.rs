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

/// Sends one raw Ethernet frame out of `ifname` (AF_PACKET), for frames the kernel's own
/// stack would not build (e.g. 802.1Q-tagged ones on a kernel without VLAN devices).
pub fn send_frame(ifname: &str, frame: &[u8]) -> std::io::Result<()> {
    let name = std::ffi::CString::new(ifname)?;
    // SAFETY: plain libc calls with valid pointers and lengths; the fd is closed below.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        if index == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = index as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let n = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// An AF_PACKET socket bound to one interface for sending many raw frames (opening one
/// per frame costs an RCU grace period at each close: a few per second at most).
pub struct FrameSender {
    fd: std::os::fd::OwnedFd,
    index: i32,
}

impl FrameSender {
    pub fn open(ifname: &str) -> std::io::Result<Self> {
        use std::os::fd::FromRawFd as _;
        let name = std::ffi::CString::new(ifname)?;
        // SAFETY: plain libc calls; the fd is owned by the returned value.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Self {
                fd: std::os::fd::OwnedFd::from_raw_fd(fd),
                index: index as i32,
            })
        }
    }

    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: sendto with a valid buffer and sockaddr_ll.
        unsafe {
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = self.index;
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&frame[..6]);
            let n = libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// An Ethernet frame carrying an IPv4 packet with an 802.1Q tag (`vid`), to `dst_mac`,
/// from `src_mac`, with a UDP (proto 17) or TCP SYN (proto 6) header to `dport`.
pub fn tagged_ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    vid: u16,
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    proto: u8,
    dport: u16,
) -> Vec<u8> {
    let l4: Vec<u8> = if proto == 17 {
        let mut u = vec![0u8; 8 + 4];
        u[0..2].copy_from_slice(&40000u16.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&(12u16).to_be_bytes());
        u
    } else {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02; // SYN
        t[14..16].copy_from_slice(&1024u16.to_be_bytes());
        t
    };
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut f = Vec::with_capacity(18 + ip.len() + l4.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// An untagged Ethernet frame carrying an IPv4 packet from `src`:`sport` to `dst`:`dport`:
/// UDP (proto 17, with a small payload) or TCP (proto 6) with the given `tcp_flags`.
/// Checksums are valid. For frames the client's own stack would not send (spoofed
/// source addresses).
#[allow(clippy::too_many_arguments)]
pub fn ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    proto: u8,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
) -> Vec<u8> {
    let mut l4: Vec<u8> = if proto == 17 {
        let mut u = vec![0u8; 8 + 8];
        u[8..].copy_from_slice(b"spoofed!");
        u[4..6].copy_from_slice(&(16u16).to_be_bytes());
        u
    } else {
        let mut t = vec![0u8; 20];
        t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = tcp_flags;
        t[14..16].copy_from_slice(&1024u16.to_be_bytes());
        t
    };
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    let initial: u32 = pseudo
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let at = if proto == 17 { 6 } else { 16 };
    let sum = inet_checksum(&l4, initial);
    l4[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = inet_checksum(&ip, 0);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = Vec::with_capacity(14 + ip.len() + l4.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// Whether an ICMP (or ICMPv6) echo request to `addr` is answered within `timeout`.
pub fn icmp_echo(addr: IpAddr, timeout: Duration) -> bool {
    let (domain, proto, request, reply) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8, 129u8),
    };
    let Ok(s) = Socket::new(domain, Type::RAW, Some(proto)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let mut msg = vec![request, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    msg.extend_from_slice(b"netauth-lab-ping");
    if addr.is_ipv4() {
        let sum = inet_checksum(&msg, 0);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    if s.send_to(&msg, &SocketAddr::new(addr, 0).into()).is_err() {
        return false;
    }
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    while std::time::Instant::now() < deadline {
        let Ok(n) = s.recv(&mut buf) else { continue };
        // SAFETY: recv initialised the first n bytes.
        let got: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        // IPv4 raw sockets hand over the IP header too.
        let icmp = if addr.is_ipv4() {
            let ihl = usize::from(got.first().copied().unwrap_or(0) & 0x0f) * 4;
            got.get(ihl..).unwrap_or(&[])
        } else {
            &got[..]
        };
        if icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == id.to_be_bytes() {
            return true;
        }
    }
    false
}

/// Sends an ICMPv6 message of `icmp_type` (code 0, `body` after the 4-byte header) to
/// `dst` with hop limit `hops`, from this namespace's own stack (a raw socket).
pub fn icmpv6_send(dst: std::net::Ipv6Addr, icmp_type: u8, hops: u32, body: &[u8]) -> bool {
    let Ok(s) = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)) else {
        return false;
    };
    if s.set_unicast_hops_v6(hops).is_err() || s.set_multicast_hops_v6(hops).is_err() {
        return false;
    }
    let mut msg = vec![icmp_type, 0, 0, 0];
    msg.extend_from_slice(body);
    s.send_to(&msg, &SocketAddr::new(IpAddr::V6(dst), 0).into())
        .is_ok()
}

/// A gratuitous ARP announcement of `ip` by `mac` (RFC 5227), as devices send when they
/// take an address.
pub fn arp_announcement(mac: [u8; 6], ip: std::net::Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.octets());
    f
}

/// Sends one UDP datagram from `from` (an address of this namespace, port 0: any) to `to`.
pub fn udp_send_from(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> std::io::Result<()> {
    let s = socket(from, Type::DGRAM, Protocol::UDP)?;
    s.send_to(payload, &to.into())?;
    Ok(())
}

/// A raw capture of every frame an interface sends or receives (AF_PACKET, ETH_P_ALL).
pub struct Capture {
    fd: std::os::fd::OwnedFd,
}

impl Capture {
    pub fn open(ifname: &str) -> std::io::Result<Self> {
        use std::os::fd::FromRawFd as _;
        let name = std::ffi::CString::new(ifname)?;
        // SAFETY: plain libc calls; the fd is owned by the returned value.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(std::io::Error::last_os_error());
            }
            let proto = (libc::ETH_P_ALL as u16).to_be();
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = std::os::fd::OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = proto;
            addr.sll_ifindex = index as i32;
            use std::os::fd::AsRawFd as _;
            if libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            Ok(Self { fd })
        }
    }

    /// The next frame, or `None` after a 200 ms quiet spell.
    pub fn next(&self) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd as _;
        let mut buf = vec![0u8; 65536];
        // SAFETY: recv into a buffer we own.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(buf)
    }
}

/// The Internet checksum (RFC 1071) of `data`, starting from `initial`.
pub fn inet_checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Name -> addresses a lab DNS server answers with.
pub type DnsRecords = Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<IpAddr>>>>;

/// A minimal authoritative DNS server for lab names: answers A/AAAA queries for names in
/// `records` with TTL `ttl`, NXDOMAIN otherwise.
pub fn serve_dns(
    addr: SocketAddr,
    records: DnsRecords,
    ttl: u32,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicUsize>,
) {
    let Ok(s) = socket(addr, Type::DGRAM, Protocol::UDP) else {
        return;
    };
    let s: UdpSocket = s.into();
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    ready.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = dns_answer(&buf[..n], &records, ttl) {
            let _ = s.send_to(&reply, from);
        }
    }
}

fn dns_answer(q: &[u8], records: &DnsRecords, ttl: u32) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    // The question: labels, then type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    let name = labels.join(".");
    let addrs = records.lock().ok()?.get(&name).cloned();
    let answers: Vec<IpAddr> = addrs
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| (qtype == 1 && a.is_ipv4()) || (qtype == 28 && a.is_ipv6()))
        .collect();
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]);
    let rcode = if addrs.is_none() { 3 } else { 0 };
    r.extend_from_slice(&[0x84 | (q[2] & 0x01), 0x80 | rcode]);
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..question_end)?);
    for a in answers {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1]);
        r.extend_from_slice(&ttl.to_be_bytes());
        match a {
            IpAddr::V4(v4) => {
                r.extend_from_slice(&[0, 4]);
                r.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                r.extend_from_slice(&[0, 16]);
                r.extend_from_slice(&v6.octets());
            }
        }
    }
    Some(r)
}
