//! The config file adapter: reads `mcp_config.json` (the Go MCPProxy's format, unknown keys
//! kept), reports problems with the key and the line, saves atomically (a crash mid-save
//! leaves the old file whole), generates the API key on first start, reads the environment
//! overrides and secret references, and watches the file so edits take effect without a
//! restart — while an invalid edit keeps the running config and says why.
#![forbid(unsafe_code)]

mod env;
mod file;
mod store;
mod watch;

pub use env::{EnvOverrides, generate_api_key, resolve_secrets};
pub use file::{ConfigError, load, parse, remove_stale_temp_files, save};
pub use mcpproxy_domain::config::ConfigDiff;
pub use store::{FileConfigStore, ProcessOverrides};
pub use watch::{ConfigWatcher, DEBOUNCE};
