//! The `netauth` command: `run` starts the daemon; the other verbs talk to it over the
//! admin socket.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use netauth::{
    admin::AdminClient,
    config::{DEFAULT_ADMIN_SOCKET, RunArgs, parse_bytes, parse_duration},
    model::Mac,
    portal::pages::{human, human_bytes},
};
use serde_json::{Value, json};

/// How long `netauth stop` waits for the daemon to finish.
const STOP_WAIT: Duration = Duration::from_secs(10);

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
        /// The daemon's options (--admin-socket, --config) so stop finds the daemon; with
        /// no daemon running, --detach also needs --lan (and --bpffs, ... if not default)
        /// to find what to remove.
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
enum VoucherAction {
    /// Make new voucher codes; each one's clock starts at its first use.
    Create {
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// How long a voucher lasts from its first use.
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        /// Data allowance per device.
        #[arg(long, value_parser = parse_bytes)]
        quota: Option<u64>,
        /// How many devices may use one voucher.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        devices: u32,
        /// Also write a printable HTML sheet of the codes.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Revoke {
        code: String,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user or change a password.
    Add {
        name: String,
    },
    Remove {
        name: String,
    },
    List,
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
                    // The daemon removes its socket as the last step of stopping.
                    let deadline = tokio::time::Instant::now() + STOP_WAIT;
                    while admin.socket.exists() {
                        if tokio::time::Instant::now() >= deadline {
                            eprintln!(
                                "netauth: the daemon accepted the stop but did not finish within {} s (its admin socket {} is still there)",
                                STOP_WAIT.as_secs(),
                                admin.socket.display()
                            );
                            return Ok(ExitCode::FAILURE);
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
        Command::Voucher { action, socket } => {
            let admin = client(socket);
            match action {
                VoucherAction::Create {
                    count,
                    duration,
                    quota,
                    devices,
                    html,
                } => {
                    if !(1..=10_000).contains(&count) {
                        eprintln!("netauth: --count must be 1..=10000");
                        return Ok(ExitCode::from(2));
                    }
                    let mut req = json!({
                        "count": count,
                        "duration": format!("{}s", duration.as_secs()),
                        "devices": devices,
                    });
                    if let Some(q) = quota {
                        req["quota"] = json!(q);
                    }
                    let (status, body) = admin.call("POST", "/v1/vouchers", Some(req)).await?;
                    if status != 201 {
                        return Ok(fail(status, &body));
                    }
                    let codes: Vec<String> = body["vouchers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| plain(&v["code"]))
                        .collect();
                    for c in &codes {
                        println!("{c}");
                    }
                    if let Some(path) = html {
                        std::fs::write(
                            &path,
                            netauth::portal::pages::voucher_sheet(&codes, duration, quota, devices),
                        )?;
                        eprintln!("printable sheet: {}", path.display());
                    }
                }
                VoucherAction::List { json } => {
                    let (status, body) = admin.call("GET", "/v1/vouchers", None).await?;
                    if status != 200 {
                        return Ok(fail(status, &body));
                    }
                    if json {
                        println!("{}", serde_json::to_string_pretty(&body)?);
                    } else {
                        println!(
                            "{:<15} {:>10} {:>10} {:>8} {:<10}",
                            "CODE", "DURATION", "QUOTA", "DEVICES", "STATE"
                        );
                        for v in body["vouchers"].as_array().into_iter().flatten() {
                            let state = if v["revoked"].as_bool() == Some(true) {
                                "revoked"
                            } else if v["first_used_ms"].is_null() {
                                "unused"
                            } else {
                                "in use"
                            };
                            println!(
                                "{:<15} {:>10} {:>10} {:>8} {:<10}",
                                plain(&v["code"]),
                                human(v["duration_s"].as_u64().unwrap_or(0)),
                                v["quota"]
                                    .as_u64()
                                    .map(human_bytes)
                                    .unwrap_or_else(|| "-".into()),
                                format!("{}/{}", v["devices_used"], v["devices"]),
                                state
                            );
                        }
                    }
                }
                VoucherAction::Revoke { code } => {
                    let Some(code) = netauth::vouchers::normalize(&code) else {
                        eprintln!("netauth: '{code}' is not a voucher code");
                        return Ok(ExitCode::from(2));
                    };
                    let (status, body) = admin
                        .call("DELETE", &format!("/v1/vouchers/{code}"), None)
                        .await?;
                    if status != 200 {
                        return Ok(fail(status, &body));
                    }
                    println!("{code} revoked");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            action,
            users_file,
            state_dir,
            config,
        } => {
            // The file the daemon reads, resolved by the daemon's own rules.
            let path = netauth::config::users_file_path(&RunArgs {
                users_file,
                state_dir,
                config,
                ..RunArgs::default()
            })?;
            let mut users = netauth::auth::UsersFile::load(&path)?;
            match action {
                UserAction::List => {
                    for u in users.users.keys() {
                        println!("{u}");
                    }
                }
                UserAction::Remove { name } => {
                    if users.users.remove(&name).is_none() {
                        eprintln!("netauth: no user '{name}'");
                        return Ok(ExitCode::FAILURE);
                    }
                    users.save()?;
                    println!("{name} removed");
                }
                UserAction::Add { name } => {
                    if !netauth::auth::valid_username(&name) {
                        eprintln!(
                            "netauth: '{name}' is not a valid user name (letters, digits, ._-@)"
                        );
                        return Ok(ExitCode::from(2));
                    }
                    let password = read_new_password()?;
                    if let Err(e) = users.set_password(&name, &password) {
                        eprintln!("netauth: {e}");
                        return Ok(ExitCode::from(2));
                    }
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    users.save()?;
                    println!("{name} saved in {}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
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

/// A new password: asked twice on a terminal (not echoed), else one line of stdin.
fn read_new_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("New password: ")?;
        let b = rpassword::prompt_password("Again: ")?;
        if a != b {
            anyhow::bail!("the passwords differ");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
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
