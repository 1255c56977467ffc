//! What a caller may do now under the config gates, for the interfaces that show or hide
//! controls (the web panel, the tray). Each answer is [`crate::gates::check`] for the action
//! the control would start, so a control is offered exactly when the use case behind it
//! would accept, and a refusal carries the same code the use case would answer with.

use mcpproxy_domain::Caller;
use serde::Serialize;

use super::ManagementService;
use crate::gates::{self, Action};

/// Which management operations the gates allow the caller right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allowed {
    /// Add servers (`allow_server_add`, and no `read_only_mode` or `disable_management`).
    pub add_servers: bool,
    /// Remove servers (`allow_server_remove`, likewise).
    pub remove_servers: bool,
    /// Change the config: edit, enable, disable and quarantine servers, apply a whole config.
    pub change_config: bool,
    /// Lift a server's quarantine.
    pub unquarantine: bool,
    /// Approve or block tools.
    pub approve_tools: bool,
    /// Act on running connections: restart, read tools again.
    pub server_actions: bool,
    /// Log in to servers and out of them.
    pub authenticate: bool,
    /// Why the config cannot be changed, when it cannot: the gate's code (`READ_ONLY_MODE`,
    /// `MANAGEMENT_DISABLED`, …) and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// A gate's refusal as every surface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl ManagementService {
    /// What the gates allow `caller` now (they follow the config, so this changes with it).
    pub fn allowed(&self, caller: &Caller) -> Allowed {
        let settings = self.settings.current();
        let may = |action| gates::check(&settings, action, caller).is_ok();
        Allowed {
            add_servers: may(Action::AddServer),
            remove_servers: may(Action::RemoveServer),
            change_config: may(Action::ChangeConfig),
            unquarantine: may(Action::Unquarantine),
            approve_tools: may(Action::ApproveTools),
            server_actions: may(Action::Reconnect),
            authenticate: may(Action::Authenticate),
            refusal: gates::check(&settings, Action::ChangeConfig, caller)
                .err()
                .map(|gate| Refusal {
                    code: gate.code().to_owned(),
                    message: gate.message().to_owned(),
                }),
        }
    }
}
