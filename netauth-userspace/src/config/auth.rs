//! Authentication options: how users log in, and the devices that never have to.
//! (The users file of `--auth-method local` is found with the state directory: see
//! [`RunArgs::users_file`](super::RunArgs::users_file).)

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;

use super::{value_name, with_default};
use crate::model::Mac;

/// How users log in (`--auth-method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Accept the terms, nothing else.
    ClickThrough,
    /// User name and password from the users file (argon2id hashes).
    Local,
    /// A voucher code from `netauth voucher create`.
    Voucher,
    /// User name and password checked by RADIUS servers (PAP).
    Radius,
}

pub const DEFAULT_AUTH_METHOD: Method = Method::ClickThrough;

/// What a login from a new device address does when its credential has no device slot
/// left (`--on-new-mac`). Vouchers have a device limit (`--devices`), and RADIUS accounts
/// whose Access-Accept carries Port-Limit; local accounts have none.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OnNewMac {
    /// The new address continues one of the credential's sessions (its remaining time
    /// and data); the old address's session ends ("moved").
    #[default]
    Transfer,
    /// The login is refused, as for any voucher without a device slot.
    Refuse,
}

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Authentication")]
#[serde(default, rename_all = "kebab-case")]
pub struct AuthArgs {
    #[arg(
        long,
        value_enum,
        help = with_default("How users log in", value_name(DEFAULT_AUTH_METHOD))
    )]
    pub auth_method: Option<Method>,

    #[arg(
        long,
        value_enum,
        help = with_default(
            "A voucher or RADIUS account (Port-Limit) signed in again from a new device \
             address (a phone's randomised MAC) when its device limit is reached: transfer \
             its session there, or refuse",
            value_name(OnNewMac::default())
        )
    )]
    pub on_new_mac: Option<OnNewMac>,

    #[arg(
        long = "trusted-mac",
        value_name = "MAC",
        help = "A device that is always online, without logging in (printers, point-of-sale); \
                repeat for more"
    )]
    pub trusted_mac: Vec<String>,
}

super::merge_fields!(AuthArgs {
    auth_method,
    on_new_mac,
    trusted_mac,
});

impl AuthArgs {
    pub(super) fn trusted_macs(&self) -> anyhow::Result<Vec<Mac>> {
        self.trusted_mac
            .iter()
            .map(|m| m.parse::<Mac>())
            .collect::<Result<Vec<_>, _>>()
            .context("trusted-mac")
    }
}
