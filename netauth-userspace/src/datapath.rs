//! The kernel side as seen from the daemon: loads the eBPF object, fills the maps that
//! describe the network (infrastructure servers, gateway services), attaches XDP and TC to
//! the LAN interface, and owns the maps (authorized clients with their per-CPU counters,
//! address bindings, datapath counters). The records the portal identifies clients by
//! (flows and addresses) are handed out as an [`Identity`] that needs no lock.
//!
//! Maps and program links are pinned under the pin directory (see [`pin_dir`]). A new
//! daemon reuses the pinned maps and swaps its programs into the pinned links in place, so
//! a restart, an upgrade or a crash never opens the LAN and never drops an authenticated
//! client. Only [`Datapath::detach`] (`netauth stop --detach`) takes it all down. Pins
//! live on a bpf filesystem that must outlive the process: [`check_pins_outlive`] refuses
//! one that would vanish with it (a bpffs mounted inside a private mount namespace).
//!
//! This module knows nothing of sessions or HTTP; it moves MACs and addresses in and out
//! of the kernel.

use std::{
    net::{IpAddr, Ipv6Addr},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{
        Array, HashMap, LpmTrie, MapData, MapError, MapInfo, MapType, PerCpuArray, PerCpuHashMap,
        PerCpuValues,
    },
    programs::{
        SchedClassifier, TcAttachType, Xdp,
        links::{FdLink, PinnedLink},
        tc::SchedClassifierLink,
        xdp::XdpLink,
    },
};
use netauth_common::{
    AddrOwner, ClientUsage, Counter, FlowKey, FlowOwner, GatewayPort, IpKey, MAP_BIND_EPOCH,
    MAP_BINDINGS, MAP_CLIENT_ADDRS, MAP_CLIENTS, MAP_COUNTERS, MAP_FLOWS, MAP_GATEWAY_ALLOW,
    MAP_INFRA, MAP_WALLED_V4, MAP_WALLED_V6, MAX_BINDINGS, MAX_CLIENTS, MacKey, client_flags,
    globals, programs,
};
use tracing::{info, warn};

use crate::{config::XdpMode, model::Mac, session::Usage};

/// The compiled kernel programs, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netauth"));

const LINK_XDP: &str = "link_xdp";
const LINK_TC_INGRESS: &str = "link_tc_ingress";
const LINK_TC_EGRESS: &str = "link_tc_egress";
/// statfs magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// The inode number of the initial network namespace (PROC_NET_INIT_INO).
const INIT_NET_INO: u64 = 0xEFFF_FFF9;

pub struct DatapathConfig<'a> {
    pub iface: &'a str,
    pub xdp_mode: XdpMode,
    pub portal_v4: Option<std::net::Ipv4Addr>,
    pub portal_v6: Option<std::net::Ipv6Addr>,
    pub portal_port: u16,
    /// The HTTPS port on the portal addresses, if any.
    pub api_port: Option<u16>,
    pub mark: u32,
    pub mark_mask: u32,
    /// Hold authorized devices to the addresses they acquired.
    pub bind_addresses: bool,
    /// Where pins live: a directory on a bpf filesystem.
    pub bpffs: &'a Path,
}

pub struct Datapath {
    // Owns the programs: dropping it closes our fds; the pins keep them attached.
    ebpf: Ebpf,
    iface: String,
    xdp_mode: XdpMode,
    clients: PerCpuHashMap<MapData, MacKey, ClientUsage>,
    bindings: HashMap<MapData, IpKey, MacKey>,
    /// Bumped whenever an address is taken from a device, so the datapath's caches of
    /// bound sources go stale.
    bind_epoch: Array<MapData, u32>,
    counters: PerCpuArray<MapData, u64>,
    infra: HashMap<MapData, IpKey, u32>,
    gateway_allow: HashMap<MapData, GatewayPort, u8>,
    /// The walled-garden tries, until the daemon takes them.
    pub walled: Option<WalledMaps>,
    /// The identity records, until the daemon takes them.
    identity: Option<Identity>,
    nr_cpus: usize,
    pin_dir: PathBuf,
    /// Links that could not be pinned (kernels without bpf_link for TC): kept alive here.
    _unpinned: Vec<FdLinkHolder>,
    // Kept alive so kernel-side aya-log records keep flowing.
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

/// What [`Datapath::attach`] did.
#[derive(Clone, Copy, Debug)]
pub struct Attached {
    /// The XDP mode in use ("native", "generic", "off", or "pinned" when an existing
    /// pinned link was reused).
    pub xdp: &'static str,
    /// Whether programs were swapped into links a previous daemon left.
    pub adopted: bool,
}

pub type WalledMaps = (
    LpmTrie<MapData, [u8; 4], u8>,
    LpmTrie<MapData, [u8; 16], u8>,
);

enum FdLinkHolder {
    Tc(#[allow(dead_code)] SchedClassifierLink),
}

/// How the portal knows who sent a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowIdentity {
    /// Every packet of the flow came from this MAC.
    Mac(Mac),
    /// Packets of the flow came from more than one MAC (someone spoofed the address):
    /// nobody is trusted with it.
    Conflict,
    /// The datapath has no record of the flow (not from the LAN, or evicted).
    Unknown,
}

/// The datapath's records of who sends what, readable without any lock.
pub struct Identity {
    flows: HashMap<MapData, FlowKey, FlowOwner>,
    addrs: HashMap<MapData, IpKey, AddrOwner>,
}

pub fn ip_key(ip: IpAddr) -> IpKey {
    match ip {
        IpAddr::V4(a) => IpKey::from_v4(a.octets()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpKey::from_v4(v4.octets()),
            None => IpKey::from_v6(a.octets()),
        },
    }
}

fn key_ip(k: &IpKey) -> IpAddr {
    let v6 = Ipv6Addr::from(k.addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl Identity {
    /// Who sent the TCP flow from `client` to `server` (the connection's remote and local
    /// addresses; for an intercepted connection `server` is the original destination).
    pub fn flow(&self, client: std::net::SocketAddr, server: std::net::SocketAddr) -> FlowIdentity {
        let key = FlowKey {
            saddr: ip_key(client.ip()).addr,
            daddr: ip_key(server.ip()).addr,
            sport: client.port(),
            dport: server.port(),
        };
        match self.flows.get(&key, 0) {
            Ok(f) if f.conflict != 0 => FlowIdentity::Conflict,
            Ok(f) => FlowIdentity::Mac(Mac(f.mac)),
            Err(_) => FlowIdentity::Unknown,
        }
    }

    /// The MAC that used `ip` while captive, as the TC program recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        self.addrs.get(&ip_key(ip), 0).ok().map(|o| Mac(o.mac))
    }

    /// Every recorded (address, MAC) pair.
    pub fn recorded_clients(&self) -> Vec<(IpAddr, Mac)> {
        self.addrs
            .iter()
            .filter_map(Result::ok)
            .map(|(k, o)| (key_ip(&k), Mac(o.mac)))
            .collect()
    }
}

/// The network namespace this process runs in, as a pin-directory component: `None` for
/// the host's (initial) namespace, else `netns-NAME` (a name under /run/netns, as
/// `ip netns` gives) or `netns-INODE`.
fn netns_component() -> Option<String> {
    let own = std::fs::metadata("/proc/self/ns/net").ok()?;
    if own.ino() == INIT_NET_INO {
        return None;
    }
    for dir in ["/run/netns", "/var/run/netns"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(m) = std::fs::metadata(e.path())
                && m.ino() == own.ino()
                && m.dev() == own.dev()
            {
                return Some(format!("netns-{}", e.file_name().to_string_lossy()));
            }
        }
    }
    Some(format!("netns-{}", own.ino()))
}

/// The pin directory of an interface: `<bpffs>/<iface>` in the host's network namespace,
/// `<bpffs>/netns-<name>/<iface>` in another one (interface names repeat across
/// namespaces).
pub fn pin_dir(bpffs: &Path, iface: &str) -> PathBuf {
    match netns_component() {
        Some(ns) => bpffs.join(ns).join(iface),
        None => bpffs.join(iface),
    }
}

fn is_bpffs(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs on a valid C string into a zeroed struct.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC
    }
}

/// The inode of a process's mount namespace.
fn mount_ns(pid: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

/// Other processes, each with its mount namespace.
fn other_processes() -> Vec<(String, Option<u64>)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.bytes().all(|b| b.is_ascii_digit()) && name != me).then(|| {
                let ns = mount_ns(&name);
                (name, ns)
            })
        })
        .collect()
}

/// Whether a bpf filesystem with device `dev` is mounted in `pid`'s mount namespace.
fn mounted_in(pid: &str, dev: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return false;
    };
    let want = format!("{}:{}", libc::major(dev), libc::minor(dev));
    text.lines().any(|l| {
        let mut f = l.split_whitespace();
        let dev = f.nth(2);
        let fstype = l
            .split(" - ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        dev == Some(want.as_str()) && fstype == Some("bpf")
    })
}

/// Why the pins under `bpffs` will outlive this process, or an error saying what to do
/// when they would not (then the LAN would fail open the moment netauth stops). Mounts a
/// bpffs at /sys/fs/bpf first if `bpffs` is under it and nothing is mounted yet, but only
/// where that mount is shared with other processes.
pub fn check_pins_outlive(bpffs: &Path) -> anyhow::Result<String> {
    let own_ns = mount_ns("self");
    let others = other_processes();
    let shared_with = others
        .iter()
        .find(|(_, ns)| own_ns.is_some() && *ns == own_ns)
        .map(|(pid, _)| pid.clone());
    let advice = "mount a bpf filesystem in the host's mount namespace outside /sys (e.g. \
                  `mkdir -p /run/netauth/bpf && mount -t bpf bpf /run/netauth/bpf`) and pass \
                  `--bpffs /run/netauth/bpf`, or run netauth in the host's mount namespace";
    let sys = Path::new("/sys/fs/bpf");
    if bpffs.starts_with(sys) && !is_bpffs(sys) {
        if shared_with.is_none() {
            bail!(
                "netauth runs in a mount namespace of its own (as under `ip netns exec`), where \
                 /sys/fs/bpf is not the host's: a bpf filesystem mounted there would vanish \
                 with netauth, and its pins with it, so the LAN would fail open when netauth \
                 stops; {advice}"
            );
        }
        std::fs::create_dir_all(sys)?;
        // SAFETY: mount(2) with valid C strings.
        let rc = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                c"/sys/fs/bpf".as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            bail!(
                "mounting bpffs on /sys/fs/bpf failed: {}",
                std::io::Error::last_os_error()
            );
        }
        info!("mounted a bpf filesystem on /sys/fs/bpf");
    }
    std::fs::create_dir_all(bpffs).with_context(|| format!("creating {}", bpffs.display()))?;
    if !is_bpffs(bpffs) {
        bail!(
            "{} is not on a bpf filesystem (mount one with `mount -t bpf bpf DIR`, or use --bpffs)",
            bpffs.display()
        );
    }
    if let Some(pid) = shared_with {
        return Ok(format!(
            "the bpf filesystem is in a mount namespace shared with other processes (pid {pid})"
        ));
    }
    let dev = std::fs::metadata(bpffs)?.dev();
    match others
        .iter()
        .find(|(pid, ns)| *ns != own_ns && mounted_in(pid, dev))
    {
        Some((pid, _)) => Ok(format!(
            "netauth has a mount namespace of its own, but this bpf filesystem is also mounted \
             in pid {pid}'s"
        )),
        None => bail!(
            "the bpf filesystem at {} is mounted only in netauth's own mount namespace (as \
             under `ip netns exec`): its pins would vanish with netauth and the LAN would fail \
             open when netauth stops; {advice}",
            bpffs.display()
        ),
    }
}

/// What a pinned map must look like to be reused: (name, type, key size, value size,
/// max entries, flags).
fn expected_pins() -> [(&'static str, MapType, u32, u32, u32, u32); 4] {
    [
        (
            MAP_CLIENT_ADDRS,
            MapType::LruHash,
            size_of::<IpKey>() as u32,
            size_of::<AddrOwner>() as u32,
            netauth_common::MAX_CLIENT_ADDRS,
            0,
        ),
        (
            MAP_CLIENTS,
            MapType::PerCpuHash,
            size_of::<MacKey>() as u32,
            size_of::<ClientUsage>() as u32,
            MAX_CLIENTS,
            0,
        ),
        (MAP_COUNTERS, MapType::PerCpuArray, 4, 8, Counter::SLOTS, 0),
        (
            MAP_BINDINGS,
            MapType::Hash,
            size_of::<IpKey>() as u32,
            size_of::<MacKey>() as u32,
            MAX_BINDINGS,
            1, /* BPF_F_NO_PREALLOC */
        ),
    ]
}

/// Unpins maps an older netauth left with another layout, so this one creates its own
/// (the old programs keep the old maps alive until the links are swapped). Sessions are
/// then restored from the store, as after a reboot.
fn drop_incompatible_pins(pin_dir: &Path) {
    for (name, ty, key, value, max, flags) in expected_pins() {
        let path = pin_dir.join(name);
        if !path.exists() {
            continue;
        }
        let ok = match MapInfo::from_pin(&path) {
            Ok(i) => {
                i.map_type().ok() == Some(ty)
                    && i.key_size() == key
                    && i.value_size() == value
                    && i.max_entries() == max
                    && i.map_flags() == flags
            }
            Err(_) => false,
        };
        if !ok {
            warn!(
                map = name,
                "the pinned map has another layout (an older netauth): replaced; sessions are \
                 restored from the store"
            );
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl Datapath {
    /// Loads the object and its programs (the verifier checks them here), creating or
    /// reusing the pinned maps. Nothing is attached yet: fill the maps, then [`attach`].
    ///
    /// [`attach`]: Datapath::attach
    pub fn load(cfg: &DatapathConfig<'_>) -> anyhow::Result<Self> {
        if EBPF_OBJECT.is_empty() {
            bail!("this netauth binary was built without its kernel programs (AYA_BUILD_SKIP?)");
        }
        let pin_dir = pin_dir(cfg.bpffs, cfg.iface);
        std::fs::create_dir_all(&pin_dir)
            .with_context(|| format!("creating {}", pin_dir.display()))?;
        drop_incompatible_pins(&pin_dir);
        let v4 = cfg.portal_v4.map(|a| a.octets()).unwrap_or([0; 4]);
        let v6 = cfg.portal_v6.map(|a| a.octets()).unwrap_or([0; 16]);
        let tc_counts_ingress: u8 = u8::from(cfg.xdp_mode == XdpMode::Off);
        let api_port: u16 = cfg.api_port.unwrap_or(0);
        let strict: u8 = u8::from(cfg.bind_addresses);
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&pin_dir)
            .override_global(globals::PORTAL_V4, &v4, true)
            .override_global(globals::PORTAL_V6, &v6, true)
            .override_global(globals::PORTAL_PORT, &cfg.portal_port, true)
            .override_global(globals::API_PORT, &api_port, true)
            .override_global(globals::MARK, &cfg.mark, true)
            .override_global(globals::MARK_MASK, &cfg.mark_mask, true)
            .override_global(globals::TC_COUNTS_INGRESS, &tc_counts_ingress, true)
            .override_global(globals::BIND_STRICT, &strict, true)
            .load(EBPF_OBJECT)
            .with_context(|| {
                format!(
                    "the kernel refused netauth's eBPF maps or programs (netauth needs Linux >= 5.7 \
                     with BPF, BTF and clsact support, and root; if {} holds maps of an older \
                     netauth, run `netauth stop --detach` first)",
                    pin_dir.display()
                )
            })?;

        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                // Kernel-side logging is debug-only; carry on without it.
                warn!("kernel-side logging unavailable: {e}");
                None
            }
        };
        for name in [programs::TC_INGRESS, programs::TC_EGRESS] {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or_else(|| anyhow!("{name} missing from object"))?
                .try_into()?;
            prog.load()
                .with_context(|| format!("the kernel's verifier rejected {name}"))?;
        }
        if cfg.xdp_mode != XdpMode::Off {
            let xdp: &mut Xdp = ebpf
                .program_mut(programs::XDP)
                .ok_or_else(|| anyhow!("XDP program missing from object"))?
                .try_into()?;
            xdp.load()
                .context("the kernel's verifier rejected the XDP program")?;
        }

        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| anyhow!("map {name} missing from the object"))
        };
        let clients = PerCpuHashMap::try_from(take(MAP_CLIENTS)?)?;
        let bindings = HashMap::try_from(take(MAP_BINDINGS)?)?;
        let mut bind_epoch: Array<MapData, u32> = Array::try_from(take(MAP_BIND_EPOCH)?)?;
        // A fresh epoch: caches left in the pinned client map by an earlier run are stale.
        let mut seed = [0u8; 4];
        getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness: {e}"))?;
        bind_epoch
            .set(0, u32::from_ne_bytes(seed) | 1, 0)
            .context("setting the binding epoch")?;
        let counters = PerCpuArray::try_from(take(MAP_COUNTERS)?)?;
        let infra = HashMap::try_from(take(MAP_INFRA)?)?;
        let gateway_allow = HashMap::try_from(take(MAP_GATEWAY_ALLOW)?)?;
        let walled = (
            LpmTrie::try_from(take(MAP_WALLED_V4)?)?,
            LpmTrie::try_from(take(MAP_WALLED_V6)?)?,
        );
        let identity = Identity {
            flows: HashMap::try_from(take(MAP_FLOWS)?)?,
            addrs: HashMap::try_from(take(MAP_CLIENT_ADDRS)?)?,
        };
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        Ok(Self {
            ebpf,
            iface: cfg.iface.to_string(),
            xdp_mode: cfg.xdp_mode,
            clients,
            bindings,
            bind_epoch,
            counters,
            infra,
            gateway_allow,
            walled: Some(walled),
            identity: Some(identity),
            nr_cpus,
            pin_dir,
            _unpinned: Vec::new(),
            logger,
        })
    }

    /// The infrastructure addresses ([`netauth_common::infra`] bits per address) and the
    /// gateway services captive clients may use. Call before [`Datapath::attach`].
    pub fn set_network(
        &mut self,
        infra: &[(IpAddr, u32)],
        gateway_allow: &[(u8, u16)],
    ) -> anyhow::Result<()> {
        let mut merged: std::collections::HashMap<IpKey, u32> = Default::default();
        for (ip, bits) in infra {
            *merged.entry(ip_key(*ip)).or_default() |= bits;
        }
        for (k, v) in merged {
            self.infra
                .insert(k, v, 0)
                .context("filling the infrastructure map")?;
        }
        for (proto, port) in gateway_allow {
            let key = GatewayPort {
                proto: *proto,
                _pad: 0,
                port: *port,
            };
            self.gateway_allow
                .insert(key, 1, 0)
                .context("filling the gateway-allow map")?;
        }
        Ok(())
    }

    /// Attaches the programs: TC first (it enforces the whole policy by itself, so the
    /// interface is never open while XDP is being attached or replaced), then XDP. Links a
    /// previous daemon pinned are reused: the new programs replace the old ones in place.
    pub fn attach(&mut self) -> anyhow::Result<Attached> {
        let iface = self.iface.clone();
        let mut adopted = false;
        let _ = aya::programs::tc::qdisc_add_clsact(&iface); // present is fine; TCX needs none
        for (prog_name, attach, pin) in [
            (programs::TC_INGRESS, TcAttachType::Ingress, LINK_TC_INGRESS),
            (programs::TC_EGRESS, TcAttachType::Egress, LINK_TC_EGRESS),
        ] {
            let prog: &mut SchedClassifier = self
                .ebpf
                .program_mut(prog_name)
                .ok_or_else(|| anyhow!("{prog_name} missing from object"))?
                .try_into()?;
            let pin_path = self.pin_dir.join(pin);
            if let Some(link) = adopt::<SchedClassifierLink>(&pin_path) {
                match prog.attach_to_link(link) {
                    Ok(_) => {
                        adopted = true;
                        continue;
                    }
                    Err(e) => {
                        warn!("pinned {pin} could not be reused ({e}); attaching afresh");
                        let _ = std::fs::remove_file(&pin_path);
                    }
                }
            }
            let id = prog
                .attach(&iface, attach)
                .with_context(|| format!("attaching {prog_name} to {iface}"))?;
            let link = prog.take_link(id)?;
            match FdLink::try_from(link) {
                Ok(fd) => {
                    fd.pin(&pin_path)
                        .with_context(|| format!("pinning {}", pin_path.display()))?;
                }
                Err(_) => {
                    warn!("this kernel has no TC bpf_link: a crash of netauth will detach TC");
                    // take_link consumed it; re-attach and keep the link in memory.
                    let id = prog.attach(&iface, attach)?;
                    self._unpinned.push(FdLinkHolder::Tc(prog.take_link(id)?));
                }
            }
        }

        let xdp_pin = self.pin_dir.join(LINK_XDP);
        let xdp = if self.xdp_mode == XdpMode::Off {
            if xdp_pin.exists() {
                // Unpinning the last reference detaches XDP; TC already enforces.
                std::fs::remove_file(&xdp_pin)?;
            }
            "off"
        } else {
            let xdp: &mut Xdp = self
                .ebpf
                .program_mut(programs::XDP)
                .ok_or_else(|| anyhow!("XDP program missing from object"))?
                .try_into()?;
            let mut reused = false;
            if let Some(link) = adopt::<XdpLink>(&xdp_pin) {
                match xdp.attach_to_link(link) {
                    Ok(_) => {
                        adopted = true;
                        reused = true;
                    }
                    Err(e) => {
                        warn!("pinned XDP link could not be reused ({e}); attaching afresh");
                        let _ = std::fs::remove_file(&xdp_pin);
                    }
                }
            }
            if reused {
                "pinned"
            } else {
                let (id, mode) = match self.xdp_mode {
                    XdpMode::Native => (
                        xdp.attach(&iface, aya::programs::XdpMode::Driver)
                            .with_context(|| {
                                format!("attaching XDP in native mode to {iface} (does the driver support XDP? try --xdp-mode generic)")
                            })?,
                        "native",
                    ),
                    XdpMode::Generic => (
                        xdp.attach(&iface, aya::programs::XdpMode::Skb)
                            .with_context(|| format!("attaching XDP in generic mode to {iface}"))?,
                        "generic",
                    ),
                    _ => match xdp.attach(&iface, aya::programs::XdpMode::Driver) {
                        Ok(id) => (id, "native"),
                        Err(e) => {
                            info!("native XDP not available on {iface} ({e}); using generic XDP");
                            (
                                xdp.attach(&iface, aya::programs::XdpMode::Skb)
                                    .with_context(|| format!("attaching XDP to {iface}"))?,
                                "generic",
                            )
                        }
                    },
                };
                let link = xdp.take_link(id)?;
                let fd = FdLink::try_from(link)
                    .map_err(|e| anyhow!("XDP link cannot be pinned on this kernel: {e}"))?;
                fd.pin(&xdp_pin)
                    .with_context(|| format!("pinning {}", xdp_pin.display()))?;
                mode
            }
        };
        Ok(Attached { xdp, adopted })
    }

    /// The identity records (flows and addresses), taken once by the daemon.
    pub fn take_identity(&mut self) -> Option<Identity> {
        self.identity.take()
    }

    /// Let this MAC's traffic pass. An existing entry (and its counters) is kept.
    /// `exempt`: the device is not held to its bound addresses.
    pub fn authorize(&mut self, mac: Mac, exempt: bool) -> Result<(), MapError> {
        let key = MacKey::new(mac.0);
        if self.clients.get(&key, 0).is_ok() {
            return Ok(());
        }
        let slot = ClientUsage {
            flags: if exempt {
                client_flags::EXEMPT_BINDING
            } else {
                0
            },
            ..ClientUsage::default()
        };
        let values = PerCpuValues::try_from(vec![slot; self.nr_cpus])?;
        self.clients.insert(key, values, 0)
    }

    /// Make this MAC captive again. Returns whether it was in the map.
    pub fn revoke(&mut self, mac: Mac) -> Result<bool, MapError> {
        match self.clients.remove(&MacKey::new(mac.0)) {
            Ok(()) => Ok(true),
            Err(MapError::KeyNotFound) => Ok(false),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub fn is_authorized(&self, mac: Mac) -> bool {
        self.clients.get(&MacKey::new(mac.0), 0).is_ok()
    }

    /// Every MAC in the client map.
    pub fn keys(&self) -> Vec<Mac> {
        self.clients
            .keys()
            .filter_map(Result::ok)
            .map(|k| Mac(k.addr))
            .collect()
    }

    /// Binds `ip` to `mac` (replacing another device's binding: the caller proved `mac`
    /// sends from it, e.g. by the login connection).
    pub fn bind(&mut self, ip: IpAddr, mac: Mac) -> Result<(), MapError> {
        if ip.is_unspecified() || is_link_local(ip) {
            return Ok(());
        }
        let key = ip_key(ip);
        let previous = self.bindings.get(&key, 0).ok();
        if previous.is_some_and(|m| m.addr == mac.0) {
            return Ok(());
        }
        self.bindings.insert(key, MacKey::new(mac.0), 0)?;
        if previous.is_some() {
            // Taken from another device: its cached bound source must not pass.
            self.bump_epoch();
        }
        Ok(())
    }

    /// Binds `ip` to `mac` unless another device holds it; whether it is `mac`'s now.
    pub fn bind_if_free(&mut self, ip: IpAddr, mac: Mac) -> bool {
        if ip.is_unspecified() || is_link_local(ip) {
            return false;
        }
        let key = ip_key(ip);
        match self.bindings.get(&key, 0) {
            Ok(m) => m.addr == mac.0,
            Err(_) => self.bindings.insert(key, MacKey::new(mac.0), 0).is_ok(),
        }
    }

    /// Removes the binding of `ip` if it belongs to `mac`.
    pub fn unbind(&mut self, ip: IpAddr, mac: Mac) {
        let key = ip_key(ip);
        if self.bindings.get(&key, 0).is_ok_and(|m| m.addr == mac.0)
            && self.bindings.remove(&key).is_ok()
        {
            self.bump_epoch();
        }
    }

    fn bump_epoch(&mut self) {
        let e = self.bind_epoch.get(&0, 0).unwrap_or(0);
        if let Err(e) = self.bind_epoch.set(0, e.wrapping_add(1) | 1, 0) {
            warn!("could not advance the binding epoch: {e}");
        }
    }

    /// Every binding: (address, device).
    pub fn bindings(&self) -> Vec<(IpAddr, Mac)> {
        self.bindings
            .iter()
            .filter_map(Result::ok)
            .map(|(k, m)| (key_ip(&k), Mac(m.addr)))
            .collect()
    }

    /// A reader of every client's counters at once (on its own descriptor of the map).
    pub fn counter_reader(&self) -> std::io::Result<crate::counters::CounterReader> {
        use aya::maps::IterableMap as _;
        use std::os::fd::AsFd as _;
        let fd = self.clients.map().fd().as_fd().try_clone_to_owned()?;
        Ok(crate::counters::CounterReader::new(fd, self.nr_cpus))
    }

    /// The kernel's counters for `mac`, summed over CPUs, and when it last sent (unix ms).
    pub fn usage(&self, mac: Mac, now_ms: u64) -> Option<(Usage, Option<u64>)> {
        let values = self.clients.get(&MacKey::new(mac.0), 0).ok()?;
        let mut u = Usage::default();
        let mut last_seen_ns = 0u64;
        for v in values.iter() {
            u.up_bytes += v.up_bytes;
            u.up_packets += v.up_packets;
            u.down_bytes += v.down_bytes;
            u.down_packets += v.down_packets;
            last_seen_ns = last_seen_ns.max(v.last_seen_ns);
        }
        let seen_ms = (last_seen_ns != 0).then(|| {
            let ago_ms = monotonic_ns().saturating_sub(last_seen_ns) / 1_000_000;
            now_ms.saturating_sub(ago_ms)
        });
        Some((u, seen_ms))
    }

    /// Datapath counters summed over CPUs, in [`Counter::NAMES`] order.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        (0..Counter::COUNT)
            .map(|i| {
                let sum = self
                    .counters
                    .get(&i, 0)
                    .map(|v| v.iter().sum())
                    .unwrap_or(0);
                (Counter::NAMES[i as usize], sum)
            })
            .collect()
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Removes every pin of this interface: the programs detach once this process exits
    /// (at once for links no process holds).
    pub fn detach(&self) -> anyhow::Result<()> {
        remove_pins(&self.pin_dir)
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Removes an interface's pin directory (links and maps).
pub fn remove_pins(pin_dir: &Path) -> anyhow::Result<()> {
    if !pin_dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(pin_dir)? {
        let path = entry?.path();
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    std::fs::remove_dir(pin_dir).with_context(|| format!("removing {}", pin_dir.display()))?;
    // The per-namespace directory, once empty.
    if let Some(parent) = pin_dir.parent()
        && parent
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("netns-"))
    {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

fn adopt<L: TryFrom<FdLink>>(pin: &Path) -> Option<L> {
    if !pin.exists() {
        return None;
    }
    let pinned = match PinnedLink::from_pin(pin) {
        Ok(p) => p,
        Err(e) => {
            warn!("cannot open pinned link {}: {e}", pin.display());
            return None;
        }
    };
    let fd: FdLink = pinned.into();
    L::try_from(fd).ok()
}

pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}
