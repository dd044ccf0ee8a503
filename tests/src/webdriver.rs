//! A minimal blocking WebDriver client for the browser tests: chromedriver (Debian's
//! `chromium-driver`) in a lab namespace, driving headless Chromium. Written out here
//! rather than with a WebDriver crate: the tests need a dozen commands over blocking HTTP
//! from inside a namespace thread, and the async clients (fantoccini, thirtyfour) would
//! need a runtime per namespace thread.

use std::{
    io::Write,
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::http;

/// chromedriver's port (inside the namespace it runs in).
pub const DRIVER_PORT: u16 = 9515;
/// The key WebDriver uses for element references.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver running in a client namespace, in a process group of its own so that the
/// browser it starts goes down with it. Killed on drop.
pub struct Driver {
    child: Child,
}

impl Driver {
    pub fn start(ns: &crate::Ns, log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log)?;
        let child = ns
            .command("chromedriver")
            .arg(format!("--port={DRIVER_PORT}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting chromedriver (is chromium-driver installed? `cargo xtask setup`)")?;
        Ok(Driver { child })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `ip netns exec` execs chromedriver, so the child's pid is its process group's id.
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// HTTP responses as (URL, status), and readable lines of requests, answers, failures.
pub type NetworkLog = (Vec<(String, u64)>, Vec<String>);

/// A minimal blocking WebDriver client; must be used from a thread inside the namespace
/// chromedriver runs in.
pub struct WebDriver {
    addr: SocketAddr,
    session: String,
}

pub fn wd_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(90)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{DRIVER_PORT}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open whatever the request says: read exactly the
    // answer it announces.
    let (r, _) = http::read_response(&mut s, &mut Vec::new())
        .with_context(|| format!("{method} {path}: no answer from chromedriver"))?;
    let v: Value = serde_json::from_str(&r.body)
        .with_context(|| format!("{method} {path}: not JSON ({})", r.status))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if r.status >= 400 || value.get("error").is_some() {
        bail!("{method} {path}: {} {value}", r.status);
    }
    Ok(value)
}

impl WebDriver {
    pub fn connect(user_data_dir: &Path) -> anyhow::Result<Self> {
        Self::connect_with(user_data_dir, &[])
    }

    /// [`WebDriver::connect`] with more Chromium arguments (e.g. `--accept-lang=de`).
    pub fn connect_with(user_data_dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], DRIVER_PORT));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match wd_request(addr, "GET", "/status", None) {
                Ok(v) if v["ready"] == json!(true) => break,
                r if Instant::now() > deadline => bail!("chromedriver not ready: {r:?}"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--window-size=1024,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", user_data_dir.display()));
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:loggingPrefs": {"performance": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
            },
        }}});
        let v = wd_request(addr, "POST", "/session", Some(&caps))?;
        let session = v["sessionId"]
            .as_str()
            .context("no session id")?
            .to_string();
        Ok(WebDriver { addr, session })
    }

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        wd_request(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self.cmd("GET", "/url", None)?.as_str().unwrap_or("").into())
    }

    pub fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .cmd("GET", "/source", None)?
            .as_str()
            .unwrap_or("")
            .into())
    }

    pub fn title(&self) -> anyhow::Result<String> {
        Ok(self
            .cmd("GET", "/title", None)?
            .as_str()
            .unwrap_or("")
            .into())
    }

    /// Waits until the current URL satisfies `ok` and the document has loaded.
    pub fn wait_for_url(&self, what: &str, ok: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.url()?;
            let ready = self.cmd(
                "POST",
                "/execute/sync",
                Some(json!({"script": "return document.readyState", "args": []})),
            )?;
            if ok(&url) && ready == json!("complete") {
                return Ok(url);
            }
            if Instant::now() > deadline {
                bail!("waited 30 s for {what}; the browser is at {url} ({ready})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn screenshot(&self, to: &Path) -> anyhow::Result<()> {
        let b64 = self.cmd("GET", "/screenshot", None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().context("screenshot is not a string")?)?;
        anyhow::ensure!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(to, png).with_context(|| format!("writing {}", to.display()))
    }

    /// The browser's network log since the last call, from Chrome's performance log
    /// (DevTools Network events): every HTTP response as (URL, status), redirect answers
    /// included, and a readable line per request, answer and failure.
    pub fn network_log(&self) -> anyhow::Result<NetworkLog> {
        let log = self.cmd("POST", "/se/log", Some(json!({"type": "performance"})))?;
        let (mut responses, mut lines) = (Vec::new(), Vec::new());
        let mut urls = std::collections::HashMap::new();
        for entry in log.as_array().into_iter().flatten() {
            let Some(msg) = entry["message"].as_str() else {
                continue;
            };
            let Ok(msg) = serde_json::from_str::<Value>(msg) else {
                continue;
            };
            let (m, p) = (&msg["message"]["method"], &msg["message"]["params"]);
            let id = p["requestId"].as_str().unwrap_or("").to_string();
            let mut response = |r: &Value| {
                if let (Some(url), Some(status)) = (r["url"].as_str(), r["status"].as_u64())
                    && url.starts_with("http")
                {
                    lines.push(format!("  <- {status} {url}"));
                    responses.push((url.to_string(), status));
                }
            };
            if m == "Network.requestWillBeSent" {
                // Redirect answers (the portal's 303) only show up here.
                response(&p["redirectResponse"]);
                let url = p["request"]["url"].as_str().unwrap_or("");
                if url.starts_with("http") {
                    lines.push(format!("  -> {} {url}", p["request"]["method"]));
                }
                urls.insert(id, url.to_string());
            } else if m == "Network.responseReceived" {
                response(&p["response"]);
            } else if m == "Network.loadingFailed" {
                lines.push(format!(
                    "  !! {} {} {} {}",
                    urls.get(&id).map(String::as_str).unwrap_or("?"),
                    p["errorText"],
                    p["blockedReason"],
                    p["corsErrorStatus"]
                ));
            }
        }
        Ok((responses, lines))
    }

    /// The reference of the first element matching a CSS selector.
    pub fn find(&self, css: &str) -> anyhow::Result<String> {
        let e = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(e[ELEMENT]
            .as_str()
            .with_context(|| format!("no element reference for {css}"))?
            .to_string())
    }

    /// The rendered text of the first element matching `css`.
    pub fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.find(css)?;
        let t = self.cmd("GET", &format!("/element/{id}/text"), None)?;
        Ok(t.as_str().unwrap_or_default().to_string())
    }

    /// An attribute (or property) of the first element matching `css`.
    pub fn attribute(&self, css: &str, name: &str) -> anyhow::Result<Value> {
        let id = self.find(css)?;
        self.cmd("GET", &format!("/element/{id}/property/{name}"), None)
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))?;
        Ok(())
    }

    pub fn quit(&self) {
        let _ = wd_request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// Runs `visit` in a headless Chromium (with `args`) driven from inside `ns`: chromedriver
/// started there, a fresh profile under `dir`, a screenshot `failure.png` in `shots` and
/// the browser's URL, network log and page source (and chromedriver's log) in the error
/// when `visit` fails.
pub fn in_browser<R: Send + 'static>(
    ns: &crate::Ns,
    dir: &Path,
    args: &[&str],
    shots: &Path,
    visit: impl FnOnce(&WebDriver) -> anyhow::Result<R> + Send + 'static,
) -> anyhow::Result<R> {
    let tag = shots
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let driver_log = dir.join(format!("chromedriver-{tag}.log"));
    let profile = dir.join(format!("chromium-{tag}"));
    std::fs::create_dir_all(&profile)?;
    std::fs::create_dir_all(shots)?;
    let _ = std::fs::remove_file(shots.join("failure.png"));
    let driver = Driver::start(ns, &driver_log)?;
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let shots = shots.to_path_buf();
    let result = ns.run(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let wd = WebDriver::connect_with(&profile, &args)?;
        let r = visit(&wd).map_err(|e| failure(&wd, &shots, e));
        wd.quit();
        r
    });
    drop(driver);
    result.and_then(|r| r).map_err(|e| {
        e.context(format!(
            "chromedriver log:\n{}",
            std::fs::read_to_string(&driver_log).unwrap_or_default()
        ))
    })
}

/// A failed browser flow's error with what the user was looking at: a screenshot
/// (`failure.png` in `shots`), the URL, the network log and the page source.
pub fn failure(wd: &WebDriver, shots: &Path, e: anyhow::Error) -> anyhow::Error {
    let _ = wd.screenshot(&shots.join("failure.png"));
    let url = wd.url().unwrap_or_default();
    let (_, log) = wd.network_log().unwrap_or_default();
    let source = wd.source().unwrap_or_default();
    e.context(format!(
        "browser at {url}\nnetwork log:\n{}\npage source:\n{source}",
        log.join("\n")
    ))
}
