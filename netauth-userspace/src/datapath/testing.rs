//! Real kernel maps for unit tests, made with the bpf(2) syscall directly (no eBPF object
//! needed). Needs root (CAP_BPF), as netauth does; `cargo xtask test` runs as root.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

use aya::maps::{Array, HashMap, Map, MapData, PerCpuHashMap};
use netauth_common::{ClientRate, ClientUsage, IpKey, MacKey};

use super::{Bindings, ClientMap};

pub const PERCPU_HASH: u32 = 5;
pub const HASH: u32 = 1;
pub const ARRAY: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct CreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> libc::c_long {
    // SAFETY: `attr` is a bpf_attr prefix for `cmd` whose pointers (if any) are valid.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size_of::<T>() as u32) }
}

/// A new map (BPF_MAP_CREATE).
pub fn create(map_type: u32, key_size: usize, value_size: usize, max_entries: u32) -> OwnedFd {
    let mut attr = CreateAttr {
        map_type,
        key_size: key_size as u32,
        value_size: value_size as u32,
        max_entries,
        ..Default::default()
    };
    let fd = bpf(0, &mut attr);
    assert!(
        fd >= 0,
        "creating a test map needs root: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the kernel just returned this descriptor to us.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Writes `value` (for a per-CPU map: one per CPU, consecutive) under `key`.
pub fn update<K, V>(fd: &OwnedFd, key: &K, value: *const V) {
    let mut attr = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key as *const K as u64,
        value: value as u64,
        ..Default::default()
    };
    assert_eq!(bpf(2, &mut attr), 0, "{}", std::io::Error::last_os_error());
}

/// A client map of `max_clients` entries and an empty binding map, as the datapath has.
pub fn parts(max_clients: u32) -> (ClientMap, Bindings) {
    let nr_cpus = aya::util::nr_cpus().expect("CPUs");
    let clients = create(
        PERCPU_HASH,
        size_of::<MacKey>(),
        size_of::<ClientUsage>(),
        max_clients,
    );
    let clients = PerCpuHashMap::try_from(Map::PerCpuHashMap(
        MapData::from_fd(clients).expect("map data"),
    ))
    .expect("client map");
    let rates = create(
        HASH,
        size_of::<MacKey>(),
        size_of::<ClientRate>(),
        max_clients,
    );
    let rates =
        HashMap::try_from(Map::HashMap(MapData::from_fd(rates).expect("map data"))).expect("rates");
    let bindings = create(HASH, size_of::<IpKey>(), size_of::<MacKey>(), 1024);
    let bindings = HashMap::try_from(Map::HashMap(MapData::from_fd(bindings).expect("map data")))
        .expect("bindings");
    let epoch = create(ARRAY, 4, 4, 1);
    let epoch =
        Array::try_from(Map::Array(MapData::from_fd(epoch).expect("map data"))).expect("epoch");
    (
        ClientMap::new(clients, rates, None, nr_cpus).expect("client map"),
        Bindings::new(bindings, epoch).expect("bindings"),
    )
}
