//! A network-namespace lab for netauth: a switch with N clients, a gateway running
//! netauth on its LAN port, and an upstream host with web, TLS-port, DNS and DHCP-port
//! services. Used by the integration tests and by `cargo xtask demo`.
//!
//! Every lab gets uniquely named namespaces and removes them on drop, also when a test
//! panics. Code runs "inside" a namespace on a dedicated thread that `setns`es into it
//! (network namespaces are per thread), so no global state changes.
//!
//! Addresses are from the documentation ranges only: LAN 192.0.2.0/24 and 2001:db8:1::/64,
//! gateway uplink 198.51.100.0/24 and 2001:db8:2::/64, "the internet" 203.0.113.0/24 and
//! 2001:db8:3::/64 (all inside the lab).

pub mod bpf;
pub mod frames;
pub mod http;
pub mod net;
pub mod package;
pub mod policy;
pub mod radius;
pub mod webdriver;

use std::{
    collections::BTreeMap,
    fs::File,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use netauth_common::api::{AdminClient, SessionView};

pub const GW_LAN_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const GW_LAN_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const UPSTREAM_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const UPSTREAM_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
/// An "arbitrary internet address", hosted by the upstream namespace.
pub const WEB_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
pub const WEB_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x80);
/// Body marker of the upstream web server's pages.
pub const UPSTREAM_MARKER: &str = "UPSTREAM-PAGE";
/// The portal port the lab starts netauth with.
pub const PORTAL_PORT: u16 = 8080;
/// Services the upstream runs: TCP ports (accept and echo) and UDP ports (echo).
pub const UPSTREAM_TCP_PORTS: &[u16] = &[53, 443, 8443];
pub const UPSTREAM_UDP_PORTS: &[u16] = &[53, 67, 123, 443, 547, 9999];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs a command, failing with its stderr when it fails.
pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// A named network namespace.
#[derive(Clone, Debug)]
pub struct Ns {
    pub name: String,
}

impl Ns {
    /// A fresh namespace called `name` (one left over under that name is deleted first),
    /// with `lo` up.
    pub fn create(name: &str) -> anyhow::Result<Self> {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        sh("ip", &["netns", "add", name])?;
        let ns = Ns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Turns off duplicate address detection: link-local addresses are usable at once,
    /// so the first IPv6 flows of a fresh lab do not wait seconds for neighbour discovery.
    fn without_dad(self) -> anyhow::Result<Self> {
        self.sh(
            "sysctl",
            &[
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ],
        )?;
        Ok(self)
    }

    /// Deletes the namespace (what still runs in it keeps it alive until it exits).
    pub fn delete(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }

    /// Adds the policy-routing rule and local routes netauth steered with before it
    /// rewrote intercepted packets to its own address (mark 0x0a170000/0xffff0000, table
    /// 7327, priority 1000), for both families: what an older netauth leaves behind, and
    /// what any custom rule costs forwarding.
    pub fn add_old_netauth_rule(&self) -> anyhow::Result<()> {
        for (family, any) in [("-4", "0.0.0.0/0"), ("-6", "::/0")] {
            self.ip(&[
                family,
                "rule",
                "add",
                "fwmark",
                "0x0a170000/0xffff0000",
                "lookup",
                "7327",
                "priority",
                "1000",
            ])?;
            self.ip(&[
                family, "route", "replace", "local", any, "dev", "lo", "table", "7327",
            ])?;
        }
        Ok(())
    }

    /// `ip -n NS ARGS...`
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    /// Runs `program args` inside this namespace (from a thread that entered it, so
    /// without the start-up cost of `ip netns exec`); its stdout, or an error with its
    /// stderr.
    pub fn sh(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let program = program.to_string();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run(move || -> anyhow::Result<String> {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = sh(&program, &args)?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        })?
    }

    /// A command that will run inside this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `f` on a thread that has entered this namespace, and returns its result.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> anyhow::Result<R> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || -> anyhow::Result<R> {
            enter(&path)?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?
    }

    /// Spawns a long-running thread inside this namespace.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> anyhow::Result<JoinHandle<()>> {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).with_context(|| format!("opening {path}"))?;
        Ok(std::thread::spawn(move || {
            if nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).is_ok() {
                f()
            }
        }))
    }
}

fn enter(path: &str) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {path}"))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering {path}"))?;
    Ok(())
}

/// A namespace of its own (with `lo` up), deleted on drop: for tests that need one
/// without a whole [`Lab`] (a RADIUS server, a BPF test run).
pub struct TempNs {
    pub ns: Ns,
}

impl TempNs {
    /// A fresh namespace named `na<pid>x<n>-<tag>`.
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let name = format!(
            "na{}x{}-{tag}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        // Own the name before creating, so a failure half-way still deletes it.
        let guard = TempNs {
            ns: Ns { name: name.clone() },
        };
        Ns::create(&name)?.without_dad()?;
        Ok(guard)
    }
}

impl std::ops::Deref for TempNs {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.ns
    }
}

impl Drop for TempNs {
    fn drop(&mut self) {
        self.ns.delete();
    }
}

/// A private bpf filesystem mounted on a directory of ours while this lives: pins stay
/// out of /sys/fs/bpf, and `ip netns exec` remounting /sys does not hide them.
pub struct Bpffs {
    pub path: PathBuf,
}

impl Bpffs {
    pub fn mount(path: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&path)?;
        sh("mount", &["-t", "bpf", "bpf", &path.to_string_lossy()])?;
        Ok(Self { path })
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A LAN client.
#[derive(Clone, Debug)]
pub struct Client {
    pub ns: Ns,
    pub mac: String,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

/// The portal's address in the lab, per family.
pub fn portal_addr(v6: bool) -> SocketAddr {
    gw_addr(v6, PORTAL_PORT)
}

/// An "arbitrary internet address" (the upstream's web host), per family.
pub fn web_addr(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(WEB_V6), port)
    } else {
        SocketAddr::new(IpAddr::V4(WEB_V4), port)
    }
}

/// The gateway's LAN address, per family.
pub fn gw_addr(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(GW_LAN_V6), port)
    } else {
        SocketAddr::new(IpAddr::V4(GW_LAN_V4), port)
    }
}

/// `02:00:00:00:01:0a` as bytes.
pub fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in mac.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap_or_else(|_| panic!("'{mac}' is not a MAC"));
    }
    m
}

/// Polls `f` until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Client {
    /// Gives the client's interface the MAC `mac` and the lab addresses of host `host`
    /// (192.0.2.host, 2001:db8:1::host): a device with another address, or one that
    /// joined another LAN (a new lease). Its routes point at the lab gateway again and it
    /// forgets its neighbours.
    pub fn readdress(&self, mac: &str, host: u8) -> anyhow::Result<Client> {
        let ns = &self.ns;
        let v4 = Ipv4Addr::new(192, 0, 2, host);
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, host as u16);
        ns.ip(&["link", "set", "eth0", "down"])?;
        ns.ip(&["link", "set", "eth0", "address", mac])?;
        ns.ip(&["addr", "flush", "dev", "eth0", "scope", "global"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", "eth0"])?;
        ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", "eth0", "nodad"])?;
        ns.ip(&["route", "replace", "default", "via", "192.0.2.1"])?;
        ns.ip(&["-6", "route", "replace", "default", "via", "2001:db8:1::1"])?;
        ns.ip(&["neigh", "flush", "all"])?;
        Ok(Client {
            ns: ns.clone(),
            mac: mac.to_string(),
            v4,
            v6,
        })
    }

    /// GET from inside this client's namespace.
    pub fn get(
        &self,
        addr: SocketAddr,
        host: Option<&str>,
        path: &str,
    ) -> anyhow::Result<http::Response> {
        let (host, path) = (host.map(str::to_string), path.to_string());
        Ok(self
            .ns
            .run(move || http::get(addr, host.as_deref(), &path))??)
    }

    /// The status a plain HTTP request to the internet gets (511 while captive, 200
    /// online); `None` when there is no answer at all.
    pub fn status_of(&self) -> Option<u16> {
        self.get(web_addr(false, 80), None, "/")
            .ok()
            .map(|r| r.status)
    }

    /// Signs in on the IPv4 portal as a browser would (the form's token included), with
    /// `form` as the other fields (e.g. `accept=1`).
    pub fn login(&self, form: &str) -> anyhow::Result<http::Response> {
        let form = form.to_string();
        Ok(self
            .ns
            .run(move || http::submit(portal_addr(false), "/login", "/login", &form))??)
    }

    /// Signs in on the portal's login form with a user name and password (terms accepted).
    pub fn login_as(&self, user: &str, pass: &str) -> http::Response {
        self.login(&format!("accept=1&username={user}&password={pass}"))
            .unwrap()
    }

    /// Accepts the terms (click-through), asserting the portal let the client in.
    pub fn sign_in(&self) {
        let r = self.login("accept=1").expect("the login form");
        assert_eq!(r.status, 303, "login answer: {r:?}");
    }

    /// Signs out from the status page's form.
    pub fn logout(&self) -> anyhow::Result<http::Response> {
        Ok(self
            .ns
            .run(|| http::submit(portal_addr(false), "/status", "/logout", ""))??)
    }

    /// Whether a TCP connection to `addr` is established within 800 ms.
    pub fn connects(&self, addr: SocketAddr) -> bool {
        self.ns
            .run(move || net::tcp_connect(addr, Duration::from_millis(800)).is_ok())
            .unwrap_or(false)
    }

    /// Whether a UDP datagram to `addr` (from `local_port`, 0: any) is echoed within 800 ms.
    pub fn udp_echo(&self, addr: SocketAddr, local_port: u16) -> bool {
        self.ns
            .run(move || net::udp_echo(addr, local_port, Duration::from_millis(800)))
            .unwrap_or(false)
    }

    /// Sends `total` bytes to the upstream's TCP echo service (port 8443) in writes of
    /// `chunk`, reading each one back; how many bytes made the round trip (it stops at the
    /// first failure, e.g. when an allowance runs out).
    pub fn echo(&self, total: usize, chunk: usize) -> usize {
        self.ns
            .run(move || {
                use std::io::{Read as _, Write as _};
                let Ok(mut s) = net::tcp_connect(web_addr(false, 8443), Duration::from_secs(2))
                else {
                    return 0;
                };
                if s.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
                    return 0;
                }
                let out = vec![0x5au8; chunk];
                let mut back = vec![0u8; chunk];
                let mut moved = 0;
                while moved + chunk <= total {
                    if s.write_all(&out).is_err() || s.read_exact(&mut back).is_err() {
                        break;
                    }
                    moved += chunk;
                }
                moved
            })
            .unwrap_or(0)
    }

    /// Waits until this client's interface has been quiet for a moment (its counters
    /// unchanged over two polls), so counters read now include every packet of what came
    /// before (the last ACKs of a transfer).
    pub fn wait_quiet(&self) {
        let mut last = self.link_counters();
        let mut unchanged = 0;
        let quiet = wait_until(Duration::from_secs(5), || {
            let now = self.link_counters();
            unchanged = if now == last { unchanged + 1 } else { 0 };
            last = now;
            unchanged >= 2
        });
        assert!(quiet, "{} kept sending", self.ns.name);
    }

    /// This client's interface counters: (tx bytes, tx packets, rx bytes, rx packets).
    pub fn link_counters(&self) -> (u64, u64, u64, u64) {
        let out = self
            .ns
            .ip(&["-s", "-j", "link", "show", "eth0"])
            .expect("ip -s link");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
        let s = &v[0]["stats64"];
        let n = |v: &serde_json::Value| v.as_u64().expect("a counter");
        (
            n(&s["tx"]["bytes"]),
            n(&s["tx"]["packets"]),
            n(&s["rx"]["bytes"]),
            n(&s["rx"]["packets"]),
        )
    }
}

/// The whole lab.
pub struct Lab {
    pub id: String,
    pub gw: Ns,
    pub up: Ns,
    pub sw: Ns,
    pub clients: Vec<Client>,
    pub dir: PathBuf,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    pub daemon: Option<Daemon>,
}

impl Lab {
    /// Builds the lab with `n_clients` clients (1..=50).
    pub fn new(n_clients: usize) -> anyhow::Result<Self> {
        assert!((1..=50).contains(&n_clients));
        let id = format!(
            "na{}x{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("netauth-lab-{id}"));
        std::fs::create_dir_all(dir.join("bpf"))?;
        // A private bpffs for this lab's pins, outside /sys (which `ip netns exec`
        // remounts), so daemons started one after another see the same pins.
        sh(
            "mount",
            &["-t", "bpf", "bpf", &dir.join("bpf").to_string_lossy()],
        )?;
        let mut lab = Lab {
            gw: Ns {
                name: format!("{id}-gw"),
            },
            up: Ns {
                name: format!("{id}-up"),
            },
            sw: Ns {
                name: format!("{id}-sw"),
            },
            clients: Vec::new(),
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            daemon: None,
            id,
        };
        // From here on, Drop cleans up whatever was created.
        lab.build(n_clients)?;
        Ok(lab)
    }

    fn build(&mut self, n_clients: usize) -> anyhow::Result<()> {
        self.gw = Ns::create(&self.gw.name)?.without_dad()?;
        self.up = Ns::create(&self.up.name)?.without_dad()?;
        self.sw = Ns::create(&self.sw.name)?.without_dad()?;
        let (gw, up, sw) = (&self.gw.name, &self.up.name, &self.sw.name);

        // The LAN: a bridge in the switch namespace.
        self.sw.ip(&["link", "add", "br0", "type", "bridge"])?;
        self.sw.ip(&["link", "set", "br0", "up"])?;
        sh(
            "ip",
            &[
                "link", "add", "lan0", "netns", gw, "type", "veth", "peer", "name", "p-gw",
                "netns", sw,
            ],
        )?;
        self.sw
            .ip(&["link", "set", "p-gw", "master", "br0", "up"])?;

        // The gateway.
        let g = &self.gw;
        g.ip(&["link", "set", "lan0", "up"])?;
        g.ip(&["addr", "add", "192.0.2.1/24", "dev", "lan0"])?;
        g.ip(&["addr", "add", "2001:db8:1::1/64", "dev", "lan0", "nodad"])?;
        sh(
            "ip",
            &[
                "link", "add", "wan0", "netns", gw, "type", "veth", "peer", "name", "up0", "netns",
                up,
            ],
        )?;
        g.ip(&["addr", "add", "198.51.100.1/24", "dev", "wan0"])?;
        g.ip(&["addr", "add", "2001:db8:2::1/64", "dev", "wan0", "nodad"])?;
        g.ip(&["link", "set", "wan0", "up"])?;
        g.ip(&["route", "add", "203.0.113.0/24", "via", "198.51.100.2"])?;
        g.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:3::/64",
            "via",
            "2001:db8:2::2",
        ])?;
        sh(
            "ip",
            &[
                "netns",
                "exec",
                gw,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        )?;

        // The upstream ("the internet").
        let u = &self.up;
        u.ip(&["addr", "add", "198.51.100.2/24", "dev", "up0"])?;
        u.ip(&["addr", "add", "2001:db8:2::2/64", "dev", "up0", "nodad"])?;
        u.ip(&["link", "set", "up0", "up"])?;
        u.ip(&["addr", "add", "203.0.113.80/24", "dev", "lo"])?;
        u.ip(&["addr", "add", "2001:db8:3::80/64", "dev", "lo", "nodad"])?;
        u.ip(&["route", "add", "default", "via", "198.51.100.1"])?;
        u.ip(&["-6", "route", "add", "default", "via", "2001:db8:2::1"])?;

        for i in 0..n_clients {
            let ns = Ns::create(&format!("{}-c{i}", self.id))?.without_dad()?;
            let host = 10 + i as u8;
            let mac = format!("02:00:00:00:01:{host:02x}");
            let v4 = Ipv4Addr::new(192, 0, 2, host);
            let v6 = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, host as u16);
            let port = format!("p-c{i}");
            sh(
                "ip",
                &[
                    "link", "add", "eth0", "netns", &ns.name, "type", "veth", "peer", "name",
                    &port, "netns", sw,
                ],
            )?;
            self.sw.ip(&["link", "set", &port, "master", "br0", "up"])?;
            ns.ip(&["link", "set", "eth0", "address", &mac])?;
            ns.ip(&["link", "set", "eth0", "up"])?;
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", "eth0"])?;
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", "eth0", "nodad"])?;
            ns.ip(&["route", "add", "default", "via", "192.0.2.1"])?;
            ns.ip(&["-6", "route", "add", "default", "via", "2001:db8:1::1"])?;
            self.clients.push(Client { ns, mac, v4, v6 });
        }

        self.start_upstream_services()?;
        Ok(())
    }

    fn start_upstream_services(&mut self) -> anyhow::Result<()> {
        let up = self.up.clone();
        self.start_services(&up, true, UPSTREAM_TCP_PORTS, UPSTREAM_UDP_PORTS)
            .context("upstream services did not start")
    }

    /// Runs echo services on the gateway itself (a stand-in for its resolver, DHCP and
    /// NTP servers, sshd, ...): TCP on `tcp` ports, UDP on `udp` ports, both families.
    pub fn start_gateway_services(&mut self, tcp: &[u16], udp: &[u16]) -> anyhow::Result<()> {
        let gw = self.gw.clone();
        self.start_services(&gw, false, tcp, udp)
            .context("gateway services did not start")
    }

    /// Services in `ns` on both families, until the lab is dropped: the upstream web
    /// server on port 80 (`web`), TCP echo on `tcp` ports, UDP echo on `udp` ports.
    /// Returns once all of them listen.
    fn start_services(
        &mut self,
        ns: &Ns,
        web: bool,
        tcp: &[u16],
        udp: &[u16],
    ) -> anyhow::Result<()> {
        let ready = Arc::new(AtomicUsize::new(0));
        let mut expected = 0;
        for addr in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ] {
            let mut spawn = |f: Box<dyn FnOnce(Arc<AtomicBool>, Arc<AtomicUsize>) + Send>| {
                let (stop, r) = (self.stop.clone(), ready.clone());
                self.servers.push(ns.spawn(move || f(stop, r))?);
                expected += 1;
                anyhow::Ok(())
            };
            if web {
                spawn(Box::new(move |stop, r| {
                    net::serve_http(addr, 80, UPSTREAM_MARKER, stop, r)
                }))?;
            }
            for &port in tcp {
                spawn(Box::new(move |stop, r| {
                    net::serve_tcp_echo(addr, port, stop, r)
                }))?;
            }
            for &port in udp {
                spawn(Box::new(move |stop, r| {
                    net::serve_udp_echo(addr, port, stop, r)
                }))?;
            }
        }
        if !wait_until(Duration::from_secs(5), || {
            ready.load(Ordering::SeqCst) >= expected
        }) {
            bail!(
                "{} of {expected} listening after 5 s",
                ready.load(Ordering::SeqCst)
            );
        }
        Ok(())
    }

    /// Starts netauth on the gateway's LAN port with the lab's defaults plus `extra` args,
    /// and waits until its admin socket answers.
    pub fn start_netauth(&mut self, extra: &[&str]) -> anyhow::Result<&mut Daemon> {
        self.start_netauth_with(extra, None)
    }

    /// [`Lab::start_netauth`] with the daemon's open-file limit (soft and hard) set to
    /// `nofile`, as systemd's default `LimitNOFILE=1024` does.
    pub fn start_netauth_with(
        &mut self,
        extra: &[&str],
        nofile: Option<u64>,
    ) -> anyhow::Result<&mut Daemon> {
        self.start_netauth_opts(
            extra,
            DaemonOpts {
                nofile,
                ..DaemonOpts::default()
            },
        )
    }

    /// [`Lab::start_netauth`] with the conditions of `opts` (limits, environment, a boot).
    pub fn start_netauth_opts(
        &mut self,
        extra: &[&str],
        opts: DaemonOpts,
    ) -> anyhow::Result<&mut Daemon> {
        let daemon = Daemon::start_opts(&self.gw, &self.dir, extra, opts)?;
        self.daemon = Some(daemon);
        Ok(self.daemon.as_mut().expect("just set"))
    }

    /// Unplugs client `i` from this lab's LAN and plugs it into `to`'s: the device
    /// walked to another gateway. Returns the name of its switch port in `to` (for
    /// [`Lab::move_port`] back). Its interface keeps its MAC and addresses; see
    /// [`Client::readdress`] for a new lease. The client's namespace stays this lab's.
    pub fn hand_over(&self, i: usize, to: &Lab) -> anyhow::Result<String> {
        self.move_port(&format!("p-c{i}"), to)
    }

    /// Moves the switch port `port` from this lab's bridge to `to`'s, under a new name;
    /// returns that name.
    pub fn move_port(&self, port: &str, to: &Lab) -> anyhow::Result<String> {
        let moved = format!("mv{}", COUNTER.fetch_add(1, Ordering::SeqCst));
        self.sw.ip(&["link", "set", port, "nomaster"])?;
        self.sw.ip(&["link", "set", port, "down"])?;
        self.sw.ip(&["link", "set", port, "name", &moved])?;
        self.sw.ip(&["link", "set", &moved, "netns", &to.sw.name])?;
        to.sw.ip(&["link", "set", &moved, "master", "br0", "up"])?;
        Ok(moved)
    }

    pub fn daemon(&mut self) -> &mut Daemon {
        self.daemon.as_mut().expect("netauth not started")
    }

    /// Tears the lab down (also done on drop).
    pub fn cleanup(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
        }
        self.stop.store(true, Ordering::SeqCst);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        for c in &self.clients {
            c.ns.delete();
        }
        for ns in [&self.gw, &self.up, &self.sw] {
            ns.delete();
        }
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(&self.gw.name));
        // The lab's bpffs, and whatever a test mounted over the state directory.
        for mnt in [self.dir.join("bpf"), self.state_dir()] {
            let _ = Command::new("umount")
                .args(["-l"])
                .arg(&mnt)
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Makes programs in the gateway namespace (netauth's resolver) use `server` for DNS:
    /// `ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
    pub fn set_gateway_dns(&self, server: IpAddr) -> anyhow::Result<()> {
        let dir = PathBuf::from("/etc/netns").join(&self.gw.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("resolv.conf"),
            format!("nameserver {server}\noptions timeout:1 attempts:2\n"),
        )?;
        Ok(())
    }

    /// Where this lab's daemons pin their maps and links.
    pub fn bpffs(&self) -> PathBuf {
        self.dir.join("bpf")
    }

    /// What a reboot does to the gateway's datapath: the pins (maps and links) are gone.
    /// The lab removes them rather than relying on its bpffs going away: other labs'
    /// daemons run in mount namespaces that copied this lab's mount, and would keep it.
    pub fn forget_pins(&self) -> anyhow::Result<()> {
        let dir = self.pin_dir();
        if dir.exists() {
            for e in std::fs::read_dir(&dir)? {
                std::fs::remove_file(e?.path())?;
            }
            std::fs::remove_dir(&dir)?;
        }
        Ok(())
    }

    /// A reboot of the gateway: netauth is stopped (as systemd does at shutdown), then the
    /// pinned maps and links are gone with the old kernel, while the store on disk
    /// remains. Returns once nothing is attached to lan0 any more (the kernel releases
    /// the unpinned links asynchronously; after a real reboot nothing is attached).
    pub fn reboot(&mut self) {
        let status = self.daemon().stop().expect("stopping netauth");
        assert!(status.success(), "netauth stopped with {status}");
        self.forget_pins().expect("removing the pins");
        let gw = self.gw.clone();
        assert!(
            wait_until(Duration::from_secs(10), || !gw
                .ip(&["-d", "link", "show", "dev", "lan0"])
                .is_ok_and(
                    |o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
                )),
            "the old XDP program stayed attached"
        );
    }

    /// The gateway's pin directory for lan0: netauth keys pins by network namespace
    /// (interface names repeat across namespaces).
    pub fn pin_dir(&self) -> PathBuf {
        self.bpffs()
            .join(format!("netns-{}", self.gw.name))
            .join("lan0")
    }

    /// The gateway's session store directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The MAC address of the gateway's LAN port.
    pub fn gw_mac(&self) -> [u8; 6] {
        let out = self
            .gw
            .ip(&["-br", "link", "show", "lan0"])
            .expect("ip link");
        let text = String::from_utf8_lossy(&out.stdout);
        mac_bytes(
            text.split_whitespace()
                .nth(2)
                .expect("a MAC in `ip -br link`"),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Where the `netauth` binary is: $NETAUTH_BIN, else the workspace's release build, else
/// its debug build.
pub fn netauth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NETAUTH_BIN") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let release = root.join("target/release/netauth");
    if release.exists() {
        return release;
    }
    root.join("target/debug/netauth")
}

/// `netauth cert` as an operator runs it: a self-signed certificate for `hostname` and
/// `ip` written into `dir`; returns the certificate's and the key's paths.
pub fn make_cert(dir: &Path, hostname: &str, ip: &str) -> (PathBuf, PathBuf) {
    let out = Command::new(netauth_bin())
        .args(["cert", "--hostname", hostname, "--ip", ip, "--out-dir"])
        .arg(dir)
        .output()
        .expect("running netauth cert");
    assert!(out.status.success(), "netauth cert: {out:?}");
    (
        dir.join(format!("{hostname}.crt")),
        dir.join(format!("{hostname}.key")),
    )
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the workspace")
        .to_path_buf()
}

/// Conditions a daemon runs under.
#[derive(Clone, Debug, Default)]
pub struct DaemonOpts {
    /// Open-file limit (soft and hard).
    pub nofile: Option<u64>,
    /// Extra environment (e.g. libfaketime's, to give the daemon a shifted wall clock).
    pub env: Vec<(String, String)>,
    /// Show the daemon this `/proc/sys/kernel/random/boot_id` (a bind mount in a mount
    /// namespace of its own): to the daemon, the machine has rebooted.
    pub boot_id: Option<String>,
    /// Run this `netauth` binary instead of [`netauth_bin`] (e.g. the packaged one).
    pub bin: Option<PathBuf>,
}

/// The libfaketime preload library, when installed (Debian package libfaketime).
pub fn libfaketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join("faketime/libfaketime.so.1"))
    .find(|p| p.exists())
}

/// libfaketime settings giving a process a wall clock read from `offset_file` (e.g.
/// `+3600s`, changed at run time to step the clock), with the monotonic and boot clocks
/// left true.
pub fn faketime_env(offset_file: &Path) -> Vec<(String, String)> {
    let lib = libfaketime().expect("libfaketime (`cargo xtask setup` installs it)");
    vec![
        ("LD_PRELOAD".into(), lib.to_string_lossy().into_owned()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            offset_file.to_string_lossy().into_owned(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// A netauth daemon running in the gateway namespace.
pub struct Daemon {
    pub child: Child,
    /// The binary it runs (also used for its CLI).
    pub bin: PathBuf,
    pub admin_socket: PathBuf,
    pub log: PathBuf,
    pub gw: Ns,
}

impl Daemon {
    pub fn start(gw: &Ns, dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(gw, dir, extra, None)
    }

    /// Starts the daemon, optionally with an open-file limit of `nofile`.
    pub fn start_with(
        gw: &Ns,
        dir: &Path,
        extra: &[&str],
        nofile: Option<u64>,
    ) -> anyhow::Result<Self> {
        Self::start_opts(
            gw,
            dir,
            extra,
            DaemonOpts {
                nofile,
                ..DaemonOpts::default()
            },
        )
    }

    /// Starts the daemon under the conditions of `opts`.
    pub fn start_opts(
        gw: &Ns,
        dir: &Path,
        extra: &[&str],
        opts: DaemonOpts,
    ) -> anyhow::Result<Self> {
        let nofile = opts.nofile;
        let bin = opts.bin.clone().unwrap_or_else(netauth_bin);
        let admin_socket = dir.join("admin.sock");
        // Each start appends to the log, so restarts are visible in one file.
        let log = dir.join("netauth.log");
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let start_len = logfile.metadata()?.len() as usize;
        let mut cmd = match &opts.boot_id {
            None => gw.command(&bin),
            Some(id) => {
                let file = dir.join("boot_id");
                std::fs::write(&file, format!("{id}\n"))?;
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "slave", "sh", "-c"])
                    .arg(
                        "mount --bind \"$0\" /proc/sys/kernel/random/boot_id && ns=\"$1\" && shift && exec ip netns exec \"$ns\" \"$@\"",
                    )
                    .arg(&file)
                    .arg(&gw.name)
                    .arg(&bin);
                c
            }
        };
        cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
        cmd.args(["run", "--lan", "lan0", "--portal-port"])
            .arg(PORTAL_PORT.to_string())
            .arg("--admin-socket")
            .arg(&admin_socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--bpffs")
            .arg(dir.join("bpf"))
            .args(extra)
            .env("NETAUTH_LOG", "info")
            .stdin(Stdio::null())
            .stdout(logfile.try_clone()?)
            .stderr(logfile);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().context("starting netauth")?;
        let mut d = Daemon {
            child,
            bin,
            admin_socket,
            log,
            gw: gw.clone(),
        };
        let up_since = |d: &Daemon| {
            d.log_text()
                .get(start_len..)
                .unwrap_or("")
                .contains("netauth is up")
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = d.child.try_wait()? {
                bail!("netauth exited early ({status}):\n{}", d.log_text());
            }
            if up_since(&d) {
                return Ok(d);
            }
            if Instant::now() > deadline {
                bail!("netauth did not come up:\n{}", d.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The typed client of this daemon's admin API.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.admin_socket)
    }

    /// Every session (panics when the daemon does not answer).
    pub fn sessions(&self) -> Vec<SessionView> {
        AdminClient::block_on(self.admin().sessions())
            .unwrap_or_else(|e| panic!("listing the sessions: {e}"))
    }

    /// The session of `mac`, if it has one (panics when the daemon does not answer).
    pub fn session(&self, mac: &str) -> Option<SessionView> {
        let mac = mac.parse().unwrap_or_else(|e| panic!("{e}"));
        AdminClient::block_on(self.admin().session(mac))
            .unwrap_or_else(|e| panic!("asking for the session of {mac}: {e}"))
    }

    /// The daemon's facts and counters (`GET /v1/status`); JSON null when it does not
    /// answer, so a lookup in it fails whatever it expected.
    pub fn status(&self) -> serde_json::Value {
        AdminClient::block_on(self.admin().status()).unwrap_or_default()
    }

    /// The datapath and portal counters of [`Daemon::status`], by name.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.status()["counters"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
            .collect()
    }

    /// The Prometheus text of the admin socket's `/metrics`.
    pub fn metrics(&self) -> anyhow::Result<String> {
        Ok(AdminClient::block_on(self.admin().metrics())?)
    }

    /// Runs `netauth ARGS --admin-socket SOCK` and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .arg("--admin-socket")
            .arg(&self.admin_socket)
            .output()
            .expect("running the netauth CLI")
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        // `ip netns exec` execs netauth, so the child's pid is netauth's.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                self.kill();
                bail!("netauth did not stop within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop();
        }
    }
}
