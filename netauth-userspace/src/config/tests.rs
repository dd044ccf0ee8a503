//! How options resolve and how the config file is read.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Parser;

use super::*;

/// `netauth run ARGS` as main.rs parses it.
fn run(args: &[&str]) -> RunArgs {
    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }
    Run::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .args
}

/// A directory of its own for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netauth-cfg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn config_file_values_beyond_the_limits_name_the_line() {
    for (text, want) in [
        ("lan = \"eth1\"\nquota = 100000000000000000\n", "at most"),
        ("lan = \"eth1\"\nquota-up = \"10000000T\"\n", "at most"),
        ("lan = \"eth1\"\nquota-down = -1\n", "larger than zero"),
        ("lan = \"eth1\"\nidle-timeout = \"500ms\"\n", "at least 1s"),
        ("lan = \"eth1\"\nrate-down = \"fast\"\n", "not a rate"),
        ("lan = \"eth1\"\nrate-up = 10\n", "between 1k and 1000G"),
        (
            "lan = \"eth1\"\nsession-timeout = \"20y\"\n",
            "at most 10 years",
        ),
    ] {
        let msg = parse_config(text).unwrap_err().to_string();
        assert!(msg.contains("line 2"), "{text}: {msg}");
        assert!(msg.contains(want), "{text}: {msg}");
    }
    let ok = parse_config("quota = 9007199254740992\n").unwrap();
    assert_eq!(ok.limits.quota, Some(MAX_BYTES));
    let ok = parse_config("rate-down = \"10M\"\nrate-up = 512000\n").unwrap();
    assert_eq!(
        (ok.limits.rate_down, ok.limits.rate_up),
        (Some(10_000_000), Some(512_000))
    );
}

#[test]
fn config_files_are_read_with_a_size_limit() {
    let dir = temp_dir("big");
    let big = dir.join("big.toml");
    let mut text = "lan = \"eth1\"\n".to_string();
    text.push_str(&"# padding\n".repeat(120_000));
    std::fs::write(&big, &text).unwrap();
    let e = read_config_file(&big).unwrap_err().to_string();
    assert!(e.contains("larger than 1024 KiB"), "{e}");
    assert!(e.contains(&big.display().to_string()), "{e}");
    // A file that never ends is refused as quickly.
    let t = std::time::Instant::now();
    let e = read_config_file(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/dev/zero is larger than"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let e = Settings::resolve(run(&["--lan", "eth1", "--terms-file", "/dev/zero"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("terms file /dev/zero is larger than"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn radius_mac_auth_without_a_server_is_refused() {
    let e = Settings::resolve(run(&["--lan", "eth1", "--radius-mac-auth"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("radius-mac-auth needs radius-server"), "{e}");
    // Turned off explicitly, it needs nothing.
    assert!(Settings::resolve(run(&["--lan", "eth1", "--radius-mac-auth", "false"])).is_ok());
}

#[test]
fn the_users_file_is_found_as_the_daemon_finds_it() {
    let dir = temp_dir("users");
    let with_dir = dir.join("state.toml");
    std::fs::write(&with_dir, "state-dir = \"/srv/na\"\n").unwrap();
    let with_file = dir.join("users.toml");
    std::fs::write(
        &with_file,
        "state-dir = \"/srv/na\"\nusers-file = \"/etc/na/users\"\n",
    )
    .unwrap();
    let path = |users_file: Option<&str>, state_dir: Option<&str>, config: Option<&Path>| {
        // As `netauth user` builds it.
        let cli = RunArgs {
            users_file: users_file.map(PathBuf::from),
            state_dir: state_dir.map(PathBuf::from),
            config: config.map(Path::to_path_buf),
            ..Default::default()
        };
        let p = users_file_path(&cli).unwrap();
        // The daemon resolves the same file.
        let mut daemon = cli;
        daemon.lan = Some("eth1".into());
        let s = Settings::resolve(daemon).unwrap();
        assert_eq!(s.users_file, p);
        p
    };
    assert_eq!(path(None, None, None), Path::new("/var/lib/netauth/users"));
    assert_eq!(
        path(None, Some("/tmp/st"), None),
        Path::new("/tmp/st/users")
    );
    assert_eq!(
        path(None, None, Some(&with_dir)),
        Path::new("/srv/na/users")
    );
    assert_eq!(
        path(None, Some("/tmp/st"), Some(&with_dir)),
        Path::new("/tmp/st/users")
    );
    assert_eq!(
        path(None, None, Some(&with_file)),
        Path::new("/etc/na/users")
    );
    assert_eq!(
        path(Some("/tmp/u"), None, Some(&with_file)),
        Path::new("/tmp/u")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_errors_name_the_line_and_reason() {
    let e = parse_config("lan = \"eth1\"\nportal-prot = 80\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains("unknown field `portal-prot`"), "{msg}");
    assert!(msg.contains("did you mean `portal-port`?"), "{msg}");
    let e = parse_config("lan = \"eth1\"\n\nsession-timeout = \"forever\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("not a duration"), "{msg}");
    // A file does not name another file, and options are not tables.
    for text in ["config = \"/etc/other.toml\"\n", "[portal]\nport = 80\n"] {
        let msg = parse_config(text).unwrap_err().to_string();
        assert!(
            msg.contains("line 1") && msg.contains("unknown field"),
            "{msg}"
        );
    }
}

#[test]
fn every_option_is_a_config_key_and_a_bad_value_names_its_line() {
    let keys = config_keys();
    assert!(keys.len() > 40 && keys.iter().any(|k| k == "radius-server"));
    for key in keys {
        // No option takes a table: if this parses, no section reads the key.
        let text = format!("lan = \"eth1\"\n{key} = {{ bad = 1 }}\n");
        let msg = match parse_config(&text) {
            Ok(_) => panic!("{key}: no section reads it"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains("line 2"), "{key}: {msg}");
        assert!(!msg.contains("unknown field"), "{key}: {msg}");
    }
}

#[test]
fn radius_needs_servers_and_a_secret() {
    let base = ["--lan", "eth1", "--auth-method", "radius"];
    let with = |more: &[&str]| run(&[&base[..], more].concat());
    let e = Settings::resolve(with(&[])).unwrap_err().to_string();
    assert!(e.contains("radius-server"), "{e}");
    let e = Settings::resolve(with(&["--radius-server", "198.51.100.2"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("radius-secret-file"), "{e}");
    let s = Settings::resolve(with(&[
        "--radius-server",
        "198.51.100.2",
        "--radius-server",
        "198.51.100.3:11812",
        "--radius-secret-file",
        "/etc/netauth/radius.secret",
        "--trusted-mac",
        "02:00:00:00:00:09",
    ]))
    .unwrap();
    let r = s.radius.unwrap();
    assert_eq!(
        r.acct_servers,
        vec![
            "198.51.100.2:1813".parse::<SocketAddr>().unwrap(),
            "198.51.100.3:1813".parse().unwrap()
        ]
    );
    assert_eq!(s.trusted_macs.len(), 1);
    assert!(Settings::resolve(with(&["--trusted-mac", "02:00:00:00:00"])).is_err());
    let e = Settings::resolve(run(&["--lan", "eth1", "--das-client", "198.51.100.2"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("das-secret-file"), "{e}");
}

/// The intercept port never takes the portal's or the API's: a configuration from before
/// it existed that put the portal on 8081 still starts, and an explicit clash is refused.
#[test]
fn the_intercept_port_keeps_clear_of_the_portal_and_the_api() {
    let s = Settings::resolve(run(&["--lan", "eth1", "--portal-port", "8081"])).unwrap();
    assert_eq!(s.intercept_port, 8082);
    let e = Settings::resolve(run(&["--lan", "eth1", "--intercept-port", "8080"])).unwrap_err();
    assert!(
        format!("{e:#}").contains("intercept-port must differ"),
        "{e:#}"
    );
    let s = Settings::resolve(run(&["--lan", "eth1", "--intercept-port", "9000"])).unwrap();
    assert_eq!(s.intercept_port, 9000);
}

#[test]
fn command_line_overrides_file_over_defaults() {
    let dir = temp_dir("override");
    let path = dir.join("netauth.toml");
    std::fs::write(
        &path,
        "lan = \"eth1\"\nportal-port = 8081\nsession-timeout = \"2h\"\nquota = \"1G\"\nfwmark = \"0x00010000\"\n",
    )
    .unwrap();
    let s = Settings::resolve(run(&[
        "--config",
        &path.to_string_lossy(),
        "--portal-port",
        "9000",
    ]))
    .unwrap();
    assert_eq!(s.lan, "eth1");
    assert_eq!(s.portal_port, 9000);
    assert_eq!(s.session_timeout, Duration::from_secs(7200));
    assert_eq!(s.quota.total, Some(1_000_000_000));
    assert_eq!(s.fwmark, 0x10000);
    assert_eq!(s.route_table, DEFAULT_ROUTE_TABLE);
    assert_eq!(s.intercept_port, 8081);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_list_on_the_command_line_replaces_the_files_list() {
    let dir = temp_dir("lists");
    let path = dir.join("netauth.toml");
    std::fs::write(
        &path,
        "lan = \"eth1\"\ndns-server = [\"192.0.2.53\"]\nwalled-garden = [\"198.51.100.0/24\"]\n",
    )
    .unwrap();
    let config = path.to_string_lossy();
    let s = Settings::resolve(run(&["--config", &config, "--dns-server", "192.0.2.54"])).unwrap();
    assert_eq!(s.dns_servers, Some(vec!["192.0.2.54".parse().unwrap()]));
    assert_eq!(s.walled_garden.len(), 1, "the file's list stays");
    let s = Settings::resolve(run(&["--config", &config])).unwrap();
    assert_eq!(s.dns_servers, Some(vec!["192.0.2.53".parse().unwrap()]));
    // Nowhere given: the gateway's own addresses.
    assert_eq!(s.ntp_servers, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn defaults_apply_when_nothing_is_given() {
    let s = Settings::resolve(run(&["--lan", "eth1"])).unwrap();
    assert_eq!(s.portal_port, DEFAULT_PORTAL_PORT);
    assert_eq!(s.api_port, DEFAULT_API_PORT);
    assert_eq!(s.session_timeout, DEFAULT_SESSION_TIMEOUT);
    assert_eq!(s.venue_name, DEFAULT_VENUE);
    assert_eq!(s.terms, DEFAULT_TERMS);
    assert_eq!(s.xdp_mode, XdpMode::Auto);
    assert_eq!(s.admin_socket, Path::new(DEFAULT_ADMIN_SOCKET));
    assert_eq!(s.bpffs, Path::new(DEFAULT_BPFFS));
    assert!(s.bind_addresses);
    assert!(s.radius.is_none() && s.das.is_none());
}
