//! The systemd unit shipped in dist/: systemd accepts it, and it gates the LAN before the
//! network comes up (the boot window in which a LAN would otherwise be open).

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_orders_netauth_before_the_network() {
    let root = netauth_lab::workspace_root();
    let unit = std::fs::read_to_string(root.join("dist/netauth@.service")).unwrap();
    for line in [
        "Type=notify",
        "Wants=network-pre.target",
        "Before=network-pre.target shutdown.target",
        "BindsTo=sys-subsystem-net-devices-%i.device",
        "LimitNOFILE=65536",
        "ExecStart=/usr/sbin/netauth run --lan %i --config /etc/netauth/%i.toml",
    ] {
        assert!(
            unit.lines().any(|l| l.trim() == line),
            "the unit lacks `{line}`"
        );
    }
    // systemd-analyze checks the executables exist: point the unit at the binary under
    // test, in a directory of its own.
    let dir = std::env::temp_dir().join(format!("netauth-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = netauth_lab::netauth_bin();
    let local = unit.replace("/usr/sbin/netauth", &bin.to_string_lossy());
    std::fs::write(dir.join("netauth@.service"), local).unwrap();
    std::os::unix::fs::symlink("netauth@.service", dir.join("netauth@lan0.service")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("netauth@lan0.service"))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("netauth")).collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
}
