//! The admission gate on the config-load path: a server written into the config file without a
//! `quarantined` key, that the proxy has never seen, is held for review (rule and reasons in
//! [`mcpproxy_domain::load_gate`]). Run at start and on every hot reload, before the loaded
//! config goes into force, so the server is never connected or listed unreviewed.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_domain::{Config, ServerName, load_gate};

use crate::ports::{ConfigAdmission, ServerRepository};

/// "Never seen" is read from the servers' run-time records in storage: every server the proxy
/// has ever started has one (kept across restarts, deleted when the server is removed).
pub struct LoadGate {
    servers: Arc<dyn ServerRepository>,
}

impl std::fmt::Debug for LoadGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadGate").finish_non_exhaustive()
    }
}

impl LoadGate {
    pub fn new(servers: Arc<dyn ServerRepository>) -> Self {
        Self { servers }
    }
}

#[async_trait]
impl ConfigAdmission for LoadGate {
    async fn admit(&self, mut config: Config) -> (Config, Vec<ServerName>) {
        if config.servers.iter().all(|s| s.quarantined.is_some()) {
            return (config, Vec::new());
        }
        let known: HashSet<ServerName> = match self.servers.all_runtime().await {
            Ok(rows) => rows.into_iter().map(|r| r.name).collect(),
            Err(e) => {
                // An unreadable database must not make every server look new: that would
                // quarantine the user's whole list, for good, since the decision is saved.
                tracing::warn!(
                    error = %e,
                    "server records unreadable; the config-load quarantine gate abstains this time"
                );
                return (config, Vec::new());
            }
        };
        let held = load_gate::apply(&mut config, |name| known.contains(name));
        for name in &held {
            tracing::warn!(
                server = %name,
                "new server from the config file has no \"quarantined\" key: held for review \
                 (quarantined); unquarantine it after review, or write \"quarantined\": false"
            );
        }
        (config, held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockServerRepository, ServerRuntime, StorageError};
    use mcpproxy_domain::{ConnectionState, ServerConfig, Timestamp};

    fn config(names: &[&str]) -> Config {
        Config {
            servers: names
                .iter()
                .map(|n| {
                    let mut s = ServerConfig::new(ServerName::parse(*n).unwrap());
                    s.command = "echo".into();
                    s
                })
                .collect(),
            ..Config::default()
        }
    }

    fn runtime(name: &str) -> ServerRuntime {
        ServerRuntime {
            name: ServerName::parse(name).unwrap(),
            state: ConnectionState::Ready,
            last_error: None,
            tool_count: 1,
            connected_at: None,
            updated_at: Timestamp::from_millis(0),
        }
    }

    #[tokio::test]
    async fn holds_only_the_servers_storage_has_never_seen() {
        let mut repo = MockServerRepository::new();
        repo.expect_all_runtime()
            .returning(|| Ok(vec![runtime("old")]));
        let (config, held) = LoadGate::new(Arc::new(repo))
            .admit(config(&["old", "new"]))
            .await;
        assert_eq!(held, vec![ServerName::parse("new").unwrap()]);
        assert_eq!(config.servers[0].quarantined, None);
        assert_eq!(config.servers[1].quarantined, Some(true));
    }

    #[tokio::test]
    async fn abstains_when_storage_cannot_be_read() {
        let mut repo = MockServerRepository::new();
        repo.expect_all_runtime()
            .returning(|| Err(StorageError("locked".into())));
        let (config, held) = LoadGate::new(Arc::new(repo)).admit(config(&["new"])).await;
        assert!(held.is_empty());
        assert_eq!(config.servers[0].quarantined, None);
    }
}
