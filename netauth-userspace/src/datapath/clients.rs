//! The authorized-client map: a MAC in it passes at line rate, with per-CPU counters of
//! what it sent and received and when it last sent. [`ClientMap`] writes it (one owner:
//! the session table); [`ClientView`] reads it on its own descriptor, shared by whoever
//! asks "is this device let through?" without waiting on the session table.

use std::os::fd::{AsFd as _, OwnedFd};

use aya::maps::{IterableMap as _, Map, MapData, MapError, PerCpuHashMap, PerCpuValues};
use netauth_common::{ClientUsage, MacKey, client_flags};

use super::{counters::CounterReader, monotonic_ns};
use crate::model::{Mac, Usage};

pub struct ClientMap {
    map: PerCpuHashMap<MapData, MacKey, ClientUsage>,
    nr_cpus: usize,
}

/// Lookups in the client map without its owner.
pub struct ClientView {
    map: PerCpuHashMap<MapData, MacKey, ClientUsage>,
}

/// Whether a failed insert means the map is full.
pub fn is_full(e: &MapError) -> bool {
    matches!(e, MapError::SyscallError(sc) if sc.io_error.raw_os_error() == Some(libc::E2BIG))
}

fn dup(map: &PerCpuHashMap<MapData, MacKey, ClientUsage>) -> std::io::Result<OwnedFd> {
    map.map().fd().as_fd().try_clone_to_owned()
}

impl ClientMap {
    pub(super) fn new(map: PerCpuHashMap<MapData, MacKey, ClientUsage>, nr_cpus: usize) -> Self {
        Self { map, nr_cpus }
    }

    /// A reader of the same map on its own descriptor.
    pub fn view(&self) -> anyhow::Result<ClientView> {
        let data = MapData::from_fd(dup(&self.map)?)?;
        Ok(ClientView {
            map: PerCpuHashMap::try_from(Map::PerCpuHashMap(data))?,
        })
    }

    /// A reader of every client's counters at once (on its own descriptor of the map).
    pub fn counter_reader(&self) -> std::io::Result<CounterReader> {
        Ok(CounterReader::new(dup(&self.map)?, self.nr_cpus))
    }

    /// Let this MAC's traffic pass. An existing entry (and its counters) is kept.
    /// `exempt`: the device is not held to its bound addresses.
    pub fn authorize(&mut self, mac: Mac, exempt: bool) -> Result<(), MapError> {
        let key = MacKey::new(mac.0);
        if self.map.get(&key, 0).is_ok() {
            return Ok(());
        }
        let slot = ClientUsage {
            flags: if exempt {
                client_flags::EXEMPT_BINDING
            } else {
                0
            },
            ..ClientUsage::default()
        };
        let values = PerCpuValues::try_from(vec![slot; self.nr_cpus])?;
        self.map.insert(key, values, 0)
    }

    /// Make this MAC captive again. Returns whether it was in the map.
    pub fn revoke(&mut self, mac: Mac) -> Result<bool, MapError> {
        match self.map.remove(&MacKey::new(mac.0)) {
            Ok(()) => Ok(true),
            Err(MapError::KeyNotFound) => Ok(false),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Every MAC in the map.
    pub fn keys(&self) -> Vec<Mac> {
        self.map
            .keys()
            .filter_map(Result::ok)
            .map(|k| Mac(k.addr))
            .collect()
    }

    /// The kernel's counters for `mac`, summed over CPUs, and when it last sent (on the
    /// clock of `now_ms`).
    pub fn usage(&self, mac: Mac, now_ms: u64) -> Option<(Usage, Option<u64>)> {
        let values = self.map.get(&MacKey::new(mac.0), 0).ok()?;
        let mut u = Usage::default();
        let mut last_seen_ns = 0u64;
        for v in values.iter() {
            u.up_bytes += v.up_bytes;
            u.up_packets += v.up_packets;
            u.down_bytes += v.down_bytes;
            u.down_packets += v.down_packets;
            last_seen_ns = last_seen_ns.max(v.last_seen_ns);
        }
        Some((u, seen_ms(last_seen_ns, monotonic_ns(), now_ms)))
    }
}

/// When a client last sent, on the clock of `now_ms`, from the kernel's CLOCK_MONOTONIC
/// record (`None`: never).
pub fn seen_ms(last_seen_ns: u64, mono_now_ns: u64, now_ms: u64) -> Option<u64> {
    (last_seen_ns != 0)
        .then(|| now_ms.saturating_sub(mono_now_ns.saturating_sub(last_seen_ns) / 1_000_000))
}

impl ClientView {
    pub fn is_authorized(&self, mac: Mac) -> bool {
        self.map.get(&MacKey::new(mac.0), 0).is_ok()
    }

    /// How many entries the map holds (a walk of its keys).
    pub fn count(&self) -> usize {
        self.map.keys().filter(Result::is_ok).count()
    }
}
