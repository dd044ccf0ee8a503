//! The kernel side as seen from the daemon: loads the eBPF object, attaches XDP and TC to
//! the LAN interface, and owns the maps (authorized clients, address records, counters).
//!
//! Dropping [`Datapath`] detaches the programs. This module knows nothing of sessions or
//! HTTP; it only moves MACs in and out of the kernel map.

use std::net::IpAddr;

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, MapError, PerCpuArray},
    programs::{SchedClassifier, TcAttachType, Xdp, tc},
};
use netauth_common::{
    ClientEntry, Counter, IpKey, MAP_CLIENT_ADDRS, MAP_CLIENTS, MAP_COUNTERS, MacKey, globals,
    programs,
};
use tracing::{info, warn};

use crate::{config::XdpMode, mac::Mac};

/// The compiled kernel programs, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netauth"));

pub struct DatapathConfig<'a> {
    pub iface: &'a str,
    pub xdp_mode: XdpMode,
    pub portal_v4: Option<std::net::Ipv4Addr>,
    pub portal_v6: Option<std::net::Ipv6Addr>,
    pub portal_port: u16,
    pub mark: u32,
    pub mark_mask: u32,
}

pub struct Datapath {
    // Owns the programs and their links: dropping it detaches them.
    _ebpf: Ebpf,
    clients: HashMap<MapData, MacKey, ClientEntry>,
    addrs: HashMap<MapData, IpKey, MacKey>,
    counters: PerCpuArray<MapData, u64>,
    /// The XDP mode actually in use ("native", "generic" or "off").
    pub xdp_attached: &'static str,
    // Kept alive so kernel-side aya-log records keep flowing.
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl Datapath {
    pub fn load(cfg: &DatapathConfig<'_>) -> anyhow::Result<Self> {
        if EBPF_OBJECT.is_empty() {
            bail!("this netauth binary was built without its kernel programs (AYA_BUILD_SKIP?)");
        }
        let v4 = cfg.portal_v4.map(|a| a.octets()).unwrap_or([0; 4]);
        let v6 = cfg.portal_v6.map(|a| a.octets()).unwrap_or([0; 16]);
        let mut ebpf = EbpfLoader::new()
            .override_global(globals::PORTAL_V4, &v4, true)
            .override_global(globals::PORTAL_V6, &v6, true)
            .override_global(globals::PORTAL_PORT, &cfg.portal_port, true)
            .override_global(globals::MARK, &cfg.mark, true)
            .override_global(globals::MARK_MASK, &cfg.mark_mask, true)
            .load(EBPF_OBJECT)
            .context(
                "the kernel refused netauth's eBPF maps or programs \
                 (netauth needs Linux >= 5.7 with BPF, BTF and clsact support, and root)",
            )?;

        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                // Kernel-side logging is debug-only; carry on without it.
                warn!("kernel-side logging unavailable: {e}");
                None
            }
        };

        // TC first: it enforces the whole policy by itself, so the interface is never
        // open while XDP is being attached.
        let _ = tc::qdisc_add_clsact(cfg.iface); // already present is fine; TCX needs none
        let tc_prog: &mut SchedClassifier = ebpf
            .program_mut(programs::TC_INGRESS)
            .ok_or_else(|| anyhow!("TC program missing from object"))?
            .try_into()?;
        tc_prog
            .load()
            .context("the kernel's verifier rejected the TC program")?;
        tc_prog
            .attach(cfg.iface, TcAttachType::Ingress)
            .with_context(|| format!("attaching the TC ingress program to {}", cfg.iface))?;

        let xdp_attached = if cfg.xdp_mode == XdpMode::Off {
            "off"
        } else {
            let xdp: &mut Xdp = ebpf
                .program_mut(programs::XDP)
                .ok_or_else(|| anyhow!("XDP program missing from object"))?
                .try_into()?;
            xdp.load()
                .context("the kernel's verifier rejected the XDP program")?;
            match cfg.xdp_mode {
                XdpMode::Native => {
                    xdp.attach(cfg.iface, aya::programs::XdpMode::Driver)
                        .with_context(|| {
                            format!("attaching XDP in native mode to {} (does the driver support XDP? try --xdp-mode generic)", cfg.iface)
                        })?;
                    "native"
                }
                XdpMode::Generic => {
                    xdp.attach(cfg.iface, aya::programs::XdpMode::Skb)
                        .with_context(|| {
                            format!("attaching XDP in generic mode to {}", cfg.iface)
                        })?;
                    "generic"
                }
                XdpMode::Auto => match xdp.attach(cfg.iface, aya::programs::XdpMode::Driver) {
                    Ok(_) => "native",
                    Err(e) => {
                        info!(
                            "native XDP not available on {} ({e}); using generic XDP",
                            cfg.iface
                        );
                        xdp.attach(cfg.iface, aya::programs::XdpMode::Skb)
                            .with_context(|| format!("attaching XDP to {}", cfg.iface))?;
                        "generic"
                    }
                },
                XdpMode::Off => unreachable!(),
            }
        };

        let clients = HashMap::try_from(
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
        Ok(Self {
            _ebpf: ebpf,
            clients,
            addrs,
            counters,
            xdp_attached,
            logger,
        })
    }

    /// Let this MAC's traffic pass.
    pub fn authorize(&mut self, mac: Mac, authorized_at: u64) -> Result<(), MapError> {
        let entry = ClientEntry {
            authorized_at,
            ..Default::default()
        };
        self.clients.insert(MacKey::new(mac.0), entry, 0)
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
}
