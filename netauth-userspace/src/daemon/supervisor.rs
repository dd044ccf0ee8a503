//! The daemon's services under one supervisor: each has a name and a role, all stop on
//! one cancellation token. Only an essential service ending (it never should) stops the
//! daemon, and the daemon says which; an optional one that fails is reported and the
//! rest carry on.

use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The daemon cannot do its job without it (the portal, the admin socket, session
    /// maintenance).
    Essential,
    /// A helper whose failure is logged (kernel log relay, name resolution).
    Optional,
}

pub struct Supervisor {
    set: JoinSet<(&'static str, Role, anyhow::Result<()>)>,
    cancel: CancellationToken,
}

/// Why the daemon must stop.
#[derive(Debug)]
pub struct Failure {
    pub service: &'static str,
    pub error: anyhow::Error,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self {
            set: JoinSet::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// Runs `service` until it ends or the supervisor shuts down.
    pub fn spawn<F>(&mut self, name: &'static str, role: Role, service: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.set.spawn(async move {
            let result = tokio::select! {
                () = cancel.cancelled() => Ok(()),
                r = service => r,
            };
            (name, role, result)
        });
    }

    /// A service that never fails on its own (runs for ever).
    pub fn spawn_forever<F>(&mut self, name: &'static str, role: Role, service: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, role, async move {
            service.await;
            Ok(())
        });
    }

    /// Waits until an essential service ends; optional ones that end are reported and
    /// forgotten. `None`: no service is left.
    pub async fn failure(&mut self) -> Option<Failure> {
        while let Some(joined) = self.set.join_next().await {
            let (service, role, result) = match joined {
                Ok(r) => r,
                Err(e) => {
                    // A panic: the task's name is lost with it; essential by caution.
                    error!("a service panicked: {e}");
                    return Some(Failure {
                        service: "unknown (panicked)",
                        error: anyhow::anyhow!("{e}"),
                    });
                }
            };
            let error = match result {
                Ok(()) => anyhow::anyhow!("it stopped"),
                Err(e) => e,
            };
            match role {
                Role::Essential => return Some(Failure { service, error }),
                Role::Optional => warn!(service, "an optional service stopped: {error:#}"),
            }
        }
        None
    }

    /// Cancels every service and waits for them to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.set.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_an_essential_service_ending_is_a_failure() {
        let mut s = Supervisor::new();
        s.spawn("resolver", Role::Optional, async {
            anyhow::bail!("no resolv.conf")
        });
        s.spawn_forever("portal", Role::Essential, std::future::pending());
        s.spawn("admin", Role::Essential, async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            anyhow::bail!("socket gone")
        });
        let f = s.failure().await.expect("the essential failure");
        assert_eq!(f.service, "admin");
        assert_eq!(f.error.to_string(), "socket gone");
        // Shutting down cancels what still runs (the pending portal).
        tokio::time::timeout(std::time::Duration::from_secs(5), s.shutdown())
            .await
            .expect("cancelled");
    }

    #[tokio::test]
    async fn optional_services_that_end_leave_the_rest_running() {
        let mut s = Supervisor::new();
        s.spawn("kernel-log", Role::Optional, async {
            anyhow::bail!("ring buffer closed")
        });
        s.spawn_forever("portal", Role::Essential, std::future::pending());
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), s.failure()).await;
        assert!(waited.is_err(), "no failure: the portal still runs");
        s.shutdown().await;
    }
}
