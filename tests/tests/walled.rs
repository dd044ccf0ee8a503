//! The walled garden: operator-listed prefixes and host names are reachable while
//! captive, everything else is not; host names follow DNS (TTL) and the admin API
//! changes the list without a restart.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use netauth_lab::{Lab, UPSTREAM_V4, WEB_V4, WEB_V6, http, net, wait_until};

/// Waits up to 15 s for `f` (DNS TTLs are clamped to at least 5 s), failing with `what`.
fn wait_for(what: &str, f: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(15), f),
        "timed out waiting for: {what}"
    );
}

#[test]
fn prefixes_in_the_walled_garden_are_reachable_while_captive() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[
        "--walled-garden",
        "198.51.100.0/24",
        "--walled-garden",
        "2001:db8:3::80",
    ])
    .unwrap();
    let c = lab.clients[0].clone();
    let up = SocketAddr::new(IpAddr::V4(UPSTREAM_V4), 443);
    assert!(c.connects(up), "walled-garden prefix must be reachable");
    // HTTP to it is not intercepted either.
    let r =
        c.ns.run(|| http::get(SocketAddr::new(IpAddr::V4(UPSTREAM_V4), 80), None, "/"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 200);
    assert!(c.connects(SocketAddr::new(IpAddr::V6(WEB_V6), 443)));
    assert!(!c.connects(SocketAddr::new(IpAddr::V4(WEB_V4), 443)));

    // Runtime changes through the CLI/API, no restart.
    let out = lab
        .daemon()
        .cli(&["walled-garden", "add", "203.0.113.80/32"]);
    assert!(out.status.success(), "{out:?}");
    assert!(c.connects(SocketAddr::new(IpAddr::V4(WEB_V4), 443)));
    let out = lab
        .daemon()
        .cli(&["walled-garden", "remove", "203.0.113.80/32"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!c.connects(SocketAddr::new(IpAddr::V4(WEB_V4), 443)));
    // Config entries cannot be removed through the API; bad entries are refused.
    let out = lab
        .daemon()
        .cli(&["walled-garden", "remove", "198.51.100.0/24"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = lab.daemon().cli(&["walled-garden", "add", "not a host"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(c.connects(up));

    // API entries survive a restart.
    let out = lab.daemon().cli(&["walled-garden", "add", "203.0.113.80"]);
    assert!(out.status.success());
    assert!(lab.daemon().stop().unwrap().success());
    lab.start_netauth(&[]).unwrap();
    assert!(c.connects(SocketAddr::new(IpAddr::V4(WEB_V4), 443)));
    assert!(!c.connects(up), "config entries of the old run are gone");
}

#[test]
fn host_names_are_resolved_and_follow_their_ttl() {
    let mut lab = Lab::new(1).unwrap();
    // A DNS server in the upstream namespace, on its own address.
    let dns = SocketAddr::from(([198, 51, 100, 53], 53));
    lab.up
        .ip(&["addr", "add", "198.51.100.53/24", "dev", "up0"])
        .unwrap();
    lab.up
        .ip(&["addr", "add", "203.0.113.91/32", "dev", "lo"])
        .unwrap();
    lab.up
        .ip(&["addr", "add", "203.0.113.92/32", "dev", "lo"])
        .unwrap();
    let records: net::DnsRecords = Arc::new(Mutex::new(HashMap::new()));
    records.lock().unwrap().insert(
        "pay.lab.example".into(),
        vec![IpAddr::V4(Ipv4Addr::new(203, 0, 113, 91))],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    {
        let (r, s, rd) = (records.clone(), stop.clone(), ready.clone());
        lab.up
            .spawn(move || net::serve_dns(dns, r, 2, s, rd))
            .unwrap();
    }
    wait_for("DNS server", || ready.load(Ordering::SeqCst) == 1);
    lab.set_gateway_dns(dns.ip()).unwrap();
    lab.start_netauth(&["--walled-garden", "pay.lab.example"])
        .unwrap();
    let c = lab.clients[0].clone();
    let first = SocketAddr::from(([203, 0, 113, 91], 443));
    let second = SocketAddr::from(([203, 0, 113, 92], 443));
    wait_for("pay.lab.example reachable", || c.connects(first));
    assert!(!c.connects(second));
    let out = lab.daemon().cli(&["walled-garden", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"][0]["entry"], "pay.lab.example");
    assert_eq!(v["entries"][0]["addresses"][0], "203.0.113.91");

    // The name moves; after its TTL (2 s, clamped to netauth's 5 s minimum) the garden follows.
    records.lock().unwrap().insert(
        "pay.lab.example".into(),
        vec![IpAddr::V4(Ipv4Addr::new(203, 0, 113, 92))],
    );
    wait_for("new address reachable", || c.connects(second));
    assert!(!c.connects(first), "the old address must leave the garden");
    stop.store(true, Ordering::SeqCst);
}
