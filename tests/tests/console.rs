//! The admin web console, used by a real browser: headless Chromium on a management host
//! (the lab's upstream namespace) signs in, revokes a session (the device is captive
//! again), creates and prints a voucher batch, and looks at every page; screenshots in
//! target/test-artifacts/console/. Then what a browser would not do: changes without the
//! anti-forgery token, a guessed password again and again, and LAN devices (captive and
//! signed in) trying to reach the console.

use std::{
    io::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use netauth_lab::{
    Lab, http, netauth_bin,
    webdriver::{Driver, ELEMENT, WebDriver},
    workspace_root,
};
use serde_json::json;

/// The gateway's address on the upstream (management) side.
const GW_UP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CONSOLE_PORT: u16 = 9400;
const PASSWORD: &str = "front desk 2026";

fn console() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GW_UP), CONSOLE_PORT)
}

/// `netauth admin-user add NAME` for the lab's daemon, the password on stdin.
fn add_admin(state_dir: &Path, name: &str) {
    let mut child = Command::new(netauth_bin())
        .args(["admin-user", "add", name, "--state-dir"])
        .arg(state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn start(lab: &mut Lab) {
    std::fs::create_dir_all(lab.state_dir()).unwrap();
    add_admin(&lab.state_dir(), "desk");
    let addr = console().to_string();
    lab.start_netauth(&["--admin-web", &addr]).unwrap();
}

/// One raw HTTP/1.1 request from the management host.
fn raw(lab: &Lab, req: String) -> http::Response {
    lab.up
        .run(move || http::raw(console(), req.as_bytes(), Duration::from_secs(5)))
        .unwrap()
        .expect("an answer from the console")
}

/// The `csrf` value of the first form in `page`.
fn csrf_of(page: &str) -> String {
    http::form_field(page, "csrf").expect("a token in the form")
}

/// A request to the console with the login cookie (if any) and a form body (if any).
fn request(
    lab: &Lab,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> http::Response {
    let cookie = cookie
        .map(|c| format!("Cookie: netauth_console={c}\r\n"))
        .unwrap_or_default();
    let body = form
        .map(|f| {
            format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                f.len()
            )
        })
        .unwrap_or_default();
    raw(
        lab,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{cookie}{body}Connection: close\r\n\r\n{}",
            console(),
            form.unwrap_or("")
        ),
    )
}

fn post(lab: &Lab, path: &str, cookie: Option<&str>, form: &str) -> http::Response {
    request(lab, "POST", path, cookie, Some(form))
}

fn get(lab: &Lab, path: &str, cookie: Option<&str>) -> http::Response {
    request(lab, "GET", path, cookie, None)
}

/// Signs in over raw HTTP; the session cookie's value.
fn sign_in(lab: &Lab, password: &str) -> Result<String, http::Response> {
    let page = get(lab, "/login", None);
    assert_eq!(page.status, 200, "{page:?}");
    let token = csrf_of(&page.body);
    let r = post(
        lab,
        "/login",
        None,
        &format!(
            "user=desk&password={}&csrf={token}",
            password.replace(' ', "+")
        ),
    );
    if r.status != 303 {
        return Err(r);
    }
    let cookie = r.header("set-cookie").expect("a cookie").to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    Ok(cookie
        .trim_start_matches("netauth_console=")
        .split(';')
        .next()
        .unwrap()
        .to_string())
}

fn find(wd: &WebDriver, css: &str) -> anyhow::Result<String> {
    let e = wd.cmd(
        "POST",
        "/element",
        Some(json!({"using": "css selector", "value": css})),
    )?;
    Ok(e[ELEMENT].as_str().context("no element")?.to_string())
}

fn type_into(wd: &WebDriver, css: &str, text: &str) -> anyhow::Result<()> {
    let id = find(wd, css)?;
    wd.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})))?;
    wd.cmd(
        "POST",
        &format!("/element/{id}/value"),
        Some(json!({ "text": text })),
    )?;
    Ok(())
}

fn click(wd: &WebDriver, css: &str) -> anyhow::Result<()> {
    let id = find(wd, css)?;
    wd.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))?;
    Ok(())
}

/// What the browser found on each page.
#[derive(Debug, Default)]
struct Seen {
    wrong_password: String,
    sessions: String,
    after_revoke: String,
    sheet: String,
    vouchers: String,
    walled: String,
    status: String,
}

fn browse_the_console(shots: &Path, profile: &Path, mac: &str) -> anyhow::Result<Seen> {
    let wd = WebDriver::connect(profile)?;
    let base = format!("http://{}", console());
    let result = (|| -> anyhow::Result<Seen> {
        let mut seen = Seen::default();
        wd.cmd("POST", "/url", Some(json!({ "url": format!("{base}/") })))?;
        wd.wait_for_url("the login page", |u| u.ends_with("/login"))?;
        wd.screenshot(&shots.join("1-login.png"))?;

        type_into(&wd, "input[name=user]", "desk")?;
        type_into(&wd, "input[name=password]", "not the password")?;
        click(&wd, "form[action=\"/login\"] button")?;
        wd.wait_for_url("the login answer", |u| u.ends_with("/login"))?;
        seen.wrong_password = wd.source()?;
        wd.screenshot(&shots.join("2-wrong-password.png"))?;

        type_into(&wd, "input[name=user]", "desk")?;
        type_into(&wd, "input[name=password]", PASSWORD)?;
        click(&wd, "form[action=\"/login\"] button")?;
        wd.wait_for_url("the sessions page", |u| u.ends_with("/sessions"))?;
        seen.sessions = wd.source()?;
        wd.screenshot(&shots.join("3-sessions.png"))?;

        click(&wd, &format!("button[name=revoke][value=\"{mac}\"]"))?;
        wd.wait_for_url("the sessions page after revoking", |u| u.contains("note="))?;
        seen.after_revoke = wd.source()?;
        wd.screenshot(&shots.join("4-revoked.png"))?;

        wd.cmd(
            "POST",
            "/url",
            Some(json!({ "url": format!("{base}/vouchers") })),
        )?;
        wd.wait_for_url("the vouchers page", |u| u.ends_with("/vouchers"))?;
        type_into(&wd, "input[name=count]", "3")?;
        type_into(&wd, "input[name=duration]", "2h")?;
        type_into(&wd, "input[name=quota]", "500M")?;
        click(&wd, "form[action=\"/vouchers\"] button")?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !wd.source()?.contains("Wi-Fi vouchers") {
            anyhow::ensure!(std::time::Instant::now() < deadline, "no voucher sheet");
            std::thread::sleep(Duration::from_millis(100));
        }
        seen.sheet = wd.source()?;
        wd.screenshot(&shots.join("5-voucher-sheet.png"))?;

        for (path, file) in [
            ("/vouchers", "6-vouchers.png"),
            ("/walled-garden", "7-walled-garden.png"),
            ("/status", "8-status.png"),
        ] {
            wd.cmd(
                "POST",
                "/url",
                Some(json!({ "url": format!("{base}{path}") })),
            )?;
            wd.wait_for_url(path, |u| u.ends_with(path))?;
            let src = wd.source()?;
            wd.screenshot(&shots.join(file))?;
            match path {
                "/vouchers" => seen.vouchers = src,
                "/walled-garden" => seen.walled = src,
                _ => seen.status = src,
            }
        }
        Ok(seen)
    })();
    let result = result.map_err(|e| {
        let _ = wd.screenshot(&shots.join("failure.png"));
        let url = wd.url().unwrap_or_default();
        let src = wd.source().unwrap_or_default();
        e.context(format!("browser at {url}\npage source:\n{src}"))
    });
    wd.quit();
    result
}

#[test]
fn a_browser_signs_in_revokes_a_session_and_prints_vouchers() {
    let mut lab = Lab::new(2).unwrap();
    start(&mut lab);
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    a.sign_in();
    b.sign_in();
    assert_eq!(a.status_of(), Some(200));

    let shots = workspace_root().join("target/test-artifacts/console");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let profile = lab.dir.join("chromium-profile");
    let _driver = Driver::start(&lab.up, &shots.join("chromedriver.log")).unwrap();
    let mac = a.mac.clone();
    let seen = {
        let (shots, profile) = (shots.clone(), profile.clone());
        lab.up
            .run(move || browse_the_console(&shots, &profile, &mac))
            .unwrap()
            .unwrap()
    };

    assert!(
        seen.wrong_password.contains("Wrong name or password"),
        "{}",
        seen.wrong_password
    );
    assert!(seen.sessions.contains(&a.mac) && seen.sessions.contains(&b.mac));
    assert!(seen.sessions.contains("Online: 2"), "{}", seen.sessions);
    // Revoked: gone from the list, captive again in the lab; the other device is not.
    assert!(
        seen.after_revoke.contains("revoked"),
        "{}",
        seen.after_revoke
    );
    assert!(
        !seen
            .after_revoke
            .contains(&format!("<code>{}</code>", a.mac))
    );
    assert_eq!(
        a.status_of(),
        Some(511),
        "the revoked device is captive again"
    );
    assert_eq!(b.status_of(), Some(200));
    // The printed sheet holds the batch, which the vouchers page then lists.
    let vouchers = lab.daemon().cli(&["voucher", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&vouchers.stdout).unwrap();
    let codes: Vec<&str> = list["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 3, "{list}");
    for c in &codes {
        assert!(seen.sheet.contains(c), "{c} not on the sheet");
        assert!(seen.vouchers.contains(c), "{c} not listed");
    }
    assert!(seen.sheet.contains("Valid for 2h"), "{}", seen.sheet);
    assert!(seen.walled.contains("Walled garden"));
    assert!(
        seen.status.contains("<svg") && seen.status.contains("veth"),
        "{}",
        seen.status
    );
}

#[test]
fn changes_need_the_token_and_guessing_is_limited() {
    let mut lab = Lab::new(1).unwrap();
    start(&mut lab);
    let a = lab.clients[0].clone();
    a.sign_in();
    let cookie = sign_in(&lab, PASSWORD).expect("the right password signs in");

    // Without a login: to the login page, nothing changes.
    let r = post(&lab, "/sessions/revoke", None, &format!("mac={}", a.mac));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/login"));
    // Signed in, but without the form's token, with a wrong one, or from another site.
    for form in [
        format!("mac={}", a.mac),
        format!("mac={}&csrf=0-00", a.mac),
        format!("mac={}&csrf={}", a.mac, "f".repeat(40)),
    ] {
        let r = post(&lab, "/sessions/revoke", Some(&cookie), &form);
        assert_eq!(r.status, 403, "{form}: {r:?}");
    }
    let page = get(&lab, "/sessions", Some(&cookie));
    let token = csrf_of(&page.body);
    // Search: by MAC (any part), nothing for what matches no session.
    let hit = get(&lab, &format!("/sessions?q={}", &a.mac[9..]), Some(&cookie));
    assert!(hit.body.contains(&a.mac) && hit.body.contains("Online: 1"));
    let miss = get(&lab, "/sessions?q=zz", Some(&cookie));
    assert!(!miss.body.contains(&a.mac), "{}", miss.body);
    let req = format!(
        "POST /sessions/revoke HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nCookie: netauth_console={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\nmac={}&csrf={token}",
        console(),
        4 + a.mac.len() + 6 + token.len(),
        a.mac
    );
    assert_eq!(raw(&lab, req).status, 403);
    assert_eq!(a.status_of(), Some(200), "nothing was revoked");
    assert!(lab.daemon().session(&a.mac).is_some());
    // With it: done.
    let r = post(
        &lab,
        "/sessions/revoke",
        Some(&cookie),
        &format!("mac={}&csrf={token}", a.mac),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(a.status_of(), Some(511));

    // Five wrong passwords, then even the right one is refused for a while.
    for i in 0..5 {
        let r = sign_in(&lab, "guess guess").expect_err("a wrong password");
        assert_eq!(r.status, 401, "attempt {i}: {r:?}");
    }
    let r = sign_in(&lab, PASSWORD).expect_err("rate limited");
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some());
    // The session already open still works.
    assert_eq!(get(&lab, "/status", Some(&cookie)).status, 200);
}

#[test]
fn lan_devices_cannot_reach_the_console() {
    let mut lab = Lab::new(2).unwrap();
    start(&mut lab);
    let (captive, online) = (lab.clients[0].clone(), lab.clients[1].clone());
    online.sign_in();
    assert_eq!(online.status_of(), Some(200));
    for (who, c) in [("captive", &captive), ("signed-in", &online)] {
        let r = c.get(console(), None, "/login");
        assert!(r.is_err(), "a {who} LAN device reached the console: {r:?}");
    }
    // The management side does.
    assert_eq!(get(&lab, "/login", None).status, 200);
}

#[test]
fn with_a_certificate_the_console_is_https_only_and_its_cookie_secure() {
    const NAME: &str = "console.lab.example";
    let mut lab = Lab::new(1).unwrap();
    let (cert, key) = netauth_lab::make_cert(&lab.dir, NAME, "198.51.100.1");
    std::fs::create_dir_all(lab.state_dir()).unwrap();
    add_admin(&lab.state_dir(), "desk");
    let addr = console().to_string();
    lab.start_netauth(&[
        "--admin-web",
        &addr,
        "--api-tls-cert",
        cert.to_str().unwrap(),
        "--api-tls-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
    let pem = std::fs::read(&cert).unwrap();

    // Plain HTTP gets no page.
    let plain = lab
        .up
        .run(move || {
            http::raw(
                console(),
                b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(3),
            )
        })
        .unwrap();
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "{plain:?}"
    );
    // HTTPS: the login form, and a cookie marked Secure.
    let tls = |req: String| {
        let pem = pem.clone();
        lab.up
            .run(move || http::https(NAME, console(), &req, &pem))
            .unwrap()
            .expect("an HTTPS answer")
    };
    let page = tls(format!(
        "GET /login HTTP/1.1\r\nHost: {NAME}:{CONSOLE_PORT}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(page.status, 200, "{page:?}");
    let form = format!(
        "user=desk&password={}&csrf={}",
        PASSWORD.replace(' ', "+"),
        csrf_of(&page.body)
    );
    let r = tls(format!(
        "POST /login HTTP/1.1\r\nHost: {NAME}:{CONSOLE_PORT}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    ));
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The LAN device that never signed in is still captive.
    assert_eq!(lab.clients[0].status_of(), Some(511));
}
