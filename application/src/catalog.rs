//! The catalog of upstream tools: what each server offers, which of those tools are approved,
//! and which of them the search index must hold.
//!
//! Every tool list the upstream adapter discovers passes through here: each tool's fingerprint
//! is checked against its approval (the rug-pull guard), changes are stored and announced, and
//! the server's searchable tools are re-indexed. A tool is searchable and callable only when
//! its server is enabled and not quarantined, the config does not hide it, and its current
//! fingerprint is the approved one.

use std::collections::HashMap;
use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::approval::{ApprovalDecision, ApprovalState, Trust};
use mcpproxy_domain::fingerprint::indexed_signature;
use mcpproxy_domain::{
    Config, DomainEvent, ServerConfig, ServerName, Tool, ToolApproval, ToolId, TrustMode,
};
use serde::Serialize;
use tokio::sync::{Mutex, RwLock};

use crate::activity::{ActivityDraft, ActivityLog};
use crate::ports::{
    ApprovalRepository, ConfigStore, EventPublisher, IndexError, ServerRepository, StorageError,
    ToolIndex,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("server {0:?} not found; `mcpproxy upstream list` shows the configured servers")]
    UnknownServer(String),
    #[error(
        "server {server} has no tool named {tool:?}; retrieve_tools or `mcpproxy tools list -s {server}` shows its tools"
    )]
    UnknownTool { server: String, tool: String },
}

/// What the catalog holds for one server.
#[derive(Debug, Clone, Default)]
struct Entry {
    tools: Vec<Tool>,
    approvals: HashMap<String, ToolApproval>,
}

/// A tool with what decides whether it may be used.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTool {
    pub id: ToolId,
    pub tool: Tool,
    pub approval: Option<ToolApproval>,
    pub server: ServerConfig,
}

impl CatalogTool {
    pub fn is_approved(&self) -> bool {
        self.approval
            .as_ref()
            .is_some_and(ToolApproval::is_approved)
    }
}

/// A tool as a reviewer sees it: its state and, for a changed tool, what was approved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolReview {
    pub name: String,
    pub state: ApprovalState,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    pub approved_input_schema: Option<Arc<serde_json::Value>>,
    pub fingerprint: String,
}

/// One tool in the list of every tool the proxy knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolRow {
    /// `server:tool`.
    pub id: String,
    pub server: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<serde_json::Value>,
    #[serde(skip_serializing_if = "mcpproxy_domain::ToolAnnotations::is_empty")]
    pub annotations: mcpproxy_domain::ToolAnnotations,
    pub approval: ApprovalState,
    /// An agent may call it now: server enabled and trusted, tool allowed and approved.
    pub enabled: bool,
    pub call_with: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolStats {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    pub pending_approval: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolListing {
    pub tools: Vec<ToolRow>,
    pub stats: ToolStats,
}

pub struct ToolCatalog {
    config: Arc<dyn ConfigStore>,
    repo: Arc<dyn ServerRepository>,
    approvals: Arc<dyn ApprovalRepository>,
    index: Arc<dyn ToolIndex>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
    entries: RwLock<HashMap<ServerName, Entry>>,
    /// The signature of what the index holds per server, to skip needless re-indexing.
    indexed: Mutex<HashMap<ServerName, String>>,
    /// Which servers were quarantined at the last look, to notice a quarantine lifted.
    quarantined: Mutex<HashMap<ServerName, bool>>,
    /// One change at a time: discoveries, approvals and config changes never interleave.
    write: Mutex<()>,
}

impl std::fmt::Debug for ToolCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCatalog").finish_non_exhaustive()
    }
}

/// The tools of `server` that may be searched: the server is enabled and trusted, and the tool
/// is approved as it is now. (Tools the config hides stay in; search filters them.)
fn searchable(server: &ServerConfig, entry: &Entry) -> Vec<Tool> {
    if !server.enabled || server.is_quarantined() {
        return Vec::new();
    }
    entry
        .tools
        .iter()
        .filter(|t| {
            entry
                .approvals
                .get(&t.name)
                .is_some_and(|a| a.is_approved() && a.current_fingerprint == t.fingerprint())
        })
        .cloned()
        .collect()
}

fn signature(tools: &[Tool], aliases: &[String]) -> String {
    let fps: Vec<(String, mcpproxy_domain::Fingerprint)> = tools
        .iter()
        .map(|t| (t.name.clone(), t.fingerprint()))
        .collect();
    indexed_signature(fps.iter().map(|(n, f)| (n.as_str(), f)), aliases)
}

impl ToolCatalog {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        repo: Arc<dyn ServerRepository>,
        approvals: Arc<dyn ApprovalRepository>,
        index: Arc<dyn ToolIndex>,
        events: Arc<dyn EventPublisher>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            config,
            repo,
            approvals,
            index,
            events,
            activity,
            entries: RwLock::new(HashMap::new()),
            indexed: Mutex::new(HashMap::new()),
            quarantined: Mutex::new(HashMap::new()),
            write: Mutex::new(()),
        }
    }

    /// Loads the last known tools and approvals of every configured server, and makes the
    /// index hold exactly what it should (a missing or rebuilt index is filled again).
    pub async fn load(&self) -> Result<(), CatalogError> {
        let _guard = self.write.lock().await;
        let config = self.config.current();
        let mut entries = HashMap::new();
        for server in &config.servers {
            let tools = self.repo.tools(&server.name).await?;
            let approvals = self
                .approvals
                .for_server(&server.name)
                .await?
                .into_iter()
                .map(|a| (a.tool.clone(), a))
                .collect();
            entries.insert(server.name.clone(), Entry { tools, approvals });
        }
        *self.entries.write().await = entries;
        *self.quarantined.lock().await = config
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.is_quarantined()))
            .collect();
        self.index.configure(&config.search);
        *self.indexed.lock().await = self.index.signatures().await?;
        self.sync_index(&config).await
    }

    /// Re-indexes every server whose searchable tools differ from what is indexed, and drops
    /// servers that should have nothing indexed.
    async fn sync_index(&self, config: &Config) -> Result<(), CatalogError> {
        let wanted: HashMap<ServerName, Vec<Tool>> = {
            let entries = self.entries.read().await;
            config
                .servers
                .iter()
                .map(|s| {
                    let tools = entries
                        .get(&s.name)
                        .map(|e| searchable(s, e))
                        .unwrap_or_default();
                    (s.name.clone(), tools)
                })
                .collect()
        };
        let mut indexed = self.indexed.lock().await;
        let stale: Vec<ServerName> = indexed
            .keys()
            .filter(|n| wanted.get(*n).is_none_or(Vec::is_empty))
            .cloned()
            .collect();
        for name in stale {
            self.index.remove_server(&name).await?;
            indexed.remove(&name);
            self.events.publish(DomainEvent::ToolsIndexed {
                server: name,
                tools: 0,
            });
        }
        for (name, tools) in wanted {
            if tools.is_empty() {
                continue;
            }
            let aliases = config.search.aliases_of(name.as_str());
            let sig = signature(&tools, aliases);
            if indexed.get(&name) != Some(&sig) {
                self.index.replace_server(&name, &tools, aliases).await?;
                indexed.insert(name.clone(), sig);
                self.events.publish(DomainEvent::ToolsIndexed {
                    server: name,
                    tools: tools.len(),
                });
            }
        }
        Ok(())
    }

    /// A server's tool list was read: settle each tool's approval, keep the list, re-index.
    pub async fn discovered(
        &self,
        server: &ServerName,
        tools: Vec<Tool>,
    ) -> Result<(), CatalogError> {
        let _guard = self.write.lock().await;
        let config = self.config.current();
        let Some(server_config) = config.server(server) else {
            // Removed while its tools were being listed; nothing to keep.
            return Ok(());
        };
        self.quarantined
            .lock()
            .await
            .entry(server.clone())
            .or_insert(server_config.is_quarantined());
        let mut entry = self
            .entries
            .read()
            .await
            .get(server)
            .cloned()
            .unwrap_or_default();
        let trust = Trust {
            auto_approve: !config.quarantine_enabled()
                || server_config.effective_trust_mode() == TrustMode::Auto,
            baseline: !server_config.is_quarantined() && entry.approvals.is_empty(),
        };
        for tool in &tools {
            let (record, decision) =
                ToolApproval::evaluate(server, entry.approvals.get(&tool.name), tool, trust);
            if decision == ApprovalDecision::Unchanged {
                continue;
            }
            self.approvals.save(&record).await?;
            self.announce(&record, decision).await;
            entry.approvals.insert(tool.name.clone(), record);
        }
        self.repo.save_tools(server, &tools).await?;
        entry.tools = tools;
        self.entries.write().await.insert(server.clone(), entry);
        self.sync_index(&config).await
    }

    async fn announce(&self, record: &ToolApproval, decision: ApprovalDecision) {
        self.events.publish(DomainEvent::ToolApprovalChanged {
            server: record.server.clone(),
            tool: record.tool.clone(),
            state: record.state,
        });
        let what = match decision {
            ApprovalDecision::Changed => "tool_description_changed",
            ApprovalDecision::NewPending => "new_unapproved_tool",
            ApprovalDecision::AutoApproved => "auto_approved",
            ApprovalDecision::StillWaiting => "changed_again",
            ApprovalDecision::Unchanged => return,
        };
        if decision == ApprovalDecision::Changed {
            tracing::warn!(server = %record.server, tool = %record.tool, "tool changed since it was approved; blocked until approved again");
        }
        let draft = ActivityDraft::new(
            ActivityKind::ToolQuarantineChange,
            Source::Internal,
            ActivityStatus::Success,
        )
        .server(record.server.as_str())
        .tool(&record.tool)
        .meta("action", what)
        .meta("state", record.state.as_str());
        self.activity.record_or_log(draft).await;
    }

    /// The config changed: re-index what changed (quarantine, enable, removal), forget
    /// removed servers, and trust the pending tools of servers whose quarantine was lifted.
    pub async fn config_changed(&self) -> Result<(), CatalogError> {
        let _guard = self.write.lock().await;
        let config = self.config.current();
        {
            let mut entries = self.entries.write().await;
            entries.retain(|name, _| config.server(name).is_some());
        }
        let unquarantined: Vec<ServerName> = {
            let mut seen = self.quarantined.lock().await;
            let lifted = config
                .servers
                .iter()
                .filter(|s| seen.get(&s.name).copied().unwrap_or(false) && !s.is_quarantined())
                .map(|s| s.name.clone())
                .collect();
            *seen = config
                .servers
                .iter()
                .map(|s| (s.name.clone(), s.is_quarantined()))
                .collect();
            lifted
        };
        for name in &unquarantined {
            // Approving a server trusts its current tools; a tool that changed after an
            // earlier approval (a rug pull) still needs its own approval.
            let pending: Vec<ToolApproval> = self
                .entries
                .read()
                .await
                .get(name)
                .map(|e| {
                    e.approvals
                        .values()
                        .filter(|a| a.state == ApprovalState::Pending)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for mut record in pending {
                record.approve();
                self.store_approval(record, ApprovalDecision::AutoApproved)
                    .await?;
            }
        }
        self.index.configure(&config.search);
        self.sync_index(&config).await
    }

    async fn store_approval(
        &self,
        record: ToolApproval,
        decision: ApprovalDecision,
    ) -> Result<(), CatalogError> {
        self.approvals.save(&record).await?;
        self.announce(&record, decision).await;
        if let Some(entry) = self.entries.write().await.get_mut(&record.server) {
            entry.approvals.insert(record.tool.clone(), record);
        }
        Ok(())
    }

    fn parse_server(config: &Config, name: &str) -> Result<ServerName, CatalogError> {
        ServerName::parse(name)
            .ok()
            .filter(|n| config.server(n).is_some())
            .ok_or_else(|| CatalogError::UnknownServer(name.to_owned()))
    }

    /// Approves the named tools of a server as they are now (all of its tools when `tools`
    /// is `None`). Returns the names approved.
    pub async fn approve(
        &self,
        server: &str,
        tools: Option<&[String]>,
        source: Source,
    ) -> Result<Vec<String>, CatalogError> {
        self.set_approval(server, tools, source, true).await
    }

    /// Withdraws approval: the tools are refused and hidden until approved again.
    pub async fn block(
        &self,
        server: &str,
        tools: Option<&[String]>,
        source: Source,
    ) -> Result<Vec<String>, CatalogError> {
        self.set_approval(server, tools, source, false).await
    }

    async fn set_approval(
        &self,
        server: &str,
        tools: Option<&[String]>,
        source: Source,
        approve: bool,
    ) -> Result<Vec<String>, CatalogError> {
        let _guard = self.write.lock().await;
        let config = self.config.current();
        let name = Self::parse_server(&config, server)?;
        let entry = self
            .entries
            .read()
            .await
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let targets: Vec<&Tool> = match tools {
            None => entry.tools.iter().collect(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    entry.tools.iter().find(|t| &t.name == w).ok_or_else(|| {
                        CatalogError::UnknownTool {
                            server: name.to_string(),
                            tool: w.clone(),
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut changed = Vec::new();
        for tool in targets {
            let mut record = match entry.approvals.get(&tool.name) {
                Some(r) => r.clone(),
                None => {
                    ToolApproval::evaluate(
                        &name,
                        None,
                        tool,
                        Trust {
                            auto_approve: false,
                            baseline: false,
                        },
                    )
                    .0
                }
            };
            let before = record.clone();
            if approve {
                record.approve();
            } else {
                record.block();
            }
            if record != before {
                self.approvals.save(&record).await?;
                self.events.publish(DomainEvent::ToolApprovalChanged {
                    server: name.clone(),
                    tool: tool.name.clone(),
                    state: record.state,
                });
                let draft = ActivityDraft::new(
                    ActivityKind::ToolQuarantineChange,
                    source,
                    ActivityStatus::Success,
                )
                .server(name.as_str())
                .tool(&tool.name)
                .meta("action", if approve { "approve" } else { "block" });
                self.activity.record_or_log(draft).await;
                if let Some(e) = self.entries.write().await.get_mut(&name) {
                    e.approvals.insert(tool.name.clone(), record);
                }
                changed.push(tool.name.clone());
            }
        }
        self.sync_index(&config).await?;
        Ok(changed)
    }

    /// Every tool of a server with its approval state, for review.
    pub async fn review(&self, server: &str) -> Result<Vec<ToolReview>, CatalogError> {
        let config = self.config.current();
        let name = Self::parse_server(&config, server)?;
        let entries = self.entries.read().await;
        let Some(entry) = entries.get(&name) else {
            return Ok(Vec::new());
        };
        Ok(entry
            .tools
            .iter()
            .map(|t| {
                let approval = entry.approvals.get(&t.name);
                let state = approval.map_or(ApprovalState::Pending, |a| a.state);
                ToolReview {
                    name: t.name.clone(),
                    state,
                    description: t.description.clone(),
                    input_schema: t.input_schema.clone(),
                    approved_description: approval
                        .filter(|_| state == ApprovalState::Changed)
                        .and_then(|a| a.approved_description.clone()),
                    approved_input_schema: approval
                        .filter(|_| state == ApprovalState::Changed)
                        .and_then(|a| a.approved_schema.clone()),
                    fingerprint: t.fingerprint().to_string(),
                }
            })
            .collect())
    }

    /// The tool with this id, with its server and approval, if the server offers it.
    pub async fn lookup(&self, id: &ToolId) -> Option<CatalogTool> {
        let config = self.config.current();
        let server = config.server(id.server())?.clone();
        let entries = self.entries.read().await;
        let entry = entries.get(id.server())?;
        let tool = entry.tools.iter().find(|t| t.name == id.tool())?.clone();
        // Each discovery updates the approval next to the tool list, so the record describes
        // the tool as it is now.
        let approval = entry.approvals.get(&tool.name).cloned();
        Some(CatalogTool {
            id: id.clone(),
            tool,
            approval,
            server,
        })
    }

    /// Whether a configured server offers the tool (without copying it, as `lookup` does).
    async fn offers(&self, id: &ToolId) -> bool {
        if self.config.current().server(id.server()).is_none() {
            return false;
        }
        self.entries
            .read()
            .await
            .get(id.server())
            .is_some_and(|e| e.tools.iter().any(|t| t.name == id.tool()))
    }

    /// The tool a direct-mode name (`server__tool`) means: the first split at `__` whose
    /// server offers such a tool (server names may hold `__` too).
    pub async fn direct_id(&self, name: &str) -> Option<ToolId> {
        for (i, _) in name.match_indices("__") {
            let (server, tool) = (&name[..i], &name[i + 2..]);
            let Ok(server) = mcpproxy_domain::ServerName::parse(server) else {
                continue;
            };
            let Ok(id) = ToolId::new(server, tool.to_owned()) else {
                continue;
            };
            if self.offers(&id).await {
                return Some(id);
            }
        }
        None
    }

    /// Every tool an agent may call now (direct mode lists exactly these).
    pub async fn callable(&self) -> Vec<CatalogTool> {
        let config = self.config.current();
        let entries = self.entries.read().await;
        let mut out = Vec::new();
        for server in &config.servers {
            let Some(entry) = entries.get(&server.name) else {
                continue;
            };
            for tool in searchable(server, entry) {
                if !server.allows_tool(&tool.name) {
                    continue;
                }
                let Ok(id) = ToolId::new(server.name.clone(), tool.name.clone()) else {
                    continue;
                };
                out.push(CatalogTool {
                    id,
                    approval: entry.approvals.get(&tool.name).cloned(),
                    tool,
                    server: server.clone(),
                });
            }
        }
        out
    }

    /// Every tool of every configured server, with whether it can be called and why not.
    pub async fn all_tools(&self) -> ToolListing {
        let config = self.config.current();
        let entries = self.entries.read().await;
        let mut listing = ToolListing {
            tools: Vec::new(),
            stats: ToolStats::default(),
        };
        for server in &config.servers {
            let Some(entry) = entries.get(&server.name) else {
                continue;
            };
            for tool in &entry.tools {
                let approval = entry
                    .approvals
                    .get(&tool.name)
                    .map_or(ApprovalState::Pending, |a| a.state);
                let enabled = server.enabled
                    && !server.is_quarantined()
                    && server.allows_tool(&tool.name)
                    && approval == ApprovalState::Approved;
                listing.stats.total += 1;
                if enabled {
                    listing.stats.enabled += 1;
                } else {
                    listing.stats.disabled += 1;
                }
                if approval != ApprovalState::Approved {
                    listing.stats.pending_approval += 1;
                }
                listing.tools.push(ToolRow {
                    id: format!("{}:{}", server.name, tool.name),
                    server: server.name.to_string(),
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    input_schema: tool.input_schema.clone(),
                    annotations: tool.annotations.clone(),
                    approval,
                    enabled,
                    call_with: mcpproxy_domain::CallVariant::for_annotations(&tool.annotations)
                        .tool_name(),
                });
            }
        }
        listing
    }

    /// The search index behind [`crate::search`].
    pub(crate) fn index(&self) -> &Arc<dyn ToolIndex> {
        &self.index
    }

    pub(crate) fn tools_limit(&self) -> i64 {
        self.config.current().tools_limit
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
