//! `netauth run`, in three phases:
//!
//! 1. **Validate**: every option and file (config, store, secrets, users file,
//!    certificate) is read and checked, with no side effect on the host. A mistake stops
//!    netauth here with nothing changed.
//! 2. **Acquire**: listeners, the admin socket, the datapath. Each side
//!    effect is a guard ([`guards`]) that undoes itself when dropped, so an error at any
//!    later step leaves nothing behind; the datapath's pins are meant to stay (the LAN
//!    stays gated while netauth is away).
//! 3. **Serve**: the services run under one [`supervisor`] until SIGINT/SIGTERM, a
//!    shutdown request, or an essential service failing (named in the log).
//!
//! A plain stop leaves the datapath pinned, so authenticated clients keep passing and
//! the rest stay blocked until the next start; `netauth stop --detach` takes it down.

pub mod guards;
pub mod host;
pub mod listeners;
pub mod supervisor;

use std::{net::IpAddr, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use self::{
    listeners::Listeners,
    supervisor::{Role, Supervisor},
};
use crate::{
    accounting::Accounting,
    admin,
    auth::Authenticator,
    clock,
    config::{RunArgs, Settings},
    console,
    datapath::{Datapath, DatapathConfig},
    identity::Identity,
    metrics::Metrics,
    model::Defaults,
    netlink::{self, PolicyRouting},
    portal::{
        self, Portal,
        serve::{self, Accepts},
    },
    radius::{self, Radius},
    sessions::{self, Sessions},
    store::Store,
    walled::WalledGarden,
};

/// How often time, idle and quota limits are checked (the bound is one second).
const ENFORCE_TICK: Duration = Duration::from_millis(200);
/// How often all counters are written to the store.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// What phase 1 read and checked.
struct Checked {
    cfg: Settings,
    store: Store,
    radius: Option<Arc<Radius>>,
    das_secret: Option<Vec<u8>>,
    auth: Authenticator,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The HTTPS certificate's resolver, which reloads a stapled OCSP response.
    stapler: Option<Arc<portal::tls::Stapler>>,
    csrf: portal::csrf::Csrf,
    theme: Arc<portal::theme::Theme>,
    external: Option<portal::external::External>,
}

/// Phase 1: reads and checks everything, changing nothing on the host.
fn validate(args: RunArgs) -> anyhow::Result<Checked> {
    let cfg = Settings::resolve(args)?;
    // A theme that does not compile or render stops netauth here, never at a visitor.
    let theme = Arc::new(portal::theme::Theme::load(cfg.theme.as_deref())?);
    host::check_kernel()?;
    clock::set_trust(cfg.trust_wall_clock);
    info!(
        wall_ms = clock::real_wall_ms(),
        boot_ms = clock::boot_ms(),
        kernel_synced = clock::kernel_synced(),
        wall_clock_trusted = clock::wall_trusted(),
        "clocks: session lengths follow the boot clock; the wall clock is for display"
    );
    // The store first: a broken store stops us before anything changes.
    let store = Store::open(&cfg.state_dir)?;
    let radius = match &cfg.radius {
        Some(r) => Some(Radius::new(r.clone(), called_station(&cfg))?),
        None => None,
    };
    let das_secret = match (&cfg.das, &radius) {
        (Some((_, _, secret_file)), Some(_)) => Some(radius::read_secret(secret_file)?),
        (Some(_), None) => bail!(
            "das-client needs radius-server (the NAS identity comes from the RADIUS settings)"
        ),
        _ => None,
    };
    let auth = Authenticator::new(
        cfg.auth_method,
        Some(&cfg.users_file),
        &store,
        radius.as_ref(),
    )?
    .with_on_new_mac(cfg.on_new_mac);
    let (tls, stapler) = match &cfg.api_tls {
        Some((cert, key)) => {
            let (acceptor, stapler) =
                portal::tls::acceptor(cert, key, cfg.api_tls_ocsp.as_deref())?;
            (Some(acceptor), Some(stapler))
        }
        None => (None, None),
    };
    let external = match &cfg.external_portal {
        Some((url, secret_file)) => {
            let secret =
                crate::config::read_text_file(secret_file, "the external portal secret file")?;
            let secret = secret.lines().next().unwrap_or("").trim();
            if secret.len() < 16 {
                bail!(
                    "the external portal secret in {} must be at least 16 characters",
                    secret_file.display()
                );
            }
            Some(portal::external::External::new(
                url.clone(),
                secret.as_bytes().to_vec(),
                called_station(&cfg),
            ))
        }
        None => None,
    };
    Ok(Checked {
        external,
        store,
        radius,
        das_secret,
        auth,
        tls,
        stapler,
        csrf: portal::csrf::Csrf::new()?,
        theme,
        cfg,
    })
}

/// The RADIUS Called-Station-Id: the LAN interface's MAC and the venue (RFC 3580 form).
fn called_station(cfg: &Settings) -> String {
    let lan_mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", cfg.lan))
        .map(|m| m.trim().replace(':', "-").to_uppercase())
        .unwrap_or_default();
    format!("{lan_mac}:{}", cfg.venue_name)
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Phase 1: validate.
    let Checked {
        cfg,
        store,
        radius,
        das_secret,
        auth,
        tls,
        stapler,
        csrf,
        theme,
        external,
    } = validate(args)?;
    let handle = netlink::connect()?;
    let lan = netlink::interface(&handle, &cfg.lan).await?;
    let _ownership = host::claim_interface(&lan.name, lan.index)?;
    // Pins that would vanish with this process would open the LAN when it stops: refuse
    // before anything changes.
    let pins_outlive = crate::datapath::check_pins_outlive(&cfg.bpffs)?;
    let lan_v4v6 = if cfg.portal_ip.is_empty() {
        netlink::interface_addresses(&handle, lan.index).await?
    } else {
        (None, None)
    };
    let (v4, v6) = listeners::portal_addresses(&cfg.portal_ip, lan_v4v6);
    if v4.is_none() && v6.is_none() {
        bail!(
            "interface {} has no address to serve the portal on; give one with --portal-ip",
            lan.name
        );
    }
    let lan_addrs: Vec<IpAddr> = netlink::all_addresses(&handle, lan.index).await?;
    let (xdp_mode, xdp_reason) =
        crate::datapath::choose_xdp_mode(cfg.xdp_mode, lan.kind.as_deref());
    info!(mode = ?xdp_mode, "XDP: {xdp_reason}");
    let network = host::infrastructure(&cfg, &lan_addrs);

    // Phase 2: acquire, each side effect a guard. Listeners before the datapath, so
    // steered packets always find a socket.
    let nofile = serve::raise_fd_limit();
    let listeners = Listeners::bind(&cfg, v6.is_some(), tls.is_some()).await?;
    let admin_listener = admin::bind(&cfg.admin_socket).await?;
    let admin_socket = guards::SocketFile::new(&cfg.admin_socket);
    let console_listener = match cfg.admin_web {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the admin console to {addr}"))?,
        ),
        None => None,
    };
    let das_socket = match &cfg.das {
        Some((listen, clients, _)) => {
            let sock = radius::das::bind(*listen).await?;
            info!(%listen, clients = ?clients, "CoA/Disconnect listener up");
            Some(sock)
        }
        None => None,
    };
    // An older netauth steered by a policy-routing rule; the kernel walks the rule list for
    // every forwarded packet while any custom rule exists.
    if let Err(e) = legacy_routing(&cfg).remove(&handle).await {
        warn!("removing the policy-routing rule an older netauth installed: {e:#}");
    }
    let Datapath {
        mut programs,
        mut clients,
        bindings,
        counters,
        network: mut network_maps,
        flows,
        addrs,
        intercepts,
        walled: walled_maps,
    } = Datapath::load(&DatapathConfig {
        iface: &lan.name,
        xdp_mode,
        portal_v4: v4,
        portal_v6: v6,
        portal_port: cfg.portal_port,
        api_port: cfg.api_tls.as_ref().map(|_| cfg.api_port),
        intercept_port: cfg.intercept_port,
        bind_addresses: cfg.bind_addresses,
        bpffs: &cfg.bpffs,
    })?;
    network_maps.fill(&network, &cfg.gateway_allow)?;
    // `fq` goes on the LAN interface with the first download limit (restored sessions
    // included), and what was there before comes back on detach.
    let shaper = Arc::new(crate::datapath::Shaper::new(&lan.name, &cfg.state_dir));
    clients.set_shaper(shaper.clone());
    let identity = Arc::new(Identity::new(flows, addrs, intercepts));
    let counters = Arc::new(counters);
    let pin_dir = programs.pin_dir().to_path_buf();
    // Sessions are reconciled with the map (and restored after a reboot) before the
    // programs are attached, so no signed-in device waits for its entry.
    let accounting = Accounting::new();
    let sessions = Sessions::new(
        sessions::Parts {
            clients,
            bindings,
            store: store.clone(),
        },
        Defaults {
            session_timeout: cfg.session_timeout,
            idle_timeout: cfg.idle_timeout,
            quota: cfg.quota,
            rate: cfg.rate,
        },
        accounting.clone(),
        clock::now(),
    )?;
    if let Err(e) = sessions.apply_trusted(&cfg.trusted_macs, clock::now()) {
        warn!("authorizing the trusted MACs: {e}");
    }
    if let Some(r) = &radius {
        r.number_ports_from(crate::accounting::next_nas_port(&sessions));
    }
    let walled = Arc::new(WalledGarden::new(
        walled_maps,
        &cfg.walled_garden,
        store.clone(),
    )?);
    let attached = programs.attach()?;
    let logger = programs.logger.take();

    // Phase 3: serve.
    let portal_stats = Arc::new(portal::Stats::default());
    let portal = Arc::new(Portal {
        venue: cfg.venue_name.clone(),
        terms: cfg.terms.clone(),
        ipv4: v4,
        ipv6: v6,
        port: cfg.portal_port,
        sessions: sessions.clone(),
        clients: sessions.client_view(),
        identity: identity.clone(),
        csrf,
        auth,
        stats: portal_stats.clone(),
        theme,
        external,
        api: tls.as_ref().map(|_| portal::ApiSettings {
            port: cfg.api_port,
            hostname: cfg.api_hostname.clone(),
            venue_info_url: cfg.venue_info_url.clone(),
        }),
    });
    let metrics = Arc::new(Metrics {
        sessions: sessions.clone(),
        identity: identity.clone(),
        counters: counters.clone(),
        portal: portal_stats,
        radius: radius.clone(),
        store: store.clone(),
    });
    let facts = json!({
        "lan": lan.name,
        "xdp_mode": attached.xdp,
        "xdp_mode_reason": xdp_reason,
        "portal_ipv4": v4,
        "portal_ipv6": v6,
        "portal_port": cfg.portal_port,
        "intercept_port": cfg.intercept_port,
        "api_port": cfg.api_tls.as_ref().map(|_| cfg.api_port),
        "session_timeout_s": cfg.session_timeout.as_secs(),
        "idle_timeout_s": cfg.idle_timeout.map(|d| d.as_secs()),
        "state_dir": cfg.state_dir,
        "pin_dir": pin_dir,
        "pins_outlive": pins_outlive,
        "bind_addresses": cfg.bind_addresses,
        "adopted_pinned_datapath": attached.adopted,
        "auth_method": cfg.auth_method,
        "radius_servers": cfg.radius.as_ref().map(|r| &r.auth_servers),
        "radius_acct_servers": cfg.radius.as_ref().map(|r| &r.acct_servers),
        "radius_mac_auth": cfg.radius.as_ref().map(|r| r.mac_auth),
        "das_listen": cfg.das.as_ref().map(|d| d.0),
        "trusted_macs": cfg.trusted_macs.len(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::channel::<bool>(1);
    let admin_app = admin::router(Arc::new(admin::AdminState {
        sessions: sessions.clone(),
        store: store.clone(),
        walled: walled.clone(),
        counters,
        metrics: metrics.clone(),
        facts,
        shutdown: shutdown_tx,
        lan: Some(netlink::Lan {
            handle: handle.clone(),
            ifindex: lan.index,
        }),
    }));

    let mut services = Supervisor::new();
    // One fair share per client across every portal listener. Descriptors beyond the
    // portal's cap stay free for the admin socket, RADIUS and the store.
    let limits = serve::Limits {
        max_connections: (nofile.saturating_sub(256) as usize).clamp(64, 16_384),
        per_client_connections: cfg.portal_client_connections as usize,
        per_client_rate: cfg.portal_client_rate,
        ..serve::Limits::default()
    };
    let fairness = serve::Fairness::new(limits);
    let site = portal::Site::new(portal);
    for l in listeners.portal {
        let f = serve::serve(l, Accepts::Portal, site.clone(), fairness.clone(), None);
        services.spawn_forever("portal", Role::Essential, f);
    }
    for l in listeners.intercept {
        let f = serve::serve(
            l,
            Accepts::Intercepted,
            site.clone(),
            fairness.clone(),
            None,
        );
        services.spawn_forever("portal-intercept", Role::Essential, f);
    }
    for l in listeners.https {
        let f = serve::serve(
            l,
            Accepts::Portal,
            site.clone(),
            fairness.clone(),
            tls.clone(),
        );
        services.spawn_forever("portal-https", Role::Essential, f);
    }
    if let Some(s) = stapler.filter(|_| cfg.api_tls_ocsp.is_some()) {
        services.spawn_forever("ocsp", Role::Optional, s.watch());
    }
    if let (Some(l), Some(addr)) = (console_listener, cfg.admin_web) {
        // Guests never reach it: connections from the LAN's networks are refused, unless
        // the operator bound it to a LAN address on purpose.
        let refused = if lan_addrs.contains(&addr.ip()) {
            Vec::new()
        } else {
            netlink::prefixes(&handle, lan.index).await?
        };
        let history = console::History::new();
        let console = console::Console::new(
            admin_app.clone(),
            cfg.admin_users_file.clone(),
            tls.is_some(),
            history.clone(),
            refused,
        )?;
        info!(%addr, tls = tls.is_some(), "admin console up");
        services.spawn_forever(
            "admin-web",
            Role::Essential,
            console::serve(l, console, tls.clone()),
        );
        services.spawn_forever("history", Role::Optional, history.run(sessions.clone()));
    }
    services.spawn_forever(
        "admin",
        Role::Essential,
        admin::serve(admin_listener, admin_app),
    );
    if let Some(l) = listeners.metrics {
        let m = metrics.clone();
        let app =
            axum::Router::new().route("/metrics", axum::routing::get(move || m.clone().response()));
        services.spawn("metrics", Role::Essential, async move {
            Ok(axum::serve(l, app).await?)
        });
    }
    services.spawn_forever(
        "sessions",
        Role::Essential,
        sessions.clone().maintain(ENFORCE_TICK, CHECKPOINT_EVERY),
    );
    services.spawn_forever(
        "walled-garden",
        Role::Optional,
        walled.clone().resolve_loop(),
    );
    if let Some(r) = &radius {
        if !r.settings().acct_servers.is_empty() {
            services.spawn_forever(
                "accounting",
                Role::Essential,
                r.clone().accounting_loop(store.clone()),
            );
            services.spawn_forever(
                "interim-updates",
                Role::Essential,
                accounting
                    .clone()
                    .interim_loop(sessions.clone(), store.clone()),
            );
        }
        if r.settings().mac_auth {
            services.spawn_forever(
                "mac-auth",
                Role::Essential,
                crate::auth::mac_auth::run(r.clone(), identity.clone(), sessions.clone()),
            );
        }
    }
    if let (Some(sock), Some(secret), Some((listen, clients, _)), Some(r)) =
        (das_socket, das_secret, &cfg.das, &radius)
    {
        let settings = radius::das::DasSettings {
            listen: *listen,
            clients: clients.clone(),
            secret,
        };
        let f = radius::das::serve(sock, settings, r.clone(), sessions.clone());
        services.spawn_forever("das", Role::Essential, f);
    }
    if let Some(logger) = logger {
        services.spawn("kernel-log", Role::Optional, host::kernel_log_pump(logger));
    }

    info!(
        pin_dir = %pin_dir.display(),
        "pins outlive netauth: {pins_outlive}"
    );
    info!(
        lan = %lan.name,
        xdp = attached.xdp,
        adopted = attached.adopted,
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
    let mut failed = None;
    let detach = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: shutting down"); false }
        _ = int.recv() => { info!("SIGINT: shutting down"); false }
        Some(detach) = shutdown_rx.recv() => { info!(detach, "shutdown requested"); detach }
        Some(f) = services.failure() => {
            error!(service = f.service, "an essential service stopped: {:#}; shutting down", f.error);
            failed = Some(f);
            false
        }
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    services.shutdown().await;

    // Counters to disk; the session table itself is always on disk already.
    {
        let s = sessions.clone();
        let _ = tokio::task::spawn_blocking(move || {
            s.sweep_bindings();
            s.checkpoint(clock::now())
        })
        .await;
    }
    let mut result = Ok(());
    drop(admin_socket);
    if detach {
        if let Err(e) = shaper.restore() {
            error!("restoring the LAN interface's root qdisc: {e:#}");
        }
        programs.detach()?;
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
    if let Some(f) = failed
        && result.is_ok()
    {
        result = Err(f
            .error
            .context(format!("the {} service stopped", f.service)));
    }
    result
}

/// The policy-routing rule of an older netauth, as configured.
fn legacy_routing(cfg: &Settings) -> PolicyRouting {
    PolicyRouting {
        mark: cfg.fwmark,
        mask: cfg.fwmark_mask,
        table: cfg.route_table,
        priority: cfg.rule_priority,
    }
}

/// `netauth stop --detach` when no daemon is running: remove pins (and an older
/// netauth's routing rule) directly.
pub async fn detach_offline(args: RunArgs) -> anyhow::Result<()> {
    let cfg = Settings::resolve(args)?;
    let handle = netlink::connect()?;
    legacy_routing(&cfg).remove(&handle).await?;
    crate::datapath::Shaper::new(&cfg.lan, &cfg.state_dir).restore()?;
    let dir = crate::datapath::pin_dir(&cfg.bpffs, &cfg.lan);
    crate::datapath::remove_pins(&dir)?;
    info!("removed {}", dir.display());
    Ok(())
}
