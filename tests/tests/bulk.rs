//! Many sessions at once: `netauth allow --from FILE` loads a batch all-or-nothing, every
//! session lands in the client map and the store, and a crash or a reboot restores all of
//! them before netauth serves, while a device that never signed in stays captive.

use std::{collections::BTreeSet, path::Path, time::Duration};

use netauth_lab::{Lab, bpf, mac_bytes, web_addr};

/// Devices the test loads.
const N: u32 = 2_000;

fn synthetic(i: u32) -> String {
    let b = i.to_be_bytes();
    format!("02:5b:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// The MACs in the client map pinned in `pin_dir`.
fn map_macs(pin_dir: &Path) -> BTreeSet<[u8; 6]> {
    bpf::pinned_map_keys(&pin_dir.join("NETAUTH_CLIENTS"))
        .expect("reading the client map")
        .into_iter()
        .map(|k| k[..6].try_into().expect("a MAC key"))
        .collect()
}

/// Asserts that the map holds exactly `want`.
fn assert_map_holds(lab: &Lab, want: &BTreeSet<[u8; 6]>, when: &str) {
    let have = map_macs(&lab.pin_dir());
    let missing = want.difference(&have).count();
    let extra = have.difference(want).count();
    assert!(
        missing == 0 && extra == 0,
        "{when}: {missing} devices missing from the client map, {extra} unexpected in it"
    );
}

#[test]
fn allow_from_a_file_loads_all_or_nothing_and_survives_a_crash_and_a_reboot() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (a, b) = (lab.clients[0].clone(), lab.clients[1].clone());

    // The file: N - 1 synthetic devices and lab client A in the middle, in the forms a
    // line may take (a MAC alone, a MAC with its own limits, JSON), with comments.
    let mut lines = vec!["# guests of the day".to_string()];
    for i in 0..N - 1 {
        lines.push(match i % 3 {
            0 => synthetic(i),
            1 => format!("{} --for 2h --quota 5G  # room {i}", synthetic(i)),
            _ => format!("{{\"mac\":\"{}\",\"idle\":\"30m\"}}", synthetic(i)),
        });
        if i == N / 2 {
            lines.push(a.mac.clone());
        }
    }
    let mut want: BTreeSet<[u8; 6]> = (0..N - 1).map(|i| mac_bytes(&synthetic(i))).collect();
    want.insert(mac_bytes(&a.mac));
    let good = lab.state_dir().join("../guests.txt");
    std::fs::write(&good, lines.join("\n") + "\n").unwrap();

    // The same file with a bad MAC on line 7 changes nothing and names the line.
    let mut bad_lines = lines.clone();
    bad_lines[6] = "02:5b:00:00:00:zz --for 1h".into();
    let bad = lab.state_dir().join("../bad.txt");
    std::fs::write(&bad, bad_lines.join("\n") + "\n").unwrap();
    let out = lab
        .daemon()
        .cli(&["allow", "--from", &bad.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(err.contains("line 7"), "{err}");
    assert!(
        lab.daemon().sessions().is_empty(),
        "a bad file changed the store"
    );
    assert!(
        map_macs(&lab.pin_dir()).is_empty(),
        "a bad file changed the map"
    );
    assert_eq!(a.status_of(), Some(511));

    // A device named twice (line 3 and the last line) is refused by the daemon, with both
    // lines, and nothing changes either.
    let mut twice = lines.clone();
    twice.push(synthetic(1));
    let twice_file = lab.state_dir().join("../twice.txt");
    std::fs::write(&twice_file, twice.join("\n") + "\n").unwrap();
    let out = lab
        .daemon()
        .cli(&["allow", "--from", &twice_file.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(err.contains(&format!("line {}", twice.len())), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(lab.daemon().sessions().is_empty());
    assert!(map_macs(&lab.pin_dir()).is_empty());

    // The good file: every device in the map, the store and `netauth sessions`.
    let out = lab
        .daemon()
        .cli(&["allow", "--from", &good.to_string_lossy()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains(&format!(
            "{N} of {N} devices authorized ({N} new, 0 renewed)"
        )),
        "{said}"
    );
    assert_map_holds(&lab, &want, "after the load");
    let sessions = lab.daemon().sessions();
    assert_eq!(sessions.len(), N as usize);
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&synthetic(N - 2)) && listed.contains(&a.mac));
    // A line's own limits, and the daemon's defaults for the others.
    let room1 = lab.daemon().session(&synthetic(1)).unwrap();
    assert_eq!(room1.quota_total, Some(5_000_000_000u64));
    assert!(
        (7190..=7200).contains(&room1.seconds_remaining),
        "{room1:?}"
    );
    assert_eq!(
        lab.daemon().session(&synthetic(2)).unwrap().idle_timeout_s,
        Some(1800)
    );
    assert_eq!(a.status_of(), Some(200));
    assert_eq!(b.status_of(), Some(511));

    // Loading the same file again renews every session; nothing is added.
    let out = lab
        .daemon()
        .cli(&["allow", "--from", &good.to_string_lossy()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("({} new, {N} renewed)", 0)),
        "{said}"
    );
    assert_map_holds(&lab, &want, "after a renewal");

    // kill -9 and a new daemon: every device still passes, B is still captive.
    lab.daemon().kill();
    lab.start_netauth(&[]).unwrap();
    assert_map_holds(&lab, &want, "after kill -9 and a restart");
    assert_eq!(lab.daemon().sessions().len(), N as usize);
    assert!(a.connects(web_addr(false, 443)));
    assert!(!b.connects(web_addr(false, 443)), "B never signed in");
    assert_eq!(b.status_of(), Some(511));

    // A reboot (the map is gone): restored from the store, in one batch, before netauth
    // answers on the admin socket (start_netauth returns once it does).
    lab.reboot();
    lab.start_netauth(&[]).unwrap();
    assert_map_holds(&lab, &want, "after a reboot");
    assert_eq!(lab.daemon().sessions().len(), N as usize);
    assert!(
        lab.daemon().log_text().contains(&format!("restored={N}")),
        "{}",
        lab.daemon().log_text()
    );
    assert!(a.connects(web_addr(false, 443)));
    assert!(!b.connects(web_addr(false, 443)), "B never signed in");
    assert_eq!(b.status_of(), Some(511));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(a.status_of(), Some(200));
}
