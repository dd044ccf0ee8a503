//! `netauth run`: checks the ground, opens the store, sets up portal listeners, policy
//! routing, the (pinned) datapath and the admin socket, reconciles sessions, serves until
//! SIGINT/SIGTERM or a shutdown request. A plain stop leaves the datapath pinned, so the
//! LAN stays gated and authenticated clients keep passing until the next start.

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
    config::{RunArgs, Settings},
    datapath::{Datapath, DatapathConfig},
    netlink::{self, PolicyRouting},
    portal::{self, Portal, serve},
    session::{Defaults, Sessions},
    store::Store,
};

/// Oldest kernel with `bpf_sk_assign` at TC ingress.
const MIN_KERNEL: (u32, u32) = (5, 7);

/// How often time, idle and quota limits are checked (the bound is one second).
const ENFORCE_TICK: Duration = Duration::from_millis(200);
/// How often all counters are written to the store.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = Settings::resolve(args)?;
    check_kernel()?;
    crate::clock::set_trust(cfg.trust_wall_clock);
    info!(
        wall_ms = crate::clock::real_wall_ms(),
        boot_ms = crate::clock::boot_ms(),
        kernel_synced = crate::clock::kernel_synced(),
        wall_clock_trusted = crate::clock::wall_trusted(),
        "clocks: session lengths follow the boot clock; the wall clock is for display"
    );
    let handle = netlink::connect()?;
    let lan = netlink::interface(&handle, &cfg.lan).await?;
    let _ownership = claim_interface(&lan.name, lan.index)?;
    // Pins that would vanish with this process would open the LAN when it stops: refuse
    // before anything changes.
    let pins_outlive = crate::datapath::check_pins_outlive(&cfg.bpffs)?;
    // The store first: a broken store stops us before anything changes.
    let store = Store::open(&cfg.state_dir)?;
    let nofile = serve::raise_fd_limit();

    let (mut v4, mut v6) = (None, None);
    for ip in &cfg.portal_ip {
        match ip {
            std::net::IpAddr::V4(a) => v4 = Some(*a),
            std::net::IpAddr::V6(a) => v6 = Some(*a),
        }
    }
    if cfg.portal_ip.is_empty() {
        (v4, v6) = netlink::interface_addresses(&handle, lan.index).await?;
    }
    if v4.is_none() && v6.is_none() {
        bail!(
            "interface {} has no address to serve the portal on; give one with --portal-ip",
            lan.name
        );
    }
    let network = infrastructure(&cfg, &netlink::all_addresses(&handle, lan.index).await?);

    // Listeners before the datapath, so steered packets always find a socket.
    let listener_v4 =
        serve::transparent_listener(SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.portal_port)))?;
    let listener_v6 = match serve::transparent_listener(SocketAddr::from((
        Ipv6Addr::UNSPECIFIED,
        cfg.portal_port,
    ))) {
        Ok(l) => Some(l),
        Err(e) if v6.is_none() => {
            warn!("no IPv6 portal listener ({e:#}); IPv6 clients stay blocked");
            None
        }
        Err(e) => return Err(e),
    };
    // When a client reconnects from the same port while the portal's side of its previous
    // intercepted connection is in TIME_WAIT, the kernel hands the SYN to a listener on the
    // original destination port (80). Without one there, the SYN is lost and the client
    // waits out TIME_WAIT. So the portal also listens on port 80 when it can.
    let mut port80 = Vec::new();
    if cfg.portal_port != 80 {
        for addr in [
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 80)),
        ] {
            match serve::transparent_listener(addr) {
                Ok(l) => port80.push(l),
                Err(e) => warn!(
                    "{e:#}: another program owns port 80 on the gateway; a client that reuses \
                     a source port within TIME_WAIT of an intercepted connection may wait"
                ),
            }
        }
    }
    let https = match &cfg.api_tls {
        Some((cert, key)) => {
            let acceptor = serve::tls_acceptor(cert, key)?;
            let v4l =
                serve::plain_listener(SocketAddr::from((Ipv4Addr::UNSPECIFIED, cfg.api_port)))
                    .await?;
            let v6l = match serve::plain_listener(SocketAddr::from((
                Ipv6Addr::UNSPECIFIED,
                cfg.api_port,
            )))
            .await
            {
                Ok(l) => Some(l),
                Err(e) => {
                    warn!("no IPv6 HTTPS listener: {e:#}");
                    None
                }
            };
            Some((acceptor, v4l, v6l))
        }
        None => None,
    };
    let metrics_listener = match cfg.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener to {addr}"))?,
        ),
        None => None,
    };
    let admin_listener = admin::bind(&cfg.admin_socket).await?;

    let routing = PolicyRouting {
        mark: cfg.fwmark,
        mask: cfg.fwmark_mask,
        table: cfg.route_table,
        priority: cfg.rule_priority,
    };
    // Routing before the datapath: steered packets are delivered as soon as TC runs.
    if let Err(e) = routing.install(&handle).await {
        let _ = routing.remove(&handle).await;
        let _ = std::fs::remove_file(&cfg.admin_socket);
        return Err(e.context("installing policy routing"));
    }

    let datapath = Datapath::load(&DatapathConfig {
        iface: &lan.name,
        xdp_mode: cfg.xdp_mode,
        portal_v4: v4,
        portal_v6: v6,
        portal_port: cfg.portal_port,
        api_port: cfg.api_tls.as_ref().map(|_| cfg.api_port),
        mark: cfg.fwmark,
        mark_mask: cfg.fwmark_mask,
        bind_addresses: cfg.bind_addresses,
        bpffs: &cfg.bpffs,
    })
    .and_then(|mut d| {
        d.set_network(&network, &cfg.gateway_allow)?;
        Ok(d)
    });
    let mut datapath = match datapath {
        Ok(d) => d,
        Err(e) => {
            let _ = routing.remove(&handle).await;
            let _ = std::fs::remove_file(&cfg.admin_socket);
            return Err(e);
        }
    };
    let logger = datapath.logger.take();
    let identity = Arc::new(
        datapath
            .take_identity()
            .ok_or_else(|| anyhow::anyhow!("identity maps missing"))?,
    );
    let pin_dir = datapath.pin_dir().to_path_buf();
    // Sessions are reconciled with the map (and restored after a reboot) before the
    // programs are attached, so no signed-in device waits for its entry.
    let sessions = Sessions::new(
        datapath,
        identity.clone(),
        store,
        Defaults {
            session_timeout: cfg.session_timeout,
            idle_timeout: cfg.idle_timeout,
            quota: cfg.quota,
        },
        crate::clock::now(),
    )?;
    if let Err(e) = sessions.apply_trusted(&cfg.trusted_macs, crate::clock::now()) {
        warn!("authorizing the trusted MACs: {e}");
    }
    let radius = match &cfg.radius {
        Some(r) => {
            let lan_mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", lan.name))
                .map(|m| m.trim().replace(':', "-").to_uppercase())
                .unwrap_or_default();
            Some(crate::radius::Radius::new(
                r.clone(),
                format!("{lan_mac}:{}", cfg.venue_name),
                &sessions,
            )?)
        }
        None => None,
    };
    let das = match (&cfg.das, &radius) {
        (Some((listen, clients, secret_file)), Some(radius)) => {
            let secret = crate::radius::read_secret(secret_file)?;
            let sock = crate::radius::das::bind(*listen).await?;
            info!(%listen, clients = ?clients, "CoA/Disconnect listener up");
            Some((
                sock,
                crate::radius::das::DasSettings {
                    listen: *listen,
                    clients: clients.clone(),
                    secret,
                },
                radius.clone(),
            ))
        }
        (Some(_), None) => bail!(
            "das-client needs radius-server (the NAS identity comes from the RADIUS settings)"
        ),
        _ => None,
    };
    let walled = {
        let (v4m, v6m) = sessions
            .take_walled_maps()
            .ok_or_else(|| anyhow::anyhow!("walled-garden maps missing"))?;
        let stored: Vec<_> = sessions
            .walled_entries()
            .iter()
            .filter_map(|e| crate::walled::Entry::parse(e).ok())
            .collect();
        Arc::new(crate::walled::WalledGarden::new(
            v4m,
            v6m,
            &cfg.walled_garden,
            &stored,
        ))
    };
    let attached = match sessions.attach() {
        Ok(a) => a,
        Err(e) => {
            let _ = routing.remove(&handle).await;
            let _ = std::fs::remove_file(&cfg.admin_socket);
            return Err(e);
        }
    };
    let (xdp_mode, adopted) = (attached.xdp, attached.adopted);
    let portal = Arc::new(Portal {
        venue: cfg.venue_name.clone(),
        terms: cfg.terms.clone(),
        ipv4: v4,
        ipv6: v6,
        port: cfg.portal_port,
        sessions: sessions.clone(),
        identity: identity.clone(),
        csrf: portal::csrf::Csrf::new()?,
        auth: crate::auth::Authenticator::new(cfg.auth_method, Some(&cfg.users_file))?,
        radius: radius.clone(),
        api: https.as_ref().map(|_| portal::ApiSettings {
            port: cfg.api_port,
            hostname: cfg.api_hostname.clone(),
            venue_info_url: cfg.venue_info_url.clone(),
        }),
    });
    let app = portal::router(portal);
    let facts = json!({
        "lan": lan.name,
        "xdp_mode": xdp_mode,
        "portal_ipv4": v4,
        "portal_ipv6": v6,
        "portal_port": cfg.portal_port,
        "api_port": cfg.api_tls.as_ref().map(|_| cfg.api_port),
        "session_timeout_s": cfg.session_timeout.as_secs(),
        "idle_timeout_s": cfg.idle_timeout.map(|d| d.as_secs()),
        "state_dir": cfg.state_dir,
        "pin_dir": pin_dir,
        "pins_outlive": pins_outlive,
        "bind_addresses": cfg.bind_addresses,
        "adopted_pinned_datapath": adopted,
        "auth_method": cfg.auth_method,
        "radius_servers": cfg.radius.as_ref().map(|r| &r.auth_servers),
        "radius_acct_servers": cfg.radius.as_ref().map(|r| &r.acct_servers),
        "radius_mac_auth": cfg.radius.as_ref().map(|r| r.mac_auth),
        "das_listen": cfg.das.as_ref().map(|d| d.0),
        "trusted_macs": cfg.trusted_macs.len(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::channel::<bool>(1);
    let admin_state = Arc::new(admin::AdminState {
        sessions: sessions.clone(),
        walled: walled.clone(),
        facts,
        shutdown: shutdown_tx,
        radius: radius.clone(),
        lan: Some(netlink::Lan {
            handle: handle.clone(),
            ifindex: lan.index,
        }),
    });
    let admin_app = admin::router(admin_state.clone());

    // One fair share per client across every portal listener. Descriptors beyond the
    // portal's cap stay free for the admin socket, RADIUS and the store.
    let limits = serve::Limits {
        max_connections: (nofile.saturating_sub(256) as usize).clamp(64, 16_384),
        per_client_connections: cfg.portal_client_connections as usize,
        per_client_rate: cfg.portal_client_rate,
        ..serve::Limits::default()
    };
    let fairness = {
        let identity = identity.clone();
        serve::Fairness::new(limits, move |c: &portal::ConnInfo| {
            match identity.flow(c.remote, c.local) {
                crate::datapath::FlowIdentity::Mac(m) => serve::ClientKey::Mac(m),
                _ => serve::ClientKey::Ip(c.remote.ip()),
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(serve::serve(
        listener_v4,
        app.clone(),
        fairness.clone(),
        None,
    ));
    for l in port80 {
        tasks.spawn(serve::serve(l, app.clone(), fairness.clone(), None));
    }
    if let Some(l) = listener_v6 {
        tasks.spawn(serve::serve(l, app.clone(), fairness.clone(), None));
    }
    if let Some((acceptor, v4l, v6l)) = https {
        tasks.spawn(serve::serve(
            v4l,
            app.clone(),
            fairness.clone(),
            Some(acceptor.clone()),
        ));
        if let Some(l) = v6l {
            tasks.spawn(serve::serve(
                l,
                app.clone(),
                fairness.clone(),
                Some(acceptor),
            ));
        }
    }
    tasks.spawn(admin::serve(admin_listener, admin_app));
    if let Some(l) = metrics_listener {
        let metrics_app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async move {
                let s = admin_state.sessions.clone();
                let r = admin_state.radius.clone();
                let text =
                    tokio::task::spawn_blocking(move || crate::metrics::render(&s, r.as_deref()))
                        .await
                        .unwrap_or_default();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }),
        );
        tasks.spawn(async move {
            if let Err(e) = axum::serve(l, metrics_app).await {
                error!("metrics listener failed: {e}");
            }
        });
    }
    tasks.spawn(sessions.clone().maintain(ENFORCE_TICK, CHECKPOINT_EVERY));
    tasks.spawn(walled.clone().resolve_loop());
    if let Some(r) = &radius {
        tasks.spawn(r.clone().accounting_loop(sessions.clone()));
        tasks.spawn(r.clone().mac_auth_loop(sessions.clone()));
    }
    if let Some((sock, settings, r)) = das {
        tasks.spawn(crate::radius::das::serve(
            sock,
            settings,
            r,
            sessions.clone(),
        ));
    }
    if let Some(logger) = logger {
        tasks.spawn(kernel_log_pump(logger));
    }

    info!(
        pin_dir = %pin_dir.display(),
        "pins outlive netauth: {pins_outlive}"
    );
    info!(
        lan = %lan.name,
        xdp = xdp_mode,
        adopted,
        bind_addresses = cfg.bind_addresses,
        nofile,
        sessions = sessions.count(),
        portal_v4 = ?v4,
        portal_v6 = ?v6,
        port = cfg.portal_port,
        "netauth is up: {} is captive",
        lan.name
    );
    // systemd (Type=notify): the LAN is gated now, so units ordered after netauth (the
    // network's own, via network-pre.target) may start.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let detach = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: shutting down"); false }
        _ = int.recv() => { info!("SIGINT: shutting down"); false }
        Some(detach) = shutdown_rx.recv() => { info!(detach, "shutdown requested"); detach }
        Some(res) = tasks.join_next() => { warn!("a service stopped unexpectedly: {res:?}"); false }
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    // Counters to disk; the session table itself is always on disk already.
    {
        let s = sessions.clone();
        let _ = tokio::task::spawn_blocking(move || {
            s.sweep_bindings();
            s.checkpoint(crate::clock::now())
        })
        .await;
    }
    let mut result = Ok(());
    if let Err(e) = routing.remove(&handle).await {
        error!("removing policy routing: {e:#}");
        result = Err(e);
    }
    let _ = std::fs::remove_file(&cfg.admin_socket);
    if detach {
        sessions.detach()?;
        info!(
            "netauth stopped and detached from {}: the LAN is no longer gated",
            lan.name
        );
    } else {
        info!(
            "netauth stopped; its programs stay attached to {} (authenticated clients pass, \
             the rest stay blocked) until it starts again or `netauth stop --detach`",
            lan.name
        );
    }
    drop(sessions);
    result
}

/// `netauth stop --detach` when no daemon is running: remove pins and routing directly.
pub async fn detach_offline(args: RunArgs) -> anyhow::Result<()> {
    let cfg = Settings::resolve(args)?;
    let handle = netlink::connect()?;
    PolicyRouting {
        mark: cfg.fwmark,
        mask: cfg.fwmark_mask,
        table: cfg.route_table,
        priority: cfg.rule_priority,
    }
    .remove(&handle)
    .await?;
    let dir = crate::datapath::pin_dir(&cfg.bpffs, &cfg.lan);
    crate::datapath::remove_pins(&dir)?;
    info!("removed {} and netauth's policy routing", dir.display());
    Ok(())
}

/// The infrastructure map: the gateway's LAN addresses, and the resolvers, DHCP and NTP
/// servers captive clients may use (each the gateway itself unless configured).
fn infrastructure(cfg: &Settings, lan_addrs: &[std::net::IpAddr]) -> Vec<(std::net::IpAddr, u32)> {
    use netauth_common::infra;
    let mut out: Vec<(std::net::IpAddr, u32)> = lan_addrs
        .iter()
        .chain(&cfg.portal_ip)
        .map(|a| (*a, infra::GATEWAY))
        .collect();
    // The gateway's own addresses: those the interface has, and the portal's (an
    // interface not configured yet, when netauth starts before the network does).
    let mut own: Vec<std::net::IpAddr> = lan_addrs.iter().chain(&cfg.portal_ip).copied().collect();
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
