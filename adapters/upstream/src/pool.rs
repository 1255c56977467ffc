//! The pool: the supervised connections to every enabled upstream, kept in line with the
//! config, and the application's [`UpstreamPool`] port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::ports::{
    Clock, ServerLogs, ServerRuntime, UpstreamError, UpstreamObserver, UpstreamPool,
};
use mcpproxy_domain::{BackoffPolicy, Config, ConnectionState, ServerName};
use rmcp::model::CallToolRequestParams;
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};
use serde_json::{Map, Value};
use tokio::sync::{RwLock, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::connect::{ConnectSpec, Connector};
use crate::graveyard::Graveyard;
use crate::process::Grace;
use crate::supervisor::{Command, Status, Supervisor};

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
        }
    }

    /// Replaces the retry policy (tests use a fast one).
    pub fn with_backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    fn start(&self, spec: ConnectSpec) -> Handle {
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

    /// Brings the pool in line with `config`: connects enabled servers that are not
    /// connected, reconnects those whose connection settings changed, stops the rest.
    /// Stopping happens in the background; its processes are awaited at shutdown.
    pub async fn reconcile(&self, config: &Config) {
        let mut wanted = HashMap::new();
        for server in config.servers.iter().filter(|s| s.enabled) {
            match ConnectSpec::new(config, server) {
                Ok(spec) => {
                    wanted.insert(server.name.clone(), spec);
                }
                Err(e) => tracing::error!(server = %server.name, "not connecting: {e}"),
            }
        }
        let mut servers = self.servers.write().await;
        let names: Vec<ServerName> = servers.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(&name)
                .is_some_and(|spec| servers.get(&name).is_some_and(|h| &h.spec == spec));
            if !keep && let Some(handle) = servers.remove(&name) {
                tokio::spawn(Self::stop(handle, Grace::RUNTIME));
            }
        }
        for (name, spec) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = servers.entry(name) {
                slot.insert(self.start(spec));
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

    /// A session to call on: now, or — for `reconnect_on_use` servers that are down — after
    /// an immediate reconnect.
    async fn peer_for(&self, server: &ServerName) -> Result<Peer<RoleClient>, UpstreamError> {
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
                return Ok(peer.clone());
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
        .and_then(|s| s.peer.clone());
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
    ) -> Result<Value, UpstreamError> {
        let peer = self.peer_for(server).await?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        match tokio::time::timeout(timeout, peer.call_tool(params)).await {
            Err(_) => Err(UpstreamError::Timeout {
                server: server.clone(),
                tool: tool.to_owned(),
                after: timeout,
            }),
            Ok(Ok(result)) => serde_json::to_value(result)
                .map_err(|e| UpstreamError::Failed(format!("unreadable result: {e}"))),
            Ok(Err(ServiceError::McpError(e))) => Err(UpstreamError::Rejected {
                server: server.clone(),
                message: e.message.to_string(),
            }),
            Ok(Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                Err(UpstreamError::ConnectionLost {
                    server: server.clone(),
                    reason: e.to_string(),
                })
            }
            Ok(Err(e)) => Err(UpstreamError::Failed(e.to_string())),
        }
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
