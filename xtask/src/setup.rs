//! Makes a machine ready to build and test netauth, using only the package registries:
//! nightly's rust-src (for `-Z build-std`), a bpf-linker built against nightly's own
//! libLLVM (Debian's LLVM is older than rustc's), and the system tools the tests use.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::status;

/// Debian packages the build and tests need, with a command that proves each present.
const PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("procps", "sysctl"),
    ("ethtool", "ethtool"),
    ("mount", "mount"),
    // The browser test (tests/tests/browser.rs) drives a real headless Chromium.
    ("chromium", "chromium"),
    ("chromium-driver", "chromedriver"),
    // The external portal test (tests/tests/external_portal.rs) runs the example
    // application, examples/external-portal/app.py (standard-library Python).
    ("python3", "python3"),
    // RADIUS tests (tests/tests/radius.rs) run a real FreeRADIUS and its radclient.
    ("freeradius", "freeradius"),
    ("freeradius-utils", "radclient"),
    // Tests read SQLite files with the sqlite3 shell: the daemon's store
    // (tests/tests/roaming.rs) and the shipped FreeRADIUS sessions
    // (tests/tests/radius_roaming.rs).
    ("sqlite3", "sqlite3"),
    // The hostile-client tests (tests/tests/hostile.rs) try an IP-over-DNS tunnel.
    ("iodine", "iodined"),
    // The clock tests (tests/tests/clock.rs) give the daemon a shifted wall clock.
    ("faketime", "faketime"),
    // The rate-limit tests (tests/tests/shaping.rs) measure real TCP with iperf3.
    ("iperf3", "iperf3"),
    // `cargo xtask package` and its test (tests/tests/package.rs).
    ("dpkg-dev", "dpkg-shlibdeps"),
    ("binutils", "strip"),
    ("lintian", "lintian"),
    ("systemd", "systemd-analyze"),
    // The DHCP/RA provisioning tests (tests/tests/dhcp.rs) check `netauth dhcp-config`'s
    // output with the real servers and serve it to real clients.
    ("dnsmasq-base", "dnsmasq"),
    ("kea-dhcp4-server", "kea-dhcp4"),
    ("kea-dhcp6-server", "kea-dhcp6"),
    ("radvd", "radvd"),
    ("isc-dhcp-client", "dhclient"),
    ("udhcpc", "udhcpc"),
];

const BPF_LINKER_VERSION: &str = "0.13.0";

/// `force`: report every step even when nothing is missing.
pub fn run(force: bool) -> anyhow::Result<()> {
    let missing_pkgs: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, cmd)| which(cmd).is_none())
        .map(|(p, _)| *p)
        .collect();
    if !missing_pkgs.is_empty() {
        eprintln!("xtask setup: installing {}", missing_pkgs.join(" "));
        status(Command::new("apt-get").arg("update").arg("-q"))?;
        status(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing_pkgs)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    } else if force {
        eprintln!("xtask setup: system packages present");
    }

    let sysroot = nightly_sysroot()?;
    if !sysroot.join("lib/rustlib/src/rust/library/core").exists() {
        eprintln!("xtask setup: adding rust-src to the nightly toolchain");
        status(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    } else if force {
        eprintln!("xtask setup: nightly rust-src present");
    }

    ensure_bpf_linker(&sysroot, force)?;
    if force {
        eprintln!("xtask setup: ready");
    }
    Ok(())
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

fn nightly_sysroot() -> anyhow::Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .context("running rustc +nightly (is rustup installed?)")?;
    if !out.status.success() {
        bail!(
            "no nightly toolchain: {} (install one with `rustup toolchain install nightly`)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// bpf-linker links against a libLLVM whose major version must equal rustc's. No prebuilt
/// one is reachable, so build it against nightly's own libLLVM, through a prefix directory
/// of symlinks that the binary keeps as its rpath. A stamp records which libLLVM it was
/// built for; a changed nightly means a rebuild.
fn ensure_bpf_linker(sysroot: &Path, force: bool) -> anyhow::Result<()> {
    let lib_dir = sysroot.join("lib");
    // e.g. libLLVM.so.22.1-rust-1.97.0-nightly (the libLLVM-*.so beside it is a linker script).
    let llvm_lib = std::fs::read_dir(&lib_dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", lib_dir.display()))?;
    let vv = Command::new("rustc").args(["+nightly", "-vV"]).output()?;
    let vv = String::from_utf8(vv.stdout)?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("rustc +nightly -vV shows no LLVM version")?
        .to_string();

    let prefix = cargo_home().join("netauth-llvm");
    let stamp_want = format!("{}\n{llvm_lib}\n{BPF_LINKER_VERSION}\n", sysroot.display());
    let stamp = prefix.join("stamp");
    let linker_ok = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if linker_ok && std::fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_want.as_str()) {
        if force {
            eprintln!("xtask setup: bpf-linker {BPF_LINKER_VERSION} (LLVM {major}) present");
        }
        return Ok(());
    }

    eprintln!(
        "xtask setup: building bpf-linker {BPF_LINKER_VERSION} against nightly's LLVM {major} (takes a few minutes)"
    );
    let libdir = prefix.join("lib");
    std::fs::create_dir_all(&libdir)?;
    let target = lib_dir.join(&llvm_lib);
    // The real file is libLLVM.so.<ver>-rust-<ver>-nightly; its soname is the same name.
    let real = std::fs::canonicalize(&target)?;
    let real_name = real
        .file_name()
        .context("libLLVM has no file name")?
        .to_owned();
    for name in [std::ffi::OsString::from("libLLVM.so"), real_name] {
        let link = libdir.join(&name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    status(
        Command::new("cargo")
            .args([
                "install",
                &format!("bpf-linker@{BPF_LINKER_VERSION}"),
                "--locked",
                "--force",
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .env("LLVM_PREFIX", &prefix)
            // Keep the install away from this workspace's target dir and settings.
            .current_dir(std::env::temp_dir()),
    )?;
    std::fs::write(&stamp, stamp_want)?;
    Ok(())
}
