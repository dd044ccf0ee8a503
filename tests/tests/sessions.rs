//! Sessions that survive anything: restarts and crashes without a gap, reboots,
//! timeouts, quotas, accounting, the admin API and CLI, the config file, metrics.

use std::{
    io::{Read, Write},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use netauth_common::api::{AdminClient, Mac, SessionView, Via};
use netauth_lab::{Client, Lab, UPSTREAM_MARKER, http, net, portal_addr, wait_until, web_addr};
use serde_json::Value;

/// One request to the admin API exactly as given (for bodies the typed client would not
/// send): the status, and the body as JSON (or as a string when it is not JSON).
fn api_raw(lab: &mut Lab, method: &str, path: &str, body: &str) -> (u16, Value) {
    let admin = lab.daemon().admin();
    let body = (!body.is_empty()).then(|| body.as_bytes().to_vec());
    let (status, bytes) = AdminClient::block_on(admin.raw(method, path, body)).unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

/// Echoes 1 KiB over one TCP connection every 20 ms until `stop`; reports each round's
/// success through the channel.
fn stream(c: &Client, stop: Arc<AtomicBool>) -> mpsc::Receiver<(Instant, bool)> {
    let (tx, rx) = mpsc::channel();
    c.ns.spawn(move || {
        let Ok(mut s) = net::tcp_connect(web_addr(false, 8443), Duration::from_secs(2)) else {
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

/// Collects the stream's rounds into `seen` until `n` came in after `t` (within 5 s);
/// whether they did.
fn rounds_after(
    rx: &mpsc::Receiver<(Instant, bool)>,
    seen: &mut Vec<(Instant, bool)>,
    t: Instant,
    n: usize,
) -> bool {
    wait_until(Duration::from_secs(5), || {
        seen.extend(rx.try_iter());
        seen.iter().filter(|(at, _)| *at > t).count() >= n
    })
}

#[test]
fn kill_9_keeps_authenticated_traffic_flowing_and_captive_clients_blocked() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    a.sign_in();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = stream(&a, stop.clone());
    let mut results: Vec<(Instant, bool)> = Vec::new();
    assert!(
        rounds_after(&rounds, &mut results, Instant::now(), 5),
        "the stream did not start"
    );
    let before = lab.daemon().session(&a.mac).unwrap();

    lab.daemon().kill(); // SIGKILL: no cleanup at all
    // The downtime is what is tested: the stream must go on through it.
    std::thread::sleep(Duration::from_millis(300));
    // While netauth is dead: A still passes, B stays blocked (HTTP included: there is no
    // portal to answer, and steering fails closed).
    assert!(a.connects(web_addr(false, 443)));
    assert!(!b.connects(web_addr(false, 443)));
    assert_ne!(b.status_of(), Some(200));
    std::thread::sleep(Duration::from_millis(700));

    lab.start_netauth(&[]).unwrap();
    // The stream goes on with the new daemon.
    assert!(
        rounds_after(&rounds, &mut results, Instant::now(), 10),
        "the stream stopped after the restart"
    );
    stop.store(true, Ordering::SeqCst);
    results.extend(rounds.iter());
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
    let after = lab
        .daemon()
        .session(&a.mac)
        .expect("session survived the crash");
    assert_eq!(after.started, before.started);
    assert!(
        after.up_bytes > before.up_bytes + 20_000,
        "{before:?} {after:?}"
    );
    assert_eq!(b.status_of(), Some(511));
    assert_eq!(a.status_of(), Some(200));
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
    b.sign_in();
    assert!(lab.daemon().stop().unwrap().success());
    // Time passing while netauth is down is what is tested: the 2 s run out meanwhile.
    std::thread::sleep(Duration::from_millis(2500));
    lab.start_netauth(&[]).unwrap();
    assert_eq!(
        a.status_of(),
        Some(511),
        "expired while down, must be captive"
    );
    assert_eq!(b.status_of(), Some(200), "the other session must survive");
    assert!(lab.daemon().session(&a.mac).is_none());
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
    a.sign_in();
    assert!(a.connects(web_addr(false, 443)));
    // A reboot: the pinned maps and links go, the store on disk remains.
    assert!(lab.pin_dir().join("NETAUTH_CLIENTS").exists());
    lab.reboot();
    let before_stop = lab.daemon().log_text();
    assert!(before_stop.contains("netauth stopped"));
    assert!(!lab.pin_dir().exists());
    lab.start_netauth(&[]).unwrap();
    let after = lab
        .daemon()
        .session(&a.mac)
        .expect("restored from the store");
    // Counters carried over from the store (the login and the 443 connection).
    assert!(after.up_bytes > 0, "{after:?}");
    assert_eq!(a.status_of(), Some(200));
    assert_eq!(b.status_of(), Some(511));
    assert!(lab.daemon().log_text().contains("restored=1"));
}

#[test]
fn idle_timeout_ends_a_quiet_session_but_not_a_busy_one() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&["--idle-timeout", "3s"]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    a.sign_in();
    b.sign_in();
    // A keeps talking; B goes quiet. Idle limits are checked once a second, so B ends
    // between 3 and about 4.2 s after its last packet. (The pauses are A's pace: the
    // time that passes is what is tested.)
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(5000) {
        assert!(a.connects(web_addr(false, 443)));
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(lab.daemon().session(&a.mac).is_some(), "busy session ended");
    assert!(
        lab.daemon().session(&b.mac).is_none(),
        "quiet session outlived its idle timeout"
    );
    assert_eq!(b.status_of(), Some(511));
    assert!(lab.daemon().log_text().contains("reason=\"idle\""));
}

#[test]
fn quota_ends_the_session_and_the_portal_says_why() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let a = lab.clients[0].clone();
    let out = lab.daemon().cli(&["allow", &a.mac, "--quota", "200k"]);
    assert!(out.status.success(), "{out:?}");
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(s.quota_total, Some(200_000));
    // Push 300 kB through the echo server (600 kB up+down).
    let moved = a.echo(300_000, 10_000);
    assert!(moved >= 100_000);
    assert!(
        wait_until(Duration::from_secs(3), || lab
            .daemon()
            .session(&a.mac)
            .is_none()),
        "quota did not end the session"
    );
    let r =
        a.ns.run(|| http::get(web_addr(false, 80), None, "/"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 511);
    assert!(r.body.contains("data allowance is used up"), "{}", r.body);
    let r =
        a.ns.run(|| http::get(portal_addr(false), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(r.body.contains("data allowance is used up"));
    assert!(lab.daemon().log_text().contains("reason=\"quota\""));
}

#[test]
fn accounting_matches_the_traffic_within_one_percent() {
    for mode in ["native", "off"] {
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
        a.sign_in();
        a.wait_quiet();
        let s0 = lab.daemon().session(&a.mac).unwrap();
        let l0 = a.link_counters();
        // 4 MB up, echoed back down.
        assert_eq!(a.echo(4 << 20, 64 << 10), 4 << 20);
        a.wait_quiet();
        let l1 = a.link_counters();
        let s1 = lab.daemon().session(&a.mac).unwrap();
        let d = |k: fn(&SessionView) -> u64| k(&s1) - k(&s0);
        // What the client's interface sent/received, at layer 3.
        let sent_l3 = (l1.0 - l0.0) - 14 * (l1.1 - l0.1);
        let recv_l3 = (l1.2 - l0.2) - 14 * (l1.3 - l0.3);
        assert!(sent_l3 > 4_000_000 && recv_l3 > 4_000_000);
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.01;
        assert!(
            close(d(|s| s.up_bytes), sent_l3),
            "mode {mode}: up {} vs sent {sent_l3}",
            d(|s| s.up_bytes)
        );
        assert!(
            close(d(|s| s.down_bytes), recv_l3),
            "mode {mode}: down {} vs received {recv_l3}",
            d(|s| s.down_bytes)
        );
        assert!(
            close(d(|s| s.up_packets), l1.1 - l0.1),
            "mode {mode}: up packets {} vs {}",
            d(|s| s.up_packets),
            l1.1 - l0.1
        );
        assert!(
            close(d(|s| s.down_packets), l1.3 - l0.3),
            "mode {mode}: down packets {} vs {}",
            d(|s| s.down_packets),
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
    let s = lab.daemon().session(&a.mac).unwrap();
    assert!((3590..=3600).contains(&s.seconds_remaining), "{s:?}");
    assert_eq!(s.quota_total, Some(5_000_000_000u64));
    assert_eq!(s.idle_timeout_s, Some(600));
    assert_eq!(s.via, Via::Admin);
    assert_eq!(a.status_of(), Some(200));

    // extend
    let out = lab.daemon().cli(&["extend", &a.mac, "--for", "30m"]);
    assert!(out.status.success(), "{out:?}");
    let s = lab.daemon().session(&a.mac).unwrap();
    assert!(s.seconds_remaining > 5300, "{s:?}");

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

    // API: get, 404 (none) for unknown
    let admin = lab.daemon().admin();
    let mac = |m: &str| m.parse::<Mac>().unwrap();
    let v = AdminClient::block_on(admin.session(mac(&a.mac))).unwrap();
    assert_eq!(v.map(|s| s.mac.to_string()), Some(a.mac.clone()));
    let v = AdminClient::block_on(admin.session(mac(&b.mac))).unwrap();
    assert!(v.is_none(), "{v:?}");

    // Bad input: nothing changes.
    let snapshot = lab.daemon().sessions();
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
        let (code, v) = api_raw(&mut lab, method, path, body);
        assert_eq!(code, 400, "{method} {path} {body}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    let (_, v) = api_raw(
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
    let e = AdminClient::block_on(admin.extend(mac("02:00:00:00:01:0b"), "1h")).unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let after = lab.daemon().sessions();
    assert_eq!(after.len(), snapshot.len());
    assert_eq!(after[0].expires, snapshot[0].expires);
    assert_eq!(b.status_of(), Some(511));

    // revoke through the API
    let v = AdminClient::block_on(admin.revoke(mac(&a.mac))).unwrap();
    assert!(v.is_some(), "{v:?}");
    assert_eq!(a.status_of(), Some(511));

    // Metrics on the admin socket.
    b.sign_in();
    let text = lab.daemon().metrics().unwrap();
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
    a.sign_in();
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
    assert!(a.connects(web_addr(false, 443)));
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
        a.ns.run(|| http::get(portal_addr(false), None, "/login"))
            .unwrap()
            .unwrap();
    assert!(r.body.contains("Welcome to Config Cafe"), "{}", r.body);
    a.sign_in();
    let s = lab.daemon().session(&a.mac).unwrap();
    assert!((7190..=7200).contains(&s.seconds_remaining), "{s:?}");
    assert_eq!(s.idle_timeout_s, Some(1800));
    assert_eq!(s.quota_total, Some(1_000_000_000u64));
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
        a.ns.run(|| http::get(portal_addr(false), None, "/login"))
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
    assert_eq!(a.status_of(), Some(200));
    let _ = UPSTREAM_MARKER;
}
