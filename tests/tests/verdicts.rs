//! The kernel's verdicts against the model of the policy (`netauth_lab::policy`).
//!
//! Loads the real eBPF object the build produced (globals set as the daemon sets them),
//! fills its maps from the same description of a small network the model decides from,
//! and runs frames through `netauth_xdp` and `netauth_tc_ingress` with BPF_PROG_TEST_RUN:
//! a systematic grid (link tags, IPv4 options and fragments, IPv6 extension-header
//! chains, TCP/UDP/ICMP/ICMPv6 kinds, destinations, ports, senders, source addresses),
//! hand-made malformed frames, and random mutations of grid frames (fixed seed). Every
//! verdict must equal the model's; a reset must be a proper TCP RST to the sender; and the
//! address bindings the kernel learns must be the ones the model learns.
//!
//! State: each grid or mutated frame is judged from the same starting state. After every
//! run the kernel's maps are put back (bindings, the clients' per-CPU entries, address
//! records), so frames are independent and any failure can be replayed alone; the
//! binding a frame creates is compared with the model's before it is undone. A second
//! phase runs scripted sequences without that reset: there the model's state evolves
//! (`State::apply`) as the kernel's does, with the daemon's own binding changes in
//! between.
//!
//! Captive plain HTTP is steered by rewriting it to the portal's address and intercept
//! port: such a frame must come out rewritten exactly there, checksums right (an IPv4
//! fragment, which cannot be steered whole, is dropped). Runs in a fresh network namespace
//! on one CPU (the kernel keeps per-CPU state).
//! BPF_PROG_TEST_RUN refuses frames shorter than 14 bytes, and for TC also a bare
//! Ethernet header and an IP ethertype without a whole IP header: such frames are only
//! checked under XDP (the counts are printed).
//!
//! Any disagreement fails the test, printed with the frame in hex, except the few in
//! [`tolerated`]: places where the kernel departs from the policy's wording harmlessly,
//! reported in the output but not failing.
//!
//! `NETAUTH_VERDICTS_DUMP=FILE` writes every disagreement to FILE, one a line.

use std::{
    collections::{BTreeMap, HashMap as StdHashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd as _, AsRawFd as _},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{
        HashMap, IterableMap as _, LpmTrie, MapData, PerCpuHashMap, PerCpuValues, lpm_trie::Key,
    },
    programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp},
};
use netauth_common::{AddrOwner, ClientUsage, GatewayPort, IpKey, MacKey, client_flags};
use netauth_lab::{
    Bpffs, TempNs, bpf,
    frames::{
        Arp, Eth, Ext, Icmp, Ipv4, Ipv6, L4, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, Tag, Tcp,
        hex, l4_checksum_ok,
    },
    net::inet_checksum,
    policy::{self, Client, Decision, Expected, Hook, Mac, Owner, State, canonical, infra},
};

// ---------------------------------------------------------------------------------------
// The network: one description, from which both the model's state and the kernel's maps
// are filled.

const GW_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
/// Authorized, held to its addresses.
const STRICT: Mac = [0x02, 0, 0, 0, 0x01, 0x10];
/// Authorized, exempt from address binding.
const EXEMPT: Mac = [0x02, 0, 0, 0, 0x01, 0x11];
/// Not authorized.
const CAPTIVE: Mac = [0x02, 0, 0, 0, 0x01, 0x12];
/// Another authorized device (holds some addresses).
const OTHER: Mac = [0x02, 0, 0, 0, 0x01, 0x13];
/// A device that used some addresses before (never signs in here).
const PREVIOUS: Mac = [0x02, 0, 0, 0, 0x01, 0x14];

const PORTAL_PORT: u16 = 8080;
const API_PORT: u16 = 8443;
const INTERCEPT_PORT: u16 = 8081;
/// `--gateway-allow` services.
const ALLOWED_TCP: u16 = 22;
const ALLOWED_UDP: u16 = 1194;
const PORTS: [u16; 10] = [
    53,
    67,
    80,
    123,
    443,
    547,
    PORTAL_PORT,
    API_PORT,
    ALLOWED_TCP,
    ALLOWED_UDP,
];

fn lan4(host: u8) -> [u8; 4] {
    [192, 0, 2, host]
}

fn lan6(host: u8) -> [u8; 16] {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(host)).octets()
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("IPv6 literal").octets()
}

const GW4: [u8; 4] = [192, 0, 2, 1];
const DNS4: [u8; 4] = [198, 51, 100, 53];
const NTP4: [u8; 4] = [198, 51, 100, 123];
const DHCP4: [u8; 4] = [192, 0, 2, 2];
const WALLED4: [u8; 4] = [203, 0, 113, 10];
const INTERNET4: [u8; 4] = [203, 0, 113, 200];

/// Source addresses by what the network knows of them: (name, host part). The same host
/// part is used in 192.0.2.0/24 and 2001:db8:1::/64.
const SOURCES: [(&str, u8); 8] = [
    ("bound to the strict device", 10),
    ("bound to the exempt device", 11),
    ("bound to another device", 13),
    ("unbound, used by the strict device before login", 20),
    ("unbound, used by the strict device long ago", 21),
    ("unbound, used by another device just now", 22),
    ("unbound, used by another device long ago", 23),
    ("unbound, never used", 30),
];
const BOUND_HOST: u8 = 10;
const FREE_HOST: u8 = 30;
/// The captive device's own address.
const CAPTIVE_HOST: u8 = 50;

/// How the kernel is configured.
#[derive(Clone, Copy, Debug)]
struct Config {
    strict: bool,
    xdp_attached: bool,
}

impl Config {
    const ALL: [Config; 4] = [
        Config {
            strict: true,
            xdp_attached: true,
        },
        Config {
            strict: true,
            xdp_attached: false,
        },
        Config {
            strict: false,
            xdp_attached: true,
        },
        Config {
            strict: false,
            xdp_attached: false,
        },
    ];

    fn name(&self) -> String {
        format!(
            "bind {}, XDP {}",
            if self.strict { "strict" } else { "off" },
            if self.xdp_attached {
                "attached"
            } else {
                "off (TC counts ingress)"
            }
        )
    }

    /// The programs that see a frame, in order: XDP runs only where it is attached.
    fn hooks(&self) -> &'static [Hook] {
        if self.xdp_attached {
            &[Hook::Xdp, Hook::TcIngress]
        } else {
            &[Hook::TcIngress]
        }
    }
}

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn ip6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

/// The network's starting state.
fn network(cfg: Config) -> State {
    let mut s = State {
        portal_port: PORTAL_PORT,
        api_port: API_PORT,
        strict: cfg.strict,
        xdp_attached: cfg.xdp_attached,
        ..State::default()
    };
    s.clients.insert(STRICT, Client { exempt: false });
    s.clients.insert(EXEMPT, Client { exempt: true });
    s.clients.insert(OTHER, Client { exempt: false });
    for fam in [ip4h as fn(u8) -> IpAddr, ip6h] {
        s.bindings.insert(fam(10), STRICT);
        s.bindings.insert(fam(11), EXEMPT);
        s.bindings.insert(fam(13), OTHER);
        for (host, mac, stale) in [
            (20, STRICT, false),
            (21, STRICT, true),
            (22, PREVIOUS, false),
            (23, PREVIOUS, true),
        ] {
            s.owners.insert(fam(host), Owner { mac, stale });
        }
    }
    use infra::{DHCP, DNS, GATEWAY, NTP};
    for (ip, flags) in [
        (ip4(GW4), GATEWAY | DNS | DHCP | NTP),
        (ip4(DNS4), DNS),
        (ip4(NTP4), NTP),
        (ip4(DHCP4), DHCP),
        (ip6(lan6(1)), GATEWAY),
        (ip6(v6("fe80::1")), GATEWAY),
        (ip6(v6("2001:db8:2::53")), DNS),
        (ip6(v6("2001:db8:2::123")), NTP),
        (ip6(lan6(2)), DHCP),
    ] {
        s.infra.insert(ip, flags);
    }
    // The gateway's own addresses are in the walled garden too: that must not open
    // every port on them.
    s.walled = vec![
        (ip4([203, 0, 113, 0]), 25),
        (ip4(GW4), 32),
        (ip6(v6("2001:db8:3:1::")), 64),
        (ip6(lan6(1)), 128),
    ];
    s.gateway_allow.insert((6, ALLOWED_TCP));
    s.gateway_allow.insert((17, ALLOWED_UDP));
    s
}

fn ip4h(host: u8) -> IpAddr {
    ip4(lan4(host))
}

fn ip6h(host: u8) -> IpAddr {
    ip6(lan6(host))
}

fn key(ip: IpAddr) -> IpKey {
    match canonical(ip) {
        IpAddr::V4(a) => IpKey::from_v4(a.octets()),
        IpAddr::V6(a) => IpKey::from_v6(a.octets()),
    }
}

fn key_ip(k: &IpKey) -> IpAddr {
    canonical(IpAddr::V6(Ipv6Addr::from(k.addr)))
}

/// CLOCK_MONOTONIC_COARSE, the clock of the kernel's `bpf_ktime_get_coarse_ns`.
fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ---------------------------------------------------------------------------------------
// The kernel side.

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;
const TC_ACT_REDIRECT: u32 = 7;

fn ret_name(hook: Hook, ret: u32) -> String {
    match (hook, ret) {
        (Hook::Xdp, XDP_DROP) => "XDP_DROP".into(),
        (Hook::Xdp, XDP_PASS) => "XDP_PASS".into(),
        (Hook::TcIngress, TC_ACT_OK) => "TC_ACT_OK".into(),
        (Hook::TcIngress, TC_ACT_SHOT) => "TC_ACT_SHOT".into(),
        (Hook::TcIngress, TC_ACT_REDIRECT) => "TC_ACT_REDIRECT".into(),
        (_, r) => format!("return {r}"),
    }
}

/// What the program must return for the model's answer (TC passes plain HTTP on,
/// rewritten to the portal; see [`check_steered`]).
fn expected_ret(hook: Hook, e: Expected) -> u32 {
    match (hook, e) {
        (Hook::Xdp, Expected::Drop) => XDP_DROP,
        (Hook::Xdp, _) => XDP_PASS,
        (Hook::TcIngress, Expected::Pass | Expected::SteerOrDrop) => TC_ACT_OK,
        (Hook::TcIngress, Expected::Drop) => TC_ACT_SHOT,
        (Hook::TcIngress, Expected::Reset) => TC_ACT_REDIRECT,
    }
}

/// Address records are older than this many ns when "long ago".
const STALE_AGE_NS: u64 = 120_000_000_000;

/// One load of the object, with its maps.
struct Kernel {
    ebpf: Ebpf,
    clients: PerCpuHashMap<MapData, MacKey, ClientUsage>,
    bindings: HashMap<MapData, IpKey, MacKey>,
    addrs: HashMap<MapData, IpKey, AddrOwner>,
    /// The binding epoch, bumped as the daemon does whenever a binding is taken away.
    epoch: aya::maps::Array<MapData, u32>,
    nr_cpus: usize,
    /// The address records as last written, and when.
    addrs_written: BTreeMap<[u8; 16], AddrOwner>,
    stamped: Instant,
}

impl Kernel {
    fn load(object: &[u8], pins: &Path, cfg: Config, state: &State) -> anyhow::Result<Self> {
        std::fs::create_dir_all(pins)?;
        let portal_v4: [u8; 4] = GW4;
        let portal_v6: [u8; 16] = lan6(1);
        let (port, api, intercept) = (PORTAL_PORT, API_PORT, INTERCEPT_PORT);
        let tc_counts_ingress = u8::from(!cfg.xdp_attached);
        let strict = u8::from(cfg.strict);
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(pins)
            // Smaller than the daemon's (capacity plays no part in the policy): the test
            // reads these maps after every run, and reading a hash map walks all its
            // buckets, 262144 of them for the bindings.
            .map_max_entries("NETAUTH_BINDINGS", 1024)
            .map_max_entries("NETAUTH_CLIENT_ADDRS", 4096)
            .override_global("NETAUTH_PORTAL_V4", &portal_v4, true)
            .override_global("NETAUTH_PORTAL_V6", &portal_v6, true)
            .override_global("NETAUTH_PORTAL_PORT", &port, true)
            .override_global("NETAUTH_API_PORT", &api, true)
            .override_global("NETAUTH_INTERCEPT_PORT", &intercept, true)
            .override_global("NETAUTH_TC_COUNTS_INGRESS", &tc_counts_ingress, true)
            .override_global("NETAUTH_BIND_STRICT", &strict, true)
            .load(object)
            .context("loading the eBPF object")?;
        let xdp: &mut Xdp = ebpf
            .program_mut("netauth_xdp")
            .context("no netauth_xdp")?
            .try_into()?;
        xdp.load().context("verifier rejected netauth_xdp")?;
        let tc: &mut SchedClassifier = ebpf
            .program_mut("netauth_tc_ingress")
            .context("no netauth_tc_ingress")?
            .try_into()?;
        tc.load().context("verifier rejected netauth_tc_ingress")?;

        let mut take = |name: &str| {
            ebpf.take_map(name)
                .with_context(|| format!("map {name} missing"))
        };
        let clients = PerCpuHashMap::try_from(take("NETAUTH_CLIENTS")?)?;
        let bindings = HashMap::try_from(take("NETAUTH_BINDINGS")?)?;
        let addrs = HashMap::try_from(take("NETAUTH_CLIENT_ADDRS")?)?;
        let mut epoch: aya::maps::Array<MapData, u32> =
            aya::maps::Array::try_from(take("NETAUTH_BIND_EPOCH")?)?;
        epoch.set(0, 1, 0)?;
        let mut infra_map: HashMap<MapData, IpKey, u32> =
            HashMap::try_from(take("NETAUTH_INFRA")?)?;
        let mut allow: HashMap<MapData, GatewayPort, u8> =
            HashMap::try_from(take("NETAUTH_GATEWAY_ALLOW")?)?;
        let mut walled4: LpmTrie<MapData, [u8; 4], u8> =
            LpmTrie::try_from(take("NETAUTH_WALLED_V4")?)?;
        let mut walled6: LpmTrie<MapData, [u8; 16], u8> =
            LpmTrie::try_from(take("NETAUTH_WALLED_V6")?)?;
        for (ip, flags) in &state.infra {
            infra_map.insert(key(*ip), *flags, 0)?;
        }
        for &(proto, port) in &state.gateway_allow {
            allow.insert(
                GatewayPort {
                    proto,
                    _pad: 0,
                    port,
                },
                1,
                0,
            )?;
        }
        for &(net, len) in &state.walled {
            match net {
                IpAddr::V4(a) => walled4.insert(&Key::new(u32::from(len), a.octets()), 1, 0)?,
                IpAddr::V6(a) => walled6.insert(&Key::new(u32::from(len), a.octets()), 1, 0)?,
            }
        }
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
        let mut k = Kernel {
            ebpf,
            clients,
            bindings,
            addrs,
            epoch,
            nr_cpus,
            addrs_written: BTreeMap::new(),
            stamped: Instant::now(),
        };
        k.set_clients(state)?;
        k.sync_bindings(state)?;
        k.stamp_addrs(state)?;
        Ok(k)
    }

    /// Writes every client afresh (the per-CPU entries start with empty caches).
    fn set_clients(&mut self, state: &State) -> anyhow::Result<()> {
        let existing: Vec<MacKey> = self.clients.keys().collect::<Result<_, _>>()?;
        for k in existing {
            if !state.clients.contains_key(&k.addr) {
                self.clients.remove(&k)?;
            }
        }
        for (mac, c) in &state.clients {
            let slot = ClientUsage {
                flags: if c.exempt {
                    client_flags::EXEMPT_BINDING
                } else {
                    0
                },
                ..ClientUsage::default()
            };
            let values = PerCpuValues::try_from(vec![slot; self.nr_cpus])?;
            self.clients.insert(MacKey::new(*mac), values, 0)?;
        }
        Ok(())
    }

    fn read_bindings(&self) -> anyhow::Result<BTreeMap<[u8; 16], Mac>> {
        let fd = self.bindings.map().fd().as_fd().as_raw_fd();
        Ok(bpf::map_lookup_batch(fd, 16, 8)?
            .into_iter()
            .map(|(k, v)| {
                (
                    k[..16].try_into().expect("16"),
                    v[..6].try_into().expect("6"),
                )
            })
            .collect())
    }

    /// Makes the binding map equal `state`'s; whether anything had to change.
    fn sync_bindings(&mut self, state: &State) -> anyhow::Result<bool> {
        let want = bindings_of(state);
        let have = self.read_bindings()?;
        if want == have {
            return Ok(false);
        }
        for k in have.keys() {
            if !want.contains_key(k) {
                self.bindings.remove(&IpKey { addr: *k })?;
            }
        }
        for (k, mac) in &want {
            if have.get(k) != Some(mac) {
                self.bindings
                    .insert(IpKey { addr: *k }, MacKey::new(*mac), 0)?;
            }
        }
        // Bindings were taken away or changed hands: cached sources are stale.
        self.bump_epoch()?;
        Ok(true)
    }

    /// What the daemon does when it takes an address from a device (`Datapath::bind`
    /// replacing another device's binding, `Datapath::unbind`).
    fn bump_epoch(&mut self) -> anyhow::Result<()> {
        let e = self.epoch.get(&0, 0)?;
        self.epoch.set(0, e.wrapping_add(1) | 1, 0)?;
        Ok(())
    }

    /// Writes every address record, "just now" ones stamped now.
    fn stamp_addrs(&mut self, state: &State) -> anyhow::Result<()> {
        let now = coarse_now_ns();
        assert!(
            now > STALE_AGE_NS,
            "the machine must be up for a few minutes"
        );
        self.addrs_written.clear();
        for (ip, o) in &state.owners {
            let v = AddrOwner {
                mac: o.mac,
                _pad: [0; 2],
                seen_ns: if o.stale { now - STALE_AGE_NS } else { now },
            };
            self.addrs_written.insert(key(*ip).addr, v);
        }
        self.stamped = Instant::now();
        self.sync_addrs()
    }

    /// Puts the address records back as last written (the TC program records what
    /// captive devices use).
    fn sync_addrs(&mut self) -> anyhow::Result<()> {
        if self.stamped.elapsed() > Duration::from_secs(10) {
            // "Just now" must stay well inside the kernel's one-minute window.
            let owners: Vec<([u8; 16], AddrOwner)> =
                self.addrs_written.iter().map(|(k, v)| (*k, *v)).collect();
            let now = coarse_now_ns();
            let stale_cut = now - STALE_AGE_NS / 2;
            for (k, v) in owners {
                let fresh = v.seen_ns > stale_cut;
                self.addrs_written.insert(
                    k,
                    AddrOwner {
                        seen_ns: if fresh { now } else { now - STALE_AGE_NS },
                        ..v
                    },
                );
            }
            self.stamped = Instant::now();
        }
        let fd = self.addrs.map().fd().as_fd().as_raw_fd();
        let have: BTreeMap<[u8; 16], AddrOwner> = bpf::map_lookup_batch(fd, 16, 16)?
            .into_iter()
            .map(|(k, v)| {
                let owner = AddrOwner {
                    mac: v[..6].try_into().expect("6"),
                    _pad: [v[6], v[7]],
                    seen_ns: u64::from_ne_bytes(v[8..16].try_into().expect("8")),
                };
                (k[..16].try_into().expect("16"), owner)
            })
            .collect();
        for k in have.keys() {
            if !self.addrs_written.contains_key(k) {
                self.addrs.remove(&IpKey { addr: *k })?;
            }
        }
        for (k, v) in &self.addrs_written {
            if have.get(k) != Some(v) {
                self.addrs.insert(IpKey { addr: *k }, *v, 0)?;
            }
        }
        Ok(())
    }

    /// Runs the program on `frame`: its return value and the frame as it left. `None`:
    /// BPF_PROG_TEST_RUN refuses the frame (an skb needs more than the Ethernet header,
    /// and a whole IP header for an IP ethertype).
    fn run(&self, hook: Hook, frame: &[u8]) -> anyhow::Result<Option<(u32, Vec<u8>)>> {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: 1,
            ..Default::default()
        };
        let r = match hook {
            Hook::Xdp => {
                let p: &Xdp = self
                    .ebpf
                    .program("netauth_xdp")
                    .context("no netauth_xdp")?
                    .try_into()?;
                p.test_run(opts)
            }
            Hook::TcIngress => {
                let p: &SchedClassifier = self
                    .ebpf
                    .program("netauth_tc_ingress")
                    .context("no netauth_tc_ingress")?
                    .try_into()?;
                p.test_run(opts)
            }
        };
        let r = match r {
            Ok(r) => r,
            Err(aya::programs::ProgramError::SyscallError(e))
                if hook == Hook::TcIngress && e.io_error.raw_os_error() == Some(libc::EINVAL) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("BPF_PROG_TEST_RUN of {hook:?} on\n{}", hex(frame)));
            }
        };
        out.truncate(r.data_size_out as usize);
        Ok(Some((r.return_value, out)))
    }
}

fn bindings_of(state: &State) -> BTreeMap<[u8; 16], Mac> {
    state
        .bindings
        .iter()
        .map(|(ip, mac)| (key(*ip).addr, *mac))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Checking one run.

/// A run whose outcome differs from the model's.
struct Disagreement {
    config: String,
    hook: Hook,
    case: String,
    frame: Vec<u8>,
    decision: Decision,
    actual: String,
    /// The binding the kernel created.
    kernel_binds: Option<(IpAddr, Mac)>,
    problem: String,
}

impl Disagreement {
    /// What kind of disagreement this is, to group many of one kind.
    fn kind(&self) -> String {
        format!(
            "{:?}: model {:?} ({}), kernel {}: {}",
            self.hook,
            self.decision.expected,
            self.decision.reason,
            self.actual,
            self.problem.split(':').next().unwrap_or("")
        )
    }
}

/// Compares one run with the model's decision; the problems found.
fn check(
    hook: Hook,
    frame: &[u8],
    d: &Decision,
    ret: u32,
    out: &[u8],
    learned: Option<(IpAddr, Mac)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let steer = hook == Hook::TcIngress && d.expected == Expected::SteerOrDrop;
    // A fragment cannot be steered whole (its other parts would go on), nor a frame cut
    // inside its TCP header (no checksum field to update): dropped.
    let unsteerable_dropped = steer && ret == TC_ACT_SHOT && unsteerable(frame);
    if ret != expected_ret(hook, d.expected) && !unsteerable_dropped {
        problems.push(format!(
            "verdict: expected {}",
            ret_name(hook, expected_ret(hook, d.expected))
        ));
    }
    if steer
        && ret == TC_ACT_OK
        && let Err(e) = check_steered(frame, out)
    {
        problems.push(format!("steering: {e}"));
    }
    // Any reset sent must be a proper one, expected or not.
    if hook == Hook::TcIngress
        && ret == TC_ACT_REDIRECT
        && let Err(e) = check_reset(frame, out)
    {
        problems.push(format!("reset: {e}"));
    }
    let model = d.binds.map(|(ip, mac)| (canonical(ip), mac));
    if learned != model {
        problems.push(format!(
            "binding: kernel bound {}, model {}",
            show_binding(learned),
            show_binding(model)
        ));
    }
    problems
}

fn show_binding(b: Option<(IpAddr, Mac)>) -> String {
    match b {
        Some((ip, mac)) => format!("{ip} to {}", show_mac(mac)),
        None => "nothing".into(),
    }
}

fn show_mac(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What changed in the binding map: at most one new binding is expected.
fn learned(
    before: &BTreeMap<[u8; 16], Mac>,
    after: &BTreeMap<[u8; 16], Mac>,
) -> Result<Option<(IpAddr, Mac)>, String> {
    let mut changes = after
        .iter()
        .filter(|(k, m)| before.get(*k) != Some(*m))
        .map(|(k, m)| (key_ip(&IpKey { addr: *k }), *m));
    let first = changes.next();
    let removed = before.keys().filter(|k| !after.contains_key(*k)).count();
    if changes.next().is_some() || removed > 0 {
        return Err(format!(
            "the binding map changed in more than one place ({removed} removed)"
        ));
    }
    Ok(first)
}

/// An IPv4 fragment, or a frame without a whole TCP header.
fn unsteerable(frame: &[u8]) -> bool {
    policy::layout(frame).is_none_or(|lay| {
        let fragment = !lay.v6
            && frame.len() >= lay.l3 + 8
            && u16::from_be_bytes([frame[lay.l3 + 6], frame[lay.l3 + 7]]) & 0x3fff != 0;
        fragment || lay.l4.is_none_or(|(_, l4)| frame.len() < l4 + 20)
    })
}

/// Whether `out` is `frame` steered to the portal: its destination address the portal's
/// (of its family) and its destination port the intercept port, every other byte as it
/// was, and its checksums right (when the original's were).
fn check_steered(frame: &[u8], out: &[u8]) -> Result<(), String> {
    let lay = policy::layout(frame).ok_or("no IP layout")?;
    let (_, l4) = lay.l4.ok_or("no L4 header")?;
    let l3 = lay.l3;
    if out.len() != frame.len() {
        return Err(format!("length {} (was {})", out.len(), frame.len()));
    }
    let (daddr, portal): (std::ops::Range<usize>, Vec<u8>) = if lay.v6 {
        (l3 + 24..l3 + 40, lan6(1).to_vec())
    } else {
        (l3 + 16..l3 + 20, GW4.to_vec())
    };
    if out[daddr.clone()] != portal[..] {
        return Err("destination is not the portal's address".into());
    }
    if out[l4 + 2..l4 + 4] != INTERCEPT_PORT.to_be_bytes() {
        return Err("destination port is not the intercept port".into());
    }
    // Everything else as it was, but the checksum fields.
    let mut changed = vec![daddr.clone(), l4 + 2..l4 + 4, l4 + 16..l4 + 18];
    if !lay.v6 {
        changed.push(l3 + 10..l3 + 12);
    }
    if let Some(i) =
        (0..frame.len()).find(|i| !changed.iter().any(|r| r.contains(i)) && out[*i] != frame[*i])
    {
        return Err(format!("byte {i} changed"));
    }
    if !lay.v6 && inet_checksum(&frame[l3..l4], 0) == 0 && inet_checksum(&out[l3..l4], 0) != 0 {
        return Err("IPv4 header checksum wrong".into());
    }
    let (saddr, tcp_len) = if lay.v6 {
        let payload = usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]));
        (l3 + 8..l3 + 24, (l3 + 40 + payload).saturating_sub(l4))
    } else {
        let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
        (l3 + 12..l3 + 16, (l3 + total).saturating_sub(l4))
    };
    if frame.len() >= l4 + tcp_len
        && tcp_len >= 20
        && l4_checksum_ok(
            &frame[saddr.clone()],
            &frame[daddr.clone()],
            6,
            &frame[l4..l4 + tcp_len],
        )
        && !l4_checksum_ok(&out[saddr], &out[daddr], 6, &out[l4..l4 + tcp_len])
    {
        return Err("TCP checksum wrong".into());
    }
    Ok(())
}

/// Whether `out` is the RST that answers the SYN `syn`: back to the sender on the same
/// link, addresses and ports swapped, ack = seq + 1, no options or data, checksums right
/// (when the SYN's were).
fn check_reset(syn: &[u8], out: &[u8]) -> Result<(), String> {
    let lay = policy::layout(syn).ok_or("the SYN has no IP layout")?;
    let (_, l4) = lay.l4.ok_or("the SYN has no L4 header")?;
    let l3 = lay.l3;
    if out.len() != l4 + 20 {
        return Err(format!(
            "length {} (expected {} = headers + 20 bytes of TCP)",
            out.len(),
            l4 + 20
        ));
    }
    if out[0..6] != syn[6..12] || out[6..12] != syn[0..6] {
        return Err("Ethernet addresses not swapped".into());
    }
    if out[12..l3] != syn[12..l3] {
        return Err("VLAN tag or ethertype changed".into());
    }
    let (src, dst, syn_src, syn_dst): (&[u8], &[u8], &[u8], &[u8]);
    let syn_tcp_len;
    if lay.v6 {
        if out[l3] >> 4 != 6 || out[l3 + 6] != 6 || out[l3 + 7] != 64 {
            return Err("IPv6 header: version/next header/hop limit".into());
        }
        if u16::from_be_bytes([out[l3 + 4], out[l3 + 5]]) != 20 {
            return Err("IPv6 payload length is not 20".into());
        }
        (src, dst) = (&out[l3 + 8..l3 + 24], &out[l3 + 24..l3 + 40]);
        (syn_src, syn_dst) = (&syn[l3 + 8..l3 + 24], &syn[l3 + 24..l3 + 40]);
        syn_tcp_len = usize::from(u16::from_be_bytes([syn[l3 + 4], syn[l3 + 5]]));
    } else {
        let ihl = usize::from(out[l3] & 0x0f) * 4;
        if out[l3] != syn[l3] || l3 + ihl != l4 {
            return Err("IPv4 version/IHL changed".into());
        }
        if usize::from(u16::from_be_bytes([out[l3 + 2], out[l3 + 3]])) != ihl + 20 {
            return Err("IPv4 total length is not header + 20".into());
        }
        if out[l3 + 8] != 64 || out[l3 + 9] != 6 {
            return Err("IPv4 TTL/protocol".into());
        }
        if u16::from_be_bytes([out[l3 + 6], out[l3 + 7]]) & 0x3fff != 0 {
            return Err("the RST is an IPv4 fragment (MF or offset set)".into());
        }
        if inet_checksum(&syn[l3..l4], 0) == 0 && inet_checksum(&out[l3..l4], 0) != 0 {
            return Err("IPv4 header checksum wrong".into());
        }
        (src, dst) = (&out[l3 + 12..l3 + 16], &out[l3 + 16..l3 + 20]);
        (syn_src, syn_dst) = (&syn[l3 + 12..l3 + 16], &syn[l3 + 16..l3 + 20]);
        syn_tcp_len = usize::from(u16::from_be_bytes([syn[l3 + 2], syn[l3 + 3]])) - ihl;
    }
    if src != syn_dst || dst != syn_src {
        return Err("IP addresses not swapped".into());
    }
    let (t, s) = (&out[l4..], &syn[l4..]);
    if t[0..2] != s[2..4] || t[2..4] != s[0..2] {
        return Err("ports not swapped".into());
    }
    let seq = u32::from_be_bytes([s[4], s[5], s[6], s[7]]);
    if t[4..8] != [0, 0, 0, 0] || t[8..12] != seq.wrapping_add(1).to_be_bytes() {
        return Err("sequence/acknowledgment numbers".into());
    }
    if t[12] != 5 << 4 || t[13] != TCP_RST | TCP_ACK || t[14..16] != [0, 0] || t[18..20] != [0, 0] {
        return Err("data offset/flags/window/urgent".into());
    }
    let syn_ok = syn.len() >= l4 + syn_tcp_len
        && l4_checksum_ok(syn_src, syn_dst, 6, &syn[l4..l4 + syn_tcp_len]);
    if syn_ok && !l4_checksum_ok(src, dst, 6, t) {
        return Err("TCP checksum wrong".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Frames.

struct Case {
    category: String,
    name: String,
    frame: Vec<u8>,
}

struct Sender {
    name: &'static str,
    mac: Mac,
    host: u8,
}

fn eth(mac: Mac, tag: Tag) -> Eth {
    Eth::new(GW_MAC, mac).tagged(tag)
}

const TAGS: [Tag; 3] = [Tag::None, Tag::Dot1q(10), Tag::Dot1ad(20)];

fn tag_name(t: Tag) -> &'static str {
    match t {
        Tag::None => "untagged",
        Tag::Dot1q(_) => "802.1Q",
        Tag::Dot1ad(_) => "802.1ad",
    }
}

/// Changes a plain IPv4 header into another shape.
type Shape = fn(&mut Ipv4);

/// IPv4 header shapes: options and fragments.
fn v4_shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("plain", |_| {}),
        ("router-alert option", |ip| ip.options = vec![0x94, 4, 0, 0]),
        ("40 bytes of options", |ip| {
            ip.options = vec![1; 39];
            ip.options.push(0);
        }),
        ("first fragment", |ip| ip.mf = true),
        ("later fragment", |ip| {
            ip.mf = true;
            ip.frag_offset = 185;
        }),
    ]
}

const FIRST_FRAG: Ext = Ext::Fragment {
    offset: 0,
    more: true,
};
const LATER_FRAG: Ext = Ext::Fragment {
    offset: 100,
    more: false,
};

/// IPv6 extension-header chains: 0 to 6 headers, fragments first and later.
fn v6_chains() -> Vec<Vec<Ext>> {
    use Ext::{DestOpts as D, HopByHop as H, Routing as R};
    vec![
        vec![],
        vec![H],
        vec![D],
        vec![R],
        vec![FIRST_FRAG],
        vec![H, D],
        vec![H, R, D],
        vec![H, R, FIRST_FRAG, D],
        vec![H, D, R, D, D],
        vec![H, D, R, FIRST_FRAG, D, D],
        vec![LATER_FRAG],
        vec![H, LATER_FRAG],
    ]
}

fn chain_name(c: &[Ext]) -> String {
    if c.is_empty() {
        return "no ext headers".into();
    }
    c.iter()
        .map(|e| match e {
            Ext::HopByHop => "HbH".to_string(),
            Ext::Routing => "Rt".to_string(),
            Ext::DestOpts => "Dst".to_string(),
            Ext::Fragment { offset, more } => format!("Frag(off {offset}, M {})", u8::from(*more)),
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// An L4 part of a grid frame, with the IP TTL/hop limit it wants (if any).
struct Kind {
    name: String,
    l4: L4,
    hops: Option<u8>,
}

fn tcp_kinds() -> Vec<Kind> {
    let mut k = Vec::new();
    for port in PORTS {
        for (fname, flags) in [("SYN", TCP_SYN), ("ACK", TCP_ACK)] {
            k.push(Kind {
                name: format!("TCP {fname} :{port}"),
                l4: L4::Tcp(Tcp::new(40000, port, flags)),
                hops: None,
            });
        }
    }
    for port in [443, ALLOWED_TCP] {
        let mut with_opts = Tcp::new(40001, port, TCP_SYN);
        with_opts.options = Tcp::syn_options();
        let mut with_data = Tcp::new(40002, port, TCP_SYN);
        with_data.payload = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        for (name, t) in [
            ("SYN with options", with_opts),
            ("SYN with data", with_data),
            ("SYN|ACK", Tcp::new(40003, port, TCP_SYN | TCP_ACK)),
            ("RST", Tcp::new(40004, port, TCP_RST)),
            ("SYN|RST", Tcp::new(40005, port, TCP_SYN | TCP_RST)),
            (
                "FIN|PSH|ACK",
                Tcp::new(40006, port, TCP_FIN | TCP_PSH | TCP_ACK),
            ),
        ] {
            k.push(Kind {
                name: format!("TCP {name} :{port}"),
                l4: L4::Tcp(t),
                hops: None,
            });
        }
    }
    k
}

fn l4_kinds(v6_target: Option<[u8; 16]>) -> Vec<Kind> {
    let mut k = tcp_kinds();
    for port in PORTS {
        k.push(Kind {
            name: format!("UDP :{port}"),
            l4: L4::udp(40000, port),
            hops: None,
        });
    }
    match v6_target {
        None => {
            for ty in [8, 0, 3, 13] {
                k.push(Kind {
                    name: format!("ICMP type {ty}"),
                    l4: L4::Icmp(Icmp::new(ty)),
                    hops: None,
                });
            }
            k.push(Kind {
                name: "ICMPv6 in IPv4".into(),
                l4: L4::Raw(58, vec![128, 0, 0, 0, 0, 1, 0, 1]),
                hops: None,
            });
        }
        Some(target) => {
            for ty in [128, 129, 1, 130, 131, 132, 143, 133, 134, 135, 136, 137] {
                for hops in [1, 64, 255] {
                    let m = if (133..=137).contains(&ty) {
                        Icmp::nd(ty, target)
                    } else {
                        Icmp::new(ty)
                    };
                    k.push(Kind {
                        name: format!("ICMPv6 type {ty} hop limit {hops}"),
                        l4: L4::Icmpv6(m),
                        hops: Some(hops),
                    });
                }
            }
            k.push(Kind {
                name: "ICMP in IPv6".into(),
                l4: L4::Raw(1, vec![8, 0, 0xf7, 0xfe, 0, 1, 0, 0]),
                hops: None,
            });
            k.push(Kind {
                name: "no next header".into(),
                l4: L4::Raw(59, vec![]),
                hops: None,
            });
        }
    }
    k.push(Kind {
        name: "GRE".into(),
        l4: L4::Raw(47, vec![0, 0, 0x08, 0x00, 0x45, 0, 0, 20]),
        hops: None,
    });
    k.push(Kind {
        name: "SCTP".into(),
        l4: L4::Raw(132, vec![0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0]),
        hops: None,
    });
    k
}

fn v4_destinations() -> Vec<(&'static str, [u8; 4])> {
    vec![
        ("gateway", GW4),
        ("DNS server", DNS4),
        ("NTP server", NTP4),
        ("DHCP server", DHCP4),
        ("walled garden", WALLED4),
        ("internet", INTERNET4),
        ("broadcast", [255, 255, 255, 255]),
        ("LAN host", lan4(99)),
        ("multicast", [224, 0, 0, 1]),
    ]
}

fn v6_destinations() -> Vec<(&'static str, [u8; 16])> {
    vec![
        ("gateway", lan6(1)),
        ("gateway link-local", v6("fe80::1")),
        ("DNS server", v6("2001:db8:2::53")),
        ("NTP server", v6("2001:db8:2::123")),
        ("DHCP server", lan6(2)),
        ("walled garden", v6("2001:db8:3:1::10")),
        ("internet", v6("2001:db8:3::80")),
        ("ff02::1:2", v6("ff02::1:2")),
        ("ff02::1", v6("ff02::1")),
        ("link-local host", v6("fe80::99")),
        ("site-local DHCP servers", v6("ff05::1:3")),
    ]
}

/// The policy grid: every L4 kind to every destination, over link tags and IP shapes,
/// from a captive device, a strict authorized one (from its bound address) and an exempt
/// one. Tags are crossed with the plain IP shape only (the tag does not change L3).
fn policy_grid(cases: &mut Vec<Case>) {
    let senders = [
        Sender {
            name: "captive",
            mac: CAPTIVE,
            host: CAPTIVE_HOST,
        },
        Sender {
            name: "authorized strict",
            mac: STRICT,
            host: BOUND_HOST,
        },
        Sender {
            name: "authorized exempt",
            mac: EXEMPT,
            host: FREE_HOST,
        },
    ];
    let v4_kinds = l4_kinds(None);
    let v6_kinds = l4_kinds(Some(lan6(1)));
    for s in &senders {
        for (si, (shape, apply)) in v4_shapes().into_iter().enumerate() {
            for tag in TAGS {
                if si > 0 && tag != Tag::None {
                    continue;
                }
                for (dname, dst) in v4_destinations() {
                    for k in &v4_kinds {
                        let mut ip = Ipv4::new(lan4(s.host), dst);
                        apply(&mut ip);
                        if let Some(h) = k.hops {
                            ip.ttl = h;
                        }
                        cases.push(Case {
                            category: format!("grid {} IPv4", s.name),
                            name: format!(
                                "{}, {}, IPv4 {shape}, {} to {dname}",
                                s.name,
                                tag_name(tag),
                                k.name
                            ),
                            frame: eth(s.mac, tag).ipv4(&ip, &k.l4),
                        });
                    }
                }
            }
        }
        for (ci, chain) in v6_chains().into_iter().enumerate() {
            for tag in TAGS {
                if ci > 0 && tag != Tag::None {
                    continue;
                }
                for (dname, dst) in v6_destinations() {
                    for k in &v6_kinds {
                        let mut ip = Ipv6::new(lan6(s.host), dst);
                        ip.exts = chain.clone();
                        if let Some(h) = k.hops {
                            ip.hop_limit = h;
                        }
                        cases.push(Case {
                            category: format!("grid {} IPv6", s.name),
                            name: format!(
                                "{}, {}, IPv6 {}, {} to {dname}",
                                s.name,
                                tag_name(tag),
                                chain_name(&chain),
                                k.name
                            ),
                            frame: eth(s.mac, tag).ipv6(&ip, &k.l4),
                        });
                    }
                }
            }
        }
    }
}

/// Devices whose MAC differs from an authorized one's in a single byte, sending what
/// the authorized device may send, from its address: the programs build the clients
/// map's key from two loads of the frame (a 4- and a 2-byte one, `load_mac`), so each byte
/// of it must count. None of these is authorized, so the model says captive for all.
fn near_miss_grid(cases: &mut Vec<Case>) {
    for (sname, mac, host) in [
        ("authorized strict", STRICT, BOUND_HOST),
        ("authorized exempt", EXEMPT, FREE_HOST),
    ] {
        for byte in 0..6 {
            let mut near = mac;
            // Bit 6: the address stays unicast whatever byte it flips.
            near[byte] ^= 0x40;
            let e = eth(near, Tag::None);
            let v4 = |dst| Ipv4::new(lan4(host), dst);
            let v6 = Ipv6::new(lan6(host), v6("2001:db8:3::80"));
            for (what, frame) in [
                ("UDP :443", e.ipv4(&v4(INTERNET4), &L4::udp(40000, 443))),
                (
                    "TCP SYN :443",
                    e.ipv4(&v4(INTERNET4), &L4::Tcp(Tcp::new(40000, 443, TCP_SYN))),
                ),
                (
                    "TCP SYN :80",
                    e.ipv4(&v4(INTERNET4), &L4::Tcp(Tcp::new(40000, 80, TCP_SYN))),
                ),
                ("IPv6 UDP :443", e.ipv6(&v6, &L4::udp(40000, 443))),
            ] {
                cases.push(Case {
                    category: "near-miss MACs".into(),
                    name: format!(
                        "{} (one byte off {sname}), {what} to the internet",
                        show_mac(near)
                    ),
                    frame,
                });
            }
        }
    }
}

/// The binding grid: every kind of source address, from each kind of sender, in the
/// frames that use, claim or announce addresses.
fn binding_grid(cases: &mut Vec<Case>) {
    let senders = [
        ("authorized strict", STRICT),
        ("authorized exempt", EXEMPT),
        ("captive", CAPTIVE),
    ];
    let mut v4_sources: Vec<(String, [u8; 4])> = SOURCES
        .iter()
        .map(|(n, h)| (n.to_string(), lan4(*h)))
        .collect();
    v4_sources.push(("unspecified".into(), [0; 4]));
    let mut v6_sources: Vec<(String, [u8; 16])> = SOURCES
        .iter()
        .map(|(n, h)| (n.to_string(), lan6(*h)))
        .collect();
    v6_sources.push(("unspecified".into(), [0; 16]));
    v6_sources.push(("link-local".into(), v6("fe80::10")));
    let solicited = v6("ff02::1:ff00:1");
    for (sname, mac) in senders {
        for tag in [Tag::None, Tag::Dot1q(10)] {
            let e = eth(mac, tag);
            let mut push = |name: String, frame: Vec<u8>| {
                cases.push(Case {
                    category: format!("binding {sname}"),
                    name: format!("{sname}, {}, {name}", tag_name(tag)),
                    frame,
                })
            };
            for (src_name, src) in &v4_sources {
                let from = |dst| Ipv4::new(*src, dst);
                let mut options = from(DNS4);
                options.options = vec![0x94, 4, 0, 0];
                let mut first = from(DNS4);
                first.mf = true;
                let mut later = from(INTERNET4);
                later.frag_offset = 64;
                for (what, frame) in [
                    ("UDP DNS", e.ipv4(&from(DNS4), &L4::udp(40000, 53))),
                    (
                        "TCP SYN :443",
                        e.ipv4(&from(INTERNET4), &L4::Tcp(Tcp::new(40000, 443, TCP_SYN))),
                    ),
                    ("ping gateway", e.ipv4(&from(GW4), &L4::Icmp(Icmp::new(8)))),
                    (
                        "UDP DNS with options",
                        e.ipv4(&options, &L4::udp(40000, 53)),
                    ),
                    (
                        "UDP DNS first fragment",
                        e.ipv4(&first, &L4::udp(40000, 53)),
                    ),
                    (
                        "later fragment",
                        e.ipv4(&later, &L4::Raw(6, vec![0x41; 16])),
                    ),
                    (
                        "ARP request",
                        e.arp(&Arp {
                            op: 1,
                            sha: mac,
                            spa: *src,
                            tha: [0; 6],
                            tpa: GW4,
                        }),
                    ),
                    (
                        "ARP reply",
                        e.arp(&Arp {
                            op: 2,
                            sha: mac,
                            spa: *src,
                            tha: GW_MAC,
                            tpa: GW4,
                        }),
                    ),
                    (
                        "gratuitous ARP",
                        e.arp(&Arp {
                            op: 1,
                            sha: mac,
                            spa: *src,
                            tha: [0; 6],
                            tpa: *src,
                        }),
                    ),
                ] {
                    push(format!("{what} from {src_name} ({})", ip4(*src)), frame);
                }
            }
            for (src_name, src) in &v6_sources {
                let from = |dst| Ipv6::new(*src, dst);
                let nd = |dst, hops| {
                    let mut ip = from(dst);
                    ip.hop_limit = hops;
                    ip
                };
                let chained = |chain: Vec<Ext>, dst| {
                    let mut ip = nd(dst, 255);
                    ip.exts = chain;
                    ip
                };
                use Ext::{DestOpts as D, HopByHop as H, Routing as R};
                let mut frames = vec![
                    (
                        "UDP DNS".to_string(),
                        e.ipv6(&from(v6("2001:db8:2::53")), &L4::udp(40000, 53)),
                    ),
                    (
                        "TCP SYN :443".into(),
                        e.ipv6(
                            &from(v6("2001:db8:3::80")),
                            &L4::Tcp(Tcp::new(40000, 443, TCP_SYN)),
                        ),
                    ),
                    (
                        "ping gateway".into(),
                        e.ipv6(&from(lan6(1)), &L4::Icmpv6(Icmp::new(128))),
                    ),
                    (
                        "NS for the gateway".into(),
                        e.ipv6(&nd(solicited, 255), &L4::Icmpv6(Icmp::nd(135, lan6(1)))),
                    ),
                    (
                        "NS for its own address".into(),
                        e.ipv6(&nd(solicited, 255), &L4::Icmpv6(Icmp::nd(135, *src))),
                    ),
                    (
                        "NA for its own address".into(),
                        e.ipv6(&nd(v6("ff02::1"), 255), &L4::Icmpv6(Icmp::nd(136, *src))),
                    ),
                    (
                        "RS".into(),
                        e.ipv6(&nd(v6("ff02::2"), 255), &L4::Icmpv6(Icmp::nd(133, [0; 16]))),
                    ),
                    (
                        "MLDv2 report".into(),
                        e.ipv6(&nd(v6("ff02::16"), 1), &L4::Icmpv6(Icmp::new(143))),
                    ),
                ];
                for chain in [
                    vec![H],
                    vec![H, D, R],
                    vec![H, D, R, D],
                    vec![H, D, R, D, D],
                ] {
                    frames.push((
                        format!("NS for the gateway after {}", chain_name(&chain)),
                        e.ipv6(
                            &chained(chain.clone(), solicited),
                            &L4::Icmpv6(Icmp::nd(135, lan6(1))),
                        ),
                    ));
                    frames.push((
                        format!("UDP DNS after {}", chain_name(&chain)),
                        e.ipv6(
                            &chained(chain.clone(), v6("2001:db8:2::53")),
                            &L4::udp(40000, 53),
                        ),
                    ));
                }
                for (what, frame) in frames {
                    push(format!("{what} from {src_name} ({})", ip6(*src)), frame);
                }
            }
            // Duplicate address detection (from ::) for every kind of target address.
            let mut targets: Vec<(String, [u8; 16])> = SOURCES
                .iter()
                .map(|(n, h)| (n.to_string(), lan6(*h)))
                .collect();
            targets.push(("link-local".into(), v6("fe80::10")));
            for (tname, target) in targets {
                for (ty, what) in [(135, "DAD NS"), (136, "NA from ::")] {
                    let mut ip = Ipv6::new([0; 16], solicited);
                    ip.hop_limit = 255;
                    push(
                        format!("{what} for {tname} ({})", ip6(target)),
                        e.ipv6(&ip, &L4::Icmpv6(Icmp::nd(ty, target))),
                    );
                }
            }
        }
    }
}

/// Frames that are broken or odd on purpose.
fn malformed_grid(cases: &mut Vec<Case>) {
    let senders = [
        ("authorized strict", STRICT, BOUND_HOST),
        ("authorized exempt", EXEMPT, FREE_HOST),
        ("captive", CAPTIVE, CAPTIVE_HOST),
    ];
    for (sname, mac, host) in senders {
        let mut list: Vec<(String, Vec<u8>)> = Vec::new();
        let e = eth(mac, Tag::None);
        // Links.
        let bare = e.frame(0x0800, &[]);
        list.push(("Ethernet header only, IPv4 ethertype".into(), bare));
        for len in 14..=18 {
            let mut f = eth(mac, Tag::Dot1q(10)).frame(0x0800, &[]);
            f.truncate(len);
            list.push((format!("802.1Q frame cut at {len} bytes"), f));
        }
        let inner =
            eth(mac, Tag::Dot1q(10)).ipv4(&Ipv4::new(lan4(host), DNS4), &L4::udp(40000, 53));
        let mut qinq = e.frame(0x88a8, &[0, 20]);
        qinq.extend_from_slice(&inner[12..]);
        list.push(("QinQ (two tags), UDP DNS".into(), qinq));
        for (name, et) in [
            ("LLDP", 0x88cc),
            ("PPPoE discovery", 0x8863),
            ("EAPOL", 0x888e),
            ("Wake-on-LAN", 0x0842),
            ("RARP", 0x8035),
            ("loopback", 0x9000),
        ] {
            list.push((format!("{name} ethertype"), e.frame(et, &[0x5a; 46])));
        }
        // IPv4 headers.
        let good4 = e.ipv4(&Ipv4::new(lan4(host), DNS4), &L4::udp(40000, 53));
        for (name, byte0) in [
            ("IPv4 version 5", 0x55),
            ("IPv4 version 6", 0x65),
            ("IPv4 IHL 4", 0x44),
            ("IPv4 IHL 0", 0x40),
            ("IPv4 IHL 15 without options", 0x4f),
        ] {
            let mut f = good4.clone();
            f[14] = byte0;
            list.push((format!("{name}, UDP DNS"), f));
        }
        for len in [12, 16, 19, 20, 21, 23, 24, 27] {
            let mut f = good4.clone();
            f.truncate(14 + len);
            list.push((format!("IPv4 UDP DNS cut {len} bytes into L3"), f));
        }
        // IPv6 headers.
        let good6 = e.ipv6(
            &Ipv6::new(lan6(host), v6("2001:db8:2::53")),
            &L4::udp(40000, 53),
        );
        let mut f = good6.clone();
        f[14] = 0x45;
        list.push(("IPv6 ethertype with version 4, UDP DNS".into(), f));
        for len in [24, 39, 40, 41, 43, 44, 47] {
            let mut f = good6.clone();
            f.truncate(14 + len);
            list.push((format!("IPv6 UDP DNS cut {len} bytes into L3"), f));
        }
        let mut hbh = Ipv6::new(lan6(host), lan6(1));
        hbh.exts = vec![Ext::HopByHop, FIRST_FRAG];
        let portal = L4::Tcp(Tcp::new(40000, PORTAL_PORT, TCP_SYN));
        let chained = e.ipv6(&hbh, &portal);
        for len in [40, 41, 42, 47, 48, 49, 51, 52, 55, 56, 59, 60, 63] {
            let mut f = chained.clone();
            f.truncate(14 + len);
            list.push((
                format!("IPv6 HbH+Frag TCP to the portal cut {len} bytes into L3"),
                f,
            ));
        }
        let mut f = chained.clone();
        f[14 + 41] = 200; // hop-by-hop length far past the end
        list.push(("IPv6 hop-by-hop length past the end".into(), f));
        // ARP.
        let arp = e.arp(&Arp {
            op: 1,
            sha: mac,
            spa: lan4(FREE_HOST),
            tha: [0; 6],
            tpa: GW4,
        });
        let mut f = arp.clone();
        f.truncate(14 + 20);
        list.push(("ARP cut at 20 bytes".into(), f));
        let mut f = arp.clone();
        f[15] = 6;
        list.push(("ARP for IEEE 802 hardware".into(), f));
        let mut f = arp.clone();
        f[16..18].copy_from_slice(&[0x86, 0xdd]);
        list.push(("ARP for IPv6".into(), f));
        list.push((
            "ARP probe".into(),
            e.arp(&Arp {
                op: 1,
                sha: mac,
                spa: [0; 4],
                tha: [0; 6],
                tpa: lan4(FREE_HOST),
            }),
        ));
        // L4 headers cut short or odd, to places the policy treats differently.
        for (dname, dst) in [
            ("the portal", GW4),
            ("DNS", DNS4),
            ("the internet", INTERNET4),
            ("the walled garden", WALLED4),
        ] {
            let port = match dname {
                "the portal" => PORTAL_PORT,
                "DNS" => 53,
                _ => 443,
            };
            let ip = Ipv4::new(lan4(host), dst);
            let tcp = e.ipv4(&ip, &L4::Tcp(Tcp::new(40000, port, TCP_SYN)));
            for cut in [1, 3, 4, 13, 14, 19] {
                let mut f = tcp.clone();
                f.truncate(34 + cut);
                list.push((format!("TCP SYN to {dname} cut {cut} bytes into L4"), f));
            }
            for doff in [0u8, 4, 15] {
                let mut f = tcp.clone();
                f[34 + 12] = doff << 4;
                list.push((format!("TCP SYN to {dname} with data offset {doff}"), f));
            }
            let udp = e.ipv4(&ip, &L4::udp(40000, port));
            for cut in [3, 4, 7] {
                let mut f = udp.clone();
                f.truncate(34 + cut);
                list.push((format!("UDP to {dname} cut {cut} bytes into L4"), f));
            }
            let mut wrong_len = e.ipv4(&ip, &L4::Tcp(Tcp::new(40000, port, TCP_SYN)));
            wrong_len[16..18].copy_from_slice(&100u16.to_be_bytes());
            list.push((
                format!("TCP SYN to {dname}, IPv4 length too long"),
                wrong_len,
            ));
        }
        let ping = e.ipv4(&Ipv4::new(lan4(host), GW4), &L4::Icmp(Icmp::new(8)));
        for cut in [1, 3] {
            let mut f = ping.clone();
            f.truncate(34 + cut);
            list.push((format!("ping to the gateway cut {cut} bytes into L4"), f));
        }
        let mut ns_ip = Ipv6::new([0; 16], v6("ff02::1:ff00:1e"));
        ns_ip.hop_limit = 255;
        let dad = e.ipv6(&ns_ip, &L4::Icmpv6(Icmp::nd(135, lan6(FREE_HOST))));
        for cut in [1, 3, 4, 8, 23] {
            let mut f = dad.clone();
            f.truncate(54 + cut);
            list.push((format!("DAD NS cut {cut} bytes into L4"), f));
        }
        let mut ns_ip = Ipv6::new(lan6(FREE_HOST), v6("ff02::1:ff00:1"));
        ns_ip.hop_limit = 255;
        let ns = e.ipv6(&ns_ip, &L4::Icmpv6(Icmp::nd(135, lan6(1))));
        for cut in [1, 3, 4] {
            let mut f = ns.clone();
            f.truncate(54 + cut);
            list.push((format!("NS from a free address cut {cut} bytes into L4"), f));
        }
        // Unusual but valid: IPv4-mapped IPv6 addresses, a link-scope multicast group
        // with flags, an ND message off the link.
        let mut odd = Ipv6::new(lan6(host), v6("ff12::1"));
        odd.hop_limit = 255;
        list.push((
            "NS to ff12::1 (transient link-scope group)".into(),
            e.ipv6(&odd, &L4::Icmpv6(Icmp::nd(135, lan6(1)))),
        ));
        let mut off_link = Ipv6::new(lan6(host), v6("2001:db8:3::80"));
        off_link.hop_limit = 255;
        list.push((
            "NS to an internet address".into(),
            e.ipv6(&off_link, &L4::Icmpv6(Icmp::nd(135, lan6(1)))),
        ));
        for (name, l4) in [
            ("UDP DNS", L4::udp(40000, 53)),
            (
                "TCP to the portal",
                L4::Tcp(Tcp::new(40000, PORTAL_PORT, TCP_SYN)),
            ),
        ] {
            for (dname, dst) in [("DNS", DNS4), ("gateway", GW4)] {
                let mapped = Ipv4Addr::from(dst).to_ipv6_mapped().octets();
                list.push((
                    format!("IPv6 {name} to the {dname}'s IPv4-mapped address"),
                    e.ipv6(&Ipv6::new(lan6(host), mapped), &l4),
                ));
            }
        }
        for (name, frame) in list {
            cases.push(Case {
                category: format!("malformed/odd {sname}"),
                name: format!("{sname}, {name}"),
                frame,
            });
        }
    }
}

/// A tiny deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values that mean something in some header field.
const INTERESTING: [u8; 28] = [
    0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x11, 0x12, 0x2b, 0x2c, 0x3a, 0x3c, 0x40, 0x45, 0x4f,
    0x50, 0x60, 0x80, 0x81, 0x86, 0x87, 0x88, 0xa8, 0xdd, 0xfe, 0xff, 0x35,
];

/// One to three random changes: byte flips, header bytes set to meaningful values,
/// truncation, trailing junk.
fn mutate(rng: &mut Rng, base: &[u8]) -> (String, Vec<u8>) {
    let mut f = base.to_vec();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        match rng.below(7) {
            0..=2 => {
                let at = rng.below(f.len());
                let x = 1 + rng.below(255) as u8;
                f[at] ^= x;
                what.push(format!("byte {at} ^= {x:#04x}"));
            }
            3 | 4 => {
                let at = rng.below(f.len().min(100));
                let v = INTERESTING[rng.below(INTERESTING.len())];
                f[at] = v;
                what.push(format!("byte {at} = {v:#04x}"));
            }
            5 if f.len() > 14 => {
                let len = 14 + rng.below(f.len() - 14);
                f.truncate(len);
                what.push(format!("cut to {len}"));
            }
            _ => {
                let n = 1 + rng.below(32);
                for _ in 0..n {
                    f.push(rng.next() as u8);
                }
                what.push(format!("{n} bytes appended"));
            }
        }
    }
    (what.join(", "), f)
}

// ---------------------------------------------------------------------------------------
// Running.

#[derive(Default)]
struct Report {
    disagreements: Vec<Disagreement>,
    /// frames per category.
    categories: BTreeMap<String, usize>,
    runs: usize,
    frames: usize,
    per_config: Vec<(String, usize)>,
    sequence_steps: usize,
    /// Runs BPF_PROG_TEST_RUN refused, per hook.
    refused: BTreeMap<&'static str, usize>,
    /// Runs per (hook, model's answer, reason): what the frames exercised.
    outcomes: BTreeMap<(&'static str, String, &'static str), usize>,
}

fn hook_name(h: Hook) -> &'static str {
    match h {
        Hook::Xdp => "XDP",
        Hook::TcIngress => "TC ingress",
    }
}

const MUTATIONS: usize = 10_000;

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    policy_grid(&mut cases);
    binding_grid(&mut cases);
    near_miss_grid(&mut cases);
    malformed_grid(&mut cases);
    let mut rng = Rng(0x6e65_7461_7574_6821);
    let grid_len = cases.len();
    for i in 0..MUTATIONS {
        let base = &cases[rng.below(grid_len)];
        let (what, frame) = mutate(&mut rng, &base.frame);
        let name = format!("mutation {i} ({what}) of [{}]", base.name);
        cases.push(Case {
            category: "random mutations".into(),
            name,
            frame,
        });
    }
    cases
}

/// Every case in one configuration, each from the starting state.
fn run_independent(
    k: &mut Kernel,
    cfg: Config,
    state: &State,
    cases: &[Case],
    report: &mut Report,
) -> anyhow::Result<usize> {
    let baseline = bindings_of(state);
    let mut runs = 0;
    for case in cases {
        for &hook in cfg.hooks() {
            let d = policy::decide(&case.frame, state, hook);
            let Some((ret, out)) = k.run(hook, &case.frame)? else {
                *report.refused.entry(hook_name(hook)).or_default() += 1;
                continue;
            };
            runs += 1;
            *report
                .outcomes
                .entry((hook_name(hook), format!("{:?}", d.expected), d.reason))
                .or_default() += 1;
            let after = k.read_bindings()?;
            let mut problems = Vec::new();
            let got = match learned(&baseline, &after) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("binding: {e}"));
                    None
                }
            };
            problems.extend(check(hook, &case.frame, &d, ret, &out, got));
            if after != baseline {
                k.sync_bindings(state)?;
                k.set_clients(state)?;
            }
            let sender: Mac = case.frame[6..12].try_into().expect("6 bytes");
            if hook == Hook::TcIngress && !state.clients.contains_key(&sender) {
                k.sync_addrs()?;
            }
            for problem in problems {
                report.disagreements.push(Disagreement {
                    config: cfg.name(),
                    hook,
                    case: case.name.clone(),
                    frame: case.frame.clone(),
                    decision: d.clone(),
                    actual: ret_name(hook, ret),
                    kernel_binds: got,
                    problem,
                });
            }
        }
    }
    Ok(runs)
}

/// A scripted step of the stateful phase.
enum Step {
    /// A device sends a frame.
    Send(&'static str, Vec<u8>),
    /// The daemon binds an address to a device (replacing another device's binding), as
    /// `Datapath::bind` does when a login proves the device uses it.
    Bind(IpAddr, Mac),
    /// The daemon removes a binding, as `Datapath::unbind` does for a device's oldest
    /// address beyond its limit, while the device stays signed in.
    Unbind(IpAddr),
}

fn sequences() -> Vec<(&'static str, Vec<Step>)> {
    let e = |mac| eth(mac, Tag::None);
    let udp4 = |mac, host| e(mac).ipv4(&Ipv4::new(lan4(host), DNS4), &L4::udp(40000, 53));
    let udp6 = |mac, host| {
        e(mac).ipv6(
            &Ipv6::new(lan6(host), v6("2001:db8:2::53")),
            &L4::udp(40000, 53),
        )
    };
    let arp = |mac, host| {
        e(mac).arp(&Arp {
            op: 1,
            sha: mac,
            spa: lan4(host),
            tha: [0; 6],
            tpa: GW4,
        })
    };
    let dad = |mac, host| {
        let mut ip = Ipv6::new([0; 16], v6("ff02::1:ff00:1"));
        ip.hop_limit = 255;
        e(mac).ipv6(&ip, &L4::Icmpv6(Icmp::nd(135, lan6(host))))
    };
    use Step::{Bind, Send, Unbind};
    vec![
        (
            "an address the device used before login is learned, then handed to another device",
            vec![
                Send(
                    "strict: UDP from its pre-login IPv4 address",
                    udp4(STRICT, 20),
                ),
                Send("strict: again", udp4(STRICT, 20)),
                Bind(ip4h(20), OTHER),
                Send(
                    "strict: after the daemon bound it to another device",
                    udp4(STRICT, 20),
                ),
                Send("other: from it", udp4(OTHER, 20)),
            ],
        ),
        (
            "the same for IPv6",
            vec![
                Send(
                    "strict: UDP from its pre-login IPv6 address",
                    udp6(STRICT, 20),
                ),
                Bind(ip6h(20), OTHER),
                Send(
                    "strict: after the daemon bound it to another device",
                    udp6(STRICT, 20),
                ),
            ],
        ),
        (
            "a bound address the daemon unbinds (the device's oldest beyond its limit)",
            vec![
                Send("strict: UDP from its bound IPv4 address", udp4(STRICT, 10)),
                Unbind(ip4h(10)),
                Send("strict: after the daemon unbound it", udp4(STRICT, 10)),
                Send("strict: its bound IPv6 address", udp6(STRICT, 10)),
                Unbind(ip6h(10)),
                Send("strict: after the daemon unbound it", udp6(STRICT, 10)),
            ],
        ),
        (
            "claims: ARP and DAD bind free addresses, which then belong to the claimant",
            vec![
                Send("other: UDP from a free IPv4 address", udp4(OTHER, 30)),
                Send("strict: ARP claims it", arp(STRICT, 30)),
                Send("strict: UDP from it", udp4(STRICT, 30)),
                Send("other: UDP from it", udp4(OTHER, 30)),
                Send("other: ARP claims it too", arp(OTHER, 30)),
                Send("strict: DAD for a free IPv6 address", dad(STRICT, 30)),
                Send("strict: UDP from it", udp6(STRICT, 30)),
                Send("other: DAD for it", dad(OTHER, 30)),
                Send("other: UDP from it", udp6(OTHER, 30)),
                Send("strict: ARP claims a long-unused address", arp(STRICT, 23)),
                Send("other: UDP from it", udp4(OTHER, 23)),
                Send(
                    "strict: ARP claims an address in use by another",
                    arp(STRICT, 22),
                ),
                Send("strict: UDP from it", udp4(STRICT, 22)),
            ],
        ),
    ]
}

/// The scripted sequences, with the model's state evolving along with the kernel's.
fn run_sequences(
    k: &mut Kernel,
    cfg: Config,
    start: &State,
    report: &mut Report,
) -> anyhow::Result<usize> {
    let mut steps = 0;
    for (title, seq) in sequences() {
        let mut state = start.clone();
        k.set_clients(&state)?;
        k.sync_bindings(&state)?;
        k.stamp_addrs(&state)?;
        for step in seq {
            steps += 1;
            match step {
                Step::Bind(ip, mac) => {
                    state.bindings.insert(canonical(ip), mac);
                    k.bindings.insert(key(ip), MacKey::new(mac), 0)?;
                    k.bump_epoch()?;
                }
                Step::Unbind(ip) => {
                    state.bindings.remove(&canonical(ip));
                    k.bindings.remove(&key(ip))?;
                    k.bump_epoch()?;
                }
                Step::Send(what, frame) => {
                    for &hook in cfg.hooks() {
                        let before = k.read_bindings()?;
                        let d = policy::decide(&frame, &state, hook);
                        let (ret, out) = k.run(hook, &frame)?.context("test run refused")?;
                        let after = k.read_bindings()?;
                        let mut problems = Vec::new();
                        let got = learned(&before, &after).unwrap_or_else(|e| {
                            problems.push(format!("binding: {e}"));
                            None
                        });
                        problems.extend(check(hook, &frame, &d, ret, &out, got));
                        state.apply(&d);
                        if !problems.is_empty() {
                            // Carry on from the model's state.
                            k.sync_bindings(&state)?;
                        }
                        for problem in problems {
                            report.disagreements.push(Disagreement {
                                config: cfg.name(),
                                hook,
                                case: format!("sequence \"{title}\": {what}"),
                                frame: frame.clone(),
                                decision: d.clone(),
                                actual: ret_name(hook, ret),
                                kernel_binds: got,
                                problem,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(steps)
}

/// The object built beside $NETAUTH_BIN, else beside the workspace's release build.
fn object_path() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("NETAUTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| netauth_lab::workspace_root().join("target/release/netauth"));
    bpf::object_path(&bin)
}

/// Pins the calling thread to the CPU it is on: the kernel's per-client state is per CPU.
fn pin_to_this_cpu() {
    // SAFETY: plain libc calls on a zeroed cpu_set_t for the calling thread.
    unsafe {
        let cpu = libc::sched_getcpu().max(0) as usize;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn body(object: Vec<u8>, pins: PathBuf) -> anyhow::Result<Report> {
    pin_to_this_cpu();
    let cases = all_cases();
    let mut report = Report {
        frames: cases.len(),
        ..Report::default()
    };
    for c in &cases {
        *report.categories.entry(c.category.clone()).or_default() += 1;
    }
    for (i, cfg) in Config::ALL.into_iter().enumerate() {
        let state = network(cfg);
        let mut k = Kernel::load(&object, &pins.join(format!("config{i}")), cfg, &state)?;
        let runs = run_independent(&mut k, cfg, &state, &cases, &mut report)?;
        report.sequence_steps += run_sequences(&mut k, cfg, &state, &mut report)?;
        report.runs += runs;
        report.per_config.push((cfg.name(), runs));
    }
    Ok(report)
}

/// Disagreements with the policy's wording that are reported but do not fail the test:
/// the kernel's reading is harmless and the wording may as well be the one to change.
/// Anything not named here fails.
fn tolerated(_d: &Disagreement) -> Option<&'static str> {
    None
}

fn show(i: usize, d: &Disagreement) {
    println!(
        "\n[{}] {:?}, {}\n  {}\n  model: {:?} ({}), binds {}\n  kernel: {}, binds {}\n  problem: {}\n{}",
        i,
        d.hook,
        d.config,
        d.case,
        d.decision.expected,
        d.decision.reason,
        show_binding(d.decision.binds),
        d.actual,
        show_binding(d.kernel_binds),
        d.problem,
        hex(&d.frame)
    );
}

#[test]
fn kernel_verdicts_match_the_policy_model() -> anyhow::Result<()> {
    let started = Instant::now();
    let obj_path = object_path()?;
    let object =
        std::fs::read(&obj_path).with_context(|| format!("reading {}", obj_path.display()))?;
    let id = std::process::id();
    let pins = Bpffs::mount(std::env::temp_dir().join(format!("netauth-verdicts-{id}")))?;
    let ns = TempNs::new("verdicts")?;
    let pin_path = pins.path.clone();
    let report = ns.run(move || body(object, pin_path))??;
    drop(ns);
    drop(pins);

    println!(
        "verdicts: object {}\nverdicts: {} distinct frames, {} program runs over {} configurations, {} sequence steps, in {:.1} s",
        obj_path.display(),
        report.frames,
        report.runs,
        report.per_config.len(),
        report.sequence_steps,
        started.elapsed().as_secs_f64()
    );
    for (cat, n) in &report.categories {
        println!("verdicts:   {n:6} frames: {cat}");
    }
    for (cfg, n) in &report.per_config {
        println!("verdicts:   {n:6} runs: {cfg}");
    }
    println!("verdicts: runs by the model's answer:");
    for ((hook, expected, reason), n) in &report.outcomes {
        println!("verdicts:   {n:6} {hook}: {expected} ({reason})");
    }
    for (hook, n) in &report.refused {
        println!(
            "verdicts:   {n:6} runs of {hook} refused by BPF_PROG_TEST_RUN (frame too short for an skb)"
        );
    }
    if let Some(path) = std::env::var_os("NETAUTH_VERDICTS_DUMP") {
        // Every disagreement, one line each, for a closer look.
        let lines: Vec<String> = report
            .disagreements
            .iter()
            .map(|d| format!("{} | {} | {} | {}", d.kind(), d.config, d.case, d.problem))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n")?;
    }

    let (known, failing): (Vec<&Disagreement>, Vec<&Disagreement>) = report
        .disagreements
        .iter()
        .partition(|d| tolerated(d).is_some());
    let mut known_kinds: BTreeMap<&str, (usize, &Disagreement)> = BTreeMap::new();
    for d in &known {
        known_kinds
            .entry(tolerated(d).expect("known"))
            .or_insert((0, d))
            .0 += 1;
    }
    for (what, (n, example)) in &known_kinds {
        println!(
            "\nverdicts: reported, not failing ({n} runs): {what}\n  e.g. {:?}, {}: {}",
            example.hook, example.config, example.case
        );
    }
    if failing.is_empty() {
        return Ok(());
    }

    let mut kinds: StdHashMap<String, (usize, usize)> = StdHashMap::new();
    let mut order = Vec::new();
    for (i, d) in failing.iter().enumerate() {
        let e = kinds.entry(d.kind()).or_insert_with(|| {
            order.push(d.kind());
            (i, 0)
        });
        e.1 += 1;
    }
    println!(
        "\n{} disagreements with the model, of {} kinds:",
        failing.len(),
        kinds.len()
    );
    for kind in &order {
        println!("  {:6} x {kind}", kinds[kind].1);
    }
    // The first of each kind, then more up to 20.
    let mut shown: Vec<usize> = order.iter().map(|k| kinds[k].0).collect();
    let mut i = 0;
    while shown.len() < 20 && i < failing.len() {
        if !shown.contains(&i) {
            shown.push(i);
        }
        i += 1;
    }
    shown.sort_unstable();
    for i in shown {
        show(i, failing[i]);
    }
    bail!(
        "{} disagreements between the kernel and the policy model",
        failing.len()
    )
}
