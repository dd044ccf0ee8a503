//! RFC 8910 provisioning against the real third-party software: each `netauth dhcp-config`
//! format is accepted as printed by its daemon (`dnsmasq --test`, `kea-dhcp4 -t`,
//! `kea-dhcp6 -t`, `radvd --configtest` where the installed radvd is new enough), and the
//! daemon serving it hands a real client (udhcpc, dhclient, dhclient -6) in another
//! namespace exactly the URI that netauth printed. Bad input fails with nothing on stdout.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use netauth_lab::{TempNs, netauth_bin, wait_until};
use serde_json::Value;

/// The API URI announced: a name (no address-literal warning), a port, and a comma, which
/// Kea would split a list at unless netauth escapes it.
const URI: &str = "https://portal.example.net:8443/api/captive?lan=1,2";
const UNRESTRICTED: &str = "urn:ietf:params:capport:unrestricted";
/// The server's side of the link; kea4, kea6 and radvd name it.
const SRV_IF: &str = "srv0";
const CLI_IF: &str = "cli0";

fn netauth(args: &[&str]) -> Output {
    Command::new(netauth_bin())
        .arg("dhcp-config")
        .args(args)
        .output()
        .expect("running netauth")
}

/// What `netauth dhcp-config ARGS` prints; it must succeed without a warning.
fn printed(args: &[&str]) -> String {
    let out = netauth(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dhcp-config {args:?}: {stderr}");
    assert!(stderr.is_empty(), "dhcp-config {args:?} warned: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// A directory of this test's files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("netauth-dhcp-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon or client this test started, killed (by its own pid) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server namespace and a client namespace joined by a veth: the server's side has
/// 192.0.2.1/24 and 2001:db8:1::1/64 (the subnets of the kea files' placeholders).
struct Link {
    srv: TempNs,
    cli: TempNs,
}

fn link(tag: &str) -> Link {
    let srv = TempNs::new(&format!("{tag}s")).unwrap();
    let cli = TempNs::new(&format!("{tag}c")).unwrap();
    netauth_lab::sh(
        "ip",
        &[
            "link", "add", SRV_IF, "netns", &srv.name, "type", "veth", "peer", "name", CLI_IF,
            "netns", &cli.name,
        ],
    )
    .unwrap();
    srv.ip(&["addr", "add", "192.0.2.1/24", "dev", SRV_IF])
        .unwrap();
    srv.ip(&["addr", "add", "2001:db8:1::1/64", "dev", SRV_IF, "nodad"])
        .unwrap();
    srv.ip(&["link", "set", SRV_IF, "up"]).unwrap();
    cli.ip(&["link", "set", CLI_IF, "up"]).unwrap();
    // udhcpc checks the UDP checksum, which a veth leaves to an offload that never happens.
    srv.sh("ethtool", &["-K", SRV_IF, "tx", "off"]).unwrap();
    // Kea and dhclient -6 bind to the link-local address, which comes with the carrier.
    for (ns, ifname) in [(&srv, SRV_IF), (&cli, CLI_IF)] {
        assert!(
            wait_until(Duration::from_secs(10), || {
                ns.ip(&["-6", "addr", "show", "dev", ifname, "scope", "link"])
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("fe80::"))
            }),
            "{ifname} has no link-local address"
        );
    }
    Link { srv, cli }
}

/// Starts `program args` in `ns` with its output in `dir/log` (Kea's pid and lock files in
/// `dir` too).
fn start(ns: &TempNs, dir: &Scratch, log: &str, program: &str, args: &[&str]) -> Proc {
    let out = std::fs::File::create(dir.0.join(log)).unwrap();
    let child = ns
        .command(program)
        .args(args)
        .env("KEA_PIDFILE_DIR", &dir.0)
        .env("KEA_LOCKFILE_DIR", &dir.0)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    Proc(child)
}

fn wait_for_log(dir: &Scratch, log: &str, what: &str) {
    assert!(
        wait_until(Duration::from_secs(15), || dir.read(log).contains(what)),
        "{log} never showed {what:?}:\n{}",
        dir.read(log)
    );
}

/// Runs udhcpc in `cli`, asking for option 114; the option's value as it arrived.
fn udhcpc_option_114(cli: &TempNs, dir: &Scratch) -> String {
    let script = dir.write(
        "udhcpc.sh",
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$opt114\" > {}/udhcpc.out\nexit 0\n",
            dir.0.display()
        ),
    );
    chmod_x(&script);
    let out = cli
        .command("udhcpc")
        .args([
            "-i", CLI_IF, "-f", "-q", "-n", "-t", "8", "-T", "1", "-O", "114", "-s",
        ])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "udhcpc got no lease: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = dir.read("udhcpc.out");
    let hex = hex.trim();
    assert!(!hex.is_empty(), "udhcpc got no option 114");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// Runs dhclient (`-6` when `v6`) in `cli` until it is bound, asking for the captive-portal
/// option (114, or 103 for DHCPv6); that option's value as dhclient passed it on.
fn dhclient_captive_portal(cli: &TempNs, dir: &Scratch, v6: bool) -> String {
    let (conf, var, flag) = if v6 {
        (
            "option dhcp6.captive-portal code 103 = text;\nalso request dhcp6.captive-portal;\n",
            "new_dhcp6_captive_portal=",
            "-6",
        )
    } else {
        (
            "option captive-portal code 114 = text;\nalso request captive-portal;\n",
            "new_captive_portal=",
            "-4",
        )
    };
    let conf = dir.write("dhclient.conf", conf);
    let out = dir.0.join("dhclient.out");
    let script = dir.write(
        "dhclient.sh",
        &format!(
            "#!/bin/sh\nenv >> {}.tmp && mv {0}.tmp {0}\n",
            out.display()
        ),
    );
    chmod_x(&script);
    let _client = Proc(
        cli.command("dhclient")
            .args([flag, "-d", "-1", "-cf"])
            .arg(&conf)
            .arg("-lf")
            .arg(dir.0.join("dhclient.leases"))
            .arg("-pf")
            .arg(dir.0.join("dhclient.pid"))
            .arg("-sf")
            .arg(&script)
            .arg(CLI_IF)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let bound = if v6 { "reason=BOUND6" } else { "reason=BOUND" };
    assert!(
        wait_until(Duration::from_secs(30), || {
            dir.read("dhclient.out").lines().any(|l| l == bound)
        }),
        "dhclient was not bound:\n{}",
        dir.read("dhclient.out")
    );
    let env = dir.read("dhclient.out");
    env.lines()
        .find_map(|l| l.strip_prefix(var))
        .unwrap_or_else(|| panic!("dhclient got no {var}:\n{env}"))
        .to_string()
}

fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// dnsmasq with the printed lines plus the LAN's ranges, serving the link's server side.
fn start_dnsmasq(l: &Link, dir: &Scratch, printed: &str) -> Proc {
    let conf = dir.write("dnsmasq.conf", printed);
    let check = Command::new("dnsmasq")
        .args(["--test", "-C"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "dnsmasq --test rejects what netauth printed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let p = start(
        &l.srv,
        dir,
        "dnsmasq.log",
        "dnsmasq",
        &[
            "--keep-in-foreground",
            "--log-facility=-",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            &format!("--conf-file={}", conf.display()),
            &format!("--interface={SRV_IF}"),
            "--bind-interfaces",
            "--dhcp-range=192.0.2.100,192.0.2.199",
            "--dhcp-range=2001:db8:1::100,2001:db8:1::1ff",
            &format!("--dhcp-leasefile={}/dnsmasq.leases", dir.0.display()),
            &format!("--pid-file={}/dnsmasq.pid", dir.0.display()),
        ],
    );
    wait_for_log(dir, "dnsmasq.log", "DHCPv6, IP range");
    p
}

#[test]
fn dnsmasq_serves_the_printed_uri_over_dhcpv4_and_dhcpv6() {
    let text = printed(&["--format", "dnsmasq", "--api-uri", URI]);
    let dir = Scratch::new("dnsmasq");
    let l = link("dm");
    let _server = start_dnsmasq(&l, &dir, &text);
    assert_eq!(udhcpc_option_114(&l.cli, &dir), URI);
    assert_eq!(dhclient_captive_portal(&l.cli, &dir, true), URI);
}

#[test]
fn unrestricted_reaches_a_client() {
    let text = printed(&["--format", "dnsmasq", "--unrestricted"]);
    let dir = Scratch::new("unrestricted");
    let l = link("un");
    let _server = start_dnsmasq(&l, &dir, &text);
    assert_eq!(udhcpc_option_114(&l.cli, &dir), UNRESTRICTED);
}

/// Kea with netauth's whole file as printed, checked with `-t` and then served with only
/// the lease store (and DUID) kept in memory, so the test writes nothing under /var/lib.
fn serve_kea(l: &Link, dir: &Scratch, v6: bool, text: &str) -> Proc {
    let (program, top, ready) = if v6 {
        ("kea-dhcp6", "Dhcp6", "DHCP6_STARTED")
    } else {
        ("kea-dhcp4", "Dhcp4", "DHCP4_STARTED")
    };
    let file = dir.write("kea.json", text);
    let check = l
        .srv
        .command(program)
        .arg("-t")
        .arg(&file)
        .env("KEA_PIDFILE_DIR", &dir.0)
        .env("KEA_LOCKFILE_DIR", &dir.0)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{program} -t rejects what netauth printed:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut v: Value = serde_json::from_str(text).unwrap();
    v[top]["lease-database"] = serde_json::json!({ "type": "memfile", "persist": false });
    if v6 {
        v[top]["server-id"] = serde_json::json!({ "type": "LLT", "persist": false });
    }
    let run = dir.write("kea-run.json", &v.to_string());
    let p = start(
        &l.srv,
        dir,
        "kea.log",
        program,
        &["-c", &run.to_string_lossy()],
    );
    wait_for_log(dir, "kea.log", ready);
    p
}

#[test]
fn kea4_file_is_accepted_and_served_to_dhclient() {
    let text = printed(&["--format", "kea4", "--interface", SRV_IF, "--api-uri", URI]);
    let dir = Scratch::new("kea4");
    let l = link("k4");
    let _server = serve_kea(&l, &dir, false, &text);
    assert_eq!(dhclient_captive_portal(&l.cli, &dir, false), URI);
}

#[test]
fn kea6_file_is_accepted_and_served_to_dhclient() {
    let text = printed(&["--format", "kea6", "--interface", SRV_IF, "--api-uri", URI]);
    let dir = Scratch::new("kea6");
    let l = link("k6");
    let _server = serve_kea(&l, &dir, true, &text);
    assert_eq!(dhclient_captive_portal(&l.cli, &dir, true), URI);
}

#[test]
fn kea_snippets_carry_both_options() {
    let v: Value = serde_json::from_str(&printed(&["--format", "kea", "--api-uri", URI])).unwrap();
    let escaped = URI.replace(',', "\\,");
    assert_eq!(v["Dhcp4"]["option-data"][0]["code"], 114);
    assert_eq!(v["Dhcp4"]["option-data"][0]["data"], escaped.as_str());
    assert_eq!(v["Dhcp6"]["option-data"][0]["code"], 103);
    assert_eq!(v["Dhcp6"]["option-data"][0]["data"], escaped.as_str());
}

/// The installed radvd's version, as (major, minor).
fn radvd_version() -> Option<(u32, u32)> {
    let out = Command::new("radvd").arg("--version").output().ok()?;
    // radvd 2.19 prints its version on stderr.
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    let v = text.lines().find_map(|l| l.strip_prefix("Version: "))?;
    let mut parts = v.trim().split('.').map(|p| p.parse().ok());
    Some((parts.next()??, parts.next()??))
}

#[test]
fn radvd_block_says_which_radvd_it_needs() {
    let text = printed(&["--format", "radvd", "--interface", SRV_IF, "--api-uri", URI]);
    assert!(text.contains(&format!("interface {SRV_IF}\n{{")), "{text}");
    assert!(
        text.contains(&format!("AdvCaptivePortalAPI \"{URI}\";")),
        "{text}"
    );
    assert!(text.contains("radvd 2.20 or later"), "{text}");
    let dir = Scratch::new("radvd");
    let configtest = |name: &str, text: &str| {
        let conf = dir.write(name, text);
        let out = Command::new("radvd")
            .args(["--configtest", "-C"])
            .arg(&conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    match radvd_version() {
        Some(v) if v >= (2, 20) => {
            let (ok, stderr) = configtest("radvd.conf", &text);
            assert!(
                ok,
                "radvd --configtest rejects what netauth printed: {stderr}"
            );
        }
        Some((major, minor)) => {
            eprintln!(
                "skipped: radvd --configtest: the installed radvd {major}.{minor} is older \
                 than 2.20, which added AdvCaptivePortalAPI"
            );
            // What the note is for: this radvd takes the block but for the option.
            let without: String = text
                .lines()
                .filter(|l| !l.contains("AdvCaptivePortalAPI"))
                .map(|l| format!("{l}\n"))
                .collect();
            let (ok, stderr) = configtest("without.conf", &without);
            assert!(ok, "radvd {major}.{minor} rejects the block: {stderr}");
            let (ok, _) = configtest("radvd.conf", &text);
            assert!(!ok, "radvd {major}.{minor} took AdvCaptivePortalAPI");
        }
        None => eprintln!("skipped: radvd --configtest: radvd is not installed"),
    }
}

#[test]
fn an_address_literal_is_printed_with_a_warning() {
    for (args, literal) in [
        (
            ["--api-uri", "https://192.0.2.1:8443/api/captive"],
            "192.0.2.1",
        ),
        (["--hostname", "2001:db8::1"], "2001:db8::1"),
    ] {
        let out = netauth(&[&["--format", "dnsmasq"][..], &args[..]].concat());
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stdout.contains("dhcp-option=114,\"https://"), "{stdout}");
        assert!(stdout.contains(literal), "{stdout}");
        assert!(
            stderr.contains("warning") && stderr.contains("address literal"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(literal), "{stderr}");
    }
}

#[test]
fn bad_input_is_refused_with_nothing_printed() {
    let cases: &[(&[&str], &str)] = &[
        (&["--format", "dnsmasq", "--api-uri", "portal"], "not a URI"),
        (
            &[
                "--format",
                "dnsmasq",
                "--api-uri",
                "http://portal.example.net/api",
            ],
            "https",
        ),
        (
            &[
                "--format",
                "dnsmasq",
                "--api-uri",
                "https://portal.example.net/a b",
            ],
            "percent-encoded",
        ),
        (
            &["--format", "bind9", "--hostname", "portal.example.net"],
            "bind9",
        ),
        (&["--format", "kea4", "--api-uri", URI], "--interface"),
        (
            &[
                "--format",
                "dnsmasq",
                "--interface",
                SRV_IF,
                "--api-uri",
                URI,
            ],
            "--interface",
        ),
        (
            &[
                "--format",
                "radvd",
                "--interface",
                "lan0;x",
                "--api-uri",
                URI,
            ],
            "interface name",
        ),
        (&["--format", "dnsmasq"], "--api-uri"),
        (
            &["--format", "dnsmasq", "--unrestricted", "--api-uri", URI],
            "cannot be used with",
        ),
    ];
    for (args, says) in cases {
        let out = netauth(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
