//! `cargo xtask`: the project's own commands. `setup` makes a machine ready; every other
//! command runs it first when something is missing, so a fresh clone needs nothing else.

mod bench;
mod demo;
mod setup;

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what this machine lacks: nightly rust-src, bpf-linker, system packages.
    Setup,
    /// Build the netauth binary (kernel programs included) in release mode.
    Build,
    /// Build, then run `netauth ARGS` (as root), e.g. `cargo xtask run -- run --lan eth1`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build a namespace lab and show a client going from 511 to online, step by step.
    Demo {
        /// Seconds to pause between steps.
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
    },
    /// Run the unit tests and the namespace integration tests (as root).
    Test {
        /// Extra arguments for the test runner (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure netauth against nftables/iptables and nginx in a namespace lab; write a report.
    Bench(bench::Opts),
    /// Build the Debian package (target/debian/netauth_VERSION_ARCH.deb).
    Package {
        /// Package the existing target/release/netauth instead of building it first.
        #[arg(long)]
        no_build: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Setup => setup::run(true),
        Cmd::Build => setup::run(false).and_then(|()| build()),
        Cmd::Run { args } => setup::run(false)
            .and_then(|()| build())
            .and_then(|()| run(&args)),
        Cmd::Demo { pace } => setup::run(false)
            .and_then(|()| build())
            .and_then(|()| demo::run(pace)),
        Cmd::Test { args } => setup::run(false)
            .and_then(|()| build())
            .and_then(|()| test(&args)),
        Cmd::Bench(opts) => if opts.no_build {
            Ok(())
        } else {
            setup::run(false).and_then(|()| build())
        }
        .and_then(|()| bench::run(&opts)),
        Cmd::Package { no_build } => if no_build {
            Ok(())
        } else {
            setup::run(false).and_then(|()| build())
        }
        .and_then(|()| {
            let deb = netauth_lab::package::build(
                &root().join("target/release/netauth"),
                &root(),
                &root().join("target/debian"),
            )?;
            println!("{}", deb.display());
            Ok(())
        }),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

pub fn root() -> PathBuf {
    netauth_lab::workspace_root()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub fn status(cmd: &mut Command) -> anyhow::Result<()> {
    let s = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !s.success() {
        bail!("{cmd:?} failed ({s})");
    }
    Ok(())
}

fn build() -> anyhow::Result<()> {
    status(cargo().args(["build", "--release", "--package", "netauth-userspace"]))
}

fn require_root(what: &str) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root (BPF, network namespaces); run it with sudo");
    }
    Ok(())
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let bin = root().join("target/release/netauth");
    let is_daemon = args.first().map(String::as_str) == Some("run");
    if is_daemon {
        require_root("netauth run")?;
    }
    let s = Command::new(&bin).args(args).status()?;
    std::process::exit(s.code().unwrap_or(1));
}

fn test(args: &[String]) -> anyhow::Result<()> {
    require_root("the namespace integration tests")?;
    let bin = root().join("target/release/netauth");
    // Host crates only: the eBPF crate builds for bpfel-unknown-none, not for the host.
    let mut child = cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "netauth-ebpf",
            "--no-fail-fast",
        ])
        .env("NETAUTH_BIN", &bin)
        .arg("--")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    // Pass the output through, and add up the per-binary results so the run ends with
    // one total line (cargo's own last line is the doc-test binary's, often "0 passed").
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match kind {
                    "passed" => passed += n,
                    "failed" => failed += n,
                    _ => {}
                }
            }
        }
    }
    let s = child.wait()?;
    println!("\nTotal: {passed} passed, {failed} failed");
    if !s.success() {
        bail!("tests failed ({s})");
    }
    Ok(())
}
