//! The FreeRADIUS harness itself: a real server in a namespace, driven with radclient.
//! Needs root (namespaces) and FreeRADIUS 3 (`freeradius`, `freeradius-utils`).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use netauth_lab::radius::{
    FreeRadius, FreeRadiusConfig, RadiusClientDef, TempDir, link_to_aaa, radclient, radclient_with,
};
use netauth_lab::{TempNs, net};

const USERS: &str = "\
alice Cleartext-Password := \"wonderland\"
\tSession-Timeout = 120, Idle-Timeout = 30, ChilliSpot-Max-Total-Octets = 1000000, Acct-Interim-Interval = 60

carol Cleartext-Password := \"x\", Simultaneous-Use := 1
";

const SECRET: &str = "lab-secret";

fn reply_get<'a>(reply: &'a [(String, String)], name: &str) -> Option<&'a str> {
    reply
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A gateway namespace linked to an AAA namespace running FreeRADIUS on all addresses;
/// the gateway plays the NAS.
#[test]
fn freeradius_auth_accounting_and_simultaneous_use() {
    let aaa = TempNs::new("aaa").unwrap();
    let gw = TempNs::new("gw").unwrap();
    let dir = TempDir::new("harness").unwrap();

    let (gw_addr, aaa_addr) = link_to_aaa(&aaa, &gw, 0).unwrap();
    assert_eq!(gw_addr, Ipv4Addr::new(198, 51, 100, 129));
    assert_eq!(aaa_addr, Ipv4Addr::new(198, 51, 100, 130));
    // Idempotent.
    assert_eq!(link_to_aaa(&aaa, &gw, 0).unwrap(), (gw_addr, aaa_addr));
    // Reachability across the link (no ping on the test machines): a UDP echo.
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let echo = {
        let (stop, ready) = (stop.clone(), ready.clone());
        aaa.spawn(move || net::serve_udp_echo(aaa_addr.into(), 9999, stop, ready))
            .unwrap()
    };
    let t = Instant::now();
    while ready.load(Ordering::SeqCst) == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let echoed = gw
        .run(move || {
            net::udp_echo(
                SocketAddr::new(aaa_addr.into(), 9999),
                0,
                Duration::from_secs(2),
            )
        })
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    echo.join().unwrap();
    assert!(echoed, "no UDP echo across the AAA link");

    let cfg = FreeRadiusConfig {
        listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        auth_port: 1812,
        acct_port: 1813,
        clients: vec![RadiusClientDef::new("gw0", gw_addr, SECRET)],
        users: USERS.to_string(),
        shipped: false,
    };
    let server = FreeRadius::start(&aaa, dir.path(), &cfg).unwrap();
    let auth = SocketAddr::new(aaa_addr.into(), 1812);
    let acct = SocketAddr::new(aaa_addr.into(), 1813);

    // Status-Server.
    let (code, _) = radclient(&gw, auth, "status", SECRET, &[]).unwrap();
    assert_eq!(code, "Access-Accept");

    // A good password.
    let (code, reply) = radclient(
        &gw,
        auth,
        "auth",
        SECRET,
        &[
            ("User-Name", "alice"),
            ("User-Password", "wonderland"),
            ("Calling-Station-Id", "02-00-00-00-01-0A"),
            ("Called-Station-Id", "02-00-00-00-00-01:lab"),
            ("NAS-IP-Address", &gw_addr.to_string()),
            ("NAS-Identifier", "netauth gw0"),
            ("NAS-Port", "17"),
            ("Framed-IP-Address", "192.0.2.10"),
        ],
    )
    .unwrap();
    assert_eq!(code, "Access-Accept", "{reply:?}\n{}", server.log_text());
    assert_eq!(reply_get(&reply, "Session-Timeout"), Some("120"));
    assert_eq!(reply_get(&reply, "Idle-Timeout"), Some("30"));
    assert_eq!(reply_get(&reply, "Acct-Interim-Interval"), Some("60"));
    assert_eq!(
        reply_get(&reply, "ChilliSpot-Max-Total-Octets"),
        Some("1000000")
    );

    // A bad one.
    let (code, reply) = radclient(
        &gw,
        auth,
        "auth",
        SECRET,
        &[
            ("User-Name", "alice"),
            ("User-Password", "not-wonderland"),
            ("NAS-Port", "18"),
        ],
    )
    .unwrap();
    assert_eq!(code, "Access-Reject");
    assert!(reply.is_empty(), "{reply:?}");

    // What the server saw: both requests, never the password.
    let reqs = server.auth_requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}"); // Status-Server does not go through authorize
    let first = &reqs[0];
    assert_eq!(first.get("Packet-Type"), Some("Access-Request"));
    assert_eq!(first.get("User-Name"), Some("alice"));
    assert_eq!(first.get("Calling-Station-Id"), Some("02-00-00-00-01-0A"));
    assert_eq!(
        first.get("Called-Station-Id"),
        Some("02-00-00-00-00-01:lab")
    );
    assert_eq!(first.get("NAS-Identifier"), Some("netauth gw0"));
    assert_eq!(first.get_u64("NAS-Port"), Some(17));
    assert_eq!(first.get("Framed-IP-Address"), Some("192.0.2.10"));
    assert_eq!(
        first.get("NAS-IP-Address"),
        Some(gw_addr.to_string().as_str())
    );
    assert_eq!(reqs[1].get_u64("NAS-Port"), Some(18));
    for r in &reqs {
        assert!(r.get("User-Password").is_none(), "{r:?}");
    }
    let detail = std::fs::read_to_string(dir.path().join("radacct/auth-detail")).unwrap();
    assert!(!detail.contains("wonderland"), "{detail}");

    let replies = server.replies();
    let types: Vec<_> = replies.iter().map(|r| r.get("Packet-Type")).collect();
    assert_eq!(
        types,
        [Some("Access-Accept"), Some("Access-Reject")],
        "{replies:?}"
    );
    assert_eq!(replies[0].get_u64("Session-Timeout"), Some(120));
    // Rejects are filtered as in a stock install: no users-file reply items.
    assert_eq!(replies[1].get("Session-Timeout"), None, "{replies:?}");

    // Accounting Start, Interim, Stop.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let common = |status: &'static str| {
        vec![
            ("Acct-Status-Type", status),
            ("User-Name", "alice"),
            ("Acct-Session-Id", "5f3a-0001"),
            ("NAS-Port", "17"),
            ("Calling-Station-Id", "02-00-00-00-01-0A"),
            ("Framed-IP-Address", "192.0.2.10"),
            ("Class", "0x6e61"),
        ]
    };
    let gw_s = gw_addr.to_string();
    let mut start = common("Start");
    start.extend([("NAS-IP-Address", gw_s.as_str()), ("Event-Timestamp", &now)]);
    let (code, _) = radclient(&gw, acct, "acct", SECRET, &start).unwrap();
    assert_eq!(code, "Accounting-Response");
    let mut stop = common("Stop");
    stop.extend([
        ("NAS-IP-Address", gw_s.as_str()),
        ("Event-Timestamp", &now),
        ("Acct-Input-Octets", "1234"),
        ("Acct-Output-Octets", "5678"),
        ("Acct-Input-Gigawords", "1"),
        ("Acct-Input-Packets", "10"),
        ("Acct-Output-Packets", "12"),
        ("Acct-Session-Time", "42"),
        ("Acct-Terminate-Cause", "User-Request"),
    ]);
    let (code, _) = radclient(&gw, acct, "acct", SECRET, &stop).unwrap();
    assert_eq!(code, "Accounting-Response");

    let recs = server.accounting();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0].get("Acct-Status-Type"), Some("Start"));
    assert_eq!(recs[0].get("Acct-Session-Id"), Some("5f3a-0001"));
    assert_eq!(recs[0].get("Class"), Some("0x6e61"));
    assert_eq!(
        recs[0].get_time("Event-Timestamp"),
        Some(now.parse().unwrap()),
        "{:?}",
        recs[0]
    );
    let stop_rec = server
        .wait_accounting(
            |r| r.get("Acct-Status-Type") == Some("Stop"),
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(stop_rec.get_u64("Acct-Input-Octets"), Some(1234));
    assert_eq!(stop_rec.get_u64("Acct-Output-Octets"), Some(5678));
    assert_eq!(stop_rec.input_octets(), Some((1 << 32) + 1234));
    assert_eq!(stop_rec.output_octets(), Some(5678));
    assert_eq!(stop_rec.get_u64("Acct-Session-Time"), Some(42));
    assert_eq!(stop_rec.get("Acct-Terminate-Cause"), Some("User-Request"));
    assert!(stop_rec.get_u64("Timestamp").is_some());

    // Simultaneous-Use := 1, tracked by radutmp from accounting.
    let carol_auth = |port: &'static str| {
        radclient(
            &gw,
            auth,
            "auth",
            SECRET,
            &[
                ("User-Name", "carol"),
                ("User-Password", "x"),
                ("NAS-IP-Address", "198.51.100.200"),
                ("NAS-Port", port),
            ],
        )
        .unwrap()
    };
    assert_eq!(carol_auth("1").0, "Access-Accept");
    let carol_acct = |status: &'static str| {
        let (code, _) = radclient(
            &gw,
            acct,
            "acct",
            SECRET,
            &[
                ("Acct-Status-Type", status),
                ("User-Name", "carol"),
                ("Acct-Session-Id", "carol-1"),
                ("NAS-IP-Address", "198.51.100.200"),
                ("NAS-Port", "1"),
            ],
        )
        .unwrap();
        assert_eq!(code, "Accounting-Response");
    };
    carol_acct("Start");
    let (code, reply) = carol_auth("2");
    assert_eq!(code, "Access-Reject", "{}", server.log_text());
    let msg = reply_get(&reply, "Reply-Message").unwrap_or_default();
    assert!(msg.contains("already logged in"), "{reply:?}");
    assert!(
        server
            .replies()
            .last()
            .and_then(|r| r.get("Reply-Message"))
            .is_some_and(|m| m.contains("already logged in"))
    );
    carol_acct("Stop");
    assert_eq!(carol_auth("3").0, "Access-Accept");

    // A wrong secret: the password decodes to garbage, and radclient cannot verify the
    // reply's authenticator, so it sees no (valid) reply at all.
    let wrong = radclient_with(
        &gw,
        auth,
        "auth",
        "wrong-secret",
        &[("User-Name", "alice"), ("User-Password", "wonderland")],
        Duration::from_millis(300),
        1,
    );
    assert!(wrong.is_err(), "{wrong:?}");

    assert!(server.log_text().contains("Ready to process requests"));
}

/// Two servers at once in separate namespaces, on a specific address and other ports,
/// and kill/restart.
#[test]
fn freeradius_on_loopback_other_ports_and_restart() {
    let ns = TempNs::new("rad").unwrap();
    ns.ip(&["addr", "add", "203.0.113.5/32", "dev", "lo"])
        .unwrap();
    let dir = TempDir::new("lo").unwrap();
    let listen: IpAddr = Ipv4Addr::new(203, 0, 113, 5).into();
    let cfg = FreeRadiusConfig {
        listen,
        auth_port: 11812,
        acct_port: 11813,
        clients: vec![RadiusClientDef::new("self", listen, "s3cret \"quoted\"")],
        users: "bob Cleartext-Password := \"b b\"\n\tReply-Message = \"hi bob\"".into(),
        shipped: false,
    };
    let mut server = FreeRadius::start(&ns, dir.path(), &cfg).unwrap();
    assert_eq!(server.auth_addr(), SocketAddr::new(listen, 11812));
    let secret = "s3cret \"quoted\"";
    let bob = [("User-Name", "bob"), ("User-Password", "b b")];
    let (code, reply) = radclient(&ns, server.auth_addr(), "auth", secret, &bob).unwrap();
    assert_eq!(code, "Access-Accept", "{}", server.log_text());
    assert_eq!(reply, [("Reply-Message".to_string(), "hi bob".to_string())]);

    server.kill();
    assert!(!server.is_running());
    let t = Instant::now();
    let err = radclient_with(
        &ns,
        server.auth_addr(),
        "auth",
        secret,
        &bob,
        Duration::from_millis(300),
        1,
    );
    assert!(err.is_err());
    assert!(t.elapsed() < Duration::from_secs(3));

    server.restart().unwrap();
    let (code, _) = radclient(&ns, server.auth_addr(), "auth", secret, &bob).unwrap();
    assert_eq!(code, "Access-Accept");
    // Detail files survive restarts.
    assert_eq!(server.auth_requests().len(), 2);
    assert_eq!(server.replies().len(), 2);
    assert!(server.accounting().is_empty());
}

/// A Disconnect-Request to where nothing listens fails, and quickly.
#[test]
fn radclient_without_a_listener_fails_fast() {
    let ns = TempNs::new("coa").unwrap();
    let t = Instant::now();
    let r = radclient(
        &ns,
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 3799),
        "disconnect",
        SECRET,
        &[
            ("User-Name", "alice"),
            ("Acct-Session-Id", "5f3a-0001"),
            ("Calling-Station-Id", "02-00-00-00-01-0A"),
        ],
    );
    let elapsed = t.elapsed();
    let err = r.unwrap_err();
    assert!(err.to_string().contains("no reply"), "{err:#}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

/// IPv6: listening on `::`, a client by IPv6 address.
#[test]
fn freeradius_over_ipv6() {
    let ns = TempNs::new("rad6").unwrap();
    let dir = TempDir::new("v6").unwrap();
    let cfg = FreeRadiusConfig {
        listen: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        clients: vec![RadiusClientDef::new("lo6", Ipv6Addr::LOCALHOST, SECRET)],
        users: "dave Cleartext-Password := \"d\"\n\tSession-Timeout = 5\n".into(),
        ..Default::default()
    };
    let server = FreeRadius::start(&ns, dir.path(), &cfg).unwrap();
    assert_eq!(
        server.auth_addr(),
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 1812)
    );
    let (code, reply) = radclient(
        &ns,
        server.auth_addr(),
        "auth",
        SECRET,
        &[("User-Name", "dave"), ("User-Password", "d")],
    )
    .unwrap();
    assert_eq!(code, "Access-Accept", "{}", server.log_text());
    assert_eq!(reply_get(&reply, "Session-Timeout"), Some("5"));
    let (code, _) = radclient(
        &ns,
        server.acct_addr(),
        "acct",
        SECRET,
        &[
            ("Acct-Status-Type", "Interim-Update"),
            ("User-Name", "dave"),
            ("Acct-Session-Id", "v6-1"),
            ("NAS-IPv6-Address", "::1"),
            ("Acct-Output-Octets", "7"),
        ],
    )
    .unwrap();
    assert_eq!(code, "Accounting-Response");
    let rec = server
        .wait_accounting(
            |r| r.get("Acct-Session-Id") == Some("v6-1"),
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(rec.get("Acct-Status-Type"), Some("Interim-Update"));
    assert_eq!(rec.get("NAS-IPv6-Address"), Some("::1"));
    assert_eq!(rec.output_octets(), Some(7));
}
