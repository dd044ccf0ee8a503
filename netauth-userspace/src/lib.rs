//! netauth: an eBPF/XDP captive portal for Linux gateways.
//!
//! Layout follows the data: a packet meets the kernel programs (`netauth-ebpf`, loaded by
//! [`datapath`]); intercepted HTTP reaches the [`portal`]; a login becomes a [`session`],
//! which writes the client's [`mac`] into the kernel map; [`admin`] exposes sessions to
//! operators; [`netlink`] talks to the routing layer; [`daemon`] ties it together; [`cli`]
//! is the `netauth` command.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod datapath;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod portal;
pub mod provision;
pub mod radius;
pub mod session;
pub mod store;
pub mod walled;
