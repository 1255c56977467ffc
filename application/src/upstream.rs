//! Keeping track of what the upstream adapter reports: the state of each connection and the
//! tools each server offers, stored so they survive a restart and announced on the bus.

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_domain::{DomainEvent, ServerName, Tool};

use crate::catalog::ToolCatalog;
use crate::ports::{EventPublisher, ServerRepository, ServerRuntime, UpstreamObserver};

/// The application's side of [`UpstreamObserver`]: states are stored and announced, tool
/// lists go through the catalog (approvals, index).
pub struct UpstreamTracker {
    servers: Arc<dyn ServerRepository>,
    events: Arc<dyn EventPublisher>,
    catalog: Arc<ToolCatalog>,
}

impl std::fmt::Debug for UpstreamTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTracker").finish_non_exhaustive()
    }
}

impl UpstreamTracker {
    pub fn new(
        servers: Arc<dyn ServerRepository>,
        events: Arc<dyn EventPublisher>,
        catalog: Arc<ToolCatalog>,
    ) -> Self {
        Self {
            servers,
            events,
            catalog,
        }
    }
}

#[async_trait]
impl UpstreamObserver for UpstreamTracker {
    async fn state_changed(&self, runtime: ServerRuntime) {
        if let Err(e) = self.servers.save_runtime(&runtime).await {
            tracing::error!(server = %runtime.name, error = %e, "could not store the connection state");
        }
        self.events.publish(DomainEvent::ConnectionChanged {
            server: runtime.name,
            state: runtime.state,
            error: runtime.last_error,
        });
    }

    async fn tools_discovered(&self, server: &ServerName, tools: Vec<Tool>) {
        let count = tools.len();
        if let Err(e) = self.catalog.discovered(server, tools).await {
            tracing::error!(%server, error = %e, "could not take in the tool list");
        }
        self.events.publish(DomainEvent::ToolsDiscovered {
            server: server.clone(),
            tools: count,
        });
    }

    async fn auth_required(&self, server: &ServerName, challenge: Option<String>) {
        self.events.publish(DomainEvent::AuthRequired {
            server: server.clone(),
            challenge,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Mem, catalog};
    use mcpproxy_domain::{Config, ConnectionState, ServerConfig, Timestamp};
    use serde_json::json;

    #[tokio::test]
    async fn states_are_announced_and_tools_go_through_the_catalog() {
        let mem = Arc::new(Mem::default());
        let name = ServerName::parse("s").unwrap();
        let mut server = ServerConfig::new(name.clone());
        server.command = "x".into();
        *mem.config.lock().unwrap() = Config {
            servers: vec![server],
            ..Config::default()
        };
        let tracker = UpstreamTracker::new(mem.clone(), mem.clone(), catalog(&mem));
        tracker
            .state_changed(ServerRuntime {
                name: name.clone(),
                state: ConnectionState::Ready,
                last_error: None,
                tool_count: 1,
                connected_at: None,
                updated_at: Timestamp::from_millis(1),
            })
            .await;
        tracker
            .tools_discovered(&name, vec![Tool::new("echo", "", json!({}))])
            .await;
        let events = mem.events.lock().unwrap().clone();
        assert!(matches!(
            events.first(),
            Some(DomainEvent::ConnectionChanged {
                state: ConnectionState::Ready,
                ..
            })
        ));
        assert!(matches!(
            events.last(),
            Some(DomainEvent::ToolsDiscovered { tools: 1, .. })
        ));
        assert_eq!(
            mem.tools.lock().unwrap()[&name].len(),
            1,
            "stored by the catalog"
        );
        assert_eq!(
            mem.index.lock().unwrap()[&name].len(),
            1,
            "indexed by the catalog"
        );
    }
}
