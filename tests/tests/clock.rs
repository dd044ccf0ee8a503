//! Session time against wall clocks that jump: NTP steps while netauth runs, and reboots
//! with a clock that is days off (routers without a real-time clock). The daemon runs
//! under libfaketime (its wall clock read from a file the test rewrites; the monotonic
//! and boot clocks stay true); a reboot is a new boot id (bind-mounted over
//! /proc/sys/kernel/random/boot_id in the daemon's mount namespace) and fresh pins. The
//! machine's own clock is never touched.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use netauth_lab::{DaemonOpts, Lab, WEB_V4, faketime_env, wait_until};

fn remaining(lab: &mut Lab, mac: &str) -> Option<i64> {
    lab.daemon()
        .session(mac)
        .map(|s| s.seconds_remaining as i64)
}

/// Asserts `mac` has `want` seconds left, within `tol`.
fn assert_left(lab: &mut Lab, mac: &str, want: i64, tol: i64, when: &str) {
    let got = remaining(lab, mac).unwrap_or_else(|| panic!("{when}: no session for {mac}"));
    assert!(
        (got - want).abs() <= tol,
        "{when}: {mac} has {got} s left, expected {want} ± {tol}\n{}",
        lab.daemon().log_text()
    );
}

fn set_clock(file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).unwrap();
}

/// Steps the running daemon's wall clock to `offset`, and waits until it saw the step.
fn step_clock(lab: &mut Lab, file: &Path, offset: &str) {
    let steps = |lab: &mut Lab| {
        lab.daemon()
            .log_text()
            .matches("the wall clock stepped")
            .count()
    };
    let before = steps(lab);
    set_clock(file, offset);
    assert!(
        wait_until(Duration::from_secs(5), || steps(lab) > before),
        "netauth did not notice the clock step to {offset}"
    );
}

fn opts(file: &Path, boot_id: Option<&str>) -> DaemonOpts {
    DaemonOpts {
        env: faketime_env(file),
        boot_id: boot_id.map(str::to_string),
        ..DaemonOpts::default()
    }
}

/// Whether this machine's kernel considers its clock synchronised (then `auto` would
/// trust a wrong clock after our simulated reboot, and the test says `never` instead).
fn kernel_synced() -> bool {
    // SAFETY: adjtimex with modes 0 only reads.
    unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        libc::adjtimex(&mut t) != libc::TIME_ERROR
    }
}

fn allow(lab: &mut Lab, mac: &str, dur: &str) {
    let out = lab.daemon().cli(&["allow", mac, "--for", dur]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn wall_clock_steps_neither_end_nor_stretch_sessions() {
    let mut lab = Lab::new(2).unwrap();
    let file = lab.dir.join("faketime");
    set_clock(&file, "+0");
    lab.start_netauth_opts(&[], opts(&file, None)).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    let t0 = Instant::now();
    allow(&mut lab, &a.mac, "2m");
    allow(&mut lab, &b.mac, "20s");
    let web = SocketAddr::new(IpAddr::V4(WEB_V4), 443);
    assert!(a.connects(web));

    // NTP steps the clock an hour ahead: nothing ends, nothing gains.
    step_clock(&mut lab, &file, "+3600s");
    assert!(lab.daemon().log_text().contains("the wall clock stepped"));
    assert!(a.connects(web), "a 2-minute session ended at a +1 h step");
    let left = 120 - t0.elapsed().as_secs() as i64;
    assert_left(&mut lab, &a.mac, left, 2, "after +1 h");

    // And back, an hour behind the truth: no 3,616 s left.
    step_clock(&mut lab, &file, "-3600s");
    let left = 120 - t0.elapsed().as_secs() as i64;
    assert_left(&mut lab, &a.mac, left, 2, "after -1 h");

    // The 20-second session ends on time, by the boot clock.
    assert!(wait_until(Duration::from_secs(30), || remaining(
        &mut lab, &b.mac
    )
    .is_none()));
    let ended_after = t0.elapsed();
    assert!(
        ended_after >= Duration::from_secs(19) && ended_after <= Duration::from_millis(22_500),
        "the 20 s session ended after {ended_after:?}"
    );
    assert!(!b.connects(web));
    assert!(a.connects(web));
}

#[test]
fn a_reboot_with_a_wrong_clock_keeps_the_time_that_was_left() {
    let mut lab = Lab::new(2).unwrap();
    let file = lab.dir.join("faketime");
    set_clock(&file, "+0");
    // An untrusted clock after a reboot: the kernel's word where it says "unsynchronised",
    // else the operator's.
    let trust: &[&str] = if kernel_synced() {
        &["--trust-wall-clock", "never"]
    } else {
        &[]
    };
    lab.start_netauth_opts(trust, opts(&file, None)).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    let t0 = Instant::now();
    allow(&mut lab, &a.mac, "24h");
    allow(&mut lab, &b.mac, "8h");
    let day = 86_400i64;
    let left = |base: i64| base - t0.elapsed().as_secs() as i64;

    // The gateway reboots 30 days behind (no RTC), then NTP sets the clock right.
    lab.reboot();
    set_clock(&file, "-30d");
    lab.start_netauth_opts(
        trust,
        opts(&file, Some("11111111-2222-3333-4444-555555555555")),
    )
    .unwrap();
    assert!(
        lab.daemon()
            .log_text()
            .contains("stored session times moved to the wall clock")
    );
    assert_left(&mut lab, &a.mac, left(day), 3, "booted 30 days behind");
    assert_left(&mut lab, &b.mac, left(8 * 3600), 3, "booted 30 days behind");
    step_clock(&mut lab, &file, "+0");
    assert_left(&mut lab, &a.mac, left(day), 3, "after NTP");
    assert_left(&mut lab, &b.mac, left(8 * 3600), 3, "after NTP");
    let web = SocketAddr::new(IpAddr::V4(WEB_V4), 443);
    assert!(a.connects(web) && b.connects(web));

    // Another reboot, a day ahead this time: nothing ends at restore.
    lab.reboot();
    set_clock(&file, "+1d");
    lab.start_netauth_opts(
        trust,
        opts(&file, Some("66666666-7777-8888-9999-000000000000")),
    )
    .unwrap();
    assert_left(&mut lab, &a.mac, left(day), 3, "booted a day ahead");
    assert_left(&mut lab, &b.mac, left(8 * 3600), 3, "booted a day ahead");
    assert!(a.connects(web) && b.connects(web));

    // Control: an operator who trusts the clock (a battery-backed RTC) gets the downtime
    // counted: nine hours after the last run's clock (a day ahead), the 8-hour session
    // has ended, the other continues.
    lab.reboot();
    set_clock(&file, "+33h");
    lab.start_netauth_opts(
        &["--trust-wall-clock", "always"],
        opts(&file, Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")),
    )
    .unwrap();
    assert!(
        remaining(&mut lab, &b.mac).is_none(),
        "the 8 h session ended"
    );
    assert_left(
        &mut lab,
        &a.mac,
        left(day - 9 * 3600),
        3,
        "trusted, 9 h later",
    );
    assert!(!b.connects(web));
}
