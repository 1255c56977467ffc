//! In-memory stand-ins for the ports, for the use-case tests of this crate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_domain::activity::ActivityRecord;
use mcpproxy_domain::fingerprint::tool_set_signature;
use mcpproxy_domain::{Config, DomainEvent, ServerName, Timestamp, Tool, ToolApproval};
use serde_json::{Map, Value};

use crate::activity::ActivityLog;
use crate::catalog::ToolCatalog;
use crate::ports::*;

/// A call the fake upstream received: server, tool, arguments.
pub type UpstreamCall = (String, String, Option<Map<String, Value>>);

#[derive(Default)]
pub struct Mem {
    pub config: Mutex<Config>,
    handed_out: Mutex<Option<Arc<Config>>>,
    pub tools: Mutex<HashMap<ServerName, Vec<Tool>>>,
    pub approvals: Mutex<HashMap<(ServerName, String), ToolApproval>>,
    pub activity: Mutex<Vec<ActivityRecord>>,
    pub cache: Mutex<HashMap<String, CachedResponse>>,
    pub index: Mutex<HashMap<ServerName, Vec<Tool>>>,
    pub index_writes: Mutex<Vec<(ServerName, usize)>>,
    pub events: Mutex<Vec<DomainEvent>>,
    pub upstream_calls: Mutex<Vec<UpstreamCall>>,
    pub upstream_answer: Mutex<Option<Result<Value, UpstreamError>>>,
    /// Requests other than tool calls: server, method, params.
    pub upstream_requests: Mutex<Vec<(String, String, Value)>>,
}

#[async_trait]
impl ConfigStore for Mem {
    /// The same `Arc` until the config changes, as the file store hands it out.
    fn current(&self) -> Arc<Config> {
        let config = self.config.lock().unwrap();
        let mut handed = self.handed_out.lock().unwrap();
        match &*handed {
            Some(c) if **c == *config => c.clone(),
            _ => {
                let c = Arc::new(config.clone());
                *handed = Some(c.clone());
                c
            }
        }
    }
    async fn save(&self, config: Config) -> Result<(), ConfigStoreError> {
        *self.config.lock().unwrap() = config;
        Ok(())
    }
}

#[async_trait]
impl ServerRepository for Mem {
    async fn save_runtime(&self, _: &ServerRuntime) -> Result<(), StorageError> {
        Ok(())
    }
    async fn runtime(&self, _: &ServerName) -> Result<Option<ServerRuntime>, StorageError> {
        Ok(None)
    }
    async fn all_runtime(&self) -> Result<Vec<ServerRuntime>, StorageError> {
        Ok(vec![])
    }
    async fn save_tools(&self, name: &ServerName, tools: &[Tool]) -> Result<(), StorageError> {
        self.tools
            .lock()
            .unwrap()
            .insert(name.clone(), tools.to_vec());
        Ok(())
    }
    async fn tools(&self, name: &ServerName) -> Result<Vec<Tool>, StorageError> {
        Ok(self
            .tools
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default())
    }
    async fn delete(&self, name: &ServerName) -> Result<(), StorageError> {
        self.tools.lock().unwrap().remove(name);
        Ok(())
    }
}

#[async_trait]
impl ApprovalRepository for Mem {
    async fn get(&self, s: &ServerName, t: &str) -> Result<Option<ToolApproval>, StorageError> {
        Ok(self
            .approvals
            .lock()
            .unwrap()
            .get(&(s.clone(), t.to_owned()))
            .cloned())
    }
    async fn for_server(&self, s: &ServerName) -> Result<Vec<ToolApproval>, StorageError> {
        Ok(self
            .approvals
            .lock()
            .unwrap()
            .values()
            .filter(|a| &a.server == s)
            .cloned()
            .collect())
    }
    async fn save(&self, a: &ToolApproval) -> Result<(), StorageError> {
        self.approvals
            .lock()
            .unwrap()
            .insert((a.server.clone(), a.tool.clone()), a.clone());
        Ok(())
    }
    async fn delete(&self, s: &ServerName, t: &str) -> Result<(), StorageError> {
        self.approvals
            .lock()
            .unwrap()
            .remove(&(s.clone(), t.to_owned()));
        Ok(())
    }
    async fn delete_server(&self, s: &ServerName) -> Result<(), StorageError> {
        self.approvals.lock().unwrap().retain(|(n, _), _| n != s);
        Ok(())
    }
}

#[async_trait]
impl ActivityRepository for Mem {
    async fn append(&self, r: &ActivityRecord) -> Result<(), StorageError> {
        self.activity.lock().unwrap().push(r.clone());
        Ok(())
    }
    async fn get(&self, id: &str) -> Result<Option<ActivityRecord>, StorageError> {
        Ok(self
            .activity
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned())
    }
    async fn list(&self, _: &ActivityFilter) -> Result<ActivityPage, StorageError> {
        unreachable!("not used by these tests")
    }
    async fn prune(&self, _: Timestamp, _: u64) -> Result<u64, StorageError> {
        Ok(0)
    }
}

#[async_trait]
impl CacheRepository for Mem {
    async fn put(&self, e: &CachedResponse) -> Result<(), StorageError> {
        self.cache.lock().unwrap().insert(e.key.clone(), e.clone());
        Ok(())
    }
    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<CachedResponse>, StorageError> {
        Ok(self
            .cache
            .lock()
            .unwrap()
            .get(key)
            .filter(|e| e.expires_at > now)
            .cloned())
    }
    async fn purge_expired(&self, _: Timestamp) -> Result<u64, StorageError> {
        Ok(0)
    }
}

/// A naive index: a tool matches when its name or description contains a query word; the
/// score counts the words that match (a name match counts twice).
#[async_trait]
impl ToolIndex for Mem {
    async fn replace_server(
        &self,
        server: &ServerName,
        tools: &[Tool],
        _aliases: &[String],
    ) -> Result<(), IndexError> {
        self.index
            .lock()
            .unwrap()
            .insert(server.clone(), tools.to_vec());
        self.index_writes
            .lock()
            .unwrap()
            .push((server.clone(), tools.len()));
        Ok(())
    }
    fn configure(&self, _: &mcpproxy_domain::SearchConfig) {}
    async fn remove_server(&self, server: &ServerName) -> Result<(), IndexError> {
        self.index.lock().unwrap().remove(server);
        self.index_writes.lock().unwrap().push((server.clone(), 0));
        Ok(())
    }
    async fn signatures(&self) -> Result<HashMap<ServerName, String>, IndexError> {
        Ok(self
            .index
            .lock()
            .unwrap()
            .iter()
            .map(|(s, tools)| {
                let fps: Vec<_> = tools
                    .iter()
                    .map(|t| (t.name.clone(), t.fingerprint()))
                    .collect();
                (
                    s.clone(),
                    tool_set_signature(fps.iter().map(|(n, f)| (n.as_str(), f))),
                )
            })
            .collect())
    }
    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut hits: Vec<SearchHit> = Vec::new();
        for (server, tools) in self.index.lock().unwrap().iter() {
            for t in tools {
                let score: f32 = words
                    .iter()
                    .map(|w| {
                        2.0 * f32::from(u8::from(t.name.to_lowercase().contains(w.as_str())))
                            + f32::from(u8::from(t.description.to_lowercase().contains(w.as_str())))
                    })
                    .sum();
                if score > 0.0 {
                    hits.push(SearchHit {
                        server: server.clone(),
                        tool: t.name.clone(),
                        score,
                        coverage: score / (3.0 * words.len() as f32),
                    });
                }
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        Ok(hits)
    }
}

impl EventPublisher for Mem {
    fn publish(&self, event: DomainEvent) {
        self.events.lock().unwrap().push(event);
    }
}

impl Clock for Mem {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_795_609_755_000)
    }
}

#[async_trait]
impl UpstreamPool for Mem {
    async fn restart(&self, _: &ServerName) -> Result<(), UpstreamError> {
        Ok(())
    }
    async fn rediscover(&self, _: &ServerName) -> Result<(), UpstreamError> {
        Ok(())
    }
    async fn auth_started(&self, _: &ServerName) {}
    async fn call_tool(
        &self,
        server: &ServerName,
        tool: &str,
        arguments: Option<Map<String, Value>>,
        _: Duration,
        _: Option<crate::ports::Relay>,
    ) -> Result<Value, UpstreamError> {
        self.upstream_calls.lock().unwrap().push((
            server.to_string(),
            tool.to_owned(),
            arguments.clone(),
        ));
        self.upstream_answer.lock().unwrap().clone().unwrap_or_else(|| {
            Ok(serde_json::json!({"content": [{"type": "text", "text": "ok"}], "isError": false}))
        })
    }
    async fn request(
        &self,
        server: &ServerName,
        method: &str,
        params: Value,
        _: Duration,
    ) -> Result<Value, UpstreamError> {
        self.upstream_requests.lock().unwrap().push((
            server.to_string(),
            method.to_owned(),
            params,
        ));
        Ok(serde_json::json!({}))
    }
    fn status(&self, _: &ServerName) -> Option<ServerRuntime> {
        None
    }
    fn server_info(&self, _: &ServerName) -> Option<Value> {
        None
    }
    fn notices(&self) -> tokio::sync::broadcast::Receiver<crate::ports::UpstreamNotice> {
        tokio::sync::broadcast::channel(1).1
    }
}

/// The management service over `mem` with `upstream`, and the activity log it records to.
pub fn management(
    mem: &Arc<Mem>,
    upstream: Arc<dyn UpstreamPool>,
) -> (Arc<crate::ManagementService>, Arc<ActivityLog>) {
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    let management = Arc::new(crate::ManagementService::new(
        mem.clone(),
        mem.clone(),
        mem.clone(),
        upstream,
        mem.clone(),
        activity.clone(),
        mem.clone(),
    ));
    (management, activity)
}

/// A catalog over `mem`.
pub fn catalog(mem: &Arc<Mem>) -> Arc<ToolCatalog> {
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    Arc::new(ToolCatalog::new(
        mem.clone(),
        mem.clone(),
        mem.clone(),
        mem.clone(),
        mem.clone(),
        activity,
    ))
}

/// A keyring in memory; one made with `unavailable` refuses everything, as a machine without
/// a Secret Service does.
#[derive(Default)]
pub struct Keyring(
    pub Mutex<std::collections::BTreeMap<String, String>>,
    pub bool,
);

impl Keyring {
    pub fn unavailable() -> Self {
        Self(Mutex::default(), true)
    }

    fn check(&self) -> Result<(), SecretStoreError> {
        if self.1 {
            Err(SecretStoreError::Unavailable(
                "no Secret Service on the session bus".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SecretStore for Keyring {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretStoreError> {
        self.check()?;
        Ok(self.0.lock().unwrap().get(name).cloned())
    }
    async fn set(&self, name: &str, value: &str) -> Result<(), SecretStoreError> {
        self.check()?;
        self.0.lock().unwrap().insert(name.into(), value.into());
        Ok(())
    }
    async fn delete(&self, name: &str) -> Result<bool, SecretStoreError> {
        self.check()?;
        Ok(self.0.lock().unwrap().remove(name).is_some())
    }
    async fn list(&self) -> Result<Vec<String>, SecretStoreError> {
        self.check()?;
        Ok(self.0.lock().unwrap().keys().cloned().collect())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}
