//! The `netauth` command: `run` starts the daemon; the other verbs talk to it over the
//! admin socket.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use netauth::{
    admin::AdminClient,
    config::{DEFAULT_ADMIN_SOCKET, RunArgs, parse_duration},
    mac::Mac,
    portal::pages::human,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "netauth",
    version,
    about = "eBPF/XDP captive portal for Linux gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Authorize a MAC address without a login.
    Allow {
        mac: Mac,
        /// Session length [default: the daemon's --session-timeout].
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<Duration>,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// End a MAC address's session: the client is captive again.
    Revoke {
        mac: Mac,
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
}

#[derive(clap::Args)]
struct SocketArg {
    /// The daemon's admin socket.
    #[arg(long, default_value = DEFAULT_ADMIN_SOCKET)]
    admin_socket: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NETAUTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netauth: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netauth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => netauth::daemon::run(*args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Sessions { json, socket } => {
            let (status, body) = client(socket).call("GET", "/v1/sessions", None).await?;
            if status != 200 {
                return Ok(fail(status, &body));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_sessions(&body);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Allow {
            mac,
            duration,
            socket,
        } => {
            let mut req = json!({ "mac": mac });
            if let Some(d) = duration {
                req["duration"] = json!(format!("{}s", d.as_secs()));
            }
            let (status, body) = client(socket)
                .call("POST", "/v1/sessions", Some(req))
                .await?;
            if status != 201 {
                return Ok(fail(status, &body));
            }
            let granted = duration.map(|d| d.as_secs()).unwrap_or_else(|| {
                body["expires"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(body["started"].as_u64().unwrap_or(0))
            });
            println!("{mac} authorized for {}", human(granted));
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { mac, socket } => {
            let (status, body) = client(socket)
                .call("DELETE", &format!("/v1/sessions/{mac}"), None)
                .await?;
            if status != 200 {
                return Ok(fail(status, &body));
            }
            println!("{mac} revoked");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json, socket } => {
            let (status, body) = client(socket).call("GET", "/v1/status", None).await?;
            if status != 200 {
                return Ok(fail(status, &body));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                for key in [
                    "lan",
                    "xdp_mode",
                    "portal_ipv4",
                    "portal_ipv6",
                    "portal_port",
                    "sessions",
                ] {
                    println!("{key:<14} {}", plain(&body[key]));
                }
                if let Some(c) = body["counters"].as_object() {
                    for (k, v) in c {
                        println!("{k:<26} {v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn client(socket: SocketArg) -> AdminClient {
    AdminClient {
        socket: socket.admin_socket,
    }
}

/// Reports an API error; 4xx answers mean bad input (exit 2), others exit 1.
fn fail(status: u16, body: &Value) -> ExitCode {
    let msg = body["error"].as_str().unwrap_or("unexpected answer");
    eprintln!("netauth: {msg}");
    if (400..500).contains(&status) && status != 404 {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_sessions(body: &Value) {
    let empty = vec![];
    let sessions = body["sessions"].as_array().unwrap_or(&empty);
    if sessions.is_empty() {
        println!("no sessions");
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!(
        "{:<17}  {:<39}  {:<13}  {:>12}",
        "MAC", "IP", "VIA", "TIME LEFT"
    );
    for s in sessions {
        let left = s["expires"].as_u64().unwrap_or(0).saturating_sub(now);
        println!(
            "{:<17}  {:<39}  {:<13}  {:>12}",
            plain(&s["mac"]),
            plain(&s["ip"]),
            plain(&s["via"]),
            human(left)
        );
    }
}
