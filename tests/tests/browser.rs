//! A real browser on a captive LAN: headless Chromium, driven over WebDriver by
//! chromedriver, both running inside a lab client's namespace, opens an ordinary web page,
//! is taken to the login page by the portal's 511 page, clicks "Accept and connect" and
//! ends up on the page it asked for, served by the internet.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`cargo xtask setup` installs them).
//! Screenshots of each step are kept under target/test-artifacts/browser/.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context as _;
use netauth_lab::{
    Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, http,
    webdriver::{self, Driver, ELEMENT, WebDriver},
    workspace_root,
};
use serde_json::{Value, json};

const VENUE: &str = "Harbour Hotel Guest Wi-Fi";

/// What the browser saw, step by step.
#[derive(Debug, Default)]
struct Seen {
    after_navigation: String,
    login_url: String,
    login_title: String,
    login_source: String,
    final_url: String,
    final_source: String,
    responses: Vec<(String, u64)>,
    network: Vec<String>,
}

fn browse_through_the_portal(
    user_data_dir: PathBuf,
    shots: PathBuf,
    start: String,
) -> anyhow::Result<Seen> {
    let wd = WebDriver::connect(&user_data_dir)?;
    let result = (|| -> anyhow::Result<Seen> {
        let mut seen = Seen::default();
        // The 511 page's <meta http-equiv="refresh" content="0; ..."> fires as soon as the
        // page has loaded, so by the time the navigation command returns the browser is
        // usually already on its way to (or on) the login page: the 511 page itself cannot
        // be screenshotted reliably. This first shot is whatever the browser shows right
        // after navigating; that the browser did get a 511 is checked from its network log.
        wd.cmd("POST", "/url", Some(json!({"url": start})))?;
        seen.after_navigation = wd.url()?;
        wd.screenshot(&shots.join("1-after-navigation.png"))?;

        let login_prefix = format!("http://192.0.2.1:{PORTAL_PORT}/login");
        seen.login_url = wd.wait_for_url("the login page", |u| u.starts_with(&login_prefix))?;
        seen.login_title = wd.title()?;
        seen.login_source = wd.source()?;
        wd.screenshot(&shots.join("2-login-page.png"))?;

        let button = wd.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": "button[name=\"accept\"][value=\"1\"]"})),
        )?;
        let id = button[ELEMENT].as_str().context("no element reference")?;
        let text = wd.cmd("GET", &format!("/element/{id}/text"), None)?;
        anyhow::ensure!(
            text == json!("Accept and connect"),
            "the button says {text}"
        );
        wd.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))?;

        seen.final_url = wd.wait_for_url("the original page", |u| u == start)?;
        seen.final_source = wd.source()?;
        wd.screenshot(&shots.join("3-online.png"))?;
        (seen.responses, seen.network) = wd.network_log()?;
        Ok(seen)
    })();
    // What the user is looking at when the flow went wrong.
    let result = result.map_err(|e| webdriver::failure(&wd, &shots, e));
    wd.quit();
    result
}

#[test]
fn chromium_signs_in_through_the_portal_and_reaches_the_page_it_asked_for() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&["--venue-name", VENUE]).unwrap();
    let c = lab.clients[0].clone();

    let shots = workspace_root().join("target/test-artifacts/browser");
    std::fs::create_dir_all(&shots).unwrap();
    for old in [
        "1-after-navigation.png",
        "2-login-page.png",
        "3-online.png",
        "failure.png",
    ] {
        let _ = std::fs::remove_file(shots.join(old));
    }
    let driver_log = lab.dir.join("chromedriver.log");
    let user_data_dir = lab.dir.join("chromium-profile");
    std::fs::create_dir_all(&user_data_dir).unwrap();

    let driver = Driver::start(&c.ns, &driver_log).unwrap();
    let start = format!("http://{WEB_V4}/some/page");
    let seen = {
        let (shots, start) = (shots.clone(), start.clone());
        c.ns.run(move || browse_through_the_portal(user_data_dir, shots, start))
            .unwrap()
    };
    drop(driver);
    let seen = seen.unwrap_or_else(|e| {
        panic!(
            "browser session failed: {e:#}\nchromedriver log:\n{}",
            std::fs::read_to_string(&driver_log).unwrap_or_default()
        )
    });
    eprintln!(
        "after navigation: {}\nlogin page: {}\nfinal: {}\nnetwork log:\n{}",
        seen.after_navigation,
        seen.login_url,
        seen.final_url,
        seen.network.join("\n")
    );

    // The browser was answered 511 for the page it asked for, and the refresh took it to the
    // login page, which remembers where the user was going.
    assert!(
        seen.responses.contains(&(start.clone(), 511)),
        "no 511 for {start} in {:?}",
        seen.responses
    );
    assert!(
        seen.login_url.starts_with(&format!(
            "http://192.0.2.1:{PORTAL_PORT}/login?redirect=http%3A%2F%2F203.0.113.80%2Fsome%2Fpage"
        )),
        "{}",
        seen.login_url
    );
    assert_eq!(seen.login_title, format!("Sign in to {VENUE}"));
    assert!(
        seen.login_source.contains(&format!("Welcome to {VENUE}")),
        "{}",
        seen.login_source
    );
    assert!(!seen.login_source.contains(UPSTREAM_MARKER));

    // After "Accept and connect": the portal's 303 back to the original URL, and the page
    // itself, from the upstream web server.
    assert!(
        seen.responses
            .iter()
            .any(|(u, s)| u == &format!("http://192.0.2.1:{PORTAL_PORT}/login") && *s == 303),
        "no 303 from the login form in {:?}",
        seen.responses
    );
    let after_login = seen
        .responses
        .iter()
        .position(|(_, s)| *s == 303)
        .map(|i| &seen.responses[i + 1..])
        .unwrap_or_default();
    assert!(
        !after_login.contains(&(start.clone(), 511)),
        "signed in, yet the browser got 511 again for {start}: {after_login:?}"
    );
    assert_eq!(seen.final_url, start);
    assert!(
        seen.final_source.contains(UPSTREAM_MARKER),
        "{}",
        seen.final_source
    );
    assert!(seen.final_source.contains("/some/page"));
    assert!(seen.responses.contains(&(start.clone(), 200)));

    // The screenshots are there and are images.
    for shot in ["1-after-navigation.png", "2-login-page.png", "3-online.png"] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{shot}");
    }

    // And the portal really signed this client in, by clicking through.
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{json}");
    assert_eq!(sessions[0]["mac"], c.mac);
    assert_eq!(sessions[0]["via"], "click-through");
}

/// What a browser's connection pool does, deterministically: it keeps the connection that
/// carried the 511 open (HTTP/1.1 keep-alive) and pre-connects spare sockets to origins it
/// expects to load. After login, a request on such a connection must not be answered as if
/// the client were still captive: the portal may close the connection (a browser retries a
/// request on a reused or pre-connected socket that closes without answering) or answer
/// with anything but the portal's 511 / redirect to the login page.
#[test]
fn connections_opened_while_captive_do_not_send_a_signed_in_browser_back_to_the_portal() {
    use std::io::ErrorKind;

    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let outcomes = c
        .ns
        .run(|| -> anyhow::Result<Vec<(&'static str, Result<u16, String>)>> {
            let web = SocketAddr::from((WEB_V4, 80));
            let portal = SocketAddr::from(([192, 0, 2, 1], PORTAL_PORT));
            let request = b"GET /some/page HTTP/1.1\r\nHost: 203.0.113.80\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n";
            let open = || -> anyhow::Result<TcpStream> {
                let s = TcpStream::connect_timeout(&web, Duration::from_secs(2))?;
                s.set_read_timeout(Some(Duration::from_secs(3)))?;
                Ok(s)
            };
            // One answer on a kept-alive connection: Ok(status), or Err(how it ended).
            let exchange = |s: &mut TcpStream| -> Result<u16, String> {
                s.write_all(request).map_err(|e| format!("write: {e}"))?;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match s.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                            return Err("reset".into());
                        }
                        Err(e) => return Err(format!("read: {e}")),
                    }
                    if let Some(r) = http::parse(&buf) {
                        let len = r
                            .header("content-length")
                            .and_then(|l| l.parse::<usize>().ok())
                            .unwrap_or(0);
                        if r.body.len() >= len {
                            return Ok(r.status);
                        }
                    }
                }
                match http::parse(&buf) {
                    Some(r) => Ok(r.status),
                    None if buf.is_empty() => Err("closed".into()),
                    None => Err("truncated".into()),
                }
            };

            // While captive: one connection gets its 511 and stays open, one is pre-connected.
            let mut kept_alive = open()?;
            let first = exchange(&mut kept_alive);
            anyhow::ensure!(first == Ok(511), "captive answer: {first:?}");
            let mut preconnected = open()?;

            let login = http::submit(
                portal,
                "/login",
                "/login",
                "accept=1&redirect=http%3A%2F%2F203.0.113.80%2Fsome%2Fpage",
            )?;
            anyhow::ensure!(login.status == 303, "login: {login:?}");
            let fresh = http::get(web, None, "/some/page")?;
            anyhow::ensure!(
                fresh.status == 200 && fresh.body.contains(UPSTREAM_MARKER),
                "fresh connection after login: {fresh:?}"
            );
            Ok(vec![
                ("kept-alive connection", exchange(&mut kept_alive)),
                ("pre-connected socket", exchange(&mut preconnected)),
            ])
        })
        .unwrap()
        .unwrap();
    for (what, outcome) in outcomes {
        // 511 and the redirect to the login page both send the user back to sign in again.
        assert!(
            !matches!(outcome, Ok(511) | Ok(302)),
            "signed in, but a {what} opened while captive was answered {outcome:?}: \
             the browser goes back to the portal instead of the page"
        );
    }
}
