//! What the daemon checks and claims on the host before anything else: the kernel, the
//! interface (one netauth each), and the network's infrastructure servers.

use std::{
    net::IpAddr,
    os::unix::net::{SocketAddr as UnixAddr, UnixListener as StdUnixListener},
};

use anyhow::{Context as _, bail};

use crate::config::Settings;

/// Oldest kernel with `bpf_sk_assign` at TC ingress.
const MIN_KERNEL: (u32, u32) = (5, 7);

pub fn check_kernel() -> anyhow::Result<()> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("reading the kernel version")?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) < MIN_KERNEL {
        bail!(
            "Linux {}.{} is too old: netauth needs {}.{} or newer (bpf_sk_assign at TC ingress)",
            major,
            minor,
            MIN_KERNEL.0,
            MIN_KERNEL.1
        );
    }
    Ok(())
}

/// One netauth per interface and network namespace. An abstract Unix socket is per
/// network namespace and vanishes with the process (even after kill -9), so there is no
/// stale lock to clean up. Held for as long as the returned socket lives.
pub fn claim_interface(name: &str, index: u32) -> anyhow::Result<StdUnixListener> {
    use std::os::linux::net::SocketAddrExt as _;
    let addr = UnixAddr::from_abstract_name(format!("netauth/if/{index}"))?;
    StdUnixListener::bind_addr(&addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!("another netauth already owns interface {name}")
        } else {
            anyhow::Error::new(e).context("claiming the interface")
        }
    })
}

/// The infrastructure map: the gateway's LAN addresses, and the resolvers, DHCP and NTP
/// servers captive clients may use (each the gateway itself unless configured).
pub fn infrastructure(cfg: &Settings, lan_addrs: &[IpAddr]) -> Vec<(IpAddr, u32)> {
    use netauth_common::infra;
    let mut out: Vec<(IpAddr, u32)> = lan_addrs
        .iter()
        .chain(&cfg.portal_ip)
        .map(|a| (*a, infra::GATEWAY))
        .collect();
    // The gateway's own addresses: those the interface has, and the portal's (an
    // interface not configured yet, when netauth starts before the network does).
    let mut own: Vec<IpAddr> = lan_addrs.iter().chain(&cfg.portal_ip).copied().collect();
    own.sort();
    own.dedup();
    for (list, bit) in [
        (&cfg.dns_servers, infra::DNS),
        (&cfg.dhcp_servers, infra::DHCP),
        (&cfg.ntp_servers, infra::NTP),
    ] {
        let servers = list.clone().unwrap_or_else(|| own.clone());
        out.extend(servers.into_iter().map(|a| (a, bit)));
    }
    out
}

/// Relays the kernel programs' log records (debug builds) until the ring buffer closes.
pub async fn kernel_log_pump(
    logger: aya_log::EbpfLogger<&'static dyn log::Log>,
) -> anyhow::Result<()> {
    // SAFETY: the logger owns its ring-buffer fd for as long as the AsyncFd holds it.
    let mut fd = unsafe { tokio::io::unix::AsyncFd::register(logger) }
        .map_err(|e| anyhow::anyhow!("kernel log reader: {}", e.into_parts().1))?;
    loop {
        let mut guard = fd.readable_mut().await.context("kernel log reader")?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
