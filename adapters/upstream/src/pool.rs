//! The pool: the supervised connections to every enabled upstream, kept in line with the
//! config, and the application's [`UpstreamPool`] port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::ports::{
    Clock, Relay, ServerLogs, ServerRuntime, UpstreamError, UpstreamNotice, UpstreamObserver,
    UpstreamPool,
};
use mcpproxy_domain::{BackoffPolicy, Config, ConnectionState, ServerName};
use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, ClientRequest, Request, RequestId,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::{Peer, RoleClient};
use serde_json::{Map, Value};
use tokio::sync::{RwLock, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::connect::{ConnectSpec, Connector};
use crate::graveyard::Graveyard;
use crate::process::Grace;
use crate::router::{CallRouter, Registration};
use crate::slots::StartSlots;
use crate::supervisor::{Command, Status, Supervisor};

/// A session and the router of its relaying calls.
type Session = (Peer<RoleClient>, Option<Arc<CallRouter>>);

/// Tells the server a request is no longer wanted when the caller stops waiting for it
/// before the answer came (its future was dropped).
struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let reason = Some("the client cancelled the call".to_owned());
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(Some(id), reason))
                    .await;
            });
        }
    }
}

/// Sends `request`, notes it in the call's `registration`, and waits at most `timeout`
/// (after which rmcp cancels it upstream).
async fn send(
    peer: &Peer<RoleClient>,
    request: ClientRequest,
    timeout: Duration,
    registration: Option<&Registration>,
) -> Result<ServerResult, ServiceError> {
    let mut options = PeerRequestOptions::default();
    options.timeout = Some(timeout);
    let handle = peer.send_request_with_option(request, options).await?;
    if let Some(r) = registration {
        r.sent(handle.id.clone(), handle.progress_token.clone());
    }
    let mut guard = CancelOnDrop {
        peer: peer.clone(),
        id: Some(handle.id.clone()),
    };
    let answer = handle.await_response().await;
    guard.id = None;
    answer
}

/// The `WWW-Authenticate` of a request the server refused for authorization (401, or 403
/// for a missing scope), found among the error's causes.
pub(crate) fn auth_challenge(e: &ServiceError) -> Option<String> {
    use rmcp::transport::streamable_http_client::{AuthRequiredError, InsufficientScopeError};
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(current) = cause {
        if let Some(a) = current.downcast_ref::<AuthRequiredError>() {
            return Some(a.www_authenticate_header.clone());
        }
        if let Some(s) = current.downcast_ref::<InsufficientScopeError>() {
            return Some(s.www_authenticate_header.clone());
        }
        cause = current.source();
    }
    None
}

impl Pool {
    /// An rmcp failure as the port's error; a refusal for authorization is reported, so a
    /// login (or one with more scopes) can start.
    async fn failure(&self, server: &ServerName, e: ServiceError) -> UpstreamError {
        match auth_challenge(&e) {
            Some(challenge) => {
                self.observer
                    .auth_required(server, Some(challenge.clone()))
                    .await;
                UpstreamError::AuthRequired {
                    server: server.clone(),
                    challenge: Some(challenge),
                }
            }
            None => failure(server, e),
        }
    }
}

/// An rmcp failure as the port's error.
fn failure(server: &ServerName, e: ServiceError) -> UpstreamError {
    match e {
        ServiceError::McpError(e) => UpstreamError::Rejected {
            server: server.clone(),
            code: e.code.0,
            message: e.message.to_string(),
        },
        e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)) => {
            UpstreamError::ConnectionLost {
                server: server.clone(),
                reason: e.to_string(),
            }
        }
        e => UpstreamError::Failed(e.to_string()),
    }
}

struct Handle {
    spec: ConnectSpec,
    status: watch::Receiver<Status>,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

/// The connections to every enabled upstream.
pub struct Pool {
    servers: RwLock<HashMap<ServerName, Handle>>,
    connector: Arc<Connector>,
    observer: Arc<dyn UpstreamObserver>,
    logs: Arc<dyn ServerLogs>,
    clock: Arc<dyn Clock>,
    graveyard: Graveyard,
    backoff: BackoffPolicy,
    slots: StartSlots,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(
        connector: Arc<Connector>,
        observer: Arc<dyn UpstreamObserver>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            servers: RwLock::new(HashMap::new()),
            logs: connector.logs().clone(),
            connector,
            observer,
            clock,
            graveyard: Graveyard::default(),
            backoff: BackoffPolicy::default(),
            slots: StartSlots::new(StartSlots::by_cores()),
        }
    }

    /// Replaces the retry policy (tests use a fast one).
    pub fn with_backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    fn start(&self, spec: ConnectSpec, rank: usize) -> Handle {
        let (status_tx, status) = watch::channel(Supervisor::initial_status(self.clock.as_ref()));
        let (commands, commands_rx) = mpsc::channel(16);
        let supervisor = Supervisor {
            spec: spec.clone(),
            connector: self.connector.clone(),
            observer: self.observer.clone(),
            logs: self.logs.clone(),
            clock: self.clock.clone(),
            graveyard: self.graveyard.clone(),
            backoff: self.backoff,
            status: status_tx,
            commands: commands_rx,
            slots: self.slots.clone(),
            rank,
        };
        let task = tokio::spawn(supervisor.run());
        Handle {
            spec,
            status,
            commands,
            task,
        }
    }

    /// Stops a supervisor and waits until its server is gone.
    async fn stop(handle: Handle, grace: Grace) {
        let (ack, done) = oneshot::channel();
        if handle
            .commands
            .send(Command::Stop(grace, ack))
            .await
            .is_ok()
        {
            let _ = done.await;
        }
        let _ = handle.task.await;
    }

    /// Brings the pool in line with `config`: connects its servers that are not connected,
    /// reconnects those whose connection settings changed, stops the rest. Which servers
    /// may run at all is the application's decision (`mcpproxy_application::launch`):
    /// `config` holds only those. Stopping happens in the background; its processes are
    /// awaited at shutdown.
    ///
    /// Local servers start a few at a time (`max_concurrent_starts`, by default one per
    /// core), in the order of `config.servers`: put first those an agent needs first.
    pub async fn reconcile(&self, config: &Config) {
        self.slots.set_capacity(
            config
                .max_concurrent_starts()
                .unwrap_or_else(StartSlots::by_cores),
        );
        let mut wanted = HashMap::new();
        for (rank, server) in config.servers.iter().enumerate() {
            match ConnectSpec::new(config, server) {
                Ok(spec) => {
                    wanted.insert(server.name.clone(), (spec, rank));
                }
                Err(e) => tracing::error!(server = %server.name, "not connecting: {e}"),
            }
        }
        let mut servers = self.servers.write().await;
        let names: Vec<ServerName> = servers.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(&name)
                .is_some_and(|(spec, _)| servers.get(&name).is_some_and(|h| &h.spec == spec));
            if !keep && let Some(handle) = servers.remove(&name) {
                tokio::spawn(Self::stop(handle, Grace::RUNTIME));
            }
        }
        for (name, (spec, rank)) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = servers.entry(name) {
                slot.insert(self.start(spec, rank));
            }
        }
    }

    /// Stops every server within the proxy's shutdown budget.
    pub async fn shutdown(&self) {
        let handles: Vec<Handle> = self.servers.write().await.drain().map(|(_, h)| h).collect();
        let stops = handles.into_iter().map(|h| Self::stop(h, Grace::SHUTDOWN));
        futures::future::join_all(stops).await;
        self.graveyard
            .drain(Grace::SHUTDOWN.close + Grace::SHUTDOWN.term)
            .await;
    }

    /// The status of every supervised server.
    pub async fn statuses(&self) -> Vec<(ServerName, Status)> {
        self.servers
            .read()
            .await
            .iter()
            .map(|(n, h)| (n.clone(), h.status.borrow().clone()))
            .collect()
    }

    /// A session to call on, with its call router: now, or — for `reconnect_on_use`
    /// servers that are down — after an immediate reconnect.
    async fn session_for(&self, server: &ServerName) -> Result<Session, UpstreamError> {
        let (mut status, commands, spec) = {
            let servers = self.servers.read().await;
            let handle = servers
                .get(server)
                .ok_or_else(|| UpstreamError::UnknownServer(server.clone()))?;
            (
                handle.status.clone(),
                handle.commands.clone(),
                handle.spec.clone(),
            )
        };
        let unavailable = |s: &Status| UpstreamError::Unavailable {
            server: server.clone(),
            state: s.state,
            last_error: s.last_error.clone(),
        };
        {
            let now = status.borrow();
            if let (Some(peer), true) = (&now.peer, now.state.is_connected()) {
                return Ok((peer.clone(), now.router.clone()));
            }
            let down = matches!(
                now.state,
                ConnectionState::Error | ConnectionState::Disconnected
            );
            if !(spec.reconnect_on_use && down) {
                return Err(unavailable(&now));
            }
        }
        let _ = commands.send(Command::Reconnect).await;
        let ready = tokio::time::timeout(
            spec.init_timeout + Duration::from_secs(1),
            status.wait_for(|s| s.peer.is_some() && s.state.is_connected()),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|s| s.peer.clone().map(|p| (p, s.router.clone())));
        ready.ok_or_else(|| unavailable(&status.borrow()))
    }
}

#[async_trait]
impl UpstreamPool for Pool {
    async fn restart(&self, server: &ServerName) -> Result<(), UpstreamError> {
        let commands = {
            let servers = self.servers.read().await;
            let handle = servers
                .get(server)
                .ok_or_else(|| UpstreamError::Disabled(server.clone()))?;
            handle.commands.clone()
        };
        let (ack, started) = oneshot::channel();
        commands
            .send(Command::Restart(ack))
            .await
            .map_err(|_| UpstreamError::Failed(format!("the supervisor of {server} is gone")))?;
        let _ = started.await;
        Ok(())
    }

    async fn auth_started(&self, server: &ServerName) {
        let commands = self
            .servers
            .read()
            .await
            .get(server)
            .map(|h| h.commands.clone());
        if let Some(commands) = commands {
            let _ = commands.send(Command::AuthStarted).await;
        }
    }

    async fn rediscover(&self, server: &ServerName) -> Result<(), UpstreamError> {
        let commands = {
            let servers = self.servers.read().await;
            let handle = servers
                .get(server)
                .ok_or_else(|| UpstreamError::Disabled(server.clone()))?;
            handle.commands.clone()
        };
        commands
            .send(Command::Rediscover)
            .await
            .map_err(|_| UpstreamError::Failed(format!("the supervisor of {server} is gone")))
    }

    async fn call_tool(
        &self,
        server: &ServerName,
        tool: &str,
        arguments: Option<Map<String, Value>>,
        timeout: Duration,
        relay: Option<Relay>,
    ) -> Result<Value, UpstreamError> {
        let (peer, router) = self.session_for(server).await?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        // While the call runs, what the server sends back for it goes to the caller.
        let registration = relay
            .zip(router)
            .map(|(relay, router)| router.register(relay));
        let answer = send(
            &peer,
            ClientRequest::CallToolRequest(Request::new(params)),
            timeout,
            registration.as_ref(),
        )
        .await;
        match answer {
            Ok(ServerResult::CallToolResult(result)) => serde_json::to_value(result)
                .map_err(|e| UpstreamError::Failed(format!("unreadable result: {e}"))),
            Ok(other) => Err(UpstreamError::Failed(format!(
                "tools/call was answered with something else: {}",
                serde_json::to_string(&other).unwrap_or_default()
            ))),
            Err(ServiceError::Timeout { .. }) => Err(UpstreamError::Timeout {
                server: server.clone(),
                tool: tool.to_owned(),
                after: timeout,
            }),
            Err(e) => Err(self.failure(server, e).await),
        }
    }

    async fn request(
        &self,
        server: &ServerName,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        let request: ClientRequest =
            serde_json::from_value(serde_json::json!({"method": method, "params": params}))
                .map_err(|e| UpstreamError::Failed(format!("not a valid {method} request: {e}")))?;
        let (peer, _) = self.session_for(server).await?;
        match send(&peer, request, timeout, None).await {
            Ok(result) => serde_json::to_value(result)
                .map_err(|e| UpstreamError::Failed(format!("unreadable result: {e}"))),
            Err(ServiceError::Timeout { .. }) => Err(UpstreamError::Failed(format!(
                "server {server} did not answer {method} within {timeout:?}"
            ))),
            Err(e) => Err(self.failure(server, e).await),
        }
    }

    fn server_info(&self, server: &ServerName) -> Option<Value> {
        let servers = self.servers.try_read().ok()?;
        let status = servers.get(server)?.status.borrow().clone();
        let info = status.peer.as_ref()?.peer_info()?.clone();
        serde_json::to_value(info).ok()
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<UpstreamNotice> {
        self.connector.notices()
    }

    fn connection(&self, server: &ServerName) -> Option<ConnectionState> {
        let servers = self.servers.try_read().ok()?;
        Some(servers.get(server)?.status.borrow().state)
    }

    fn status(&self, server: &ServerName) -> Option<ServerRuntime> {
        let servers = self.servers.try_read().ok()?;
        let handle = servers.get(server)?;
        let s = handle.status.borrow();
        Some(ServerRuntime {
            name: server.clone(),
            state: s.state,
            last_error: s.last_error.clone(),
            tool_count: s.tools.len(),
            connected_at: s.connected_at,
            updated_at: s.updated_at,
        })
    }
}
