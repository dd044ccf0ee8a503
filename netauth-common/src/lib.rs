//! Map layouts and constants shared by netauth's kernel programs and its daemon.
//!
//! This crate is the single definition of every map key and value: the kernel side
//! (`netauth-ebpf`) and the user side (`netauth-userspace`) both use these types, so they
//! can never disagree about a layout. `bytemuck::Pod` proves each type has no padding
//! holes; the `user` feature adds the `aya::Pod` impls the loader needs.
#![cfg_attr(not(feature = "api"), no_std)]

#[cfg(feature = "api")]
pub mod api;

use bytemuck::{Pod, Zeroable};

/// Name of the per-CPU hash map of authenticated clients (key [`MacKey`], value
/// [`ClientUsage`]). Presence means "authenticated"; the per-CPU value is the client's
/// traffic accounting, so the hot path does one lookup and writes only its own CPU's slot.
pub const MAP_CLIENTS: &str = "NETAUTH_CLIENTS";
/// Name of the LRU map the TC program fills with "this IP is used by this MAC" (key
/// [`IpKey`], value [`AddrOwner`]) from captive clients' traffic: which devices are around
/// (MAC authentication, metrics) and which addresses a device used before it signed in.
/// An address in use by one MAC is not taken over by another within
/// [`ADDR_OWNER_FRESH_NS`].
pub const MAP_CLIENT_ADDRS: &str = "NETAUTH_CLIENT_ADDRS";
/// Names of the walled-garden LPM tries (key: prefix length + address bytes, value: u8):
/// destinations captive clients may reach.
pub const MAP_WALLED_V4: &str = "NETAUTH_WALLED_V4";
pub const MAP_WALLED_V6: &str = "NETAUTH_WALLED_V6";
/// Capacity of each walled-garden trie.
pub const MAX_WALLED: u32 = 8192;

/// Name of the per-CPU array of datapath counters, indexed by [`Counter`].
pub const MAP_COUNTERS: &str = "NETAUTH_COUNTERS";

/// Name of the LRU map of portal connections (key [`FlowKey`], value [`FlowOwner`]): the
/// MAC that sent each TCP flow towards the portal, so a login is bound to the device that
/// sent the login connection's own packets, not to whoever last used its address.
pub const MAP_FLOWS: &str = "NETAUTH_FLOWS";
/// Capacity of the flow map.
pub const MAX_FLOWS: u32 = 65_536;

/// Name of the LRU map of intercepted connections (key and value [`Endpoint`]): for a
/// captive client's address and port, the destination its plain HTTP was going to before
/// the TC program rewrote it to the portal's address and [intercept
/// port](globals::INTERCEPT_PORT). TC egress puts it back on the portal's answers, and
/// the portal reads it as the connection's original destination.
pub const MAP_INTERCEPTS: &str = "NETAUTH_INTERCEPTS";
/// Capacity of the intercept map.
pub const MAX_INTERCEPTS: u32 = 65_536;

/// Name of the hash map of address bindings (key [`IpKey`], value [`MacKey`]): the
/// addresses each authorized device acquired. With `--bind-addresses` an authorized MAC
/// sending from an address bound to another device, or never acquired, is dropped.
/// Not an LRU: a flood must not evict a paying client's addresses.
pub const MAP_BINDINGS: &str = "NETAUTH_BINDINGS";
/// Capacity of the binding map (a few addresses per client).
pub const MAX_BINDINGS: u32 = 262_144;

/// Name of the one-element array holding the binding epoch (u32), which the daemon bumps
/// whenever it rebinds or unbinds an address, invalidating every cached bound source.
pub const MAP_BIND_EPOCH: &str = "NETAUTH_BIND_EPOCH";

/// Name of the hash map of infrastructure addresses (key [`IpKey`], value: a set of
/// [`infra`] bits): the resolvers, DHCP and NTP servers captive clients may use, and the
/// gateway's own LAN addresses.
pub const MAP_INFRA: &str = "NETAUTH_INFRA";
/// Capacity of the infrastructure map.
pub const MAX_INFRA: u32 = 1024;

/// Name of the hash map of extra gateway services captive clients may reach (key
/// [`GatewayPort`], value: u8 1), from `--gateway-allow`.
pub const MAP_GATEWAY_ALLOW: &str = "NETAUTH_GATEWAY_ALLOW";
/// Capacity of the gateway-allow map.
pub const MAX_GATEWAY_ALLOW: u32 = 64;

/// What an infrastructure address is for (bits of a [`MAP_INFRA`] value).
pub mod infra {
    /// A DNS resolver captive clients may query (UDP and TCP 53).
    pub const DNS: u32 = 1 << 0;
    /// A DHCP server (DHCPv4 UDP/67 or DHCPv6 UDP/547) besides the broadcast/multicast ones.
    pub const DHCP: u32 = 1 << 1;
    /// An NTP server (UDP/123).
    pub const NTP: u32 = 1 << 2;
    /// One of the gateway's own LAN addresses: the portal's ports, ICMP echo, IPv6
    /// neighbour discovery and the `--gateway-allow` services are reachable there.
    pub const GATEWAY: u32 = 1 << 3;
}

/// Bits of [`ClientUsage::flags`], set by the daemon when it creates the entry.
pub mod client_flags {
    /// The device is not held to its bound addresses (trusted devices, e.g. printers
    /// with static addresses).
    pub const EXEMPT_BINDING: u32 = 1 << 0;
}

/// Name of the (shared, not per-CPU) hash map of per-client rate limits and their state
/// (key [`MacKey`], value [`ClientRate`]). Only limited clients have an entry.
pub const MAP_RATES: &str = "NETAUTH_RATES";
/// Name of the one-element array (u32) that tells the programs about `NETAUTH_RATES`
/// without a hash lookup (~10 ns): bit 0 is set while the map holds any entry (on a
/// gateway without limits the programs skip the rate lookup), and the value changes
/// whenever a client gains an entry (see [`ClientUsage::rates_seen`]: an unlimited client
/// among limited ones skips it too). Written after an entry is added and after the last
/// one goes, by the map's single writer, which carries the upper bits (a counter) on
/// across restarts so a value is not reused.
pub const MAP_RATES_ANY: &str = "NETAUTH_RATES_ANY";
/// Bit 0 of [`MAP_RATES_ANY`]: some client is limited.
pub const RATES_ANY_BIT: u32 = 1;
/// How far ahead of now a download packet may be scheduled (earliest departure time)
/// before it is dropped instead: bounds the queue a limited client can build in `fq`
/// (fq's own default horizon is 10 s; 2 s is what Cilium's bandwidth manager uses).
pub const RATE_HORIZON_NS: u64 = 2_000_000_000;
/// Policing burst: a client may send this much time's worth of its rate at once (with
/// at least [`RATE_MIN_BURST_BYTES`]) before packets are dropped.
pub const RATE_BURST_NS: u64 = 500_000_000;
/// The smallest policing burst in bytes: four GSO/GRO aggregates of 64 KiB, so TCP at a
/// low rate still reaches it. With one aggregate (64 KiB) a 1 Mbit/s upload under iperf3
/// reached 89-91% of its limit once the first second was left out (TCP's losses against
/// the policer left the bucket full and idle); a policer's burst for TCP is usually sized
/// in seconds of its rate (Cisco's rule is 1.5 s), which this floor gives low rates.
pub const RATE_MIN_BURST_BYTES: u64 = 256 * 1024;

/// Bits of [`ClientRate::flags`].
pub mod rate_flags {
    /// Police the download limit (drop beyond the burst) instead of giving packets a
    /// departure time: the interface has no `fq` to honour it (a kernel without
    /// `CONFIG_NET_SCH_FQ`).
    pub const POLICE_DOWN: u64 = 1 << 0;
}

/// How long an address belongs to the MAC that last sent from it, in the eyes of the
/// address record: another MAC cannot take it over before this much quiet time.
pub const ADDR_OWNER_FRESH_NS: u64 = 60_000_000_000;
/// A SYN on a flow whose record is older than this starts a new record (a reused
/// 4-tuple after TIME_WAIT); a younger record seen from another MAC is poisoned.
pub const FLOW_REUSE_NS: u64 = 120_000_000_000;

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
    /// The port the TC program rewrites intercepted HTTP to (on the portal's address),
    /// host byte order.
    pub const INTERCEPT_PORT: &str = "NETAUTH_INTERCEPT_PORT";
    /// Non-zero when XDP is not attached, so the TC ingress program does the upload
    /// accounting (and the address-binding check) that XDP would otherwise do.
    pub const TC_COUNTS_INGRESS: &str = "NETAUTH_TC_COUNTS_INGRESS";
    /// The HTTPS (RFC 8908 API) port on the portal addresses, host byte order (0 = none).
    pub const API_PORT: &str = "NETAUTH_API_PORT";
    /// Non-zero: authorized devices may only send from addresses bound to them.
    pub const BIND_STRICT: &str = "NETAUTH_BIND_STRICT";
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

    /// The key whose eight bytes are `word`'s in memory order (`to_ne_bytes`): the form in
    /// which the kernel programs carry a MAC in a register (the last two bytes are zero).
    pub const fn from_word(word: u64) -> Self {
        let b = word.to_ne_bytes();
        Self {
            addr: [b[0], b[1], b[2], b[3], b[4], b[5]],
            _pad: [b[6], b[7]],
        }
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
    /// [`client_flags`], the same on every CPU; written only when the entry is created.
    pub flags: u32,
    /// The kernel's cache of the last IPv4 source address this CPU found bound to the
    /// client (so the binding map is consulted only when the source changes).
    pub bound_v4: [u8; 4],
    /// The same for IPv6.
    pub bound_v6: [u8; 16],
    /// The binding epoch ([`MAP_BIND_EPOCH`]) each cache was filled in: the daemon bumps
    /// it whenever it takes an address from a device, and older caches are not trusted.
    pub bound_epoch_v4: u32,
    pub bound_epoch_v6: u32,
    /// The kernel's cache of whether the client is rate-limited: the [`MAP_RATES_ANY`]
    /// value this CPU last looked the client up in [`MAP_RATES`] under, and whether it
    /// found an entry then. An unlimited client on a gateway that limits others skips the
    /// rate lookup until the value changes (it changes whenever a client gains an entry).
    pub rates_seen: u32,
    pub rate_limited: u32,
}

/// A client's rate limits and the datapath's state for them ([`MAP_RATES`] value).
/// The daemon writes the limits (and zeroes the state); the kernel programs update the
/// `*_next_ns` times with atomic instructions, from every CPU at once.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ClientRate {
    /// Download (LAN egress) limit in bit/s; 0: none.
    pub down_bps: u64,
    /// Upload (LAN ingress) limit in bit/s; 0: none.
    pub up_bps: u64,
    /// Download burst tolerance in ns of the download rate (when policed).
    pub down_burst_ns: u64,
    /// Upload burst tolerance in ns of the upload rate.
    pub up_burst_ns: u64,
    /// [`rate_flags`].
    pub flags: u64,
    /// Earliest departure time (CLOCK_MONOTONIC ns) of the client's next download byte.
    pub down_next_ns: u64,
    /// Theoretical arrival time (CLOCK_MONOTONIC ns) of the next upload byte (GCRA).
    pub up_next_ns: u64,
    /// Download packets dropped because their departure was beyond the horizon.
    pub down_dropped: u64,
    /// Upload packets dropped by the policer.
    pub up_dropped: u64,
}

impl ClientRate {
    /// Limits with fresh state; 0 means "no limit" in that direction. `police_down`: see
    /// [`rate_flags::POLICE_DOWN`].
    pub fn new(down_bps: u64, up_bps: u64, police_down: bool) -> Self {
        let burst = |bps: u64| {
            let for_min = (RATE_MIN_BURST_BYTES * 8)
                .saturating_mul(1_000_000_000)
                .checked_div(bps)
                .unwrap_or(0);
            RATE_BURST_NS.max(for_min)
        };
        Self {
            down_bps,
            up_bps,
            down_burst_ns: burst(down_bps),
            up_burst_ns: burst(up_bps),
            flags: if police_down {
                rate_flags::POLICE_DOWN
            } else {
                0
            },
            ..Self::default()
        }
    }
}

/// An IP address as a map key: IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`), so one map
/// serves both families. Aligned to 4 bytes (the size is the same), so the datapath fills
/// it a 32-bit word at a time: byte-wise, the BPF backend calls a byte loop (`memset`,
/// `memcpy`) for what takes four stores.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct IpKey {
    pub addr: [u8; 16],
}

/// Who sent from an address ([`MAP_CLIENT_ADDRS`] value): the MAC and when it was last
/// seen doing so (CLOCK_MONOTONIC ns, coarse).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct AddrOwner {
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
    pub seen_ns: u64,
}

/// A TCP flow as the client sent it: its address and port, the destination it asked for.
/// Addresses in [`IpKey`] form (IPv4-mapped for IPv4), aligned as [`IpKey`] is.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct FlowKey {
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Host byte order.
    pub sport: u16,
    pub dport: u16,
}

/// One end of a TCP connection ([`MAP_INTERCEPTS`] key and value): an address in
/// [`IpKey`] form and a port in host byte order, aligned as [`IpKey`] is.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Endpoint {
    pub addr: [u8; 16],
    pub port: u16,
    pub _pad: [u8; 2],
}

/// The MAC that sent a flow's packets ([`MAP_FLOWS`] value). `conflict` is set once
/// packets of the same flow came from two MACs: then nobody is trusted with it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FlowOwner {
    pub mac: [u8; 6],
    pub conflict: u8,
    pub _pad: u8,
    /// When the record was created (CLOCK_MONOTONIC ns, coarse).
    pub first_ns: u64,
}

/// A service on the gateway's own addresses ([`MAP_GATEWAY_ALLOW`] key).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct GatewayPort {
    /// IPPROTO_TCP (6) or IPPROTO_UDP (17).
    pub proto: u8,
    pub _pad: u8,
    /// Host byte order.
    pub port: u16,
}

impl IpKey {
    pub const fn from_v4(octets: [u8; 4]) -> Self {
        // Four 32-bit words: written as a byte array, the ten zero bytes became a call
        // to the BPF backend's byte-loop `memset` on every IPv4 packet the datapath
        // keyed by address.
        let words = [
            0u32,
            0,
            u32::from_ne_bytes([0, 0, 0xff, 0xff]),
            u32::from_ne_bytes(octets),
        ];
        // SAFETY: [u32; 4] and [u8; 16] have the same size, and every bit pattern is a
        // valid [u8; 16].
        Self {
            addr: unsafe { core::mem::transmute::<[u32; 4], [u8; 16]>(words) },
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
    /// Unauthenticated TCP/80 packets steered to the portal (their destination rewritten
    /// to the portal's intercept port).
    pub const TC_STEERED: u32 = 5;
    /// Steering failed (no portal address of the packet's family, a fragment, a helper
    /// error): dropped, fail closed.
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
    /// Packets from an authorized MAC with a source address bound to another device or
    /// never acquired by it (`--bind-addresses`): dropped.
    pub const DROP_UNBOUND_SOURCE: u32 = 12;
    /// Portal flows whose packets came from more than one MAC (a spoofing attempt):
    /// nobody may log in on them.
    pub const FLOW_CONFLICT: u32 = 13;
    /// Packets that tried to take over an address another MAC used within the last
    /// minute (the address record was kept).
    pub const ADDR_CONFLICT: u32 = 14;
    /// Addresses bound to an authorized device by the datapath (ARP, ND, or seen before
    /// login).
    pub const BINDING_LEARNED: u32 = 15;
    /// Packets from a captive client with a source address another device holds (bound
    /// to a signed-in device, or used by another MAC within the last minute): dropped,
    /// so a spoofer can neither reach anything nor poison the portal's records.
    pub const DROP_SPOOFED_SOURCE: u32 = 16;
    /// Number of counters in use.
    pub const COUNT: u32 = 17;
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
        "drop_unbound_source",
        "flow_conflict",
        "addr_conflict",
        "binding_learned",
        "drop_spoofed_source",
    ];
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: the types are `#[repr(C)]` and `bytemuck::Pod` (no padding, any bit pattern valid).
    unsafe impl aya::Pod for super::MacKey {}
    unsafe impl aya::Pod for super::ClientUsage {}
    unsafe impl aya::Pod for super::IpKey {}
    unsafe impl aya::Pod for super::AddrOwner {}
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowOwner {}
    unsafe impl aya::Pod for super::Endpoint {}
    unsafe impl aya::Pod for super::GatewayPort {}
    unsafe impl aya::Pod for super::ClientRate {}
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::{IpKey, MacKey};

    #[test]
    fn an_ipv4_key_is_the_ipv4_mapped_address_byte_for_byte() {
        for v4 in [
            [192, 0, 2, 1],
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 1, 2, 3],
        ] {
            let mapped = std::net::Ipv4Addr::from(v4).to_ipv6_mapped().octets();
            assert_eq!(IpKey::from_v4(v4).addr, mapped, "{v4:?}");
        }
    }

    #[test]
    fn a_mac_key_from_its_word_is_the_key_of_its_six_bytes() {
        for mac in [
            [0x02, 0, 0, 0, 0, 0x01],
            [0xff; 6],
            [0; 6],
            [1, 2, 3, 4, 5, 6],
        ] {
            let word = u64::from_ne_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]);
            assert_eq!(MacKey::from_word(word), MacKey::new(mac), "{mac:?}");
            assert_eq!(
                bytemuck::bytes_of(&MacKey::from_word(word)),
                &word.to_ne_bytes()
            );
        }
        // Not the key of any other address.
        assert_ne!(
            MacKey::from_word(u64::from_ne_bytes([1, 2, 3, 4, 5, 6, 0, 0])),
            MacKey::new([6, 5, 4, 3, 2, 1])
        );
    }
}
