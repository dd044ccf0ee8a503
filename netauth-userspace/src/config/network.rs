//! Network options: where the portal listens on the LAN, how the datapath attaches and
//! marks packets, and whether devices are held to their addresses. (The LAN interface
//! itself is a field of [`RunArgs`](super::RunArgs).)
//! Each default is a constant here, shown by `--help` and applied by
//! [`Settings::resolve`](super::Settings::resolve).

use std::net::IpAddr;

use anyhow::bail;
use clap::Args;
use serde::Deserialize;

use super::{
    parse::{de_u32, parse_u32},
    value_name, with_default,
};

pub const DEFAULT_PORTAL_PORT: u16 = 8080;
pub const DEFAULT_INTERCEPT_PORT: u16 = 8081;
pub const DEFAULT_XDP_MODE: XdpMode = XdpMode::Auto;
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf/netauth";
pub const DEFAULT_FWMARK: u32 = 0x0a17_0000;
pub const DEFAULT_FWMARK_MASK: u32 = 0xffff_0000;
pub const DEFAULT_ROUTE_TABLE: u32 = 7327;
pub const DEFAULT_RULE_PRIORITY: u32 = 1000;
pub const DEFAULT_BIND_ADDRESSES: bool = true;

pub use crate::datapath::XdpMode;

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Network")]
#[serde(default, rename_all = "kebab-case")]
pub struct NetworkArgs {
    #[arg(
        long = "portal-ip",
        value_name = "IP",
        help = with_default(
            "Address(es) of the portal on the LAN, at most one IPv4 and one IPv6",
            "the LAN interface's first IPv4 and first global IPv6 address",
        )
    )]
    pub portal_ip: Vec<IpAddr>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u16).range(1..),
        help = with_default(
            "TCP port of the portal's HTTP listener",
            DEFAULT_PORTAL_PORT,
        )
    )]
    pub portal_port: Option<u16>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u16).range(1..),
        help = with_default(
            "TCP port on the portal's address that captive clients' plain HTTP is rewritten \
             to (the portal answers it with 511; captive clients cannot connect to it \
             themselves)",
            DEFAULT_INTERCEPT_PORT,
        )
    )]
    pub intercept_port: Option<u16>,

    #[arg(
        long,
        value_enum,
        help = with_default("XDP attach mode", value_name(DEFAULT_XDP_MODE))
    )]
    pub xdp_mode: Option<XdpMode>,

    #[arg(
        long,
        help = with_default(
            "bpffs directory for pinned maps and links, one subdirectory per LAN interface",
            DEFAULT_BPFFS,
        )
    )]
    pub bpffs: Option<std::path::PathBuf>,

    #[arg(
        long,
        value_parser = parse_u32,
        help = with_default(
            "fwmark of the policy-routing rule older netauth versions installed (removed at \
             start; netauth no longer routes by mark)",
            format_args!("{DEFAULT_FWMARK:#010x}"),
        )
    )]
    #[serde(deserialize_with = "de_u32")]
    pub fwmark: Option<u32>,

    #[arg(
        long,
        value_parser = parse_u32,
        help = with_default(
            "Mask of that rule's fwmark",
            format_args!("{DEFAULT_FWMARK_MASK:#010x}"),
        )
    )]
    #[serde(deserialize_with = "de_u32")]
    pub fwmark_mask: Option<u32>,

    #[arg(
        long,
        value_parser = clap::value_parser!(u32).range(1..0xffff_fff0),
        help = with_default(
            "Routing table of that rule's local-delivery route",
            DEFAULT_ROUTE_TABLE,
        )
    )]
    pub route_table: Option<u32>,

    #[arg(
        long,
        help = with_default("Priority of that rule", DEFAULT_RULE_PRIORITY)
    )]
    pub rule_priority: Option<u32>,

    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        help = with_default(
            "Hold each signed-in device to the addresses it acquired (the one it signed in \
             from, addresses it used before, and those it announces with ARP or IPv6 \
             neighbour discovery); packets from any other source address are dropped. Turn \
             off for devices that change static addresses while signed in",
            DEFAULT_BIND_ADDRESSES,
        )
    )]
    pub bind_addresses: Option<bool>,
}

super::merge_fields!(NetworkArgs {
    portal_ip,
    portal_port,
    intercept_port,
    xdp_mode,
    bpffs,
    fwmark,
    fwmark_mask,
    route_table,
    rule_priority,
    bind_addresses,
});

impl NetworkArgs {
    pub(super) fn portal_ip(&self) -> anyhow::Result<Vec<IpAddr>> {
        let v4 = self.portal_ip.iter().filter(|a| a.is_ipv4()).count();
        if v4 > 1 || self.portal_ip.len() - v4 > 1 {
            bail!("give at most one IPv4 and one IPv6 portal-ip");
        }
        Ok(self.portal_ip.clone())
    }

    /// fwmark and mask: the mark must be non-zero and inside the mask.
    pub(super) fn fwmark(&self) -> anyhow::Result<(u32, u32)> {
        let mark = self.fwmark.unwrap_or(DEFAULT_FWMARK);
        let mask = self.fwmark_mask.unwrap_or(DEFAULT_FWMARK_MASK);
        if mask == 0 {
            bail!("fwmark-mask must not be 0");
        }
        if mark & !mask != 0 || mark == 0 {
            bail!("fwmark {mark:#x} must be non-zero and inside fwmark-mask {mask:#x}");
        }
        Ok((mark, mask))
    }
}
