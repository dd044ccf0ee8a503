//! Address bindings: which device may send from which address once authorized (strict
//! `--bind-addresses`). Taking an address from a device bumps an epoch, so the datapath's
//! per-CPU caches of bound sources go stale at once.

use std::{
    net::IpAddr,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::maps::{Array, HashMap, IterableMap as _, MapData, MapError};
use netauth_common::{IpKey, MacKey};
use tracing::warn;

use super::{ip_key, key_ip};
use crate::model::Mac;

pub struct Bindings {
    map: HashMap<MapData, IpKey, MacKey>,
    epoch: Array<MapData, u32>,
}

/// Link-local IPv6 addresses are never bound (every device has its own, and the gateway
/// answers them on-link only).
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

impl Bindings {
    /// Starts a fresh epoch: caches an earlier run left in the pinned maps are stale.
    pub(super) fn new(
        map: HashMap<MapData, IpKey, MacKey>,
        mut epoch: Array<MapData, u32>,
    ) -> anyhow::Result<Self> {
        let mut seed = [0u8; 4];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        epoch
            .set(0, u32::from_ne_bytes(seed) | 1, 0)
            .map_err(|e| anyhow::anyhow!("setting the binding epoch: {e}"))?;
        Ok(Self { map, epoch })
    }

    /// Binds `ip` to `mac` (replacing another device's binding: the caller proved `mac`
    /// sends from it, e.g. by the login connection).
    pub fn bind(&mut self, ip: IpAddr, mac: Mac) -> Result<(), MapError> {
        if ip.is_unspecified() || is_link_local(ip) {
            return Ok(());
        }
        let key = ip_key(ip);
        let previous = self.map.get(&key, 0).ok();
        if previous.is_some_and(|m| m.addr == mac.0) {
            return Ok(());
        }
        self.map.insert(key, MacKey::new(mac.0), 0)?;
        if previous.is_some() {
            // Taken from another device: its cached bound source must not pass.
            self.bump_epoch();
        }
        Ok(())
    }

    /// Binds every (address, device) of `pairs`, in order, as [`Bindings::bind`] does
    /// each. Into an empty map (after a reboot) they go a few thousand per syscall
    /// (`BPF_MAP_UPDATE_BATCH`, see [`super::batch`]): restoring 100k sessions' addresses
    /// one lookup and one insert at a time would keep the gate closed for a while.
    /// Returns those that could not be bound.
    pub fn bind_all(&mut self, pairs: &[(IpAddr, Mac)]) -> Vec<(IpAddr, Mac, MapError)> {
        let pairs: Vec<(IpAddr, Mac)> = pairs
            .iter()
            .copied()
            .filter(|(ip, _)| !ip.is_unspecified() && !is_link_local(*ip))
            .collect();
        let mut added = 0;
        if self.map.keys().next().is_none() {
            let keys: Vec<IpKey> = pairs.iter().map(|(ip, _)| ip_key(*ip)).collect();
            let macs: Vec<MacKey> = pairs.iter().map(|(_, mac)| MacKey::new(mac.0)).collect();
            let fd = self.map.map().fd().as_fd().as_raw_fd();
            let values = bytemuck::cast_slice(&macs);
            let (n, err) = super::batch::update(fd, &keys, values, size_of::<MacKey>());
            added = n;
            if let Some(e) = err {
                warn!("binding addresses in batches failed ({e}); the rest one by one");
            }
        }
        // The rest one by one (all of them when the map already held bindings).
        pairs[added..]
            .iter()
            .filter_map(|(ip, mac)| self.bind(*ip, *mac).err().map(|e| (*ip, *mac, e)))
            .collect()
    }

    /// Binds `ip` to `mac` unless another device holds it; whether it is `mac`'s now.
    pub fn bind_if_free(&mut self, ip: IpAddr, mac: Mac) -> bool {
        if ip.is_unspecified() || is_link_local(ip) {
            return false;
        }
        let key = ip_key(ip);
        match self.map.get(&key, 0) {
            Ok(m) => m.addr == mac.0,
            Err(_) => self.map.insert(key, MacKey::new(mac.0), 0).is_ok(),
        }
    }

    /// Removes the binding of `ip` if it belongs to `mac`.
    pub fn unbind(&mut self, ip: IpAddr, mac: Mac) {
        let key = ip_key(ip);
        if self.map.get(&key, 0).is_ok_and(|m| m.addr == mac.0) && self.map.remove(&key).is_ok() {
            self.bump_epoch();
        }
    }

    fn bump_epoch(&mut self) {
        let e = self.epoch.get(&0, 0).unwrap_or(0);
        if let Err(e) = self.epoch.set(0, e.wrapping_add(1) | 1, 0) {
            warn!("could not advance the binding epoch: {e}");
        }
    }

    /// Every binding: (address, device).
    pub fn all(&self) -> Vec<(IpAddr, Mac)> {
        self.map
            .iter()
            .filter_map(Result::ok)
            .map(|(k, m)| (key_ip(&k), Mac(m.addr)))
            .collect()
    }
}
