//! The session store against the faults of cheap gateway hardware: a full disk, a store
//! removed or replaced under the daemon, a write-ahead log lost after a crash, a
//! truncated file, a read-only state directory. Every change netauth acknowledges is on
//! disk, or the caller hears it is not; nothing acknowledged is lost without a refusal.

use std::{path::Path, process::Output, time::Duration};

use netauth_lab::{Lab, wait_until};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fills the file system of `dir` (a filler file of everything that is left).
fn fill(dir: &Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_refuses_new_changes_and_records_cut_off_devices_later() {
    let mut lab = Lab::new(3).unwrap();
    let state = lab.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    netauth_lab::sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=2m",
            "tmpfs",
            &state.to_string_lossy(),
        ],
    )
    .unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b, c) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
    );
    assert!(lab.daemon().cli(&["allow", &a.mac]).status.success());
    assert_eq!(a.status_of(), Some(200));
    fill(&state);

    // Nothing new is acknowledged: an allow exits 1 and says so, a login gets 503, and
    // neither device is let through.
    let out = lab.daemon().cli(&["allow", &b.mac]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).contains("could not record"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.status_of(), Some(511));
    let r = c.login("accept=1").unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(c.status_of(), Some(511));

    // A revoke cuts the device off at once and says it could not be recorded yet.
    let out = lab.daemon().cli(&["revoke", &a.mac]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).contains("could not record"),
        "{}",
        stderr(&out)
    );
    assert_eq!(a.status_of(), Some(511));
    assert_eq!(lab.daemon().status()["store"]["pending_ends"], 1);

    // Space returns: the end is recorded, and stays so across a restart.
    std::fs::remove_file(state.join("filler")).unwrap();
    assert!(wait_until(Duration::from_secs(5), || lab.daemon().status()
        ["store"]["pending_ends"]
        == 0));
    lab.daemon().stop().unwrap();
    lab.start_netauth(&[]).unwrap();
    assert!(lab.daemon().session(&a.mac).is_none());
    assert_eq!(a.status_of(), Some(511));
    // And new changes are acknowledged again.
    assert!(lab.daemon().cli(&["allow", &b.mac]).status.success());
    assert_eq!(b.status_of(), Some(200));
}

#[test]
fn a_store_removed_under_the_daemon_stops_acknowledging_loudly() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert!(lab.daemon().cli(&["allow", &a.mac]).status.success());
    std::fs::remove_file(lab.state_dir().join("sessions.db")).unwrap();
    let out = lab.daemon().cli(&["allow", &b.mac]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).contains("removed or replaced"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.status_of(), Some(511));
    assert_eq!(lab.daemon().status()["store"]["healthy"], false);
    let text = lab.daemon().metrics().unwrap();
    assert!(text.contains("netauth_store_healthy 0"), "{text}");
    assert!(
        lab.daemon()
            .log_text()
            .contains("was removed or replaced while netauth ran")
    );
    // The device already online stays so.
    assert_eq!(a.status_of(), Some(200));
}

#[test]
fn a_store_that_lost_acknowledged_changes_is_refused_at_start() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(a.login("accept=1").unwrap().status, 303);
    assert_eq!(b.login("accept=1").unwrap().status, 303);
    // A crash: the logins live in the write-ahead log only...
    lab.daemon().kill();
    let state = lab.state_dir();
    let wal = state.join("sessions.db-wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    assert!(len > 0);
    // ...which the power cut leaves full of garbage.
    std::fs::write(&wal, vec![0x5au8; len as usize]).unwrap();
    let err = lab.start_netauth(&[]).err().expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("older than the changes netauth last acknowledged"),
        "{msg}"
    );
    assert!(msg.contains("sessions.db-wal"), "{msg}");

    // A truncated store is refused the same way.
    std::fs::write(state.join("sessions.db"), b"").unwrap();
    let _ = std::fs::remove_file(&wal);
    let err = lab.start_netauth(&[]).err().expect("refused");
    assert!(format!("{err:#}").contains("older than the changes"));

    // Moved aside by the operator, as the message says: netauth starts empty, and the
    // devices the pinned datapath still lets through stay online and are reported.
    for f in [
        "sessions.db",
        "sessions.db-wal",
        "sessions.db-shm",
        "sessions.db-marker",
    ] {
        let _ = std::fs::rename(state.join(f), state.join(format!("{f}.old")));
    }
    lab.start_netauth(&[]).unwrap();
    assert_eq!(a.status_of(), Some(200));
    assert_eq!(lab.daemon().status()["store"]["unrecorded_clients"], 2);
    assert!(
        lab.daemon()
            .log_text()
            .contains("is not in the session store")
    );
    // They can be ended like any session.
    assert!(lab.daemon().cli(&["revoke", &a.mac]).status.success());
    assert_eq!(a.status_of(), Some(511));
    assert_eq!(lab.daemon().status()["store"]["unrecorded_clients"], 1);
}

#[test]
fn a_read_only_state_directory_is_refused_at_start() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    assert_eq!(lab.clients[0].login("accept=1").unwrap().status, 303);
    lab.daemon().kill(); // -wal and -shm stay behind
    let state = lab.state_dir();
    assert!(state.join("sessions.db-wal").exists());
    let s = state.to_string_lossy().into_owned();
    netauth_lab::sh("mount", &["--bind", &s, &s]).unwrap();
    netauth_lab::sh("mount", &["-o", "remount,bind,ro", &s]).unwrap();
    let err = lab.start_netauth(&[]).err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("does not take writes"), "{msg}");
}
