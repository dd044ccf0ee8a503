//! A device that comes back with a new MAC (a phone's randomised address): the same
//! voucher typed again moves its session to the new address with the time and data it had
//! left (`--on-new-mac transfer`, the default), or is refused (`refuse`). Randomised
//! addresses are shown, counted and told about on the status page.

use std::{net::Ipv4Addr, time::Duration};

use netauth_lab::{Client, Lab, http, portal_addr};

/// The new address the first client comes back with.
const Y: &str = "06:00:00:00:01:99";
const Y_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

/// One voucher for one device, 1 h and 2 MB; its code.
fn voucher(lab: &mut Lab) -> String {
    let out = lab.daemon().cli(&[
        "voucher",
        "create",
        "--count",
        "1",
        "--duration",
        "1h",
        "--quota",
        "2M",
        "--devices",
        "1",
    ]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Gives client `c`'s interface the MAC `mac` and the address `v4` (a new address
/// brings a new lease), and makes the gateway forget the old neighbour entry.
fn readdress(lab: &Lab, c: &Client, mac: &str, v4: Ipv4Addr) -> Client {
    let ns = &c.ns;
    ns.ip(&["link", "set", "eth0", "down"]).unwrap();
    ns.ip(&["link", "set", "eth0", "address", mac]).unwrap();
    ns.ip(&["addr", "flush", "dev", "eth0", "scope", "global"])
        .unwrap();
    ns.ip(&["link", "set", "eth0", "up"]).unwrap();
    ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", "eth0"])
        .unwrap();
    ns.ip(&[
        "addr",
        "add",
        &format!("{}/64", c.v6),
        "dev",
        "eth0",
        "nodad",
    ])
    .unwrap();
    ns.ip(&["route", "replace", "default", "via", "192.0.2.1"])
        .unwrap();
    lab.gw.ip(&["neigh", "flush", "dev", "lan0"]).unwrap();
    Client {
        ns: ns.clone(),
        mac: mac.to_string(),
        v4,
        v6: c.v6,
    }
}

/// How the store recorded the end of `mac`'s last session.
fn end_reason(lab: &Lab, mac: &str) -> String {
    let db = lab.state_dir().join("sessions.db");
    let out = std::process::Command::new("sqlite3")
        .args([
            "-readonly",
            &db.to_string_lossy(),
            &format!(
                "SELECT COALESCE(end_reason, 'active') FROM sessions WHERE mac = '{mac}' \
                 ORDER BY rowid DESC LIMIT 1"
            ),
        ])
        .output()
        .expect("sqlite3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_voucher_typed_again_from_a_new_mac_moves_the_rest_of_its_session() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&["--auth-method", "voucher"]).unwrap();
    let (x, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    let code = voucher(&mut lab);
    let r = x.login(&format!("accept=1&code={code}")).unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(x.status_of(), Some(200));
    // Use some of the allowance and some of the time.
    assert!(x.echo(256 * 1024, 16 * 1024) > 0, "X reached nothing");
    x.wait_quiet();
    std::thread::sleep(Duration::from_secs(3));
    let before = lab.daemon().session(&x.mac).expect("X's session");
    assert!(before.randomized_mac, "02:… is locally administered");
    let left = before.bytes_remaining.unwrap();
    assert!(left < 2_000_000 - 256 * 1024, "{before:?}");
    assert!(before.seconds_remaining <= 3597, "{before:?}");
    let status = x.get(portal_addr(false), None, "/status").unwrap();
    assert!(
        status.body.contains("id=\"randomized-mac\""),
        "{}",
        status.body
    );
    let metrics = lab.daemon().metrics().unwrap();
    assert!(
        metrics.contains("netauth_clients_randomized_mac 1"),
        "{metrics}"
    );

    // The phone comes back with a new MAC (and a new lease): captive, until it types the
    // same code, which moves the session.
    let y = readdress(&lab, &x, Y, Y_V4);
    assert_eq!(y.status_of(), Some(511));
    let r = y.login(&format!("accept=1&code={code}")).unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(y.status_of(), Some(200));
    let moved = lab.daemon().session(Y).expect("Y's session");
    assert!(
        moved.seconds_remaining <= before.seconds_remaining
            && moved.seconds_remaining + 10 >= before.seconds_remaining,
        "Y has {} s, X had {} s: not the rest of the session",
        moved.seconds_remaining,
        before.seconds_remaining
    );
    assert_eq!(moved.via.as_str(), "voucher");
    let y_quota = moved.quota_total.expect("Y's allowance");
    assert!(
        y_quota <= left && y_quota + 4096 >= left,
        "Y's allowance is {y_quota} B, X had {left} B left"
    );
    assert!(moved.randomized_mac);
    assert!(lab.daemon().session(&x.mac).is_none(), "X is still online");
    assert_eq!(end_reason(&lab, &x.mac), "moved");
    assert_eq!(end_reason(&lab, Y), "active");
    let log = lab.daemon().log_text();
    assert!(log.contains("moved"), "{log}");
    let vouchers = lab.daemon().cli(&["voucher", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&vouchers.stdout).unwrap();
    assert_eq!(v["vouchers"][0]["devices_used"], 1, "{v}");
    let out = lab.daemon().cli(&["sessions"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("RANDOMISED") && table.contains("yes"),
        "{table}"
    );
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );

    // X's MAC comes back: captive, told why.
    let x = readdress(&lab, &y, &x.mac, x.v4);
    assert_eq!(x.status_of(), Some(511));
    let page =
        x.ns.run(|| http::get(portal_addr(false), None, "/login").unwrap())
            .unwrap();
    assert!(
        page.body.contains("moved to another address"),
        "{}",
        page.body
    );
    // Typing the code there moves the session back, with what is left (not a fresh one).
    let r = x.login(&format!("accept=1&code={code}")).unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(x.status_of(), Some(200));
    let back = lab.daemon().session(&x.mac).expect("X's session again");
    assert!(back.seconds_remaining <= moved.seconds_remaining);
    assert!(back.quota_total.unwrap() <= y_quota);
    assert!(lab.daemon().session(Y).is_none());
    assert_eq!(end_reason(&lab, Y), "moved");
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );
}

#[test]
fn with_refuse_a_voucher_without_a_slot_is_refused_and_the_session_stays() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&["--auth-method", "voucher", "--on-new-mac", "refuse"])
        .unwrap();
    let (x, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    let code = voucher(&mut lab);
    let r = x.login(&format!("accept=1&code={code}")).unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    let y = readdress(&lab, &x, Y, Y_V4);
    let r = y.login(&format!("accept=1&code={code}")).unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("Invalid voucher code."));
    assert_eq!(y.status_of(), Some(511));
    assert!(lab.daemon().session(Y).is_none());
    assert!(lab.daemon().session(&x.mac).is_some(), "X lost its session");
    assert_eq!(end_reason(&lab, &x.mac), "active");
    let x = readdress(&lab, &y, &x.mac, x.v4);
    assert_eq!(x.status_of(), Some(200));
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );
}
