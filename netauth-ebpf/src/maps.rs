//! The kernel side's maps and load-time globals, with the small accessors the policy
//! ([`crate::verdict`]) and the identity records ([`crate::identity`]) use. Layouts come
//! from `netauth-common`, the single definition shared with the daemon.

use aya_ebpf::{
    Global,
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::bpf_ktime_get_coarse_ns,
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, lpm_trie::Key},
};
use netauth_common::{
    AddrOwner, ClientUsage, Counter, Endpoint, FlowKey, FlowOwner, GatewayPort, IpKey,
    MAX_BINDINGS, MAX_CLIENT_ADDRS, MAX_CLIENTS, MAX_FLOWS, MAX_GATEWAY_ALLOW, MAX_INFRA,
    MAX_INTERCEPTS, MAX_WALLED, MacKey,
};

#[map(name = "NETAUTH_CLIENTS")]
pub static CLIENTS: PerCpuHashMap<MacKey, ClientUsage> = PerCpuHashMap::pinned(MAX_CLIENTS, 0);

// Pinned: after a restart, a device authorized without a fresh ARP or ND exchange is
// still known to own the address it used while captive.
#[map(name = "NETAUTH_CLIENT_ADDRS")]
static CLIENT_ADDRS: LruHashMap<IpKey, AddrOwner> = LruHashMap::pinned(MAX_CLIENT_ADDRS, 0);

#[map(name = "NETAUTH_FLOWS")]
static FLOWS: LruHashMap<FlowKey, FlowOwner> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

// Not pinned, like the flows: the connections it translates end with the daemon's sockets.
#[map(name = "NETAUTH_INTERCEPTS")]
static INTERCEPTS: LruHashMap<Endpoint, Endpoint> = LruHashMap::with_max_entries(MAX_INTERCEPTS, 0);

// Pinned: a restart must not forget which addresses the signed-in devices acquired.
#[map(name = "NETAUTH_BINDINGS")]
static BINDINGS: HashMap<IpKey, MacKey> = HashMap::pinned(MAX_BINDINGS, BPF_F_NO_PREALLOC as u32);

// Bumped by the daemon whenever it takes an address from a device (rebinds or unbinds
// it), so the per-CPU caches of bound sources (see `verdict::source_bound`) go stale.
#[map(name = "NETAUTH_BIND_EPOCH")]
static BIND_EPOCH: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "NETAUTH_INFRA")]
static INFRA: HashMap<IpKey, u32> = HashMap::with_max_entries(MAX_INFRA, 0);

#[map(name = "NETAUTH_GATEWAY_ALLOW")]
static GATEWAY_ALLOW: HashMap<GatewayPort, u8> = HashMap::with_max_entries(MAX_GATEWAY_ALLOW, 0);

#[map(name = "NETAUTH_WALLED_V4")]
static WALLED_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(MAX_WALLED, 0);

#[map(name = "NETAUTH_WALLED_V6")]
static WALLED_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(MAX_WALLED, 0);

#[map(name = "NETAUTH_COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(Counter::SLOTS, 0);

// The portal's addresses as words (the bytes in packet order, read in native order), so
// a comparison is one or two loads rather than sixteen.
#[unsafe(no_mangle)]
static NETAUTH_PORTAL_V4: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static NETAUTH_PORTAL_V6: Global<[u64; 2]> = Global::new([0; 2]);
#[unsafe(no_mangle)]
static NETAUTH_PORTAL_PORT: Global<u16> = Global::new(8080);
#[unsafe(no_mangle)]
static NETAUTH_API_PORT: Global<u16> = Global::new(0);
#[unsafe(no_mangle)]
static NETAUTH_INTERCEPT_PORT: Global<u16> = Global::new(8081);
#[unsafe(no_mangle)]
static NETAUTH_TC_COUNTS_INGRESS: Global<u8> = Global::new(0);
#[unsafe(no_mangle)]
static NETAUTH_BIND_STRICT: Global<u8> = Global::new(1);

#[inline(always)]
pub fn portal_port() -> u16 {
    NETAUTH_PORTAL_PORT.load()
}

#[inline(always)]
pub fn intercept_port() -> u16 {
    NETAUTH_INTERCEPT_PORT.load()
}

#[inline(always)]
pub fn api_port() -> u16 {
    NETAUTH_API_PORT.load()
}

/// Whether a destination (as a key) is one of the portal's own addresses.
#[inline(always)]
pub fn is_portal_addr(v6: bool, dst: &IpKey) -> bool {
    let d = &dst.addr;
    if v6 {
        let [a, b] = NETAUTH_PORTAL_V6.load();
        let x = u64::from_ne_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        let y = u64::from_ne_bytes([d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]]);
        (a | b) != 0 && x == a && y == b
    } else {
        let a = NETAUTH_PORTAL_V4.load();
        a != 0 && u32::from_ne_bytes([d[12], d[13], d[14], d[15]]) == a
    }
}

/// The portal's address of one family in [`IpKey`] form; `None` when it has none.
#[inline(always)]
pub fn portal_addr(v6: bool) -> Option<IpKey> {
    if v6 {
        let [a, b] = NETAUTH_PORTAL_V6.load();
        if (a | b) == 0 {
            return None;
        }
        let mut key = IpKey::default();
        key.addr[..8].copy_from_slice(&a.to_ne_bytes());
        key.addr[8..].copy_from_slice(&b.to_ne_bytes());
        Some(key)
    } else {
        let a = NETAUTH_PORTAL_V4.load();
        (a != 0).then(|| IpKey::from_v4(a.to_ne_bytes()))
    }
}

/// Whether TC does the per-client work of XDP (XDP is not attached).
#[inline(always)]
pub fn tc_counts_ingress() -> bool {
    NETAUTH_TC_COUNTS_INGRESS.load() != 0
}

#[inline(always)]
pub fn bind_strict() -> bool {
    NETAUTH_BIND_STRICT.load() != 0
}

#[inline(always)]
pub fn count(index: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no other writer on this CPU while the program runs.
        unsafe { *slot += 1 };
    }
}

#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// The current binding epoch (see `BIND_EPOCH`).
#[inline(always)]
pub fn bind_epoch() -> u32 {
    // SAFETY: the value is copied out at once.
    BIND_EPOCH.get_ptr(0).map(|v| unsafe { *v }).unwrap_or(0)
}

/// This CPU's slot of an authorized client; `None`: not authorized.
#[inline(always)]
pub fn client(mac: u64) -> Option<*mut ClientUsage> {
    CLIENTS.get_ptr_mut(MacKey::from_word(mac))
}

/// What an address is for ([`netauth_common::infra`] bits; 0: nothing special).
#[inline(always)]
pub fn infra_flags(key: &IpKey) -> u32 {
    INFRA.get_ptr(key).map(|v| unsafe { *v }).unwrap_or(0)
}

#[inline(always)]
pub fn gateway_allows(proto: u8, port: u16) -> bool {
    GATEWAY_ALLOW
        .get_ptr(GatewayPort {
            proto,
            _pad: 0,
            port,
        })
        .is_some()
}

/// Whether a destination (as a key) is in the walled garden.
#[inline(always)]
pub fn walled(v6: bool, dst: &IpKey) -> bool {
    let d = &dst.addr;
    if v6 {
        WALLED_V6.get(Key::new(128, *d)).is_some()
    } else {
        WALLED_V4
            .get(Key::new(32, [d[12], d[13], d[14], d[15]]))
            .is_some()
    }
}

/// The device an address is bound to.
#[inline(always)]
pub fn binding(key: &IpKey) -> Option<[u8; 6]> {
    // SAFETY: the value is copied out at once; a concurrent delete may only make it stale.
    BINDINGS.get_ptr(key).map(|v| unsafe { (*v).addr })
}

/// Binds a free address to `mac`; true when it is now bound to `mac`.
#[inline(always)]
pub fn bind(key: &IpKey, mac: [u8; 6]) -> bool {
    BINDINGS
        .insert(key, MacKey::new(mac), BPF_NOEXIST as u64)
        .is_ok()
        || binding(key) == Some(mac)
}

/// Who last used an address while captive, and when (ns).
#[inline(always)]
pub fn addr_owner(key: &IpKey) -> Option<([u8; 6], u64)> {
    // SAFETY: copied out at once.
    CLIENT_ADDRS
        .get_ptr(key)
        .map(|o| unsafe { ((*o).mac, (*o).seen_ns) })
}

#[inline(always)]
pub fn addr_record(key: &IpKey) -> Option<*mut AddrOwner> {
    CLIENT_ADDRS.get_ptr_mut(key)
}

#[inline(always)]
pub fn addr_set(key: &IpKey, owner: &AddrOwner) {
    let _ = CLIENT_ADDRS.insert(key, owner, 0);
}

#[inline(always)]
pub fn flow_record(key: &FlowKey) -> Option<*mut FlowOwner> {
    FLOWS.get_ptr_mut(key)
}

#[inline(always)]
pub fn flow_set(key: &FlowKey, owner: &FlowOwner) {
    let _ = FLOWS.insert(key, owner, 0);
}

/// Where an intercepted client's connection was going (see `MAP_INTERCEPTS`).
#[inline(always)]
pub fn intercepted(client: &Endpoint) -> Option<*mut Endpoint> {
    INTERCEPTS.get_ptr_mut(client)
}

#[inline(always)]
pub fn intercept_set(client: &Endpoint, original: &Endpoint) -> bool {
    INTERCEPTS.insert(client, original, 0).is_ok()
}

#[inline(always)]
pub fn intercept_forget(client: &Endpoint) {
    let _ = INTERCEPTS.remove(client);
}
