//! Side effects the daemon acquires, each undone when its guard drops: whatever way
//! `run` leaves (an error at any step, a panic, a normal stop), nothing is left behind.
//! The datapath is the exception by design: its pins outlive the daemon so the LAN stays
//! gated (see [`crate::datapath`]).

use std::path::{Path, PathBuf};

use tracing::{error, warn};

use crate::netlink::{self, PolicyRouting};

/// The policy routing rule and route that deliver steered packets to the portal.
pub struct Routing {
    routing: PolicyRouting,
    armed: bool,
}

impl Routing {
    /// Installs the rule and route (a partial install is taken back).
    pub async fn install(
        routing: PolicyRouting,
        handle: &rtnetlink::Handle,
    ) -> anyhow::Result<Self> {
        let guard = Self {
            routing,
            armed: true,
        };
        guard
            .routing
            .install(handle)
            .await
            .map_err(|e| e.context("installing policy routing"))?;
        Ok(guard)
    }

    /// Removes them now, saying whether that worked.
    pub async fn release(mut self, handle: &rtnetlink::Handle) -> anyhow::Result<()> {
        self.armed = false;
        self.routing.remove(handle).await
    }
}

impl Drop for Routing {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Not released on the way out (an early error or a panic): remove on a thread of
        // its own, with its own netlink connection and runtime, whatever state the
        // daemon's runtime is in.
        let routing = self.routing;
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let handle = netlink::connect()?;
                routing.remove(&handle).await
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!("removing policy routing: {e:#}"),
            Err(_) => error!("removing policy routing: the clean-up thread panicked"),
        }
    }
}

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
