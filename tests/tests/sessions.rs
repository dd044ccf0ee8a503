//! Sessions that survive anything: restarts and crashes without a gap, reboots,
//! timeouts, quotas, accounting, the admin API and CLI, the config file, metrics.

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use netauth_lab::{Client, GW_LAN_V4, Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, http, net};
use serde_json::Value;

fn web(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(WEB_V4), port)
}

fn portal() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GW_LAN_V4), PORTAL_PORT)
}

fn status_of(c: &Client) -> Option<u16> {
    c.ns.run(|| http::get(web(80), None, "/").ok().map(|r| r.status))
        .unwrap()
}

fn connects(c: &Client, port: u16) -> bool {
    c.ns.run(move || net::tcp_connect(web(port), Duration::from_millis(800)).is_ok())
        .unwrap()
}

fn login(c: &Client) {
    let r =
        c.ns.run(|| http::submit(portal(), "/login", "/login", "accept=1"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 303, "{r:?}");
}

fn sessions(lab: &mut Lab) -> Vec<Value> {
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sessions"].as_array().unwrap().clone()
}

fn session(lab: &mut Lab, mac: &str) -> Option<Value> {
    sessions(lab).into_iter().find(|s| s["mac"] == mac)
}

fn api(lab: &mut Lab, method: &str, path: &str, body: &str) -> (u16, Value) {
    let sock = lab.daemon().admin_socket.clone();
    let r = http::unix(&sock, method, path, body).unwrap();
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone())),
    )
}

/// Echoes 1 KiB over one TCP connection every 20 ms until `stop`; reports each round's
/// success through the channel.
fn stream(c: &Client, stop: Arc<AtomicBool>) -> mpsc::Receiver<(Instant, bool)> {
    let (tx, rx) = mpsc::channel();
    c.ns.spawn(move || {
        let Ok(mut s) = net::tcp_connect(web(8443), Duration::from_secs(2)) else {
            let _ = tx.send((Instant::now(), false));
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let out = [0x5au8; 1024];
        let mut back = [0u8; 1024];
        while !stop.load(Ordering::SeqCst) {
            let ok = s.write_all(&out).is_ok() && s.read_exact(&mut back).is_ok();
            let _ = tx.send((Instant::now(), ok));
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .unwrap();
    rx
}

#[test]
fn kill_9_keeps_authenticated_traffic_flowing_and_captive_clients_blocked() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    login(&a);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = stream(&a, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let before = session(&mut lab, &a.mac).unwrap();

    lab.daemon().kill(); // SIGKILL: no cleanup at all
    std::thread::sleep(Duration::from_millis(300));
    // While netauth is dead: A still passes, B stays blocked (HTTP included: there is no
    // portal to answer, and steering fails closed).
    assert!(connects(&a, 443));
    assert!(!connects(&b, 443));
    assert_ne!(status_of(&b), Some(200));
    std::thread::sleep(Duration::from_millis(700));

    lab.start_netauth(&[]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let results: Vec<(Instant, bool)> = rounds.iter().collect();
    assert!(
        results.len() > 50,
        "the stream ran {} rounds",
        results.len()
    );
    assert!(
        results.iter().all(|(_, ok)| *ok),
        "a round of the stream failed"
    );

    // Same session, counters continued.
    let after = session(&mut lab, &a.mac).expect("session survived the crash");
    assert_eq!(after["started"], before["started"]);
    assert!(
        after["up_bytes"].as_u64().unwrap() > before["up_bytes"].as_u64().unwrap() + 20_000,
        "{before} {after}"
    );
    assert_eq!(status_of(&b), Some(511));
    assert_eq!(status_of(&a), Some(200));
    let out = lab.daemon().cli(&["status", "--json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["adopted_pinned_datapath"], true, "{st}");
}

#[test]
fn a_session_that_expires_while_netauth_is_down_ends_at_start() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    let out = lab.daemon().cli(&["allow", &a.mac, "--for", "2s"]);
    assert!(out.status.success(), "{out:?}");
    login(&b);
    assert!(lab.daemon().stop().unwrap().success());
    std::thread::sleep(Duration::from_millis(2500));
    lab.start_netauth(&[]).unwrap();
    assert_eq!(
        status_of(&a),
        Some(511),
        "expired while down, must be captive"
    );
    assert_eq!(status_of(&b), Some(200), "the other session must survive");
    assert!(session(&mut lab, &a.mac).is_none());
    assert!(
        lab.daemon()
            .log_text()
            .contains("session ended while netauth was down")
    );
}

#[test]
fn sessions_are_restored_after_a_reboot() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    login(&a);
    assert!(connects(&a, 443));
    // A reboot: netauth is stopped (as systemd does at shutdown), then the pinned maps
    // and links are gone with the old kernel, while the store on disk remains.
    assert!(lab.pin_dir().join("NETAUTH_CLIENTS").exists());
    assert!(lab.daemon().stop().unwrap().success());
    let before_stop = lab.daemon().log_text();
    assert!(before_stop.contains("netauth stopped"));
    lab.forget_pins().unwrap();
    assert!(!lab.pin_dir().exists());
    // The kernel releases the unpinned links asynchronously; after a real reboot nothing
    // is attached, so wait until the old XDP program is gone from lan0.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab
        .gw
        .ip(&["-d", "link", "show", "dev", "lan0"])
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp"))
    {
        assert!(
            Instant::now() < deadline,
            "the old XDP program stayed attached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lab.start_netauth(&[]).unwrap();
    let after = session(&mut lab, &a.mac).expect("restored from the store");
    // Counters carried over from the store (the login and the 443 connection).
    assert!(after["up_bytes"].as_u64().unwrap() > 0, "{after}");
    assert_eq!(status_of(&a), Some(200));
    assert_eq!(status_of(&b), Some(511));
    assert!(lab.daemon().log_text().contains("restored=1"));
}

#[test]
fn idle_timeout_ends_a_quiet_session_but_not_a_busy_one() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&["--idle-timeout", "3s"]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    login(&a);
    login(&b);
    // A keeps talking; B goes quiet. Idle limits are checked once a second, so B ends
    // between 3 and about 4.2 s after its last packet.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(5000) {
        assert!(connects(&a, 443));
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(session(&mut lab, &a.mac).is_some(), "busy session ended");
    assert!(
        session(&mut lab, &b.mac).is_none(),
        "quiet session outlived its idle timeout"
    );
    assert_eq!(status_of(&b), Some(511));
    assert!(lab.daemon().log_text().contains("reason=\"idle\""));
}

#[test]
fn quota_ends_the_session_and_the_portal_says_why() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let a = lab.clients[0].clone();
    let out = lab.daemon().cli(&["allow", &a.mac, "--quota", "200k"]);
    assert!(out.status.success(), "{out:?}");
    let s = session(&mut lab, &a.mac).unwrap();
    assert_eq!(s["quota_total"], 200_000);
    // Push 300 kB through the echo server (600 kB up+down).
    let moved =
        a.ns.run(|| {
            let mut s = net::tcp_connect(web(8443), Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
            let chunk = [1u8; 10_000];
            let mut back = [0u8; 10_000];
            let mut total = 0;
            for _ in 0..30 {
                if s.write_all(&chunk).is_err() || s.read_exact(&mut back).is_err() {
                    break;
                }
                total += chunk.len();
            }
            Some(total)
        })
        .unwrap();
    assert!(moved.unwrap_or(0) >= 100_000);
    let deadline = Instant::now() + Duration::from_secs(3);
    while session(&mut lab, &a.mac).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        session(&mut lab, &a.mac).is_none(),
        "quota did not end the session"
    );
    let r = a.ns.run(|| http::get(web(80), None, "/")).unwrap().unwrap();
    assert_eq!(r.status, 511);
    assert!(r.body.contains("data allowance is used up"), "{}", r.body);
    let r =
        a.ns.run(|| http::get(portal(), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(r.body.contains("data allowance is used up"));
    assert!(lab.daemon().log_text().contains("reason=\"quota\""));
}

fn link_counters(c: &Client) -> (u64, u64, u64, u64) {
    let out = c.ns.ip(&["-s", "-j", "link", "show", "eth0"]).unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v[0]["stats64"];
    (
        s["tx"]["bytes"].as_u64().unwrap(),
        s["tx"]["packets"].as_u64().unwrap(),
        s["rx"]["bytes"].as_u64().unwrap(),
        s["rx"]["packets"].as_u64().unwrap(),
    )
}

#[test]
fn accounting_matches_the_traffic_within_one_percent() {
    for mode in ["auto", "off"] {
        let mut lab = Lab::new(1).unwrap();
        lab.start_netauth(&["--xdp-mode", mode]).unwrap();
        let a = lab.clients[0].clone();
        // Wire-sized frames on the client side, so its interface counters count what
        // crossed the wire; the gateway keeps its offloads (GSO skbs at TC egress).
        a.ns.command("ethtool")
            .args(["-K", "eth0", "tso", "off", "gso", "off", "gro", "off"])
            .status()
            .unwrap();
        lab.sw
            .command("ethtool")
            .args(["-K", "p-c0", "tso", "off", "gso", "off"])
            .status()
            .unwrap();
        login(&a);
        std::thread::sleep(Duration::from_millis(300));
        let s0 = session(&mut lab, &a.mac).unwrap();
        let l0 = link_counters(&a);
        // 4 MB up, echoed back down.
        a.ns.run(|| {
            let mut s = net::tcp_connect(web(8443), Duration::from_secs(2)).unwrap();
            let chunk = vec![7u8; 64 * 1024];
            let mut back = vec![0u8; 64 * 1024];
            for _ in 0..64 {
                s.write_all(&chunk).unwrap();
                s.read_exact(&mut back).unwrap();
            }
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let l1 = link_counters(&a);
        let s1 = session(&mut lab, &a.mac).unwrap();
        let d = |k: &str| s1[k].as_u64().unwrap() - s0[k].as_u64().unwrap();
        // What the client's interface sent/received, at layer 3.
        let sent_l3 = (l1.0 - l0.0) - 14 * (l1.1 - l0.1);
        let recv_l3 = (l1.2 - l0.2) - 14 * (l1.3 - l0.3);
        assert!(sent_l3 > 4_000_000 && recv_l3 > 4_000_000);
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.01;
        assert!(
            close(d("up_bytes"), sent_l3),
            "mode {mode}: up {} vs sent {sent_l3}",
            d("up_bytes")
        );
        assert!(
            close(d("down_bytes"), recv_l3),
            "mode {mode}: down {} vs received {recv_l3}",
            d("down_bytes")
        );
        assert!(
            close(d("up_packets"), l1.1 - l0.1),
            "mode {mode}: up packets {} vs {}",
            d("up_packets"),
            l1.1 - l0.1
        );
        assert!(
            close(d("down_packets"), l1.3 - l0.3),
            "mode {mode}: down packets {} vs {}",
            d("down_packets"),
            l1.3 - l0.3
        );
    }
}

#[test]
fn admin_api_and_cli_verbs_work_and_bad_input_changes_nothing() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());

    // allow with duration and quota; JSON output.
    let out = lab.daemon().cli(&[
        "allow", &a.mac, "--for", "1h", "--quota", "5G", "--idle", "10m",
    ]);
    assert!(out.status.success(), "{out:?}");
    let s = session(&mut lab, &a.mac).unwrap();
    assert!(
        (3590..=3600).contains(&s["seconds_remaining"].as_u64().unwrap()),
        "{s}"
    );
    assert_eq!(s["quota_total"], 5_000_000_000u64);
    assert_eq!(s["idle_timeout_s"], 600);
    assert_eq!(s["via"], "admin");
    assert_eq!(status_of(&a), Some(200));

    // extend
    let out = lab.daemon().cli(&["extend", &a.mac, "--for", "30m"]);
    assert!(out.status.success(), "{out:?}");
    let s = session(&mut lab, &a.mac).unwrap();
    assert!(s["seconds_remaining"].as_u64().unwrap() > 5300, "{s}");

    // the human table
    let out = lab.daemon().cli(&["sessions"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("MAC"), "{table}");
    assert!(
        table.contains(&a.mac) && table.contains("5.0 GB"),
        "{table}"
    );
    // status
    let out = lab.daemon().cli(&["status", "--json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["sessions"], 1);
    assert_eq!(st["map_entries"], 1);

    // API: get, 404 for unknown
    let (code, v) = api(&mut lab, "GET", &format!("/v1/sessions/{}", a.mac), "");
    assert_eq!(code, 200);
    assert_eq!(v["mac"], a.mac);
    let (code, _) = api(&mut lab, "GET", &format!("/v1/sessions/{}", b.mac), "");
    assert_eq!(code, 404);

    // Bad input: nothing changes.
    let snapshot = sessions(&mut lab);
    for args in [
        vec!["allow", "02:00:00:00:01"],
        vec!["allow", &b.mac, "--for", "-5m"],
        vec!["allow", &b.mac, "--for", "0s"],
        vec!["allow", &b.mac, "--quota", "lots"],
        vec!["extend", &a.mac, "--for", "-1h"],
        vec!["revoke", "zz:zz:zz:zz:zz:zz"],
        // Past what the store holds (2^63 came back negative: ended by "quota").
        vec!["allow", &b.mac, "--quota", "10000000T"],
        vec!["allow", &a.mac, "--quota-down", "9223372036854775808"],
        vec!["allow", &b.mac, "--for", "500ms"],
        vec!["extend", &a.mac, "--for", "11y"],
    ] {
        let out = lab.daemon().cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = lab.daemon().cli(&["extend", &b.mac, "--for", "1h"]);
    assert_eq!(out.status.code(), Some(1), "unknown session: {out:?}");
    for (method, path, body) in [
        ("POST", "/v1/sessions", "{not json"),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","duration":"-5m"}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","quota":-1}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","color":"red"}"#,
        ),
        ("POST", "/v1/sessions", r#"{"mac":"ff:ff:ff:ff:ff:ff"}"#),
        (
            "POST",
            "/v1/sessions/02:00:00:00:01:0a/extend",
            r#"{"duration":"soon"}"#,
        ),
        ("DELETE", "/v1/sessions/not-a-mac", ""),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","quota":9223372036854775808}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0a","quota_up":"10000000T"}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","quota_down":1e300}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0b","duration":"500ms"}"#,
        ),
        (
            "POST",
            "/v1/sessions",
            r#"{"mac":"02:00:00:00:01:0a","idle":"11y"}"#,
        ),
        (
            "POST",
            "/v1/sessions/02:00:00:00:01:0a/extend",
            r#"{"duration":"500ms"}"#,
        ),
        (
            "POST",
            "/v1/vouchers",
            r#"{"count":1,"duration":"1h","quota":10000000000000000000}"#,
        ),
        // Not UTF-8 once decoded: axum refuses it before any handler runs.
        ("DELETE", "/v1/sessions/%ff", ""),
    ] {
        let (code, v) = api(&mut lab, method, path, body);
        assert_eq!(code, 400, "{method} {path} {body}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    let (_, v) = api(
        &mut lab,
        "POST",
        "/v1/sessions",
        r#"{"mac":"02:00:00:00:01:0b","quota":"10000000T"}"#,
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("at most 9007199254740992"),
        "{v}"
    );
    // Every refusal carries {"error": ...}, also those made before any handler runs.
    let sock = lab.daemon().admin_socket.clone();
    let long_target = format!("/v1/sessions/{}", "a".repeat(70_000));
    let big_header = format!("X-Filler: {}\r\n", "b".repeat(20_000));
    for (request, want) in [
        (
            "GET /v1/shutdown HTTP/1.1\r\nHost: n\r\n\r\n".to_string(),
            405,
        ),
        (
            "PUT /v1/sessions HTTP/1.1\r\nHost: n\r\nContent-Length: 0\r\n\r\n".to_string(),
            405,
        ),
        (
            format!("GET {long_target} HTTP/1.1\r\nHost: n\r\n\r\n"),
            414,
        ),
        (
            format!(
                "GET /v1/sessions/{} HTTP/1.1\r\nHost: n\r\n\r\n",
                "a".repeat(9000)
            ),
            414,
        ),
        (format!("GET /v1/status HTTP/1.1\r\n{big_header}\r\n"), 431),
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (
            "POST /v1/sessions HTTP/1.1\r\nHost: n\r\nContent-Length: lots\r\n\r\n".to_string(),
            400,
        ),
    ] {
        let r = http::unix_raw(&sock, request.as_bytes()).unwrap();
        let what = &request[..request.len().min(40)];
        assert_eq!(r.status, want, "{what}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        assert!(v["error"].is_string(), "{what}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    }
    let r = http::unix_raw(&sock, b"GET /v1/shutdown HTTP/1.1\r\nHost: n\r\n\r\n").unwrap();
    assert_eq!(r.header("allow"), Some("POST"), "{r:?}");
    assert!(r.body.contains("/v1/shutdown does not take GET"), "{r:?}");
    let (code, _) = api(
        &mut lab,
        "POST",
        "/v1/sessions/02:00:00:00:01:0b/extend",
        r#"{"duration":"1h"}"#,
    );
    assert_eq!(code, 404);
    let after = sessions(&mut lab);
    assert_eq!(after.len(), snapshot.len());
    assert_eq!(after[0]["expires"], snapshot[0]["expires"]);
    assert_eq!(status_of(&b), Some(511));

    // revoke through the API
    let (code, v) = api(&mut lab, "DELETE", &format!("/v1/sessions/{}", a.mac), "");
    assert_eq!(code, 200, "{v}");
    assert_eq!(status_of(&a), Some(511));

    // Metrics on the admin socket.
    login(&b);
    let (code, text) = api(&mut lab, "GET", "/metrics", "");
    assert_eq!(code, 200);
    let text = text.as_str().unwrap().to_string();
    assert!(text.contains("netauth_clients_authenticated 1"), "{text}");
    assert!(text.contains("netauth_logins_total 2"), "{text}");
    assert!(
        text.contains("netauth_portal_responses_total{code=\"511\"}"),
        "{text}"
    );
    assert!(text.contains("netauth_datapath_packets_total{verdict=\"xdp_drop_captive\"}"));
}

#[test]
fn the_store_holds_sessions_and_a_corrupt_store_stops_the_daemon() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let a = lab.clients[0].clone();
    login(&a);
    // The row is on disk as soon as the login was acknowledged.
    let db = lab.state_dir().join("sessions.db");
    let conn = rusqlite_free_read(&db, &a.mac);
    assert!(conn, "no active row for {} in {}", a.mac, db.display());
    assert!(lab.daemon().stop().unwrap().success());

    // Corrupt it: the daemon refuses to start and leaves the file alone.
    let garbage = b"this is not a database, it is garbage".repeat(200);
    std::fs::write(&db, &garbage).unwrap();
    let _ = std::fs::remove_file(lab.state_dir().join("sessions.db-wal"));
    let _ = std::fs::remove_file(lab.state_dir().join("sessions.db-shm"));
    let err = match lab.start_netauth(&[]) {
        Ok(_) => panic!("netauth started on a corrupt store"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("session store") && err.contains("will not replace it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
    // The datapath was left as it was: A still passes, nothing opened.
    assert!(connects(&a, 443));
}

/// Whether the store holds an active row for `mac`, read with the sqlite3-free way the
/// test has: the daemon's own API is not involved, the bytes on disk are.
fn rusqlite_free_read(db: &std::path::Path, mac: &str) -> bool {
    // WAL mode: recent rows may sit in the -wal file until a checkpoint.
    let mut bytes = std::fs::read(db).unwrap_or_default();
    bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
    bytes.windows(mac.len()).any(|w| w == mac.as_bytes())
}

#[test]
fn config_file_works_and_bad_files_are_rejected_with_the_line() {
    let mut lab = Lab::new(1).unwrap();
    let good = lab.dir.join("good.toml");
    std::fs::write(
        &good,
        "venue-name = \"Config Cafe\"\nsession-timeout = \"2h\"\nidle-timeout = \"30m\"\nquota = \"1G\"\nmetrics-listen = \"127.0.0.1:9317\"\n",
    )
    .unwrap();
    lab.start_netauth(&["--config", &good.to_string_lossy()])
        .unwrap();
    let a = lab.clients[0].clone();
    let r =
        a.ns.run(|| http::get(portal(), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(r.body.contains("Welcome to Config Cafe"), "{}", r.body);
    login(&a);
    let s = session(&mut lab, &a.mac).unwrap();
    assert!(
        (7190..=7200).contains(&s["seconds_remaining"].as_u64().unwrap()),
        "{s}"
    );
    assert_eq!(s["idle_timeout_s"], 1800);
    assert_eq!(s["quota_total"], 1_000_000_000u64);
    // Metrics over TCP, as configured.
    let r = lab
        .gw
        .run(|| http::get(SocketAddr::from(([127, 0, 0, 1], 9317)), None, "/metrics"))
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("netauth_clients_authenticated 1"),
        "{}",
        r.body
    );
    // The command line wins over the file.
    assert!(lab.daemon().stop().unwrap().success());
    lab.start_netauth(&[
        "--config",
        &good.to_string_lossy(),
        "--venue-name",
        "CLI Cafe",
    ])
    .unwrap();
    let r =
        a.ns.run(|| http::get(portal(), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(r.body.contains("Welcome to CLI Cafe"));
    assert!(lab.daemon().stop().unwrap().success());

    for (name, text, want) in [
        (
            "unknown.toml",
            "venue-name = \"X\"\n\nportal-prot = 80\n",
            "unknown field `portal-prot`",
        ),
        (
            "badvalue.toml",
            "venue-name = \"X\"\nsession-timeout = \"forever\"\n",
            "not a duration",
        ),
        ("badtype.toml", "portal-port = \"eighty\"\n", "invalid type"),
        (
            "hugequota.toml",
            "venue-name = \"X\"\nquota = \"10000000T\"\n",
            "at most 9007199254740992 bytes",
        ),
        (
            "hugenumber.toml",
            "venue-name = \"X\"\n\nquota-up = 9223372036854775807\n",
            "at most 9007199254740992 bytes",
        ),
        (
            "subsecond.toml",
            "idle-timeout = \"500ms\"\n",
            "at least 1s",
        ),
    ] {
        let path = lab.dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = lab
            .gw
            .command(netauth_lab::netauth_bin())
            .args(["run", "--lan", "lan0", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&path.to_string_lossy().to_string()), "{err}");
        let line = text.lines().count();
        assert!(err.contains(&format!("line {line}")), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    // A file that never ends, and an option that would do nothing, are refused too.
    for (args, want) in [
        (
            vec!["--config", "/dev/zero"],
            "config file /dev/zero is larger than",
        ),
        (
            vec!["--radius-mac-auth"],
            "radius-mac-auth needs radius-server",
        ),
    ] {
        let t0 = Instant::now();
        let out = lab
            .gw
            .command(netauth_lab::netauth_bin())
            .args(["run", "--lan", "lan0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{args:?}");
    }
    // Nothing was changed by the refused starts: still gated, A still online.
    assert_eq!(status_of(&a), Some(200));
    let _ = UPSTREAM_MARKER;
}
