//! The plain data netauth reasons about: devices, what they used, what they were granted
//! and why a session ended. No I/O here; every other module builds on these.

pub use netauth_common::api::{Mac, MacError, SessionView, Via};
