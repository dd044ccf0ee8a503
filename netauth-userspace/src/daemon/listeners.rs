//! The sockets the daemon serves on, bound before the datapath steers anything to them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::warn;

use crate::{config::Settings, portal::serve};

pub struct Listeners {
    /// The portal's listeners (port `--portal-port`).
    pub portal: Vec<TcpListener>,
    /// Where the datapath steers captive clients' plain HTTP (port `--intercept-port`).
    pub intercept: Vec<TcpListener>,
    /// The HTTPS listeners (RFC 8908 API and the pages over TLS).
    pub https: Vec<TcpListener>,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// `v6`: whether the portal has an IPv6 address (then an IPv6 listener is a must).
    pub async fn bind(cfg: &Settings, v6: bool, tls: bool) -> anyhow::Result<Self> {
        let any = |port: u16| {
            [
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            ]
        };
        let mut portal = Vec::new();
        let mut intercept = Vec::new();
        for (port, out) in [
            (cfg.portal_port, &mut portal),
            (cfg.intercept_port, &mut intercept),
        ] {
            let [v4_addr, v6_addr] = any(port);
            out.push(serve::plain_listener(v4_addr, &cfg.lan).await?);
            match serve::plain_listener(v6_addr, &cfg.lan).await {
                Ok(l) => out.push(l),
                Err(e) if !v6 => {
                    warn!("no IPv6 portal listener ({e:#}); IPv6 clients stay blocked")
                }
                Err(e) => return Err(e),
            }
        }
        let mut https = Vec::new();
        if tls {
            let [a4, a6] = any(cfg.api_port);
            https.push(serve::plain_listener(a4, &cfg.lan).await?);
            match serve::plain_listener(a6, &cfg.lan).await {
                Ok(l) => https.push(l),
                Err(e) => warn!("no IPv6 HTTPS listener: {e:#}"),
            }
        }
        let metrics = match cfg.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics listener to {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            portal,
            intercept,
            https,
            metrics,
        })
    }
}

/// The portal's addresses: those given, else the LAN interface's.
pub fn portal_addresses(
    given: &[IpAddr],
    lan: (Option<Ipv4Addr>, Option<Ipv6Addr>),
) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    if given.is_empty() {
        return lan;
    }
    let (mut v4, mut v6) = (None, None);
    for ip in given {
        match ip {
            IpAddr::V4(a) => v4 = Some(*a),
            IpAddr::V6(a) => v6 = Some(*a),
        }
    }
    (v4, v6)
}
