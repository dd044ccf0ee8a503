//! Where the kernel state lives: pins on a bpf filesystem that outlives the daemon, one
//! directory per interface (and per network namespace). A pin directory that would die
//! with the process is refused, and maps an older netauth pinned with another layout are
//! replaced.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use aya::maps::{MapInfo, MapType};
use netauth_common::{
    AddrOwner, ClientUsage, Counter, IpKey, MAP_BINDINGS, MAP_CLIENT_ADDRS, MAP_CLIENTS,
    MAP_COUNTERS, MAX_BINDINGS, MAX_CLIENTS, MacKey,
};
use tracing::{info, warn};

/// statfs magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// The inode number of the initial network namespace (PROC_NET_INIT_INO).
const INIT_NET_INO: u64 = 0xEFFF_FFF9;

/// The network namespace this process runs in, as a pin-directory component: `None` for
/// the host's (initial) namespace, else `netns-NAME` (a name under /run/netns, as
/// `ip netns` gives) or `netns-INODE`.
fn netns_component() -> Option<String> {
    let own = std::fs::metadata("/proc/self/ns/net").ok()?;
    if own.ino() == INIT_NET_INO {
        return None;
    }
    for dir in ["/run/netns", "/var/run/netns"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(m) = std::fs::metadata(e.path())
                && m.ino() == own.ino()
                && m.dev() == own.dev()
            {
                return Some(format!("netns-{}", e.file_name().to_string_lossy()));
            }
        }
    }
    Some(format!("netns-{}", own.ino()))
}

/// The pin directory of an interface: `<bpffs>/<iface>` in the host's network namespace,
/// `<bpffs>/netns-<name>/<iface>` in another one (interface names repeat across
/// namespaces).
pub fn pin_dir(bpffs: &Path, iface: &str) -> PathBuf {
    match netns_component() {
        Some(ns) => bpffs.join(ns).join(iface),
        None => bpffs.join(iface),
    }
}

fn is_bpffs(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs on a valid C string into a zeroed struct.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC
    }
}

/// The inode of a process's mount namespace.
fn mount_ns(pid: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

/// Other processes, each with its mount namespace.
fn other_processes() -> Vec<(String, Option<u64>)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.bytes().all(|b| b.is_ascii_digit()) && name != me).then(|| {
                let ns = mount_ns(&name);
                (name, ns)
            })
        })
        .collect()
}

/// Whether a bpf filesystem with device `dev` is mounted in `pid`'s mount namespace.
fn mounted_in(pid: &str, dev: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
        return false;
    };
    let want = format!("{}:{}", libc::major(dev), libc::minor(dev));
    text.lines().any(|l| {
        let mut f = l.split_whitespace();
        let dev = f.nth(2);
        let fstype = l
            .split(" - ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        dev == Some(want.as_str()) && fstype == Some("bpf")
    })
}

/// Why the pins under `bpffs` will outlive this process, or an error saying what to do
/// when they would not (then the LAN would fail open the moment netauth stops). Mounts a
/// bpffs at /sys/fs/bpf first if `bpffs` is under it and nothing is mounted yet, but only
/// where that mount is shared with other processes.
pub fn check_pins_outlive(bpffs: &Path) -> anyhow::Result<String> {
    let own_ns = mount_ns("self");
    let others = other_processes();
    let shared_with = others
        .iter()
        .find(|(_, ns)| own_ns.is_some() && *ns == own_ns)
        .map(|(pid, _)| pid.clone());
    let advice = "mount a bpf filesystem in the host's mount namespace outside /sys (e.g. \
                  `mkdir -p /run/netauth/bpf && mount -t bpf bpf /run/netauth/bpf`) and pass \
                  `--bpffs /run/netauth/bpf`, or run netauth in the host's mount namespace";
    let sys = Path::new("/sys/fs/bpf");
    if bpffs.starts_with(sys) && !is_bpffs(sys) {
        if shared_with.is_none() {
            bail!(
                "netauth runs in a mount namespace of its own (as under `ip netns exec`), where \
                 /sys/fs/bpf is not the host's: a bpf filesystem mounted there would vanish \
                 with netauth, and its pins with it, so the LAN would fail open when netauth \
                 stops; {advice}"
            );
        }
        std::fs::create_dir_all(sys)?;
        // SAFETY: mount(2) with valid C strings.
        let rc = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                c"/sys/fs/bpf".as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            bail!(
                "mounting bpffs on /sys/fs/bpf failed: {}",
                std::io::Error::last_os_error()
            );
        }
        info!("mounted a bpf filesystem on /sys/fs/bpf");
    }
    std::fs::create_dir_all(bpffs).with_context(|| format!("creating {}", bpffs.display()))?;
    if !is_bpffs(bpffs) {
        bail!(
            "{} is not on a bpf filesystem (mount one with `mount -t bpf bpf DIR`, or use --bpffs)",
            bpffs.display()
        );
    }
    if let Some(pid) = shared_with {
        return Ok(format!(
            "the bpf filesystem is in a mount namespace shared with other processes (pid {pid})"
        ));
    }
    let dev = std::fs::metadata(bpffs)?.dev();
    match others
        .iter()
        .find(|(pid, ns)| *ns != own_ns && mounted_in(pid, dev))
    {
        Some((pid, _)) => Ok(format!(
            "netauth has a mount namespace of its own, but this bpf filesystem is also mounted \
             in pid {pid}'s"
        )),
        None => bail!(
            "the bpf filesystem at {} is mounted only in netauth's own mount namespace (as \
             under `ip netns exec`): its pins would vanish with netauth and the LAN would fail \
             open when netauth stops; {advice}",
            bpffs.display()
        ),
    }
}

/// What a pinned map must look like to be reused: (name, type, key size, value size,
/// max entries, flags).
fn expected_pins() -> [(&'static str, MapType, u32, u32, u32, u32); 5] {
    [
        (
            MAP_CLIENT_ADDRS,
            MapType::LruHash,
            size_of::<IpKey>() as u32,
            size_of::<AddrOwner>() as u32,
            netauth_common::MAX_CLIENT_ADDRS,
            0,
        ),
        (
            MAP_CLIENTS,
            MapType::PerCpuHash,
            size_of::<MacKey>() as u32,
            size_of::<ClientUsage>() as u32,
            MAX_CLIENTS,
            0,
        ),
        (MAP_COUNTERS, MapType::PerCpuArray, 4, 8, Counter::SLOTS, 0),
        (
            MAP_BINDINGS,
            MapType::Hash,
            size_of::<IpKey>() as u32,
            size_of::<MacKey>() as u32,
            MAX_BINDINGS,
            1, /* BPF_F_NO_PREALLOC */
        ),
        (
            netauth_common::MAP_RATES,
            MapType::Hash,
            size_of::<MacKey>() as u32,
            size_of::<netauth_common::ClientRate>() as u32,
            MAX_CLIENTS,
            1, /* BPF_F_NO_PREALLOC */
        ),
    ]
}

/// Unpins maps an older netauth left with another layout, so this one creates its own
/// (the old programs keep the old maps alive until the links are swapped). Sessions are
/// then restored from the store, as after a reboot.
pub(super) fn drop_incompatible_pins(pin_dir: &Path) {
    for (name, ty, key, value, max, flags) in expected_pins() {
        let path = pin_dir.join(name);
        if !path.exists() {
            continue;
        }
        let ok = match MapInfo::from_pin(&path) {
            Ok(i) => {
                i.map_type().ok() == Some(ty)
                    && i.key_size() == key
                    && i.value_size() == value
                    && i.max_entries() == max
                    && i.map_flags() == flags
            }
            Err(_) => false,
        };
        if !ok {
            warn!(
                map = name,
                "the pinned map has another layout (an older netauth): replaced; sessions are \
                 restored from the store"
            );
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Removes an interface's pin directory (links and maps).
pub fn remove_pins(pin_dir: &Path) -> anyhow::Result<()> {
    if !pin_dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(pin_dir)? {
        let path = entry?.path();
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    std::fs::remove_dir(pin_dir).with_context(|| format!("removing {}", pin_dir.display()))?;
    // The per-namespace directory, once empty.
    if let Some(parent) = pin_dir.parent()
        && parent
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("netns-"))
    {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}
