//! The authorized-client map: a MAC in it passes at line rate, with per-CPU counters of
//! what it sent and received and when it last sent. [`ClientMap`] writes it (one owner:
//! the session table); [`ClientView`] reads it on its own descriptor, shared by whoever
//! asks "is this device let through?" without waiting on the session table.

use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};

use std::sync::Arc;

use aya::maps::{
    Array, HashMap, IterableMap as _, Map, MapData, MapError, PerCpuHashMap, PerCpuValues,
};
use netauth_common::{ClientRate, ClientUsage, MacKey, RATES_ANY_BIT, client_flags};

use super::{batch, counters::CounterReader, monotonic_ns, shaper::Shaper};
use crate::model::{Mac, Rate, Usage};

pub struct ClientMap {
    map: PerCpuHashMap<MapData, MacKey, ClientUsage>,
    /// Rate limits of the limited clients (`NETAUTH_RATES`), beside their counters.
    rates: HashMap<MapData, MacKey, ClientRate>,
    /// What the programs know of `rates` without a lookup (`NETAUTH_RATES_ANY`: whether
    /// it has entries, and a counter that moves when a client gains one; `None`: tests).
    rates_any: Option<Array<MapData, u32>>,
    /// Whether `rates_any` says `rates` has entries, as last written, so a batch of 100k
    /// unlimited sessions costs no syscall for their (absent) limits.
    any_marked: Option<bool>,
    /// The counter in `rates_any`'s upper bits, carried on from the pinned value.
    epoch: u32,
    /// Puts `fq` on the LAN interface when the first download limit appears (`None`:
    /// unit tests).
    shaper: Option<Arc<Shaper>>,
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
    pub(super) fn new(
        map: PerCpuHashMap<MapData, MacKey, ClientUsage>,
        rates: HashMap<MapData, MacKey, ClientRate>,
        rates_any: Option<Array<MapData, u32>>,
        nr_cpus: usize,
    ) -> Result<Self, MapError> {
        let mut me = Self {
            map,
            rates,
            rates_any,
            any_marked: None,
            epoch: 0,
            shaper: None,
            nr_cpus,
        };
        if let Some(a) = &me.rates_any {
            me.epoch = a.get(&0, 0)? >> 1;
        }
        // The pinned limits of a previous daemon are in force from the first packet.
        me.mark_rates()?;
        Ok(me)
    }

    /// Tells the programs whether any client is limited.
    fn mark_rates(&mut self) -> Result<(), MapError> {
        let any = self.rates.keys().next().is_some();
        self.mark(any, false)
    }

    /// Writes `rates_any` when whether anyone is limited changes, or (`gained`) a client
    /// has just gained an entry: the programs' cached "not limited" answers, taken under
    /// the old value, are then void. A limit that only changes needs no write (a limited
    /// client's packets always look their entry up), nor does one that goes (the lookup
    /// fails and is cached as "not limited" under the current value).
    fn mark(&mut self, any: bool, gained: bool) -> Result<(), MapError> {
        if self.any_marked == Some(any) && !gained {
            return Ok(());
        }
        if let Some(a) = &mut self.rates_any {
            // 31 bits of counter: a value comes back after 2^31 new entries, by which
            // time every cached answer has been replaced many times over.
            let epoch = self.epoch.wrapping_add(1) & (u32::MAX >> 1);
            a.set(0, (epoch << 1) | if any { RATES_ANY_BIT } else { 0 }, 0)?;
            self.epoch = epoch;
        }
        self.any_marked = Some(any);
        Ok(())
    }

    /// Who installs `fq` for download limits.
    pub fn set_shaper(&mut self, shaper: Arc<Shaper>) {
        self.shaper = Some(shaper);
    }

    /// Sets (or, unlimited, removes) `mac`'s rate limits in the datapath. Limits equal to
    /// the entry's are left alone (with the state they built); new ones start afresh.
    /// A download limit first makes sure `fq` is on the interface; where the kernel has
    /// none, the download is policed instead. A rate failure never lets a device through
    /// against the policy: authorization is the client map's alone.
    pub fn set_rate(&mut self, mac: Mac, rate: Rate) -> Result<(), MapError> {
        let key = MacKey::new(mac.0);
        if !rate.is_limited() {
            if self.any_marked == Some(false) {
                // Nobody is limited: nothing to remove (a batch of 100k unlimited
                // sessions costs no syscall here).
                return Ok(());
            }
            return match self.rates.remove(&key) {
                Ok(()) => self.mark_rates(),
                Err(MapError::KeyNotFound) => Ok(()),
                Err(MapError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::ENOENT) =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            };
        }
        // Without fq the download limit is policed (see the kernel side's `rate`).
        let police_down = rate.down.is_some() && self.shaper.as_ref().is_some_and(|s| !s.ensure());
        let want = ClientRate::new(rate.down.unwrap_or(0), rate.up.unwrap_or(0), police_down);
        let have = self.rates.get(&key, 0).ok();
        if let Some(have) = have
            && (have.down_bps, have.up_bps, have.flags) == (want.down_bps, want.up_bps, want.flags)
        {
            return Ok(());
        }
        // The entry first, then the mark: the programs never look for an entry in vain
        // for long, and never skip one that is there.
        self.rates.insert(key, want, 0)?;
        self.mark(true, have.is_none())
    }

    /// The datapath's limits of `mac` and the packets they dropped (down, up).
    pub fn rate_state(&self, mac: Mac) -> Option<ClientRate> {
        self.rates.get(&MacKey::new(mac.0), 0).ok()
    }

    /// Every limited MAC in the datapath.
    pub fn rate_keys(&self) -> Vec<Mac> {
        self.rates
            .keys()
            .filter_map(Result::ok)
            .map(|k| Mac(k.addr))
            .collect()
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

    /// Adds entries for devices that are not in the map, in order, a few thousand per
    /// syscall. Returns how many were added (the first ones) and the error that stopped
    /// the rest (a full map: [`is_full`]). An entry already in the map would be replaced,
    /// counters and all: pass only devices known to be absent.
    ///
    /// `BPF_MAP_UPDATE_BATCH`, which aya 0.14 does not wrap, so it is issued directly
    /// ([`super::batch`]): through aya, a new entry costs a lookup and an insert with two
    /// allocations, ~3 us; 100k of them (a reboot's restore, an operator's bulk load)
    /// took a third of the second netauth may take to start. A kernel that refuses the
    /// batch command gets the rest key by key.
    pub fn insert_new(&mut self, entries: &[NewEntry]) -> (usize, Option<MapError>) {
        let stride = size_of::<ClientUsage>().next_multiple_of(8);
        let value_len = stride * self.nr_cpus;
        let keys: Vec<MacKey> = entries.iter().map(|e| MacKey::new(e.mac.0)).collect();
        let mut values = Vec::with_capacity(entries.len() * value_len);
        for e in entries {
            for slot in e.slots(self.nr_cpus) {
                values.extend_from_slice(bytemuck::bytes_of(&slot));
                values.resize(values.len() + stride - size_of::<ClientUsage>(), 0);
            }
        }
        let fd = self.map.map().fd().as_fd().as_raw_fd();
        let (mut added, err) = batch::update(fd, &keys, &values, value_len);
        match err {
            None => return (added, None),
            Some(e) if e.raw_os_error() == Some(libc::E2BIG) => {
                return (added, Some(syscall_error("bpf_map_update_batch", e)));
            }
            // Refused as a command (an old or odd kernel): the rest key by key.
            Some(_) => {}
        }
        for e in &entries[added..] {
            let values = match PerCpuValues::try_from(e.slots(self.nr_cpus)) {
                Ok(v) => v,
                Err(err) => return (added, Some(err.into())),
            };
            if let Err(err) = self.map.insert(MacKey::new(e.mac.0), values, 0) {
                return (added, Some(err));
            }
            added += 1;
        }
        (added, None)
    }

    /// Make this MAC captive again (and forget its rate limits). Returns whether it was
    /// in the map.
    pub fn revoke(&mut self, mac: Mac) -> Result<bool, MapError> {
        if self.any_marked != Some(false) && self.rates.remove(&MacKey::new(mac.0)).is_ok() {
            let _ = self.mark_rates();
        }
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

/// A device to add to the client map ([`ClientMap::insert_new`]).
#[derive(Clone, Copy, Debug)]
pub struct NewEntry {
    pub mac: Mac,
    /// Not held to its bound addresses.
    pub exempt: bool,
    /// Counters the entry starts from: a session's totals carried over from a kernel
    /// entry that was lost (a reboot), so the stored session needs no rewrite.
    pub carried: Usage,
}

impl NewEntry {
    /// The entry's per-CPU values: the flags on every CPU, the carried counters on the
    /// first.
    fn slots(&self, nr_cpus: usize) -> Vec<ClientUsage> {
        let flags = if self.exempt {
            client_flags::EXEMPT_BINDING
        } else {
            0
        };
        let mut slots = vec![
            ClientUsage {
                flags,
                ..ClientUsage::default()
            };
            nr_cpus
        ];
        if let Some(first) = slots.first_mut() {
            first.up_packets = self.carried.up_packets;
            first.up_bytes = self.carried.up_bytes;
            first.down_packets = self.carried.down_packets;
            first.down_bytes = self.carried.down_bytes;
        }
        slots
    }
}

fn syscall_error(call: &'static str, io_error: std::io::Error) -> MapError {
    MapError::SyscallError(aya::sys::SyscallError { call, io_error })
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
