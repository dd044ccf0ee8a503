//! netauth tried by a hostile client on the LAN, as the issue that asked for these found
//! it: tunnels over the ports captive clients need, login theft by address spoofing, the
//! gateway's own services, one client starving the portal, cross-site forms and copied
//! MAC addresses. Attack traffic stays inside each test's namespace lab.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use netauth_lab::{
    Client, GW_LAN_V4, GW_LAN_V6, Lab, Ns, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, WEB_V6, gw_addr,
    http, mac_bytes, net, portal_addr, wait_until, web_addr,
};

/// Frames captured on `iface` in `ns` for `dur`, those `keep` accepts. Returns once the
/// capture is listening.
fn capture(
    ns: &Ns,
    iface: &'static str,
    dur: Duration,
    keep: impl Fn(&[u8]) -> bool + Send + 'static,
) -> std::sync::mpsc::Receiver<Vec<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    ns.spawn(move || {
        let cap = net::Capture::open(iface).expect("capture");
        let _ = ready_tx.send(());
        let end = Instant::now() + dur;
        let mut got = Vec::new();
        while Instant::now() < end {
            if let Some(f) = cap.next()
                && keep(&f)
            {
                got.push(f);
            }
        }
        let _ = tx.send(got);
    })
    .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    rx
}

/// IPv6 frames (untagged) carrying ICMPv6 to `dst`: their ICMPv6 types.
fn icmpv6_types_to(frames: &[Vec<u8>], dst: std::net::Ipv6Addr) -> Vec<u8> {
    frames
        .iter()
        .filter(|f| f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[20] == 58)
        .filter(|f| f[38..54] == dst.octets())
        .map(|f| f[54])
        .collect()
}

#[test]
fn iodine_cannot_tunnel_over_dns_while_captive() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    // An iodine server upstream, on an address of its own ("a DNS server on the internet").
    lab.up
        .ip(&["addr", "add", "203.0.113.53/32", "dev", "lo"])
        .unwrap();
    let mut server = lab
        .up
        .command("iodined")
        .args([
            "-f",
            "-c",
            "-P",
            "labsecret",
            "-l",
            "203.0.113.53",
            "-d",
            "iodsrv",
            "10.53.0.1/24",
            "t.example",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iodined (Debian package iodine; `cargo xtask setup` installs it)");
    assert!(
        wait_until(Duration::from_secs(5), || lab
            .up
            .sh("ss", &["-Hlun", "src", "203.0.113.53"])
            .is_ok_and(|out| !out.trim().is_empty())),
        "iodined did not start listening"
    );
    let tunnel_up = |c: &Client| -> bool {
        let mut client =
            c.ns.command("iodine")
                .args([
                    "-f",
                    "-r",
                    "-P",
                    "labsecret",
                    "-d",
                    "iodcli",
                    "203.0.113.53",
                    "t.example",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        // Up means: the client configured its end of the tunnel and reaches the server
        // through it.
        let up = wait_until(Duration::from_secs(12), || {
            c.ns.ip(&["-4", "addr", "show", "dev", "iodcli"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("10.53.0."))
                && net_icmp(c, IpAddr::V4(Ipv4Addr::new(10, 53, 0, 1)))
        });
        let _ = client.kill();
        let _ = client.wait();
        up
    };
    assert!(
        !tunnel_up(&c),
        "an IP-over-DNS tunnel to a server upstream came up for a captive client"
    );
    assert_eq!(c.status_of(), Some(511));
    // Control: the same tunnel comes up for a signed-in client, so the test can fail.
    assert_eq!(c.login("accept=1").unwrap().status, 303);
    assert!(tunnel_up(&c), "control: iodine works once online");
    let _ = server.kill();
    let _ = server.wait();
}

fn net_icmp(c: &Client, addr: IpAddr) -> bool {
    c.ns.run(move || net::icmp_echo(addr, Duration::from_millis(500)))
        .unwrap_or(false)
}

#[test]
fn icmpv6_infrastructure_types_do_not_leave_the_link() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    // ND, RS/RA, redirect and MLD types with a payload, addressed to an internet host.
    let types: Vec<u8> = vec![130, 131, 132, 133, 134, 135, 136, 137, 143];
    let send_all = |c: &Client| {
        let types = types.clone();
        c.ns.run(move || {
            for t in types {
                for hops in [255, 64] {
                    // 20 bytes: room for an ND target, then the tunnelled payload.
                    let mut body = vec![0u8; 20];
                    body.extend_from_slice(b"tunnelled-payload");
                    assert!(net::icmpv6_send(WEB_V6, t, hops, &body), "send type {t}");
                }
            }
        })
        .unwrap();
    };
    let rx = capture(&lab.up, "up0", Duration::from_secs(2), |_| true);
    send_all(&c);
    let seen = icmpv6_types_to(&rx.recv().unwrap(), WEB_V6);
    assert!(
        seen.is_empty(),
        "ICMPv6 types {seen:?} from a captive client reached the internet"
    );
    // Neighbour discovery on the link still works: the client reaches the gateway's
    // portal and gets its ping answered over IPv6.
    assert!(net_icmp(&c, IpAddr::V6(GW_LAN_V6)), "ping the gateway");
    assert_eq!(
        c.get(portal_addr(true), None, "/login").unwrap().status,
        200
    );
    // Control: once signed in, the same messages are forwarded (the capture sees them).
    assert_eq!(c.login("accept=1").unwrap().status, 303);
    let rx = capture(&lab.up, "up0", Duration::from_secs(2), |_| true);
    send_all(&c);
    let seen = icmpv6_types_to(&rx.recv().unwrap(), WEB_V6);
    assert!(
        seen.contains(&135) && seen.contains(&143),
        "control: a signed-in client's ICMPv6 is forwarded: {seen:?}"
    );
}

/// Sends frames from `attacker`'s MAC carrying `victim_ip` as the source, as fast as it
/// can, until `stop`: TCP SYNs and ACKs to the portal and to port 80 upstream from
/// random ports, and DNS to the gateway.
fn spoof_flood(
    attacker: &Client,
    victim_ip: Ipv4Addr,
    gw_mac: [u8; 6],
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let src_mac = mac_bytes(&attacker.mac);
    attacker
        .ns
        .spawn(move || {
            let mut x: u32 = 0x9e37_79b9;
            let out = net::FrameSender::open("eth0").expect("a raw socket");
            while !stop.load(Ordering::SeqCst) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let sport = 32768 + (x % 28000) as u16;
                let frames = [
                    net::ipv4_frame(
                        gw_mac,
                        src_mac,
                        victim_ip,
                        GW_LAN_V4,
                        6,
                        sport,
                        PORTAL_PORT,
                        0x02,
                    ),
                    net::ipv4_frame(
                        gw_mac,
                        src_mac,
                        victim_ip,
                        GW_LAN_V4,
                        6,
                        sport.wrapping_add(1),
                        PORTAL_PORT,
                        0x10,
                    ),
                    net::ipv4_frame(gw_mac, src_mac, victim_ip, WEB_V4, 6, sport, 80, 0x02),
                    net::ipv4_frame(gw_mac, src_mac, victim_ip, GW_LAN_V4, 17, sport, 53, 0),
                ];
                for f in &frames {
                    if out.send(f).is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .unwrap()
}

#[test]
fn a_spoofing_flood_cannot_steal_a_login() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (attacker, victim) = (lab.clients[0].clone(), lab.clients[1].clone());
    // Both have been seen with their own addresses.
    assert_eq!(attacker.status_of(), Some(511));
    assert_eq!(victim.status_of(), Some(511));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = spoof_flood(
        &attacker,
        victim.v4,
        lab.gw_mac(),
        stop.clone(),
        sent.clone(),
    );
    let ok = wait_until(Duration::from_secs(5), || {
        sent.load(Ordering::Relaxed) > 2000
    });
    assert!(ok, "sent {}", sent.load(Ordering::Relaxed));
    let mut victim_logins = 0;
    for round in 0..5 {
        // The victim signs in (clicking again if the portal asks it to try again).
        let mut answer = 0;
        for _ in 0..5 {
            answer = victim.login("accept=1").map(|r| r.status).unwrap_or(0);
            if answer == 303 {
                break;
            }
            assert_eq!(answer, 409, "round {round}: only 'try again' may refuse it");
        }
        if answer == 303 {
            victim_logins += 1;
            assert!(
                victim.connects(web_addr(false, 443)),
                "round {round}: the victim's login must free the victim"
            );
        }
        assert!(
            !attacker.connects(web_addr(false, 443)),
            "round {round}: the attacker got online with the victim's login"
        );
        let s = lab.daemon().cli(&["sessions", "--json"]);
        let text = String::from_utf8_lossy(&s.stdout);
        assert!(
            !text.contains(&attacker.mac),
            "round {round}: a session for the attacker: {text}"
        );
        if answer == 303 {
            assert_eq!(victim.logout().unwrap().status, 200);
        }
    }
    stop.store(true, Ordering::SeqCst);
    flood.join().unwrap();
    assert_eq!(
        victim_logins, 5,
        "the victim's own logins must work under the flood"
    );
    // The spoofed frames were dropped before they could reach or poison anything.
    let out = lab.daemon().cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["counters"]["drop_spoofed_source"].as_u64().unwrap() > 1000,
        "{status}"
    );
}

#[test]
fn the_gateway_answers_captive_clients_only_on_the_portal_and_what_the_operator_allows() {
    let mut lab = Lab::new(2).unwrap();
    // sshd, a metrics port and SNMP on the gateway.
    lab.start_gateway_services(&[22, 9317], &[161]).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (c, d) = (lab.clients[0].clone(), lab.clients[1].clone());
    for v6 in [false, true] {
        assert!(!c.connects(gw_addr(v6, 22)), "sshd v6={v6}");
        assert!(!c.connects(gw_addr(v6, 9317)), "metrics v6={v6}");
        assert!(!c.udp_echo(gw_addr(v6, 161), 0), "SNMP v6={v6}");
        assert!(c.connects(gw_addr(v6, PORTAL_PORT)), "the portal v6={v6}");
        let gw_ip = gw_addr(v6, 0).ip();
        assert!(net_icmp(&c, gw_ip), "ping the gateway v6={v6}");
    }
    // Signed in, the client reaches the gateway as its own firewall allows (here: open).
    assert_eq!(d.login("accept=1").unwrap().status, 303);
    assert!(d.connects(gw_addr(false, 22)));

    // The operator opens sshd and SNMP to captive clients, nothing else.
    lab.daemon().stop().unwrap();
    lab.start_netauth(&["--gateway-allow", "tcp/22", "--gateway-allow", "udp/161"])
        .unwrap();
    for v6 in [false, true] {
        assert!(c.connects(gw_addr(v6, 22)), "allowed sshd v6={v6}");
        assert!(c.udp_echo(gw_addr(v6, 161), 0), "allowed SNMP v6={v6}");
        assert!(
            !c.connects(gw_addr(v6, 9317)),
            "metrics stay closed v6={v6}"
        );
    }
    assert_eq!(c.status_of(), Some(511));
    // A bad entry stops netauth with a clear message.
    lab.daemon().stop().unwrap();
    let err = lab
        .start_netauth(&["--gateway-allow", "icmp/22"])
        .err()
        .expect("refused");
    assert!(err.to_string().contains("gateway-allow"), "{err:#}");
}

/// Opens `n` connections to `addr` that send half a request and then nothing (counting
/// the attempts in `tried`); returns how many were still open (not reset or closed by the
/// server) after `hold`.
fn slow_connections(
    c: &Client,
    addr: SocketAddr,
    n: usize,
    partial: &'static [u8],
    hold: Duration,
    tried: Arc<AtomicUsize>,
) -> usize {
    c.ns.run(move || {
        use std::io::{Read as _, Write as _};
        let mut open = Vec::new();
        for _ in 0..n {
            if let Ok(mut s) =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
            {
                let _ = s.write_all(partial);
                open.push(s);
            }
            tried.fetch_add(1, Ordering::Relaxed);
        }
        // Holding them is the attack.
        std::thread::sleep(hold);
        let mut alive = 0;
        for s in &mut open {
            let _ = s.set_nonblocking(true);
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => alive += 1,
                _ => {}
            }
        }
        alive
    })
    .unwrap()
}

#[test]
fn one_client_cannot_deny_the_portal_to_the_others() {
    let mut lab = Lab::new(2).unwrap();
    // systemd's default open-file limit, which 1,500 slow connections used to exhaust.
    lab.start_netauth_with(&[], Some(1024)).unwrap();
    let (attacker, victim) = (lab.clients[0].clone(), lab.clients[1].clone());
    let log = lab.daemon().log_text();
    assert!(log.contains("nofile=1024"), "{log}");
    // 4,500 slow connections from one client: slow headers to intercepted port 80, and a
    // login POST whose body never comes.
    let tried = Arc::new(AtomicUsize::new(0));
    let (a, t) = (attacker.clone(), tried.clone());
    let headers = std::thread::spawn(move || {
        slow_connections(
            &a,
            web_addr(false, 80),
            3000,
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(3),
            t,
        )
    });
    let (a, t) = (attacker.clone(), tried.clone());
    let bodies = std::thread::spawn(move || {
        slow_connections(
            &a,
            portal_addr(false),
            1500,
            b"POST /login HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\naccept=1",
            Duration::from_secs(3),
            t,
        )
    });
    // The attack is under way: most of its connections are open.
    assert!(
        wait_until(Duration::from_secs(10), || tried.load(Ordering::Relaxed)
            >= 3000),
        "the attacker opened only {} connections",
        tried.load(Ordering::Relaxed)
    );
    // Meanwhile the other client gets its 511 and signs in, each within 2 s.
    let t0 = Instant::now();
    assert_eq!(victim.status_of(), Some(511));
    let t511 = t0.elapsed();
    let t0 = Instant::now();
    assert_eq!(victim.login("accept=1").unwrap().status, 303);
    let tlogin = t0.elapsed();
    assert!(t511 < Duration::from_secs(2), "511 took {t511:?}");
    assert!(tlogin < Duration::from_secs(2), "login took {tlogin:?}");
    // The admin socket keeps answering.
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&victim.mac));
    let (held_headers, held_bodies) = (headers.join().unwrap(), bodies.join().unwrap());
    // The attacker holds no more than its share (32 connections by default).
    assert!(
        held_headers + held_bodies <= 32,
        "one client held {held_headers} + {held_bodies} portal connections"
    );
    assert!(lab.daemon().is_running());
    assert!(!lab.daemon().log_text().contains("Too many open files"));
    // And its requests beyond its rate get 429, while it may still sign in afterwards.
    let rates: Vec<u16> = attacker
        .ns
        .run(|| {
            (0..80)
                .map(|_| {
                    http::get(web_addr(false, 80), None, "/")
                        .map(|r| r.status)
                        .unwrap_or(0)
                })
                .collect()
        })
        .unwrap();
    assert!(rates.contains(&511) && rates.contains(&429), "{rates:?}");
}

#[test]
fn login_and_logout_forms_from_another_site_are_refused() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let p = portal_addr(false);
    let post = |c: &Client, path: &'static str, origin: Option<&'static str>, body: String| {
        c.ns.run(move || {
            let origin = origin
                .map(|o| format!("Origin: {o}\r\n"))
                .unwrap_or_default();
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: 192.0.2.1:{PORTAL_PORT}\r\n{origin}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            http::raw(p, req.as_bytes(), Duration::from_secs(3)).unwrap()
        })
        .unwrap()
    };
    let token = |c: &Client, page: &str| {
        http::form_token(&c.get(p, None, page).unwrap().body).expect("form token")
    };
    // A page elsewhere submitting the login form: no token, or the right token but
    // another origin, or a forged token.
    let r = post(&c, "/login", None, "accept=1".into());
    assert_eq!(r.status, 403, "{r:?}");
    let t = token(&c, "/login");
    let r = post(
        &c,
        "/login",
        Some("http://evil.example"),
        format!("token={t}&accept=1"),
    );
    assert_eq!(r.status, 403, "{r:?}");
    let r = post(&c, "/login", Some("null"), format!("token={t}&accept=1"));
    assert_eq!(r.status, 403, "{r:?}");
    let r = post(
        &c,
        "/login",
        None,
        "token=66000000-00000000000000000000000000000000&accept=1".into(),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(c.status_of(), Some(511), "nothing was granted");
    // The portal's own page works, with or without an Origin header.
    let r = post(
        &c,
        "/login",
        Some("http://192.0.2.1:8080"),
        format!("token={t}&accept=1"),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(c.status_of(), Some(200));
    // Logging a visitor out from another site does not work either.
    let t = token(&c, "/status");
    let r = post(&c, "/logout", None, String::new());
    assert_eq!(r.status, 403, "{r:?}");
    let r = post(
        &c,
        "/logout",
        Some("http://evil.example"),
        format!("token={t}"),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(c.status_of(), Some(200), "still online");
    let r = post(&c, "/logout", None, format!("token={t}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.status_of(), Some(511));
}

/// Whether a datagram `from` the client's address reaches the upstream (seen on its
/// interface).
fn reaches_upstream(lab: &Lab, c: &Client, from: Ipv4Addr) -> bool {
    let rx = capture(&lab.up, "up0", Duration::from_millis(1500), move |f| {
        f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17 && f[26..30] == from.octets()
    });
    c.ns.run(move || {
        for _ in 0..3 {
            let _ = net::udp_send_from(
                SocketAddr::from((from, 0)),
                SocketAddr::from((WEB_V4, 9999)),
                b"who am I",
            );
            // Paced: three separate tries, not one burst.
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .unwrap();
    !rx.recv().unwrap().is_empty()
}

#[test]
fn a_signed_in_device_may_send_only_from_its_own_addresses() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (c, other) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(other.status_of(), Some(511)); // the other device uses its address
    assert_eq!(c.login("accept=1").unwrap().status, 303);
    assert!(reaches_upstream(&lab, &c, c.v4), "its own address passes");
    // A second address it never acquired, and another device's address: dropped.
    c.ns.ip(&["addr", "add", "192.0.2.99/24", "dev", "eth0"])
        .unwrap();
    assert!(!reaches_upstream(&lab, &c, Ipv4Addr::new(192, 0, 2, 99)));
    c.ns.ip(&["addr", "add", &format!("{}/24", other.v4), "dev", "eth0"])
        .unwrap();
    assert!(!reaches_upstream(&lab, &c, other.v4));
    let log = lab.daemon().log_text();
    let counters = lab.daemon().cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&counters.stdout).unwrap();
    assert!(
        status["counters"]["drop_unbound_source"].as_u64().unwrap() > 0,
        "{status}\n{log}"
    );
    // Once the device announces the new address on the link (ARP), it is its own: the
    // address was free.
    c.ns.ip(&["addr", "del", &format!("{}/24", other.v4), "dev", "eth0"])
        .unwrap();
    let announce = net::arp_announcement(mac_bytes(&c.mac), Ipv4Addr::new(192, 0, 2, 99));
    c.ns.run(move || net::send_frame("eth0", &announce).unwrap())
        .unwrap();
    assert!(reaches_upstream(&lab, &c, Ipv4Addr::new(192, 0, 2, 99)));
    // A copied MAC: the other device takes c's MAC but keeps its own address (which it
    // used, and announces, as itself): dropped.
    other
        .ns
        .ip(&["link", "set", "eth0", "address", &c.mac])
        .unwrap();
    let announce = net::arp_announcement(mac_bytes(&c.mac), other.v4);
    other
        .ns
        .run(move || net::send_frame("eth0", &announce).unwrap())
        .unwrap();
    assert!(
        !reaches_upstream(&lab, &other, other.v4),
        "a copied MAC sending from another device's address"
    );
    other
        .ns
        .ip(&["link", "set", "eth0", "address", &other.mac])
        .unwrap();

    // With --bind-addresses false the datapath does not check (for static-address LANs).
    lab.daemon().stop().unwrap();
    lab.start_netauth(&["--bind-addresses", "false"]).unwrap();
    assert!(reaches_upstream(&lab, &c, Ipv4Addr::new(192, 0, 2, 99)));
}

#[test]
fn pins_in_a_namespace_of_its_own_are_refused() {
    let mut lab = Lab::new(1).unwrap();
    // The default --bpffs under `ip netns exec`: /sys is the namespace's own, so a bpffs
    // netauth mounted there would vanish with it and open the LAN.
    let out = lab
        .gw
        .command(netauth_lab::netauth_bin())
        .args(["run", "--lan", "lan0", "--admin-socket"])
        .arg(lab.dir.join("a.sock"))
        .arg("--state-dir")
        .arg(lab.state_dir())
        .env("NETAUTH_LOG", "info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mount namespace of its own"), "{err}");
    assert!(err.contains("--bpffs"), "{err}");
    // Nothing was attached: the interface carries no program.
    let link =
        String::from_utf8(lab.gw.ip(&["-d", "link", "show", "lan0"]).unwrap().stdout).unwrap();
    assert!(!link.contains("xdp"), "{link}");
    // With a bpffs mounted on the host (as the README says), it runs, and a crash leaves
    // a never-signed-in client blocked.
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    assert!(lab.daemon().log_text().contains("pins outlive netauth"));
    lab.daemon().kill();
    assert!(!c.connects(web_addr(false, 443)));
    assert!(
        c.get(web_addr(false, 80), None, "/")
            .map(|r| !r.body.contains(UPSTREAM_MARKER))
            .unwrap_or(true)
    );
}

/// A captive device floods SYNs to port 80 from more source ports than the intercept map
/// holds (it is an LRU of 65 536), so every other captive device's record is pushed out
/// again and again. None of it leaves the gateway (it is all rewritten to the portal), a
/// device that never signed in still gets its 511 and nothing else, and the flooder
/// itself stays captive.
#[test]
fn a_syn_flood_through_the_intercept_map_opens_nothing() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (attacker, victim) = (lab.clients[0].clone(), lab.clients[1].clone());
    let gw_mac = lab.gw_mac();
    // Anything from either client to the web server that reaches the upstream side.
    let (a_ip, v_ip) = (attacker.v4.octets(), victim.v4.octets());
    let leaked = capture(&lab.up, "up0", Duration::from_secs(20), move |f| {
        f.len() >= 34 && f[12..14] == [8, 0] && (f[26..30] == a_ip || f[26..30] == v_ip)
    });
    let src_mac = mac_bytes(&attacker.mac);
    let src = attacker.v4;
    let sent = attacker
        .ns
        .run(move || {
            let out = net::FrameSender::open("eth0").expect("a raw socket");
            let mut sent = 0usize;
            for i in 0..80_000u32 {
                let sport = 1024 + (i % 64_000) as u16;
                let f = net::ipv4_frame(gw_mac, src_mac, src, WEB_V4, 6, sport, 80, 0x02);
                if out.send(&f).is_ok() {
                    sent += 1;
                }
            }
            sent
        })
        .unwrap();
    assert!(sent > 70_000, "{sent} SYNs sent");
    // The victim, which never signed in, is answered by the portal and nothing else.
    let r = victim.get(web_addr(false, 80), None, "/").unwrap();
    assert_eq!(r.status, 511, "{r:?}");
    assert!(!victim.connects(web_addr(false, 443)));
    assert_eq!(
        attacker.get(web_addr(false, 80), None, "/").unwrap().status,
        511
    );
    assert!(!attacker.connects(web_addr(false, 443)));
    let steered = lab.daemon().counters()["tc_steered"];
    assert!(steered >= sent as u64, "{steered} steered of {sent}");
    let leaked = leaked.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        leaked.is_empty(),
        "{} frames of captive devices reached the upstream",
        leaked.len()
    );
}
