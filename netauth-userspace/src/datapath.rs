//! The kernel side as seen from the daemon: loads the eBPF object, attaches XDP and TC to
//! the LAN interface, and owns the maps (authorized clients with their per-CPU counters,
//! address records, datapath counters).
//!
//! Maps and program links are pinned under `<bpffs>/<interface>/`. A new daemon reuses the
//! pinned maps and swaps its programs into the pinned links in place, so a restart, an
//! upgrade or a crash never opens the LAN and never drops an authenticated client. Only
//! [`Datapath::detach`] (`netauth stop --detach`) takes it all down.
//!
//! This module knows nothing of sessions or HTTP; it moves MACs in and out of the kernel.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, LpmTrie, MapData, MapError, PerCpuArray, PerCpuHashMap, PerCpuValues},
    programs::{
        SchedClassifier, TcAttachType, Xdp,
        links::{FdLink, PinnedLink},
        tc::SchedClassifierLink,
        xdp::XdpLink,
    },
};
use netauth_common::{
    ClientUsage, Counter, IpKey, MAP_CLIENT_ADDRS, MAP_CLIENTS, MAP_COUNTERS, MAP_WALLED_V4,
    MAP_WALLED_V6, MacKey, globals, programs,
};
use tracing::{info, warn};

use crate::{config::XdpMode, mac::Mac, session::Usage};

/// The compiled kernel programs, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netauth"));

const LINK_XDP: &str = "link_xdp";
const LINK_TC_INGRESS: &str = "link_tc_ingress";
const LINK_TC_EGRESS: &str = "link_tc_egress";
/// statfs magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

pub struct DatapathConfig<'a> {
    pub iface: &'a str,
    pub xdp_mode: XdpMode,
    pub portal_v4: Option<std::net::Ipv4Addr>,
    pub portal_v6: Option<std::net::Ipv6Addr>,
    pub portal_port: u16,
    pub mark: u32,
    pub mark_mask: u32,
    /// Where pins live: a directory on a bpf filesystem.
    pub bpffs: &'a Path,
}

pub struct Datapath {
    // Owns the programs: dropping it closes our fds; the pins keep them attached.
    _ebpf: Ebpf,
    clients: PerCpuHashMap<MapData, MacKey, ClientUsage>,
    addrs: HashMap<MapData, IpKey, MacKey>,
    counters: PerCpuArray<MapData, u64>,
    /// The walled-garden tries, until the daemon takes them.
    pub walled: Option<WalledMaps>,
    nr_cpus: usize,
    pin_dir: PathBuf,
    /// Links that could not be pinned (kernels without bpf_link for TC): kept alive here.
    _unpinned: Vec<FdLinkHolder>,
    /// The XDP mode in use ("native", "generic", "off", or "pinned" when an existing
    /// pinned link was reused).
    pub xdp_attached: &'static str,
    /// Whether programs were swapped into links a previous daemon left.
    pub adopted: bool,
    // Kept alive so kernel-side aya-log records keep flowing.
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

pub type WalledMaps = (
    LpmTrie<MapData, [u8; 4], u8>,
    LpmTrie<MapData, [u8; 16], u8>,
);

enum FdLinkHolder {
    Tc(#[allow(dead_code)] SchedClassifierLink),
}

/// The pin directory of an interface.
pub fn pin_dir(bpffs: &Path, iface: &str) -> PathBuf {
    bpffs.join(iface)
}

/// Makes sure `bpffs` is on a bpf filesystem, mounting one at /sys/fs/bpf if that is
/// where it should be and nothing is mounted yet.
pub fn ensure_bpffs(bpffs: &Path) -> anyhow::Result<()> {
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
    let sys = Path::new("/sys/fs/bpf");
    if bpffs.starts_with(sys) && !is_bpffs(sys) {
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
    }
    std::fs::create_dir_all(bpffs).with_context(|| format!("creating {}", bpffs.display()))?;
    if !is_bpffs(bpffs) {
        bail!(
            "{} is not on a bpf filesystem (mount one with `mount -t bpf bpf DIR`, or use --bpffs)",
            bpffs.display()
        );
    }
    Ok(())
}

impl Datapath {
    pub fn load(cfg: &DatapathConfig<'_>) -> anyhow::Result<Self> {
        if EBPF_OBJECT.is_empty() {
            bail!("this netauth binary was built without its kernel programs (AYA_BUILD_SKIP?)");
        }
        ensure_bpffs(cfg.bpffs)?;
        let pin_dir = pin_dir(cfg.bpffs, cfg.iface);
        std::fs::create_dir_all(&pin_dir)
            .with_context(|| format!("creating {}", pin_dir.display()))?;
        let v4 = cfg.portal_v4.map(|a| a.octets()).unwrap_or([0; 4]);
        let v6 = cfg.portal_v6.map(|a| a.octets()).unwrap_or([0; 16]);
        let tc_counts_ingress: u8 = u8::from(cfg.xdp_mode == XdpMode::Off);
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&pin_dir)
            .override_global(globals::PORTAL_V4, &v4, true)
            .override_global(globals::PORTAL_V6, &v6, true)
            .override_global(globals::PORTAL_PORT, &cfg.portal_port, true)
            .override_global(globals::MARK, &cfg.mark, true)
            .override_global(globals::MARK_MASK, &cfg.mark_mask, true)
            .override_global(globals::TC_COUNTS_INGRESS, &tc_counts_ingress, true)
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

        let mut unpinned = Vec::new();
        let mut adopted = false;
        // TC first: it enforces the whole policy by itself, so the interface is never
        // open while XDP is being attached or replaced.
        let _ = aya::programs::tc::qdisc_add_clsact(cfg.iface); // present is fine; TCX needs none
        for (prog_name, attach, pin) in [
            (programs::TC_INGRESS, TcAttachType::Ingress, LINK_TC_INGRESS),
            (programs::TC_EGRESS, TcAttachType::Egress, LINK_TC_EGRESS),
        ] {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(prog_name)
                .ok_or_else(|| anyhow!("{prog_name} missing from object"))?
                .try_into()?;
            prog.load()
                .with_context(|| format!("the kernel's verifier rejected {prog_name}"))?;
            let pin_path = pin_dir.join(pin);
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
                .attach(cfg.iface, attach)
                .with_context(|| format!("attaching {prog_name} to {}", cfg.iface))?;
            let link = prog.take_link(id)?;
            match FdLink::try_from(link) {
                Ok(fd) => {
                    fd.pin(&pin_path)
                        .with_context(|| format!("pinning {}", pin_path.display()))?;
                }
                Err(_) => {
                    warn!("this kernel has no TC bpf_link: a crash of netauth will detach TC");
                    // take_link consumed it; re-attach and keep the link in memory.
                    let id = prog.attach(cfg.iface, attach)?;
                    unpinned.push(FdLinkHolder::Tc(prog.take_link(id)?));
                }
            }
        }

        let xdp_pin = pin_dir.join(LINK_XDP);
        let xdp_attached = if cfg.xdp_mode == XdpMode::Off {
            if xdp_pin.exists() {
                // Unpinning the last reference detaches XDP; TC already enforces.
                std::fs::remove_file(&xdp_pin)?;
            }
            "off"
        } else {
            let xdp: &mut Xdp = ebpf
                .program_mut(programs::XDP)
                .ok_or_else(|| anyhow!("XDP program missing from object"))?
                .try_into()?;
            xdp.load()
                .context("the kernel's verifier rejected the XDP program")?;
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
                let (id, mode) = match cfg.xdp_mode {
                    XdpMode::Native => (
                        xdp.attach(cfg.iface, aya::programs::XdpMode::Driver)
                            .with_context(|| {
                                format!("attaching XDP in native mode to {} (does the driver support XDP? try --xdp-mode generic)", cfg.iface)
                            })?,
                        "native",
                    ),
                    XdpMode::Generic => (
                        xdp.attach(cfg.iface, aya::programs::XdpMode::Skb)
                            .with_context(|| format!("attaching XDP in generic mode to {}", cfg.iface))?,
                        "generic",
                    ),
                    _ => match xdp.attach(cfg.iface, aya::programs::XdpMode::Driver) {
                        Ok(id) => (id, "native"),
                        Err(e) => {
                            info!("native XDP not available on {} ({e}); using generic XDP", cfg.iface);
                            (
                                xdp.attach(cfg.iface, aya::programs::XdpMode::Skb)
                                    .with_context(|| format!("attaching XDP to {}", cfg.iface))?,
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

        let clients = PerCpuHashMap::try_from(
            ebpf.take_map(MAP_CLIENTS)
                .ok_or_else(|| anyhow!("map {MAP_CLIENTS} missing"))?,
        )?;
        let addrs = HashMap::try_from(
            ebpf.take_map(MAP_CLIENT_ADDRS)
                .ok_or_else(|| anyhow!("map {MAP_CLIENT_ADDRS} missing"))?,
        )?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map(MAP_COUNTERS)
                .ok_or_else(|| anyhow!("map {MAP_COUNTERS} missing"))?,
        )?;
        let walled_v4 = LpmTrie::try_from(
            ebpf.take_map(MAP_WALLED_V4)
                .ok_or_else(|| anyhow!("map {MAP_WALLED_V4} missing"))?,
        )?;
        let walled_v6 = LpmTrie::try_from(
            ebpf.take_map(MAP_WALLED_V6)
                .ok_or_else(|| anyhow!("map {MAP_WALLED_V6} missing"))?,
        )?;
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        Ok(Self {
            _ebpf: ebpf,
            clients,
            addrs,
            counters,
            walled: Some((walled_v4, walled_v6)),
            nr_cpus,
            pin_dir,
            _unpinned: unpinned,
            xdp_attached,
            adopted,
            logger,
        })
    }

    /// Let this MAC's traffic pass. An existing entry (and its counters) is kept.
    pub fn authorize(&mut self, mac: Mac) -> Result<(), MapError> {
        let key = MacKey::new(mac.0);
        if self.clients.get(&key, 0).is_ok() {
            return Ok(());
        }
        let zero = PerCpuValues::try_from(vec![ClientUsage::default(); self.nr_cpus])?;
        self.clients.insert(key, zero, 0)
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

    /// The MAC that last sent from `ip`, as the TC program recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        let key = match ip {
            IpAddr::V4(a) => IpKey::from_v4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => IpKey::from_v4(v4.octets()),
                None => IpKey::from_v6(a.octets()),
            },
        };
        self.addrs.get(&key, 0).ok().map(|k| Mac(k.addr))
    }

    /// Distinct MACs the datapath has recorded addresses for (recently active clients,
    /// authenticated or not).
    pub fn recorded_macs(&self) -> std::collections::HashSet<Mac> {
        self.addrs
            .iter()
            .filter_map(Result::ok)
            .map(|(_, m)| Mac(m.addr))
            .collect()
    }

    /// Every recorded (address, MAC) pair.
    pub fn recorded_clients(&self) -> Vec<(IpAddr, Mac)> {
        self.addrs
            .iter()
            .filter_map(Result::ok)
            .map(|(k, m)| {
                let v6 = std::net::Ipv6Addr::from(k.addr);
                let ip = match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(v6),
                };
                (ip, Mac(m.addr))
            })
            .collect()
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

    /// Removes every pin of this interface: the programs detach once this process exits
    /// (at once for links no process holds).
    pub fn detach(&self) -> anyhow::Result<()> {
        remove_pins(&self.pin_dir)
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
