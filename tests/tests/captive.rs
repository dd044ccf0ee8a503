//! End-to-end behaviour of a captive LAN: real kernel programs on a real veth in a
//! namespace lab, real netauth daemon, real HTTP from client namespaces.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use netauth_lab::{
    Client, GW_LAN_V4, GW_LAN_V6, Lab, PORTAL_PORT, UPSTREAM_MARKER, UPSTREAM_V4, UPSTREAM_V6,
    WEB_V4, http, mac_bytes, net, portal_addr, wait_until, web_addr,
};

fn get(c: &Client, addr: SocketAddr, host: Option<&str>, path: &str) -> http::Response {
    c.get(addr, host, path)
        .unwrap_or_else(|e| panic!("GET {addr}{path} failed: {e}"))
}

/// Clicks through the login as `c` would (from the IPv4 side), asserting the 303.
fn login(c: &Client) {
    let r = c
        .login("accept=1&redirect=http%3A%2F%2F203.0.113.80%2Fwelcome")
        .expect("POST to the portal");
    assert_eq!(r.status, 303, "login answer: {r:?}");
    assert_eq!(r.header("location"), Some("http://203.0.113.80/welcome"));
}

fn assert_captive(c: &Client) {
    let r = get(c, web_addr(false, 80), None, "/");
    assert_eq!(r.status, 511, "expected captivity, got {r:?}");
    assert!(
        !c.connects(web_addr(false, 443)),
        "TCP/443 must be blocked while captive"
    );
}

fn assert_online(c: &Client) {
    let r = get(c, web_addr(false, 80), None, "/");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(UPSTREAM_MARKER));
    assert!(
        c.connects(web_addr(false, 443)),
        "TCP/443 must pass once online"
    );
}

#[test]
fn unauthenticated_http_to_any_address_gets_511_with_login_link() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    for (v6, login_host) in [(false, "192.0.2.1"), (true, "[2001:db8:1::1]")] {
        let r = get(
            &c,
            web_addr(v6, 80),
            Some("news.example.com"),
            "/story?id=7",
        );
        assert_eq!(r.status, 511, "{r:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.header("www-authenticate").is_none());
        let link = format!(
            "http://{login_host}:{PORTAL_PORT}/login?redirect=http%3A%2F%2Fnews.example.com%2Fstory%3Fid%3D7"
        );
        assert!(r.body.contains(&format!("href=\"{link}\"")), "{}", r.body);
        assert!(r.body.contains("http-equiv=\"refresh\""), "{}", r.body);
        assert!(
            !r.body.contains("<form"),
            "a 511 must not carry the login form"
        );
        // The request never reached the upstream server.
        assert!(!r.body.contains(UPSTREAM_MARKER));
    }
    // Any address at all: the upstream's own uplink address too.
    let r = get(&c, SocketAddr::new(IpAddr::V4(UPSTREAM_V4), 80), None, "/");
    assert_eq!(r.status, 511);
    let r = get(&c, SocketAddr::new(IpAddr::V6(UPSTREAM_V6), 80), None, "/");
    assert_eq!(r.status, 511);
}

#[test]
fn connectivity_probes_get_302_to_login() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    for (host, path) in [
        ("connectivitycheck.gstatic.com", "/generate_204"),
        ("www.gstatic.com", "/generate_204"),
        ("captive.apple.com", "/hotspot-detect.html"),
        ("www.msftconnecttest.com", "/connecttest.txt"),
        ("detectportal.firefox.com", "/canonical.html"),
        ("nmcheck.gnome.org", "/check_network_status.txt"),
    ] {
        for v6 in [false, true] {
            let r = get(&c, web_addr(v6, 80), Some(host), path);
            assert_eq!(r.status, 302, "{host}{path}: {r:?}");
            let loc = r.header("location").unwrap_or_default();
            assert!(
                loc.contains(&format!(
                    ":{PORTAL_PORT}/login?redirect=http%3A%2F%2F{host}"
                )),
                "{loc}"
            );
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
    }
}

#[test]
fn captive_client_reaches_only_what_it_needs_to_get_online() {
    let mut lab = Lab::new(1).unwrap();
    // The gateway's own resolver, DHCP and NTP servers.
    lab.start_gateway_services(&[53], &[53, 67, 123, 547])
        .unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    for v6 in [false, true] {
        let (up, gw) = if v6 {
            (IpAddr::V6(UPSTREAM_V6), IpAddr::V6(GW_LAN_V6))
        } else {
            (IpAddr::V4(UPSTREAM_V4), IpAddr::V4(GW_LAN_V4))
        };
        // HTTPS and other ports are blocked...
        assert!(!c.connects(web_addr(v6, 443)), "TCP/443 v6={v6}");
        assert!(!c.connects(web_addr(v6, 8443)), "TCP/8443 v6={v6}");
        assert!(!c.udp_echo(SocketAddr::new(up, 443), 0), "UDP/443 v6={v6}");
        assert!(
            !c.udp_echo(SocketAddr::new(up, 9999), 0),
            "UDP/9999 v6={v6}"
        );
        // ...DNS (UDP and TCP), DHCP and NTP reach the gateway's servers...
        let dhcp = if v6 { 547 } else { 67 };
        let dhcp_client = if v6 { 546 } else { 68 };
        assert!(c.udp_echo(SocketAddr::new(gw, 53), 0), "UDP/53 v6={v6}");
        assert!(c.connects(SocketAddr::new(gw, 53)), "TCP/53 v6={v6}");
        assert!(
            c.udp_echo(SocketAddr::new(gw, dhcp), dhcp_client),
            "DHCP v6={v6}"
        );
        assert!(c.udp_echo(SocketAddr::new(gw, 123), 0), "NTP v6={v6}");
        // ...and never a host upstream: that would be a tunnel (IP over DNS).
        assert!(
            !c.udp_echo(SocketAddr::new(up, 53), 0),
            "UDP/53 upstream v6={v6}"
        );
        assert!(
            !c.connects(SocketAddr::new(up, 53)),
            "TCP/53 upstream v6={v6}"
        );
        assert!(
            !c.udp_echo(SocketAddr::new(up, dhcp), dhcp_client),
            "DHCP upstream v6={v6}"
        );
        assert!(
            !c.udp_echo(SocketAddr::new(up, 123), 0),
            "NTP upstream v6={v6}"
        );
    }
    // The portal itself is reachable directly.
    let r = get(&c, portal_addr(false), None, "/login");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"accept\" value=\"1\""), "{}", r.body);
    let r = get(&c, portal_addr(true), None, "/login");
    assert_eq!(r.status, 200);
}

#[test]
fn login_frees_exactly_that_client() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_captive(&a);
    assert_captive(&b);

    // The login page carries the original URL through the flow.
    let r = get(
        &a,
        portal_addr(false),
        None,
        "/login?redirect=http%3A%2F%2F203.0.113.80%2Fwelcome",
    );
    assert!(
        r.body.contains("value=\"http://203.0.113.80/welcome\""),
        "{}",
        r.body
    );
    login(&a);

    assert_online(&a);
    // IPv6 from the same MAC passes too.
    let r = get(&a, web_addr(true, 80), None, "/");
    assert_eq!(r.status, 200);
    assert!(a.connects(web_addr(true, 443)));
    // The other client stays captive.
    assert_captive(&b);

    // The session is visible to the operator, tied to the right MAC and IP.
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{json}");
    assert_eq!(sessions[0]["mac"], a.mac);
    assert_eq!(sessions[0]["ip"], a.v4.to_string());
    assert_eq!(sessions[0]["via"], "click-through");
    assert!(
        lab.daemon()
            .log_text()
            .contains(&format!("client authorized mac={}", a.mac))
    );

    // The status page shows the client its own session.
    let r = get(&a, portal_addr(false), None, "/status");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&a.mac), "{}", r.body);
    assert!(r.body.contains("Time left"));
}

#[test]
fn login_without_accepting_changes_nothing() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let r = c.login("accept=0").unwrap();
    assert_eq!(r.status, 400);
    let r = c.login("").unwrap();
    assert_eq!(r.status, 400);
    assert_captive(&c);
}

#[test]
fn logout_and_revoke_make_the_client_captive_again() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    login(&c);
    assert_online(&c);

    let r = c.logout().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_captive(&c);
    let r = get(&c, portal_addr(false), None, "/status");
    assert!(r.body.contains("Not signed in"));

    login(&c);
    assert_online(&c);
    let out = lab.daemon().cli(&["revoke", &c.mac]);
    assert!(out.status.success(), "{out:?}");
    assert_captive(&c);
    assert!(
        lab.daemon()
            .log_text()
            .contains(&format!("client revoked mac={}", c.mac))
    );

    // Revoking what is not there is an error, not a silent success.
    let out = lab.daemon().cli(&["revoke", &c.mac]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn admin_allow_authorizes_a_mac_and_rejects_malformed_ones() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    let out = lab.daemon().cli(&["allow", &a.mac.to_uppercase()]);
    assert!(out.status.success(), "{out:?}");
    assert_online(&a);
    assert_captive(&b);

    for bad in [
        "02:00:00:00:01",
        "zz:00:00:00:01:0b",
        "ff:ff:ff:ff:ff:ff",
        "02:00:00:00:01:0b:00",
    ] {
        let out = lab.daemon().cli(&["allow", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("MAC")
                || String::from_utf8_lossy(&out.stderr).contains("address")
        );
        let out = lab.daemon().cli(&["revoke", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
    }
    // Nothing changed: still exactly one session.
    let out = lab.daemon().cli(&["sessions", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["sessions"].as_array().unwrap().len(), 1);
    assert_captive(&b);

    // The admin socket is private.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&lab.daemon().admin_socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn sessions_expire_and_leave_the_map_within_a_second() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&["--session-timeout", "3s"]).unwrap();
    let c = lab.clients[0].clone();
    login(&c);
    let t0 = Instant::now();
    let r = get(&c, web_addr(false, 80), None, "/");
    assert_eq!(r.status, 200);
    // Wait until the deadline plus the allowed second (the time is what is tested), then
    // it must be captive.
    std::thread::sleep(Duration::from_millis(4000).saturating_sub(t0.elapsed()));
    let r = get(&c, web_addr(false, 80), None, "/");
    assert_eq!(r.status, 511, "session outlived its timeout: {r:?}");
    let out = lab.daemon().cli(&["sessions", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["sessions"].as_array().unwrap().is_empty(), "{json}");
    assert!(lab.daemon().log_text().contains("reason=\"expired\""));
}

#[test]
fn garbage_and_oversized_requests_get_4xx_without_harm() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let p = portal_addr(false);
    // Not HTTP at all, to the portal and to an intercepted address.
    for addr in [p, web_addr(false, 80)] {
        let r =
            c.ns.run(move || {
                http::raw(
                    addr,
                    b"\x16\x03\x01\x00\xa5garbage\r\n\r\n",
                    Duration::from_secs(3),
                )
            })
            .unwrap()
            .expect("an answer");
        assert_eq!(r.status, 400, "{r:?}");
    }
    // A huge body on the login form.
    let body = "accept=1&x=".to_string() + &"a".repeat(100_000);
    let r = c.login(&body).unwrap();
    assert_eq!(r.status, 413, "{r:?}");
    // Oversized headers.
    let big = format!(
        "GET /login HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let r =
        c.ns.run(move || http::raw(p, big.as_bytes(), Duration::from_secs(3)))
            .unwrap();
    if let Ok(r) = r {
        assert!((400..500).contains(&r.status), "{r:?}");
    }
    // Nothing was authorized, and the portal still works.
    assert_captive(&c);
    let r = get(&c, p, None, "/login");
    assert_eq!(r.status, 200);
    assert!(
        lab.daemon().child.try_wait().unwrap().is_none(),
        "daemon died"
    );
}

#[test]
fn a_request_not_from_the_lan_cannot_log_in() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    // From the gateway itself (loopback): no LAN client behind it.
    let gw = lab.gw.clone();
    let r = gw
        .run(|| {
            http::post_form(
                SocketAddr::from(([192, 0, 2, 1], PORTAL_PORT)),
                "/login",
                "accept=1",
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    let out = lab.daemon().cli(&["sessions", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["sessions"].as_array().unwrap().is_empty());
}

#[test]
fn works_in_every_xdp_mode() {
    // `auto` on a veth (a virtual interface) leaves every decision to TC.
    for (mode, attached) in [
        ("off", "off"),
        ("generic", "generic"),
        ("native", "native"),
        ("auto", "off"),
    ] {
        let mut lab = Lab::new(2).unwrap();
        lab.start_netauth(&["--xdp-mode", mode]).unwrap();
        let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
        assert_captive(&a);
        let r = get(&a, web_addr(true, 80), None, "/");
        assert_eq!(r.status, 511, "mode {mode}");
        login(&a);
        assert_online(&a);
        assert_captive(&b);
        // The signed-in device's own portal requests are still tied to it (with XDP,
        // TC takes XDP's word that the frame is authenticated and records the flow).
        let r = get(&a, portal_addr(false), None, "/status");
        assert!(r.body.contains("You are online"), "mode {mode}: {}", r.body);
        let status = lab.daemon().status();
        assert_eq!(status["xdp_mode"], attached, "mode {mode}");
        if mode == "auto" {
            let why = status["xdp_mode_reason"].as_str().unwrap_or_default();
            assert!(why.contains("veth is a virtual interface"), "{why}");
        }
    }
}

/// The gateway's policy-routing rules are only the kernel's own (local, main, and for
/// IPv4 default) while netauth runs and after: a custom rule would make the kernel walk
/// the rule list for every forwarded packet. An older netauth's rule and routes are taken
/// away at start.
fn assert_only_default_rules(lab: &Lab) {
    for family in ["-4", "-6"] {
        let rules = String::from_utf8(lab.gw.ip(&[family, "rule"]).unwrap().stdout).unwrap();
        for rule in rules.lines() {
            assert!(
                ["lookup local", "lookup main", "lookup default"]
                    .iter()
                    .any(|t| rule.ends_with(t)),
                "{family}: {rules}"
            );
        }
        // The table is gone with its routes (`ip` fails on a table that does not exist).
        let routes = lab
            .gw
            .ip(&[family, "route", "show", "table", "7327"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        assert!(routes.trim().is_empty(), "{routes}");
    }
}

#[test]
fn no_routing_rule_is_installed_or_left_and_stop_detach_removes_everything() {
    let mut lab = Lab::new(2).unwrap();
    // What an older netauth left (a crash, or the upgrade itself).
    lab.gw.add_old_netauth_rule().unwrap();
    lab.start_netauth(&["--xdp-mode", "native"]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_only_default_rules(&lab);
    // Steering works without it, for both families.
    assert_eq!(get(&b, web_addr(false, 80), None, "/").status, 511);
    assert_eq!(get(&b, web_addr(true, 80), None, "/").status, 511);
    login(&a);

    let status = lab.daemon().stop().unwrap();
    assert!(status.success(), "{status:?}\n{}", lab.daemon().log_text());
    assert_only_default_rules(&lab);
    assert!(!lab.daemon().admin_socket.exists());
    // The datapath stays: the LAN is still gated while netauth is stopped.
    let link = String::from_utf8(lab.gw.ip(&["link", "show", "lan0"]).unwrap().stdout).unwrap();
    assert!(link.contains("xdp"), "{link}");
    assert!(
        a.connects(web_addr(false, 443)),
        "authenticated client must keep passing"
    );
    assert!(
        !b.connects(web_addr(false, 443)),
        "captive client must stay blocked"
    );

    // `netauth stop --detach` with no daemon running takes netauth off the interface
    // (run in the gateway's namespace, where the interface is).
    assert!(lab.pin_dir().join("NETAUTH_CLIENTS").exists());
    let out = lab
        .gw
        .command(netauth_lab::netauth_bin())
        .args(["stop", "--detach", "--lan", "lan0", "--admin-socket"])
        .arg(lab.dir.join("none.sock"))
        .arg("--bpffs")
        .arg(lab.bpffs())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let link = String::from_utf8(lab.gw.ip(&["link", "show", "lan0"]).unwrap().stdout).unwrap();
    assert!(!link.contains("xdp"), "{link}");
    assert!(!lab.pin_dir().exists());
    assert!(
        b.connects(web_addr(false, 443)),
        "after detach nothing is gated"
    );
}

#[test]
fn daemon_refuses_missing_interface_and_a_second_instance() {
    let mut lab = Lab::new(1).unwrap();
    let out = lab
        .gw
        .command(netauth_lab::netauth_bin())
        .args(["run", "--lan", "nope0", "--admin-socket"])
        .arg(lab.dir.join("x.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interface 'nope0' does not exist"), "{err}");

    lab.start_netauth(&[]).unwrap();
    let out = lab
        .gw
        .command(netauth_lab::netauth_bin())
        .args(["run", "--lan", "lan0", "--admin-socket"])
        .arg(lab.dir.join("second.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another netauth already owns interface lan0"),
        "{err}"
    );
    // The first instance is unharmed.
    assert_captive(&lab.clients[0].clone());
}

/// The daemon's counters once each of `want` has reached its value (what the frames just
/// sent should move; the others are read at the same time).
fn counters_once(lab: &mut Lab, want: &[(&str, u64)]) -> Counters {
    let mut c = Counters::new();
    wait_until(Duration::from_secs(3), || {
        c = lab.daemon().counters();
        want.iter()
            .all(|(k, v)| c.get(*k).copied().unwrap_or(0) >= *v)
    });
    c
}

type Counters = std::collections::BTreeMap<String, u64>;

/// 802.1Q-tagged frames are judged by what they carry, like untagged ones. (This kernel
/// has no VLAN devices, so the client sends tagged frames raw and the XDP counters show
/// the verdicts.)
#[test]
fn vlan_tagged_frames_get_the_same_verdicts() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&["--xdp-mode", "native"]).unwrap();
    let c = lab.clients[0].clone();
    let gw_mac = lab.gw_mac();
    let send = |c: &Client, proto: u8, dport: u16, n: usize| {
        // DNS goes to the gateway's resolver; everything else to a host upstream.
        let dst = if dport == 53 { GW_LAN_V4 } else { WEB_V4 };
        let frame = net::tagged_ipv4_frame(gw_mac, mac_bytes(&c.mac), 20, c.v4, dst, proto, dport);
        c.ns.run(move || {
            for _ in 0..n {
                net::send_frame("eth0", &frame).unwrap();
            }
        })
        .unwrap();
    };
    let n = |v: &Counters, k: &str| v[k];

    let before = lab.daemon().counters();
    send(&c, 17, 9999, 20); // tagged UDP to some port: captive, dropped
    let after = counters_once(
        &mut lab,
        &[("xdp_drop_captive", n(&before, "xdp_drop_captive") + 20)],
    );
    assert!(
        n(&after, "xdp_drop_captive") >= n(&before, "xdp_drop_captive") + 20,
        "{before:?} {after:?}"
    );
    assert_eq!(
        n(&after, "xdp_drop_malformed"),
        n(&before, "xdp_drop_malformed")
    );

    let before = after;
    send(&c, 6, 443, 20); // tagged HTTPS SYN: answered with a reset by TC
    let after = counters_once(
        &mut lab,
        &[
            ("xdp_pass_reset", n(&before, "xdp_pass_reset") + 20),
            ("tc_reset_sent", n(&before, "tc_reset_sent") + 20),
        ],
    );
    assert!(
        n(&after, "xdp_pass_reset") >= n(&before, "xdp_pass_reset") + 20,
        "{before:?} {after:?}"
    );
    assert!(
        n(&after, "tc_reset_sent") >= n(&before, "tc_reset_sent") + 20,
        "{before:?} {after:?}"
    );

    let before = after;
    send(&c, 17, 53, 20); // tagged DNS to the gateway's resolver: passes
    let after = counters_once(
        &mut lab,
        &[("xdp_pass_infra", n(&before, "xdp_pass_infra") + 20)],
    );
    assert!(
        n(&after, "xdp_pass_infra") >= n(&before, "xdp_pass_infra") + 20,
        "{before:?} {after:?}"
    );
    assert!(n(&after, "xdp_drop_captive") < n(&before, "xdp_drop_captive") + 20);

    let before = after;
    send(&c, 6, 80, 20); // tagged HTTP: handed to TC for steering
    let after = counters_once(
        &mut lab,
        &[("xdp_pass_http", n(&before, "xdp_pass_http") + 20)],
    );
    assert!(
        n(&after, "xdp_pass_http") >= n(&before, "xdp_pass_http") + 20,
        "{before:?} {after:?}"
    );

    // Once the MAC is authorized, tagged frames from it pass at once.
    login(&c);
    let before = lab.daemon().counters();
    send(&c, 6, 443, 20);
    let after = counters_once(
        &mut lab,
        &[(
            "xdp_pass_authenticated",
            n(&before, "xdp_pass_authenticated") + 20,
        )],
    );
    assert!(
        n(&after, "xdp_pass_authenticated") >= n(&before, "xdp_pass_authenticated") + 20,
        "{before:?} {after:?}"
    );
    assert!(n(&after, "xdp_drop_captive") < n(&before, "xdp_drop_captive") + 20);
}

/// Checks the IP and TCP checksums of an Ethernet frame carrying a TCP segment; returns
/// the TCP flags when both are valid.
fn valid_tcp_frame(f: &[u8]) -> Option<u8> {
    let et = u16::from_be_bytes([f[12], f[13]]);
    let (l4, pseudo) = match et {
        0x0800 => {
            let ihl = ((f[14] & 0x0f) as usize) * 4;
            if net::inet_checksum(&f[14..14 + ihl], 0) != 0 || f[14 + 9] != 6 {
                return None;
            }
            let tot = u16::from_be_bytes([f[16], f[17]]) as usize;
            let tcp_len = tot - ihl;
            let mut p = Vec::new();
            p.extend_from_slice(&f[26..34]);
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            (14 + ihl..14 + ihl + tcp_len, p)
        }
        0x86dd => {
            if f[20] != 6 {
                return None;
            }
            let plen = u16::from_be_bytes([f[18], f[19]]) as usize;
            let mut p = Vec::new();
            p.extend_from_slice(&f[22..54]);
            p.extend_from_slice(&(plen as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
            (54..54 + plen, p)
        }
        _ => return None,
    };
    let seg = &f[l4.clone()];
    let mut all = pseudo;
    all.extend_from_slice(seg);
    (net::inet_checksum(&all, 0) == 0).then_some(seg[13])
}

#[test]
fn tcp_from_captive_clients_is_reset_fast_with_valid_checksums() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    for offload in [true, false] {
        if !offload {
            // Without checksum offload the client verifies every checksum in software,
            // and the capture below sees final checksums.
            let s =
                c.ns.command("ethtool")
                    .args(["-K", "eth0", "tx", "off"])
                    .status()
                    .unwrap();
            assert!(s.success());
        }
        for v6 in [false, true] {
            for port in [443, 22, 8443] {
                let target = web_addr(v6, port);
                let (elapsed, err, rst) =
                    c.ns.run(move || {
                        let cap = net::Capture::open("eth0").unwrap();
                        let t0 = Instant::now();
                        let r = net::tcp_connect(target, Duration::from_secs(2));
                        let elapsed = t0.elapsed();
                        let mut rst = None;
                        while let Some(f) = cap.next() {
                            if let Some(flags) = valid_tcp_frame(&f)
                                && flags & 0x04 != 0
                            {
                                rst = Some(flags);
                                break;
                            }
                        }
                        (elapsed, r.err().map(|e| e.kind()), rst)
                    })
                    .unwrap();
                assert_eq!(
                    err,
                    Some(std::io::ErrorKind::ConnectionRefused),
                    "{target} offload={offload}"
                );
                assert!(
                    elapsed < Duration::from_millis(100),
                    "{target}: {elapsed:?}"
                );
                if !offload {
                    assert_eq!(
                        rst,
                        Some(0x14),
                        "{target}: no RST|ACK with valid checksums seen"
                    );
                }
            }
        }
    }
    // QUIC (UDP/443) is dropped, not answered, so browsers fall back to TCP.
    assert!(!c.udp_echo(SocketAddr::new(IpAddr::V4(UPSTREAM_V4), 443), 0));
    let out = lab.daemon().cli(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["counters"]["tc_reset_sent"].as_u64().unwrap() >= 12,
        "{json}"
    );
    // Once online, the same ports connect.
    login(&c);
    assert!(c.connects(web_addr(false, 443)));
    assert!(c.connects(web_addr(true, 8443)));
}

/// Every address an authenticated device uses passes (SLAAC, privacy addresses, DHCPv6):
/// the gate is the MAC, not an address.
#[test]
fn every_ipv6_address_of_an_authenticated_device_passes() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    login(&a);
    // A privacy address appears after login, and B gets an extra address too.
    a.ns.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:1::a:1234/64",
        "dev",
        "eth0",
        "nodad",
    ])
    .unwrap();
    b.ns.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:1::b:1234/64",
        "dev",
        "eth0",
        "nodad",
    ])
    .unwrap();
    for (c, src, online) in [
        (&a, "2001:db8:1::a:1234", true),
        (&b, "2001:db8:1::b:1234", false),
    ] {
        let src: std::net::Ipv6Addr = src.parse().unwrap();
        let ok =
            c.ns.run(move || {
                let s = socket2::Socket::new(
                    socket2::Domain::IPV6,
                    socket2::Type::STREAM,
                    Some(socket2::Protocol::TCP),
                )
                .unwrap();
                s.bind(&SocketAddr::new(IpAddr::V6(src), 0).into()).unwrap();
                s.connect_timeout(&web_addr(true, 443).into(), Duration::from_millis(800))
                    .is_ok()
            })
            .unwrap();
        assert_eq!(ok, online, "from {src}");
    }
    // HTTP from B's new address is still intercepted.
    assert_eq!(get(&b, web_addr(true, 80), None, "/").status, 511);
}

/// TCP checksum errors a namespace's stack counted (`InCsumErrors` in /proc/net/snmp).
fn tcp_checksum_errors(ns: &netauth_lab::Ns) -> u64 {
    let snmp = ns.sh("cat", &["/proc/net/snmp"]).unwrap();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "InCsumErrors")
        .unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// Steering rewrites the intercepted packets' addresses and ports, and the portal's
/// answers back. With every checksum offload off on the path, both ends compute and
/// verify full checksums in software (a veth otherwise marks what it carries as verified,
/// and a wrong checksum would pass unseen), so each rewrite is checked: the captive
/// request, the 511 back, and after login the kept connection's redirect, for both
/// families. A captive client cannot use the intercept port itself.
#[test]
fn rewritten_intercepts_carry_correct_checksums() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&["--xdp-mode", "off"]).unwrap();
    let (c, other) = (lab.clients[0].clone(), lab.clients[1].clone());
    let off = ["rx", "off", "tx", "off"];
    lab.gw
        .sh("ethtool", &[&["-K", "lan0"][..], &off].concat())
        .unwrap();
    for port in ["p-gw", "p-c0"] {
        lab.sw
            .sh("ethtool", &[&["-K", port][..], &off].concat())
            .unwrap();
    }
    c.ns.sh("ethtool", &[&["-K", "eth0"][..], &off].concat())
        .unwrap();
    let errors = (tcp_checksum_errors(&lab.gw), tcp_checksum_errors(&c.ns));

    let kept =
        c.ns.run(|| {
            use std::io::Write as _;
            let mut kept = Vec::new();
            for v6 in [false, true] {
                let mut s =
                    std::net::TcpStream::connect_timeout(&web_addr(v6, 80), Duration::from_secs(3))
                        .unwrap();
                s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                s.write_all(b"GET /page HTTP/1.1\r\nHost: example.org\r\n\r\n")
                    .unwrap();
                let mut buf = Vec::new();
                let (r, close) = http::read_response(&mut s, &mut buf).unwrap();
                assert_eq!(r.status, 511, "v6={v6}: {r:?}");
                assert!(!close, "v6={v6}: the 511 keeps the connection");
                kept.push((s, buf));
            }
            kept
        })
        .unwrap();
    login(&c);
    let answers =
        c.ns.run(move || {
            use std::io::Write as _;
            kept.into_iter()
                .map(|(mut s, mut buf)| {
                    s.write_all(b"GET /page HTTP/1.1\r\nHost: example.org\r\n\r\n")
                        .unwrap();
                    http::read_response(&mut s, &mut buf).map(|(r, _)| r)
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    for (v6, r) in [false, true].into_iter().zip(answers) {
        let r = r.unwrap_or_else(|e| panic!("v6={v6}: kept connection after login: {e}"));
        assert_eq!(r.status, 307, "v6={v6}: {r:?}");
        assert_eq!(r.header("location"), Some("http://example.org/page"));
    }
    assert_online(&c);
    assert_eq!(
        (tcp_checksum_errors(&lab.gw), tcp_checksum_errors(&c.ns)),
        errors,
        "a rewritten packet arrived with a bad checksum"
    );
    // The never-signed-in client: intercepted, blocked, and the intercept port is not a
    // way in.
    assert_captive(&other);
    for v6 in [false, true] {
        let intercept = SocketAddr::new(portal_addr(v6).ip(), 8081);
        assert!(!other.connects(intercept), "{intercept}");
    }
}

/// A client that opens a new connection from the same port to the same address while the
/// portal's side of the previous one is still in TIME_WAIT (the portal closed first) gets
/// its answer at once; the SYN used to be lost and the client waited out TIME_WAIT.
#[test]
fn a_reused_client_port_is_intercepted_again_without_delay() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    for v6 in [false, true] {
        let target = web_addr(v6, 80);
        let local: SocketAddr = if v6 {
            "[2001:db8:1::a]:40123".parse().unwrap()
        } else {
            "192.0.2.10:40123".parse().unwrap()
        };
        let rounds =
            c.ns.run(move || {
                use std::io::{Read as _, Write as _};
                let mut rounds = Vec::new();
                for _ in 0..3 {
                    let s = socket2::Socket::new(
                        socket2::Domain::for_address(target),
                        socket2::Type::STREAM,
                        Some(socket2::Protocol::TCP),
                    )
                    .unwrap();
                    s.set_reuse_address(true).unwrap();
                    s.bind(&local.into()).unwrap();
                    let t0 = Instant::now();
                    let text = s
                        .connect_timeout(&target.into(), Duration::from_secs(3))
                        .and_then(|()| {
                            let mut s: std::net::TcpStream = s.into();
                            s.set_read_timeout(Some(Duration::from_secs(3)))?;
                            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                            let mut buf = Vec::new();
                            s.read_to_end(&mut buf)?;
                            Ok(String::from_utf8_lossy(&buf).into_owned())
                        })
                        .map_err(|e| e.to_string());
                    rounds.push((t0.elapsed(), text));
                    // The next round comes while the portal's side is in TIME_WAIT.
                    std::thread::sleep(Duration::from_millis(100));
                }
                rounds
            })
            .unwrap();
        for (i, (took, text)) in rounds.iter().enumerate() {
            let text = text
                .as_deref()
                .unwrap_or_else(|e| panic!("v6={v6} round {i}: {e}"));
            assert!(
                text.starts_with("HTTP/1.1 511"),
                "v6={v6} round {i}: {text:?}"
            );
            assert!(
                *took < Duration::from_millis(500),
                "v6={v6} round {i}: {took:?}"
            );
        }
    }
}

/// Requests pipelined on one intercepted connection each get their own 511, in order: a
/// HEAD one without a body, each with the login link for its own URL, and the last, which
/// asks to close, ends the connection.
#[test]
fn pipelined_requests_on_an_intercepted_connection_get_one_answer_each() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let target = web_addr(false, 80);
    let text =
        c.ns.run(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read as _, Write as _};
            let mut s = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(
                b"GET /a HTTP/1.1\r\nHost: one.example\r\n\r\n\
                  HEAD /b HTTP/1.1\r\nHost: two.example\r\n\r\n\
                  GET /c HTTP/1.1\r\nHost: three.example\r\nConnection: close\r\n\r\n",
            )?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf)?;
            Ok(buf)
        })
        .unwrap()
        .expect("the answers, then the end of the connection");
    let mut rest = &text[..];
    let mut answers = Vec::new();
    for head_request in [false, true, false] {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("an answer's head in {:?}", String::from_utf8_lossy(rest)))
            + 4;
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        let body_len = if head_request { 0 } else { len };
        assert!(len > 0, "{head}");
        let body = String::from_utf8_lossy(&rest[end..end + body_len]).into_owned();
        rest = &rest[end + body_len..];
        answers.push((head, body));
    }
    assert!(
        rest.is_empty(),
        "nothing after the third answer: {:?}",
        String::from_utf8_lossy(rest)
    );
    for (i, (head, body)) in answers.iter().enumerate() {
        assert!(head.starts_with("http/1.1 511"), "answer {i}: {head}");
        assert!(
            head.contains("cache-control: no-store"),
            "answer {i}: {head}"
        );
        assert_eq!(
            head.contains("connection: close"),
            i == 2,
            "answer {i}: {head}"
        );
        let want = ["one.example%2Fa", "", "three.example%2Fc"][i];
        assert!(
            body.contains(want),
            "answer {i} links to its own URL: {body}"
        );
    }
    assert!(answers[1].1.is_empty(), "HEAD got no body");
}

/// Requests the intercept path does not keep a connection for: one with a body (answered,
/// then closed, so no body can be mistaken for a next request), HTTP/1.0 without
/// keep-alive, and a head that HTTP forbids (two Host headers: 400). Each gets its answer
/// before the end of the connection, and nothing it sends signs the device in.
#[test]
fn bodies_http10_and_forbidden_heads_end_an_intercepted_connection_after_the_answer() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let target = web_addr(false, 80);
    let cases: [(&[u8], &str); 3] = [
        (
            b"POST /form HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\n\r\naccept=1&x=GET /second HTTP/1.1\r\nHost: b.example\r\n\r\n",
            "http/1.1 511",
        ),
        (b"GET /old HTTP/1.0\r\nHost: c.example\r\n\r\n", "http/1.1 511"),
        (
            b"GET / HTTP/1.1\r\nHost: d.example\r\nHost: e.example\r\n\r\n",
            "http/1.1 400",
        ),
    ];
    for (request, want) in cases {
        let text =
            c.ns.run(move || -> std::io::Result<Vec<u8>> {
                use std::io::{Read as _, Write as _};
                let mut s = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3))?;
                s.set_read_timeout(Some(Duration::from_secs(3)))?;
                s.write_all(request)?;
                let mut buf = Vec::new();
                s.read_to_end(&mut buf)?;
                Ok(buf)
            })
            .unwrap()
            .expect("an answer, then the end of the connection");
        let text = String::from_utf8_lossy(&text).to_ascii_lowercase();
        assert!(text.starts_with(want), "{want}: {text}");
        assert_eq!(
            text.matches("http/1.1 ").count(),
            1,
            "exactly one answer: {text}"
        );
        assert!(text.contains("connection: close"), "{text}");
    }
    assert_captive(&c);
}
