//! Packet parsing shared by the XDP and TC programs: Ethernet (with at most one 802.1Q /
//! 802.1ad tag), then IPv4 or IPv6 (walking the usual extension headers), then the L4 ports.
//!
//! Parsing only reads, with a bounds check before every access, so the verifier accepts it
//! and a short or malformed frame yields `None` instead of a wrong answer.

use core::mem::size_of;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;

#[inline(always)]
fn load<T: Copy>(data: usize, data_end: usize, off: usize) -> Option<T> {
    if data + off + size_of::<T>() > data_end {
        return None;
    }
    // SAFETY: bounds checked just above; packet memory has no alignment guarantee.
    Some(unsafe { core::ptr::read_unaligned((data + off) as *const T) })
}

#[inline(always)]
fn load_be16(data: usize, data_end: usize, off: usize) -> Option<u16> {
    load::<[u8; 2]>(data, data_end, off).map(u16::from_be_bytes)
}

/// The link layer: who sent the frame and what it carries.
#[derive(Clone, Copy)]
pub struct Link {
    pub src_mac: [u8; 6],
    pub ethertype: u16,
    /// Offset of the L3 header.
    pub l3: usize,
}

#[inline(always)]
pub fn parse_link(data: usize, data_end: usize) -> Option<Link> {
    let src_mac: [u8; 6] = load(data, data_end, 6)?;
    let mut ethertype = load_be16(data, data_end, 12)?;
    let mut l3 = ETH_HLEN;
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        ethertype = load_be16(data, data_end, ETH_HLEN + 2)?;
        l3 += VLAN_HLEN;
    }
    Some(Link {
        src_mac,
        ethertype,
        l3,
    })
}

/// Addresses of an IP packet, both families in one 16-byte form (IPv4 sits in the first 4
/// bytes, the rest zero; `v6` tells which).
#[derive(Clone, Copy)]
pub struct Ip {
    pub v6: bool,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// L4 protocol, or `None` when the L4 header is not in this packet (a non-first
    /// fragment, or too many IPv6 extension headers to walk).
    pub proto: Option<u8>,
    /// Offset of the L4 header.
    pub l4: usize,
}

#[inline(always)]
pub fn parse_ipv4(data: usize, data_end: usize, l3: usize) -> Option<Ip> {
    let hdr: [u8; 20] = load(data, data_end, l3)?;
    if hdr[0] >> 4 != 4 {
        return None;
    }
    let ihl = (hdr[0] & 0x0f) as usize;
    if ihl < 5 {
        return None;
    }
    let frag_off = u16::from_be_bytes([hdr[6], hdr[7]]) & 0x1fff;
    let mut saddr = [0u8; 16];
    let mut daddr = [0u8; 16];
    saddr[..4].copy_from_slice(&hdr[12..16]);
    daddr[..4].copy_from_slice(&hdr[16..20]);
    Some(Ip {
        v6: false,
        saddr,
        daddr,
        proto: if frag_off == 0 { Some(hdr[9]) } else { None },
        l4: l3 + ihl * 4,
    })
}

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
const MAX_EXT_HEADERS: usize = 4;

#[inline(always)]
pub fn parse_ipv6(data: usize, data_end: usize, l3: usize) -> Option<Ip> {
    let hdr: [u8; 40] = load(data, data_end, l3)?;
    if hdr[0] >> 4 != 6 {
        return None;
    }
    let mut saddr = [0u8; 16];
    let mut daddr = [0u8; 16];
    saddr.copy_from_slice(&hdr[8..24]);
    daddr.copy_from_slice(&hdr[24..40]);
    let mut next = hdr[6];
    let mut off = l3 + 40;
    let mut proto = None;
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let ext: [u8; 2] = load(data, data_end, off)?;
                next = ext[0];
                off += (ext[1] as usize + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let ext: [u8; 4] = load(data, data_end, off)?;
                let frag_off = u16::from_be_bytes([ext[2], ext[3]]) >> 3;
                if frag_off != 0 {
                    break; // no L4 header in a non-first fragment
                }
                next = ext[0];
                off += 8;
            }
            other => {
                proto = Some(other);
                break;
            }
        }
    }
    Some(Ip {
        v6: true,
        saddr,
        daddr,
        proto,
        l4: off,
    })
}

/// Source and destination port of a TCP or UDP header (host byte order).
#[inline(always)]
pub fn parse_ports(data: usize, data_end: usize, l4: usize) -> Option<(u16, u16)> {
    let ports: [u8; 4] = load(data, data_end, l4)?;
    Some((
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    ))
}

/// The ICMPv6 type byte.
#[inline(always)]
pub fn icmpv6_type(data: usize, data_end: usize, l4: usize) -> Option<u8> {
    // Load the whole 4-byte fixed header: a 1-byte bounds check at a variable offset
    // compiles to `ptr >= end`, which the verifier does not accept as a range proof.
    load::<[u8; 4]>(data, data_end, l4).map(|h| h[0])
}

/// Length of a TCP header (data offset * 4).
#[inline(always)]
pub fn tcp_header_len(data: usize, data_end: usize, l4: usize) -> Option<usize> {
    let h: [u8; 14] = load(data, data_end, l4)?;
    Some(((h[12] >> 4) as usize) * 4)
}

/// First byte of an IPv6 destination address (0xff: multicast).
#[inline(always)]
pub fn ipv6_dst_first_byte(data: usize, data_end: usize, l3: usize) -> Option<u8> {
    load::<[u8; 2]>(data, data_end, l3 + 24).map(|b| b[0])
}

pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The TCP flags byte.
#[inline(always)]
pub fn tcp_flags(data: usize, data_end: usize, l4: usize) -> Option<u8> {
    load::<[u8; 14]>(data, data_end, l4).map(|h| h[13])
}
