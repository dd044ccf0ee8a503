//! The external portal (docs/external-portal.md): a real Chromium on a captive device is
//! sent to the example application (examples/external-portal/app.py, stdlib Python,
//! running in the lab's upstream namespace), which verifies the gateway's signed request
//! and sends it back with a signed grant; the device reaches the page it asked for.
//! Grants that were tampered with, expired, replayed or meant for another device are each
//! refused with a page and a log line, and leave the device captive.
//!
//! Screenshots are kept under target/test-artifacts/external-portal/.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Child, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac as _};
use netauth_lab::{
    Client, Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, http, portal_addr, wait_until, web_addr,
    webdriver::in_browser, workspace_root,
};
use sha2::Sha256;

const SECRET: &str = "lab-external-portal-secret-0123456789";
const APP: &str = "198.51.100.2:8099";

/// The example application, running in the upstream namespace; stopped on drop.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(lab: &mut Lab) -> App {
    let secret = lab.dir.join("external.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let log = std::fs::File::create(lab.dir.join("external-app.log")).unwrap();
    let app = App(lab
        .up
        .command("python3")
        .arg(workspace_root().join("examples/external-portal/app.py"))
        .args(["--listen", APP, "--secret-file"])
        .arg(&secret)
        .args([
            "--duration",
            "7200",
            "--quota",
            "5000000000",
            "--rate-down",
            "8000000",
            "--username",
            "room-101",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("python3"));
    let addr: SocketAddr = APP.parse().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            lab.up
                .run(move || {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                })
                .unwrap_or(false)
        }),
        "the example application did not come up"
    );
    let url = format!("http://{APP}/portal");
    lab.start_netauth(&[
        "--venue-name",
        "Harbour Hotel",
        "--external-portal",
        &url,
        "--external-portal-secret-file",
        secret.to_str().unwrap(),
    ])
    .unwrap();
    app
}

fn get(c: &Client, addr: SocketAddr, path: &str) -> http::Response {
    let path = path.to_string();
    c.ns.run(move || http::get(addr, None, &path))
        .unwrap()
        .unwrap_or_else(|e| panic!("GET: {e}"))
}

fn assert_captive(c: &Client, who: &str) {
    let r = get(c, web_addr(false, 80), "/");
    assert_eq!(r.status, 511, "{who}: {r:?}");
    assert!(
        !c.connects(web_addr(false, 443)),
        "{who}: TCP/443 while captive"
    );
}

fn sign(message: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(message.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The canonical string of docs/external-portal.md.
fn canonical(kind: &str, fields: &[(&str, &str)]) -> String {
    let mut s = format!("netauth-external-v1\n{kind}\n");
    for (k, v) in fields {
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// The login request the portal sends `c` to the application with, checked against the
/// documented signature.
fn login_request(c: &Client) -> HashMap<String, String> {
    let r = get(
        c,
        portal_addr(false),
        "/login?redirect=http%3A%2F%2F203.0.113.80%2Fwelcome",
    );
    assert_eq!(r.status, 302, "{r:?}");
    let to = r.header("location").unwrap();
    let prefix = format!("http://{APP}/portal?");
    let query = to.strip_prefix(&prefix).unwrap_or_else(|| panic!("{to}"));
    let q: HashMap<String, String> = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let v = v.replace('+', " ");
            (k.to_string(), percent_decode(&v))
        })
        .collect();
    let order = ["gw", "mac", "ip", "url", "grant_url", "nonce", "exp"];
    let fields: Vec<(&str, &str)> = order.iter().map(|k| (*k, q[*k].as_str())).collect();
    assert_eq!(q["sig"], sign(&canonical("login", &fields)), "{q:?}");
    assert_eq!(q["mac"], c.mac);
    assert_eq!(q["url"], "http://203.0.113.80/welcome");
    assert_eq!(
        q["grant_url"],
        format!("http://192.0.2.1:{PORTAL_PORT}/_netauth/external/grant")
    );
    q
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A grant's query string as the application builds it; with `tamper`, one field is
/// changed after signing.
fn grant(gw: &str, mac: &str, nonce: &str, exp: u64, tamper: Option<(&str, &str)>) -> String {
    let exp = exp.to_string();
    let mut fields = vec![
        ("gw", gw.to_string()),
        ("mac", mac.to_string()),
        ("nonce", nonce.to_string()),
        ("exp", exp),
        ("duration", "3600".to_string()),
        ("quota", "1000000000".to_string()),
        ("rate_up", String::new()),
        ("rate_down", String::new()),
        ("username", "guest 7".to_string()),
    ];
    let signed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sig = sign(&canonical("grant", &signed));
    fields.push(("sig", sig));
    if let Some((k, v)) = tamper {
        fields.iter_mut().find(|(f, _)| *f == k).unwrap().1 = v.to_string();
    }
    fields
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn bring(c: &Client, query: &str) -> http::Response {
    get(
        c,
        portal_addr(false),
        &format!("/_netauth/external/grant?{query}"),
    )
}

fn assert_refused(lab: &mut Lab, c: &Client, query: &str, reason: &str) {
    let before = lab.daemon().log_text().len();
    let r = bring(c, query);
    assert_eq!(r.status, 403, "{reason}: {r:?}");
    assert!(r.body.contains("Sign-in refused"), "{reason}: {}", r.body);
    assert!(
        wait_until(Duration::from_secs(2), || lab.daemon().log_text()[before..]
            .contains(&format!("reason={reason}"))
            || lab.daemon().log_text()[before..].contains(reason)),
        "no log line for {reason}: {}",
        &lab.daemon().log_text()[before..]
    );
    assert_captive(c, reason);
}

#[test]
fn chromium_signs_in_through_the_external_portal_and_reaches_the_original_page() {
    let mut lab = Lab::new(2).unwrap();
    let _app = start(&mut lab);
    let (c, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    let shots = workspace_root().join("target/test-artifacts/external-portal");
    let start_url = format!("http://{WEB_V4}/some/page");
    let seen = {
        let (shots, start_url) = (shots.clone(), start_url.clone());
        in_browser(&c.ns, &lab.dir, &[], &shots.clone(), move |wd| {
            wd.cmd(
                "POST",
                "/url",
                Some(serde_json::json!({"url": start_url.clone()})),
            )?;
            let app = format!("http://{APP}/portal?");
            wd.wait_for_url("the external portal", |u| u.starts_with(&app))?;
            let verified = wd.text("#verified")?;
            wd.screenshot(&shots.join("1-external-app.png"))?;
            wd.click("#connect")?;
            let fin = wd.wait_for_url("the original page", |u| u == start_url)?;
            let source = wd.source()?;
            wd.screenshot(&shots.join("2-online.png"))?;
            let (responses, _) = wd.network_log()?;
            Ok((verified, fin, source, responses))
        })
    };
    let (verified, fin, source, responses) = seen.unwrap_or_else(|e| panic!("{e:#}"));
    assert!(verified.contains(&c.mac), "{verified}");
    assert_eq!(fin, start_url);
    assert!(source.contains(UPSTREAM_MARKER));
    assert!(
        responses.iter().any(|(u, s)| u.starts_with(&format!(
            "http://192.0.2.1:{PORTAL_PORT}/_netauth/external/grant?"
        )) && *s == 303),
        "{responses:?}"
    );
    let s = lab.daemon().session(&c.mac).expect("a session");
    assert_eq!(s.via.as_str(), "external");
    assert!(
        s.seconds_remaining > 7000 && s.seconds_remaining <= 7200,
        "{s:?}"
    );
    assert_eq!(
        s.rate_down_bps,
        Some(8_000_000),
        "the grant's rate limit: {s:?}"
    );
    assert_eq!(s.rate_up_bps, None, "{s:?}");
    assert!(lab.daemon().log_text().contains("username=room-101"));

    // The application's host is in the walled garden: a device that never signed in
    // reaches it, and nothing else.
    let r = get(&never, APP.parse().unwrap(), "/nothing-here");
    assert_eq!(r.status, 404, "{r:?}");
    assert_captive(&never, "never signed in");
}

/// Two devices sent to the application: A and B, each with its own signed login request.
struct Refusals {
    lab: Lab,
    _app: App,
    a: Client,
    b: Client,
    gw: String,
    na: String,
    nb: String,
}

impl Refusals {
    fn new() -> Self {
        let mut lab = Lab::new(2).unwrap();
        let app = start(&mut lab);
        let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
        let (qa, qb) = (login_request(&a), login_request(&b));
        Self {
            gw: qa["gw"].clone(),
            na: qa["nonce"].clone(),
            nb: qb["nonce"].clone(),
            lab,
            _app: app,
            a,
            b,
        }
    }

    /// A's good grant, valid for a minute.
    fn good(&self) -> String {
        grant(&self.gw, &self.a.mac, &self.na, now() + 60, None)
    }

    fn refused(&mut self, by_b: bool, query: &str, reason: &str) {
        let c = if by_b { self.b.clone() } else { self.a.clone() };
        assert_refused(&mut self.lab, &c, query, reason);
    }

    /// After the refusals, A's good grant still works (the nonce was not spent), and B,
    /// which never signed in, is still captive.
    fn finish(mut self) {
        let r = bring(&self.a, &self.good());
        assert_eq!(r.status, 303, "{r:?}");
        assert_eq!(r.header("location"), Some("http://203.0.113.80/welcome"));
        let a = self.a.clone();
        assert!(wait_until(Duration::from_secs(3), || a.status_of() == Some(200)));
        assert_captive(&self.b, "B never signed in");
        self.lab.cleanup();
    }
}

#[test]
fn a_tampered_grant_is_refused() {
    let mut t = Refusals::new();
    let (gw, mac, na) = (t.gw.clone(), t.a.mac.clone(), t.na.clone());
    let exp = now() + 60;
    // A field changed after signing, a made-up signature, another secret's signature.
    t.refused(
        false,
        &grant(&gw, &mac, &na, exp, Some(("duration", "999999"))),
        "bad signature",
    );
    t.refused(
        false,
        &grant(&gw, &mac, &na, exp, Some(("quota", ""))),
        "bad signature",
    );
    t.refused(
        false,
        &grant(&gw, &mac, &na, exp, Some(("sig", &"0".repeat(64)))),
        "bad signature",
    );
    t.finish();
}

#[test]
fn an_expired_grant_is_refused() {
    let mut t = Refusals::new();
    let (gw, mac, na) = (t.gw.clone(), t.a.mac.clone(), t.na.clone());
    t.refused(
        false,
        &grant(&gw, &mac, &na, now() - 5, None),
        "expired grant",
    );
    t.finish();
}

#[test]
fn a_replayed_grant_is_refused() {
    let mut t = Refusals::new();
    let good = t.good();
    let r = bring(&t.a, &good);
    assert_eq!(r.status, 303, "{r:?}");
    let a = t.a.clone();
    assert!(wait_until(Duration::from_secs(3), || a.status_of() == Some(200)));
    // Signed out, the same grant again: refused, and A stays out.
    assert_eq!(a.logout().unwrap().status, 200);
    assert!(wait_until(Duration::from_secs(3), || a.status_of() == Some(511)));
    t.refused(false, &good, "replay");
    // A nonce the gateway never issued is no better.
    let (gw, mac) = (t.gw.clone(), a.mac.clone());
    t.refused(
        false,
        &grant(&gw, &mac, &"ab".repeat(16), now() + 60, None),
        "replay",
    );
    assert_captive(&t.b, "B never signed in");
}

#[test]
fn a_grant_for_another_device_or_gateway_is_refused() {
    let mut t = Refusals::new();
    let (gw, mac, na, nb) = (t.gw.clone(), t.a.mac.clone(), t.na.clone(), t.nb.clone());
    let exp = now() + 60;
    // A's grant brought by B; B's nonce granted to A's MAC; another gateway's grant.
    t.refused(true, &t.good(), "grant for another device");
    t.refused(
        false,
        &grant(&gw, &mac, &nb, exp, None),
        "grant for another device",
    );
    t.refused(
        false,
        &grant("other-gw", &mac, &na, exp, None),
        "grant for another gateway",
    );
    t.finish();
}

#[test]
fn malformed_grants_and_the_portals_own_form_are_refused() {
    let mut t = Refusals::new();
    // The portal's own form is no way around the application.
    let r =
        t.a.ns
            .run(|| http::post_form(portal_addr(false), "/login", "accept=1"))
            .unwrap()
            .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert_captive(&t.a, "the portal's own login form");
    let good = t.good();
    let mac = t.a.mac.clone();
    for bad in [
        "sig=zz".to_string(),
        "".to_string(),
        format!("{good}&mac={mac}"),
        format!("{good}&x={}", "y".repeat(5000)),
        good.replace("exp=", "exp=9"),
        format!("{good}%ZZ"),
    ] {
        t.refused(
            false,
            &bad,
            if bad.contains("exp=9") {
                "bad signature"
            } else {
                "malformed grant"
            },
        );
    }
    t.finish();
}
