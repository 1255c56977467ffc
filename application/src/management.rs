//! Managing upstream servers: the one service behind REST, the CLI, the MCP `upstream_servers`
//! and `quarantine_security` tools, and the tray.
//!
//! Every change asks the config gates ([`crate::gates`]: `read_only_mode`,
//! `disable_management`, `allow_server_add`, `allow_server_remove`, who may lift a
//! quarantine) here, and the quarantine rules for new servers are applied here and only here,
//! so no interface can forget them. Each use case takes its caller (`impl Into<Caller>`: a
//! [`Source`] names an unlimited caller of that door).

use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::launch::{ADDED_BY_AGENT, added_by};
use mcpproxy_domain::merge::merge_patch;
use mcpproxy_domain::redact;
use mcpproxy_domain::{
    Caller, CallerKind, Config, ConnectionState, DomainEvent, ServerChange, ServerConfig,
    ServerName, TrustMode, ValidationError,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::activity::{ActivityDraft, ActivityLog};
pub use crate::gates::Gate;
use crate::gates::{self, Action};
use crate::launch::{Hold, hold};
use crate::ports::{
    ApprovalRepository, Clock, ConfigStore, ConfigStoreError, EventPublisher, ServerRepository,
    ServerRuntime, StorageError, UpstreamError, UpstreamPool, join,
};
use crate::settings::LiveSettings;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManagementError {
    #[error("server {0:?} not found; `mcpproxy upstream list` shows the configured servers")]
    NotFound(String),
    #[error("a server named {0:?} already exists; choose another name, or patch the existing one")]
    AlreadyExists(String),
    #[error("invalid server: {}", join(.0))]
    Invalid(Vec<ValidationError>),
    #[error("{0}")]
    Forbidden(Gate),
    /// The server may not be started now (see [`crate::launch`]).
    #[error("{}", .hold.explain(.server))]
    Held { server: String, hold: Hold },
    #[error(transparent)]
    Config(#[from] ConfigStoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Whether a server added now starts quarantined: unless quarantine is off, or the person
/// adding it vouches for it (`--no-quarantine`, `trust_mode: auto`). An agent cannot vouch
/// for the server it adds: what it adds waits for a person, whatever the config says about
/// quarantine, or anything that reaches /mcp could run a command.
pub(crate) fn starts_quarantined(
    config: &Config,
    server: &ServerConfig,
    skip_quarantine: bool,
    agent: bool,
) -> bool {
    let trusted_by_mode = server.effective_trust_mode() == TrustMode::Auto;
    agent || (config.quarantine_enabled() && !skip_quarantine && !trusted_by_mode)
}

/// A new server and how to admit it.
#[derive(Debug, Clone, PartialEq)]
pub struct AddServer {
    pub config: ServerConfig,
    /// The caller asks to skip quarantine (`--no-quarantine`, or an explicit
    /// `"quarantined": false`). Ignored for agents.
    pub skip_quarantine: bool,
}

/// A server as shown to people and agents: its config with secrets masked, and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerView {
    pub name: ServerName,
    pub enabled: bool,
    pub quarantined: bool,
    pub connected: bool,
    pub status: String,
    pub tool_count: usize,
    pub last_error: Option<String>,
    pub protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    pub oauth: bool,
    pub trust_mode: TrustMode,
    /// How a stdio server is isolated (none, Docker and its image, sandbox); absent for
    /// remote servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<mcpproxy_domain::IsolationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Who added the server (or last changed how it starts): `mcp` (an agent), `cli`, `api`;
    /// absent for servers written into the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    /// Why the server is not started, when it is held back (disabled, or added by an agent
    /// and waiting for a person's review).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
}

impl ServerView {
    fn new(all: &Config, config: &ServerConfig, runtime: Option<&ServerRuntime>) -> Self {
        let state = match runtime {
            Some(r) => r.state,
            None => ConnectionState::Disconnected,
        };
        let mask_map = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), redact::mask(v)))
                .collect()
        };
        Self {
            name: config.name.clone(),
            enabled: config.enabled,
            quarantined: config.is_quarantined(),
            connected: state.is_connected(),
            status: if config.enabled {
                state.label().to_owned()
            } else {
                "Disabled".to_owned()
            },
            tool_count: runtime.map_or(0, |r| r.tool_count),
            last_error: runtime.and_then(|r| r.last_error.clone()),
            protocol: config
                .transport()
                .map_or_else(|_| config.protocol.clone(), |t| t.as_str().to_owned()),
            command: config.command.clone(),
            args: config.args.clone(),
            url: redact::url(&config.url),
            working_dir: config.working_dir.clone(),
            env: mask_map(&config.env),
            headers: mask_map(&config.headers),
            oauth: config.oauth.is_some(),
            trust_mode: config.effective_trust_mode(),
            isolation: crate::isolation::isolation_view(all, config),
            created: config.created.clone(),
            updated: config.updated.clone(),
            added_by: config.added_by.clone(),
            not_started: hold(config).map(|h| h.explain(config.name.as_str())),
        }
    }
}

/// The outcome of an operation on every server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkResult {
    pub total: usize,
    pub successful: usize,
    pub failed: usize,
    pub errors: Vec<BulkError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkError {
    pub server: String,
    pub error: String,
}

pub struct ManagementService {
    config: Arc<dyn ConfigStore>,
    settings: LiveSettings,
    servers: Arc<dyn ServerRepository>,
    approvals: Arc<dyn ApprovalRepository>,
    upstream: Arc<dyn UpstreamPool>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
    clock: Arc<dyn Clock>,
    /// Serialises read-modify-save of the config so concurrent changes are not lost.
    write: Mutex<()>,
}

impl std::fmt::Debug for ManagementService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementService").finish_non_exhaustive()
    }
}

impl ManagementService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<dyn ConfigStore>,
        servers: Arc<dyn ServerRepository>,
        approvals: Arc<dyn ApprovalRepository>,
        upstream: Arc<dyn UpstreamPool>,
        events: Arc<dyn EventPublisher>,
        activity: Arc<ActivityLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings: LiveSettings::new(config.clone()),
            config,
            servers,
            approvals,
            upstream,
            events,
            activity,
            clock,
            write: Mutex::new(()),
        }
    }

    /// Whether `caller` may do `action` under the settings in force.
    pub(crate) fn gate(&self, action: Action, caller: &Caller) -> Result<(), ManagementError> {
        gates::check(&self.settings.current(), action, caller).map_err(ManagementError::Forbidden)
    }

    /// Whether the config may be changed now (`read_only_mode`, `disable_management`); for
    /// use cases that change what servers run with outside the file (keyring secrets).
    pub fn check_config_change(&self, caller: &Caller) -> Result<(), ManagementError> {
        self.gate(Action::ChangeConfig, caller)
    }

    /// Refuses to reach a server an agent added before a person reviewed it.
    fn startable(server: &ServerConfig) -> Result<(), ManagementError> {
        match hold(server) {
            Some(h @ Hold::AwaitingReview) => Err(ManagementError::Held {
                server: server.name.to_string(),
                hold: h,
            }),
            _ => Ok(()),
        }
    }

    fn parse_name(name: &str) -> Result<ServerName, ManagementError> {
        ServerName::parse(name).map_err(|_| ManagementError::NotFound(name.to_owned()))
    }

    pub async fn list_servers(&self) -> Result<Vec<ServerView>, ManagementError> {
        let config = self.config.current();
        let runtime = self.servers.all_runtime().await?;
        Ok(config
            .servers
            .iter()
            .map(|s| ServerView::new(&config, s, runtime.iter().find(|r| r.name == s.name)))
            .collect())
    }

    pub async fn get_server(&self, name: &str) -> Result<ServerView, ManagementError> {
        let name = Self::parse_name(name)?;
        let config = self.config.current();
        let server = config
            .server(&name)
            .ok_or_else(|| ManagementError::NotFound(name.to_string()))?;
        let runtime = self.servers.runtime(&name).await?;
        Ok(ServerView::new(&config, server, runtime.as_ref()))
    }

    /// Applies `change` to a copy of the config in force and saves it, under the write lock,
    /// if the gates let `caller` do `action`.
    async fn modify<T>(
        &self,
        action: Action,
        caller: &Caller,
        change: impl FnOnce(&mut Config) -> Result<T, ManagementError>,
    ) -> Result<T, ManagementError> {
        let _guard = self.write.lock().await;
        self.gate(action, caller)?;
        let mut config = (*self.config.current()).clone();
        let out = change(&mut config)?;
        self.config.save(config).await?;
        Ok(out)
    }

    fn changed(&self, server: &ServerName, change: ServerChange) {
        self.events.publish(DomainEvent::ServerChanged {
            server: server.clone(),
            change,
        });
    }

    async fn audit(&self, kind: ActivityKind, source: Source, server: &ServerName, what: &str) {
        let draft = ActivityDraft::new(kind, source, ActivityStatus::Success)
            .server(server.as_str())
            .meta("action", what);
        self.activity.record_or_log(draft).await;
    }

    pub async fn add_server(
        &self,
        request: AddServer,
        caller: impl Into<Caller>,
    ) -> Result<ServerView, ManagementError> {
        let caller = caller.into();
        let source = caller.source();
        let agent = caller.kind() == CallerKind::Agent;
        let now = self.clock.now().to_string();
        let added = self
            .modify(Action::AddServer, &caller, |config| {
                let mut server = request.config;
                if config.server(&server.name).is_some() {
                    return Err(ManagementError::AlreadyExists(server.name.to_string()));
                }
                let mut errors = server.validate("server");
                if let Some(refusal) = server.name.refusal_for_new() {
                    errors.push(ValidationError::new("server.name", refusal.to_string()));
                }
                if !errors.is_empty() {
                    return Err(ManagementError::Invalid(errors));
                }
                server.quarantined = Some(starts_quarantined(
                    config,
                    &server,
                    request.skip_quarantine,
                    agent,
                ));
                server.added_by = Some(added_by(source).to_owned());
                server.created = Some(now.clone());
                server.updated = Some(now);
                config.servers.push(server.clone());
                Ok(server)
            })
            .await?;
        self.changed(&added.name, ServerChange::Added);
        self.audit(ActivityKind::ServerChange, source, &added.name, "add")
            .await;
        if added.is_quarantined() {
            self.audit(
                ActivityKind::QuarantineChange,
                source,
                &added.name,
                "quarantine",
            )
            .await;
        }
        Ok(ServerView::new(&self.config.current(), &added, None))
    }

    pub async fn remove_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        let caller = caller.into();
        let source = caller.source();
        let name = Self::parse_name(name)?;
        self.modify(Action::RemoveServer, &caller, |config| {
            let before = config.servers.len();
            config.servers.retain(|s| s.name != name);
            if config.servers.len() == before {
                return Err(ManagementError::NotFound(name.to_string()));
            }
            Ok(())
        })
        .await?;
        // A server added again later under this name starts from nothing: old approvals
        // must not vouch for whatever the new one offers.
        self.servers.delete(&name).await?;
        self.approvals.delete_server(&name).await?;
        self.changed(&name, ServerChange::Removed);
        self.audit(ActivityKind::ServerChange, source, &name, "remove")
            .await;
        Ok(())
    }

    /// Merges `patch` into the server's entry: objects merge, arrays replace, `null` removes.
    pub async fn patch_server(
        &self,
        name: &str,
        patch: &Value,
        caller: impl Into<Caller>,
    ) -> Result<ServerView, ManagementError> {
        let caller = caller.into();
        let source = caller.source();
        let agent = caller.kind() == CallerKind::Agent;
        let name = Self::parse_name(name)?;
        if !patch.is_object() {
            return Err(ManagementError::Invalid(vec![ValidationError::new(
                "patch",
                "must be a JSON object of the keys to change",
            )]));
        }
        let now = self.clock.now().to_string();
        let settings = self.settings.current();
        let (before, after) = self
            .modify(Action::ChangeConfig, &caller, |config| {
                let server = config
                    .server_mut(&name)
                    .ok_or_else(|| ManagementError::NotFound(name.to_string()))?;
                let before = server.clone();
                let mut doc = serde_json::to_value(&*server).map_err(|e| {
                    ManagementError::Invalid(vec![ValidationError::new("server", e.to_string())])
                })?;
                merge_patch(&mut doc, patch);
                let mut patched: ServerConfig = serde_json::from_value(doc).map_err(|e| {
                    ManagementError::Invalid(vec![ValidationError::new("patch", e.to_string())])
                })?;
                if patched.name != name {
                    return Err(ManagementError::Invalid(vec![ValidationError::new(
                        "name",
                        "a server cannot be renamed; remove it and add it under the new name",
                    )]));
                }
                if before.is_quarantined() && !patched.is_quarantined() {
                    gates::check(&settings, Action::Unquarantine, &caller)
                        .map_err(ManagementError::Forbidden)?;
                }
                if !before.trust_changes(&patched).is_empty() {
                    gates::check(&settings, Action::ChangeTrust, &caller)
                        .map_err(ManagementError::Forbidden)?;
                }
                // An agent's command, URL or env waits for a person like an agent's new
                // server does.
                if agent && before.start_settings_differ(&patched) {
                    patched.quarantined = Some(true);
                    patched.added_by = Some(ADDED_BY_AGENT.to_owned());
                }
                let errors = patched.validate("server");
                if !errors.is_empty() {
                    return Err(ManagementError::Invalid(errors));
                }
                patched.updated = Some(now);
                *server = patched.clone();
                Ok((before, patched))
            })
            .await?;
        self.changed(&name, ServerChange::Updated);
        self.audit(ActivityKind::ServerChange, source, &name, "update")
            .await;
        if before.is_quarantined() != after.is_quarantined() {
            let what = if after.is_quarantined() {
                "quarantine"
            } else {
                "unquarantine"
            };
            self.audit(ActivityKind::QuarantineChange, source, &name, what)
                .await;
        }
        let runtime = self.servers.runtime(&name).await?;
        Ok(ServerView::new(
            &self.config.current(),
            &after,
            runtime.as_ref(),
        ))
    }

    /// Sets one flag of a server; returns whether anything changed.
    async fn set_flag(
        &self,
        name: &ServerName,
        action: Action,
        caller: &Caller,
        set: impl FnOnce(&mut ServerConfig) -> bool,
    ) -> Result<bool, ManagementError> {
        let now = self.clock.now().to_string();
        self.modify(action, caller, |config| {
            let server = config
                .server_mut(name)
                .ok_or_else(|| ManagementError::NotFound(name.to_string()))?;
            let changed = set(server);
            if changed {
                server.updated = Some(now);
            }
            Ok(changed)
        })
        .await
    }

    pub async fn enable_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        self.set_enabled(name, true, &caller.into()).await
    }

    pub async fn disable_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        self.set_enabled(name, false, &caller.into()).await
    }

    async fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
        caller: &Caller,
    ) -> Result<(), ManagementError> {
        let source = caller.source();
        let name = Self::parse_name(name)?;
        let changed = self
            .set_flag(&name, Action::ChangeConfig, caller, |s| {
                std::mem::replace(&mut s.enabled, enabled) != enabled
            })
            .await?;
        if changed {
            let (change, what) = if enabled {
                (ServerChange::Enabled, "enable")
            } else {
                (ServerChange::Disabled, "disable")
            };
            self.changed(&name, change);
            self.audit(ActivityKind::ServerChange, source, &name, what)
                .await;
        }
        Ok(())
    }

    pub async fn quarantine_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        self.set_quarantined(name, true, &caller.into()).await
    }

    /// Lifts a quarantine. Refused to agents: an agent must not be able to trust a server
    /// on its own.
    pub async fn unquarantine_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        self.set_quarantined(name, false, &caller.into()).await
    }

    async fn set_quarantined(
        &self,
        name: &str,
        quarantined: bool,
        caller: &Caller,
    ) -> Result<(), ManagementError> {
        let source = caller.source();
        let action = if quarantined {
            Action::ChangeConfig
        } else {
            Action::Unquarantine
        };
        let name = Self::parse_name(name)?;
        let changed = self
            .set_flag(&name, action, caller, |s| {
                let was = s.is_quarantined();
                s.quarantined = Some(quarantined);
                was != quarantined
            })
            .await?;
        if changed {
            let (change, what) = if quarantined {
                (ServerChange::Quarantined, "quarantine")
            } else {
                (ServerChange::Unquarantined, "unquarantine")
            };
            self.changed(&name, change);
            self.audit(ActivityKind::QuarantineChange, source, &name, what)
                .await;
        }
        Ok(())
    }

    pub async fn restart_server(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        let caller = caller.into();
        let source = caller.source();
        let name = Self::parse_name(name)?;
        self.gate(Action::Reconnect, &caller)?;
        let config = self.config.current();
        let Some(server) = config.server(&name) else {
            return Err(ManagementError::NotFound(name.to_string()));
        };
        Self::startable(server)?;
        match self.upstream.restart(&name).await {
            // Enabled a moment ago: the pool starts it from scratch as it catches up with
            // the config, which is what a restart asks for.
            Err(UpstreamError::Disabled(_)) if server.enabled => {}
            other => other?,
        }
        self.changed(&name, ServerChange::Restarted);
        self.audit(ActivityKind::ServerChange, source, &name, "restart")
            .await;
        Ok(())
    }

    /// Reads the server's tool list again, without reconnecting.
    pub async fn discover_tools(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<(), ManagementError> {
        let name = Self::parse_name(name)?;
        self.gate(Action::Reconnect, &caller.into())?;
        let config = self.config.current();
        let Some(server) = config.server(&name) else {
            return Err(ManagementError::NotFound(name.to_string()));
        };
        Self::startable(server)?;
        self.upstream.rediscover(&name).await?;
        Ok(())
    }

    pub async fn restart_all(
        &self,
        caller: impl Into<Caller>,
    ) -> Result<BulkResult, ManagementError> {
        let caller = caller.into();
        self.gate(Action::Reconnect, &caller)?;
        let config = self.config.current();
        let mut result = BulkResult::default();
        for server in config.servers.iter().filter(|s| hold(s).is_none()) {
            result.total += 1;
            match self.restart_server(server.name.as_str(), &caller).await {
                Ok(()) => result.successful += 1,
                Err(e) => {
                    result.failed += 1;
                    result.errors.push(BulkError {
                        server: server.name.to_string(),
                        error: e.to_string(),
                    });
                }
            }
        }
        Ok(result)
    }

    pub async fn enable_all(
        &self,
        caller: impl Into<Caller>,
    ) -> Result<BulkResult, ManagementError> {
        self.set_all_enabled(true, &caller.into()).await
    }

    pub async fn disable_all(
        &self,
        caller: impl Into<Caller>,
    ) -> Result<BulkResult, ManagementError> {
        self.set_all_enabled(false, &caller.into()).await
    }

    /// One save for all servers: either every server changes or none does.
    async fn set_all_enabled(
        &self,
        enabled: bool,
        caller: &Caller,
    ) -> Result<BulkResult, ManagementError> {
        let source = caller.source();
        let now = self.clock.now().to_string();
        let (total, changed) = self
            .modify(Action::ChangeConfig, caller, |config| {
                let mut changed = Vec::new();
                for server in &mut config.servers {
                    if server.enabled != enabled {
                        server.enabled = enabled;
                        server.updated = Some(now.clone());
                        changed.push(server.name.clone());
                    }
                }
                Ok((config.servers.len(), changed))
            })
            .await?;
        let (change, what) = if enabled {
            (ServerChange::Enabled, "enable")
        } else {
            (ServerChange::Disabled, "disable")
        };
        for name in &changed {
            self.changed(name, change);
            self.audit(ActivityKind::ServerChange, source, name, what)
                .await;
        }
        Ok(BulkResult {
            total,
            successful: total,
            failed: 0,
            errors: Vec::new(),
        })
    }
}

#[path = "management_config.rs"]
mod config_ops;
pub use config_ops::{AppliedConfig, generate_api_key};

#[path = "management_allowed.rs"]
mod allowed;
pub use allowed::{Allowed, Refusal};

#[path = "management_registries.rs"]
mod registry_ops;
pub use registry_ops::{NewRegistry, RegistryEdit, RegistrySourceError};

#[cfg(test)]
#[path = "management_tests.rs"]
mod tests;
