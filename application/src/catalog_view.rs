//! The compiled catalog: a snapshot of every tool the proxy knows, read on every call and
//! listing without a lock, replaced whole when a discovery, an approval or the config
//! changes it.
//!
//! Each tool is a [`ToolEntry`] behind an `Arc`: the tool as its server declared it, its
//! fingerprint, its approval as it is now, and what is compiled from it on first use and
//! kept while it does not change — the validator of its arguments and its JSON as listings
//! send it. A [`CatalogView`] holds the entries by server and, derived with the settings in
//! force, what the listings serve: the tools an unlimited caller may use (by direct-mode
//! name, so `tools/list` pages resume by name in O(page)), each server's usable tools, and
//! the direct-mode names of every tool.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use mcpproxy_domain::approval::ApprovalState;
use mcpproxy_domain::fingerprint::Fingerprint;
use mcpproxy_domain::policy::{self, Admitted, Ask, Caller, Purpose, Refusal, Subject, ToolFacts};
use mcpproxy_domain::{
    ConnectionState, ServerName, ServerSettings, Settings, Tool, ToolApproval, ToolId,
};
use serde_json::value::RawValue;

/// What is compiled from one version of a tool, shared by every entry of that version.
#[derive(Default)]
struct Compiled {
    validator: OnceLock<Option<jsonschema::Validator>>,
    schema_json: OnceLock<Arc<RawValue>>,
    /// The tool as `tools/list` sends it, `name` first.
    tool_json: OnceLock<Arc<str>>,
}

/// One tool with everything that decides and serves it.
pub struct ToolEntry {
    pub id: ToolId,
    /// `server__tool`, its name on the direct-mode endpoint; `None` for a server whose
    /// name cannot form such names (see `mcpproxy_domain::name::direct_name`).
    pub direct_name: Option<Arc<str>>,
    pub tool: Arc<Tool>,
    pub fingerprint: Fingerprint,
    /// Its approval record, if any.
    pub approval: Option<Arc<ToolApproval>>,
    /// Its approval as it is now ([`ToolApproval::state_for`]).
    pub state: ApprovalState,
    compiled: Arc<Compiled>,
}

impl std::fmt::Debug for ToolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEntry")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The opening of a serialised tool: `{"name":` and the name.
fn name_prefix_len(name: &str) -> usize {
    r#"{"name":"#.len() + serde_json::to_string(name).map_or(0, |n| n.len())
}

impl ToolEntry {
    /// A new version of a tool (nothing compiled yet).
    pub(crate) fn new(id: ToolId, tool: Arc<Tool>, approval: Option<Arc<ToolApproval>>) -> Self {
        let fingerprint = tool.fingerprint();
        let state = ToolApproval::state_for(approval.as_deref(), &fingerprint);
        Self {
            direct_name: id.direct_name().map(Arc::from),
            id,
            tool,
            fingerprint,
            approval,
            state,
            compiled: Arc::default(),
        }
    }

    /// The same version of the tool under another approval record.
    pub(crate) fn with_approval(&self, approval: Option<Arc<ToolApproval>>) -> Self {
        Self {
            id: self.id.clone(),
            direct_name: self.direct_name.clone(),
            tool: self.tool.clone(),
            fingerprint: self.fingerprint.clone(),
            state: ToolApproval::state_for(approval.as_deref(), &self.fingerprint),
            approval,
            compiled: self.compiled.clone(),
        }
    }

    /// The tool-poisoning scanner's report on this version, once scanned.
    pub fn scan(&self) -> Option<&mcpproxy_domain::poison::ToolScan> {
        self.approval
            .as_ref()
            .filter(|a| a.current_fingerprint == self.fingerprint)
            .and_then(|a| a.scan.as_ref())
    }

    /// What the admission rule needs to know of it.
    pub fn facts(&self) -> ToolFacts<'_> {
        ToolFacts {
            annotations: &self.tool.annotations,
            approval: self.state,
        }
    }

    /// The compiled validator of its `inputSchema`; `None` when the schema does not compile
    /// (the server then judges the arguments itself).
    pub fn validator(&self) -> Option<&jsonschema::Validator> {
        self.compiled
            .validator
            .get_or_init(|| match jsonschema::validator_for(&self.tool.input_schema) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(tool = %self.id, error = %e, "cannot compile the input schema; not checking arguments");
                    None
                }
            })
            .as_ref()
    }

    /// Its `inputSchema` as JSON text, rendered once.
    pub fn schema_json(&self) -> Arc<RawValue> {
        self.compiled
            .schema_json
            .get_or_init(|| {
                serde_json::value::to_raw_value(&*self.tool.input_schema)
                    .map(Arc::from)
                    // A `Value` always serialises; the fallback is never taken.
                    .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()))
            })
            .clone()
    }

    fn tool_json(&self) -> &str {
        self.compiled.tool_json.get_or_init(|| {
            serde_json::to_string(&*self.tool)
                .unwrap_or_default()
                .into()
        })
    }

    /// Its definition as `tools/list` sends it, under its own name (the per-server endpoint)
    /// or its direct-mode name; everything but the name as its server declared it.
    pub fn listing_json(&self, direct: bool) -> String {
        let json = self.tool_json();
        // Only tools with a direct-mode name are listed there.
        let Some(direct_name) = self.direct_name.as_deref().filter(|_| direct) else {
            return json.to_owned();
        };
        let prefix = name_prefix_len(&self.tool.name);
        let name = serde_json::to_string(direct_name).unwrap_or_default();
        match json.get(prefix..) {
            // `Tool` serialises its name first, so the rest follows the prefix.
            Some(rest) if json.starts_with(r#"{"name":"#) => {
                format!("{{\"name\":{name}{rest}")
            }
            _ => {
                let mut tool = (*self.tool).clone();
                tool.name = direct_name.to_owned();
                serde_json::to_string(&tool).unwrap_or_default()
            }
        }
    }
}

/// One server's tools, in the order the server lists them, and its approval records (also
/// of tools it no longer offers: one that comes back is judged against them).
#[derive(Debug, Default)]
pub(crate) struct ServerTools {
    pub tools: Vec<Arc<ToolEntry>>,
    pub by_name: HashMap<String, usize>,
    pub approvals: HashMap<String, Arc<ToolApproval>>,
}

impl ServerTools {
    pub fn new(tools: Vec<Arc<ToolEntry>>, approvals: HashMap<String, Arc<ToolApproval>>) -> Self {
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.tool.name.clone(), i))
            .collect();
        Self {
            tools,
            by_name,
            approvals,
        }
    }

    pub fn get(&self, tool: &str) -> Option<&Arc<ToolEntry>> {
        self.by_name.get(tool).map(|&i| &self.tools[i])
    }
}

/// A snapshot of the catalog under the settings it was derived with.
pub struct CatalogView {
    pub(crate) settings: Arc<Settings>,
    pub(crate) servers: HashMap<ServerName, Arc<ServerTools>>,
    /// Every tool by its direct-mode name.
    direct: HashMap<Arc<str>, Arc<ToolEntry>>,
    /// The tools an unlimited caller may use, by direct-mode name.
    usable: BTreeMap<Arc<str>, Arc<ToolEntry>>,
    /// Per server, the tools an unlimited caller may use, in the server's order.
    usable_by_server: HashMap<ServerName, Vec<Arc<ToolEntry>>>,
}

impl std::fmt::Debug for CatalogView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogView")
            .field("servers", &self.servers.len())
            .field("usable", &self.usable.len())
            .finish_non_exhaustive()
    }
}

impl CatalogView {
    pub(crate) fn empty(settings: Arc<Settings>) -> Self {
        Self::derive(settings, HashMap::new())
    }

    /// The view of `servers` under `settings`: what listings serve is worked out here, once.
    pub(crate) fn derive(
        settings: Arc<Settings>,
        servers: HashMap<ServerName, Arc<ServerTools>>,
    ) -> Self {
        let caller = Caller::agent();
        let mut direct: HashMap<Arc<str>, Arc<ToolEntry>> = HashMap::new();
        for server in settings.servers() {
            // Direct-mode names are injective (`mcpproxy_domain::name`): no two servers'
            // tools meet under one.
            for entry in servers.get(&server.name).map_or(&[][..], |t| &t.tools[..]) {
                if let Some(name) = &entry.direct_name {
                    direct.insert(name.clone(), entry.clone());
                }
            }
        }
        let mut usable = BTreeMap::new();
        let mut usable_by_server = HashMap::new();
        for server in settings.servers() {
            let Some(tools) = servers.get(&server.name) else {
                continue;
            };
            let mine: Vec<Arc<ToolEntry>> = tools
                .tools
                .iter()
                .filter(|e| admit_entry(&settings, &caller, Purpose::Discover, server, e).is_ok())
                .cloned()
                .collect();
            for entry in &mine {
                // Direct mode lists a tool under a name only if that name calls it.
                if let Some(name) = &entry.direct_name
                    && direct.get(name).is_some_and(|d| Arc::ptr_eq(d, entry))
                {
                    usable.insert(name.clone(), entry.clone());
                }
            }
            usable_by_server.insert(server.name.clone(), mine);
        }
        Self {
            settings,
            servers,
            direct,
            usable,
            usable_by_server,
        }
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The configured server of that name.
    pub fn server(&self, name: &str) -> Option<&Arc<ServerSettings>> {
        self.settings.server(name)
    }

    /// The tool with this id, if a configured server offers it.
    pub fn tool(&self, id: &ToolId) -> Option<&Arc<ToolEntry>> {
        self.settings.server(id.server())?;
        self.servers.get(id.server())?.get(id.tool())
    }

    /// Every tool a configured server offers, in config and server order.
    pub fn tools(&self) -> impl Iterator<Item = (&Arc<ServerSettings>, &Arc<ToolEntry>)> {
        self.settings.servers().iter().flat_map(move |s| {
            self.servers
                .get(&s.name)
                .into_iter()
                .flat_map(move |t| t.tools.iter().map(move |e| (s, e)))
        })
    }

    /// Whether the server has tools in the catalog (listed before, or now).
    pub fn has_tools(&self, name: &ServerName) -> bool {
        self.servers.get(name).is_some_and(|t| !t.tools.is_empty())
    }

    pub(crate) fn server_tools(&self, name: &ServerName) -> Option<&Arc<ServerTools>> {
        self.servers.get(name)
    }

    /// The tool a direct-mode name (`server__tool`) means.
    pub fn direct(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.direct.get(name)
    }

    /// Asks the admission rule about the tool `id` for `caller`; the entry comes along
    /// (a refusal may quote it).
    pub fn admit(
        &self,
        caller: &Caller,
        purpose: Purpose,
        id: &ToolId,
        connection: Option<ConnectionState>,
    ) -> (Option<&Arc<ToolEntry>>, Result<Admitted, Refusal>) {
        let server = self.settings.server(id.server());
        let entry = server.and_then(|_| self.servers.get(id.server())?.get(id.tool()));
        let verdict = policy::admit(&Ask {
            caller,
            purpose,
            server_name: id.server(),
            server: server.map(|s| &**s),
            connection,
            subject: Subject::Tool {
                name: id.tool(),
                facts: entry.map(|e| e.facts()),
            },
            strict_intent: self.settings.strict_intent,
        });
        (entry, verdict)
    }

    /// Asks the admission rule about a server as a whole (the relay of its prompts and
    /// resources, its own endpoint).
    pub fn admit_server(&self, caller: &Caller, name: &ServerName) -> Result<(), Refusal> {
        policy::admit(&Ask {
            caller,
            purpose: Purpose::Discover,
            server_name: name,
            server: self.settings.server(name).map(|s| &**s),
            connection: None,
            subject: Subject::Server,
            strict_intent: self.settings.strict_intent,
        })
        .map(|_| ())
    }

    /// The tools `caller` may use, by direct-mode name, from just after `after`.
    pub(crate) fn usable_after<'a>(
        &'a self,
        caller: &'a Caller,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<ToolEntry>> + 'a {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.usable
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(_, e)| e)
            .filter(move |e| self.admits_too(caller, e))
    }

    /// One server's tools `caller` may use, in the server's order, from position `from`.
    pub(crate) fn usable_of<'a>(
        &'a self,
        caller: &'a Caller,
        server: &ServerName,
        from: usize,
    ) -> impl Iterator<Item = (usize, &'a Arc<ToolEntry>)> + 'a {
        self.usable_by_server
            .get(server)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
            .skip(from)
            .filter(move |(_, e)| self.admits_too(caller, e))
    }

    /// The precomputed usable sets are an unlimited caller's; a caller under a scope is
    /// asked again.
    fn admits_too(&self, caller: &Caller, entry: &ToolEntry) -> bool {
        caller.scope().is_unlimited()
            || self
                .admit(caller, Purpose::Discover, &entry.id, None)
                .1
                .is_ok()
    }
}

/// Which `tools/list` a page is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing<'a> {
    /// The direct-mode endpoint: every usable tool as `server__tool`.
    Direct,
    /// One server's own endpoint: its usable tools under their own names.
    Server(&'a ServerName),
}

/// One page of `tools/list`: each tool's definition as JSON, and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolsPage {
    pub tools: Vec<String>,
    pub next_cursor: Option<String>,
}

/// A `tools/list` cursor this catalog did not hand out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {0:?}: pass the nextCursor of the previous page, or none for the first")]
pub struct BadCursor(pub String);

impl CatalogView {
    /// A page of `tools/list` for `caller`, at most `max_bytes` of definitions (at least one
    /// tool). It costs the page, not the catalog: direct-mode pages resume after the last
    /// name they sent (so a change between pages neither repeats nor skips a tool that
    /// stays), a server's pages at a position in its own order.
    pub fn page(
        &self,
        caller: &Caller,
        listing: Listing<'_>,
        cursor: Option<&str>,
        max_bytes: usize,
    ) -> Result<ToolsPage, BadCursor> {
        let mut page = ToolsPage::default();
        let mut bytes = 0;
        let mut fits = |json: &str, page: &ToolsPage| {
            let ok = page.tools.is_empty() || bytes + json.len() <= max_bytes;
            if ok {
                bytes += json.len();
            }
            ok
        };
        match listing {
            Listing::Direct => {
                let mut last: Option<&Arc<ToolEntry>> = None;
                for entry in self.usable_after(caller, cursor) {
                    let json = entry.listing_json(true);
                    if !fits(&json, &page) {
                        page.next_cursor =
                            last.and_then(|l| l.direct_name.as_deref().map(str::to_owned));
                        break;
                    }
                    page.tools.push(json);
                    last = Some(entry);
                }
            }
            Listing::Server(server) => {
                let from = match cursor {
                    None => 0,
                    Some(c) => c.parse().map_err(|_| BadCursor(c.to_owned()))?,
                };
                for (i, entry) in self.usable_of(caller, server, from) {
                    let json = entry.listing_json(false);
                    if !fits(&json, &page) {
                        page.next_cursor = Some(i.to_string());
                        break;
                    }
                    page.tools.push(json);
                }
            }
        }
        Ok(page)
    }
}

/// The rule for one entry of a known server.
pub(crate) fn admit_entry(
    settings: &Settings,
    caller: &Caller,
    purpose: Purpose,
    server: &ServerSettings,
    entry: &ToolEntry,
) -> Result<Admitted, Refusal> {
    policy::admit(&Ask {
        caller,
        purpose,
        server_name: &server.name,
        server: Some(server),
        connection: None,
        subject: Subject::Tool {
            name: &entry.tool.name,
            facts: Some(entry.facts()),
        },
        strict_intent: settings.strict_intent,
    })
}
