//! The daemon's start and stop: a start that fails part-way leaves nothing behind.

use netauth_lab::Lab;

/// Whether the gateway has the policy routing rule netauth once installed (fwmark
/// 0x0a170000); netauth installs none now, and no start may leave one.
fn has_rule(lab: &Lab) -> bool {
    let out = lab.gw.ip(&["rule", "show"]).expect("ip rule");
    String::from_utf8_lossy(&out.stdout).contains("0xa170000")
}

#[test]
fn a_start_that_fails_part_way_leaves_no_rule_and_no_socket() {
    let mut lab = Lab::new(1).unwrap();
    // A pin directory damaged where a link belongs (a directory instead of the pinned TC
    // link): the programs load, then attaching them fails, after the listeners and the
    // admin socket exist.
    std::fs::create_dir_all(lab.pin_dir().join("link_tc_ingress")).unwrap();
    let err = lab.start_netauth(&[]).err().expect("the start fails");
    let err = format!("{err:#}");
    assert!(err.contains("exited early"), "{err}");
    assert!(
        err.contains("link_tc_ingress"),
        "the log names the cause: {err}"
    );
    assert!(!has_rule(&lab), "the policy routing rule was left behind");
    assert!(
        !lab.dir.join("admin.sock").exists(),
        "the admin socket file was left behind"
    );
    // Repaired, the next start works (and needs no rule to steer).
    std::fs::remove_dir(lab.pin_dir().join("link_tc_ingress")).unwrap();
    lab.start_netauth(&[]).unwrap();
    assert!(!has_rule(&lab));
    assert_eq!(lab.clients[0].status_of(), Some(511));
}

#[test]
fn a_start_that_fails_on_a_busy_port_leaves_no_rule_and_no_socket() {
    let mut lab = Lab::new(1).unwrap();
    let secret = lab.dir.join("radius.secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    // Another program holds the CoA/Disconnect port on the gateway.
    let _holder = lab
        .gw
        .run(|| std::net::UdpSocket::bind("0.0.0.0:3799").unwrap())
        .unwrap();
    let err = lab
        .start_netauth(&[
            "--radius-server",
            "198.51.100.2",
            "--radius-secret-file",
            secret.to_str().unwrap(),
            "--das-client",
            "198.51.100.2",
            "--das-listen",
            "0.0.0.0:3799",
        ])
        .err()
        .expect("the start fails");
    let err = format!("{err:#}");
    assert!(err.contains("3799"), "the log names the port: {err}");
    assert!(!has_rule(&lab), "the policy routing rule was left behind");
    assert!(
        !lab.dir.join("admin.sock").exists(),
        "the admin socket file was left behind"
    );
}
