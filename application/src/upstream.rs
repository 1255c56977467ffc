//! Keeping track of what the upstream adapter reports: the state of each connection and the
//! tools each server offers, stored so they survive a restart and announced on the bus.

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_domain::{DomainEvent, ServerName, Tool};

use crate::ports::{EventPublisher, ServerRepository, ServerRuntime, UpstreamObserver};

/// The application's side of [`UpstreamObserver`].
pub struct UpstreamTracker {
    servers: Arc<dyn ServerRepository>,
    events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for UpstreamTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTracker").finish_non_exhaustive()
    }
}

impl UpstreamTracker {
    pub fn new(servers: Arc<dyn ServerRepository>, events: Arc<dyn EventPublisher>) -> Self {
        Self { servers, events }
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
        if let Err(e) = self.servers.save_tools(server, &tools).await {
            tracing::error!(%server, error = %e, "could not store the tool list");
        }
        self.events.publish(DomainEvent::ToolsDiscovered {
            server: server.clone(),
            tools: tools.len(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockEventPublisher, MockServerRepository};
    use mcpproxy_domain::{ConnectionState, Timestamp};
    use serde_json::json;

    #[tokio::test]
    async fn states_and_tools_are_stored_and_announced() {
        let mut repo = MockServerRepository::new();
        repo.expect_save_runtime()
            .withf(|r| r.state == ConnectionState::Ready && r.tool_count == 1)
            .times(1)
            .returning(|_| Ok(()));
        repo.expect_save_tools()
            .withf(|n, t| n.as_str() == "s" && t.len() == 1)
            .times(1)
            .returning(|_, _| Ok(()));
        let mut events = MockEventPublisher::new();
        let mut seq = mockall::Sequence::new();
        events
            .expect_publish()
            .withf(|e| {
                matches!(
                    e,
                    DomainEvent::ConnectionChanged {
                        state: ConnectionState::Ready,
                        ..
                    }
                )
            })
            .times(1)
            .in_sequence(&mut seq)
            .return_const(());
        events
            .expect_publish()
            .withf(|e| matches!(e, DomainEvent::ToolsDiscovered { tools: 1, .. }))
            .times(1)
            .in_sequence(&mut seq)
            .return_const(());
        let tracker = UpstreamTracker::new(Arc::new(repo), Arc::new(events));
        let name = ServerName::parse("s").unwrap();
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
    }
}
