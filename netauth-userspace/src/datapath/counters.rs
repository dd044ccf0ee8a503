//! Counters the kernel keeps: the datapath's own verdict counters ([`Counters`]), and
//! every client's traffic read at once with `BPF_MAP_LOOKUP_BATCH` ([`CounterReader`]).
//!
//! The per-CPU client map holds each session's counters. Reading it one key at a time costs
//! a syscall per session: at 100k sessions that is 100k syscalls for every checkpoint and
//! every enforcement tick of sessions with limits. The batch command (Linux 5.6) returns
//! thousands of entries per syscall. aya 0.14 does not wrap it, so it is issued directly
//! ([`super::batch`]) on a duplicate of the map's file descriptor; the reader needs no
//! lock on the session table while it reads.

use std::{
    collections::HashMap,
    io,
    os::fd::{AsRawFd as _, OwnedFd},
};

use netauth_common::{ClientUsage, MacKey};

use aya::maps::{MapData, PerCpuArray};
use netauth_common::Counter;

use super::batch::{self, BatchAttr};
use crate::model::{Mac, Usage};

/// The datapath's counters (passed, dropped, intercepted, ... per [`Counter::NAMES`]);
/// read-only, shared without any lock.
pub struct Counters {
    map: PerCpuArray<MapData, u64>,
}

impl Counters {
    pub(super) fn new(map: PerCpuArray<MapData, u64>) -> Self {
        Self { map }
    }

    /// Each counter summed over CPUs, in [`Counter::NAMES`] order.
    pub fn read(&self) -> Vec<(&'static str, u64)> {
        (0..Counter::COUNT)
            .map(|i| {
                let sum = self.map.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
                (Counter::NAMES[i as usize], sum)
            })
            .collect()
    }
}

/// Entries asked for per syscall.
const BATCH: usize = 4096;

/// A client's counters summed over CPUs, and the latest CLOCK_MONOTONIC ns it sent.
pub type Snapshot = HashMap<Mac, (Usage, u64)>;

/// One entry: the client, its counters summed over CPUs, its latest CLOCK_MONOTONIC ns.
pub type Entry = (Mac, Usage, u64);

pub struct CounterReader {
    fd: OwnedFd,
    nr_cpus: usize,
}

impl CounterReader {
    pub fn new(fd: OwnedFd, nr_cpus: usize) -> Self {
        Self { fd, nr_cpus }
    }

    /// Every entry of the client map, collected.
    pub fn read_all(&self, expected: usize) -> io::Result<Snapshot> {
        let mut out = Snapshot::with_capacity(expected);
        self.for_each_batch(expected, |batch| {
            out.extend(batch.iter().map(|(m, u, seen)| (*m, (*u, *seen))));
        })?;
        Ok(out)
    }

    /// Walks the client map, handing each syscall's worth of entries to `f`; returns how
    /// many entries there were. `expected` (about how many there are) sizes the buffers.
    /// `Err` when the kernel refuses batch lookups (the caller then reads key by key).
    pub fn for_each_batch(
        &self,
        expected: usize,
        mut f: impl FnMut(&[Entry]),
    ) -> io::Result<usize> {
        // Per-CPU values are laid out per possible CPU, each rounded up to 8 bytes.
        let stride = size_of::<ClientUsage>().next_multiple_of(8);
        let value_size = stride * self.nr_cpus;
        let mut count_wanted = expected.saturating_add(expected / 8 + 16).clamp(16, BATCH);
        let mut keys = vec![MacKey::default(); count_wanted];
        let mut values = vec![0u8; value_size * count_wanted];
        let mut token: u32 = 0;
        let mut first = true;
        let mut total = 0;
        let mut batch: Vec<Entry> = Vec::with_capacity(count_wanted);
        loop {
            let mut next: u32 = 0;
            let mut attr = BatchAttr {
                in_batch: if first { 0 } else { &raw const token as u64 },
                out_batch: &raw mut next as u64,
                ..BatchAttr::new(
                    self.fd.as_raw_fd(),
                    keys.as_mut_ptr(),
                    values.as_mut_ptr(),
                    count_wanted,
                )
            };
            // SAFETY: the buffers hold `count` keys and values of the map's sizes; the
            // kernel writes only within them.
            let err = unsafe { batch::run(batch::LOOKUP, &mut attr) }.err();
            match err.as_ref().and_then(io::Error::raw_os_error) {
                // A hash bucket with more entries than asked for: ask for more.
                Some(libc::ENOSPC) if count_wanted < BATCH * 4 => {
                    count_wanted = (count_wanted * 4).min(BATCH * 4);
                    keys.resize(count_wanted, MacKey::default());
                    values.resize(value_size * count_wanted, 0);
                    continue;
                }
                None | Some(libc::ENOENT) => {}
                Some(_) => return Err(err.expect("checked")),
            }
            batch.clear();
            for (i, key) in keys.iter().enumerate().take(attr.count as usize) {
                let mut u = Usage::default();
                let mut seen = 0u64;
                for cpu in 0..self.nr_cpus {
                    let off = i * value_size + cpu * stride;
                    let v: ClientUsage =
                        bytemuck::pod_read_unaligned(&values[off..off + size_of::<ClientUsage>()]);
                    u.up_bytes += v.up_bytes;
                    u.up_packets += v.up_packets;
                    u.down_bytes += v.down_bytes;
                    u.down_packets += v.down_packets;
                    seen = seen.max(v.last_seen_ns);
                }
                batch.push((Mac(key.addr), u, seen));
            }
            total += batch.len();
            f(&batch);
            if err.is_some() {
                // ENOENT: the walk is complete.
                return Ok(total);
            }
            token = next;
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testing;

    /// Fills a real per-CPU hash map with known values (more entries than one batch) and
    /// reads it back. Needs root (CAP_BPF), as netauth itself does; `cargo xtask test`
    /// runs as root.
    #[test]
    fn batch_reads_return_every_entry_summed_over_cpus() {
        let nr_cpus = aya::util::nr_cpus().unwrap();
        let fd = testing::create(
            testing::PERCPU_HASH,
            size_of::<MacKey>(),
            size_of::<ClientUsage>(),
            20_000,
        );
        let n = 10_000u32;
        for i in 0..n {
            let b = i.to_be_bytes();
            let key = MacKey::new([2, 0, b[0], b[1], b[2], b[3]]);
            let values: Vec<ClientUsage> = (0..nr_cpus as u64)
                .map(|cpu| ClientUsage {
                    up_packets: 1,
                    up_bytes: u64::from(i) + cpu,
                    down_packets: 2,
                    down_bytes: 1000,
                    last_seen_ns: u64::from(i) * 10 + cpu,
                    ..ClientUsage::default()
                })
                .collect();
            testing::update(&fd, &key, values.as_ptr());
        }
        let reader = CounterReader::new(fd, nr_cpus);
        // A small hint still reads everything, in many batches.
        assert_eq!(reader.read_all(10).unwrap().len(), n as usize);
        let snap = reader.read_all(n as usize).unwrap();
        assert_eq!(snap.len(), n as usize);
        let c = nr_cpus as u64;
        for i in [0u32, 1, 4095, 4096, 9999] {
            let b = i.to_be_bytes();
            let (u, seen) = snap[&Mac([2, 0, b[0], b[1], b[2], b[3]])];
            assert_eq!(u.up_packets, c);
            assert_eq!(u.up_bytes, u64::from(i) * c + c * (c - 1) / 2);
            assert_eq!(u.down_packets, 2 * c);
            assert_eq!(u.down_bytes, 1000 * c);
            assert_eq!(seen, u64::from(i) * 10 + c - 1);
        }
    }
}
