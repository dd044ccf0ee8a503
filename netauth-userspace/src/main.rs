//! The `netauth` command: `run` starts the daemon; the other verbs talk to it over the
//! admin socket.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use netauth::{
    admin::AdminClient,
    config::{DEFAULT_ADMIN_SOCKET, RunArgs, parse_bytes, parse_duration},
    mac::Mac,
    portal::pages::{human, human_bytes},
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
    /// Authorize a MAC address without a login (or renew its session).
    Allow {
        mac: Mac,
        /// Session length [default: the daemon's --session-timeout].
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Idle timeout for this session [default: the daemon's --idle-timeout].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        idle: Option<Duration>,
        /// Data allowance, up and down together (e.g. 500M, 2G).
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        quota: Option<u64>,
        /// Upload allowance.
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        quota_up: Option<u64>,
        /// Download allowance.
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        quota_down: Option<u64>,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Give a session more time.
    Extend {
        mac: Mac,
        /// How much later the session ends.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Stop the daemon. Its programs stay attached (clients keep their state) unless
    /// --detach is given, which takes netauth off the interface entirely.
    Stop {
        /// Remove programs, maps and routing: the LAN is no longer gated.
        #[arg(long)]
        detach: bool,
        /// The daemon's options (--admin-socket, --config; with no daemon running also
        /// --lan, --bpffs, ...) so stop finds the daemon, or what to remove: the daemon's options (--lan, --bpffs, --config, ...)
        /// so --detach can find what to remove.
        #[command(flatten)]
        run: Box<RunArgs>,
    },
    /// End a MAC address's session: the client is captive again.
    Revoke {
        mac: Mac,
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
    /// Print the DHCP (or RA) configuration that announces the Captive Portal API (RFC 8910).
    DhcpConfig {
        #[arg(long, value_enum)]
        format: netauth::provision::DhcpFormat,
        /// The API's URI [default: https://HOSTNAME:PORT/api/captive].
        #[arg(long, conflicts_with = "hostname")]
        api_uri: Option<String>,
        /// The portal's DNS name.
        #[arg(long)]
        hostname: Option<String>,
        /// The HTTPS port.
        #[arg(long, default_value_t = netauth::config::DEFAULT_API_PORT)]
        port: u16,
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
}

#[derive(Subcommand)]
enum WalledAction {
    /// Show the entries and what their host names resolve to.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add an address, prefix or host name.
    Add { entry: String },
    /// Remove an entry added with `add`.
    Remove { entry: String },
}

#[derive(clap::Args)]
struct SocketArg {
    /// The daemon's admin socket.
    #[arg(long, global = true, default_value = DEFAULT_ADMIN_SOCKET)]
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
            idle,
            quota,
            quota_up,
            quota_down,
            socket,
        } => {
            let mut req = json!({ "mac": mac });
            if let Some(d) = duration {
                req["duration"] = json!(format!("{}s", d.as_secs()));
            }
            if let Some(d) = idle {
                req["idle"] = json!(format!("{}s", d.as_secs()));
            }
            for (k, v) in [
                ("quota", quota),
                ("quota_up", quota_up),
                ("quota_down", quota_down),
            ] {
                if let Some(v) = v {
                    req[k] = json!(v);
                }
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
        Command::Extend {
            mac,
            duration,
            socket,
        } => {
            let (status, body) = client(socket)
                .call(
                    "POST",
                    &format!("/v1/sessions/{mac}/extend"),
                    Some(json!({ "duration": format!("{}s", duration.as_secs()) })),
                )
                .await?;
            if status != 200 {
                return Ok(fail(status, &body));
            }
            println!(
                "{mac} now has {} left",
                human(body["seconds_remaining"].as_u64().unwrap_or(0))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop { detach, run } => {
            let file_socket = match &run.config {
                Some(p) => netauth::config::read_config_file(p)?.admin_socket,
                None => None,
            };
            let admin = AdminClient {
                socket: run
                    .admin_socket
                    .clone()
                    .or(file_socket)
                    .unwrap_or_else(|| DEFAULT_ADMIN_SOCKET.into()),
            };
            match admin
                .call("POST", "/v1/shutdown", Some(json!({ "detach": detach })))
                .await
            {
                Ok((202, _)) => {
                    // Wait until the socket is gone: the daemon has finished.
                    for _ in 0..200 {
                        if !admin.socket.exists() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    println!(
                        "netauth stopped{}",
                        if detach { " and detached" } else { "" }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Ok((status, body)) => Ok(fail(status, &body)),
                Err(e) if detach => {
                    if run.lan.is_none() && run.config.is_none() {
                        eprintln!(
                            "netauth: no daemon answers ({e:#}); give --lan IFACE (and --bpffs/--config if not default) to detach"
                        );
                        return Ok(ExitCode::from(2));
                    }
                    netauth::daemon::detach_offline(*run).await?;
                    println!("netauth detached (no daemon was running)");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e),
            }
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
        Command::Cert {
            hostname,
            ips,
            out_dir,
        } => {
            let (cert, key) = netauth::provision::self_signed(&hostname, &ips, &out_dir)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
            println!(
                "certificate: {}\nkey:         {}",
                cert.display(),
                key.display()
            );
            println!(
                "use: netauth run ... --api-tls-cert {} --api-tls-key {} --api-hostname {hostname}",
                cert.display(),
                key.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::DhcpConfig {
            format,
            api_uri,
            hostname,
            port,
        } => {
            let uri = match (api_uri, hostname) {
                (Some(u), _) => u,
                (None, Some(h)) if port == 443 => format!("https://{h}/api/captive"),
                (None, Some(h)) => format!("https://{h}:{port}/api/captive"),
                (None, None) => {
                    eprintln!("netauth: give --hostname NAME or --api-uri URI");
                    return Ok(ExitCode::from(2));
                }
            };
            match netauth::provision::dhcp_config(format, &uri) {
                Ok(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("netauth: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::WalledGarden { action, socket } => {
            let admin = client(socket);
            let check = |e: &str| netauth::walled::Entry::parse(e);
            match action {
                WalledAction::List { json } => {
                    let (status, body) = admin.call("GET", "/v1/walled-garden", None).await?;
                    if status != 200 {
                        return Ok(fail(status, &body));
                    }
                    if json {
                        println!("{}", serde_json::to_string_pretty(&body)?);
                    } else {
                        for e in body["entries"].as_array().into_iter().flatten() {
                            let addrs: Vec<String> = e["addresses"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(plain)
                                .collect();
                            println!(
                                "{:<40} {:<7} {}",
                                plain(&e["entry"]),
                                plain(&e["source"]),
                                addrs.join(" ")
                            );
                        }
                    }
                }
                WalledAction::Add { entry } => {
                    if let Err(e) = check(&entry) {
                        eprintln!("netauth: {e}");
                        return Ok(ExitCode::from(2));
                    }
                    let (status, body) = admin
                        .call("POST", "/v1/walled-garden", Some(json!({ "entry": entry })))
                        .await?;
                    if !(200..300).contains(&status) {
                        return Ok(fail(status, &body));
                    }
                    println!("{} is in the walled garden", plain(&body["entry"]));
                }
                WalledAction::Remove { entry } => {
                    let parsed = match check(&entry) {
                        Ok(p) => p,
                        Err(e) => {
                            eprintln!("netauth: {e}");
                            return Ok(ExitCode::from(2));
                        }
                    };
                    let (status, body) = admin
                        .call("DELETE", &format!("/v1/walled-garden/{parsed}"), None)
                        .await?;
                    if status != 200 {
                        return Ok(fail(status, &body));
                    }
                    println!("{parsed} removed from the walled garden");
                }
            }
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
                    "map_entries",
                    "state_dir",
                    "pin_dir",
                ] {
                    println!("{key:<26} {}", plain(&body[key]));
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
        "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}",
        "MAC", "IP", "VIA", "TIME LEFT", "UP", "DOWN", "DATA LEFT"
    );
    for s in sessions {
        let left = s["expires"].as_u64().unwrap_or(0).saturating_sub(now);
        let bytes = |k: &str| human_bytes(s[k].as_u64().unwrap_or(0));
        println!(
            "{:<17}  {:<25}  {:<13}  {:>10}  {:>10}  {:>10}  {:>10}",
            plain(&s["mac"]),
            plain(&s["ip"]),
            plain(&s["via"]),
            human(left),
            bytes("up_bytes"),
            bytes("down_bytes"),
            s["bytes_remaining"]
                .as_u64()
                .map(human_bytes)
                .unwrap_or_else(|| "-".into()),
        );
    }
}
