//! Who is behind an address: the MAC the datapath saw send a connection's very packets
//! (never anything the client sends), and the MAC that used an address while captive.
//! Reads the datapath's records without any lock.

use std::net::{IpAddr, SocketAddr};

use aya::maps::{HashMap, MapData};
use netauth_common::{AddrOwner, Endpoint, FlowKey, FlowOwner, IpKey};

use crate::{
    datapath::{ip_key, key_ip},
    model::Mac,
};

/// Who sent a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowIdentity {
    /// Every packet of the flow came from this MAC.
    Mac(Mac),
    /// Packets of the flow came from more than one MAC (someone spoofed the address):
    /// nobody is trusted with it.
    Conflict,
    /// The datapath has no record of the flow (not from the LAN, or evicted).
    Unknown,
}

/// The datapath's records of who sends what.
pub struct Identity {
    flows: HashMap<MapData, FlowKey, FlowOwner>,
    addrs: HashMap<MapData, IpKey, AddrOwner>,
    intercepts: HashMap<MapData, Endpoint, Endpoint>,
}

/// The canonical form of an address (IPv4-mapped IPv6 becomes IPv4).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl Identity {
    pub fn new(
        flows: HashMap<MapData, FlowKey, FlowOwner>,
        addrs: HashMap<MapData, IpKey, AddrOwner>,
        intercepts: HashMap<MapData, Endpoint, Endpoint>,
    ) -> Self {
        Self {
            flows,
            addrs,
            intercepts,
        }
    }

    /// Where an intercepted connection from `client` was going before the datapath
    /// rewrote it to the portal's intercept port; `None` when the datapath has no record
    /// (the client connected to the intercept port itself, or the record was evicted).
    pub fn original_destination(&self, client: SocketAddr) -> Option<SocketAddr> {
        let key = Endpoint {
            addr: ip_key(client.ip()).addr,
            port: client.port(),
            _pad: [0; 2],
        };
        let o = self.intercepts.get(&key, 0).ok()?;
        Some(SocketAddr::new(key_ip(&IpKey { addr: o.addr }), o.port))
    }

    /// Who sent the TCP flow from `client` to `server` (the connection's remote and local
    /// addresses; for an intercepted connection `server` is the original destination).
    pub fn flow(&self, client: SocketAddr, server: SocketAddr) -> FlowIdentity {
        let key = FlowKey {
            saddr: ip_key(client.ip()).addr,
            daddr: ip_key(server.ip()).addr,
            sport: client.port(),
            dport: server.port(),
        };
        match self.flows.get(&key, 0) {
            Ok(f) if f.conflict != 0 => FlowIdentity::Conflict,
            Ok(f) => FlowIdentity::Mac(Mac(f.mac)),
            Err(_) => FlowIdentity::Unknown,
        }
    }

    /// The MAC that used `ip` while captive, as the TC program recorded it.
    pub fn recorded_mac(&self, ip: IpAddr) -> Option<Mac> {
        self.addrs.get(&ip_key(ip), 0).ok().map(|o| Mac(o.mac))
    }

    /// Every recorded (address, MAC) pair.
    pub fn recorded_clients(&self) -> Vec<(IpAddr, Mac)> {
        self.addrs
            .iter()
            .filter_map(Result::ok)
            .map(|(k, o)| (key_ip(&k), Mac(o.mac)))
            .collect()
    }

    /// Recently active devices with an address each (IPv4 preferred), sorted, leaving out
    /// those `skip` says to (the authorized ones).
    pub fn recorded_devices(&self, skip: impl Fn(Mac) -> bool) -> Vec<(Mac, IpAddr)> {
        let mut by_mac: std::collections::HashMap<Mac, IpAddr> = Default::default();
        for (ip, mac) in self.recorded_clients() {
            if skip(mac) {
                continue;
            }
            let e = by_mac.entry(mac).or_insert(ip);
            if e.is_ipv6() && ip.is_ipv4() {
                *e = ip;
            }
        }
        let mut v: Vec<_> = by_mac.into_iter().collect();
        v.sort_by_key(|(m, _)| *m);
        v
    }
}
