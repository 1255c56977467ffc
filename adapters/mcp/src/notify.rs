//! `notifications/*/list_changed` for every connected client of an endpoint: sessions of
//! protocol versions up to 2025-11-25 through the peer kept from `initialized`, clients of
//! 2026-07-28 through their `subscriptions/listen` streams.

use std::sync::Mutex;

use rmcp::model::SubscriptionFilter;
use rmcp::service::SubscriptionContext;
use rmcp::{ErrorData, Peer, RoleServer};
use tokio::sync::broadcast;

/// A list that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Tools,
    Prompts,
    Resources,
}

#[derive(Debug)]
pub struct Notifier {
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    listeners: broadcast::Sender<Change>,
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
    fn open_sessions(&self) -> std::sync::MutexGuard<'_, Vec<Peer<RoleServer>>> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|p| !p.is_transport_closed());
        sessions
    }

    pub fn add_session(&self, peer: Peer<RoleServer>) {
        self.open_sessions().push(peer);
    }

    /// The sessions still open.
    pub fn sessions(&self) -> Vec<Peer<RoleServer>> {
        self.open_sessions().clone()
    }

    pub async fn tools_changed(&self) {
        self.announce(Change::Tools).await;
    }

    /// Tells every client that a list changed. Closed sessions are dropped.
    pub async fn announce(&self, change: Change) {
        let _ = self.listeners.send(change);
        for peer in self.sessions() {
            let sent = match change {
                Change::Tools => peer.notify_tool_list_changed().await,
                Change::Prompts => peer.notify_prompt_list_changed().await,
                Change::Resources => peer.notify_resource_list_changed().await,
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "a client did not take a list_changed");
            }
        }
    }

    /// Serves a 2026-07-28 `subscriptions/listen` stream until the client leaves.
    pub async fn serve_listener(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        use broadcast::error::RecvError;
        let mut changes = self.listeners.subscribe();
        loop {
            let change = tokio::select! {
                () = context.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let (sink, accepted) = (context.sink(), context.accepted());
            let on = |asked: Option<bool>| asked == Some(true);
            let sent = match change {
                Ok(Change::Tools) | Err(RecvError::Lagged(_)) if on(accepted.tools_list_changed) => {
                    sink.notify_tool_list_changed().await
                }
                Ok(Change::Prompts) if on(accepted.prompts_list_changed) => {
                    sink.notify_prompt_list_changed().await
                }
                Ok(Change::Resources) if on(accepted.resources_list_changed) => {
                    sink.notify_resource_list_changed().await
                }
                Err(RecvError::Closed) => return Ok(()),
                // A kind this listener did not ask for.
                _ => Ok(()),
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }
}

/// What an endpoint accepts of a listen request: the list changes it asked for, of `kinds`.
pub fn accepted(requested: &SubscriptionFilter, kinds: &[Change]) -> SubscriptionFilter {
    let mut accepted = SubscriptionFilter::new();
    let wanted = |asked: Option<bool>, kind: Change| asked.filter(|w| *w && kinds.contains(&kind));
    accepted.tools_list_changed = wanted(requested.tools_list_changed, Change::Tools);
    accepted.prompts_list_changed = wanted(requested.prompts_list_changed, Change::Prompts);
    accepted.resources_list_changed = wanted(requested.resources_list_changed, Change::Resources);
    accepted
}
