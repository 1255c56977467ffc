//! MCP server registries over HTTP, behind the SSRF guard ([`guard`]): the official
//! registry protocol (`GET /v0.1/servers` with `search`, `version=latest`, `limit` and
//! `cursor` pages; each item a `server.json` wrapped with the registry's `_meta`) and Docker
//! Hub's `mcp/` namespace (`results` pages with `next`). Pages are followed on the registry's
//! own host only, so a hostile `next` cannot send the proxy elsewhere. A registry's API key
//! (`MCPPROXY_REGISTRY_<ID>_API_KEY`) goes out as `Authorization: Bearer`.
#![forbid(unsafe_code)]

pub mod guard;
mod parse;

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_application::ports::{Registry, RegistryError, RegistryQuery};
use mcpproxy_domain::netguard;
use mcpproxy_domain::registry::{
    PROTOCOL_DOCKER, PROTOCOL_OFFICIAL, RegistryServer, RegistrySource,
};
use serde_json::Value;

/// At most this many pages are read for one search.
const MAX_PAGES: usize = 20;

/// Reads a registry's API key by the variable that holds it.
pub type KeyLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The registries, read over HTTP.
pub struct HttpRegistries {
    keys: KeyLookup,
}

impl std::fmt::Debug for HttpRegistries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistries").finish_non_exhaustive()
    }
}

impl HttpRegistries {
    pub fn new(keys: KeyLookup) -> Self {
        Self { keys }
    }

    /// Keys from the process environment.
    pub fn from_env() -> Self {
        Self::new(Arc::new(|var: &str| {
            std::env::var(var).ok().filter(|v| !v.is_empty())
        }))
    }
}

/// One registry being read: its client, key and where it may be read from.
struct Reader<'a> {
    source: &'a RegistrySource,
    http: reqwest::Client,
    key: Option<String>,
    host: Option<String>,
    allow_private: bool,
}

impl Reader<'_> {
    fn unreachable(&self, url: &str, reason: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.source.id.clone(),
            url: url.to_owned(),
            reason: reason.to_string(),
        }
    }

    fn bad(&self, url: &str, reason: impl std::fmt::Display) -> RegistryError {
        RegistryError::BadAnswer {
            registry: self.source.id.clone(),
            url: url.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// GETs `url` (on the registry's own host) as JSON.
    async fn get(&self, url: &str) -> Result<Value, RegistryError> {
        if netguard::host_of(url) != self.host {
            return Err(RegistryError::Refused {
                registry: self.source.id.clone(),
                reason: format!("its next page {url:?} is on another host; not followed"),
            });
        }
        guard::check(url, self.allow_private)
            .await
            .map_err(|reason| RegistryError::Refused {
                registry: self.source.id.clone(),
                reason,
            })?;
        let mut request = self.http.get(url).header("Accept", "application/json");
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                reason = format!("{reason}: {inner}");
                source = inner.source();
            }
            self.unreachable(url, reason)
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.bad(url, format!("HTTP {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| self.bad(url, format!("not JSON: {e}")))
    }

    /// The official protocol: cursor pages of `{server, _meta}` items.
    async fn official(&self, query: &RegistryQuery) -> Result<Vec<RegistryServer>, RegistryError> {
        let base = self.source.servers_url();
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = url::Url::parse(&base).map_err(|e| self.bad(&base, e))?;
            {
                let mut params = url.query_pairs_mut();
                params
                    .append_pair("limit", "100")
                    .append_pair("version", "latest");
                if !query.search.is_empty() {
                    params.append_pair("search", &query.search);
                }
                if let Some(c) = &cursor {
                    params.append_pair("cursor", c);
                }
            }
            let page = self.get(url.as_str()).await?;
            let items = page["servers"]
                .as_array()
                .ok_or_else(|| self.bad(url.as_str(), "no \"servers\" list"))?;
            out.extend(
                items
                    .iter()
                    .filter_map(|item| parse::official(item, &self.source.id))
                    .filter(|s| {
                        query.tag.is_empty() || s.tags.is_empty() || parse::tagged(s, &query.tag)
                    }),
            );
            let next = page["metadata"]["nextCursor"]
                .as_str()
                .or_else(|| page["metadata"]["next_cursor"].as_str())
                .filter(|c| !c.is_empty());
            match next {
                Some(c) if out.len() < query.limit => cursor = Some(c.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Docker Hub: `results` pages linked by `next`, filtered here.
    async fn docker(&self, query: &RegistryQuery) -> Result<Vec<RegistryServer>, RegistryError> {
        let mut url = self.source.servers_url();
        if !url.contains('?') {
            url.push_str("?page_size=100");
        }
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.get(&url).await?;
            let items = page["results"]
                .as_array()
                .ok_or_else(|| self.bad(&url, "no \"results\" list"))?;
            out.extend(
                items
                    .iter()
                    .filter_map(|item| parse::docker(item, &self.source.id))
                    .filter(|s| mcpproxy_domain::registry::matches(s, &query.search, &query.tag)),
            );
            match page["next"].as_str().filter(|n| !n.is_empty()) {
                Some(next) if out.len() < query.limit => url = next.to_owned(),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Registry for HttpRegistries {
    async fn search(
        &self,
        source: &RegistrySource,
        query: &RegistryQuery,
        allow_private: bool,
    ) -> Result<Vec<RegistryServer>, RegistryError> {
        let key = (self.keys)(&source.key_variable());
        if source.requires_key && key.is_none() {
            return Err(RegistryError::KeyMissing {
                registry: source.id.clone(),
                variable: source.key_variable(),
            });
        }
        let servers_url = source.servers_url();
        let http = guard::client(allow_private).map_err(|e| RegistryError::Unreachable {
            registry: source.id.clone(),
            url: servers_url.clone(),
            reason: e.to_string(),
        })?;
        let reader = Reader {
            source,
            http,
            key,
            host: netguard::host_of(&servers_url),
            allow_private,
        };
        let mut servers = match source.protocol() {
            PROTOCOL_OFFICIAL => reader.official(query).await?,
            PROTOCOL_DOCKER => reader.docker(query).await?,
            other => {
                return Err(RegistryError::Unsupported {
                    registry: source.id.clone(),
                    protocol: other.to_owned(),
                });
            }
        };
        servers.truncate(query.limit.max(1));
        Ok(servers)
    }

    async fn check_public(
        &self,
        registry: &str,
        url: &str,
        allow_private: bool,
    ) -> Result<(), RegistryError> {
        guard::check(url, allow_private)
            .await
            .map_err(|reason| RegistryError::Refused {
                registry: registry.to_owned(),
                reason,
            })
    }
}
