//! Login methods other than click-through: local accounts and vouchers; failed logins
//! are slowed down and say only "invalid"; secrets never reach the logs.

use std::{
    io::Write as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use netauth_lab::{Client, Lab, http, portal_addr, wait_until};

/// Submits the login form; the answer and how long it took.
fn post(c: &Client, form: &str) -> (http::Response, Duration) {
    let t0 = Instant::now();
    let r = c.login(form).unwrap();
    (r, t0.elapsed())
}

#[test]
fn local_accounts_log_in_and_wrong_passwords_are_refused_ever_slower() {
    let mut lab = Lab::new(2).unwrap();
    let users = lab.dir.join("users");
    let secret = "s3cret-horse-battery";
    let mut child = Command::new(netauth_lab::netauth_bin())
        .args(["user", "add", "alice", "--users-file"])
        .arg(&users)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{secret}").unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(
        text.contains("alice:$argon2id$") && !text.contains(secret),
        "{text}"
    );
    // A short password is refused, and nothing changes.
    let mut child = Command::new(netauth_lab::netauth_bin())
        .args(["user", "add", "bob", "--users-file"])
        .arg(&users)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "short").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(2));
    assert_eq!(std::fs::read_to_string(&users).unwrap(), text);

    lab.start_netauth(&[
        "--auth-method",
        "local",
        "--users-file",
        &users.to_string_lossy(),
    ])
    .unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    let page =
        a.ns.run(|| http::get(portal_addr(false), None, "/login").unwrap())
            .unwrap();
    assert!(page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""));

    // Wrong password and unknown user: the same answer, ever slower.
    let mut delays = Vec::new();
    for form in [
        "accept=1&username=alice&password=wrong",
        "accept=1&username=mallory&password=wrong",
        "accept=1&username=alice&password=",
    ] {
        let (r, took) = post(&b, form);
        assert_eq!(r.status, 403, "{r:?}");
        assert!(r.body.contains("Invalid user name or password."));
        delays.push(took);
    }
    assert!(delays[2] >= Duration::from_millis(900), "{delays:?}");
    assert!(delays[2] > delays[0], "{delays:?}");
    assert_eq!(b.status_of(), Some(511));

    let (r, _) = post(&a, &format!("accept=1&username=alice&password={secret}"));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(a.status_of(), Some(200));
    assert_eq!(b.status_of(), Some(511));
    let out = lab.daemon().cli(&["sessions", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"][0]["via"], "local");
    // No password in the logs, right or wrong.
    let log = lab.daemon().log_text();
    assert!(
        !log.contains(secret) && !log.contains("password=wrong"),
        "{log}"
    );
    assert!(log.contains("login refused"));
}

#[test]
fn vouchers_start_at_first_use_limit_devices_and_can_be_revoked() {
    let mut lab = Lab::new(3).unwrap();
    // Device limits refused, not moved (see roaming.rs for `transfer`).
    lab.start_netauth(&["--auth-method", "voucher", "--on-new-mac", "refuse"])
        .unwrap();
    let (a, b, c) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
    );
    let sheet = lab.dir.join("vouchers.html");
    let out = lab.daemon().cli(&[
        "voucher",
        "create",
        "--count",
        "2",
        "--duration",
        "4s",
        "--quota",
        "100k",
        "--html",
        &sheet.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(std::fs::read_to_string(&sheet).unwrap().contains(&codes[0]));
    let page =
        a.ns.run(|| http::get(portal_addr(false), None, "/login").unwrap())
            .unwrap();
    assert!(page.body.contains("name=\"code\""));

    // Not started yet: waiting before first use does not count (the wait is what is
    // tested).
    std::thread::sleep(Duration::from_millis(1500));
    // Typed sloppily: lower case, spaces instead of dashes.
    let typed = codes[0].to_lowercase().replace('-', " ");
    let t0 = Instant::now();
    let (r, _) = post(&a, &format!("accept=1&code={}", typed.replace(' ', "+")));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(a.status_of(), Some(200));
    let out = lab.daemon().cli(&["sessions", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"][0]["via"], "voucher");
    assert_eq!(v["sessions"][0]["quota_total"], 100_000);
    assert!(
        v["sessions"][0]["seconds_remaining"].as_u64().unwrap() >= 3,
        "{v}"
    );

    // One device per voucher: B cannot reuse it; a wrong code is just "invalid".
    let (r, _) = post(&b, &format!("accept=1&code={}", codes[0]));
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Invalid voucher code."));
    let (r, _) = post(&b, "accept=1&code=AAAA-AAAA-AAAA");
    assert_eq!(r.status, 403);
    assert_eq!(b.status_of(), Some(511));
    let (r, _) = post(&b, &format!("accept=1&code={}", codes[1]));
    assert_eq!(r.status, 303);
    assert_eq!(b.status_of(), Some(200));

    // Revoking a voucher ends the sessions it granted.
    let out = lab.daemon().cli(&["voucher", "revoke", &codes[1]]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(b.status_of(), Some(511));
    let (r, _) = post(&c, &format!("accept=1&code={}", codes[1]));
    assert_eq!(r.status, 403);

    // The first voucher runs out 4 s after its first use (that time passing is what is
    // tested), and cannot be used again.
    std::thread::sleep(Duration::from_millis(5000).saturating_sub(t0.elapsed()));
    assert_eq!(a.status_of(), Some(511));
    let (r, _) = post(&a, &format!("accept=1&code={}", codes[0]));
    assert_eq!(r.status, 403);
    let out = lab.daemon().cli(&["voucher", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["vouchers"].as_array().unwrap().len(), 2);
    // Bad input to the CLI changes nothing.
    let out = lab
        .daemon()
        .cli(&["voucher", "create", "--count", "0", "--duration", "1h"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lab
        .daemon()
        .cli(&["voucher", "create", "--duration", "-1h"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lab.daemon().cli(&["voucher", "revoke", "not-a-code"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lab.daemon().cli(&["voucher", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["vouchers"].as_array().unwrap().len(), 2);
}

#[test]
fn a_voucher_for_several_devices_gives_each_its_own_allowance() {
    let mut lab = Lab::new(3).unwrap();
    // Device limits refused, not moved (see roaming.rs for `transfer`).
    lab.start_netauth(&["--auth-method", "voucher", "--on-new-mac", "refuse"])
        .unwrap();
    let (a, b, c) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
    );
    let out = lab.daemon().cli(&[
        "voucher",
        "create",
        "--count",
        "1",
        "--duration",
        "1h",
        "--quota",
        "200k",
        "--devices",
        "2",
    ]);
    assert!(out.status.success(), "{out:?}");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    for d in [&a, &b] {
        let (r, _) = post(d, &format!("accept=1&code={code}"));
        assert_eq!(r.status, 303, "{r:?}");
    }
    // A third device is beyond --devices 2.
    let (r, _) = post(&c, &format!("accept=1&code={code}"));
    assert_eq!(r.status, 403);
    assert_eq!(c.status_of(), Some(511));

    // A uses up its 200 kB; B keeps its own allowance.
    assert!(a.echo(16 * 16 * 1024, 16 * 1024) > 0, "A reached nothing");
    wait_until(Duration::from_secs(3), || a.status_of() == Some(511));
    assert_eq!(
        a.status_of(),
        Some(511),
        "the allowance did not end A's session"
    );
    let page =
        a.ns.run(|| http::get(portal_addr(false), None, "/login").unwrap())
            .unwrap();
    assert!(
        page.body.contains("data allowance is used up"),
        "{}",
        page.body
    );
    assert_eq!(b.status_of(), Some(200));
}
