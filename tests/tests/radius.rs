//! RADIUS against a real FreeRADIUS (Debian's package, started by the harness with its own
//! config directory): PAP logins with the Access-Accept's limits, accounting that matches
//! the traffic, CoA and Disconnect from radclient, MAC authentication and trusted MACs,
//! fail-over when a server is down, and two gateways sharing one server. The assertions
//! read what FreeRADIUS received (its detail files), not only netauth's view.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use netauth_common::api::Via;
use netauth_lab::{
    Client, GW_LAN_V4, Lab, TempNs, http, portal_addr,
    radius::{self, FreeRadius, FreeRadiusConfig, RadiusClientDef, is_acct, secret_file, station},
    wait_until,
};

const SECRET: &str = "t0p-s3cret-shared";
const GW_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const UP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// A FreeRADIUS in the lab's upstream namespace that knows the gateway.
fn server_in_upstream(lab: &Lab, users: &str, ports: (u16, u16), name: &str) -> FreeRadius {
    FreeRadius::start(
        &lab.up,
        &lab.dir.join(name),
        &FreeRadiusConfig {
            listen: IpAddr::V4(UP),
            auth_port: ports.0,
            acct_port: ports.1,
            clients: vec![RadiusClientDef::new("gw", GW_WAN, SECRET)],
            users: users.into(),
            shipped: false,
        },
    )
    .unwrap()
}

const USERS: &str = "alice Cleartext-Password := \"wonder land\"\n\
\tSession-Timeout = 600, Idle-Timeout = 300, ChilliSpot-Max-Total-Octets = 50000000, Class = \"vip-plan\"\n\
\n\
bob Cleartext-Password := \"builder-2\"\n";

#[test]
fn radius_login_applies_the_accept_and_accounting_matches_the_traffic() {
    let mut lab = Lab::new(2).unwrap();
    let fr = server_in_upstream(&lab, USERS, (1812, 1813), "radius");
    let secret = secret_file(&lab.dir, SECRET);
    lab.start_netauth(&[
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
        "--radius-nas-identifier",
        "gw-test",
        "--radius-interim-interval",
        "2s",
    ])
    .unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(a.status_of(), Some(511));

    // Wrong password: "invalid", nothing more; FreeRADIUS saw the request and rejected it.
    let r = a.login_as("alice", "not-it");
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("Invalid user name or password"),
        "{}",
        r.body
    );
    assert!(
        fr.replies()
            .iter()
            .any(|x| x.get("Packet-Type") == Some("Access-Reject"))
    );
    assert_eq!(a.status_of(), Some(511));

    // The right one (with a space, form-encoded as '+').
    let r = a.login_as("alice", "wonder+land");
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(a.status_of(), Some(200));
    assert_eq!(b.status_of(), Some(511), "only alice's device is online");

    // What the Access-Request carried.
    let req = fr.auth_requests().pop().unwrap();
    assert_eq!(req.get("User-Name"), Some("alice"));
    assert_eq!(
        req.get("Calling-Station-Id"),
        Some(station(&a.mac).as_str())
    );
    assert_eq!(req.get("Framed-IP-Address"), Some("192.0.2.10"));
    assert_eq!(req.get("NAS-Identifier"), Some("gw-test"));
    assert_eq!(req.get("NAS-IP-Address"), Some("198.51.100.1"));
    assert_eq!(req.get("Service-Type"), Some("Login-User"));
    assert!(req.get("Message-Authenticator").is_some(), "{req:?}");
    assert!(req.get("User-Password").is_none());

    // The Accept's limits are the session's.
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(s.via, Via::Radius);
    assert_eq!(s.username.as_deref(), Some("alice"));
    let left = s.seconds_remaining;
    assert!((590..=600).contains(&left), "{s:?}");
    assert_eq!(s.idle_timeout_s, Some(300));
    assert_eq!(s.quota_total, Some(50_000_000u64));
    let sid = s.acct_session_id.unwrap();

    // Accounting Start, with the Class echoed.
    let start = fr
        .wait_accounting(|r| is_acct(r, "Start", &sid), Duration::from_secs(5))
        .expect("no accounting Start");
    assert_eq!(start.get("User-Name"), Some("alice"));
    assert_eq!(start.get("Class"), Some("0x7669702d706c616e"));
    assert_eq!(
        start.get("Calling-Station-Id"),
        Some(station(&a.mac).as_str())
    );
    assert!(start.get_u64("NAS-Port").is_some_and(|p| p > 0));

    // Traffic: 4 MB up, echoed back down, with wire-sized frames on the client.
    a.ns.command("ethtool")
        .args(["-K", "eth0", "tso", "off", "gso", "off", "gro", "off"])
        .status()
        .unwrap();
    lab.sw
        .command("ethtool")
        .args(["-K", "p-c0", "tso", "off", "gso", "off"])
        .status()
        .unwrap();
    let l0 = a.link_counters();
    assert_eq!(a.echo(4 << 20, 64 << 10), 4 << 20);
    a.wait_quiet();
    let l1 = a.link_counters();

    // Interim-Updates come every 2 s and carry growing counters.
    let interim = fr
        .wait_accounting(
            |r| {
                is_acct(r, "Interim-Update", &sid)
                    && r.input_octets().is_some_and(|o| o > 4_000_000)
            },
            Duration::from_secs(6),
        )
        .expect("no Interim-Update with the traffic");
    assert!(interim.get_u64("Acct-Session-Time").is_some());

    // Logout: Stop with User-Request and the session's totals.
    assert_eq!(a.logout().unwrap().status, 200);
    let l2 = a.link_counters();
    let stop = fr
        .wait_accounting(|r| is_acct(r, "Stop", &sid), Duration::from_secs(5))
        .expect("no accounting Stop");
    assert_eq!(stop.get("Acct-Terminate-Cause"), Some("User-Request"));
    // The client's interface counters at layer 3, from login to logout (the transfer
    // dominates; the logout exchange is in the second window).
    let sent = (l1.0 - l0.0) - 14 * (l1.1 - l0.1);
    let recv = (l1.2 - l0.2) - 14 * (l1.3 - l0.3);
    let sent_all = (l2.0 - l0.0) - 14 * (l2.1 - l0.1);
    let recv_all = (l2.2 - l0.2) - 14 * (l2.3 - l0.3);
    let up = stop.input_octets().unwrap();
    let down = stop.output_octets().unwrap();
    let within = |got: u64, lo: u64, hi: u64| {
        got as f64 >= lo as f64 * 0.99 && got as f64 <= hi as f64 * 1.01 + 4096.0
    };
    assert!(
        within(up, sent, sent_all),
        "up {up} vs sent {sent}..{sent_all}"
    );
    assert!(
        within(down, recv, recv_all),
        "down {down} vs received {recv}..{recv_all}"
    );
    let up_pkts = stop.get_u64("Acct-Input-Packets").unwrap();
    assert!(
        within(up_pkts, l1.1 - l0.1, l2.1 - l0.1),
        "packets {up_pkts}"
    );
    assert_eq!(a.status_of(), Some(511));

    // Secrets never reach the logs.
    let log = lab.daemon().log_text();
    for s in [SECRET, "wonder land", "not-it"] {
        assert!(!log.contains(s), "'{s}' in the log:\n{log}");
    }
}

fn das() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GW_WAN), 3799)
}

#[test]
fn coa_and_disconnect_from_radclient_change_and_end_sessions() {
    let mut lab = Lab::new(2).unwrap();
    let fr = server_in_upstream(&lab, USERS, (1812, 1813), "radius");
    let secret = secret_file(&lab.dir, SECRET);
    lab.start_netauth(&[
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
        "--radius-nas-identifier",
        "gw-test",
        "--das-client",
        "198.51.100.2",
    ])
    .unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(a.login_as("alice", "wonder+land").status, 303);
    assert_eq!(b.login_as("bob", "builder-2").status, 303);
    let sid = lab
        .daemon()
        .session(&a.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    let up = lab.up.clone();
    let send = |kind: &str, secret: &str, attrs: &[(&str, &str)]| {
        radius::radclient(&up, das(), kind, secret, attrs)
    };
    let error_cause = |reply: &[(String, String)]| {
        reply
            .iter()
            .find(|(n, _)| n == "Error-Cause")
            .map(|(_, v)| v.clone())
    };

    // CoA: a new Session-Timeout (from the session's start), idle timeout and quota.
    let alice = station(&a.mac);
    let (code, _) = send(
        "coa",
        SECRET,
        &[
            ("Calling-Station-Id", &alice),
            ("Session-Timeout", "120"),
            ("Idle-Timeout", "45"),
            ("ChilliSpot-Max-Total-Octets", "7000000"),
        ],
    )
    .unwrap();
    assert_eq!(code, "CoA-ACK");
    let s = lab.daemon().session(&a.mac).unwrap();
    assert!(s.seconds_remaining <= 120, "{s:?}");
    assert_eq!(s.idle_timeout_s, Some(45));
    assert_eq!(s.quota_total, Some(7_000_000u64));
    let bob_before = lab.daemon().session(&b.mac).unwrap();
    assert_eq!(bob_before.idle_timeout_s, None, "bob unchanged");

    // NAKs: unknown session, another NAS, unsupported attribute, nothing to identify.
    let (code, reply) = send(
        "coa",
        SECRET,
        &[("User-Name", "nobody"), ("Session-Timeout", "60")],
    )
    .unwrap();
    assert_eq!(code, "CoA-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("Session-Context-Not-Found")
    );
    let (code, reply) = send(
        "disconnect",
        SECRET,
        &[("User-Name", "alice"), ("NAS-Identifier", "another-gw")],
    )
    .unwrap();
    assert_eq!(code, "Disconnect-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("NAS-Identification-Mismatch")
    );
    let (code, reply) = send(
        "coa",
        SECRET,
        &[("User-Name", "alice"), ("Filter-Id", "web-only")],
    )
    .unwrap();
    assert_eq!(code, "CoA-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("Unsupported-Attribute")
    );
    let (code, reply) = send(
        "disconnect",
        SECRET,
        &[("Acct-Terminate-Cause", "Admin-Reset")],
    )
    .unwrap();
    assert_eq!(code, "Disconnect-NAK");
    assert_eq!(error_cause(&reply).as_deref(), Some("Missing-Attribute"));
    // A value netauth cannot hold (Session-Timeout past 10 years), or a vendor attribute
    // it cannot apply, is refused and changes nothing.
    let (code, reply) = send(
        "coa",
        SECRET,
        &[
            ("Calling-Station-Id", &alice),
            ("Session-Timeout", "4000000000"),
            ("Idle-Timeout", "30"),
        ],
    )
    .unwrap();
    assert_eq!(code, "CoA-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("Invalid-Attribute-Value")
    );
    let (code, reply) = send(
        "coa",
        SECRET,
        &[
            ("Calling-Station-Id", &alice),
            ("Idle-Timeout", "30"),
            // A minimum bandwidth: netauth applies maximums only (see shaping.rs).
            ("WISPr-Bandwidth-Min-Up", "1000"),
        ],
    )
    .unwrap();
    assert_eq!(code, "CoA-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("Unsupported-Attribute")
    );
    let s = lab.daemon().session(&a.mac).unwrap();
    assert!(s.seconds_remaining <= 120, "{s:?}");
    assert_eq!(s.idle_timeout_s, Some(45), "{s:?}");
    // A wrong secret, or a client not on the allow-list (a LAN device), gets no answer.
    assert!(send("disconnect", "wrong-secret", &[("User-Name", "alice")]).is_err());
    let lan_client = b.ns.clone();
    assert!(
        radius::radclient(
            &lan_client,
            SocketAddr::new(IpAddr::V4(GW_LAN_V4), 3799),
            "disconnect",
            SECRET,
            &[("User-Name", "alice")]
        )
        .is_err()
    );
    // Garbage datagrams from an allowed client are dropped; the listener carries on.
    lab.up
        .run(|| {
            let s = std::net::UdpSocket::bind("198.51.100.2:0").unwrap();
            for junk in [
                &b""[..],
                b"\x28",
                &[0x28, 1, 0, 200, 0, 0][..],
                &[0xff; 300][..],
            ] {
                s.send_to(junk, das()).unwrap();
            }
        })
        .unwrap();
    assert_eq!(
        a.status_of(),
        Some(200),
        "nothing above ended alice's session"
    );

    // Disconnect by Acct-Session-Id: alice is captive again, bob is not touched.
    let (code, _) = send(
        "disconnect",
        SECRET,
        &[("Acct-Session-Id", &sid), ("NAS-Identifier", "gw-test")],
    )
    .unwrap();
    assert_eq!(code, "Disconnect-ACK");
    assert_eq!(a.status_of(), Some(511));
    assert_eq!(b.status_of(), Some(200));
    let stop = fr
        .wait_accounting(|r| is_acct(r, "Stop", &sid), Duration::from_secs(5))
        .expect("no Stop after the Disconnect");
    assert_eq!(stop.get("Acct-Terminate-Cause"), Some("Admin-Reset"));
    let r =
        a.ns.run(|| http::get(portal_addr(false), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(
        r.body.contains("ended by the network operator"),
        "{}",
        r.body
    );
    // Another Disconnect for the ended session finds nothing.
    let (code, reply) = send("disconnect", SECRET, &[("User-Name", "alice")]).unwrap();
    assert_eq!(code, "Disconnect-NAK");
    assert_eq!(
        error_cause(&reply).as_deref(),
        Some("Session-Context-Not-Found")
    );
    assert!(
        lab.daemon()
            .log_text()
            .contains("Disconnect-Request: sessions ended")
    );

    // A CoA that shortens bob's Session-Timeout below his time online ends the session;
    // the Stop says Session-Timeout.
    let bob_sid = lab
        .daemon()
        .session(&b.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    let (code, _) = send(
        "coa",
        SECRET,
        &[("User-Name", "bob"), ("Session-Timeout", "1")],
    )
    .unwrap();
    assert_eq!(code, "CoA-ACK");
    let stop = fr
        .wait_accounting(|r| is_acct(r, "Stop", &bob_sid), Duration::from_secs(5))
        .expect("no Stop after the shortened Session-Timeout");
    assert_eq!(stop.get("Acct-Terminate-Cause"), Some("Session-Timeout"));
    assert_eq!(b.status_of(), Some(511));

    // A retransmitted Disconnect-Request (same identifier and authenticator) gets the same
    // answer and is applied once: the second copy is not a new request (which would now
    // find no session and be NAKed).
    assert_eq!(a.login_as("alice", "wonder+land").status, 303);
    let request = disconnect_request(77, "alice", SECRET);
    let answers: Vec<Vec<u8>> = lab
        .up
        .run(move || {
            let s = std::net::UdpSocket::bind("198.51.100.2:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            (0..2)
                .map(|_| {
                    s.send_to(&request, das()).unwrap();
                    let mut buf = [0u8; 4096];
                    let (n, _) = s.recv_from(&mut buf).unwrap();
                    buf[..n].to_vec()
                })
                .collect()
        })
        .unwrap();
    assert_eq!(answers[0][0], 41, "Disconnect-ACK");
    assert_eq!(answers[0], answers[1]);
    assert_eq!(a.status_of(), Some(511));
}

/// A Disconnect-Request built by hand (RFC 5176 §2.3: MD5 over the packet with a zero
/// authenticator, then the secret), independent of netauth's own codec.
fn disconnect_request(id: u8, user: &str, secret: &str) -> Vec<u8> {
    use md5::{Digest as _, Md5};
    let mut p = vec![40u8, id, 0, 0];
    p.extend_from_slice(&[0; 16]);
    p.push(1);
    p.push(2 + user.len() as u8);
    p.extend_from_slice(user.as_bytes());
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut h = Md5::new();
    h.update(&p);
    h.update(secret.as_bytes());
    let auth: [u8; 16] = h.finalize().into();
    p[4..20].copy_from_slice(&auth);
    p
}

#[test]
fn mac_authentication_and_trusted_macs_need_no_browser() {
    let mut lab = Lab::new(3).unwrap();
    let (a, b, c) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
    );
    let users = format!(
        "{0} Cleartext-Password := \"{0}\"\n\tSession-Timeout = 900\n",
        station(&a.mac)
    );
    let fr = server_in_upstream(&lab, &users, (1812, 1813), "radius");
    let secret = secret_file(&lab.dir, SECRET);
    lab.start_netauth(&[
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
        "--radius-mac-auth",
        "--trusted-mac",
        &c.mac,
    ])
    .unwrap();
    // The trusted device is online at once, without limits.
    assert_eq!(c.status_of(), Some(200));
    let s = lab.daemon().session(&c.mac).unwrap();
    assert_eq!(s.via, Via::Trusted);
    assert!(
        fr.auth_requests()
            .iter()
            .all(|r| r.get("User-Name") != Some(&station(&c.mac)))
    );

    // A and B show up on the network (an HTTP request, if nothing they sent on their own,
    // such as IPv6 router solicitations, was seen first: then A may be online already).
    let _ = a.status_of();
    assert_eq!(b.status_of(), Some(511));
    assert!(
        wait_until(Duration::from_secs(6), || a.status_of() == Some(200)),
        "MAC authentication did not authorize A:\n{}",
        lab.daemon().log_text()
    );
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(s.via, Via::RadiusMac);
    assert!(s.seconds_remaining <= 900);
    let req = fr
        .auth_requests()
        .into_iter()
        .find(|r| r.get("User-Name") == Some(&station(&a.mac)))
        .unwrap();
    assert_eq!(req.get("Service-Type"), Some("Call-Check"));
    assert_eq!(
        req.get("Calling-Station-Id"),
        Some(station(&a.mac).as_str())
    );
    // B is unknown to RADIUS: rejected, captive, and not asked again at once.
    assert!(
        fr.wait_auth_request(
            |r| r.get("User-Name") == Some(&station(&b.mac)),
            Duration::from_secs(5)
        )
        .is_some()
    );
    // Time passing is what is tested: B is not asked about again meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.status_of(), Some(511));
    let asked = fr
        .auth_requests()
        .iter()
        .filter(|r| r.get("User-Name") == Some(&station(&b.mac)))
        .count();
    assert_eq!(
        asked, 1,
        "a rejected device is not asked about every second"
    );

    // The trusted list is the config's: a restart without it ends that session.
    lab.daemon().stop().unwrap();
    lab.start_netauth(&[
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
    ])
    .unwrap();
    assert!(lab.daemon().session(&c.mac).is_none());
    assert_eq!(c.status_of(), Some(511));
    assert_eq!(a.status_of(), Some(200), "A's session survives the restart");
}

#[test]
fn a_dead_server_fails_over_and_accounting_waits_for_a_live_one() {
    let mut lab = Lab::new(2).unwrap();
    let mut primary = server_in_upstream(&lab, USERS, (1812, 1813), "primary");
    let mut secondary = server_in_upstream(&lab, USERS, (1912, 1913), "secondary");
    let secret = secret_file(&lab.dir, SECRET);
    lab.start_netauth(&[
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2:1812",
        "--radius-server",
        "198.51.100.2:1912",
        "--radius-acct-server",
        "198.51.100.2:1813",
        "--radius-acct-server",
        "198.51.100.2:1913",
        "--radius-secret-file",
        &secret,
        "--radius-timeout",
        "500ms",
        "--radius-retries",
        "2",
    ])
    .unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());

    // The primary is down: the login still works, through the secondary.
    primary.kill();
    let t0 = Instant::now();
    assert_eq!(a.login_as("alice", "wonder+land").status, 303);
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "retried the primary first"
    );
    assert_eq!(a.status_of(), Some(200));
    assert!(
        secondary
            .auth_requests()
            .iter()
            .any(|r| r.get("User-Name") == Some("alice"))
    );
    let sid = lab
        .daemon()
        .session(&a.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    assert!(
        secondary
            .wait_accounting(|r| is_acct(r, "Start", &sid), Duration::from_secs(5))
            .is_some()
    );
    assert!(lab.daemon().log_text().contains("failing over"));

    // Both down: a clear message, no session, and a logout's Stop waits in the queue.
    secondary.kill();
    let r = b.login_as("bob", "builder-2");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("not answering"), "{}", r.body);
    assert_eq!(b.status_of(), Some(511));
    assert_eq!(a.logout().unwrap().status, 200);
    // The Stop waits in the queue a while: its Acct-Delay-Time is checked below.
    std::thread::sleep(Duration::from_secs(2));
    let metrics = lab.daemon().cli(&["status"]);
    assert!(metrics.status.success());

    // The primary comes back: the queued Stop is delivered, with its delay.
    primary.restart().unwrap();
    let stop = primary
        .wait_accounting(|r| is_acct(r, "Stop", &sid), Duration::from_secs(70))
        .expect("the queued Stop was not delivered");
    assert_eq!(stop.get("Acct-Terminate-Cause"), Some("User-Request"));
    assert!(
        stop.get_u64("Acct-Delay-Time").is_some_and(|d| d >= 1),
        "{stop:?}"
    );
    assert_eq!(b.login_as("bob", "builder-2").status, 303);

    let log = lab.daemon().log_text();
    assert!(!log.contains(SECRET) && !log.contains("wonder land") && !log.contains("builder-2"));
}

/// Two gateways, each with its own LAN, sharing one FreeRADIUS in an AAA namespace.
#[test]
fn two_gateways_share_one_radius_server() {
    let aaa = TempNs::new("aaa").unwrap();
    let mut labs = [Lab::new(1).unwrap(), Lab::new(1).unwrap()];
    let mut links = Vec::new();
    for (i, lab) in labs.iter().enumerate() {
        links.push(radius::link_to_aaa(&aaa, &lab.gw, i as u8).unwrap());
    }
    let users = "carol Cleartext-Password := \"one-device\", Simultaneous-Use := 1\n\n\
                 dave Cleartext-Password := \"dave-pass\"\n";
    let dir = labs[0].dir.join("aaa-radius");
    let fr = FreeRadius::start(
        &aaa,
        &dir,
        &FreeRadiusConfig {
            clients: vec![
                RadiusClientDef::new("gw-a", links[0].0, SECRET),
                RadiusClientDef::new("gw-b", links[1].0, SECRET),
            ],
            users: users.into(),
            ..FreeRadiusConfig::default()
        },
    )
    .unwrap();
    for (i, lab) in labs.iter_mut().enumerate() {
        let secret = secret_file(&lab.dir, SECRET);
        let server = links[i].1.to_string();
        let name = ["gw-a", "gw-b"][i];
        lab.start_netauth(&[
            "--auth-method",
            "radius",
            "--radius-server",
            &server,
            "--radius-secret-file",
            &secret,
            "--radius-nas-identifier",
            name,
            "--das-client",
            &server,
        ])
        .unwrap();
    }
    let ca = labs[0].clients[0].clone();
    let cb = labs[1].clients[0].clone();

    // carol on gateway A; her Start reaches the server.
    assert_eq!(ca.login_as("carol", "one-device").status, 303);
    let sid = labs[0]
        .daemon()
        .session(&ca.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    let start = fr
        .wait_accounting(|r| is_acct(r, "Start", &sid), Duration::from_secs(5))
        .expect("no Start from gateway A");
    assert_eq!(start.get("NAS-Identifier"), Some("gw-a"));
    // Simultaneous-Use := 1 holds across gateways: carol on B is refused.
    let r = cb.login_as("carol", "one-device");
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(cb.status_of(), Some(511));
    // dave on B is fine; accounting from both gateways lands in the one detail file.
    assert_eq!(cb.login_as("dave", "dave-pass").status, 303);
    let dsid = labs[1]
        .daemon()
        .session(&cb.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    let dstart = fr
        .wait_accounting(|r| is_acct(r, "Start", &dsid), Duration::from_secs(5))
        .expect("no Start from gateway B");
    assert_eq!(dstart.get("NAS-Identifier"), Some("gw-b"));
    assert_eq!(
        dstart.get("NAS-IP-Address"),
        Some(links[1].0.to_string().as_str())
    );

    // A Disconnect for carol reaches the gateway that has her: B knows no such session,
    // A ends it; dave on B stays online.
    let das_of = |i: usize| SocketAddr::new(IpAddr::V4(links[i].0), 3799);
    let (code, _) = radius::radclient(
        &aaa,
        das_of(1),
        "disconnect",
        SECRET,
        &[("User-Name", "carol")],
    )
    .unwrap();
    assert_eq!(code, "Disconnect-NAK");
    assert_eq!(ca.status_of(), Some(200));
    let (code, _) = radius::radclient(
        &aaa,
        das_of(0),
        "disconnect",
        SECRET,
        &[("User-Name", "carol")],
    )
    .unwrap();
    assert_eq!(code, "Disconnect-ACK");
    assert_eq!(ca.status_of(), Some(511));
    assert_eq!(cb.status_of(), Some(200));
    let stop = fr
        .wait_accounting(|r| is_acct(r, "Stop", &sid), Duration::from_secs(5))
        .expect("no Stop from gateway A");
    assert_eq!(stop.get("NAS-Identifier"), Some("gw-a"));

    // With carol's session stopped, she may use gateway B (after dave logs out there).
    assert_eq!(cb.logout().unwrap().status, 200);
    assert_eq!(cb.login_as("carol", "one-device").status, 303);
    assert_eq!(cb.status_of(), Some(200));
}

/// Moves `bytes` up (echoed back down) over one TCP connection.
fn transfer(c: &Client, bytes: usize) {
    assert_eq!(c.echo(bytes, 32 * 1024), bytes);
}

#[test]
fn accounting_continues_across_a_crash_with_the_same_session() {
    let mut lab = Lab::new(1).unwrap();
    let fr = server_in_upstream(&lab, USERS, (1812, 1813), "radius");
    let secret = secret_file(&lab.dir, SECRET);
    let args = [
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
    ];
    lab.start_netauth(&args).unwrap();
    let a = lab.clients[0].clone();
    assert_eq!(a.login_as("bob", "builder-2").status, 303);
    let sid = lab
        .daemon()
        .session(&a.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    assert!(
        fr.wait_accounting(|r| is_acct(r, "Start", &sid), Duration::from_secs(5))
            .is_some()
    );
    transfer(&a, 1 << 20);
    // A crash, then a new daemon: the session, its counters and its accounting go on.
    lab.daemon().kill();
    transfer(&a, 1 << 20);
    lab.start_netauth(&args).unwrap();
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(s.acct_session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(a.logout().unwrap().status, 200);
    let stop = fr
        .wait_accounting(|r| is_acct(r, "Stop", &sid), Duration::from_secs(5))
        .expect("no Stop after the restart");
    assert!(
        stop.input_octets().unwrap() > 2 << 20,
        "the Stop counts the traffic from before and during the crash: {stop:?}"
    );
    let starts = fr
        .accounting()
        .iter()
        .filter(|r| is_acct(r, "Start", &sid))
        .count();
    assert_eq!(starts, 1, "a restart is not a new accounting session");
}
