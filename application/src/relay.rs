//! The rest of the protocol: prompts, resources, completion and logging, relayed to the
//! servers that own them — one server as it is (the per-server endpoint), or every server
//! behind one endpoint (prompts named `server__prompt`, resources routed by their URI).
//! Which prompts are offered at all (built-ins, aggregation, approvals) is
//! [`crate::prompts`]'s business; this module only carries requests.
//!
//! The same rule as tool calls: the admission rule is asked about the server, so one that is
//! unknown, disabled, quarantined or outside the caller's scope is not relayed, and a
//! poisoned prompt or resource reaches nobody before someone approved the server. Prompts
//! pass the `enable_prompts` gate on every endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mcpproxy_domain::name::split_direct;
use mcpproxy_domain::policy::GrantOrigin;
use mcpproxy_domain::{Caller, Refusal, ServerName, ServerSettings};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::catalog::ToolCatalog;
use crate::gates::{self, Action, Gate};
use crate::ports::{UpstreamError, UpstreamPool};

/// How long one relayed request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayRefusal {
    #[error("server {0:?} is not configured")]
    UnknownServer(String),
    #[error("server {0} is disabled; enable it first")]
    Disabled(ServerName),
    #[error(
        "server {0} is quarantined: nothing of it is relayed until someone reviews and unquarantines it"
    )]
    Quarantined(ServerName),
    #[error("server {0} is not in scope for the {1}")]
    OutOfScope(ServerName, GrantOrigin),
    #[error("{0}")]
    Gate(Gate),
    #[error("server {0} does not offer {1}")]
    Unsupported(ServerName, &'static str),
    #[error("no prompt named {0:?}; prompts/list shows them as server__prompt")]
    UnknownPrompt(String),
    #[error("no server offers the resource {0:?}; resources/list shows them")]
    UnknownResource(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl RelayRefusal {
    /// The reason code of a refusal by the admission rule or a gate.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::UnknownServer(_) => Some(Refusal::UnknownServer.code()),
            Self::Disabled(_) => Some(Refusal::ServerDisabled.code()),
            Self::Quarantined(_) => Some(Refusal::ServerQuarantined.code()),
            Self::OutOfScope(..) => Some("SERVER_NOT_IN_SCOPE"),
            Self::Gate(g) => Some(g.code()),
            _ => None,
        }
    }
}

/// The relay of everything but tool calls.
pub struct ProtocolRelay {
    catalog: Arc<ToolCatalog>,
    upstream: Arc<dyn UpstreamPool>,
    /// Which server listed which resource URI, from the last aggregated listing.
    owners: RwLock<HashMap<String, ServerName>>,
}

impl std::fmt::Debug for ProtocolRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolRelay").finish_non_exhaustive()
    }
}

/// The capability key (`prompts`, `resources`, `completions`, `logging`) a method needs.
fn capability_of(method: &str) -> Option<&'static str> {
    match method.split('/').next() {
        Some("prompts") => Some("prompts"),
        Some("resources") => Some("resources"),
        Some("completion") => Some("completions"),
        Some("logging") => Some("logging"),
        _ => None,
    }
}

impl ProtocolRelay {
    pub fn new(catalog: Arc<ToolCatalog>, upstream: Arc<dyn UpstreamPool>) -> Self {
        Self {
            catalog,
            upstream,
            owners: RwLock::new(HashMap::new()),
        }
    }

    /// What the upstreams say outside calls, from now on.
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<crate::ports::UpstreamNotice> {
        self.upstream.notices()
    }

    /// The server if the admission rule lets `caller` reach it.
    pub fn open(&self, server: &str, caller: &Caller) -> Result<Arc<ServerSettings>, RelayRefusal> {
        let view = self.catalog.view();
        let unknown = || RelayRefusal::UnknownServer(server.to_owned());
        let found = view.server(server).ok_or_else(unknown)?;
        view.admit_server(caller, &found.name)
            .map_err(|refusal| match refusal {
                Refusal::ServerDisabled => RelayRefusal::Disabled(found.name.clone()),
                Refusal::ServerQuarantined => RelayRefusal::Quarantined(found.name.clone()),
                Refusal::OutOfScope { origin } => {
                    RelayRefusal::OutOfScope(found.name.clone(), origin)
                }
                _ => unknown(),
            })?;
        Ok(found.clone())
    }

    /// Whether the servers' prompts are relayed (`enable_prompts`).
    pub fn prompts_enabled(&self, caller: &Caller) -> bool {
        self.prompts_gate(caller).is_ok()
    }

    pub(crate) fn prompts_gate(&self, caller: &Caller) -> Result<(), RelayRefusal> {
        gates::check(self.catalog.view().settings(), Action::UsePrompts, caller)
            .map_err(RelayRefusal::Gate)
    }

    /// The server's `initialize` result, once it is connected.
    pub fn server_info(
        &self,
        server: &str,
        caller: &Caller,
    ) -> Result<Option<Value>, RelayRefusal> {
        let found = self.open(server, caller)?;
        Ok(self.upstream.server_info(&found.name))
    }

    /// Whether the connected server declared `capability`.
    pub(crate) fn declares(&self, server: &ServerName, capability: &str) -> bool {
        self.upstream
            .server_info(server)
            .is_some_and(|info| !info["capabilities"][capability].is_null())
    }

    /// Sends `method` with `params` to `server` as it is, if the server is open and
    /// declared the capability the method belongs to.
    pub async fn forward(
        &self,
        server: &str,
        method: &str,
        params: Value,
        caller: &Caller,
    ) -> Result<Value, RelayRefusal> {
        let found = self.open(server, caller)?;
        let about_prompts = capability_of(method) == Some("prompts")
            || (method == "completion/complete" && params["ref"]["type"] == "ref/prompt");
        if about_prompts {
            self.prompts_gate(caller)?;
        }
        if let Some(capability) = capability_of(method)
            && !self.declares(&found.name, capability)
        {
            return Err(RelayRefusal::Unsupported(found.name.clone(), capability));
        }
        Ok(self
            .upstream
            .request(&found.name, method, params, REQUEST_TIMEOUT)
            .await?)
    }

    /// The servers `caller` may reach that are connected and declared `capability`.
    pub(crate) fn offering(&self, capability: &str, caller: &Caller) -> Vec<ServerName> {
        let view = self.catalog.view();
        view.settings()
            .servers()
            .iter()
            .filter(|s| view.admit_server(caller, &s.name).is_ok())
            .filter(|s| self.declares(&s.name, capability))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Every item of a paginated list (`prompts/list`, `resources/list`, …) of `server`.
    pub(crate) async fn list_all(
        &self,
        server: &ServerName,
        method: &str,
        key: &str,
    ) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        // A server that pages forever is cut off after this many pages.
        for _ in 0..100 {
            let params = cursor
                .as_ref()
                .map_or_else(|| json!({}), |c| json!({"cursor": c}));
            match self
                .upstream
                .request(server, method, params, REQUEST_TIMEOUT)
                .await
            {
                Ok(page) => {
                    items.extend(page[key].as_array().cloned().unwrap_or_default());
                    match page["nextCursor"].as_str() {
                        Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                        _ => break,
                    }
                }
                Err(e) => {
                    tracing::warn!(%server, "{method} failed: {e}");
                    break;
                }
            }
        }
        items
    }

    /// `server__prompt` → the server and its own name for the prompt.
    pub(crate) fn split_prompt<'a>(
        &self,
        name: &'a str,
        caller: &Caller,
    ) -> Result<(Arc<ServerSettings>, &'a str), RelayRefusal> {
        let unknown = || RelayRefusal::UnknownPrompt(name.to_owned());
        let (server, prompt) = split_direct(name).ok_or_else(unknown)?;
        match self.open(server.as_str(), caller) {
            Err(RelayRefusal::UnknownServer(_)) => Err(unknown()),
            other => Ok((other?, prompt)),
        }
    }

    /// The resources of every server `caller` may reach, URIs unchanged; remembers who owns
    /// which URI.
    pub async fn list_resources(&self, caller: &Caller) -> Vec<Value> {
        let mut out = Vec::new();
        let mut owners = HashMap::new();
        for server in self.offering("resources", caller) {
            for resource in self.list_all(&server, "resources/list", "resources").await {
                if let Some(uri) = resource["uri"].as_str() {
                    owners.insert(uri.to_owned(), server.clone());
                    out.push(resource);
                }
            }
        }
        *self.owners.write().await = owners;
        out
    }

    /// The resource templates of every server `caller` may reach.
    pub async fn list_resource_templates(&self, caller: &Caller) -> Vec<Value> {
        let mut out = Vec::new();
        for server in self.offering("resources", caller) {
            out.extend(
                self.list_all(&server, "resources/templates/list", "resourceTemplates")
                    .await,
            );
        }
        out
    }

    /// The server that owns `uri`: the one that listed it; else the one whose template
    /// matches it; else the only server with resources.
    async fn owner(&self, uri: &str, caller: &Caller) -> Result<ServerName, RelayRefusal> {
        if self.owners.read().await.is_empty() {
            self.list_resources(caller).await;
        }
        if let Some(server) = self.owners.read().await.get(uri) {
            return Ok(server.clone());
        }
        let offering = self.offering("resources", caller);
        for server in &offering {
            let templates = self
                .list_all(server, "resources/templates/list", "resourceTemplates")
                .await;
            if templates.iter().any(|t| {
                t["uriTemplate"]
                    .as_str()
                    .is_some_and(|template| matches_template(template, uri))
            }) {
                return Ok(server.clone());
            }
        }
        match offering.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(RelayRefusal::UnknownResource(uri.to_owned())),
        }
    }

    /// A resource request (`resources/read`, `…/subscribe`, `…/unsubscribe`) routed to the
    /// server that owns the URI in `params`.
    pub async fn resource_request(
        &self,
        method: &str,
        params: Value,
        caller: &Caller,
    ) -> Result<Value, RelayRefusal> {
        let uri = params["uri"].as_str().unwrap_or_default().to_owned();
        let server = self.owner(&uri, caller).await?;
        self.forward(server.as_str(), method, params, caller).await
    }

    /// `logging/setLevel` for every server `caller` may reach that logs.
    pub async fn set_level_everywhere(&self, params: Value, caller: &Caller) {
        for server in self.offering("logging", caller) {
            if let Err(e) = self
                .upstream
                .request(&server, "logging/setLevel", params.clone(), REQUEST_TIMEOUT)
                .await
            {
                tracing::warn!(%server, "logging/setLevel failed: {e}");
            }
        }
    }

    /// `completion/complete` routed by its reference: a prompt by its aggregated name, a
    /// resource template by its URI.
    pub async fn complete(
        &self,
        mut params: Value,
        caller: &Caller,
    ) -> Result<Value, RelayRefusal> {
        let reference = params["ref"].clone();
        if let Some(name) = reference["name"]
            .as_str()
            .filter(|_| reference["type"] == "ref/prompt")
        {
            self.prompts_gate(caller)?;
            let (server, prompt) = self.split_prompt(name, caller)?;
            params["ref"]["name"] = json!(prompt);
            return self
                .forward(server.name.as_str(), "completion/complete", params, caller)
                .await;
        }
        let uri = reference["uri"].as_str().unwrap_or_default().to_owned();
        let server = self.owner(&uri, caller).await?;
        self.forward(server.as_str(), "completion/complete", params, caller)
            .await
    }
}

/// Whether `uri` fits the RFC 6570 level-1 `template` (`file:///{path}`): the literal parts
/// in order, anything non-empty in between.
fn matches_template(template: &str, uri: &str) -> bool {
    let mut rest = uri;
    let mut parts = template.split('{');
    let Some(head) = parts.next() else {
        return false;
    };
    let Some(after) = rest.strip_prefix(head) else {
        return false;
    };
    rest = after;
    for part in parts {
        let literal = part.split_once('}').map_or("", |(_, lit)| lit);
        if literal.is_empty() {
            return !rest.is_empty();
        }
        match rest.find(literal) {
            Some(i) if i > 0 => rest = &rest[i + literal.len()..],
            _ => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_uris() {
        assert!(matches_template(
            "test://template/{id}/data",
            "test://template/123/data"
        ));
        assert!(!matches_template(
            "test://template/{id}/data",
            "test://template//data"
        ));
        assert!(!matches_template(
            "test://template/{id}/data",
            "test://other/1/data"
        ));
        assert!(matches_template("file:///{path}", "file:///a/b.txt"));
        assert!(!matches_template("file:///{path}", "file:///"));
    }

    #[test]
    fn methods_need_their_capability() {
        assert_eq!(capability_of("prompts/get"), Some("prompts"));
        assert_eq!(capability_of("resources/templates/list"), Some("resources"));
        assert_eq!(capability_of("completion/complete"), Some("completions"));
        assert_eq!(capability_of("ping"), None);
    }
}
