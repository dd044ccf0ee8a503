//! Builds the kernel programs (`netauth-ebpf`) with aya-build, so a plain `cargo build`
//! produces a `netauth` binary with the eBPF object embedded.
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "netauth-ebpf")
        .ok_or_else(|| anyhow!("netauth-ebpf package not found"))?;
    let common = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "netauth-common")
        .ok_or_else(|| anyhow!("netauth-common package not found"))?;
    // The kernel object also depends on the shared map layouts.
    if let Some(dir) = common.manifest_path.parent() {
        println!("cargo:rerun-if-changed={dir}");
    }
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("netauth-ebpf has no directory"))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
