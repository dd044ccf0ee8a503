//! The CLI on its own, against a stand-in for the daemon's admin socket: what it refuses
//! before sending anything, what it reports when the daemon does not finish stopping,
//! and which users file it edits. No lab: nothing here touches the network.

use std::{
    io::{Read, Write},
    os::unix::net::UnixListener,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use netauth_common::api::{SessionView, Via};
use netauth_lab::netauth_bin;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netauth-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What the stand-in does after answering.
#[derive(Clone, Copy)]
enum Then {
    /// Keeps its socket, as a daemon that never finishes stopping does.
    Stay,
    /// Removes its socket, as a daemon that finished stopping does.
    Vanish,
}

/// A stand-in admin socket: answers every request with `status` and `body`, and records
/// the request lines it got.
fn fake_admin(path: &Path, status: u16, body: String, then: Then) -> Arc<Mutex<Vec<String>>> {
    let listener = UnixListener::bind(path).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, path) = (seen.clone(), path.to_path_buf());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then as much body as Content-Length says.
            let complete = |buf: &[u8]| {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return false;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                buf.len() >= end + 4 + len
            };
            while !complete(&buf) {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let line = String::from_utf8_lossy(&buf)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            record.lock().unwrap().push(line);
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            drop(c);
            if let Then::Vanish = then {
                let _ = std::fs::remove_file(&path);
                return;
            }
        }
    });
    seen
}

/// The answer to an allow: the session, as the daemon shows it.
fn session_json(mac: &str) -> String {
    let s = SessionView {
        mac: mac.parse().unwrap(),
        ips: Vec::new(),
        ip: None,
        via: Via::Admin,
        started: 1_700_000_000,
        expires: 1_700_086_400,
        seconds_remaining: 86_400,
        idle_timeout_s: None,
        idle_s: 0,
        quota_up: None,
        quota_down: None,
        quota_total: None,
        bytes_remaining: None,
        up_bytes: 0,
        up_packets: 0,
        down_bytes: 0,
        down_packets: 0,
        username: None,
        acct_session_id: None,
        randomized_mac: false,
        rate_up_bps: None,
        rate_down_bps: None,
    };
    serde_json::to_string(&s).unwrap()
}

fn netauth(args: &[&str], socket: &Path) -> Output {
    Command::new(netauth_bin())
        .args(args)
        .arg("--admin-socket")
        .arg(socket)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn stop_says_so_when_the_daemon_does_not_finish_in_time() {
    let dir = tmpdir("stop");
    let sock = dir.join("admin.sock");
    let seen = fake_admin(&sock, 202, r#"{"detach":false}"#.into(), Then::Stay);
    let t0 = Instant::now();
    let out = netauth(&["stop"], &sock);
    let waited = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("did not finish within 10 s"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("stopped"),
        "{out:?}"
    );
    assert!(
        waited >= Duration::from_secs(10),
        "gave up after {waited:?}"
    );
    assert_eq!(*seen.lock().unwrap(), vec!["POST /v1/shutdown HTTP/1.1"]);

    // A daemon that finishes (its socket goes): "stopped", exit 0, at once.
    let sock = dir.join("admin2.sock");
    fake_admin(&sock, 202, r#"{"detach":false}"#.into(), Then::Vanish);
    let t0 = Instant::now();
    let out = netauth(&["stop"], &sock);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("netauth stopped"));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn values_beyond_the_limits_are_refused_before_anything_is_sent() {
    let dir = tmpdir("limits");
    let sock = dir.join("admin.sock");
    let mac = "02:00:00:00:01:0a";
    let seen = fake_admin(&sock, 201, session_json(mac), Then::Stay);
    for (args, want) in [
        (vec!["allow", mac, "--quota", "10000000T"], "at most"),
        (
            vec!["allow", mac, "--quota-up", "9223372036854775808"],
            "at most",
        ),
        (
            vec!["allow", mac, "--quota-down", "99999999999999999999"],
            "at most",
        ),
        (vec!["allow", mac, "--for", "500ms"], "at least 1s"),
        (vec!["allow", mac, "--idle", "999ms"], "at least 1s"),
        (vec!["allow", mac, "--for", "11y"], "at most 10 years"),
        (vec!["extend", mac, "--for", "500ms"], "at least 1s"),
        (
            vec![
                "voucher",
                "create",
                "--duration",
                "1h",
                "--quota",
                "10000000T",
            ],
            "at most",
        ),
    ] {
        let out = netauth(&args, &sock);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refused command reached the daemon: {:?}",
        seen.lock().unwrap()
    );
    // The largest allowance is sent as it was given.
    let out = netauth(&["allow", mac, "--quota", "9007199254740992"], &sock);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(*seen.lock().unwrap(), vec!["POST /v1/sessions HTTP/1.1"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn user(args: &[&str], password: Option<&str>) -> Output {
    let mut child = Command::new(netauth_bin())
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(p) = password {
        writeln!(stdin, "{p}").unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn user_edits_the_users_file_the_daemon_would_read() {
    let dir = tmpdir("users");
    let default = Path::new("/var/lib/netauth/users");
    let default_before = std::fs::read(default).ok();

    // The state directory of the config file.
    let state = dir.join("state");
    let cfg = dir.join("netauth.toml");
    std::fs::write(
        &cfg,
        format!("state-dir = {:?}\n", state.display().to_string()),
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let out = user(&["add", "alice", "--config", &cfg], Some("wonder+land"));
    assert!(out.status.success(), "{out:?}");
    let users = std::fs::read_to_string(state.join("users")).unwrap();
    assert!(users.contains("\nalice:$argon2id$"), "{users}");
    // --state-dir names the same file.
    let out = user(&["list", "--state-dir", &state.to_string_lossy()], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice\n", "{out:?}");

    // users-file in the config file wins over its state-dir, as in the daemon.
    let custom = dir.join("custom-users");
    let cfg2 = dir.join("custom.toml");
    std::fs::write(
        &cfg2,
        format!(
            "state-dir = {:?}\nusers-file = {:?}\n",
            state.display().to_string(),
            custom.display().to_string()
        ),
    )
    .unwrap();
    let cfg2 = cfg2.to_string_lossy().to_string();
    let out = user(&["add", "bob", "--config", &cfg2], Some("builder-2"));
    assert!(out.status.success(), "{out:?}");
    let out = user(&["list", "--config", &cfg2], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bob\n", "{out:?}");
    let out = user(&["remove", "alice", "--config", &cfg], None);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !std::fs::read_to_string(state.join("users"))
            .unwrap()
            .contains("alice")
    );

    // A config file that cannot be read changes nothing anywhere.
    let out = user(
        &["add", "carol", "--config", "/dev/zero"],
        Some("password-3"),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger than"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(default).ok(),
        default_before,
        "the default file was touched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
