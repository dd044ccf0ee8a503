//! RFC 8908 Captive Portal API over TLS, and RFC 8910 provisioning output.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use netauth_lab::{Client, GW_LAN_V4, GW_LAN_V6, Lab, PORTAL_PORT, http, wait_until};
use serde_json::Value;

const API_PORT: u16 = 8443;
const HOSTNAME: &str = "portal.lab.example";

/// An HTTPS GET that trusts exactly the lab's self-signed certificate.
fn https_get(
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
    ca_pem: &[u8],
) -> std::io::Result<http::Response> {
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    http::https(
        HOSTNAME,
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {HOSTNAME}:{API_PORT}\r\n{accept}Connection: close\r\n\r\n"
        ),
        ca_pem,
    )
}

/// Signs in over HTTPS as a browser would: the form from `GET /login`, posted back with
/// its token and the page's own origin.
fn https_login(c: &Client, form: &str, pem: &[u8]) -> http::Response {
    let addr = SocketAddr::new(IpAddr::V4(GW_LAN_V4), API_PORT);
    let (form, pem) = (form.to_string(), pem.to_vec());
    c.ns.run(move || {
        let page = https_get(addr, "/login", None, &pem)?;
        let token = http::form_token(&page.body)
            .ok_or_else(|| std::io::Error::other(format!("no form token: {page:?}")))?;
        let body = format!("token={token}&{form}");
        http::https(
            HOSTNAME,
            addr,
            &format!(
                "POST /login HTTP/1.1\r\nHost: {HOSTNAME}:{API_PORT}\r\nOrigin: https://{HOSTNAME}:{API_PORT}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
            &pem,
        )
    })
    .unwrap()
    .expect("HTTPS login")
}

/// A lab of three clients; the third is a trusted MAC (always online, no limits).
fn setup(extra: &[&str]) -> (Lab, Vec<u8>) {
    let mut lab = Lab::new(3).unwrap();
    let (cert, key) = netauth_lab::make_cert(&lab.dir, HOSTNAME, "192.0.2.1");
    let mut args = vec![
        "--api-tls-cert".to_string(),
        cert.to_string_lossy().into_owned(),
        "--api-tls-key".to_string(),
        key.to_string_lossy().into_owned(),
        "--api-hostname".to_string(),
        HOSTNAME.to_string(),
        "--venue-info-url".to_string(),
        "https://venue.lab.example/info".to_string(),
        "--trusted-mac".to_string(),
        lab.clients[2].mac.clone(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.start_netauth(&refs).unwrap();
    let pem = std::fs::read(&cert).unwrap();
    (lab, pem)
}

fn api(c: &Client, v6: bool, accept: Option<&str>, pem: &[u8]) -> http::Response {
    let addr = if v6 {
        SocketAddr::new(IpAddr::V6(GW_LAN_V6), API_PORT)
    } else {
        SocketAddr::new(IpAddr::V4(GW_LAN_V4), API_PORT)
    };
    let accept = accept.map(str::to_string);
    let pem = pem.to_vec();
    c.ns.run(move || https_get(addr, "/api/captive", accept.as_deref(), &pem))
        .unwrap()
        .expect("HTTPS request to the API")
}

fn json(r: &http::Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

#[test]
fn captive_api_reports_state_over_tls() {
    let (mut lab, pem) = setup(&["--session-timeout", "1h"]);
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());

    // Captive: reachable while captive, over IPv4 and IPv6.
    for v6 in [false, true] {
        let r = api(&a, v6, None, &pem);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/captive+json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.body.len() <= 4096);
        let v = json(&r);
        assert_eq!(v["captive"], true);
        assert_eq!(
            v["user-portal-url"],
            format!("https://{HOSTNAME}:{API_PORT}/login")
        );
        assert_eq!(v["venue-info-url"], "https://venue.lab.example/info");
        assert_eq!(v["can-extend-session"], false);
        assert!(v.get("seconds-remaining").is_none(), "{v}");
        assert!(v.get("bytes-remaining").is_none(), "{v}");
    }
    // The login page itself is served over TLS too.
    let pem2 = pem.clone();
    let r =
        a.ns.run(move || {
            https_get(
                SocketAddr::new(IpAddr::V4(GW_LAN_V4), API_PORT),
                "/login",
                None,
                &pem2,
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Accept and connect"));

    // Accept variants: API clients get the JSON, a browser is sent to the portal (303),
    // anything else is told what the resource is (406).
    let portal = format!("https://{HOSTNAME}:{API_PORT}/login");
    for (accept, status) in [
        ("application/captive+json", 200),
        ("application/captive+json, */*", 200),
        ("text/html;q=0.9, Application/Captive+JSON", 200),
        ("*/*", 200),
        ("text/html", 303),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            303,
        ),
        ("application/json", 406),
    ] {
        let r = api(&a, false, Some(accept), &pem);
        assert_eq!(r.status, status, "{accept}: {r:?}");
        if status == 303 {
            assert_eq!(r.header("location"), Some(portal.as_str()), "{r:?}");
        }
    }

    // captive turns false immediately after login; a quota makes bytes-remaining appear.
    let out = lab
        .daemon()
        .cli(&["allow", &a.mac, "--for", "1h", "--quota", "10M"]);
    assert!(out.status.success(), "{out:?}");
    let v = json(&api(&a, false, None, &pem));
    assert_eq!(v["captive"], false, "{v}");
    // The operator made this session: the user cannot extend it.
    assert_eq!(v["can-extend-session"], false, "{v}");
    let s0 = v["seconds-remaining"].as_u64().unwrap();
    let b0 = v["bytes-remaining"].as_u64().unwrap();
    assert!(s0 <= 3600 && s0 > 3500, "{v}");
    assert!(b0 <= 10_000_000 && b0 > 9_000_000, "{v}");

    // Time passes and bytes flow: both decrease.
    assert_eq!(a.echo(200_000, 50_000), 200_000);
    let mut v = Value::Null;
    wait_until(Duration::from_secs(3), || {
        v = json(&api(&a, false, None, &pem));
        v["seconds-remaining"].as_u64().is_some_and(|s| s < s0)
    });
    let s1 = v["seconds-remaining"].as_u64().unwrap();
    let b1 = v["bytes-remaining"].as_u64().unwrap();
    assert!(s1 < s0, "{s0} -> {s1}");
    assert!(
        b0 - b1 >= 400_000,
        "bytes-remaining {b0} -> {b1} after 400 kB"
    );

    // With a certificate, every way to the login leads to HTTPS on the API host name:
    // the 511 page, a probe's 302, and the plain-http login itself (308).
    let https_login_url = format!("https://{HOSTNAME}:{API_PORT}/login");
    let r = b
        .get(netauth_lab::web_addr(false, 80), None, "/page")
        .unwrap();
    assert_eq!(r.status, 511);
    assert!(
        r.body.contains(&format!(
            "{https_login_url}?redirect=http%3A%2F%2F203.0.113.80%2Fpage"
        )),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("http://192.0.2.1:8080/login"),
        "{}",
        r.body
    );
    let r = b
        .get(
            netauth_lab::web_addr(false, 80),
            Some("connectivitycheck.gstatic.com"),
            "/generate_204",
        )
        .unwrap();
    assert_eq!(r.status, 302);
    assert!(
        r.header("location")
            .is_some_and(|l| l.starts_with(&https_login_url)),
        "{r:?}"
    );
    let plain = SocketAddr::new(IpAddr::V4(GW_LAN_V4), PORTAL_PORT);
    let r =
        b.ns.run(move || http::get(plain, None, "/login?redirect=x"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 308, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("{https_login_url}?redirect=x").as_str())
    );
    let r =
        b.ns.run(move || http::post_form(plain, "/login", "accept=1"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 308, "a plain-http login is not taken: {r:?}");
    assert_eq!(b.status_of(), Some(511));

    // A click-through login (over HTTPS) without a quota: no bytes-remaining.
    let r = https_login(&b, "accept=1", &pem);
    assert_eq!(r.status, 303, "{r:?}");
    let v = json(&api(&b, true, None, &pem));
    assert_eq!(v["captive"], false);
    assert!(v.get("bytes-remaining").is_none(), "{v}");
    assert!(v["seconds-remaining"].as_u64().unwrap() > 3500);
    // Logging in again renews it.
    assert_eq!(v["can-extend-session"], true, "{v}");

    // A trusted device has no time or data limit (RFC 8908 §5: omit what does not apply)
    // and nothing to extend.
    let t = lab.clients[2].clone();
    for v6 in [false, true] {
        let v = json(&api(&t, v6, None, &pem));
        assert_eq!(v["captive"], false, "{v}");
        assert!(v.get("seconds-remaining").is_none(), "{v}");
        assert!(v.get("bytes-remaining").is_none(), "{v}");
        assert_eq!(v["can-extend-session"], false, "{v}");
    }

    // The API is not served over plain HTTP.
    let r =
        b.ns.run(|| {
            http::get(
                SocketAddr::new(IpAddr::V4(GW_LAN_V4), PORTAL_PORT),
                None,
                "/api/captive",
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn dhcp_config_announces_the_api_uri() {
    let bin = netauth_lab::netauth_bin();
    let out = std::process::Command::new(&bin)
        .args(["dhcp-config", "--format", "dnsmasq", "--hostname", HOSTNAME])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let uri = format!("https://{HOSTNAME}:{API_PORT}/api/captive");
    assert!(
        text.contains(&format!("dhcp-option=114,\"{uri}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!("dhcp-option=option6:103,\"{uri}\"")),
        "{text}"
    );
    let out = std::process::Command::new(&bin)
        .args(["dhcp-config", "--format", "kea", "--api-uri", &uri])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Dhcp4"]["option-data"][0]["data"], uri);
    let long = format!("https://{}/api/captive", "x".repeat(260));
    let out = std::process::Command::new(&bin)
        .args(["dhcp-config", "--format", "dnsmasq", "--api-uri", &long])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("255"));
}
