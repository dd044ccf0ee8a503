//! Dynamic Authorization (RFC 5176) options: who may send CoA and Disconnect requests,
//! where netauth listens for them, and the secret they are signed with.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::bail;
use clap::Args;
use serde::Deserialize;

use super::with_default;

pub const DEFAULT_DAS_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 3799);

#[derive(Args, Clone, Debug, Default, Deserialize)]
#[command(next_help_heading = "Dynamic Authorization (CoA/Disconnect)")]
#[serde(default, rename_all = "kebab-case")]
pub struct DasArgs {
    #[arg(
        long = "das-client",
        value_name = "IP",
        help = "A RADIUS Dynamic Authorization client (RFC 5176) allowed to send CoA and \
                Disconnect requests; repeat for more. Enables the listener"
    )]
    pub das_client: Vec<IpAddr>,

    #[arg(
        long,
        value_name = "ADDR",
        help = with_default("Address of the CoA/Disconnect listener", DEFAULT_DAS_LISTEN)
    )]
    pub das_listen: Option<SocketAddr>,

    #[arg(
        long,
        value_name = "PATH",
        help = with_default(
            "File with the secret shared with the DAS clients",
            "--radius-secret-file",
        )
    )]
    pub das_secret_file: Option<PathBuf>,
}

super::merge_fields!(DasArgs {
    das_client,
    das_listen,
    das_secret_file,
});

impl DasArgs {
    /// The listener (address, clients, secret file) if any client is given; the secret
    /// defaults to the RADIUS one.
    pub(super) fn resolve(
        &self,
        radius_secret_file: Option<&Path>,
    ) -> anyhow::Result<Option<(SocketAddr, Vec<IpAddr>, PathBuf)>> {
        if self.das_client.is_empty() {
            return Ok(None);
        }
        let Some(secret) = self
            .das_secret_file
            .as_deref()
            .or(radius_secret_file)
            .map(Path::to_path_buf)
        else {
            bail!("das-client needs das-secret-file (or radius-secret-file)");
        };
        Ok(Some((
            self.das_listen.unwrap_or(DEFAULT_DAS_LISTEN),
            self.das_client.clone(),
            secret,
        )))
    }
}
