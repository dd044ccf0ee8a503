//! The `netauth` command line: the clap definitions, and which function runs each verb.
//! `run` starts the daemon ([`crate::daemon`]); the other verbs talk to a running daemon
//! through the typed admin client ([`AdminClient`]), or edit files (`user`, `cert`).
//!
//! Each verb is one function in the file of its topic. A verb ends in a [`Failure`] when it
//! did not succeed; the exit status and the message are decided here, in one place: bad
//! input (refused before anything is sent, or a 4xx answer) exits 2, anything else 1.

mod bulk;
mod control;
mod generate;
mod provision;
mod sessions;
mod users;
mod vouchers;
mod walled;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use netauth_common::api::{AdminClient, ClientError};
use serde::Serialize;

use crate::config::{DEFAULT_ADMIN_SOCKET, RunArgs};

pub use self::{
    provision::DhcpConfigArgs, sessions::AllowArgs, users::UserAction, vouchers::VoucherAction,
    walled::WalledAction,
};

#[derive(Parser)]
#[command(
    name = "netauth",
    version,
    about = "eBPF/XDP captive portal for Linux gateways"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Make a LAN interface captive and serve the portal (as root).
    Run(Box<RunArgs>),
    /// List the sessions of the running daemon.
    Sessions {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Authorize a MAC address without a login (or renew its session); many at once
    /// with --from FILE.
    Allow {
        #[command(flatten)]
        args: AllowArgs,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Give a session more time.
    Extend {
        mac: crate::model::Mac,
        /// How much later the session ends.
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::config::parse_duration)]
        duration: std::time::Duration,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Stop the daemon. Its programs stay attached (clients keep their state) unless
    /// --detach is given, which takes netauth off the interface entirely.
    Stop {
        /// Remove programs, maps and routing: the LAN is no longer gated.
        #[arg(long)]
        detach: bool,
        /// The daemon's options (--admin-socket, --config) so stop finds the daemon; with
        /// no daemon running, --detach also needs --lan (and --bpffs, ... if not default)
        /// to find what to remove.
        #[command(flatten)]
        run: Box<RunArgs>,
    },
    /// Change the rate limits of a running session (it is not ended).
    Limit {
        #[command(flatten)]
        args: sessions::LimitArgs,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// End a MAC address's session: the client is captive again.
    Revoke {
        mac: crate::model::Mac,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Make a self-signed certificate and key for the HTTPS listener (for labs; use a real
    /// certificate in production so phones trust the portal).
    Cert {
        /// The portal's DNS name (also give it to `run` as --api-hostname).
        #[arg(long)]
        hostname: String,
        /// Addresses to include in the certificate too.
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        /// Where to write NAME.crt and NAME.key.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Print the DHCP or RA server configuration that announces the Captive Portal API
    /// (RFC 8910), or that the network has none.
    DhcpConfig(DhcpConfigArgs),
    /// Create, list and revoke vouchers (for --auth-method voucher).
    Voucher {
        #[command(subcommand)]
        action: VoucherAction,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Manage the users file of --auth-method local (passwords are read from the
    /// terminal or standard input, never from the command line).
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The users file [default: the daemon's: users-file, else STATE_DIR/users].
        #[arg(long, global = true, value_name = "PATH")]
        users_file: Option<PathBuf>,
        /// The daemon's state directory [default: /var/lib/netauth].
        #[arg(long, global = true, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// The daemon's config file, for its users-file and state-dir.
        #[arg(long, global = true, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Manage the accounts of the admin web console (--admin-web): separate from the
    /// portal's users; passwords are read from the terminal or standard input.
    AdminUser {
        #[command(subcommand)]
        action: UserAction,
        /// The accounts file [default: the daemon's: admin-users-file, else
        /// STATE_DIR/admin-users].
        #[arg(long, global = true, value_name = "PATH")]
        admin_users_file: Option<PathBuf>,
        /// The daemon's state directory [default: /var/lib/netauth].
        #[arg(long, global = true, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// The daemon's config file, for its admin-users-file and state-dir.
        #[arg(long, global = true, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// List, add or remove walled-garden entries (destinations captive clients may reach).
    WalledGarden {
        #[command(subcommand)]
        action: WalledAction,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Show what the running daemon is doing.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Write netauth's man pages or shell completions (for packagers).
    Generate {
        #[command(subcommand)]
        what: generate::What,
    },
}

#[derive(clap::Args)]
pub struct SocketArg {
    /// The daemon's admin socket.
    #[arg(long, global = true, default_value = DEFAULT_ADMIN_SOCKET)]
    admin_socket: PathBuf,
}

impl SocketArg {
    fn client(&self) -> AdminClient {
        AdminClient::new(&self.admin_socket)
    }
}

/// Why a verb did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The input was refused, by the CLI before sending anything or by the daemon (a
    /// 4xx answer other than 404): exit 2.
    BadInput(String),
    /// Anything else (no daemon, nothing to act on, a file that cannot be read): exit 1.
    Failed(anyhow::Error),
}

impl Failure {
    fn failed(message: impl std::fmt::Display) -> Self {
        Failure::Failed(anyhow::anyhow!("{message}"))
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api { status, message }
                if (400..500).contains(&status) && status != 404 =>
            {
                Failure::BadInput(message)
            }
            // Its own message says it all (its source is already part of it).
            other => Failure::failed(other),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Failed(e.into())
    }
}

/// What a verb returns.
pub type Outcome = Result<(), Failure>;

/// Runs one command line to its exit status.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(message)) => {
            eprintln!("netauth: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("netauth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Outcome {
    match command {
        Command::Run(args) => Ok(crate::daemon::run(*args).await?),
        Command::Sessions { json, socket } => sessions::list(&socket.client(), json).await,
        Command::Allow { args, socket } => sessions::allow(&socket.client(), args).await,
        Command::Extend {
            mac,
            duration,
            socket,
        } => sessions::extend(&socket.client(), mac, duration).await,
        Command::Revoke { mac, socket } => sessions::revoke(&socket.client(), mac).await,
        Command::Limit { args, socket } => sessions::limit(&socket.client(), args).await,
        Command::Stop { detach, run } => control::stop(*run, detach).await,
        Command::Status { json, socket } => control::status(&socket.client(), json).await,
        Command::Cert {
            hostname,
            ips,
            out_dir,
        } => provision::cert(&hostname, &ips, &out_dir),
        Command::DhcpConfig(args) => provision::dhcp_config(args),
        Command::Voucher { action, socket } => vouchers::run(&socket.client(), action).await,
        Command::User {
            action,
            users_file,
            state_dir,
            config,
        } => {
            let daemon = RunArgs {
                users_file,
                state_dir,
                config,
                ..RunArgs::default()
            };
            users::run(&daemon, action)
        }
        Command::AdminUser {
            action,
            admin_users_file,
            state_dir,
            config,
        } => {
            let daemon = RunArgs {
                admin_users_file,
                state_dir,
                config,
                ..RunArgs::default()
            };
            users::run_admin(&daemon, action)
        }
        Command::WalledGarden { action, socket } => walled::run(&socket.client(), action).await,
        Command::Generate { what } => generate::run(what),
    }
}

/// Machine-readable output: pretty JSON with its keys in alphabetical order, as the
/// `--json` output of every verb has always been.
fn print_json(v: &impl Serialize) -> Outcome {
    let v = serde_json::to_value(v).map_err(anyhow::Error::from)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&v).map_err(anyhow::Error::from)?
    );
    Ok(())
}
