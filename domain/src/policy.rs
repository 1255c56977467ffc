//! The admission rule: may this caller use this tool — or this server — now?
//!
//! Every surface asks [`admit`] and nothing else: a tool call (MCP, REST, CLI), the relay of
//! prompts and resources, `retrieve_tools` and `describe_tool`, `tools/list` of every MCP
//! endpoint, and the REST tool listing. A tool is listed or found exactly when a call to it
//! would be admitted (a listing asks with [`Purpose::Discover`], a call with
//! [`Purpose::Call`]; the two differ only in what needs a call: the variant the agent chose
//! and a connection to carry it).
//!
//! The inputs are plain facts: the caller ([`Caller`]: who, through which door, within which
//! [`Scope`]), the server's [`ServerSettings`] (enabled, quarantined, its tool filter) and
//! connection state, and the tool ([`ToolFacts`]: annotations and its approval state as it
//! is now). The answer is [`Admitted`] (with a warning for the record, if any) or a
//! [`Refusal`], whose [`Refusal::code`] is the reason code agents and scripts see
//! (`QUARANTINED_SERVER_BLOCKED`, `TOOL_QUARANTINED`, …).
//!
//! The checks, in order — the first that fails answers:
//! 1. the caller's scope: is the server in every grant's server set?
//! 2. the server exists, is enabled, is not quarantined;
//! 3. (a tool) the server offers it;
//! 4. the caller's permission tier covers the tool (its `call_with` variant, or the variant
//!    used if higher);
//! 5. the variant used agrees with the tool's annotations (a read or write call on a
//!    destructive tool is refused in strict mode, else admitted with a warning);
//! 6. the tool is approved as it is now (not `pending`, not `changed`);
//! 7. the server's config lets the tool through (`enabled_tools` / `disabled_tools`);
//! 8. (a call) the server is connected, or will reconnect for it (`reconnect_on_use`).
//!
//! Callers are made at the edge: the MCP endpoints (`Caller::agent()` per session today), the
//! REST API (a person on the unix socket, a key holder on TCP; `source` says `cli` or `api`),
//! and the proxy itself (`Caller::proxy()`). The application's config gates
//! (`mcpproxy_application::gates`) take the same caller.
//!
//! # Plugging in
//! - **Agent tokens** (scope and permission tier): a token becomes a [`Grant`] with its name as
//!   the [`GrantOrigin`], its allowed servers as the [`ServerSet`] and its permissions as the
//!   highest [`CallVariant`] it may use; `Caller::agent().within(grant)` is the token's caller
//!   (the key check can put it in the request's extensions, where the MCP handlers read
//!   their request context). Nothing else changes: every listing and call already asks with a
//!   caller, and the gates refuse administration to a caller under a scope.
//! - **Profiles**: a profile is one more grant (`GrantOrigin::Profile`, its servers, tier
//!   `Destructive`); a caller holds every grant it is under and each must allow (their
//!   intersection), and a refusal names the grant that refused.
//! - **Per-tool switches**: they belong to the server's [`crate::settings::ToolFilter`],
//!   which this rule consults (check 7).
//! - **Code execution**: each tool call a script makes is admitted as a call by the caller who
//!   runs the script, with the variant the script's call API names.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::activity::Source;
use crate::approval::ApprovalState;
use crate::call::{CallVariant, Intent};
use crate::connection::ConnectionState;
use crate::name::ServerName;
use crate::settings::ServerSettings;
use crate::tool::ToolAnnotations;

/// Who is asking, in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// An AI agent over MCP.
    Agent,
    /// A person at this machine: the unix socket (same user only), the CLI, the tray.
    Person,
    /// A holder of the API key over TCP: scripts, the web UI from elsewhere.
    KeyHolder,
    /// The proxy itself (logins a server asks for, trust rules).
    Proxy,
}

/// Whose limits a grant carries; named in refusals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantOrigin {
    /// An agent token, by its name.
    Token(String),
    /// A profile, by its name.
    Profile(String),
}

impl fmt::Display for GrantOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(name) => write!(f, "agent token '{name}'"),
            Self::Profile(name) => write!(f, "profile '{name}'"),
        }
    }
}

/// The servers a grant reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerSet {
    All,
    Only(BTreeSet<ServerName>),
}

impl ServerSet {
    pub fn contains(&self, server: &ServerName) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(server),
        }
    }
}

/// One limit a caller is under: the servers it reaches and the highest call variant it may
/// use (read < write < destructive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub origin: GrantOrigin,
    pub servers: ServerSet,
    pub tier: CallVariant,
}

/// Every limit a caller is under; each must allow. No grant: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    grants: Arc<[Grant]>,
}

impl Scope {
    pub fn unlimited() -> Self {
        Self::default()
    }

    pub fn is_unlimited(&self) -> bool {
        self.grants.is_empty()
    }

    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    fn with(&self, grant: Grant) -> Self {
        let mut grants = self.grants.to_vec();
        grants.push(grant);
        Self {
            grants: grants.into(),
        }
    }
}

/// Who asks: its kind, the door it came through (for the record), and its scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    kind: CallerKind,
    source: Source,
    scope: Scope,
}

impl Caller {
    pub fn new(kind: CallerKind, source: Source) -> Self {
        Self {
            kind,
            source,
            scope: Scope::unlimited(),
        }
    }

    /// An agent over MCP, unlimited (what every MCP client is until agent tokens exist).
    pub fn agent() -> Self {
        Self::new(CallerKind::Agent, Source::Mcp)
    }

    /// The proxy acting on its own.
    pub fn proxy() -> Self {
        Self::new(CallerKind::Proxy, Source::Internal)
    }

    /// This caller, also under `grant`.
    #[must_use]
    pub fn within(mut self, grant: Grant) -> Self {
        self.scope = self.scope.with(grant);
        self
    }

    pub fn kind(&self) -> CallerKind {
        self.kind
    }

    pub fn source(&self) -> Source {
        self.source
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl Default for Caller {
    fn default() -> Self {
        Self::agent()
    }
}

/// The caller a door implies, unlimited: MCP is an agent, the CLI a person, the REST API a
/// key holder, `internal` the proxy.
impl From<Source> for Caller {
    fn from(source: Source) -> Self {
        let kind = match source {
            Source::Mcp => CallerKind::Agent,
            Source::Cli => CallerKind::Person,
            Source::Api => CallerKind::KeyHolder,
            Source::Internal => CallerKind::Proxy,
        };
        Self::new(kind, source)
    }
}

impl From<&Caller> for Caller {
    fn from(caller: &Caller) -> Self {
        caller.clone()
    }
}

/// What the caller wants to do with what it asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// See it: `tools/list`, search, `describe_tool`, listings; the relay of a server's
    /// prompts and resources.
    Discover,
    /// Call it, with the `call_tool_*` variant used (`None`: direct mode, the per-server
    /// endpoint, REST by name).
    Call(Option<CallVariant>),
}

/// What the proxy knows of a tool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolFacts<'a> {
    pub annotations: &'a ToolAnnotations,
    /// Its approval as it is now (`approved` only if its current fingerprint is the approved
    /// one: see [`crate::approval::ToolApproval::state_for`]).
    pub approval: ApprovalState,
}

/// What is asked about: a server (the relay), or one of its tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    Server,
    /// A tool by name, with its facts when the server offers it.
    Tool {
        name: &'a str,
        facts: Option<ToolFacts<'a>>,
    },
}

/// One question to the rule.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub caller: &'a Caller,
    pub purpose: Purpose,
    pub server_name: &'a ServerName,
    /// `None`: no such server is configured.
    pub server: Option<&'a ServerSettings>,
    /// The server's connection, when known; only a call looks at it.
    pub connection: Option<ConnectionState>,
    pub subject: Subject<'a>,
    /// `intent_declaration.strict_server_validation`.
    pub strict_intent: bool,
}

/// A yes, with what the record should note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub warning: Option<Warning>,
}

/// A call that is admitted but not quite right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// A read or write call on a destructive tool (outside strict mode).
    DestructiveVariant { used: CallVariant },
    /// A write call on a tool its server marks read-only.
    ReadOnlyTool,
}

impl Warning {
    /// What the record notes about a call to `tool_id` (`server:tool`).
    pub fn message(&self, tool_id: &str) -> String {
        match *self {
            Self::DestructiveVariant { used } => crate::call::IntentError::DestructiveTool {
                tool: tool_id.to_owned(),
                used,
            }
            .to_string(),
            Self::ReadOnlyTool => format!(
                "Tool '{tool_id}' is marked read-only by its server; call_tool_read is enough."
            ),
        }
    }
}

/// A no, and why. [`Refusal::code`] is what agents and scripts match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server is outside a grant the caller is under.
    OutOfScope {
        origin: GrantOrigin,
    },
    /// The tool needs a higher permission tier than a grant allows.
    TierTooLow {
        origin: GrantOrigin,
        needed: CallVariant,
        allowed: CallVariant,
    },
    UnknownServer,
    ServerDisabled,
    ServerQuarantined,
    UnknownTool,
    /// A read or write call on a destructive tool, in strict mode.
    WrongVariant {
        used: CallVariant,
        needed: CallVariant,
    },
    /// The server's config (`enabled_tools` / `disabled_tools`) hides the tool.
    ToolDisabled,
    /// Not approved as it is now: `pending` (new) or `changed` (a possible rug pull).
    NotApproved(ApprovalState),
    /// Not connected, and it will not reconnect for this call.
    Unavailable(ConnectionState),
}

impl Refusal {
    /// The reason code: the Go MCPProxy's where it has one (`QUARANTINED_SERVER_BLOCKED`,
    /// `TOOL_QUARANTINED`), the same style elsewhere.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OutOfScope { .. } => "SERVER_NOT_IN_SCOPE",
            Self::TierTooLow { .. } => "INSUFFICIENT_PERMISSION",
            Self::UnknownServer => "UNKNOWN_SERVER",
            Self::ServerDisabled => "SERVER_DISABLED",
            Self::ServerQuarantined => "QUARANTINED_SERVER_BLOCKED",
            Self::UnknownTool => "UNKNOWN_TOOL",
            Self::WrongVariant { .. } => "INTENT_MISMATCH",
            Self::ToolDisabled => "TOOL_DISABLED",
            Self::NotApproved(_) => "TOOL_QUARANTINED",
            Self::Unavailable(_) => "SERVER_UNAVAILABLE",
        }
    }

    /// Whether only the server's tool filter stands in the way: search may still show such
    /// a tool, marked disabled, when asked to (`include_disabled`).
    pub fn is_tool_filter(&self) -> bool {
        matches!(self, Self::ToolDisabled)
    }
}

/// Every grant must reach the server.
fn check_scope(caller: &Caller, server: &ServerName) -> Result<(), Refusal> {
    match caller
        .scope
        .grants
        .iter()
        .find(|g| !g.servers.contains(server))
    {
        Some(g) => Err(Refusal::OutOfScope {
            origin: g.origin.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether a call can go out over this connection now, or after the reconnect
/// `reconnect_on_use` asks for.
fn reachable(state: ConnectionState, reconnect_on_use: bool) -> bool {
    state.is_connected()
        || (reconnect_on_use
            && matches!(
                state,
                ConnectionState::Error | ConnectionState::Disconnected
            ))
}

/// The rule. See the module documentation for the order of the checks.
pub fn admit(ask: &Ask<'_>) -> Result<Admitted, Refusal> {
    check_scope(ask.caller, ask.server_name)?;
    let server = ask.server.ok_or(Refusal::UnknownServer)?;
    if !server.enabled {
        return Err(Refusal::ServerDisabled);
    }
    if server.quarantined {
        return Err(Refusal::ServerQuarantined);
    }
    let Subject::Tool { name, facts } = ask.subject else {
        return Ok(Admitted::default());
    };
    let facts = facts.ok_or(Refusal::UnknownTool)?;
    let call_with = facts.annotations.call_with();
    let used = match ask.purpose {
        Purpose::Call(Some(v)) => Some(v),
        Purpose::Call(None) | Purpose::Discover => None,
    };
    let needed = used.map_or(call_with, |v| v.max(call_with));
    if let Some(g) = ask.caller.scope.grants.iter().find(|g| g.tier < needed) {
        return Err(Refusal::TierTooLow {
            origin: g.origin.clone(),
            needed,
            allowed: g.tier,
        });
    }
    let warning = match used.map(|v| (v, v.intent(facts.annotations, ask.strict_intent))) {
        Some((v, Intent::Refused)) => {
            return Err(Refusal::WrongVariant {
                used: v,
                needed: call_with,
            });
        }
        Some((v, Intent::WarnDestructive)) => Some(Warning::DestructiveVariant { used: v }),
        Some((_, Intent::WarnReadOnly)) => Some(Warning::ReadOnlyTool),
        Some((_, Intent::Allowed)) | None => None,
    };
    if facts.approval != ApprovalState::Approved {
        return Err(Refusal::NotApproved(facts.approval));
    }
    // Last of what a listing asks: a refusal here means only the filter stands in the way.
    if !server.tools.allows(name) {
        return Err(Refusal::ToolDisabled);
    }
    if let (Purpose::Call(_), Some(state)) = (ask.purpose, ask.connection)
        && !reachable(state, server.reconnect_on_use)
    {
        return Err(Refusal::Unavailable(state));
    }
    Ok(Admitted { warning })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
