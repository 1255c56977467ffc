//! Prompts: the proxy's own (`setup-new-mcp-server`, `troubleshoot-mcp-server`, with
//! `enable_prompts`) and the upstream servers' — on the aggregated endpoints as
//! `server__prompt` when `aggregate_upstream_prompts` is on and the server's
//! `expose_prompts` is not false, and on a server's own endpoint as they are.
//!
//! Upstream prompts are approved like tools, with the same model and trust rules: a trusted
//! server's first prompts are the baseline, a new one later waits as `pending`, one whose
//! name, description or arguments changed is `changed` — and a prompt that waits is not
//! offered, listed or rendered until someone approves it. The messages a prompt renders are
//! made fresh per request and are not covered (see `mcpproxy_domain::prompt`).

use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::name::{DIRECT_SEPARATOR, direct_name};
use mcpproxy_domain::prompt::Prompt;
use mcpproxy_domain::{
    ApprovalDecision, ApprovalState, Caller, DomainEvent, ServerName, ServerSettings, ToolApproval,
    Trust,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::activity::{ActivityDraft, ActivityLog};
use crate::gates::{self, Action, Gate};
use crate::management::ManagementService;
use crate::ports::{ConfigStore, EventPublisher, PromptApprovalRepository, StorageError};
use crate::relay::{ProtocolRelay, RelayRefusal};
use crate::settings::LiveSettings;

#[path = "prompts_builtin.rs"]
pub mod builtin;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    #[error("no prompt named {0:?}; prompts/list shows them")]
    Unknown(String),
    #[error(
        "prompt {prompt:?} of server {server} is held: it is {} and waits for approval (quarantine_security operation approve_prompt, or POST /api/v1/servers/{server}/prompts/approve)",
        state.as_str()
    )]
    Held {
        server: ServerName,
        prompt: String,
        state: ApprovalState,
    },
    #[error(transparent)]
    Relay(#[from] RelayRefusal),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl PromptError {
    /// The reason code of a refusal (a gate, the admission rule, a held prompt).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Held { .. } => Some("PROMPT_QUARANTINED"),
            Self::Relay(r) => r.code(),
            _ => None,
        }
    }
}

impl From<Gate> for PromptError {
    fn from(gate: Gate) -> Self {
        Self::Relay(RelayRefusal::Gate(gate))
    }
}

/// A prompt of a server with its approval, for review.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptReview {
    pub name: String,
    pub state: ApprovalState,
    pub description: String,
    /// The approved description, when it differs from the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_description: Option<String>,
}

pub struct PromptService {
    settings: LiveSettings,
    relay: Arc<ProtocolRelay>,
    approvals: Arc<dyn PromptApprovalRepository>,
    management: Arc<ManagementService>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
    /// One settlement at a time, so two listings do not record the same change twice.
    settling: Mutex<()>,
}

impl std::fmt::Debug for PromptService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptService").finish_non_exhaustive()
    }
}

impl PromptService {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        relay: Arc<ProtocolRelay>,
        approvals: Arc<dyn PromptApprovalRepository>,
        management: Arc<ManagementService>,
        events: Arc<dyn EventPublisher>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            settings: LiveSettings::new(config),
            relay,
            approvals,
            management,
            events,
            activity,
            settling: Mutex::new(()),
        }
    }

    /// Whether the aggregated endpoints carry `server`'s prompts (keys of the Go config
    /// that only this service reads, so they are taken from the document).
    fn exposed(&self, server: &ServerName) -> bool {
        let config = self.settings.document();
        config.aggregate_upstream_prompts
            && config
                .server(server)
                .is_some_and(|s| s.expose_prompts != Some(false))
    }

    async fn record(&self, server: &ServerName, prompt: &str, source: Source, what: &str) {
        let draft = ActivityDraft::new(
            ActivityKind::ToolQuarantineChange,
            source,
            ActivityStatus::Success,
        )
        .server(server.as_str())
        .tool(prompt)
        .meta("item", "prompt")
        .meta("action", what);
        self.activity.record_or_log(draft).await;
    }

    /// Settles the approval of each listed prompt of `server`; returns each item (as
    /// listed) with its approval.
    async fn settle(
        &self,
        server: &ServerSettings,
        items: Vec<Value>,
    ) -> Result<Vec<(Value, ToolApproval)>, StorageError> {
        let _guard = self.settling.lock().await;
        let records = self.approvals.for_server(&server.name).await?;
        // The tools' trust rules, from the same settings.
        let trust = Trust {
            auto_approve: server.auto_approve,
            baseline: !server.quarantined && records.is_empty(),
        };
        let mut out = Vec::new();
        for item in items {
            let Some(prompt) = Prompt::from_listing(&item) else {
                continue;
            };
            let previous = records.iter().find(|r| r.tool == prompt.name);
            let (record, decision) =
                ToolApproval::evaluate(&server.name, previous, &prompt.as_approvable(), trust);
            if decision != ApprovalDecision::Unchanged {
                self.approvals.save(&record).await?;
                self.events.publish(DomainEvent::PromptApprovalChanged {
                    server: server.name.clone(),
                    prompt: prompt.name.clone(),
                    state: record.state,
                });
                let what = match decision {
                    ApprovalDecision::Changed => {
                        tracing::warn!(server = %server.name, prompt = %prompt.name, "prompt changed since it was approved; held until approved again");
                        "prompt_description_changed"
                    }
                    ApprovalDecision::NewPending => "new_unapproved_prompt",
                    ApprovalDecision::AutoApproved => "auto_approved",
                    ApprovalDecision::StillWaiting | ApprovalDecision::Unchanged => "changed_again",
                };
                self.record(&server.name, &prompt.name, Source::Internal, what)
                    .await;
            }
            out.push((item, record));
        }
        Ok(out)
    }

    /// The approved prompts of an open server, as it lists them.
    async fn approved(&self, server: &ServerSettings) -> Result<Vec<Value>, StorageError> {
        let items = self
            .relay
            .list_all(&server.name, "prompts/list", "prompts")
            .await;
        Ok(self
            .settle(server, items)
            .await?
            .into_iter()
            .filter(|(_, record)| record.is_approved())
            .map(|(item, _)| item)
            .collect())
    }

    /// `prompts/list` of the aggregated endpoints: none when prompts are off.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Value>, PromptError> {
        if self.relay.prompts_gate(caller).is_err() {
            return Ok(Vec::new());
        }
        let mut out = builtin::definitions();
        // Each name once; a server whose name cannot form `server__prompt` names is left
        // out (its own endpoint still has its prompts), as for tools.
        let mut seen = std::collections::HashSet::new();
        for name in self.relay.offering("prompts", caller) {
            if !self.exposed(&name) {
                continue;
            }
            let Ok(server) = self.relay.open(name.as_str(), caller) else {
                continue;
            };
            for mut item in self.approved(&server).await? {
                if let Some(direct) = item["name"]
                    .as_str()
                    .and_then(|own| direct_name(&name, own))
                    && seen.insert(direct.clone())
                {
                    item["name"] = json!(direct);
                    out.push(item);
                }
            }
        }
        Ok(out)
    }

    /// Refuses a prompt of `server` that is not approved as it is listed now.
    async fn admit(&self, server: &ServerSettings, prompt: &str) -> Result<(), PromptError> {
        let items = self
            .relay
            .list_all(&server.name, "prompts/list", "prompts")
            .await;
        let settled = self.settle(server, items).await?;
        match settled.iter().find(|(item, _)| item["name"] == prompt) {
            Some((_, record)) if record.is_approved() => Ok(()),
            Some((_, record)) => Err(PromptError::Held {
                server: server.name.clone(),
                prompt: prompt.to_owned(),
                state: record.state,
            }),
            None => Err(PromptError::Unknown(prompt.to_owned())),
        }
    }

    /// `prompts/get` on the aggregated endpoints: a built-in, or `server__prompt`.
    pub async fn get(
        &self,
        name: &str,
        arguments: Option<Value>,
        caller: &Caller,
    ) -> Result<Value, PromptError> {
        self.relay.prompts_gate(caller)?;
        let text = |key: &str| {
            arguments
                .as_ref()
                .and_then(|a| a[key].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        if name == builtin::SETUP {
            return Ok(builtin::setup(&text("server_type")));
        }
        if name == builtin::TROUBLESHOOT {
            let server = text("server_name");
            let facts =
                self.management
                    .get_server(&server)
                    .await
                    .ok()
                    .map(|v| builtin::ServerFacts {
                        name: v.name.to_string(),
                        status: v.status,
                        enabled: v.enabled,
                        quarantined: v.quarantined,
                        tool_count: v.tool_count,
                        last_error: v.last_error,
                        protocol: v.protocol,
                    });
            return Ok(builtin::troubleshoot(&server, facts.as_ref()));
        }
        let (server, prompt) = self.relay.split_prompt(name, caller).map_err(|e| match e {
            RelayRefusal::UnknownPrompt(_) => PromptError::Unknown(name.to_owned()),
            other => PromptError::Relay(other),
        })?;
        if !self.exposed(&server.name) {
            return Err(PromptError::Unknown(name.to_owned()));
        }
        self.admit(&server, prompt).await?;
        let mut params = Map::new();
        params.insert("name".into(), json!(prompt));
        if let Some(arguments) = arguments {
            params.insert("arguments".into(), arguments);
        }
        Ok(self
            .relay
            .forward(
                server.name.as_str(),
                "prompts/get",
                Value::Object(params),
                caller,
            )
            .await?)
    }

    /// `completion/complete` on the aggregated endpoints. A prompt's arguments are completed
    /// only for a prompt that is offered (exposed and approved): a held prompt reaches
    /// nobody, not even through its completions. The built-ins complete nothing; a resource
    /// reference goes to the relay as it is.
    pub async fn complete(&self, params: Value, caller: &Caller) -> Result<Value, PromptError> {
        let reference = &params["ref"];
        if reference["type"] == "ref/prompt" {
            let name = reference["name"].as_str().unwrap_or_default();
            self.relay.prompts_gate(caller)?;
            if name == builtin::SETUP || name == builtin::TROUBLESHOOT {
                return Ok(json!({"completion": {"values": [], "hasMore": false}}));
            }
            let (server, prompt) = self.relay.split_prompt(name, caller)?;
            if !self.exposed(&server.name) {
                return Err(PromptError::Unknown(name.to_owned()));
            }
            self.admit(&server, prompt).await?;
        }
        Ok(self.relay.complete(params, caller).await?)
    }

    /// `completion/complete` of a server's own endpoint, under the same rule.
    pub async fn server_complete(
        &self,
        server: &str,
        params: Value,
        caller: &Caller,
    ) -> Result<Value, PromptError> {
        if params["ref"]["type"] == "ref/prompt" {
            self.relay.prompts_gate(caller)?;
            let open = self.relay.open(server, caller)?;
            let prompt = params["ref"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.admit(&open, &prompt).await?;
        }
        Ok(self
            .relay
            .forward(server, "completion/complete", params, caller)
            .await?)
    }

    /// `prompts/list` of a server's own endpoint: its approved prompts, its own names.
    pub async fn server_list(&self, server: &str, caller: &Caller) -> Result<Value, PromptError> {
        self.relay.prompts_gate(caller)?;
        let open = self.relay.open(server, caller)?;
        Ok(json!({"prompts": self.approved(&open).await?}))
    }

    /// `prompts/get` of a server's own endpoint, for an approved prompt.
    pub async fn server_get(
        &self,
        server: &str,
        params: Value,
        caller: &Caller,
    ) -> Result<Value, PromptError> {
        self.relay.prompts_gate(caller)?;
        let open = self.relay.open(server, caller)?;
        let prompt = params["name"].as_str().unwrap_or_default().to_owned();
        self.admit(&open, &prompt).await?;
        Ok(self
            .relay
            .forward(server, "prompts/get", params, caller)
            .await?)
    }

    fn known(&self, server: &str) -> Result<ServerName, PromptError> {
        ServerName::parse(server)
            .ok()
            .filter(|n| self.settings.document().server(n).is_some())
            .ok_or_else(|| PromptError::Relay(RelayRefusal::UnknownServer(server.to_owned())))
    }

    /// Every recorded prompt of a server with its approval state (listing it first when it
    /// is connected, so the states are current). Reading is not gated; a quarantined server
    /// is not asked (nothing of it is relayed), its records are shown as they are.
    pub async fn review(&self, server: &str) -> Result<Vec<PromptReview>, PromptError> {
        let name = self.known(server)?;
        if let Ok(open) = self.relay.open(server, &Caller::proxy()) {
            let items = self
                .relay
                .list_all(&open.name, "prompts/list", "prompts")
                .await;
            self.settle(&open, items).await?;
        }
        Ok(self
            .approvals
            .for_server(&name)
            .await?
            .into_iter()
            .map(|r| PromptReview {
                approved_description: r
                    .approved_description
                    .clone()
                    .filter(|d| d != &r.current_description),
                name: r.tool,
                state: r.state,
                description: r.current_description,
            })
            .collect())
    }

    /// Approves (or, with `approve` false, blocks) the named prompts of a server as they
    /// are now — all of them when `prompts` is `None`, if the gates let `caller` approve
    /// (as for tools). Returns the names changed.
    pub async fn set_approval(
        &self,
        server: &str,
        prompts: Option<&[String]>,
        approve: bool,
        caller: &Caller,
    ) -> Result<Vec<String>, PromptError> {
        let name = self.known(server)?;
        let _guard = self.settling.lock().await;
        gates::check(&self.settings.current(), Action::ApproveTools, caller)?;
        let source = caller.source();
        let records = self.approvals.for_server(&name).await?;
        if let Some(wanted) = prompts
            && let Some(missing) = wanted
                .iter()
                .find(|w| !records.iter().any(|r| &r.tool == *w))
        {
            return Err(PromptError::Unknown(format!(
                "{server}{DIRECT_SEPARATOR}{missing}"
            )));
        }
        let mut changed = Vec::new();
        for mut record in records
            .into_iter()
            .filter(|r| prompts.is_none_or(|w| w.contains(&r.tool)))
        {
            if !record.decide(approve) {
                continue;
            }
            self.approvals.save(&record).await?;
            self.events.publish(DomainEvent::PromptApprovalChanged {
                server: name.clone(),
                prompt: record.tool.clone(),
                state: record.state,
            });
            let what = if approve { "approve" } else { "block" };
            self.record(&name, &record.tool, source, what).await;
            changed.push(record.tool);
        }
        Ok(changed)
    }

    /// Forgets the approvals of servers that are no longer configured (removed while the
    /// proxy was not running, say), so a server added again under an old name starts from
    /// nothing.
    pub async fn forget_removed(&self) -> Result<(), StorageError> {
        let config = self.settings.document();
        for server in self.approvals.servers().await? {
            if config.server(&server).is_none() {
                self.approvals.delete_server(&server).await?;
            }
        }
        Ok(())
    }

    /// Forgets a server's prompt approvals when it is removed, until the bus closes.
    pub async fn follow(
        self: Arc<Self>,
        mut events: tokio::sync::broadcast::Receiver<DomainEvent>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(DomainEvent::ServerChanged {
                    server,
                    change: mcpproxy_domain::ServerChange::Removed,
                }) => {
                    if let Err(e) = self.approvals.delete_server(&server).await {
                        tracing::warn!(%server, "cannot forget the prompt approvals: {e}");
                    }
                }
                Ok(DomainEvent::ConfigReloaded { .. }) | Err(RecvError::Lagged(_)) => {
                    if let Err(e) = self.forget_removed().await {
                        tracing::warn!(
                            "cannot forget the prompt approvals of removed servers: {e}"
                        );
                    }
                }
                Ok(_) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
#[path = "prompts_tests.rs"]
mod tests;
