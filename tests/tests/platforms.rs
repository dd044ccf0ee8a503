//! Portal detection as each operating system really does it: a client in a lab namespace
//! sends that platform's own connectivity probe (its Host, path and User-Agent), applies
//! that platform's own decision rule to the answer (docs: /work/shared/notes/standards.md),
//! follows the login URL it extracted the way that platform's sign-in window would, logs in,
//! and probes again.
//!
//! For "online" to be reachable at all, the probe must reach something that answers like
//! the real probe servers. The lab's upstream web server answers `200 UPSTREAM-PAGE` to
//! everything (which every platform would read as "still captive"), and its wildcard
//! listeners on port 80 make a second listener for a specific address in the upstream
//! namespace impossible (`EADDRINUSE`: the listening wildcard socket conflicts even with
//! `SO_REUSEADDR`; and 203.0.113.0/24 on the upstream's `lo` makes every address in it local
//! there). So the probe servers live in a namespace of their own, hung off the gateway
//! like a second uplink: the gateway routes 203.0.113.204/32 and 2001:db8:3::204/128 to it.
//! A probe client connects to that address with the platform's Host header, which models
//! DNS resolving every probe host name to the probe servers.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use netauth_lab::{Client, GW_LAN_V4, GW_LAN_V6, Lab, PORTAL_PORT, UPSTREAM_MARKER, http, sh};
use socket2::{Domain, Protocol, Socket, Type};

/// Where "DNS" puts every probe host name.
const PROBE_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 204);
const PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x204);

// What the real probe servers answer.
const APPLE_SUCCESS: &str = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>";
const MSFT_CONNECT_TEST: &str = "Microsoft Connect Test";
/// Firefox's `captivedetect.canonicalContent`, which detectportal.firefox.com/canonical.html
/// serves.
const FIREFOX_CANONICAL: &str = "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>";
const FIREFOX_SUCCESS: &str = "success\n";
const NM_ONLINE: &str = "NetworkManager is online\n";

/// AOSP NetworkMonitor's default probe User-Agent (config_captive_portal_user_agent).
const UA_ANDROID: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.32 Safari/537.36";
const UA_CHROMEOS: &str = "Mozilla/5.0 (X11; CrOS x86_64 16181.61.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.198 Safari/537.36";
const UA_APPLE: &str = "CaptiveNetworkSupport-481.0.1 wispr";
const UA_WINDOWS: &str = "Microsoft NCSI";
const UA_FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
/// What the sign-in windows (WebViews, sheets, browser tabs) send when they load pages.
const UA_BROWSER: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

// ---------------------------------------------------------------------------------------
// The probe servers.

/// A namespace attached to the lab's gateway that answers probe requests like the real
/// probe servers do, per Host header. Removed on drop.
struct ProbeServers {
    ns: String,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ProbeServers {
    fn start(lab: &Lab) -> anyhow::Result<Self> {
        let ns = format!("{}-pr", lab.id);
        let _ = Command::new("ip")
            .args(["netns", "del", &ns])
            .stderr(Stdio::null())
            .status();
        sh("ip", &["netns", "add", &ns])?;
        let mut me = ProbeServers {
            ns: ns.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let ip = |args: &[&str]| {
            let mut all = vec!["-n", &ns];
            all.extend_from_slice(args);
            sh("ip", &all)
        };
        let gw = lab.gw.name.as_str();
        ip(&["link", "set", "lo", "up"])?;
        sh(
            "ip",
            &[
                "link", "add", "prb0", "netns", gw, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ],
        )?;
        // Gateway side: no address of its own needed beyond a fixed link-local one.
        lab.gw
            .ip(&["addr", "add", "fe80::1/64", "dev", "prb0", "nodad"])?;
        lab.gw.ip(&["link", "set", "prb0", "up"])?;
        lab.gw
            .ip(&["route", "add", &format!("{PROBE_V4}/32"), "dev", "prb0"])?;
        lab.gw.ip(&[
            "-6",
            "route",
            "add",
            &format!("{PROBE_V6}/128"),
            "via",
            "fe80::2",
            "dev",
            "prb0",
        ])?;
        // Probe side.
        ip(&["addr", "add", &format!("{PROBE_V4}/32"), "dev", "eth0"])?;
        ip(&["addr", "add", "fe80::2/64", "dev", "eth0", "nodad"])?;
        ip(&[
            "addr",
            "add",
            &format!("{PROBE_V6}/128"),
            "dev",
            "eth0",
            "nodad",
        ])?;
        ip(&["link", "set", "eth0", "up"])?;
        ip(&["route", "add", "198.51.100.1/32", "dev", "eth0"])?;
        ip(&[
            "route",
            "add",
            "default",
            "via",
            "198.51.100.1",
            "dev",
            "eth0",
        ])?;
        ip(&[
            "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
        ])?;

        let path = format!("/var/run/netns/{ns}");
        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        for addr in [
            SocketAddr::new(IpAddr::V4(PROBE_V4), 80),
            SocketAddr::new(IpAddr::V6(PROBE_V6), 80),
        ] {
            let (stop, tx, file) = (me.stop.clone(), tx.clone(), std::fs::File::open(&path)?);
            me.threads.push(std::thread::spawn(move || {
                let listener = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
                    .and_then(|()| listen(addr));
                match listener {
                    Ok(l) => {
                        let _ = tx.send(Ok(()));
                        serve_probes(l, stop);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            }));
        }
        for _ in 0..2 {
            rx.recv_timeout(Duration::from_secs(5))??;
        }
        Ok(me)
    }
}

impl Drop for ProbeServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(64)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn serve_probes(listener: TcpListener, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                std::thread::spawn(move || answer_probe(s));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Answers one request the way the real server for its Host does.
fn answer_probe(mut s: TcpStream) {
    use std::io::{Read, Write};
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (status, extra, ctype, body): (&str, &str, &str, &str) = match (host.as_str(), path) {
        (
            "connectivitycheck.gstatic.com"
            | "connectivitycheck.android.com"
            | "www.gstatic.com"
            | "clients3.google.com",
            "/generate_204",
        ) => ("204 No Content", "", "", ""),
        ("captive.apple.com", _) => ("200 OK", "", "text/html", APPLE_SUCCESS),
        ("www.msftconnecttest.com", "/connecttest.txt") => {
            ("200 OK", "", "text/plain", MSFT_CONNECT_TEST)
        }
        ("detectportal.firefox.com", "/canonical.html") => {
            ("200 OK", "", "text/html", FIREFOX_CANONICAL)
        }
        ("detectportal.firefox.com", "/success.txt") => {
            ("200 OK", "", "text/plain", FIREFOX_SUCCESS)
        }
        ("nmcheck.gnome.org", "/check_network_status.txt") => (
            "200 OK",
            "X-NetworkManager-Status: online\r\n",
            "text/plain",
            NM_ONLINE,
        ),
        _ => ("404 Not Found", "", "text/plain", "not a probe URL\n"),
    };
    let ctype = if ctype.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ctype}\r\n")
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\n{ctype}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// ---------------------------------------------------------------------------------------
// HTTP as the platforms do it.

/// An absolute `http://` URL split into what a client needs to fetch it.
#[derive(Debug, Clone, PartialEq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(s: &str) -> Option<Url> {
        let rest = s.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => 80,
                None => return None,
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().ok()?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        Some(Url {
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The Host header.
    fn authority(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// "DNS": address literals are themselves; every name resolves to the probe servers,
    /// in the address family the client uses.
    fn resolve(&self, v6: bool) -> SocketAddr {
        let literal = self.host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.port),
            Err(_) if v6 => SocketAddr::new(IpAddr::V6(PROBE_V6), self.port),
            Err(_) => SocketAddr::new(IpAddr::V4(PROBE_V4), self.port),
        }
    }
}

/// One GET of `url` from inside the client's namespace, with `user_agent` (None: no
/// User-Agent header at all, as libcurl sends by default).
fn fetch(c: &Client, v6: bool, url: &str, user_agent: Option<&str>) -> http::Response {
    let u = Url::parse(url).unwrap_or_else(|| panic!("not an http URL: {url:?}"));
    let addr = u.resolve(v6);
    let ua = user_agent
        .map(|ua| format!("User-Agent: {ua}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{ua}Accept: */*\r\nConnection: close\r\n\r\n",
        u.path,
        u.authority()
    );
    c.ns.run(move || http::raw(addr, req.as_bytes(), Duration::from_secs(5)))
        .expect("thread in the client namespace")
        .unwrap_or_else(|e| panic!("GET {url} (to {addr}) failed: {e}"))
}

/// Loads `url` the way a sign-in window does: following redirects (Location may be
/// relative). Returns the final URL and answer.
fn browse(c: &Client, v6: bool, url: &str) -> (String, http::Response) {
    let mut url = url.to_string();
    for _ in 0..8 {
        let r = fetch(c, v6, &url, Some(UA_BROWSER));
        if !(300..400).contains(&r.status) {
            return (url, r);
        }
        let loc = r
            .header("location")
            .unwrap_or_else(|| panic!("{} without Location from {url}", r.status));
        url = if loc.starts_with("http://") {
            loc.to_string()
        } else {
            let u = Url::parse(&url).expect("current URL parses");
            format!("http://{}{loc}", u.authority())
        };
    }
    panic!("too many redirects, last {url}");
}

// ---------------------------------------------------------------------------------------
// The platforms' decision rules, applied to the probe answer.

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Online,
    /// A portal, and the page the platform's sign-in window opens.
    Portal {
        login_url: String,
    },
    /// Neither: the platform shows "no internet" / "connected, no internet" and offers no
    /// sign-in at all.
    NoInternet(String),
}

#[derive(Debug, Clone, Copy)]
enum Platform {
    Android,
    ChromeOs,
    Apple,
    Windows,
    Firefox,
    /// Firefox's second probe (network.connectivity-service), success.txt.
    FirefoxSuccessTxt,
    NetworkManager,
}

impl Platform {
    /// The probe URL and User-Agent this platform sends.
    fn probe(self) -> (&'static str, Option<&'static str>) {
        match self {
            Platform::Android => (
                "http://connectivitycheck.gstatic.com/generate_204",
                Some(UA_ANDROID),
            ),
            Platform::ChromeOs => ("http://www.gstatic.com/generate_204", Some(UA_CHROMEOS)),
            Platform::Apple => (
                "http://captive.apple.com/hotspot-detect.html",
                Some(UA_APPLE),
            ),
            Platform::Windows => (
                "http://www.msftconnecttest.com/connecttest.txt",
                Some(UA_WINDOWS),
            ),
            Platform::Firefox => (
                "http://detectportal.firefox.com/canonical.html",
                Some(UA_FIREFOX),
            ),
            Platform::FirefoxSuccessTxt => (
                "http://detectportal.firefox.com/success.txt?ipv4",
                Some(UA_FIREFOX),
            ),
            // NetworkManager fetches with libcurl and sets no User-Agent.
            Platform::NetworkManager => ("http://nmcheck.gnome.org/check_network_status.txt", None),
        }
    }

    /// This platform's rule, applied to the answer `r` to its probe.
    fn decide(self, r: &http::Response) -> Verdict {
        let (probe_url, _) = self.probe();
        let location = r.header("location").map(str::to_string);
        match self {
            // AOSP NetworkMonitor: 204 is success; a 200 with a body of at most 4 bytes
            // counts as a 204 (broken proxies); any other 200..=399 is a portal, whose login
            // URL is the Location of a redirect (the probe URL itself for a 200). Anything
            // else (4xx, 5xx: a 511 too) is a failed probe: "no internet", no sign-in.
            Platform::Android => {
                if r.status == 204 || (r.status == 200 && r.body.len() <= 4) {
                    Verdict::Online
                } else if (200..=399).contains(&r.status) {
                    let login_url = if (300..=399).contains(&r.status) {
                        match location {
                            Some(l) => l,
                            None => return Verdict::NoInternet("redirect without Location".into()),
                        }
                    } else {
                        probe_url.to_string()
                    };
                    Verdict::Portal { login_url }
                } else {
                    Verdict::NoInternet(format!("probe failed with {}", r.status))
                }
            }
            // shill: online on 204 or a 200 with at most one byte; a portal ONLY on 302/307
            // with a valid Location, or a 200 with a body longer than one byte; anything else
            // is a failure.
            Platform::ChromeOs => match r.status {
                204 => Verdict::Online,
                200 if r.body.len() <= 1 => Verdict::Online,
                200 => Verdict::Portal {
                    login_url: probe_url.to_string(),
                },
                302 | 307 => match location.filter(|l| Url::parse(l).is_some()) {
                    Some(login_url) => Verdict::Portal { login_url },
                    None => Verdict::NoInternet("redirect without a valid Location".into()),
                },
                s => Verdict::NoInternet(format!("probe failed with {s}")),
            },
            // Captive Network Assistant: anything but the Success page opens the sheet,
            // which loads the probe URL.
            Platform::Apple => {
                if r.status == 200 && r.body.trim() == APPLE_SUCCESS {
                    Verdict::Online
                } else {
                    Verdict::Portal {
                        login_url: probe_url.to_string(),
                    }
                }
            }
            // NCSI: anything but the exact body is "action needed"; Windows then opens the
            // default browser at www.msftconnecttest.com/redirect.
            Platform::Windows => {
                if r.status == 200 && r.body == MSFT_CONNECT_TEST {
                    Verdict::Online
                } else {
                    Verdict::Portal {
                        login_url: "http://www.msftconnecttest.com/redirect".into(),
                    }
                }
            }
            // Firefox: anything but 200 and the exact expected body is a portal; its
            // "Open network login page" button opens the canonical URL in a tab.
            Platform::Firefox | Platform::FirefoxSuccessTxt => {
                let want = if matches!(self, Platform::Firefox) {
                    FIREFOX_CANONICAL
                } else {
                    FIREFOX_SUCCESS
                };
                if r.status == 200 && r.body == want {
                    Verdict::Online
                } else {
                    Verdict::Portal {
                        login_url: "http://detectportal.firefox.com/canonical.html".into(),
                    }
                }
            }
            // NetworkManager: the X-NetworkManager-Status: online header, or a body that
            // starts with the expected response, is full connectivity; any other HTTP answer
            // is a portal, and the desktop's portal helper loads the check URL.
            Platform::NetworkManager => {
                let header_online = r
                    .header("x-networkmanager-status")
                    .is_some_and(|v| v.eq_ignore_ascii_case("online"));
                if header_online || r.body.starts_with(NM_ONLINE.trim_end()) {
                    Verdict::Online
                } else {
                    Verdict::Portal {
                        login_url: probe_url.to_string(),
                    }
                }
            }
        }
    }
}

fn probe(c: &Client, v6: bool, p: Platform) -> (http::Response, Verdict) {
    let (url, ua) = p.probe();
    let r = fetch(c, v6, url, ua);
    let v = p.decide(&r);
    (r, v)
}

// ---------------------------------------------------------------------------------------
// The flow.

/// Reverses the portal's attribute escaping of the hidden redirect value.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hidden_redirect(login_page: &str) -> Option<String> {
    let start = login_page.find("name=\"redirect\" value=\"")? + "name=\"redirect\" value=\"".len();
    let len = login_page[start..].find('"')?;
    Some(unescape(&login_page[start..start + len]))
}

/// Submits the login page's form ("Accept and connect") to the portal it came from, and
/// returns the URL the portal sends the browser on to.
fn accept_terms(c: &Client, login_url: &str, login_page: &str) -> String {
    let u = Url::parse(login_url).expect("login URL parses");
    let addr = u.resolve(false);
    let token = http::form_token(login_page).expect("the login form has a token");
    let mut form = format!("token={token}&accept=1");
    if let Some(r) = hidden_redirect(login_page) {
        form.push_str("&redirect=");
        form.push_str(&form_encode(&r));
    }
    let r =
        c.ns.run(move || http::post_form(addr, "/login", &form))
            .expect("thread in the client namespace")
            .expect("POST /login");
    assert_eq!(r.status, 303, "login answer: {r:?}");
    r.header("location")
        .expect("303 with a Location")
        .to_string()
}

/// The whole journey of one platform on one client: captive → portal detected → login
/// page reachable → accept → online, all judged by the platform's own rule.
fn journey(c: &Client, v6: bool, p: Platform) {
    let fam = if v6 { "IPv6" } else { "IPv4" };
    let (probe_url, _) = p.probe();
    let portal_host = if v6 {
        format!("[{GW_LAN_V6}]:{PORTAL_PORT}")
    } else {
        format!("{GW_LAN_V4}:{PORTAL_PORT}")
    };

    // 1. Captive: the platform must conclude "portal", not "no internet".
    let (r, verdict) = probe(c, v6, p);
    let Verdict::Portal { login_url } = verdict else {
        panic!("{p:?} over {fam}: expected a portal, concluded {verdict:?} from {r:?}");
    };
    assert!(
        !r.body.contains(UPSTREAM_MARKER),
        "{p:?}: the captive probe reached the upstream: {r:?}"
    );

    // 2. The sign-in window opens the login URL and lands on the portal's login page.
    let (landed, page) = browse(c, v6, &login_url);
    assert_eq!(page.status, 200, "{p:?} over {fam}: {landed}: {page:?}");
    assert!(
        landed.starts_with(&format!("http://{portal_host}/login")),
        "{p:?} over {fam}: sign-in window ended on {landed}"
    );
    assert!(
        page.body.contains("name=\"accept\" value=\"1\""),
        "{p:?}: no login form at {landed}: {}",
        page.body
    );
    // The portal remembered where the user was going: the last URL it intercepted, i.e.
    // the probe URL when the platform followed the portal's redirect, or the URL the
    // sign-in window opened.
    let portal_answered_probe =
        Url::parse(&login_url).is_some_and(|u| u.authority() == portal_host);
    let original = if portal_answered_probe {
        probe_url.to_string()
    } else {
        login_url.clone()
    };
    assert_eq!(
        hidden_redirect(&page.body).as_deref(),
        Some(original.as_str()),
        "{p:?}: the login page does not carry the original URL"
    );

    // 3. Accept the terms; the portal sends the window back to where it started.
    let next = accept_terms(c, &landed, &page.body);
    assert_eq!(next, original, "{p:?}: 303 target");

    // 4. Online, by the platform's own rule; the probe reached the probe server.
    let (r, verdict) = probe(c, v6, p);
    assert_eq!(
        verdict,
        Verdict::Online,
        "{p:?} over {fam} after login: {r:?} (probe {probe_url})"
    );
    // Where the window goes back to is served by the internet now, not by the portal.
    if next == probe_url {
        let (_, back) = browse(c, v6, &next);
        assert_eq!(p.decide(&back), Verdict::Online, "{back:?}");
    }
}

/// One lab per platform test; for each probe, a fresh client goes through the journey
/// over IPv4 and another over IPv6.
fn platform_test(platforms: &[Platform]) {
    let mut lab = Lab::new(2 * platforms.len()).unwrap();
    let _probes = ProbeServers::start(&lab).unwrap();
    lab.start_netauth(&[]).unwrap();

    // Sanity: the probe servers are really there (from the gateway, which is not captive),
    // and would answer a real probe with "online".
    for &p in platforms {
        let (url, ua) = p.probe();
        let u = Url::parse(url).unwrap();
        for v6 in [false, true] {
            let addr = u.resolve(v6);
            let req = format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}\r\n",
                u.path,
                u.authority(),
                ua.map(|ua| format!("User-Agent: {ua}\r\n"))
                    .unwrap_or_default()
            );
            let r = lab
                .gw
                .run(move || http::raw(addr, req.as_bytes(), Duration::from_secs(3)))
                .unwrap()
                .unwrap_or_else(|e| panic!("probe server {addr} unreachable: {e}"));
            assert_eq!(
                p.decide(&r),
                Verdict::Online,
                "probe server for {p:?}: {r:?}"
            );
        }
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, &p) in platforms.iter().enumerate() {
        journey(&lab.clients[2 * i], false, p);
        journey(&lab.clients[2 * i + 1], true, p);
        assert!(Instant::now() < deadline, "took too long");
    }
}

#[test]
fn android_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::Android]);
}

#[test]
fn chromeos_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::ChromeOs]);
}

#[test]
fn apple_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::Apple]);
}

#[test]
fn windows_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::Windows]);
}

#[test]
fn firefox_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::Firefox, Platform::FirefoxSuccessTxt]);
}

#[test]
fn networkmanager_detects_the_portal_and_goes_online() {
    platform_test(&[Platform::NetworkManager]);
}

/// The other probe URLs that builds of these platforms use (regional, OEM and fallback
/// ones), and any host's `/generate_204`, with the family whose rule reads the answer.
const OTHER_PROBES: &[(Platform, &str)] = &[
    (
        Platform::Android,
        "http://connectivitycheck.gstatic.cn/generate_204",
    ),
    (Platform::Android, "http://www.googleapis.cn/generate_204"),
    (
        Platform::Android,
        "http://connectivitycheck.grapheneos.network/generate_204",
    ),
    (Platform::Android, "http://grapheneos.online/gen_204"),
    (Platform::Android, "http://grapheneos.online/generate_204"),
    (
        Platform::Android,
        "http://connect.rom.miui.com/generate_204",
    ),
    (
        Platform::Android,
        "http://connectivitycheck.platform.hicloud.com/generate_204",
    ),
    (Platform::Android, "http://wifi.vivo.com.cn/generate_204"),
    (
        Platform::ChromeOs,
        "http://www.play.googleapis.com/generate_204",
    ),
    (
        Platform::ChromeOs,
        "http://safebrowsing.google.com/generate_204",
    ),
    (Platform::ChromeOs, "http://www.googleapis.com/generate_204"),
    (Platform::Windows, "http://ipv6.msftncsi.com/ncsi.txt"),
    // Hosts nobody listed, probing the Android/ChromeOS way.
    (
        Platform::Android,
        "http://connectivity.oem.example/generate_204",
    ),
    (Platform::ChromeOs, "http://probe.rom.example/gen_204"),
];

#[test]
fn every_builds_probe_url_shows_the_sign_in_page() {
    // A device each: one device's requests are rate limited (burst of twice the rate).
    let mut lab = Lab::new(OTHER_PROBES.len()).unwrap();
    lab.start_netauth(&[]).unwrap();
    for (i, &(p, url)) in OTHER_PROBES.iter().enumerate() {
        let c = lab.clients[i].clone();
        for v6 in [false, true] {
            let (_, ua) = p.probe();
            let r = fetch(&c, v6, url, ua);
            assert_eq!(r.status, 302, "{url} v6={v6}: {r:?}");
            let Verdict::Portal { login_url } = p.decide(&r) else {
                panic!("{p:?} reads {url} (v6={v6}) as {:?}: {r:?}", p.decide(&r));
            };
            let (at, page) = browse(&c, v6, &login_url);
            assert_eq!(page.status, 200, "{url} -> {at}: {page:?}");
            assert!(
                page.body.contains("Accept and connect"),
                "{url} -> {at}: {}",
                page.body
            );
        }
        // A probe's 302 opens nothing: the device is captive until it signs in.
        assert_eq!(c.status_of(), Some(511), "{url}");
    }
}

/// The decision rules themselves, against answers a portal could give: they are what
/// makes the tests above able to fail.
#[test]
fn decision_rules_are_the_platforms_rules() {
    let resp = |status: u16, location: Option<&str>, body: &str| http::Response {
        status,
        headers: location
            .map(|l| vec![("Location".to_string(), l.to_string())])
            .unwrap_or_default(),
        body: body.to_string(),
    };
    let login = "http://192.0.2.1:8080/login?redirect=x";
    let portal = |l: &str| Verdict::Portal {
        login_url: l.to_string(),
    };
    let page = "<html>sign in</html>";

    // A 511 is no portal to Android or ChromeOS: it is "no internet".
    for p in [Platform::Android, Platform::ChromeOs] {
        assert!(matches!(
            p.decide(&resp(511, None, page)),
            Verdict::NoInternet(_)
        ));
        assert_eq!(p.decide(&resp(302, Some(login), "")), portal(login));
        assert_eq!(p.decide(&resp(204, None, "")), Verdict::Online);
    }
    // Android takes any 3xx with Location and short 200s as 204s; ChromeOS only 302/307.
    assert_eq!(
        Platform::Android.decide(&resp(301, Some(login), "")),
        portal(login)
    );
    assert!(matches!(
        Platform::ChromeOs.decide(&resp(301, Some(login), "")),
        Verdict::NoInternet(_)
    ));
    assert!(matches!(
        Platform::ChromeOs.decide(&resp(302, Some("/login"), "")),
        Verdict::NoInternet(_)
    ));
    assert_eq!(
        Platform::Android.decide(&resp(200, None, "ok")),
        Verdict::Online
    );
    assert!(matches!(
        Platform::Android.decide(&resp(200, None, page)),
        Verdict::Portal { .. }
    ));
    assert!(matches!(
        Platform::ChromeOs.decide(&resp(200, None, "ok")),
        Verdict::Portal { .. }
    ));
    // The others: only the exact expected answer is "online".
    for (p, good) in [
        (Platform::Apple, APPLE_SUCCESS),
        (Platform::Windows, MSFT_CONNECT_TEST),
        (Platform::Firefox, FIREFOX_CANONICAL),
        (Platform::FirefoxSuccessTxt, FIREFOX_SUCCESS),
        (Platform::NetworkManager, NM_ONLINE),
    ] {
        assert_eq!(p.decide(&resp(200, None, good)), Verdict::Online, "{p:?}");
        for bad in [
            resp(200, None, page),
            resp(302, Some(login), ""),
            resp(511, None, page),
        ] {
            assert!(
                matches!(p.decide(&bad), Verdict::Portal { .. }),
                "{p:?} {bad:?}"
            );
        }
    }
    assert!(matches!(
        Platform::Firefox.decide(&resp(200, None, &format!("{FIREFOX_CANONICAL}x"))),
        Verdict::Portal { .. }
    ));
}

#[test]
fn urls_parse_like_a_client_parses_them() {
    let u = Url::parse("http://[2001:db8:1::1]:8080/login?redirect=a").unwrap();
    assert_eq!(u.host, "[2001:db8:1::1]");
    assert_eq!(u.port, 8080);
    assert_eq!(u.path, "/login?redirect=a");
    assert_eq!(
        u.resolve(true),
        "[2001:db8:1::1]:8080".parse::<SocketAddr>().unwrap()
    );
    let u = Url::parse("http://captive.apple.com").unwrap();
    assert_eq!((u.path.as_str(), u.port), ("/", 80));
    assert_eq!(u.resolve(false), SocketAddr::new(IpAddr::V4(PROBE_V4), 80));
    assert!(Url::parse("https://x/").is_none());
    assert!(Url::parse("/login").is_none());
    assert_eq!(
        form_encode("http://a.b/c?d=e f"),
        "http%3A%2F%2Fa.b%2Fc%3Fd%3De%20f"
    );
}
