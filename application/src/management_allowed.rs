//! What a person may do now under the config gates, for the interfaces that show or hide
//! controls (the web panel, the tray). It runs the same gate checks as the use cases, so a
//! control is offered exactly when the use case behind it would accept.

use serde::Serialize;

use super::{Change, ManagementService};

/// Which management operations the gates allow a person right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allowed {
    /// Add servers (`allow_server_add`, and no `read_only_mode` or `disable_management`).
    pub add_servers: bool,
    /// Remove servers (`allow_server_remove`, likewise).
    pub remove_servers: bool,
    /// Change the config: edit, enable, disable, quarantine and unquarantine servers, apply
    /// a whole config, approve tools.
    pub change_config: bool,
    /// Act on running connections: restart, read tools again, log in and out.
    pub server_actions: bool,
}

impl ManagementService {
    /// What the gates allow now (they follow the config, so this changes with it).
    pub fn allowed(&self) -> Allowed {
        let config = self.config.current();
        let change = Self::gate(&config, Change::Config).is_ok();
        Allowed {
            add_servers: change && Self::gate_add(&config).is_ok(),
            remove_servers: change && Self::gate_remove(&config).is_ok(),
            change_config: change,
            server_actions: Self::gate(&config, Change::Runtime).is_ok(),
        }
    }
}
