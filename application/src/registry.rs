//! Finding servers in registries and adding them: `list_registries`, `search_servers` and
//! `upstream_servers add_from_registry` for agents, `mcpproxy registry …` and
//! `/api/v1/registries…` for people — one service behind all of them.
//!
//! Searches are cached per registry and query for [`CACHE_TTL`]. Adding re-derives the
//! server entry from the registry's own record (the caller names a registry and a server,
//! never a command), checks a remote endpoint against the SSRF rule, and hands the entry to
//! the management service, which applies the gates and the quarantine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mcpproxy_domain::Caller;
use mcpproxy_domain::registry::{
    DEFAULT_LIMIT, MAX_LIMIT, PROTOCOL_REFERENCE, Provenance, RegistryServer, RegistrySource,
    RequiredInput, effective_registries, matches, reference_servers,
};
use mcpproxy_domain::registry_derive::{DeriveError, DeriveRequest, derive};
use mcpproxy_domain::{Config, Timestamp};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::gates::Action;
use crate::management::{AddServer, ManagementError, ManagementService, ServerView};
use crate::ports::{Clock, ConfigStore, Registry, RegistryError, RegistryQuery};

/// How long a registry's answer is reused.
pub const CACHE_TTL_MS: i64 = 10 * 60 * 1000;

/// A registry as listed: its entry, where it comes from, and whether it can be searched now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryView {
    #[serde(flatten)]
    pub source: RegistrySource,
    pub provenance: Provenance,
    /// Official (built in) registries are trusted; trust is informational, every added
    /// server follows the quarantine default.
    pub trusted: bool,
    pub builtin: bool,
    /// Needs a key that is not set: skipped by searches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    pub registry: String,
    pub query: String,
    pub tag: String,
    pub total: usize,
    pub servers: Vec<RegistryServer>,
    /// The registry needs a key that is not set; nothing was searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    pub message: String,
}

/// What a caller may add to a registry entry: never a command or URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddFromRegistry {
    pub name: Option<String>,
    /// Values of the entry's inputs (environment variables, headers, arguments).
    pub inputs: BTreeMap<String, String>,
    pub enabled: Option<bool>,
}

/// A server added from a registry, and the optional inputs left unset.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddedFromRegistry {
    pub server: ServerView,
    pub registry: String,
    pub registry_server: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unset_inputs: Vec<RequiredInput>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryServiceError {
    #[error("no registry {0:?}; `mcpproxy registry list` (or the list_registries tool) shows them")]
    UnknownRegistry(String),
    #[error(
        "registry {registry:?} lists no server {id:?}; search it with `mcpproxy registry search -r {registry}`"
    )]
    UnknownServer { registry: String, id: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Derive(#[from] DeriveError),
    #[error(transparent)]
    Management(#[from] ManagementError),
}

impl RegistryServiceError {
    /// The stable code shared with the Go proxy's surfaces.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownRegistry(_) => "registry_not_found",
            Self::UnknownServer { .. } => "server_not_found",
            Self::Registry(RegistryError::Refused { .. }) => "invalid_registry_url",
            Self::Registry(RegistryError::KeyMissing { .. }) => "registry_key_missing",
            Self::Registry(_) => "registry_unavailable",
            Self::Derive(d) => d.code(),
            Self::Management(ManagementError::AlreadyExists(_)) => "duplicate_server",
            Self::Management(ManagementError::Forbidden(gate)) => gate.code(),
            Self::Management(_) => "add_failed",
        }
    }

    /// The inputs still needed, for `missing_required_input`.
    pub fn missing_inputs(&self) -> Vec<String> {
        match self {
            Self::Derive(DeriveError::MissingInputs { missing, .. }) => {
                missing.iter().map(|m| m.name.clone()).collect()
            }
            _ => Vec::new(),
        }
    }
}

type CacheKey = (String, String, String);

pub struct RegistryService {
    config: Arc<dyn ConfigStore>,
    registry: Arc<dyn Registry>,
    management: Arc<ManagementService>,
    clock: Arc<dyn Clock>,
    /// Looks up registry keys (`MCPPROXY_REGISTRY_<ID>_API_KEY`): only whether one is set.
    key_set: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    cache: Mutex<HashMap<CacheKey, (Timestamp, Vec<RegistryServer>)>>,
}

impl std::fmt::Debug for RegistryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryService").finish_non_exhaustive()
    }
}

impl RegistryService {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        registry: Arc<dyn Registry>,
        management: Arc<ManagementService>,
        clock: Arc<dyn Clock>,
        key_set: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    ) -> Self {
        Self {
            config,
            registry,
            management,
            clock,
            key_set,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn view(&self, mut source: RegistrySource, provenance: Provenance) -> RegistryView {
        // What a config entry says of its own trust is not shown: it is derived here.
        source.extra.remove("provenance");
        source.extra.remove("trusted");
        let unavailable = (source.requires_key && !(self.key_set)(&source.key_variable()))
            .then(|| format!("needs an API key: set {}", source.key_variable()));
        RegistryView {
            builtin: provenance == Provenance::Official,
            trusted: provenance == Provenance::Official,
            provenance,
            unavailable,
            source,
        }
    }

    /// Every registry in force: the built-ins, then the user's.
    pub fn list(&self) -> Vec<RegistryView> {
        effective_registries(&self.config.current().registries)
            .into_iter()
            .map(|(source, provenance)| self.view(source, provenance))
            .collect()
    }

    /// The registry `wanted` names (id or name, any case).
    pub fn find(&self, wanted: &str) -> Result<RegistryView, RegistryServiceError> {
        self.list()
            .into_iter()
            .find(|r| r.source.is_named(wanted.trim()))
            .ok_or_else(|| RegistryServiceError::UnknownRegistry(wanted.to_owned()))
    }

    /// The registry's servers for `search`/`tag`, from the cache while it is fresh.
    async fn servers(
        &self,
        source: &RegistrySource,
        config: &Config,
        search: &str,
        tag: &str,
    ) -> Result<Vec<RegistryServer>, RegistryServiceError> {
        if source.protocol() == PROTOCOL_REFERENCE {
            return Ok(reference_servers()
                .into_iter()
                .filter(|s| matches(s, search, tag))
                .collect());
        }
        let key = (source.id.clone(), search.to_owned(), tag.to_owned());
        let now = self.clock.now();
        if let Some((at, servers)) = self.cache.lock().await.get(&key)
            && now.millis() - at.millis() < CACHE_TTL_MS
        {
            return Ok(servers.clone());
        }
        let query = RegistryQuery {
            search: search.to_owned(),
            tag: tag.to_owned(),
            limit: MAX_LIMIT,
        };
        let servers = self
            .registry
            .search(source, &query, config.allow_private_registry_fetch)
            .await?;
        self.cache.lock().await.insert(key, (now, servers.clone()));
        Ok(servers)
    }

    /// Searches one registry. A registry that needs a key nobody set is reported
    /// unavailable rather than failing the search.
    pub async fn search(
        &self,
        registry: &str,
        search: &str,
        tag: &str,
        limit: Option<usize>,
    ) -> Result<SearchResult, RegistryServiceError> {
        let view = self.find(registry)?;
        let id = view.source.id.clone();
        let mut result = SearchResult {
            registry: id.clone(),
            query: search.to_owned(),
            tag: tag.to_owned(),
            total: 0,
            servers: Vec::new(),
            unavailable: view.unavailable.clone(),
            message: String::new(),
        };
        if let Some(why) = &view.unavailable {
            result.message = format!("Registry '{id}' is unavailable: {why}");
            return Ok(result);
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let config = self.config.current();
        let mut servers = self.servers(&view.source, &config, search, tag).await?;
        servers.truncate(limit);
        result.total = servers.len();
        result.message = match (servers.is_empty(), search.is_empty()) {
            (true, true) => format!("No servers found in registry '{id}'"),
            (true, false) => format!("No servers found in registry '{id}' matching '{search}'"),
            (false, _) => format!(
                "Found {} server(s). Add one with upstream_servers operation add_from_registry (registry '{id}', id = the server's id); it starts quarantined.",
                servers.len()
            ),
        };
        result.servers = servers;
        Ok(result)
    }

    /// The entry `id` of a registry, looked up fresh when the cache does not have it.
    async fn entry(
        &self,
        source: &RegistrySource,
        config: &Config,
        id: &str,
    ) -> Result<RegistryServer, RegistryServiceError> {
        let pick = |servers: Vec<RegistryServer>| servers.into_iter().find(|s| s.id == id);
        let cached: Vec<RegistryServer> = self
            .cache
            .lock()
            .await
            .iter()
            .filter(|((r, _, _), _)| r == &source.id)
            .flat_map(|(_, (_, servers))| servers.clone())
            .collect();
        if let Some(found) = pick(cached) {
            return Ok(found);
        }
        pick(self.servers(source, config, id, "").await?).ok_or_else(|| {
            RegistryServiceError::UnknownServer {
                registry: source.id.clone(),
                id: id.to_owned(),
            }
        })
    }

    /// Adds the server `id` of `registry`: its entry is derived from the registry's record,
    /// a remote endpoint must be public (unless private fetches are allowed), and the
    /// management service admits it (quarantined by default, `allow_server_add`).
    pub async fn add(
        &self,
        registry: &str,
        id: &str,
        request: AddFromRegistry,
        caller: impl Into<Caller>,
    ) -> Result<AddedFromRegistry, RegistryServiceError> {
        let caller = caller.into();
        // The gates first: nothing is fetched for a server that could not be added.
        self.management.gate(Action::AddServer, &caller)?;
        let view = self.find(registry)?;
        let config = self.config.current();
        let entry = self.entry(&view.source, &config, id.trim()).await?;
        let derived = derive(
            &entry,
            &DeriveRequest {
                name: request.name,
                inputs: request.inputs,
                enabled: request.enabled,
                registry: view.source.id.clone(),
            },
        )?;
        let mut server = derived.config;
        if !server.url.is_empty() {
            self.registry
                .check_public(
                    &view.source.id,
                    &server.url,
                    config.allow_private_registry_fetch,
                )
                .await?;
        }
        server.extra.insert(
            "source_registry_provenance".into(),
            serde_json::to_value(view.provenance).unwrap_or_default(),
        );
        let added = self
            .management
            .add_server(
                AddServer {
                    config: server,
                    skip_quarantine: false,
                },
                caller,
            )
            .await?;
        let message = if added.quarantined {
            format!(
                "Added '{}' (quarantined — review its tools, then approve with: mcpproxy upstream approve {})",
                added.name, added.name
            )
        } else {
            format!("Added '{}'", added.name)
        };
        Ok(AddedFromRegistry {
            registry: view.source.id,
            registry_server: entry.id,
            unset_inputs: derived.unset,
            server: added,
            message,
        })
    }

    /// Forgets the cached answers of a registry; returns how many.
    pub async fn refresh(&self, registry: &str) -> Result<usize, RegistryServiceError> {
        let id = self.find(registry)?.source.id;
        let mut cache = self.cache.lock().await;
        let before = cache.len();
        cache.retain(|(r, _, _), _| r != &id);
        Ok(before - cache.len())
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
