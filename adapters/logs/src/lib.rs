//! Log files: `main.log` and, per upstream, `server-<name>.log`, each rotated by size
//! (`logging.max_size` MB, `logging.max_backups` old files, `logging.max_age` days) so a chatty
//! server can never fill the disk.
#![forbid(unsafe_code)]

mod rotating;
mod server_logs;

pub use rotating::{RotatingFile, Rotation};
pub use server_logs::ServerLogFiles;

use std::path::PathBuf;

/// Where logs go when nothing says otherwise: `$XDG_STATE_HOME/mcpproxy/logs`, else
/// `~/.local/state/mcpproxy/logs`.
pub fn default_log_dir(home: &std::path::Path, xdg_state_home: Option<&str>) -> PathBuf {
    match xdg_state_home {
        Some(state) if !state.is_empty() => PathBuf::from(state).join("mcpproxy/logs"),
        _ => home.join(".local/state/mcpproxy/logs"),
    }
}
