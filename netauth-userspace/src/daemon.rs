//! `netauth run`: checks the ground, sets up portal listeners, datapath, policy routing
//! and admin socket, serves until SIGINT/SIGTERM, then takes down what it set up.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    os::unix::net::{SocketAddr as UnixAddr, UnixListener as StdUnixListener},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::{
    admin,
    config::RunArgs,
    datapath::{Datapath, DatapathConfig},
    netlink::{self, PolicyRouting},
    portal::{self, Neighbours, Portal, serve},
    session::Sessions,
};

/// Oldest kernel with `bpf_sk_assign` at TC ingress.
const MIN_KERNEL: (u32, u32) = (5, 7);

/// How often expired sessions are looked for (the bound is one second).
const EXPIRY_TICK: Duration = Duration::from_millis(200);

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    args.validate().map_err(anyhow::Error::msg)?;
    check_kernel()?;
    let terms = args.terms_text()?;
    let handle = netlink::connect()?;
    let lan = netlink::interface(&handle, &args.lan).await?;
    let _ownership = claim_interface(&lan.name, lan.index)?;

    let (mut v4, mut v6) = (None, None);
    for ip in &args.portal_ip {
        match ip {
            std::net::IpAddr::V4(a) => v4 = Some(*a),
            std::net::IpAddr::V6(a) => v6 = Some(*a),
        }
    }
    if args.portal_ip.is_empty() {
        (v4, v6) = netlink::interface_addresses(&handle, lan.index).await?;
    }
    if v4.is_none() && v6.is_none() {
        bail!(
            "interface {} has no address to serve the portal on; give one with --portal-ip",
            lan.name
        );
    }

    // Listeners before the datapath, so steered packets always find a socket.
    let listener_v4 =
        serve::transparent_listener(SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.portal_port)))?;
    let listener_v6 = match serve::transparent_listener(SocketAddr::from((
        Ipv6Addr::UNSPECIFIED,
        args.portal_port,
    ))) {
        Ok(l) => Some(l),
        Err(e) if v6.is_none() => {
            warn!("no IPv6 portal listener ({e:#}); IPv6 clients stay blocked");
            None
        }
        Err(e) => return Err(e),
    };
    let admin_listener = admin::bind(&args.admin_socket).await?;

    let mut datapath = Datapath::load(&DatapathConfig {
        iface: &lan.name,
        xdp_mode: args.xdp_mode,
        portal_v4: v4,
        portal_v6: v6,
        portal_port: args.portal_port,
        mark: args.fwmark,
        mark_mask: args.fwmark_mask,
    })?;
    let xdp_mode = datapath.xdp_attached;
    let logger = datapath.logger.take();

    let routing = PolicyRouting {
        mark: args.fwmark,
        mask: args.fwmark_mask,
        table: args.route_table,
        priority: args.rule_priority,
    };
    if let Err(e) = routing.install(&handle).await {
        let _ = routing.remove(&handle).await;
        let _ = std::fs::remove_file(&args.admin_socket);
        return Err(e.context("installing policy routing"));
    }

    let sessions = Sessions::new(datapath, args.session_timeout);
    let portal = Arc::new(Portal {
        venue: args.venue_name.clone(),
        terms,
        ipv4: v4,
        ipv6: v6,
        port: args.portal_port,
        sessions: sessions.clone(),
        neighbours: Some(Neighbours {
            handle: handle.clone(),
            ifindex: lan.index,
        }),
    });
    let app = portal::router(portal);
    let facts = json!({
        "lan": lan.name,
        "xdp_mode": xdp_mode,
        "portal_ipv4": v4,
        "portal_ipv6": v6,
        "portal_port": args.portal_port,
        "session_timeout_s": args.session_timeout.as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let admin_app = admin::router(Arc::new(admin::AdminState {
        sessions: sessions.clone(),
        facts,
    }));

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(serve::serve(listener_v4, app.clone(), Default::default()));
    if let Some(l) = listener_v6 {
        tasks.spawn(serve::serve(l, app.clone(), Default::default()));
    }
    tasks.spawn(async move {
        if let Err(e) = axum::serve(admin_listener, admin_app).await {
            error!("admin socket failed: {e}");
        }
    });
    tasks.spawn(sessions.clone().expiry_loop(EXPIRY_TICK));
    if let Some(logger) = logger {
        tasks.spawn(kernel_log_pump(logger));
    }

    info!(
        lan = %lan.name,
        xdp = xdp_mode,
        portal_v4 = ?v4,
        portal_v6 = ?v6,
        port = args.portal_port,
        "netauth is up: {} is captive",
        lan.name
    );

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
        Some(res) = tasks.join_next() => warn!("a service stopped unexpectedly: {res:?}"),
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let mut result = Ok(());
    if let Err(e) = routing.remove(&handle).await {
        error!("removing policy routing: {e:#}");
        result = Err(e);
    }
    let _ = std::fs::remove_file(&args.admin_socket);
    // Dropping the sessions drops the datapath, which detaches XDP and TC.
    drop(sessions);
    info!("netauth stopped; {} detached", lan.name);
    result
}

fn check_kernel() -> anyhow::Result<()> {
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
/// stale lock to clean up.
fn claim_interface(name: &str, index: u32) -> anyhow::Result<StdUnixListener> {
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

async fn kernel_log_pump(logger: aya_log::EbpfLogger<&'static dyn log::Log>) {
    // SAFETY: the logger owns its ring-buffer fd for as long as the AsyncFd holds it.
    let mut fd = match unsafe { tokio::io::unix::AsyncFd::register(logger) } {
        Ok(fd) => fd,
        Err(e) => {
            warn!("kernel log reader: {}", e.into_parts().1);
            return;
        }
    };
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
