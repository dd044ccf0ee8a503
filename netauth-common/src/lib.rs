//! Map layouts and constants shared by netauth's kernel programs and its daemon.
//!
//! This crate is the single definition of every map key and value: the kernel side
//! (`netauth-ebpf`) and the user side (`netauth-userspace`) both use these types, so they
//! can never disagree about a layout. `bytemuck::Pod` proves each type has no padding
//! holes; the `user` feature adds the `aya::Pod` impls the loader needs.
#![no_std]

use bytemuck::{Pod, Zeroable};

/// Name of the per-CPU hash map of authenticated clients (key [`MacKey`], value
/// [`ClientUsage`]). Presence means "authenticated"; the per-CPU value is the client's
/// traffic accounting, so the hot path does one lookup and writes only its own CPU's slot.
pub const MAP_CLIENTS: &str = "NETAUTH_CLIENTS";
/// Name of the LRU map the TC program fills with "this IP was last sent from this MAC"
/// (key [`IpKey`], value [`MacKey`]), so the portal can tie a connection to a MAC from
/// what the datapath itself saw.
pub const MAP_CLIENT_ADDRS: &str = "NETAUTH_CLIENT_ADDRS";
/// Names of the walled-garden LPM tries (key: prefix length + address bytes, value: u8):
/// destinations captive clients may reach.
pub const MAP_WALLED_V4: &str = "NETAUTH_WALLED_V4";
pub const MAP_WALLED_V6: &str = "NETAUTH_WALLED_V6";
/// Capacity of each walled-garden trie.
pub const MAX_WALLED: u32 = 8192;

/// Name of the per-CPU array of datapath counters, indexed by [`Counter`].
pub const MAP_COUNTERS: &str = "NETAUTH_COUNTERS";

/// Capacity of the authenticated-clients map. A plain (per-CPU) hash map, never an LRU:
/// an LRU would silently evict paying users.
pub const MAX_CLIENTS: u32 = 131_072;
/// Capacity of the address -> MAC record map (an LRU: stale records may go).
pub const MAX_CLIENT_ADDRS: u32 = 65_536;

/// Load-time globals (set with `EbpfLoader::override_global`).
pub mod globals {
    /// Portal IPv4 address, network byte order as it sits in the packet (0 = none).
    pub const PORTAL_V4: &str = "NETAUTH_PORTAL_V4";
    /// Portal IPv6 address as 16 bytes in packet order (all zero = none).
    pub const PORTAL_V6: &str = "NETAUTH_PORTAL_V6";
    /// Portal TCP port, host byte order.
    pub const PORTAL_PORT: &str = "NETAUTH_PORTAL_PORT";
    /// fwmark value put on steered packets.
    pub const MARK: &str = "NETAUTH_MARK";
    /// Bits of the fwmark that netauth owns.
    pub const MARK_MASK: &str = "NETAUTH_MARK_MASK";
    /// Non-zero when XDP is not attached, so the TC ingress program does the upload
    /// accounting that XDP would otherwise do.
    pub const TC_COUNTS_INGRESS: &str = "NETAUTH_TC_COUNTS_INGRESS";
}

/// Names of the kernel programs inside the object.
pub mod programs {
    pub const XDP: &str = "netauth_xdp";
    pub const TC_INGRESS: &str = "netauth_tc_ingress";
    pub const TC_EGRESS: &str = "netauth_tc_egress";
}

/// A client MAC address as a map key: 6 bytes plus 2 explicit zero bytes, so the key is 8
/// bytes long (the kernel hashes keys whose size is a multiple of 4 on a faster path).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct MacKey {
    pub addr: [u8; 6],
    pub _pad: [u8; 2],
}

impl MacKey {
    pub const fn new(addr: [u8; 6]) -> Self {
        Self { addr, _pad: [0; 2] }
    }
}

/// Per-CPU accounting of an authenticated client. "Up" is what the client sent (LAN
/// ingress), "down" what it received (LAN egress). Bytes are layer-3 bytes (IP header
/// included, link header excluded), the unit RFC 8908's `bytes-remaining` uses.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ClientUsage {
    pub up_packets: u64,
    pub up_bytes: u64,
    pub down_packets: u64,
    pub down_bytes: u64,
    /// Last time (CLOCK_MONOTONIC ns, coarse) this CPU saw the client send.
    pub last_seen_ns: u64,
}

/// An IP address as a map key: IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`), so one map
/// serves both families.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct IpKey {
    pub addr: [u8; 16],
}

impl IpKey {
    pub const fn from_v4(octets: [u8; 4]) -> Self {
        let [a, b, c, d] = octets;
        Self {
            addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d],
        }
    }

    pub const fn from_v6(octets: [u8; 16]) -> Self {
        Self { addr: octets }
    }
}

/// Indexes into the per-CPU counter array. Kept as plain constants so the kernel side
/// needs no enum conversion.
pub struct Counter;

impl Counter {
    /// Frames from authenticated clients passed by XDP.
    pub const XDP_PASS_AUTHENTICATED: u32 = 0;
    /// Frames from unauthenticated clients that XDP let through (ARP, ND, DHCP, DNS, portal).
    pub const XDP_PASS_INFRA: u32 = 1;
    /// Unauthenticated TCP/80 frames XDP handed on to TC.
    pub const XDP_PASS_HTTP: u32 = 2;
    /// Frames XDP dropped because the client is captive.
    pub const XDP_DROP_CAPTIVE: u32 = 3;
    /// Frames XDP dropped because they could not be parsed.
    pub const XDP_DROP_MALFORMED: u32 = 4;
    /// Unauthenticated TCP/80 packets steered to the portal socket.
    pub const TC_STEERED: u32 = 5;
    /// Steering failed (no portal socket, helper error): dropped, fail closed.
    pub const TC_DROP_STEER_FAILED: u32 = 6;
    /// Packets TC dropped because the client is captive.
    pub const TC_DROP_CAPTIVE: u32 = 7;
    /// Packets TC dropped because they could not be parsed.
    pub const TC_DROP_MALFORMED: u32 = 8;
    /// TCP SYNs from captive clients XDP handed to TC to be answered with a reset.
    pub const XDP_PASS_RESET: u32 = 9;
    /// TCP resets sent to captive clients (fail fast instead of a silent drop).
    pub const TC_RESET_SENT: u32 = 10;
    /// Frames from captive clients XDP passed because they go to the walled garden.
    pub const XDP_PASS_WALLED: u32 = 11;
    /// Number of counters in use.
    pub const COUNT: u32 = 12;
    /// Slots in the pinned counter map: room to add counters without changing the map's
    /// definition (a pinned map with another size could not be reused on upgrade).
    pub const SLOTS: u32 = 32;

    pub const NAMES: [&'static str; Self::COUNT as usize] = [
        "xdp_pass_authenticated",
        "xdp_pass_infra",
        "xdp_pass_http",
        "xdp_drop_captive",
        "xdp_drop_malformed",
        "tc_steered",
        "tc_drop_steer_failed",
        "tc_drop_captive",
        "tc_drop_malformed",
        "xdp_pass_reset",
        "tc_reset_sent",
        "xdp_pass_walled",
    ];
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: the types are `#[repr(C)]` and `bytemuck::Pod` (no padding, any bit pattern valid).
    unsafe impl aya::Pod for super::MacKey {}
    unsafe impl aya::Pod for super::ClientUsage {}
    unsafe impl aya::Pod for super::IpKey {}
}
