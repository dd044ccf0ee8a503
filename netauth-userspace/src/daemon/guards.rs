//! Side effects the daemon acquires, each undone when its guard drops: whatever way
//! `run` leaves (an error at any step, a panic, a normal stop), nothing is left behind.
//! The datapath is the exception by design: its pins outlive the daemon so the LAN stays
//! gated (see [`crate::datapath`]).

use std::path::{Path, PathBuf};

use tracing::warn;

/// The admin socket's file, removed when the guard drops.
pub struct SocketFile(PathBuf);

impl SocketFile {
    pub fn new(path: &Path) -> Self {
        Self(path.to_path_buf())
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!("removing {}: {e}", self.0.display());
        }
    }
}
