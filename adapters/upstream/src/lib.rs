//! Connections to upstream MCP servers, in three layers:
//!
//! - **core** ([`connect`]): one rmcp client per transport — stdio (own process group,
//!   allow-listed environment, stderr to the server log and into connect errors), streamable
//!   HTTP with the configured headers, and legacy SSE (our own rmcp transport, [`sse`]);
//! - **managed** ([`supervisor`], [`pool`]): a supervisor per server drives the domain's
//!   connection state machine with backoff, health pings and tool re-discovery; the pool
//!   follows config changes and implements the application's `UpstreamPool` port; what a
//!   server sends back during a call is routed to that call's client ([`router`]);
//! - **cli** ([`oneshot`]): connect once, list or call, disconnect — for `mcpproxy tools list`.
//!
//! Stdio servers may run isolated ([`isolation`]): the launch is rewritten into `docker run`,
//! `bwrap` or our Landlock helper, and what the run leaves besides processes (a container, a
//! temporary directory) is removed with it.
//!
//! No child process outlives the proxy: servers are stopped close → SIGTERM → SIGKILL per
//! process group, a dropped process handle kills its group, and the [`process::Reaper`]
//! watchdog kills what is left — containers included — if the proxy itself is killed.
#![forbid(unsafe_code)]

pub mod connect;
mod env;
mod graveyard;
mod handler;
pub mod isolation;
pub mod oneshot;
pub mod pool;
mod preflight;
pub mod process;
mod reaper;
mod router;
pub mod slots;
pub mod sse;
mod supervisor;

pub use connect::{ConnectError, ConnectSpec, Connection, Connector, OAuthTokens};
pub use env::LaunchError;
pub use handler::CLIENT_NAME;
#[cfg(target_os = "linux")]
pub use isolation::landlock::sandbox_exec;
pub use isolation::{IsolationError, Isolator};
pub use pool::Pool;
pub use process::{Grace, Reaper, run_reaper};
pub use supervisor::Status;
