//! The tray app of mcpproxy, a client of the core's REST API and `/events` (over the unix
//! socket first) that launches, watches and controls `mcpproxy serve`.
//!
//! Its heart is pure and tested without a desktop: the launch state [`machine`] and the
//! [`menu`] as a function of the [`model`]. Around it, at the edges: the API client, the
//! core's process, the runner that executes the machine's effects, and the desktop surfaces
//! (a StatusNotifierItem over D-Bus on Linux, `tray-icon` on macOS and Windows).
#![forbid(unsafe_code)]

pub mod client;
pub mod core;
pub mod desktop;
pub mod icon;
pub mod machine;
pub mod menu;
pub mod model;
#[cfg(feature = "native")]
pub mod native;
pub mod notice;
pub mod runner;
pub mod session;
#[cfg(target_os = "linux")]
pub mod sni;
