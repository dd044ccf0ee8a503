//! Everything netauth asks of or tells the kernel's routing layer, through rtnetlink:
//! the LAN interface and its addresses, the neighbour table, and the policy-routing rule
//! plus local route that deliver intercepted packets to the portal socket.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use anyhow::{Context as _, anyhow};
use futures::TryStreamExt as _;
use rtnetlink::{
    Handle, IpVersion, RouteMessageBuilder,
    packet_route::{
        AddressFamily,
        address::{AddressAttribute, AddressScope},
        link::LinkAttribute,
        neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState},
        route::{RouteProtocol, RouteScope, RouteType},
        rule::RuleAttribute,
    },
};

use crate::model::Mac;

/// A netlink connection whose driver runs on the current tokio runtime.
pub fn connect() -> anyhow::Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
    tokio::spawn(conn);
    Ok(handle)
}

pub struct Interface {
    pub index: u32,
    pub name: String,
    /// The kind of a virtual interface (`veth`, `bridge`, `vlan`, ...); `None` for a
    /// physical one (a NIC with a driver of its own).
    pub kind: Option<String>,
}

/// The interface called `name`, or a clear error when there is none.
pub async fn interface(handle: &Handle, name: &str) -> anyhow::Result<Interface> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => {
            let name = link
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| name.to_string());
            let kind = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                    rtnetlink::packet_route::link::LinkInfo::Kind(k) => Some(k.to_string()),
                    _ => None,
                }),
                _ => None,
            });
            Ok(Interface {
                index: link.header.index,
                name,
                kind,
            })
        }
        Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => {
            Err(anyhow!("interface '{name}' does not exist"))
        }
        Err(e) => Err(e).context("listing interfaces"),
    }
}

/// The interface's first IPv4 address and first global IPv6 address.
pub async fn interface_addresses(
    handle: &Handle,
    index: u32,
) -> anyhow::Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let mut v4 = None;
    let mut v6 = None;
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = addrs.try_next().await.context("listing addresses")? {
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(IpAddr::V4(a))
                | AddressAttribute::Address(IpAddr::V4(a))
                    if v4.is_none() =>
                {
                    v4 = Some(*a)
                }
                AddressAttribute::Address(IpAddr::V6(a))
                    if v6.is_none() && msg.header.scope == AddressScope::Universe =>
                {
                    v6 = Some(*a)
                }
                _ => {}
            }
        }
    }
    Ok((v4, v6))
}

/// Every address of the interface (IPv4, and IPv6 of any scope, link-local included).
pub async fn all_addresses(handle: &Handle, index: u32) -> anyhow::Result<Vec<IpAddr>> {
    let mut out: Vec<IpAddr> = prefixes(handle, index)
        .await?
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The prefixes of interface `index`'s addresses (address, prefix length): the networks
/// that are on that side of the gateway.
pub async fn prefixes(handle: &Handle, index: u32) -> anyhow::Result<Vec<(IpAddr, u8)>> {
    let mut out = Vec::new();
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = addrs.try_next().await.context("listing addresses")? {
        let len = msg.header.prefix_len;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(a @ IpAddr::V4(_))
                | AddressAttribute::Address(a @ IpAddr::V6(_)) => out.push((*a, len)),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Whether `ip` is inside `prefix`/`len`.
pub fn in_prefix(ip: IpAddr, prefix: IpAddr, len: u8) -> bool {
    match (ip, prefix) {
        (IpAddr::V4(a), IpAddr::V4(p)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(p) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(p)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(p) & mask
        }
        _ => false,
    }
}

/// The LAN interface, for neighbour-table queries.
#[derive(Clone)]
pub struct Lan {
    pub handle: Handle,
    pub ifindex: u32,
}

/// Every device the kernel's neighbour table knows on interface `index`, with its
/// addresses (usable entries only): one dump, however many devices are asked about.
pub async fn neighbours(handle: &Handle, index: u32) -> anyhow::Result<HashMap<Mac, Vec<IpAddr>>> {
    let mut out: HashMap<Mac, Vec<IpAddr>> = HashMap::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut neighbours = handle
            .neighbours()
            .get()
            .set_address_family(family)
            .execute();
        while let Some(n) = neighbours
            .try_next()
            .await
            .context("reading the neighbour table")?
        {
            if n.header.ifindex != index
                || matches!(
                    n.header.state,
                    NeighbourState::Failed | NeighbourState::Incomplete | NeighbourState::None
                )
            {
                continue;
            }
            let mut dst = None;
            let mut lladdr = None;
            for attr in &n.attributes {
                match attr {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                        dst = Some(IpAddr::V4(*a))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                        dst = Some(IpAddr::V6(*a))
                    }
                    NeighbourAttribute::LinkLayerAddress(l) => {
                        lladdr = <[u8; 6]>::try_from(l.as_slice()).ok().map(Mac)
                    }
                    _ => {}
                }
            }
            if let (Some(mac), Some(ip)) = (lladdr, dst) {
                out.entry(mac).or_default().push(ip);
            }
        }
    }
    Ok(out)
}

/// The policy-routing rule and local route with which netauth once steered marked packets
/// to a transparent listener (the TPROXY recipe), for both address families. netauth now
/// rewrites intercepted packets to its own address instead (see `netauth-ebpf/src/nat.rs`):
/// a custom rule makes the kernel walk the rule list for every forwarded packet, so a rule
/// left by an older version is removed.
#[derive(Clone, Copy, Debug)]
pub struct PolicyRouting {
    pub mark: u32,
    pub mask: u32,
    pub table: u32,
    pub priority: u32,
}

impl PolicyRouting {
    /// `local 0.0.0.0/0 dev lo` and `local ::/0 dev lo` in that table, as delete requests
    /// (the kernel matches type, scope and device; any protocol, as whoever added them).
    fn local_routes(&self, lo: u32) -> [rtnetlink::packet_route::route::RouteMessage; 2] {
        [
            RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
                .table_id(self.table)
                .kind(RouteType::Local)
                .scope(RouteScope::Host)
                .protocol(RouteProtocol::Unspec)
                .output_interface(lo)
                .build(),
            RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(Ipv6Addr::UNSPECIFIED, 0)
                .table_id(self.table)
                .kind(RouteType::Local)
                .protocol(RouteProtocol::Unspec)
                .output_interface(lo)
                .build(),
        ]
    }

    /// Removes every rule pointing at our table with our mark, and the table's routes.
    pub async fn remove(&self, handle: &Handle) -> anyhow::Result<()> {
        for v in [IpVersion::V4, IpVersion::V6] {
            let rules: Vec<_> = handle
                .rule()
                .get(v.clone())
                .execute()
                .try_collect()
                .await
                .context("listing policy-routing rules")?;
            for rule in rules {
                let table = rule
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RuleAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(rule.header.table as u32);
                let mark = rule.attributes.iter().find_map(|a| match a {
                    RuleAttribute::FwMark(m) => Some(*m),
                    _ => None,
                });
                if table == self.table && mark == Some(self.mark) {
                    handle
                        .rule()
                        .del(rule)
                        .execute()
                        .await
                        .context("removing a policy-routing rule")?;
                }
            }
        }
        let lo = interface(handle, "lo").await?.index;
        for msg in self.local_routes(lo) {
            match handle.route().del(msg).execute().await {
                Ok(()) => {}
                // ESRCH/ENOENT: nothing to remove.
                Err(rtnetlink::Error::NetlinkError(e))
                    if matches!(e.raw_code().abs(), libc::ESRCH | libc::ENOENT) => {}
                Err(e) => return Err(e).context("removing the local route"),
            }
        }
        Ok(())
    }
}
