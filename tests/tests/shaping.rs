//! Per-client rate limits in the datapath, measured with real iperf3 TCP through the lab:
//! download shaped with earliest departure times and `fq` on the LAN interface, upload
//! policed at ingress; limits per session from the CLI and the admin API, changed on a
//! running session, and the LAN interface's own root qdisc put back on detach.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use netauth_common::api::{AdminClient, AllowRequest};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use netauth_lab::{
    Client, Lab, Ns, WEB_V4,
    radius::{self, FreeRadius, FreeRadiusConfig, RadiusClientDef},
    wait_until, web_addr,
};

/// iperf3 servers in the upstream namespace, one port per client (a server runs one test
/// at a time); killed on drop.
struct Servers(Vec<Child>);

impl Servers {
    fn start(up: &Ns, ports: &[u16]) -> Self {
        let servers = Servers(
            ports
                .iter()
                .map(|p| {
                    up.command("iperf3")
                        .args(["-s", "-p", &p.to_string()])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("iperf3 (apt install iperf3)")
                })
                .collect(),
        );
        let listening = wait_until(Duration::from_secs(5), || {
            let ss = up.sh("ss", &["-ltn"]).unwrap_or_default();
            ports.iter().all(|p| ss.contains(&format!(":{p} ")))
        });
        assert!(listening, "iperf3 servers did not start");
        servers
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TCP transfer between a client and the upstream's iperf3 on `port` for `secs`:
/// download (`reverse`) or upload; the receiver's rate in bit/s. `cap`: iperf3's own
/// pacing (`-b`), to keep an unlimited client from taking the lab's CPUs. The first second
/// runs before `secs` and is left out of the rate (`-O 1`): TCP's slow start against a
/// policer overshoots and then backs off, which at 3 Mbit/s over 5 s moved the figure by
/// 12% on its own. It is also the issue's "takes effect within 1 s" for a limit change.
/// Measured alone (see [`alone`]).
fn iperf(c: &Client, port: u16, reverse: bool, secs: u32, cap: Option<&str>) -> f64 {
    alone(|| transfer(c, port, reverse, secs, cap))
}

/// One transfer, not serialized: for the transfers [`together`] runs at once.
fn transfer(c: &Client, port: u16, reverse: bool, secs: u32, cap: Option<&str>) -> f64 {
    let mut cmd: Command = c.ns.command("iperf3");
    cmd.args(["-c", &WEB_V4.to_string(), "-p", &port.to_string(), "-J"])
        .args(["-t", &secs.to_string(), "-O", "1"]);
    if reverse {
        cmd.arg("-R");
    }
    if let Some(b) = cap {
        cmd.args(["-b", b]);
    }
    let out = cmd.output().expect("iperf3");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "iperf3 gave no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rate in iperf3's answer: {json}"))
}

/// Runs every transfer at the same time, and alone (see [`alone`]); their rates in order.
fn together(runs: Vec<Box<dyn FnOnce() -> f64 + Send>>) -> Vec<f64> {
    alone(|| {
        let handles: Vec<_> = runs.into_iter().map(std::thread::spawn).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The rate measurements of this file's tests, one at a time. The tests run in parallel,
/// and on a 2-CPU machine one test's 200 Mbit/s flow beside another's policed flow moved
/// the latter's figure to 89% of its limit (twice in CI); set-up still runs in parallel.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone<T>(f: impl FnOnce() -> T) -> T {
    let _turn = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    f()
}

/// The share of a limit that TCP payload can fill: the datapath counts IP bytes (as tc's
/// policers and shapers count their packets' length), while iperf3 reports payload, and a
/// full-size segment on the lab's 1500-byte MTU carries 1448 bytes of it (20 of IP, 20 of
/// TCP, 12 of the timestamp option). Every policed figure sat near 96.5% for that reason
/// alone, which left a 10% bound 6.5 points for TCP's own losses.
const PAYLOAD_SHARE: f64 = 1448.0 / 1500.0;

/// `got` (TCP payload, bit/s) within 10% of what a limit of `limit` bit/s of IP bytes
/// carries as payload.
fn assert_near(what: &str, got: f64, limit: f64) {
    let ratio = got / (limit * PAYLOAD_SHARE);
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{what}: {:.2} Mbit/s of payload against a limit of {:.2} Mbit/s of IP bytes \
         ({:.0}% of the {:.2} Mbit/s of payload the limit carries)",
        got / 1e6,
        limit / 1e6,
        ratio * 100.0,
        limit * PAYLOAD_SHARE / 1e6
    );
}

/// Frames as a wire carries them: TSO/GSO off on every client and on the upstream. Over a
/// veth, a sender's TCP otherwise hands over 64 KiB super-packets, which no Wi-Fi client puts
/// on the air and which the gateway's GRO does not build at these rates (a 1 Mbit/s flow's
/// frames arrive 12 ms apart, far apart for one NAPI poll); at 1 Mbit/s one of them is half a
/// second of the limit, so the policer could only pass or drop half-second chunks, and the
/// figures swung by 30%.
fn wire_frames(lab: &Lab) {
    for c in &lab.clients {
        c.ns.sh("ethtool", &["-K", "eth0", "tso", "off", "gso", "off"])
            .unwrap();
    }
    lab.up
        .sh("ethtool", &["-K", "up0", "tso", "off", "gso", "off"])
        .unwrap();
}

fn root_qdisc(lab: &Lab) -> String {
    lab.gw
        .sh("tc", &["qdisc", "show", "dev", "lan0", "root"])
        .unwrap()
}

#[test]
fn limited_clients_get_their_own_rates_an_unlimited_one_is_unaffected_and_detach_restores_the_qdisc()
 {
    let mut lab = Lab::new(4).unwrap();
    wire_frames(&lab);
    // The operator's own root qdisc, which netauth must put back as it was.
    lab.gw
        .sh(
            "tc",
            &[
                "qdisc", "replace", "dev", "lan0", "root", "handle", "1:", "pfifo", "limit", "77",
            ],
        )
        .unwrap();
    let before = root_qdisc(&lab);
    assert!(before.contains("pfifo 1: root"), "{before}");
    lab.start_netauth(&[]).unwrap();
    let (a, b, free, captive) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
        lab.clients[3].clone(),
    );
    assert!(
        !root_qdisc(&lab).contains("fq 4e41:"),
        "no limit yet: the interface keeps its qdisc"
    );

    // A: 10M down / 2M up from the CLI; B: 5M / 1M from the admin API (a number and a
    // string); the third unlimited; the fourth never signs in.
    let out = lab
        .daemon()
        .cli(&["allow", &a.mac, "--rate-down", "10M", "--rate-up", "2M"]);
    assert!(out.status.success(), "{out:?}");
    let admin = lab.daemon().admin();
    let v = AdminClient::block_on(admin.allow(&AllowRequest {
        mac: b.mac.clone(),
        rate_down: Some("5M".into()),
        rate_up: Some(1_000_000.into()),
        ..AllowRequest::default()
    }))
    .unwrap();
    assert_eq!(
        (v.rate_down_bps, v.rate_up_bps),
        (Some(5_000_000), Some(1_000_000))
    );
    assert!(lab.daemon().cli(&["allow", &free.mac]).status.success());
    // With the kernel's fq, netauth's fq is the root now; a kernel without it (this lab
    // machine's has CONFIG_NET_SCH_FQ off) keeps the qdisc and polices downloads.
    let with_fq = lab.daemon().log_text().contains("fq qdisc installed");
    if with_fq {
        assert!(
            root_qdisc(&lab).contains("fq 4e41: root"),
            "{}",
            root_qdisc(&lab)
        );
    } else {
        assert!(
            lab.daemon()
                .log_text()
                .contains("download limits are policed")
        );
        assert_eq!(root_qdisc(&lab), before);
    }
    eprintln!(
        "download limits {}",
        if with_fq { "shaped by fq" } else { "policed" }
    );

    // Bad input changes nothing.
    let out = lab.daemon().cli(&["limit", &a.mac, "--rate-down", "fast"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a rate"),
        "{out:?}"
    );
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(10_000_000), Some(2_000_000))
    );
    let list = String::from_utf8(lab.daemon().cli(&["sessions"]).stdout).unwrap();
    assert!(list.contains("RATE DOWN") && list.contains("10M"), "{list}");

    let _servers = Servers::start(&lab.up, &[5201, 5202, 5203]);
    let run = |c: &Client, port: u16, reverse: bool, secs: u32, cap: Option<&'static str>| {
        let c = c.clone();
        Box::new(move || transfer(&c, port, reverse, secs, cap)) as Box<dyn FnOnce() -> f64 + Send>
    };
    let down = together(vec![
        run(&a, 5201, true, 10, None),
        run(&b, 5202, true, 10, None),
        run(&free, 5203, true, 10, Some("200M")),
    ]);
    eprintln!(
        "download Mbit/s: {:?}",
        down.iter().map(|r| r / 1e6).collect::<Vec<_>>()
    );
    assert_near("A's download", down[0], 10e6);
    assert_near("B's download", down[1], 5e6);
    assert!(
        down[2] > 100e6,
        "the unlimited client: {} Mbit/s",
        down[2] / 1e6
    );

    let up = together(vec![
        run(&a, 5201, false, 10, None),
        run(&b, 5202, false, 10, None),
        run(&free, 5203, false, 10, Some("200M")),
    ]);
    eprintln!(
        "upload Mbit/s: {:?}",
        up.iter().map(|r| r / 1e6).collect::<Vec<_>>()
    );
    assert_near("A's upload", up[0], 2e6);
    assert_near("B's upload", up[1], 1e6);
    assert!(
        up[2] > 100e6,
        "the unlimited client: {} Mbit/s",
        up[2] / 1e6
    );
    assert!(
        !captive.connects(web_addr(false, 443)),
        "a never-signed-in client stays captive"
    );

    // A running session's limits change without ending it, and its traffic follows them.
    let started = lab.daemon().session(&a.mac).unwrap().started;
    let out = lab.daemon().cli(&["limit", &a.mac, "--rate-down", "4M"]);
    assert!(out.status.success(), "{out:?}");
    let (code, _) = AdminClient::block_on(admin.raw(
        "PATCH",
        &format!("/v1/sessions/{}", a.mac),
        Some(br#"{"rate_up":"1.5M"}"#.to_vec()),
    ))
    .unwrap();
    assert_eq!(code, 200);
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(s.started, started, "the same session");
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(4_000_000), Some(1_500_000))
    );
    // Over 10 s, as the issue measures limits (5 s is its window for a CoA, below): a
    // policer's TCP figure over 5 s at 4 Mbit/s still swung between 90% and 100%.
    let down = iperf(&a, 5201, true, 10, None);
    let up = iperf(&a, 5201, false, 10, None);
    eprintln!(
        "after the change: {:.2} down, {:.2} up (Mbit/s)",
        down / 1e6,
        up / 1e6
    );
    assert_near("A's download after the change", down, 4e6);
    assert_near("A's upload after the change", up, 1.5e6);
    // Garbage through the API: refused, nothing changed.
    let (code, _) = AdminClient::block_on(admin.raw(
        "PATCH",
        &format!("/v1/sessions/{}", a.mac),
        Some(br#"{"rate_down":"-1"}"#.to_vec()),
    ))
    .unwrap();
    assert_eq!(code, 400);
    assert_eq!(
        lab.daemon().session(&a.mac).unwrap().rate_down_bps,
        Some(4_000_000)
    );
    // The unlimited client, whose packets have been passing beside limited ones (the
    // datapath caches that it is not limited), gains a limit while signed in: the next
    // 5 s follow it.
    let out = lab.daemon().cli(&["limit", &free.mac, "--rate-down", "6M"]);
    assert!(out.status.success(), "{out:?}");
    let down = iperf(&free, 5203, true, 5, None);
    eprintln!("the formerly unlimited client: {:.2} Mbit/s", down / 1e6);
    assert_near("the formerly unlimited client's download", down, 6e6);
    let metrics = lab.daemon().metrics().unwrap();
    assert!(
        metrics.contains("netauth_rate_limited_sessions 3"),
        "{metrics}"
    );
    assert!(
        !captive.connects(web_addr(false, 443)),
        "a never-signed-in client stays captive"
    );

    // Detach puts the operator's qdisc back.
    let out = lab.daemon().cli(&["stop", "--detach"]);
    assert!(out.status.success(), "{out:?}");
    assert!(wait_until(Duration::from_secs(10), || !lab
        .daemon()
        .is_running()));
    let after = root_qdisc(&lab);
    assert_eq!(after, before, "the operator's qdisc, options and all");
}

#[test]
fn a_voucher_batch_limits_each_device_that_redeems_it_and_limits_survive_a_restart() {
    let mut lab = Lab::new(4).unwrap();
    wire_frames(&lab);
    // A default for sessions that set none of their own.
    let args = ["--auth-method", "voucher", "--rate-down", "3M"];
    lab.start_netauth(&args).unwrap();
    let (a, b, admin_allowed, captive) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
        lab.clients[3].clone(),
    );
    let out = lab.daemon().cli(&[
        "voucher",
        "create",
        "--duration",
        "1h",
        "--devices",
        "2",
        "--rate-down",
        "6M",
        "--rate-up",
        "1500k",
    ]);
    assert!(out.status.success(), "{out:?}");
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = lab.daemon().cli(&[
        "voucher",
        "create",
        "--duration",
        "1h",
        "--rate-down",
        "lots",
    ]);
    assert!(!out.status.success(), "garbage refused: {out:?}");
    for c in [&a, &b] {
        let r = c.login(&format!("accept=1&code={code}")).unwrap();
        assert_eq!(r.status, 303, "{r:?}");
        let s = lab.daemon().session(&c.mac).unwrap();
        assert_eq!(
            (s.rate_down_bps, s.rate_up_bps),
            (Some(6_000_000), Some(1_500_000))
        );
    }
    assert!(
        lab.daemon()
            .cli(&["allow", &admin_allowed.mac])
            .status
            .success()
    );
    let s = lab.daemon().session(&admin_allowed.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(3_000_000), None),
        "the default"
    );

    let _servers = Servers::start(&lab.up, &[5201, 5202, 5203]);
    let run = |c: &Client, port: u16| {
        let c = c.clone();
        Box::new(move || transfer(&c, port, true, 10, None)) as Box<dyn FnOnce() -> f64 + Send>
    };
    let down = together(vec![
        run(&a, 5201),
        run(&b, 5202),
        run(&admin_allowed, 5203),
    ]);
    eprintln!(
        "download Mbit/s: {:?}",
        down.iter().map(|r| r / 1e6).collect::<Vec<_>>()
    );
    assert_near("voucher device A", down[0], 6e6);
    assert_near("voucher device B", down[1], 6e6);
    assert_near("the default limit", down[2], 3e6);
    assert!(
        !captive.connects(web_addr(false, 443)),
        "never signed in: captive"
    );

    // A restart (pins and store) keeps every limit; without XDP the upload is policed at
    // TC ingress instead.
    lab.daemon().stop().unwrap();
    let no_xdp = [&args[..], &["--xdp-mode", "off"]].concat();
    lab.start_netauth(&no_xdp).unwrap();
    let s = lab.daemon().session(&a.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(6_000_000), Some(1_500_000))
    );
    let up = iperf(&a, 5201, false, 5, None);
    eprintln!("upload after a restart, TC only: {:.2} Mbit/s", up / 1e6);
    assert_near(
        "voucher device A's upload after a restart, TC only",
        up,
        1.5e6,
    );
    assert!(
        !captive.connects(web_addr(false, 443)),
        "never signed in: captive"
    );
}

const SECRET: &str = "t0p-s3cret-shared";
const GW_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

#[test]
fn radius_bandwidth_attributes_apply_at_login_and_a_coa_changes_them() {
    let mut lab = Lab::new(3).unwrap();
    wire_frames(&lab);
    // WISPr in bit/s for carol, ChilliSpot in kbit/s for dave.
    let users = "carol Cleartext-Password := \"c4rol\"\n\
\tWISPr-Bandwidth-Max-Down = 8000000, WISPr-Bandwidth-Max-Up = 1500000\n\
\n\
dave Cleartext-Password := \"d4ve\"\n\
\tChilliSpot-Bandwidth-Max-Down = 4000, ChilliSpot-Bandwidth-Max-Up = 1000\n";
    let _fr = FreeRadius::start(
        &lab.up,
        &lab.dir.join("radius"),
        &FreeRadiusConfig {
            listen: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            clients: vec![RadiusClientDef::new("gw", GW_WAN, SECRET)],
            users: users.into(),
            ..FreeRadiusConfig::default()
        },
    )
    .unwrap();
    let secret = lab.dir.join("radius.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    lab.start_netauth(&[
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret.to_string_lossy(),
        "--das-client",
        "198.51.100.2",
    ])
    .unwrap();
    let (c, d, captive) = (
        lab.clients[0].clone(),
        lab.clients[1].clone(),
        lab.clients[2].clone(),
    );
    for (client, form) in [
        (&c, "username=carol&password=c4rol"),
        (&d, "username=dave&password=d4ve"),
    ] {
        let r = client.login(&format!("accept=1&{form}")).unwrap();
        assert_eq!(r.status, 303, "{r:?}");
    }
    let s = lab.daemon().session(&c.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(8_000_000), Some(1_500_000))
    );
    let s = lab.daemon().session(&d.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(4_000_000), Some(1_000_000))
    );

    let _servers = Servers::start(&lab.up, &[5201, 5202]);
    let run = |cl: &Client, port: u16| {
        let cl = cl.clone();
        Box::new(move || transfer(&cl, port, true, 10, None)) as Box<dyn FnOnce() -> f64 + Send>
    };
    let down = together(vec![run(&c, 5201), run(&d, 5202)]);
    eprintln!(
        "download Mbit/s: {:?}",
        down.iter().map(|r| r / 1e6).collect::<Vec<_>>()
    );
    assert_near("carol (WISPr)", down[0], 8e6);
    assert_near("dave (ChilliSpot)", down[1], 4e6);

    // A CoA-Request from radclient: carol's download limit to 3 Mbit/s, her upload kept.
    let das = SocketAddr::new(IpAddr::V4(GW_WAN), 3799);
    let carol = c.mac.replace(':', "-").to_uppercase();
    let (code, _) = radius::radclient(
        &lab.up,
        das,
        "coa",
        SECRET,
        &[
            ("Calling-Station-Id", &carol),
            ("ChilliSpot-Bandwidth-Max-Down", "3000"),
        ],
    )
    .unwrap();
    assert_eq!(code, "CoA-ACK");
    let s = lab.daemon().session(&c.mac).unwrap();
    assert_eq!(
        (s.rate_down_bps, s.rate_up_bps),
        (Some(3_000_000), Some(1_500_000))
    );
    let down = iperf(&c, 5201, true, 5, None);
    eprintln!("carol after the CoA: {:.2} Mbit/s", down / 1e6);
    assert_near("carol after the CoA", down, 3e6);
    // A CoA with an unusable rate: NAK, nothing changed.
    let (code, _) = radius::radclient(
        &lab.up,
        das,
        "coa",
        SECRET,
        &[
            ("Calling-Station-Id", &carol),
            ("WISPr-Bandwidth-Max-Down", "10"),
        ],
    )
    .unwrap();
    assert_eq!(code, "CoA-NAK");
    assert_eq!(
        lab.daemon().session(&c.mac).unwrap().rate_down_bps,
        Some(3_000_000)
    );
    assert!(
        !captive.connects(web_addr(false, 443)),
        "never signed in: captive"
    );
}

/// The download's departure-time path (the lab machine's kernel has no `fq`, so the lab
/// tests above exercise the policer): netauth's own TC egress program, run with
/// BPF_PROG_TEST_RUN, gives a limited client's packets consecutive departure times one
/// packet's duration apart, leaves an unlimited client's alone, and drops beyond the 2 s
/// horizon.
#[test]
fn the_egress_program_gives_a_limited_clients_packets_departure_times() {
    use aya::{
        EbpfLoader,
        maps::{Array, HashMap, PerCpuHashMap, PerCpuValues},
        programs::{SchedClassifier, TestRun as _, TestRunOptions},
    };
    use netauth_common::{ClientRate, ClientUsage, MacKey};

    let bin = std::env::var_os("NETAUTH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| netauth_lab::workspace_root().join("target/release/netauth"));
    let object = std::fs::read(netauth_lab::bpf::object_path(&bin).unwrap()).unwrap();
    let pins = netauth_lab::Bpffs::mount(
        std::env::temp_dir().join(format!("netauth-edt-{}", std::process::id())),
    )
    .unwrap();
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(&pins.path)
        .load(&object)
        .unwrap();
    let tc: &mut SchedClassifier = ebpf
        .program_mut("netauth_tc_egress")
        .unwrap()
        .try_into()
        .unwrap();
    tc.load().unwrap();
    let (limited, free) = ([2, 0, 0, 0, 1, 0x0a], [2, 0, 0, 0, 1, 0x0b]);
    let nr_cpus = aya::util::nr_cpus().unwrap();
    let mut clients: PerCpuHashMap<_, MacKey, ClientUsage> =
        PerCpuHashMap::try_from(ebpf.take_map("NETAUTH_CLIENTS").unwrap()).unwrap();
    for mac in [limited, free] {
        let v = PerCpuValues::try_from(vec![ClientUsage::default(); nr_cpus]).unwrap();
        clients.insert(MacKey::new(mac), v, 0).unwrap();
    }
    let mut rates: HashMap<_, MacKey, ClientRate> =
        HashMap::try_from(ebpf.take_map("NETAUTH_RATES").unwrap()).unwrap();
    rates
        .insert(
            MacKey::new(limited),
            ClientRate::new(8_000_000, 0, false),
            0,
        )
        .unwrap();
    let mut any: Array<_, u32> =
        Array::try_from(ebpf.take_map("NETAUTH_RATES_ANY").unwrap()).unwrap();
    any.set(0, 1, 0).unwrap();
    // Every run on one CPU: the programs cache per CPU.
    let mut one = nix::sched::CpuSet::new();
    one.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &one).unwrap();

    // An IPv4/UDP frame of 1028 layer-3 bytes to `dst`: 1.028 ms at 8 Mbit/s.
    let frame = |dst: [u8; 6]| {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0x04, 0x04, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[203, 0, 113, 80, 192, 0, 2, 10]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x01, 0xbb, 0x30, 0x39, 0x03, 0xf0, 0, 0]);
        f.resize(14 + 1028, 0x5a);
        f
    };
    let tc: &SchedClassifier = ebpf
        .program("netauth_tc_egress")
        .unwrap()
        .try_into()
        .unwrap();
    // `struct __sk_buff` (192 bytes); `tstamp` is the u64 at offset 152.
    let run = |dst: [u8; 6], repeat: u32| {
        let data = frame(dst);
        let ctx_in = [0u8; 192];
        let mut ctx_out = [0u8; 192];
        let r = tc
            .test_run(TestRunOptions {
                data_in: Some(&data),
                ctx_in: Some(&ctx_in),
                ctx_out: Some(&mut ctx_out),
                repeat,
                ..Default::default()
            })
            .unwrap();
        let tstamp = u64::from_ne_bytes(ctx_out[152..160].try_into().unwrap());
        (r.return_value, tstamp)
    };
    let (r0, t0) = run(limited, 1);
    let (r1, t1) = run(limited, 1);
    let (r2, t2) = run(limited, 1);
    assert_eq!((r0, r1, r2), (0, 0, 0), "TC_ACT_OK");
    assert!(t0 > 0, "a departure time is set");
    assert_eq!(t1 - t0, 1_028_000, "one packet's duration at 8 Mbit/s");
    assert_eq!(t2 - t1, 1_028_000);
    let (r, t) = run(free, 1);
    assert_eq!(
        (r, t),
        (0, 0),
        "an unlimited client's packets are left alone"
    );
    // The unlimited client's "not limited" is cached per CPU under NETAUTH_RATES_ANY's
    // value (so it pays no rate lookup): an entry that appears without the value moving
    // is not seen on this CPU, and once the value moves (as the daemon moves it when a
    // client gains an entry) the next packet is limited.
    let free_rate = ClientRate::new(8_000_000, 0, false);
    rates.insert(MacKey::new(free), free_rate, 0).unwrap();
    assert_eq!(run(free, 1), (0, 0), "cached as unlimited");
    any.set(0, 3, 0).unwrap();
    let (r, t) = run(free, 1);
    assert_eq!(r, 0);
    assert!(
        t > 0,
        "after the value moved, the client's packet gets a departure time"
    );
    // ~1950 packets fill the 2 s horizon: the rest are dropped (TC_ACT_SHOT).
    let (r, _) = run(limited, 3000);
    assert_eq!(r, 2, "beyond the horizon: dropped");
    drop(ebpf);
    drop(pins);
}
