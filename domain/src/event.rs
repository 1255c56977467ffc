//! Events: what changed, published on the application's bus for the SSE stream, the tray, the
//! index updater and the upstream pool to react to.

use serde::Serialize;

use crate::activity::{ActivityKind, ActivityStatus, Source};
use crate::approval::ApprovalState;
use crate::connection::ConnectionState;
use crate::name::ServerName;
use crate::time::Timestamp;

/// What happened to a server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerChange {
    Added,
    Removed,
    Updated,
    Enabled,
    Disabled,
    Quarantined,
    Unquarantined,
    Restarted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DomainEvent {
    /// A server's configuration changed (through the management service).
    ServerChanged {
        server: ServerName,
        change: ServerChange,
    },
    /// A server's connection changed state.
    ConnectionChanged {
        server: ServerName,
        state: ConnectionState,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The config file changed on disk and the new version is in force.
    ConfigReloaded {
        added: Vec<ServerName>,
        removed: Vec<ServerName>,
        updated: Vec<ServerName>,
    },
    /// A server's tool list was read (after connecting, `list_changed`, or a sweep).
    ToolsDiscovered { server: ServerName, tools: usize },
    /// A server's tools were (re)indexed for search.
    ToolsIndexed { server: ServerName, tools: usize },
    /// A server asked for authorization (HTTP 401, or 403 for a missing scope); the
    /// `WWW-Authenticate` challenge it sent, if any.
    AuthRequired {
        server: ServerName,
        #[serde(skip_serializing_if = "Option::is_none")]
        challenge: Option<String>,
    },
    /// A login to a server was started; the URL the user must open.
    LoginStarted { server: ServerName, url: String },
    /// A server's access token was refreshed.
    TokenRefreshed {
        server: ServerName,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    },
    /// Refreshing a server's token failed; the server needs a new login.
    RefreshFailed { server: ServerName, reason: String },
    /// A tool's approval state changed.
    ToolApprovalChanged {
        server: ServerName,
        tool: String,
        state: ApprovalState,
    },
    /// A keyring secret was stored or deleted (never its value).
    SecretChanged {
        name: String,
        /// `set` or `deleted`.
        action: &'static str,
        /// The servers that use it and were restarted.
        restarted: Vec<ServerName>,
    },
    /// Sensitive data was found in a tool call: what and where, never the value.
    SensitiveDataDetected {
        activity_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
        highest_severity: crate::sensitive::Severity,
        detection_count: usize,
        /// The types found (`aws_access_key`, `credit_card`, …).
        types: Vec<String>,
        /// Where (`arguments.card`, `response.content[0].text`, …).
        locations: Vec<String>,
    },
    /// An upstream prompt's approval state changed (a held prompt is not offered).
    PromptApprovalChanged {
        server: ServerName,
        prompt: String,
        state: ApprovalState,
    },
    /// The default profile of the UI surfaces changed (`""`: all servers).
    ActiveProfileChanged { active_profile: String },
    /// A record was added to the activity log.
    ActivityRecorded {
        id: String,
        #[serde(rename = "type")]
        kind: ActivityKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
        status: ActivityStatus,
        source: Source,
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_ms: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
        timestamp: Timestamp,
    },
}

impl DomainEvent {
    /// The event's name on the `/events` stream.
    pub fn name(&self) -> String {
        match self {
            Self::ServerChanged { .. } | Self::ConnectionChanged { .. } => {
                "servers.changed".to_owned()
            }
            Self::ConfigReloaded { .. } => "config.reloaded".to_owned(),
            Self::ToolsDiscovered { .. } => "tools.discovered".to_owned(),
            Self::ToolsIndexed { .. } => "tools.indexed".to_owned(),
            Self::ToolApprovalChanged { .. } => "tools.approval_changed".to_owned(),
            Self::PromptApprovalChanged { .. } => "prompts.approval_changed".to_owned(),
            Self::AuthRequired { .. } => "oauth.login_required".to_owned(),
            Self::LoginStarted { .. } => "oauth.login_started".to_owned(),
            Self::TokenRefreshed { .. } => "oauth.token_refreshed".to_owned(),
            Self::RefreshFailed { .. } => "oauth.refresh_failed".to_owned(),
            Self::SecretChanged { .. } => "secrets.changed".to_owned(),
            Self::SensitiveDataDetected { .. } => "sensitive_data.detected".to_owned(),
            Self::ActiveProfileChanged { .. } => "active_profile.changed".to_owned(),
            Self::ActivityRecorded { kind, .. } => format!("activity.{}", kind.as_str()),
        }
    }

    /// The name the Go MCPProxy gives this event on `/events` where it differs from ours:
    /// scripts written for it listen for these, so both are sent.
    pub fn go_name(&self) -> Option<&'static str> {
        match self {
            Self::ActivityRecorded { kind, .. } => match kind {
                ActivityKind::ToolCall => Some("activity.tool_call.completed"),
                ActivityKind::SystemStart => Some("activity.system.start"),
                ActivityKind::SystemStop => Some("activity.system.stop"),
                _ => None,
            },
            _ => None,
        }
    }

    /// The server the event is about, if any.
    pub fn server(&self) -> Option<&ServerName> {
        match self {
            Self::ServerChanged { server, .. }
            | Self::ConnectionChanged { server, .. }
            | Self::ToolsDiscovered { server, .. }
            | Self::ToolsIndexed { server, .. }
            | Self::ToolApprovalChanged { server, .. }
            | Self::PromptApprovalChanged { server, .. }
            | Self::AuthRequired { server, .. }
            | Self::LoginStarted { server, .. }
            | Self::TokenRefreshed { server, .. }
            | Self::RefreshFailed { server, .. } => Some(server),
            Self::ConfigReloaded { .. }
            | Self::SecretChanged { .. }
            | Self::SensitiveDataDetected { .. }
            | Self::ActiveProfileChanged { .. }
            | Self::ActivityRecorded { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_payloads() {
        let e = DomainEvent::ServerChanged {
            server: ServerName::parse("gh").unwrap(),
            change: ServerChange::Enabled,
        };
        assert_eq!(e.name(), "servers.changed");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"server": "gh", "change": "enabled"})
        );
        let a = DomainEvent::ActivityRecorded {
            id: "01J".into(),
            kind: ActivityKind::ToolCall,
            server_name: None,
            tool_name: None,
            status: ActivityStatus::Success,
            source: Source::Cli,
            duration_ms: None,
            error_message: None,
            timestamp: Timestamp::from_millis(0),
        };
        assert_eq!(a.name(), "activity.tool_call");
    }
}
