//! netauth: an eBPF/XDP captive portal for Linux gateways.
//!
//! The modules in the order a packet and a login meet them, each layer using only those
//! above it in this list:
//!
//! - [`model`]: the plain types (Mac, Usage, Quota, Via, EndReason, Session, Grant).
//! - [`clock`]: the session clock, which never steps.
//! - [`datapath`]: the kernel programs and maps (`netauth-ebpf`): loaded, pinned,
//!   attached; the client map, address bindings, counters.
//! - [`identity`]: who is behind a connection or an address, from the datapath's records.
//! - [`store`]: SQLite, one connection, one file per aggregate.
//! - [`sessions`]: the session table, the one writer of the client map and the sessions
//!   on disk; limits enforced, counters checkpointed.
//! - [`accounting`]: RADIUS accounting records fed by session events.
//! - [`vouchers`], [`walled`]: vouchers and the walled garden, each with its persistence.
//! - [`radius`]: the RADIUS client (access, accounting delivery) and the CoA/Disconnect
//!   server.
//! - [`auth`]: one `Authenticator` for every login method, each returning a `Grant`.
//! - [`portal`]: intercepted HTTP (511/302) and the login, status and logout pages.
//! - [`admin`], [`metrics`]: the operators' API and Prometheus text.
//! - [`config`], [`netlink`], [`provision`], [`memory`]: settings, routing, generated
//!   files, allocator hygiene.
//! - [`daemon`]: ties it together: validate, acquire, supervise.
//! - [`cli`]: the `netauth` command, one function per verb over the typed admin client.

pub mod accounting;
pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod daemon;
pub mod datapath;
pub mod identity;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod portal;
pub mod provision;
pub mod radius;
pub mod sessions;
pub mod store;
pub mod vouchers;
pub mod walled;
