//! Who waits for what on one upstream session: the calls in flight that relay, so that what
//! the server sends back during a call (progress, log lines, sampling, elicitation, roots)
//! reaches the client that made it.
//!
//! A request from the server is matched to its call by the HTTP stream it came on (the
//! streamable HTTP transport says which of our requests it answers); over stdio nothing
//! says, so it goes to the call that started last — with one call in flight, the only one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mcpproxy_application::ports::Relay;
use rmcp::model::{ProgressToken, RequestId};

struct Active {
    key: u64,
    request: Option<RequestId>,
    progress: Option<ProgressToken>,
    relay: Relay,
}

/// The relaying calls of one session.
#[derive(Default)]
pub struct CallRouter {
    calls: Mutex<Vec<Active>>,
    next: AtomicU64,
}

impl std::fmt::Debug for CallRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRouter").finish_non_exhaustive()
    }
}

/// A call's place in the router; leaving it (drop) ends the routing.
#[derive(Debug)]
pub struct Registration {
    router: Arc<CallRouter>,
    key: u64,
}

impl CallRouter {
    fn calls(&self) -> std::sync::MutexGuard<'_, Vec<Active>> {
        // The list stays consistent whatever panicked while holding it.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(self: &Arc<Self>, relay: Relay) -> Registration {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.calls().push(Active {
            key,
            request: None,
            progress: None,
            relay,
        });
        Registration {
            router: self.clone(),
            key,
        }
    }

    /// The relay of the call whose request carried `token`.
    pub fn by_progress(&self, token: &ProgressToken) -> Option<Relay> {
        self.calls()
            .iter()
            .find(|c| c.progress.as_ref() == Some(token))
            .map(|c| c.relay.clone())
    }

    /// The relay for something the server sent: the call of request `origin` when known,
    /// else the newest call.
    pub fn for_origin(&self, origin: Option<&RequestId>) -> Option<Relay> {
        let calls = self.calls();
        origin
            .and_then(|id| calls.iter().find(|c| c.request.as_ref() == Some(id)))
            .or_else(|| calls.last())
            .map(|c| c.relay.clone())
    }
}

impl Registration {
    /// Notes the id and progress token the request went out with.
    pub fn sent(&self, request: RequestId, progress: ProgressToken) {
        if let Some(call) = self.router.calls().iter_mut().find(|c| c.key == self.key) {
            call.request = Some(request);
            call.progress = Some(progress);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.router.calls().retain(|c| c.key != self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use mcpproxy_application::ports::{RelayError, RelaySink};
    use rmcp::model::NumberOrString;
    use serde_json::Value;

    struct Sink;

    #[async_trait]
    impl RelaySink for Sink {
        async fn request(&self, _: &str, _: Value) -> Result<Value, RelayError> {
            Ok(Value::Null)
        }
        async fn notify(&self, _: &str, _: Value) {}
    }

    #[test]
    fn calls_are_found_by_token_and_origin_and_forgotten_when_done() {
        let router = Arc::new(CallRouter::default());
        let (a, b) = (Relay(Arc::new(Sink)), Relay(Arc::new(Sink)));
        let first = router.register(a.clone());
        first.sent(
            RequestId::Number(1),
            ProgressToken(NumberOrString::Number(7)),
        );
        let second = router.register(b.clone());
        second.sent(
            RequestId::Number(2),
            ProgressToken(NumberOrString::Number(8)),
        );
        assert_eq!(
            router.by_progress(&ProgressToken(NumberOrString::Number(7))),
            Some(a.clone())
        );
        assert_eq!(router.for_origin(Some(&RequestId::Number(1))), Some(a));
        assert_eq!(router.for_origin(None), Some(b.clone()), "the newest call");
        drop(second);
        assert_eq!(
            router.by_progress(&ProgressToken(NumberOrString::Number(8))),
            None
        );
        drop(first);
        assert_eq!(router.for_origin(None), None);
    }
}
