//! The kernel programs: attached to the LAN interface through links pinned beside the
//! maps, so a new daemon swaps its programs into the links in place and the interface is
//! never open (nor closed) during a restart, an upgrade or a crash. Only
//! [`Programs::detach`] (`netauth stop --detach`) takes them down.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf,
    programs::{
        SchedClassifier, TcAttachType, Xdp,
        links::{FdLink, PinnedLink},
        tc::SchedClassifierLink,
        xdp::XdpLink,
    },
};
use netauth_common::programs;
use tracing::{info, warn};

use clap::ValueEnum;
use serde::Deserialize;

const LINK_XDP: &str = "link_xdp";
const LINK_TC_INGRESS: &str = "link_tc_ingress";
const LINK_TC_EGRESS: &str = "link_tc_egress";

/// How the XDP program is attached to the LAN interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode where the driver supports it, else generic.
    Auto,
    /// Driver mode only; fail if the driver lacks XDP support.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Generic,
    /// No XDP: the TC program makes every decision.
    Off,
}

/// The XDP mode `requested` comes to on an interface of `kind` (`None`: a physical NIC),
/// and why. `auto` attaches XDP only where it is the fast path: a NIC whose driver runs
/// XDP natively (falling back to generic XDP on a driver without it). On a virtual
/// interface XDP runs on the skb path (generic) or, on veth, converts every frame, and
/// measured slower than TC alone (bench/results: "empty XDP program (native)" on veth
/// forwards ~12% less than no program), so there TC makes every decision.
pub fn choose_xdp_mode(requested: XdpMode, kind: Option<&str>) -> (XdpMode, String) {
    match (requested, kind) {
        (XdpMode::Auto, Some(kind)) => (
            XdpMode::Off,
            format!(
                "auto: {kind} is a virtual interface, where XDP is slower than TC alone; TC \
                 makes every decision"
            ),
        ),
        (XdpMode::Auto, None) => (
            XdpMode::Auto,
            "auto: a physical NIC: native XDP where its driver has it, else generic".into(),
        ),
        (mode, _) => (mode, "as configured (--xdp-mode)".into()),
    }
}

/// The loaded programs of one interface.
pub struct Programs {
    // Owns the programs: dropping it closes our fds; the pins keep them attached.
    pub(super) ebpf: Ebpf,
    pub(super) iface: String,
    pub(super) xdp_mode: XdpMode,
    pub(super) pin_dir: PathBuf,
    /// Links that could not be pinned (kernels without bpf_link for TC): kept alive here.
    pub(super) unpinned: Vec<SchedClassifierLink>,
    // Kept alive so kernel-side aya-log records keep flowing.
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

/// What [`Programs::attach`] did.
#[derive(Clone, Copy, Debug)]
pub struct Attached {
    /// The XDP mode in use ("native", "generic", "off", or "pinned" when an existing
    /// pinned link was reused).
    pub xdp: &'static str,
    /// Whether programs were swapped into links a previous daemon left.
    pub adopted: bool,
}

impl Programs {
    /// Attaches the programs: TC first (it enforces the whole policy by itself, so the
    /// interface is never open while XDP is being attached or replaced), then XDP. Links a
    /// previous daemon pinned are reused: the new programs replace the old ones in place.
    pub fn attach(&mut self) -> anyhow::Result<Attached> {
        let iface = self.iface.clone();
        let mut adopted = false;
        let _ = aya::programs::tc::qdisc_add_clsact(&iface); // present is fine; TCX needs none
        for (prog_name, attach, pin) in [
            (programs::TC_INGRESS, TcAttachType::Ingress, LINK_TC_INGRESS),
            (programs::TC_EGRESS, TcAttachType::Egress, LINK_TC_EGRESS),
        ] {
            let prog: &mut SchedClassifier = self
                .ebpf
                .program_mut(prog_name)
                .ok_or_else(|| anyhow!("{prog_name} missing from object"))?
                .try_into()?;
            let pin_path = self.pin_dir.join(pin);
            if let Some(link) = adopt::<SchedClassifierLink>(&pin_path) {
                match prog.attach_to_link(link) {
                    Ok(_) => {
                        adopted = true;
                        continue;
                    }
                    Err(e) => {
                        warn!("pinned {pin} could not be reused ({e}); attaching afresh");
                        let _ = std::fs::remove_file(&pin_path);
                    }
                }
            }
            let id = prog
                .attach(&iface, attach)
                .with_context(|| format!("attaching {prog_name} to {iface}"))?;
            let link = prog.take_link(id)?;
            match FdLink::try_from(link) {
                Ok(fd) => {
                    fd.pin(&pin_path)
                        .with_context(|| format!("pinning {}", pin_path.display()))?;
                }
                Err(_) => {
                    warn!("this kernel has no TC bpf_link: a crash of netauth will detach TC");
                    // take_link consumed it; re-attach and keep the link in memory.
                    let id = prog.attach(&iface, attach)?;
                    self.unpinned.push(prog.take_link(id)?);
                }
            }
        }

        let xdp_pin = self.pin_dir.join(LINK_XDP);
        let xdp = if self.xdp_mode == XdpMode::Off {
            if xdp_pin.exists() {
                // Unpinning the last reference detaches XDP; TC already enforces.
                std::fs::remove_file(&xdp_pin)?;
            }
            "off"
        } else {
            let xdp: &mut Xdp = self
                .ebpf
                .program_mut(programs::XDP)
                .ok_or_else(|| anyhow!("XDP program missing from object"))?
                .try_into()?;
            let mut reused = false;
            if let Some(link) = adopt::<XdpLink>(&xdp_pin) {
                match xdp.attach_to_link(link) {
                    Ok(_) => {
                        adopted = true;
                        reused = true;
                    }
                    Err(e) => {
                        warn!("pinned XDP link could not be reused ({e}); attaching afresh");
                        let _ = std::fs::remove_file(&xdp_pin);
                    }
                }
            }
            if reused {
                "pinned"
            } else {
                let (id, mode) = match self.xdp_mode {
                    XdpMode::Native => (
                        xdp.attach(&iface, aya::programs::XdpMode::Driver)
                            .with_context(|| {
                                format!("attaching XDP in native mode to {iface} (does the driver support XDP? try --xdp-mode generic)")
                            })?,
                        "native",
                    ),
                    XdpMode::Generic => (
                        xdp.attach(&iface, aya::programs::XdpMode::Skb)
                            .with_context(|| format!("attaching XDP in generic mode to {iface}"))?,
                        "generic",
                    ),
                    _ => match xdp.attach(&iface, aya::programs::XdpMode::Driver) {
                        Ok(id) => (id, "native"),
                        Err(e) => {
                            info!("native XDP not available on {iface} ({e}); using generic XDP");
                            (
                                xdp.attach(&iface, aya::programs::XdpMode::Skb)
                                    .with_context(|| format!("attaching XDP to {iface}"))?,
                                "generic",
                            )
                        }
                    },
                };
                let link = xdp.take_link(id)?;
                let fd = FdLink::try_from(link)
                    .map_err(|e| anyhow!("XDP link cannot be pinned on this kernel: {e}"))?;
                fd.pin(&xdp_pin)
                    .with_context(|| format!("pinning {}", xdp_pin.display()))?;
                mode
            }
        };
        Ok(Attached { xdp, adopted })
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Removes every pin of this interface: the programs detach once this process exits
    /// (at once for links no process holds).
    pub fn detach(&self) -> anyhow::Result<()> {
        super::pins::remove_pins(&self.pin_dir)
    }
}

fn adopt<L: TryFrom<FdLink>>(pin: &Path) -> Option<L> {
    if !pin.exists() {
        return None;
    }
    let pinned = match PinnedLink::from_pin(pin) {
        Ok(p) => p,
        Err(e) => {
            warn!("cannot open pinned link {}: {e}", pin.display());
            return None;
        }
    };
    let fd: FdLink = pinned.into();
    L::try_from(fd).ok()
}
