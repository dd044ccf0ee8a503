//! One forwarding path per method: client ns -- veth -- gateway ns -- veth -- upstream ns,
//! IPv4 forwarding on, the method's filter on the gateway. Every path is identical but for
//! its filter, so switching methods between samples costs nothing and the samples of one
//! block can be interleaved. Paths remove their namespaces and processes on drop.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    process::{Child, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use netauth_common::api::AdminClient;
use netauth_lab::{Daemon, DaemonOpts, Ns, sh, wait_until};

use super::{admin, env};

pub const CLIENT_MAC: &str = "02:00:00:00:01:0a";
pub const GW_LAN_MAC: &str = "02:00:00:00:00:01";
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const TARGET_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// The UDP echo port the login probe uses (blocked while captive).
pub const ECHO_PORT: u16 = 9999;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    None,
    /// An XDP program that passes everything (the cost of the hook itself).
    EmptyXdpNative,
    EmptyXdpGeneric,
    /// A TC ingress program that passes everything.
    EmptyTc,
    /// An empty XDP program and an empty TC ingress program: the two hooks netauth runs
    /// on in its XDP modes (its TC ingress program stays attached there, to read XDP's
    /// mark and record flows to the portal), so the floor its XDP rows compare with.
    EmptyXdpNativeTc,
    EmptyXdpGenericTc,
    /// netauth as it runs by default (`--xdp-mode auto`).
    Auto,
    XdpNative,
    XdpGeneric,
    TcOnly,
    NftSet,
    /// The nftables MAC set with what makes it a captive portal: unauthenticated HTTP
    /// redirected to the portal (a `nat` chain, so conntrack tracks every packet).
    NftPortal,
    /// No filter, with netauth's policy-routing rule and table (what steering intercepted
    /// HTTP to the portal's transparent listener needs): that rule's own cost.
    FibRule,
    IptLegacy,
    IptNft,
}

impl Method {
    pub const ALL: [Method; 15] = [
        Method::None,
        Method::EmptyXdpNative,
        Method::EmptyXdpGeneric,
        Method::EmptyTc,
        Method::EmptyXdpNativeTc,
        Method::EmptyXdpGenericTc,
        Method::Auto,
        Method::XdpNative,
        Method::XdpGeneric,
        Method::TcOnly,
        Method::NftSet,
        Method::NftPortal,
        Method::FibRule,
        Method::IptLegacy,
        Method::IptNft,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Method::None => "no filter",
            Method::EmptyXdpNative => "empty XDP program (native)",
            Method::EmptyXdpGeneric => "empty XDP program (generic)",
            Method::EmptyTc => "empty TC program",
            Method::EmptyXdpNativeTc => "empty XDP (native) + empty TC programs",
            Method::EmptyXdpGenericTc => "empty XDP (generic) + empty TC programs",
            Method::Auto => "netauth (--xdp-mode auto)",
            Method::XdpNative => "netauth XDP native",
            Method::XdpGeneric => "netauth XDP generic",
            Method::TcOnly => "netauth TC only",
            Method::NftSet => "nftables MAC set",
            Method::NftPortal => "nftables MAC set + portal redirect",
            Method::FibRule => "no filter + a policy-routing rule (netauth's old steering)",
            Method::IptLegacy => "iptables-legacy, rule per MAC",
            Method::IptNft => "iptables-nft, rule per MAC",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::EmptyXdpNative => "empty-xdp-native",
            Method::EmptyXdpGeneric => "empty-xdp-generic",
            Method::EmptyTc => "empty-tc",
            Method::EmptyXdpNativeTc => "empty-xdp-native-tc",
            Method::EmptyXdpGenericTc => "empty-xdp-generic-tc",
            Method::Auto => "auto",
            Method::XdpNative => "xdp-native",
            Method::XdpGeneric => "xdp-generic",
            Method::TcOnly => "tc-only",
            Method::NftSet => "nft-set",
            Method::NftPortal => "nft-portal",
            Method::FibRule => "fib-rule",
            Method::IptLegacy => "iptables-legacy",
            Method::IptNft => "iptables-nft",
        }
    }

    pub fn xdp_mode(self) -> Option<&'static str> {
        match self {
            Method::Auto => Some("auto"),
            Method::XdpNative => Some("native"),
            Method::XdpGeneric => Some("generic"),
            Method::TcOnly => Some("off"),
            _ => None,
        }
    }

    pub fn is_netauth(self) -> bool {
        self.xdp_mode().is_some()
    }

    /// Whether the method runs BPF programs on the gateway: netauth, or empty programs.
    pub fn runs_programs(self) -> bool {
        self.is_netauth()
            || matches!(
                self,
                Method::EmptyXdpNative
                    | Method::EmptyXdpGeneric
                    | Method::EmptyTc
                    | Method::EmptyXdpNativeTc
                    | Method::EmptyXdpGenericTc
            )
    }

    fn iptables(self) -> Option<(&'static str, &'static str)> {
        match self {
            Method::IptLegacy => Some(("iptables-legacy", "iptables-legacy-restore")),
            Method::IptNft => Some(("iptables-nft", "iptables-nft-restore")),
            _ => None,
        }
    }
}

/// The `i`-th synthetic client MAC (never equal to [`CLIENT_MAC`]).
pub fn synthetic_mac(i: u32) -> String {
    let b = i.to_be_bytes();
    format!("02:bb:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

pub struct Path {
    pub method: Method,
    pub cl: Ns,
    pub gw: Ns,
    pub up: Ns,
    pub dir: PathBuf,
    pub daemon: Option<Daemon>,
    bpffs: Option<env::Bpffs>,
    /// Synthetic clients currently authorized (the measured client comes on top).
    pub synthetic: u32,
    /// Wall time of the last fill, and how many entries it added.
    pub last_fill: Option<(Duration, u32)>,
    iperf: Option<Child>,
    /// The empty programs' links (they stay attached while this is open).
    links: Vec<std::os::fd::OwnedFd>,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
}

/// A fresh namespace, which Ctrl-C removes too.
fn create_ns(name: &str) -> anyhow::Result<Ns> {
    env::register_ns(name);
    Ns::create(name)
}

/// Packets received on `ifname` in `ns`, from /proc/thread-self/net/dev of a thread in it.
pub fn rx_packets(ns: &Ns, ifname: &str) -> anyhow::Result<u64> {
    let ifname = format!("{ifname}:");
    ns.run(move || -> anyhow::Result<u64> {
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev")?;
        for line in dev.lines() {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix(&ifname) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                return f
                    .get(1)
                    .context("short /proc/net/dev line")?
                    .parse::<u64>()
                    .context("rx_packets");
            }
        }
        bail!("no {ifname} in /proc/net/dev")
    })?
}

impl Path {
    pub fn new(prefix: &str, method: Method) -> anyhow::Result<Self> {
        let tag = match method {
            Method::None => "none",
            Method::EmptyXdpNative => "exn",
            Method::EmptyXdpGeneric => "exg",
            Method::EmptyTc => "etc",
            Method::EmptyXdpNativeTc => "exnt",
            Method::EmptyXdpGenericTc => "exgt",
            Method::Auto => "auto",
            Method::XdpNative => "xdpn",
            Method::XdpGeneric => "xdpg",
            Method::TcOnly => "tc",
            Method::NftSet => "nfts",
            Method::NftPortal => "nftp",
            Method::FibRule => "fibr",
            Method::IptLegacy => "iptl",
            Method::IptNft => "iptn",
        };
        let name = |role: &str| format!("{prefix}-{tag}-{role}");
        let dir = std::env::temp_dir().join(format!("netauth-bench-{prefix}-{}", method.key()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        env::register_dir(&dir);
        let mut p = Path {
            method,
            cl: Ns { name: name("cl") },
            gw: Ns { name: name("gw") },
            up: Ns { name: name("up") },
            dir,
            daemon: None,
            bpffs: None,
            synthetic: 0,
            last_fill: None,
            iperf: None,
            links: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
        };
        p.build()
            .with_context(|| format!("building the {} path", method.label()))?;
        Ok(p)
    }

    fn build(&mut self) -> anyhow::Result<()> {
        self.cl = create_ns(&self.cl.name)?;
        self.gw = create_ns(&self.gw.name)?;
        self.up = create_ns(&self.up.name)?;
        let (cl, gw, up) = (&self.cl, &self.gw, &self.up);
        sh(
            "ip",
            &[
                "link", "add", "eth0", "netns", &cl.name, "type", "veth", "peer", "name", "lan0",
                "netns", &gw.name,
            ],
        )?;
        sh(
            "ip",
            &[
                "link", "add", "wan0", "netns", &gw.name, "type", "veth", "peer", "name", "up0",
                "netns", &up.name,
            ],
        )?;
        cl.ip(&["link", "set", "eth0", "address", CLIENT_MAC])?;
        cl.ip(&["link", "set", "eth0", "up"])?;
        cl.ip(&["addr", "add", "192.0.2.10/24", "dev", "eth0"])?;
        cl.ip(&["route", "add", "default", "via", "192.0.2.1"])?;
        gw.ip(&["link", "set", "lan0", "address", GW_LAN_MAC])?;
        gw.ip(&["link", "set", "lan0", "up"])?;
        gw.ip(&["addr", "add", "192.0.2.1/24", "dev", "lan0"])?;
        gw.ip(&["addr", "add", "2001:db8:1::1/64", "dev", "lan0", "nodad"])?;
        gw.ip(&["link", "set", "wan0", "up"])?;
        gw.ip(&["addr", "add", "198.51.100.1/24", "dev", "wan0"])?;
        gw.ip(&["route", "add", "203.0.113.0/24", "via", "198.51.100.2"])?;
        up.ip(&["link", "set", "up0", "up"])?;
        up.ip(&["addr", "add", "198.51.100.2/24", "dev", "up0"])?;
        up.ip(&["addr", "add", "203.0.113.80/24", "dev", "lo"])?;
        up.ip(&["route", "add", "default", "via", "198.51.100.1"])?;
        gw.sh("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        // Many short connections from one client (wrk with Connection: close).
        cl.sh(
            "sysctl",
            &[
                "-qw",
                "net.ipv4.tcp_tw_reuse=1",
                "net.ipv4.ip_local_port_range=1024 65000",
            ],
        )?;
        // Static neighbours: no ARP in the measured path, and the gateway knows the client
        // (the portal ties a connection to a MAC through the neighbour table as a fallback).
        cl.ip(&[
            "neigh",
            "replace",
            "192.0.2.1",
            "lladdr",
            GW_LAN_MAC,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])?;
        // TSO/GSO off on the client: super-packets would hide per-packet cost.
        cl.sh("ethtool", &["-K", "eth0", "tso", "off", "gso", "off"])?;

        // Upstream services: a UDP echo (the login probe) and an iperf3 server.
        let ready = Arc::new(AtomicUsize::new(0));
        let (stop, r) = (self.stop.clone(), ready.clone());
        self.servers.push(self.up.spawn(move || {
            netauth_lab::net::serve_udp_echo(IpAddr::V4(TARGET_V4), ECHO_PORT, stop, r)
        })?);
        if !wait_until(Duration::from_secs(5), || ready.load(Ordering::SeqCst) >= 1) {
            bail!("the upstream echo service did not start");
        }
        self.start_iperf_server()?;

        match self.method {
            Method::None => {}
            Method::EmptyXdpNative
            | Method::EmptyXdpGeneric
            | Method::EmptyTc
            | Method::EmptyXdpNativeTc
            | Method::EmptyXdpGenericTc => {
                use netauth_lab::bpf::{self, Hook};
                let hooks: &[Hook] = match self.method {
                    Method::EmptyXdpNative => &[Hook::XdpNative],
                    Method::EmptyXdpGeneric => &[Hook::XdpGeneric],
                    Method::EmptyXdpNativeTc => &[Hook::XdpNative, Hook::TcIngress],
                    Method::EmptyXdpGenericTc => &[Hook::XdpGeneric, Hook::TcIngress],
                    _ => &[Hook::TcIngress],
                };
                for &hook in hooks {
                    let prog = match hook {
                        Hook::TcIngress => bpf::load_empty_tc()?,
                        _ => bpf::load_empty_xdp()?,
                    };
                    self.links.push(self.gw.run(move || {
                        // SAFETY: if_nametoindex reads a NUL-terminated name.
                        let ifindex = unsafe { libc::if_nametoindex(c"lan0".as_ptr()) };
                        bpf::attach(&prog, ifindex, hook)
                    })??);
                }
            }
            Method::NftSet | Method::NftPortal => {
                let mut rules = String::from(
                    "table inet nbgate {\n\
                     set allowed { type ether_addr; size 262144; }\n\
                     chain gate { type filter hook forward priority 0; policy drop;\n\
                       iifname \"wan0\" accept\n\
                       ether saddr @allowed accept\n\
                     }\n",
                );
                if self.method == Method::NftPortal {
                    // As openNDS-style portals send a captive device's web requests to
                    // their server (port 8082: nginx, the portal yardstick).
                    rules.push_str(
                        "chain portal { type nat hook prerouting priority dstnat;\n\
                           iifname \"lan0\" ether saddr != @allowed tcp dport 80 redirect to :8082\n\
                         }\n",
                    );
                }
                rules.push_str("}\n");
                let f = self.dir.join("nft-base.nft");
                std::fs::write(&f, rules)?;
                self.gw.sh("nft", &["-f", &f.to_string_lossy()])?;
            }
            Method::FibRule => self.gw.add_old_netauth_rule()?,
            Method::IptLegacy | Method::IptNft => self.load_iptables(0)?,
            _ => {
                // Daemon::start gives the daemon `dir/state` and `dir/bpf` (pins).
                self.bpffs = Some(env::Bpffs::mount(self.dir.join("bpf"))?);
                self.start_daemon()?;
            }
        }
        Ok(())
    }

    /// Starts netauth on this path's gateway (a netauth method); returns once it serves.
    pub fn start_daemon(&mut self) -> anyhow::Result<()> {
        let mode = self.method.xdp_mode().context("not a netauth method")?;
        // One runtime worker, as nginx runs one worker process: the portal section pins
        // both servers to one CPU, where a second worker thread only switches with the
        // first (a tenth of the daemon's samples were in the scheduler with two). A
        // daemon started on one CPU sizes its runtime the same way by itself.
        let opts = DaemonOpts {
            env: vec![("TOKIO_WORKER_THREADS".into(), "1".into())],
            ..DaemonOpts::default()
        };
        // One client namespace drives the portal at full rate: the per-client fair share
        // (a guard against one client starving the others) is lifted, so the portal's own
        // capacity is measured, as nginx's is.
        let d = Daemon::start_opts(
            &self.gw,
            &self.dir,
            &[
                "--xdp-mode",
                mode,
                "--portal-client-connections",
                "65535",
                "--portal-client-rate",
                "100000",
                // nginx, the portal's yardstick, listens on the gateway (8082, and 8083
                // redirected to it by nftables); a captive client reaches only the
                // services the operator opens there.
                "--gateway-allow",
                "tcp/8082",
                "--gateway-allow",
                "tcp/8083",
            ],
            opts,
        )?;
        env::register_pid(d.child.id());
        self.daemon = Some(d);
        Ok(())
    }

    /// Whether the measured client's traffic reaches the upstream (a UDP echo).
    pub fn client_passes(&self) -> bool {
        let target = std::net::SocketAddr::from((TARGET_V4, ECHO_PORT));
        self.cl
            .run(move || netauth_lab::net::udp_echo(target, 0, Duration::from_millis(500)))
            .unwrap_or(false)
    }

    /// The gateway's pin directory for lan0 (netauth keys pins by network namespace).
    pub fn pin_dir(&self) -> PathBuf {
        self.dir
            .join("bpf")
            .join(format!("netns-{}", self.gw.name))
            .join("lan0")
    }

    /// What a reboot does to netauth: it stops, and its pinned maps and links go with the
    /// old kernel; the session store on disk remains. Returns once nothing of it is
    /// attached to lan0 any more (the kernel releases unpinned links asynchronously).
    pub fn reboot(&mut self) -> anyhow::Result<()> {
        if let Some(mut d) = self.daemon.take() {
            let pid = d.child.id();
            let status = d.stop()?;
            env::unregister_pid(pid);
            if !status.success() {
                bail!("netauth stopped with {status}");
            }
        }
        let dir = self.pin_dir();
        if dir.exists() {
            for e in std::fs::read_dir(&dir)? {
                std::fs::remove_file(e?.path())?;
            }
            std::fs::remove_dir(&dir)?;
        }
        let detached = wait_until(Duration::from_secs(10), || {
            self.gw
                .sh("ip", &["-d", "link", "show", "dev", "lan0"])
                .is_ok_and(|o| !o.contains("prog/xdp"))
        });
        if !detached {
            bail!("netauth's programs stayed attached to lan0 after its pins went");
        }
        Ok(())
    }

    pub fn start_iperf_server(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.iperf.take() {
            let _ = c.kill();
            let _ = c.wait();
            env::unregister_pid(c.id());
        }
        let child = self
            .up
            .command("iperf3")
            .args(["-s", "-B", "203.0.113.80", "-p", "5201"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -s")?;
        env::register_pid(child.id());
        self.iperf = Some(child);
        let listening = wait_until(Duration::from_secs(5), || {
            self.up
                .sh("ss", &["-Htln", "sport = :5201"])
                .is_ok_and(|out| !out.trim().is_empty())
        });
        if !listening {
            bail!("iperf3 server did not start");
        }
        Ok(())
    }

    pub fn daemon(&self) -> anyhow::Result<&Daemon> {
        self.daemon.as_ref().context("no netauth on this path")
    }

    pub fn admin(&self) -> anyhow::Result<AdminClient> {
        Ok(self.daemon()?.admin())
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|d| d.child.id())
    }

    /// The iptables ruleset for `n_synthetic` synthetic clients plus the measured client
    /// (last), the way nodogsplash/openNDS gate: one rule per MAC, default drop.
    fn load_iptables(&mut self, n_synthetic: u32) -> anyhow::Result<()> {
        let (_, restore) = self.method.iptables().expect("iptables method");
        let mut s = String::with_capacity(80 * (n_synthetic as usize + 8));
        s.push_str("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        s.push_str("-A FORWARD -i wan0 -j ACCEPT\n");
        for i in 0..n_synthetic {
            s.push_str(&format!(
                "-A FORWARD -i lan0 -m mac --mac-source {} -j ACCEPT\n",
                synthetic_mac(i)
            ));
        }
        s.push_str(&format!(
            "-A FORWARD -i lan0 -m mac --mac-source {CLIENT_MAC} -j ACCEPT\nCOMMIT\n"
        ));
        let f = self.dir.join("iptables.rules");
        std::fs::write(&f, s)?;
        self.gw.sh(restore, &[&f.to_string_lossy()])?;
        Ok(())
    }

    /// Makes `n` clients authorized on this path's filter: `n - 1` synthetic ones, then the
    /// measured client last.
    pub fn set_clients(&mut self, n: u32) -> anyhow::Result<()> {
        let want = n.saturating_sub(1);
        let t = Instant::now();
        let added = want.saturating_sub(self.synthetic);
        match self.method {
            Method::None
            | Method::EmptyXdpNative
            | Method::EmptyXdpGeneric
            | Method::EmptyTc
            | Method::EmptyXdpNativeTc
            | Method::EmptyXdpGenericTc
            | Method::FibRule => {}
            Method::NftSet | Method::NftPortal => {
                let mut s = String::from("flush set inet nbgate allowed\n");
                let macs: Vec<String> = (0..want).map(synthetic_mac).collect();
                for chunk in macs.chunks(5000) {
                    s.push_str(&format!(
                        "add element inet nbgate allowed {{ {} }}\n",
                        chunk.join(", ")
                    ));
                }
                s.push_str(&format!(
                    "add element inet nbgate allowed {{ {CLIENT_MAC} }}\n"
                ));
                let f = self.dir.join("nft-set.nft");
                std::fs::write(&f, s)?;
                self.gw.sh("nft", &["-f", &f.to_string_lossy()])?;
            }
            Method::IptLegacy | Method::IptNft => self.load_iptables(want)?,
            _ => {
                if want < self.synthetic {
                    bail!("netauth paths only grow");
                }
                let client = self.admin()?;
                admin::revoke(&client, CLIENT_MAC)?;
                // One batch, the measured client last (as an operator's `allow --from`).
                let mut macs: Vec<String> = (self.synthetic..want).map(synthetic_mac).collect();
                macs.push(CLIENT_MAC.to_string());
                admin::allow_batch(&client, &macs)?;
                // As a real device does when it takes an address (the bench's neighbours are
                // static, so it never ARPs): announce it, so netauth binds it to the device
                // (--bind-addresses).
                announce_client(&self.cl)?;
            }
        }
        self.synthetic = want;
        self.last_fill = Some((t.elapsed(), added));
        Ok(())
    }

    pub fn cleanup(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let pid = d.child.id();
            let _ = d.stop();
            d.kill();
            env::unregister_pid(pid);
        }
        if let Some(mut c) = self.iperf.take() {
            let _ = c.kill();
            let _ = c.wait();
            env::unregister_pid(c.id());
        }
        self.stop.store(true, Ordering::SeqCst);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        for ns in [&self.cl, &self.gw, &self.up] {
            env::delete_ns(&ns.name);
        }
        self.bpffs = None;
        let _ = std::fs::remove_dir_all(&self.dir);
        env::unregister_dir(&self.dir);
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The measured client announces its address with a gratuitous ARP (see
/// `Path::set_clients`).
pub fn announce_client(cl: &Ns) -> anyhow::Result<()> {
    let frame = netauth_lab::net::arp_announcement(
        netauth_lab::mac_bytes(CLIENT_MAC),
        std::net::Ipv4Addr::new(192, 0, 2, 10),
    );
    cl.run(move || netauth_lab::net::send_frame("eth0", &frame))??;
    std::thread::sleep(std::time::Duration::from_millis(20));
    Ok(())
}
