//! MCP sessions, capped. Each session costs memory (its handler, channels, buffers) for as
//! long as it lives, and a client that opens sessions without ending them would otherwise
//! grow the proxy without bound. Every endpoint's sessions are in one book: when a new
//! session would go over `mcp_max_sessions`, the session idle the longest (no request
//! under way, no open stream) is ended to make room; when every session is busy, the new
//! one is refused with a 503 that says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::{Stream, StreamExt};
use mcpproxy_application::ports::ConfigStore;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use crate::fast::{Lane, Lanes};

/// What the book knows of one session.
struct Entry {
    /// The endpoint's session manager, to end the session when it is evicted.
    owner: Arc<LocalSessionManager>,
    last_used: Instant,
    /// Requests under way and streams open.
    busy: usize,
    /// The `tools/call` fast path of the session, once its handshake is done.
    lane: Option<Arc<Lane>>,
}

/// Every live session of every MCP endpoint.
pub struct SessionBook {
    config: Arc<dyn ConfigStore>,
    /// Forgets a session's `set_profile` choice when the session ends.
    profiles: Arc<mcpproxy_application::ProfileService>,
    entries: Mutex<HashMap<SessionId, Entry>>,
    lanes: Lanes,
}

impl std::fmt::Debug for SessionBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBook")
            .field("sessions", &self.count())
            .finish_non_exhaustive()
    }
}

/// Every session is busy and the cap is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub limit: usize,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many MCP sessions: all {} are in use (mcp_max_sessions); end sessions you no longer use (DELETE with their Mcp-Session-Id), or try again later",
            self.limit
        )
    }
}

impl SessionBook {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        profiles: Arc<mcpproxy_application::ProfileService>,
    ) -> Self {
        Self {
            config,
            profiles,
            entries: Mutex::default(),
            lanes: Lanes::default(),
        }
    }

    /// The fast path's calls in flight and questions waiting.
    pub(crate) fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    /// The session's fast path, if its handshake is done.
    pub(crate) fn lane(&self, id: &str) -> Option<Arc<Lane>> {
        self.entries().get(id)?.lane.clone()
    }

    pub(crate) fn open_lane(&self, id: &str, lane: Arc<Lane>) {
        if let Some(e) = self.entries().get_mut(id) {
            e.lane = Some(lane);
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self) -> usize {
        self.entries().len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries().contains_key(id)
    }

    /// Makes room for one more session: ends the longest idle ones while the book is at
    /// `mcp_max_sessions`; refuses when all are busy.
    pub async fn make_room(&self) -> Result<(), Full> {
        let limit = self.config.current().mcp_max_sessions();
        loop {
            let (id, owner) = {
                let mut entries = self.entries();
                if entries.len() < limit {
                    return Ok(());
                }
                let victim = entries
                    .iter()
                    .filter(|(_, e)| e.busy == 0)
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(id, _)| id.clone())
                    .ok_or(Full { limit })?;
                let entry = entries.remove(&victim).ok_or(Full { limit })?;
                (victim, entry.owner)
            };
            self.profiles.forget(&id);
            tracing::debug!(session = %id, "ending the longest idle MCP session to make room");
            if let Err(e) = owner.close_session(&id).await {
                tracing::debug!(session = %id, "could not end an evicted session: {e}");
            }
        }
    }

    fn added(&self, id: &SessionId, owner: &Arc<LocalSessionManager>) {
        self.entries().insert(
            id.clone(),
            Entry {
                owner: owner.clone(),
                last_used: Instant::now(),
                busy: 0,
                lane: None,
            },
        );
    }

    fn removed(&self, id: &SessionId) {
        self.entries().remove(id);
        self.profiles.forget(id);
    }

    fn touch(&self, id: &SessionId) {
        if let Some(e) = self.entries().get_mut(id) {
            e.last_used = Instant::now();
        }
    }

    /// The session is busy until the returned guard drops.
    pub(crate) fn busy(self: &Arc<Self>, id: &SessionId) -> Busy {
        if let Some(e) = self.entries().get_mut(id) {
            e.last_used = Instant::now();
            e.busy += 1;
        }
        Busy {
            book: self.clone(),
            id: id.clone(),
        }
    }
}

/// A request or stream under way in a session.
pub(crate) struct Busy {
    book: Arc<SessionBook>,
    id: SessionId,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = self.book.entries().get_mut(&self.id) {
            e.busy = e.busy.saturating_sub(1);
            e.last_used = Instant::now();
        }
    }
}

/// One endpoint's sessions (rmcp's in-memory manager), kept in the shared book.
#[derive(Debug, Clone)]
pub struct BookedSessions {
    inner: Arc<LocalSessionManager>,
    book: Arc<SessionBook>,
}

impl BookedSessions {
    pub fn new(book: Arc<SessionBook>) -> Self {
        Self {
            inner: Arc::new(LocalSessionManager::default()),
            book,
        }
    }

    /// `stream`, with the session busy while it is open.
    fn held(
        &self,
        id: &SessionId,
        stream: impl Stream<Item = ServerSseMessage> + Send + Sync + 'static,
    ) -> impl Stream<Item = ServerSseMessage> + Send + Sync + 'static {
        let busy = self.book.busy(id);
        stream.map(move |m| {
            let _ = &busy;
            m
        })
    }
}

impl SessionManager for BookedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        self.book.added(&id, &self.inner);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let _busy = self.book.busy(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.book.removed(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_stream(id, message).await?;
        Ok(self.held(id, stream))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.book.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(self.held(id, stream))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(self.held(id, stream))
    }
}
