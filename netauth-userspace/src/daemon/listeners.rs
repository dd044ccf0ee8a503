//! The sockets the daemon serves on, bound before the datapath steers anything to them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::warn;

use crate::{config::Settings, portal::serve};

pub struct Listeners {
    /// The portal's transparent listeners (port `--portal-port`, and 80 when free).
    pub portal: Vec<TcpListener>,
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
        let [v4_addr, v6_addr] = any(cfg.portal_port);
        let mut portal = vec![serve::transparent_listener(v4_addr, &cfg.lan)?];
        match serve::transparent_listener(v6_addr, &cfg.lan) {
            Ok(l) => portal.push(l),
            Err(e) if !v6 => warn!("no IPv6 portal listener ({e:#}); IPv6 clients stay blocked"),
            Err(e) => return Err(e),
        }
        // When a client reconnects from the same port while the portal's side of its
        // previous intercepted connection is in TIME_WAIT, the kernel hands the SYN to a
        // listener on the original destination port (80). Without one there, the SYN is
        // lost and the client waits out TIME_WAIT. So the portal also listens on port 80
        // when it can.
        if cfg.portal_port != 80 {
            for addr in any(80) {
                match serve::transparent_listener(addr, &cfg.lan) {
                    Ok(l) => portal.push(l),
                    Err(e) => warn!(
                        "{e:#}: another program owns port 80 on the gateway; a client that \
                         reuses a source port within TIME_WAIT of an intercepted connection \
                         may wait"
                    ),
                }
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
