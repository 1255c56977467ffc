//! The in-process event bus: one publisher side, any number of subscribers.

use mcpproxy_domain::DomainEvent;
use tokio::sync::broadcast;

use crate::ports::EventPublisher;

/// How many events a subscriber may fall behind before it loses the oldest.
const CAPACITY: usize = 1024;

/// A broadcast bus. Publishing never waits; a subscriber that falls more than `CAPACITY`
/// events behind receives `RecvError::Lagged` and must resynchronise (the SSE stream tells
/// its client to reload).
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<DomainEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }
}

impl EventPublisher for EventBus {
    fn publish(&self, event: DomainEvent) {
        tracing::debug!(event = %event.name(), "event");
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_domain::{ServerChange, ServerName};

    fn event(i: usize) -> DomainEvent {
        DomainEvent::ServerChanged {
            server: ServerName::parse(format!("s{i}")).unwrap(),
            change: ServerChange::Updated,
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event() {
        let bus = EventBus::new();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(event(1));
        assert_eq!(a.recv().await.unwrap(), event(1));
        assert_eq!(b.recv().await.unwrap(), event(1));
    }

    #[tokio::test]
    async fn a_slow_subscriber_never_blocks_the_publisher() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe();
        for i in 0..CAPACITY + 10 {
            bus.publish(event(i));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
        assert_eq!(slow.recv().await.unwrap(), event(10));
    }
}
