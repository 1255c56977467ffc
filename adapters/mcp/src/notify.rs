//! `notifications/tools/list_changed` for every connected client of an endpoint: sessions of
//! protocol versions up to 2025-11-25 through the peer kept from `initialized`, clients of
//! 2026-07-28 through their `subscriptions/listen` streams.

use std::sync::Mutex;

use rmcp::{Peer, RoleServer};
use tokio::sync::broadcast;

#[derive(Debug)]
pub struct Notifier {
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    listeners: broadcast::Sender<()>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            sessions: Mutex::new(Vec::new()),
            listeners: broadcast::channel(16).0,
        }
    }
}

impl Notifier {
    pub fn add_session(&self, peer: Peer<RoleServer>) {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|p| !p.is_transport_closed());
        sessions.push(peer);
    }

    pub fn listen(&self) -> broadcast::Receiver<()> {
        self.listeners.subscribe()
    }

    /// Tells every client that the tool list changed. Closed sessions are dropped.
    pub async fn tools_changed(&self) {
        let _ = self.listeners.send(());
        let sessions: Vec<Peer<RoleServer>> = {
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sessions.retain(|p| !p.is_transport_closed());
            sessions.clone()
        };
        for peer in sessions {
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "a client did not take tools/list_changed");
            }
        }
    }
}
