//! The kernel side as seen from the daemon: loads the eBPF object and hands its parts to
//! their owners: the [`Programs`] (attached to the LAN interface), the [`ClientMap`]
//! (authorized devices and their counters; the session table writes it, anyone may read
//! it through a [`ClientView`]), the address [`Bindings`], the datapath [`Counters`], the
//! identity records (who sent which flow, who used which address) and the walled-garden
//! tries. [`Network`] fills the maps that describe the network (infrastructure servers,
//! gateway services).
//!
//! Maps and program links are pinned (see [`pins`]). A new daemon reuses the pinned maps
//! and swaps its programs into the pinned links in place, so a restart, an upgrade or a
//! crash never opens the LAN and never drops an authenticated client.
//!
//! This module knows nothing of sessions or HTTP; it moves MACs and addresses in and out
//! of the kernel.

mod batch;
pub mod bindings;
pub mod clients;
pub mod counters;
pub mod pins;
pub mod programs;
pub mod shaper;
#[cfg(test)]
pub(crate) mod testing;

use std::{
    net::{IpAddr, Ipv6Addr},
    path::Path,
};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    EbpfLoader,
    maps::{HashMap, LpmTrie, MapData, PerCpuArray, PerCpuHashMap},
    programs::{SchedClassifier, Xdp},
};
use netauth_common::{
    AddrOwner, Endpoint, FlowKey, FlowOwner, GatewayPort, IpKey, MAP_BIND_EPOCH, MAP_BINDINGS,
    MAP_CLIENT_ADDRS, MAP_CLIENTS, MAP_COUNTERS, MAP_FLOWS, MAP_GATEWAY_ALLOW, MAP_INFRA,
    MAP_INTERCEPTS, MAP_RATES, MAP_WALLED_V4, MAP_WALLED_V6, globals, programs as names,
};
use tracing::warn;

pub use bindings::Bindings;
pub use clients::{ClientMap, ClientView};
pub use counters::Counters;
pub use pins::{check_pins_outlive, pin_dir, remove_pins};
pub use programs::{Attached, Programs, XdpMode, choose_xdp_mode};
pub use shaper::Shaper;

/// The compiled kernel programs, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netauth"));

pub struct DatapathConfig<'a> {
    pub iface: &'a str,
    pub xdp_mode: XdpMode,
    pub portal_v4: Option<std::net::Ipv4Addr>,
    pub portal_v6: Option<std::net::Ipv6Addr>,
    pub portal_port: u16,
    /// The HTTPS port on the portal addresses, if any.
    pub api_port: Option<u16>,
    /// The port intercepted HTTP is rewritten to, on the portal's address.
    pub intercept_port: u16,
    /// Hold authorized devices to the addresses they acquired.
    pub bind_addresses: bool,
    /// Where pins live: a directory on a bpf filesystem.
    pub bpffs: &'a Path,
}

/// The loaded datapath, in parts for their owners.
pub struct Datapath {
    pub programs: Programs,
    pub clients: ClientMap,
    pub bindings: Bindings,
    pub counters: Counters,
    pub network: Network,
    /// Who sent which flow (the TC program's flow records).
    pub flows: HashMap<MapData, FlowKey, FlowOwner>,
    /// Who used which address while captive.
    pub addrs: HashMap<MapData, IpKey, AddrOwner>,
    /// Where intercepted connections were going.
    pub intercepts: HashMap<MapData, Endpoint, Endpoint>,
    pub walled: WalledMaps,
}

pub type WalledMaps = (
    LpmTrie<MapData, [u8; 4], u8>,
    LpmTrie<MapData, [u8; 16], u8>,
);

/// The maps describing the network: infrastructure servers and gateway services.
pub struct Network {
    infra: HashMap<MapData, IpKey, u32>,
    gateway_allow: HashMap<MapData, GatewayPort, u8>,
}

/// An address as the datapath keys it (IPv4 as IPv4-mapped IPv6).
pub fn ip_key(ip: IpAddr) -> IpKey {
    match ip {
        IpAddr::V4(a) => IpKey::from_v4(a.octets()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpKey::from_v4(v4.octets()),
            None => IpKey::from_v6(a.octets()),
        },
    }
}

pub fn key_ip(k: &IpKey) -> IpAddr {
    let v6 = Ipv6Addr::from(k.addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl Datapath {
    /// Loads the object and its programs (the verifier checks them here), creating or
    /// reusing the pinned maps. Nothing is attached yet: fill the maps, then
    /// [`Programs::attach`].
    pub fn load(cfg: &DatapathConfig<'_>) -> anyhow::Result<Self> {
        if EBPF_OBJECT.is_empty() {
            bail!("this netauth binary was built without its kernel programs (AYA_BUILD_SKIP?)");
        }
        let pin_dir = pin_dir(cfg.bpffs, cfg.iface);
        std::fs::create_dir_all(&pin_dir)
            .with_context(|| format!("creating {}", pin_dir.display()))?;
        pins::drop_incompatible_pins(&pin_dir);
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
            .override_global(globals::INTERCEPT_PORT, &cfg.intercept_port, true)
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
        for name in [names::TC_INGRESS, names::TC_EGRESS] {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or_else(|| anyhow!("{name} missing from object"))?
                .try_into()?;
            prog.load()
                .with_context(|| format!("the kernel's verifier rejected {name}"))?;
        }
        if cfg.xdp_mode != XdpMode::Off {
            let xdp: &mut Xdp = ebpf
                .program_mut(names::XDP)
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
        let rates = HashMap::try_from(take(MAP_RATES)?)?;
        let rates_any = aya::maps::Array::try_from(take(netauth_common::MAP_RATES_ANY)?)?;
        let bindings = Bindings::new(
            HashMap::try_from(take(MAP_BINDINGS)?)?,
            aya::maps::Array::try_from(take(MAP_BIND_EPOCH)?)?,
        )?;
        let counters = Counters::new(PerCpuArray::try_from(take(MAP_COUNTERS)?)?);
        let network = Network {
            infra: HashMap::try_from(take(MAP_INFRA)?)?,
            gateway_allow: HashMap::try_from(take(MAP_GATEWAY_ALLOW)?)?,
        };
        let walled = (
            LpmTrie::try_from(take(MAP_WALLED_V4)?)?,
            LpmTrie::try_from(take(MAP_WALLED_V6)?)?,
        );
        let flows = HashMap::try_from(take(MAP_FLOWS)?)?;
        let addrs = HashMap::try_from(take(MAP_CLIENT_ADDRS)?)?;
        let intercepts = HashMap::try_from(take(MAP_INTERCEPTS)?)?;
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        Ok(Self {
            programs: Programs {
                ebpf,
                iface: cfg.iface.to_string(),
                xdp_mode: cfg.xdp_mode,
                pin_dir,
                unpinned: Vec::new(),
                logger,
            },
            clients: ClientMap::new(clients, rates, Some(rates_any), nr_cpus)?,
            bindings,
            counters,
            network,
            flows,
            addrs,
            intercepts,
            walled,
        })
    }
}

impl Network {
    /// The infrastructure addresses ([`netauth_common::infra`] bits per address) and the
    /// gateway services captive clients may use. Call before [`Programs::attach`].
    pub fn fill(
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
}

/// CLOCK_MONOTONIC in ns: the clock of the kernel's `last_seen_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}
