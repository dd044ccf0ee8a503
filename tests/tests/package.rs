//! The Debian package (`cargo xtask package`): what it contains, that systemd accepts its
//! units, that lintian finds no error or warning in it, and that the binary and default
//! configuration it installs gate a LAN.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use netauth_lab::{DaemonOpts, Lab, UPSTREAM_MARKER, web_addr};

struct Built {
    deb: PathBuf,
    /// The package's files, extracted (`dpkg-deb -x`).
    root: PathBuf,
}

/// Builds the package once for every test of this file, from the binary under test.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Under the target directory, not /tmp: the package and its extracted tree are ~40 MB
        // and this static is never dropped, so a /tmp directory would be left behind per run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netauth-package");
        let _ = std::fs::remove_dir_all(&dir);
        let deb = netauth_lab::package::build(
            &netauth_lab::netauth_bin(),
            &netauth_lab::workspace_root(),
            &dir,
        )
        .expect("building the package");
        let root = dir.join("root");
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Built { deb, root }
    })
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_package_holds_the_binary_units_config_manuals_and_completions() {
    let b = built();
    let listing = dpkg_deb(&["-c"], &b.deb);
    // `-rwxr-xr-x root/root 123 2026-11-30 00:55 ./usr/sbin/netauth`
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
            .to_string()
    };
    for (path, mode) in [
        ("/usr/sbin/netauth", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/netauth.service", "-rw-r--r--"),
        ("/usr/lib/systemd/system/netauth@.service", "-rw-r--r--"),
        ("/etc/netauth/netauth.toml", "-rw-r--r--"),
        ("/usr/share/man/man8/netauth.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/netauth-run.8.gz", "-rw-r--r--"),
        (
            "/usr/share/man/man8/netauth-voucher-create.8.gz",
            "-rw-r--r--",
        ),
        (
            "/usr/share/bash-completion/completions/netauth",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_netauth", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/netauth.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/netauth/copyright", "-rw-r--r--"),
    ] {
        let e = entry(path);
        assert!(e.starts_with(mode), "{path}: {e}");
        assert!(e.contains(" root/root "), "{path}: {e}");
    }
    // A man page for every verb the binary has (from its own command definitions).
    let help = Command::new(netauth_lab::netauth_bin())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let verbs: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .collect();
    assert!(verbs.len() >= 10, "{verbs:?}");
    for v in verbs {
        entry(&format!("/usr/share/man/man8/netauth-{v}.8.gz"));
    }

    // The operator's configuration survives upgrades; the control file names what the
    // binary needs.
    let conffiles = dpkg_deb(&["-I"], &b.deb);
    let control = dpkg_deb(&["-f"], &b.deb);
    assert!(control.contains("Package: netauth\n"), "{control}");
    assert!(control.contains("Depends: libc6"), "{control}");
    let extracted = b.root.parent().unwrap().join("control");
    let _ = std::fs::remove_dir_all(&extracted);
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&b.deb)
        .arg(&extracted)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{conffiles}");
    let conf = std::fs::read_to_string(extracted.join("conffiles")).unwrap();
    assert_eq!(conf.trim(), "/etc/netauth/netauth.toml");
    let sums = std::fs::read_to_string(extracted.join("md5sums")).unwrap();
    assert!(sums.contains("  usr/sbin/netauth\n"), "{sums}");

    // The man pages are real pages, and the completions know the verbs.
    let page = Command::new("sh")
        .arg("-c")
        .arg("zcat \"$0\"")
        .arg(b.root.join("usr/share/man/man8/netauth-run.8.gz"))
        .output()
        .unwrap();
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH netauth-run 8"),
        "{page}"
    );
    assert!(
        page.contains("auth\\-method"),
        "netauth-run(8) documents --auth-method"
    );
    let bash =
        std::fs::read_to_string(b.root.join("usr/share/bash-completion/completions/netauth"))
            .unwrap();
    assert!(bash.contains("walled-garden") && bash.contains("voucher"));
}

#[test]
fn systemd_accepts_the_packaged_units() {
    let b = built();
    let dir = b.root.parent().unwrap().join("units");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = b.root.join("usr/sbin/netauth");
    for unit in ["netauth.service", "netauth@.service"] {
        let text =
            std::fs::read_to_string(b.root.join("usr/lib/systemd/system").join(unit)).unwrap();
        assert!(text.contains("Before=network-pre.target"), "{unit}");
        assert!(text.contains("Type=notify"), "{unit}");
        // systemd-analyze checks that the executable exists: the extracted one.
        let local = text.replace("/usr/sbin/netauth", &bin.to_string_lossy());
        std::fs::write(dir.join(unit), local).unwrap();
    }
    std::os::unix::fs::symlink("netauth@.service", dir.join("netauth@lan0.service")).unwrap();
    for unit in ["netauth.service", "netauth@lan0.service"] {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.join(unit))
            .env("SYSTEMD_LOG_LEVEL", "notice")
            .output()
            .expect("systemd-analyze (Debian package systemd)");
        let err = String::from_utf8_lossy(&out.stderr);
        let ours: Vec<&str> = err.lines().filter(|l| l.contains("netauth")).collect();
        assert!(out.status.success() && ours.is_empty(), "{unit}: {err}");
    }
    // The unit runs what the package installs, with the config file the package ships.
    let unit = std::fs::read_to_string(dir.join("netauth.service")).unwrap();
    assert!(
        unit.contains("run --config /etc/netauth/netauth.toml"),
        "{unit}"
    );
    assert!(unit.contains("StateDirectoryMode=0750"), "{unit}");
}

#[test]
fn lintian_finds_no_error_or_warning() {
    let b = built();
    let out = Command::new("lintian")
        .args(["--allow-root", "--no-tag-display-limit"])
        .arg(&b.deb)
        .output()
        .expect("lintian (Debian package lintian; `cargo xtask setup` installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        bad.is_empty(),
        "lintian:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_packaged_binary_and_default_config_gate_a_lan() {
    let b = built();
    let mut lab = Lab::new(2).unwrap();
    let config = b.root.join("etc/netauth/netauth.toml");
    lab.start_netauth_opts(
        &["--config", config.to_str().unwrap(), "--xdp-mode", "auto"],
        DaemonOpts {
            bin: Some(b.root.join("usr/sbin/netauth")),
            ..DaemonOpts::default()
        },
    )
    .unwrap();
    assert_eq!(
        lab.daemon().bin,
        b.root.join("usr/sbin/netauth"),
        "the lab runs the packaged binary"
    );
    let (a, c) = (lab.clients[0].clone(), lab.clients[1].clone());
    for x in [&a, &c] {
        assert_eq!(x.status_of(), Some(511), "captive before signing in");
        assert!(!x.connects(web_addr(false, 443)));
    }
    a.sign_in();
    let r = a.get(web_addr(false, 80), None, "/").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains(UPSTREAM_MARKER));
    assert!(a.connects(web_addr(false, 443)));
    // The one who never signed in is still blocked.
    assert_eq!(c.status_of(), Some(511));
    assert!(!c.connects(web_addr(false, 443)));
    // Its CLI manages it.
    let out = lab.daemon().cli(&["sessions", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&a.mac), "{text}");
    assert!(!text.contains(&c.mac), "{text}");
}
