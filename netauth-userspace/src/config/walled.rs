//! What captive clients may reach before they log in: the walled garden, and the
//! infrastructure they need to get that far (DNS, DHCP, NTP, chosen gateway services).
//! Everything else they send is dropped.

use std::net::IpAddr;

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;

use super::{parse::parse_gateway_service, with_default};
use crate::walled::Entry;

/// The default of the DNS, DHCP and NTP server lists, which the daemon resolves.
const OWN_ADDRESSES: &str = "the LAN interface's own addresses";

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Walled garden (before login)")]
#[serde(default, rename_all = "kebab-case")]
pub struct WalledArgs {
    #[arg(
        long = "walled-garden",
        value_name = "ENTRY",
        help = "A destination captive clients may reach: an address, a prefix \
                (198.51.100.0/24, 2001:db8::/48) or a host name (resolved, and kept current by \
                its DNS TTL). Repeat for more; the admin API adds and removes entries at run \
                time"
    )]
    pub walled_garden: Vec<String>,

    #[arg(
        long = "dns-server",
        value_name = "IP",
        help = with_default(
            "A DNS resolver captive clients may query (UDP and TCP 53); repeat for more. DNS \
             to any other address is dropped, so nothing tunnels over port 53",
            OWN_ADDRESSES,
        )
    )]
    pub dns_server: Vec<IpAddr>,

    #[arg(
        long = "dhcp-server",
        value_name = "IP",
        help = with_default(
            "A DHCP (v4 or v6) server captive clients may send to besides the broadcast and \
             All_DHCP_Relay_Agents_and_Servers addresses; repeat for more",
            OWN_ADDRESSES,
        )
    )]
    pub dhcp_server: Vec<IpAddr>,

    #[arg(
        long = "ntp-server",
        value_name = "IP",
        help = with_default(
            "An NTP server captive clients may reach (UDP/123; they need the time to check \
             the portal's certificate); repeat for more",
            OWN_ADDRESSES,
        )
    )]
    pub ntp_server: Vec<IpAddr>,

    #[arg(
        long = "gateway-allow",
        value_name = "PROTO/PORT",
        help = "A service on the gateway's LAN addresses that captive clients may reach \
                besides the portal, DNS, DHCP, NTP and ping, as PROTO/PORT (tcp/22, udp/161); \
                repeat for more"
    )]
    pub gateway_allow: Vec<String>,
}

super::merge_fields!(WalledArgs {
    walled_garden,
    dns_server,
    dhcp_server,
    ntp_server,
    gateway_allow,
});

/// A server list, or `None` for the gateway's own LAN addresses.
fn or_own(list: &[IpAddr]) -> Option<Vec<IpAddr>> {
    (!list.is_empty()).then(|| list.to_vec())
}

impl WalledArgs {
    pub(super) fn garden(&self) -> anyhow::Result<Vec<Entry>> {
        self.walled_garden
            .iter()
            .map(|e| Entry::parse(e).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("walled-garden")
    }

    pub(super) fn dns_servers(&self) -> Option<Vec<IpAddr>> {
        or_own(&self.dns_server)
    }

    pub(super) fn dhcp_servers(&self) -> Option<Vec<IpAddr>> {
        or_own(&self.dhcp_server)
    }

    pub(super) fn ntp_servers(&self) -> Option<Vec<IpAddr>> {
        or_own(&self.ntp_server)
    }

    /// Extra gateway services as (IP protocol, port).
    pub(super) fn gateway_services(&self) -> anyhow::Result<Vec<(u8, u16)>> {
        self.gateway_allow
            .iter()
            .map(|e| parse_gateway_service(e).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("gateway-allow")
    }
}
