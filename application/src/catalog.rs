//! The catalog of upstream tools: what each server offers, which of those tools are approved,
//! and which of them the search index must hold.
//!
//! Every tool list the upstream adapter discovers passes through here: each tool's fingerprint
//! is checked against its approval (the rug-pull guard), changes are stored and announced, and
//! the server's searchable tools are re-indexed. Readers never wait for any of it: they get
//! the [`CatalogView`] in force, a snapshot swapped in whole after each change, and ask the
//! domain's admission rule of it ([`CatalogView::admit`]).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::approval::{ApprovalDecision, ApprovalState, Trust};
use mcpproxy_domain::fingerprint::indexed_signature;
use mcpproxy_domain::poison::{self, Context as ScanContext, PeerTool};
use mcpproxy_domain::{Caller, DomainEvent, Purpose, ServerName, Tool, ToolApproval, ToolId};
use tokio::sync::Mutex;

use crate::activity::{ActivityDraft, ActivityLog};
use crate::gates::{self, Action, Gate};
use crate::ports::{
    ApprovalRepository, ConfigStore, EventPublisher, IndexError, ServerRepository, StorageError,
    ToolIndex,
};
use crate::settings::LiveSettings;

#[path = "catalog_listing.rs"]
mod listing;
#[path = "catalog_view.rs"]
mod view;
pub use listing::{ToolListing, ToolReview, ToolRow, ToolStats};
pub(crate) use view::ServerTools;
use view::admit_entry;
pub use view::{BadCursor, CatalogView, Listing, ToolEntry, ToolsPage};

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
    #[error("{0}")]
    Forbidden(Gate),
    #[error(
        "{server}:{tool} is hidden by the server's enabled_tools/disabled_tools setting; change that setting (`mcpproxy upstream patch {server}`) to switch it on"
    )]
    ConfigDenied { server: String, tool: String },
}

/// What a person does to a set of a server's tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolChange {
    Approve,
    Block,
    Switch(bool),
}

impl ToolChange {
    /// Whether "all of the server's tools" includes this one.
    fn takes_all(self, e: &ToolEntry) -> bool {
        match self {
            // A tool the scanner calls dangerous is approved only by name.
            Self::Approve => !e.approval.as_ref().is_some_and(|a| a.is_dangerous()),
            // Blocking everything settles what waits for review, as Go's `block_all`.
            Self::Block => e.state != ApprovalState::Approved,
            Self::Switch(_) => true,
        }
    }

    /// The `action` of its activity record (Go's names).
    fn action(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Block => "block",
            Self::Switch(true) => "tool_enabled",
            Self::Switch(false) => "tool_disabled",
        }
    }
}

/// What the writers keep besides the view.
#[derive(Debug, Default)]
struct Book {
    /// The signature of what the index holds per server, to skip needless re-indexing.
    indexed: HashMap<ServerName, String>,
    /// Which servers were quarantined at the last look, to notice a quarantine lifted.
    quarantined: HashMap<ServerName, bool>,
}

pub struct ToolCatalog {
    settings: LiveSettings,
    repo: Arc<dyn ServerRepository>,
    approvals: Arc<dyn ApprovalRepository>,
    index: Arc<dyn ToolIndex>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
    view: ArcSwap<CatalogView>,
    /// One change at a time: discoveries, approvals and config changes never interleave.
    write: Mutex<Book>,
}

impl std::fmt::Debug for ToolCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCatalog").finish_non_exhaustive()
    }
}

/// Whether the index should hold the entry: a caller without limits could find it, or only
/// its server's tool filter hides it (search shows those on request, marked).
fn indexable(view: &CatalogView, server: &mcpproxy_domain::ServerSettings, e: &ToolEntry) -> bool {
    match admit_entry(
        view.settings(),
        &Caller::agent(),
        Purpose::Discover,
        server,
        e,
    ) {
        Ok(_) => true,
        Err(refusal) => refusal.is_tool_filter(),
    }
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
        let settings = LiveSettings::new(config);
        let view = ArcSwap::from_pointee(CatalogView::empty(settings.current()));
        Self {
            settings,
            repo,
            approvals,
            index,
            events,
            activity,
            view,
            write: Mutex::new(Book::default()),
        }
    }

    /// The catalog as it is now, under the settings in force. Two atomic loads when nothing
    /// changed; after a config change the first reader derives the view again.
    pub fn view(&self) -> Arc<CatalogView> {
        let settings = self.settings.current();
        loop {
            let current = self.view.load_full();
            if Arc::ptr_eq(current.settings(), &settings) {
                return current;
            }
            let fresh = Arc::new(CatalogView::derive(
                settings.clone(),
                current.servers.clone(),
            ));
            let prev = self.view.compare_and_swap(&current, fresh.clone());
            if Arc::ptr_eq(&prev, &current) {
                return fresh;
            }
        }
    }

    /// Swaps in a view whose servers are `change`d (under the write lock, so only readers
    /// race with it, and they change nothing but the settings).
    fn publish(
        &self,
        change: impl Fn(&mut HashMap<ServerName, Arc<ServerTools>>),
    ) -> Arc<CatalogView> {
        let settings = self.settings.current();
        loop {
            let current = self.view.load_full();
            let mut servers = current.servers.clone();
            change(&mut servers);
            let fresh = Arc::new(CatalogView::derive(settings.clone(), servers));
            let prev = self.view.compare_and_swap(&current, fresh.clone());
            if Arc::ptr_eq(&prev, &current) {
                return fresh;
            }
        }
    }

    /// Loads the last known tools and approvals of every configured server, and makes the
    /// index hold exactly what it should (a missing or rebuilt index is filled again).
    pub async fn load(&self) -> Result<(), CatalogError> {
        let mut book = self.write.lock().await;
        let settings = self.settings.current();
        let mut servers = HashMap::new();
        for server in settings.servers() {
            let approvals: HashMap<String, Arc<ToolApproval>> = self
                .approvals
                .for_server(&server.name)
                .await?
                .into_iter()
                .map(|a| (a.tool.clone(), Arc::new(a)))
                .collect();
            let tools = self
                .repo
                .tools(&server.name)
                .await?
                .into_iter()
                .filter_map(|t| {
                    let id = ToolId::new(server.name.clone(), t.name.clone()).ok()?;
                    let approval = approvals.get(&t.name).cloned();
                    Some(Arc::new(ToolEntry::new(id, Arc::new(t), approval)))
                })
                .collect();
            servers.insert(
                server.name.clone(),
                Arc::new(ServerTools::new(tools, approvals)),
            );
        }
        let view = self.publish(|all| all.clone_from(&servers));
        book.quarantined = settings
            .servers()
            .iter()
            .map(|s| (s.name.clone(), s.quarantined))
            .collect();
        self.index.configure(&settings.search);
        book.indexed = self.index.signatures().await?;
        self.sync_index(&mut book, &view).await
    }

    /// Reloads tools and approvals from the shared database whenever another replica changed
    /// them, so an approval given (or a change seen) through any replica holds on this one.
    pub async fn follow_changes(self: Arc<Self>, mut feed: Box<dyn crate::ports::ChangeFeed>) {
        loop {
            match feed.next().await {
                Ok(()) => {
                    if let Err(e) = self.load().await {
                        tracing::warn!(
                            "cannot reload the catalog after another replica's change: {e}"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!("the shared database's change feed failed: {e}; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Re-indexes every server whose searchable tools differ from what is indexed, and drops
    /// servers that should have nothing indexed.
    async fn sync_index(&self, book: &mut Book, view: &CatalogView) -> Result<(), CatalogError> {
        let wanted: HashMap<&ServerName, Vec<&Arc<ToolEntry>>> = view
            .settings()
            .servers()
            .iter()
            .map(|s| {
                let tools = view
                    .server_tools(&s.name)
                    .map(|t| t.tools.iter().filter(|e| indexable(view, s, e)).collect())
                    .unwrap_or_default();
                (&s.name, tools)
            })
            .collect();
        let stale: Vec<ServerName> = book
            .indexed
            .keys()
            .filter(|n| wanted.get(n).is_none_or(Vec::is_empty))
            .cloned()
            .collect();
        for name in stale {
            self.index.remove_server(&name).await?;
            book.indexed.remove(&name);
            self.events.publish(DomainEvent::ToolsIndexed {
                server: name,
                tools: 0,
            });
        }
        for (name, entries) in wanted {
            if entries.is_empty() {
                continue;
            }
            // A server's search aliases are part of what is indexed: changing them
            // re-indexes that server only.
            let aliases = view.settings().search.aliases_of(name.as_str());
            let sig = indexed_signature(
                entries
                    .iter()
                    .map(|e| (e.tool.name.as_str(), &e.fingerprint)),
                aliases,
            );
            if book.indexed.get(name) != Some(&sig) {
                let tools: Vec<Tool> = entries.iter().map(|e| (*e.tool).clone()).collect();
                self.index.replace_server(name, &tools, aliases).await?;
                book.indexed.insert(name.clone(), sig);
                self.events.publish(DomainEvent::ToolsIndexed {
                    server: name.clone(),
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
        let mut book = self.write.lock().await;
        let view = self.view();
        let Some(settings) = view.server(server.as_str()).cloned() else {
            // Removed while its tools were being listed; nothing to keep.
            return Ok(());
        };
        book.quarantined
            .entry(server.clone())
            .or_insert(settings.quarantined);
        self.repo.save_tools(server, &tools).await?;
        let previous = view.server_tools(server).cloned().unwrap_or_default();
        let mut approvals = previous.approvals.clone();
        let trust = Trust {
            auto_approve: settings.auto_approve,
            baseline: !settings.quarantined && approvals.is_empty(),
        };
        // Every other server's tools, for the scanner's shadowing check.
        let peers: Vec<PeerTool<'_>> = view
            .servers
            .iter()
            .filter(|(name, _)| *name != server)
            .flat_map(|(name, t)| {
                t.tools.iter().map(move |e| PeerTool {
                    server: name.as_str(),
                    name: &e.tool.name,
                })
            })
            .collect();
        let own: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        let context = ScanContext::new(server.as_str(), &own, &peers);
        let mut entries = Vec::with_capacity(tools.len());
        for tool in &tools {
            // The same tool as before keeps its entry's compiled parts and its shared schema.
            let same = previous
                .get(&tool.name)
                .filter(|p| *p.tool == *tool)
                .cloned();
            let kept = same
                .as_ref()
                .map_or_else(|| Arc::new(tool.clone()), |p| p.tool.clone());
            let (record, decision, rescanned) = ToolApproval::evaluate_scanned(
                server,
                approvals.get(&kept.name).map(|a| &**a),
                &kept,
                trust,
                || poison::scan(&kept, &context),
            );
            if decision != ApprovalDecision::Unchanged || rescanned {
                self.approvals.save(&record).await?;
            }
            if decision != ApprovalDecision::Unchanged {
                self.announce(&record, decision).await;
            }
            let record = Arc::new(record);
            approvals.insert(kept.name.clone(), record.clone());
            let entry = match same {
                Some(p) => p.with_approval(Some(record)),
                None => match ToolId::new(server.clone(), kept.name.clone()) {
                    Ok(id) => ToolEntry::new(id, kept, Some(record)),
                    Err(_) => continue,
                },
            };
            entries.push(Arc::new(entry));
        }
        let fresh = Arc::new(ServerTools::new(entries, approvals));
        let view = self.publish(|all| {
            all.insert(server.clone(), fresh.clone());
        });
        self.sync_index(&mut book, &view).await
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

    /// Puts changed approval records of one server in force.
    fn put_records(&self, server: &ServerName, records: Vec<ToolApproval>) -> Arc<CatalogView> {
        let view = self.view();
        let Some(current) = view.server_tools(server).cloned() else {
            return view;
        };
        let mut approvals = current.approvals.clone();
        for record in records {
            approvals.insert(record.tool.clone(), Arc::new(record));
        }
        let tools = current
            .tools
            .iter()
            .map(|e| Arc::new(e.with_approval(approvals.get(&e.tool.name).cloned())))
            .collect();
        let fresh = Arc::new(ServerTools::new(tools, approvals));
        self.publish(|all| {
            all.insert(server.clone(), fresh.clone());
        })
    }

    /// The config changed: re-index what changed (quarantine, enable, removal), forget
    /// removed servers, and trust the pending tools of servers whose quarantine was lifted.
    pub async fn config_changed(&self) -> Result<(), CatalogError> {
        let mut book = self.write.lock().await;
        let settings = self.settings.current();
        let view = self.publish(|all| all.retain(|name, _| settings.server(name).is_some()));
        let lifted: Vec<ServerName> = settings
            .servers()
            .iter()
            .filter(|s| book.quarantined.get(&s.name).copied().unwrap_or(false) && !s.quarantined)
            .map(|s| s.name.clone())
            .collect();
        book.quarantined = settings
            .servers()
            .iter()
            .map(|s| (s.name.clone(), s.quarantined))
            .collect();
        let mut view = view;
        for name in &lifted {
            // Approving a server trusts its current tools; a tool that changed after an
            // earlier approval (a rug pull) still needs its own approval.
            let pending: Vec<ToolApproval> = view
                .server_tools(name)
                .map(|t| {
                    t.approvals
                        .values()
                        // A tool the scanner calls dangerous waits for its own approval.
                        .filter(|a| a.state == ApprovalState::Pending && !a.is_dangerous())
                        .map(|a| (**a).clone())
                        .collect()
                })
                .unwrap_or_default();
            let mut approved = Vec::with_capacity(pending.len());
            for mut record in pending {
                record.approve();
                self.approvals.save(&record).await?;
                self.announce(&record, ApprovalDecision::AutoApproved).await;
                approved.push(record);
            }
            view = self.put_records(name, approved);
        }
        self.index.configure(&settings.search);
        self.sync_index(&mut book, &view).await
    }

    pub(crate) fn parse_server(view: &CatalogView, name: &str) -> Result<ServerName, CatalogError> {
        view.server(name)
            .map(|s| s.name.clone())
            .ok_or_else(|| CatalogError::UnknownServer(name.to_owned()))
    }

    /// Approves the named tools of a server as they are now (all of its tools when `tools`
    /// is `None`). Returns the names approved.
    pub async fn approve(
        &self,
        server: &str,
        tools: Option<&[String]>,
        caller: impl Into<Caller>,
    ) -> Result<Vec<String>, CatalogError> {
        self.change_tools(server, tools, &caller.into(), ToolChange::Approve)
            .await
    }

    /// Blocks tools as the Go MCPProxy does: each is approved as it is now and switched off
    /// in one write, so it leaves review without ever becoming callable (all the tools
    /// waiting for review when `tools` is `None`). Returns the names blocked.
    pub async fn block(
        &self,
        server: &str,
        tools: Option<&[String]>,
        caller: impl Into<Caller>,
    ) -> Result<Vec<String>, CatalogError> {
        self.change_tools(server, tools, &caller.into(), ToolChange::Block)
            .await
    }

    /// Switches tools on or off by hand (every tool of the server when `tools` is `None`),
    /// whatever their approval; the switch is kept with the approval record, so it survives
    /// new versions of the tool and restarts. A tool the server's config hides cannot be
    /// switched on here. Returns the names whose switch changed.
    pub async fn set_enabled(
        &self,
        server: &str,
        tools: Option<&[String]>,
        enabled: bool,
        caller: impl Into<Caller>,
    ) -> Result<Vec<String>, CatalogError> {
        self.change_tools(server, tools, &caller.into(), ToolChange::Switch(enabled))
            .await
    }

    async fn change_tools(
        &self,
        server: &str,
        tools: Option<&[String]>,
        caller: &Caller,
        change: ToolChange,
    ) -> Result<Vec<String>, CatalogError> {
        let mut book = self.write.lock().await;
        let view = self.view();
        gates::check(view.settings(), Action::ApproveTools, caller)
            .map_err(CatalogError::Forbidden)?;
        let name = Self::parse_server(&view, server)?;
        let current = view.server_tools(&name).cloned().unwrap_or_default();
        let targets: Vec<&Arc<ToolEntry>> = match tools {
            None => current
                .tools
                .iter()
                .filter(|e| change.takes_all(e))
                .collect(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    current.get(w).ok_or_else(|| CatalogError::UnknownTool {
                        server: name.to_string(),
                        tool: w.clone(),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        if change == ToolChange::Switch(true) && tools.is_some() {
            let settings = view.settings().server(&name);
            if let Some(hidden) = targets
                .iter()
                .find(|e| settings.is_some_and(|s| !s.tools.allows(&e.tool.name)))
            {
                return Err(CatalogError::ConfigDenied {
                    server: name.to_string(),
                    tool: hidden.tool.name.clone(),
                });
            }
        }
        let manual = Trust {
            auto_approve: false,
            baseline: false,
        };
        let mut changed = Vec::new();
        for entry in targets {
            let mut record = match current.approvals.get(&entry.tool.name) {
                Some(r) => (**r).clone(),
                None => ToolApproval::evaluate(&name, None, &entry.tool, manual).0,
            };
            let before = record.clone();
            match change {
                ToolChange::Approve => record.approve(),
                ToolChange::Block => record.approve_switched_off(),
                ToolChange::Switch(on) => record.disabled = !on,
            }
            if record == before {
                continue;
            }
            self.approvals.save(&record).await?;
            self.events.publish(DomainEvent::ToolApprovalChanged {
                server: name.clone(),
                tool: record.tool.clone(),
                state: record.state,
            });
            let draft = ActivityDraft::new(
                ActivityKind::ToolQuarantineChange,
                caller.source(),
                ActivityStatus::Success,
            )
            .server(name.as_str())
            .tool(&record.tool)
            .meta("action", change.action());
            self.activity.record_or_log(draft).await;
            changed.push(record);
        }
        let names = changed.iter().map(|r| r.tool.clone()).collect();
        let view = self.put_records(&name, changed);
        self.sync_index(&mut book, &view).await?;
        Ok(names)
    }

    /// The search index behind [`crate::search`].
    pub(crate) fn index(&self) -> &Arc<dyn ToolIndex> {
        &self.index
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
