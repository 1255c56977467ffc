//! The config gates: which changes people and agents may make, decided here for every
//! surface (MCP tools, REST, the CLI, the web panel, the tray), so each refuses the same
//! action with the same [`Gate::code`].
//!
//! `disable_management` and `read_only_mode` hold every change: the config, the servers'
//! connections (restart, rediscover), tool and prompt approvals, logins and logouts, the
//! API key, and the proxy's entry in AI clients' config files (connect, disconnect).
//! Reading is never gated. `allow_server_add` / `allow_server_remove` hold adding and
//! removing servers, `enable_prompts` the relay of prompts. Two rules are about who asks:
//! agents may not lift a quarantine nor change a server's trust (a person decides that a
//! server is safe), and a caller under a scope (an agent token) may not administer at all. The proxy acting on its own
//! (a login a server asks for) passes. Replaying a recorded tool call is held by
//! `read_only_mode` only when the tool could change something (it does not declare
//! `readOnlyHint`).

use mcpproxy_domain::{Caller, CallerKind, Settings};
use serde::Serialize;

/// What a caller wants to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddServer,
    RemoveServer,
    /// Change a server's entry or the config (patch, enable, disable, quarantine, apply).
    ChangeConfig,
    /// Lift a server's quarantine.
    Unquarantine,
    /// Change how far a server is trusted (quarantine, `trust_mode`, `added_by`, ...).
    ChangeTrust,
    /// Act on a running connection: restart, rediscover its tools.
    Reconnect,
    /// Approve or block tools.
    ApproveTools,
    /// Log in to a server, or out of it.
    Authenticate,
    /// Replace the API key.
    ResetApiKey,
    /// Offer the management tools (`upstream_servers`, `quarantine_security`) to an agent.
    OfferManagementTools,
    /// Relay the servers' prompts.
    UsePrompts,
    /// Create, see, revoke, regenerate or delete agent tokens: never for a scoped caller;
    /// held by `read_only_mode` like every change, but not by `disable_management` (tokens
    /// are credentials, not server management).
    ManageTokens,
    /// Write the proxy's entry into an AI client's config file, or take it out: a change on
    /// this machine made by the proxy (and one that may carry the API key), so it is held
    /// like a change of the proxy's own config.
    ConnectClients,
    /// Run a recorded tool call again (`POST /tool-calls/{id}/replay`): a person's debugging
    /// tool, never an agent token's. `mutating` unless the tool declares `readOnlyHint`:
    /// `read_only_mode` holds a replay that could change something (re-running a read changes
    /// nothing), `disable_management` does not (it is about managing servers).
    ReplayCall {
        mutating: bool,
    },
}

/// A gate that refused an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    ReadOnly,
    ManagementDisabled,
    AddNotAllowed,
    RemoveNotAllowed,
    PromptsDisabled,
    /// Agents may not lift a quarantine: that is a person's decision.
    UnquarantineOverMcp,
    /// Agents may not change how far a server is trusted.
    TrustOverMcp,
    /// A caller under a scope (an agent token) may not administer.
    AdminOnly,
}

impl Gate {
    /// The reason code every surface shows.
    pub fn code(self) -> &'static str {
        match self {
            Self::ReadOnly => "READ_ONLY_MODE",
            Self::ManagementDisabled => "MANAGEMENT_DISABLED",
            Self::AddNotAllowed => "SERVER_ADD_NOT_ALLOWED",
            Self::RemoveNotAllowed => "SERVER_REMOVE_NOT_ALLOWED",
            Self::PromptsDisabled => "PROMPTS_DISABLED",
            Self::UnquarantineOverMcp => "UNQUARANTINE_NOT_ALLOWED",
            Self::TrustOverMcp => "TRUST_CHANGE_NOT_ALLOWED",
            Self::AdminOnly => "ADMIN_ONLY",
        }
    }

    /// What was refused and what to do.
    pub fn message(self) -> &'static str {
        match self {
            Self::ReadOnly => {
                "the proxy is in read-only mode (read_only_mode): servers, tools, approvals and the configuration cannot be changed; turn read_only_mode off in the config file (or start without --read-only)"
            }
            Self::ManagementDisabled => {
                "server management is disabled (disable_management); change it in the config file"
            }
            Self::AddNotAllowed => "adding servers is not allowed (allow_server_add is false)",
            Self::RemoveNotAllowed => {
                "removing servers is not allowed (allow_server_remove is false)"
            }
            Self::PromptsDisabled => "prompts are turned off on this proxy (enable_prompts)",
            Self::UnquarantineOverMcp => {
                "a quarantine can only be lifted by a person: use the web UI, the tray, `mcpproxy upstream unquarantine`, or the REST API"
            }
            Self::TrustOverMcp => {
                "an agent may not change how far a server is trusted (quarantined, trust_mode, auto_approve_tool_changes, skip_quarantine, added_by); a person does that with the CLI, the REST API or the web UI"
            }
            Self::AdminOnly => {
                "this operation needs the admin API key; an agent token may discover and call tools but not administer"
            }
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Gate {}

/// Whether `caller` may do `action` under `settings`.
pub fn check(settings: &Settings, action: Action, caller: &Caller) -> Result<(), Gate> {
    let gates = settings.gates;
    if action == Action::UsePrompts {
        return if gates.enable_prompts {
            Ok(())
        } else {
            Err(Gate::PromptsDisabled)
        };
    }
    if caller.kind() == CallerKind::Proxy {
        return Ok(());
    }
    if !caller.scope().is_unlimited() {
        return Err(Gate::AdminOnly);
    }
    if let Action::ReplayCall { mutating } = action {
        return if mutating && gates.read_only {
            Err(Gate::ReadOnly)
        } else {
            Ok(())
        };
    }
    if gates.disable_management && action != Action::ManageTokens {
        return Err(Gate::ManagementDisabled);
    }
    if gates.read_only {
        return Err(Gate::ReadOnly);
    }
    match action {
        Action::AddServer if !gates.allow_server_add => Err(Gate::AddNotAllowed),
        Action::RemoveServer if !gates.allow_server_remove => Err(Gate::RemoveNotAllowed),
        Action::Unquarantine if caller.kind() == CallerKind::Agent => {
            Err(Gate::UnquarantineOverMcp)
        }
        Action::ChangeTrust if caller.kind() == CallerKind::Agent => Err(Gate::TrustOverMcp),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_domain::activity::Source;
    use mcpproxy_domain::policy::{Grant, GrantOrigin, ServerSet};
    use mcpproxy_domain::{CallVariant, Config};

    fn settings(tweak: impl FnOnce(&mut Config)) -> Settings {
        let mut config = Config::default();
        tweak(&mut config);
        Settings::from_config(&config)
    }

    const CHANGES: [Action; 11] = [
        Action::ChangeTrust,
        Action::AddServer,
        Action::RemoveServer,
        Action::ChangeConfig,
        Action::Unquarantine,
        Action::Reconnect,
        Action::ApproveTools,
        Action::Authenticate,
        Action::ResetApiKey,
        Action::OfferManagementTools,
        Action::ConnectClients,
    ];

    #[test]
    fn read_only_and_disabled_management_hold_every_change_for_everyone() {
        let read_only = settings(|c| c.read_only_mode = true);
        let disabled = settings(|c| {
            c.disable_management = true;
            c.read_only_mode = true;
        });
        for source in [Source::Mcp, Source::Cli, Source::Api] {
            let caller = Caller::from(source);
            for action in CHANGES {
                assert_eq!(
                    check(&read_only, action, &caller),
                    Err(Gate::ReadOnly),
                    "{action:?}"
                );
                assert_eq!(
                    check(&disabled, action, &caller),
                    Err(Gate::ManagementDisabled),
                    "{action:?}"
                );
            }
            assert_eq!(check(&read_only, Action::UsePrompts, &caller), Ok(()));
        }
        // The proxy's own logins still happen.
        assert_eq!(
            check(&read_only, Action::Authenticate, &Caller::proxy()),
            Ok(())
        );
    }

    #[test]
    fn add_remove_and_prompts_have_their_own_switches() {
        let s = settings(|c| {
            c.allow_server_add = false;
            c.allow_server_remove = false;
            c.enable_prompts = false;
        });
        let person = Caller::from(Source::Cli);
        assert_eq!(
            check(&s, Action::AddServer, &person),
            Err(Gate::AddNotAllowed)
        );
        assert_eq!(
            check(&s, Action::RemoveServer, &person),
            Err(Gate::RemoveNotAllowed)
        );
        assert_eq!(
            check(&s, Action::UsePrompts, &person),
            Err(Gate::PromptsDisabled)
        );
        assert_eq!(check(&s, Action::ChangeConfig, &person), Ok(()));
    }

    #[test]
    fn agents_may_not_lift_a_quarantine_and_tokens_may_not_administer() {
        let s = settings(|_| {});
        assert_eq!(
            check(&s, Action::Unquarantine, &Caller::agent()),
            Err(Gate::UnquarantineOverMcp)
        );
        assert_eq!(
            check(&s, Action::Unquarantine, &Caller::from(Source::Api)),
            Ok(())
        );
        let bot = Caller::agent().within(Grant {
            origin: GrantOrigin::Token("bot".into()),
            servers: ServerSet::All,
            tier: CallVariant::Destructive,
        });
        for action in CHANGES.into_iter().chain([Action::ManageTokens]) {
            assert_eq!(check(&s, action, &bot), Err(Gate::AdminOnly), "{action:?}");
        }
        // Tokens are credentials: disable_management leaves them to people, read-only not.
        let off = settings(|c| c.disable_management = true);
        let person = Caller::from(Source::Cli);
        assert_eq!(check(&off, Action::ManageTokens, &person), Ok(()));
        let frozen = settings(|c| c.read_only_mode = true);
        assert_eq!(
            check(&frozen, Action::ManageTokens, &person),
            Err(Gate::ReadOnly)
        );
    }

    #[test]
    fn read_only_mode_holds_a_replay_that_could_change_something() {
        let frozen = settings(|c| c.read_only_mode = true);
        let person = Caller::from(Source::Cli);
        let write = Action::ReplayCall { mutating: true };
        let read = Action::ReplayCall { mutating: false };
        assert_eq!(check(&frozen, write, &person), Err(Gate::ReadOnly));
        assert_eq!(check(&frozen, read, &person), Ok(()));
        let open = settings(|c| c.disable_management = true);
        assert_eq!(check(&open, write, &person), Ok(()));
        let bot = Caller::agent().within(Grant {
            origin: GrantOrigin::Token("bot".into()),
            servers: ServerSet::All,
            tier: CallVariant::Destructive,
        });
        assert_eq!(check(&open, read, &bot), Err(Gate::AdminOnly));
    }

    #[test]
    fn every_gate_has_its_own_code() {
        let all = [
            Gate::ReadOnly,
            Gate::ManagementDisabled,
            Gate::AddNotAllowed,
            Gate::RemoveNotAllowed,
            Gate::PromptsDisabled,
            Gate::UnquarantineOverMcp,
            Gate::AdminOnly,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|g| g.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
