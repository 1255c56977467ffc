//! The managed layer: one supervisor task per server keeps its connection alive.
//!
//! It drives the domain's connection state machine: connect, list every page of tools,
//! ping every `health_check_interval` (three failures in a row mean the connection is dead),
//! re-list tools on `notifications/tools/list_changed` and every `tool_discovery_interval`,
//! and after a failure wait out the domain's backoff before the next try. Callers never wait
//! on the supervisor: they read the current status and use the session's peer directly, so
//! a slow call or a reconnect of one server holds up nobody else.

use std::sync::Arc;
use std::time::Duration;

use mcpproxy_application::ports::{Clock, ServerLogs, ServerRuntime, UpstreamObserver};
use mcpproxy_domain::{BackoffPolicy, ConnectionEvent, ConnectionState, Timestamp, Tool};
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::{Peer, RoleClient};
use tokio::sync::{mpsc, oneshot, watch};

use crate::connect::{ConnectError, ConnectSpec, Connection, Connector};
use crate::graveyard::Graveyard;
use crate::isolation::IsolationError;
use crate::process::Grace;
use crate::slots::{Slot, StartSlots};

/// Consecutive failed pings after which a connection counts as dead.
const PING_FAILURES: u32 = 3;
/// How often a server waiting for Docker asks whether it is back.
const DOCKER_RECHECK: Duration = Duration::from_secs(2);

/// A server's connection as callers see it.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: ConnectionState,
    pub last_error: Option<String>,
    pub connected_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// The session, while connected.
    pub peer: Option<Peer<RoleClient>>,
    /// The session's relaying calls, while connected.
    pub router: Option<Arc<crate::router::CallRouter>>,
    /// The process id of a stdio server, while connected.
    pub pid: Option<u32>,
    pub tools: Arc<Vec<Tool>>,
}

impl Status {
    fn new(now: Timestamp) -> Self {
        Self {
            state: ConnectionState::Disconnected,
            last_error: None,
            connected_at: None,
            updated_at: now,
            peer: None,
            router: None,
            pid: None,
            tools: Arc::new(Vec::new()),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Command {
    /// Drop the connection and connect again now; answered once connecting started.
    Restart(oneshot::Sender<()>),
    /// A call wants the server (`reconnect_on_use`): skip the rest of the backoff.
    Reconnect,
    /// Read the tool list again, if connected.
    Rediscover,
    /// Close and end the supervisor; answered once the server is stopped.
    Stop(Grace, oneshot::Sender<()>),
    /// A login to the server started (it waits for it).
    AuthStarted,
}

/// What interrupted the connected phase.
enum Interrupt {
    Failed(String),
    /// The server runs in Docker, which does not answer: why, and what to do.
    DockerUnavailable(String),
    /// The server wants a login: why, and its `WWW-Authenticate`.
    AuthRequired(String, Option<String>),
    Restart(oneshot::Sender<()>),
    Stop(Grace, Option<oneshot::Sender<()>>),
}

pub(crate) struct Supervisor {
    pub spec: ConnectSpec,
    pub connector: Arc<Connector>,
    pub observer: Arc<dyn UpstreamObserver>,
    pub logs: Arc<dyn ServerLogs>,
    pub clock: Arc<dyn Clock>,
    pub graveyard: Graveyard,
    pub backoff: BackoffPolicy,
    pub status: watch::Sender<Status>,
    pub commands: mpsc::Receiver<Command>,
    /// Bounds how many local servers start at once; see [`crate::slots`].
    pub slots: StartSlots,
    /// This server's place in the start order (lower starts first).
    pub rank: usize,
}

impl Supervisor {
    pub fn initial_status(clock: &dyn Clock) -> Status {
        Status::new(clock.now())
    }

    fn log(&self, line: &str) {
        self.logs
            .append(&self.spec.name, &format!("[mcpproxy] {line}"));
    }

    /// Applies `event` to the state machine, publishes the new status and reports it.
    async fn apply(&self, event: ConnectionEvent, change: impl FnOnce(&mut Status)) {
        let mut status = self.status.borrow().clone();
        match status.state.next(event) {
            Ok(next) => status.state = next,
            Err(e) => {
                // A bug in this supervisor; say so loudly rather than jump somewhere.
                tracing::error!(server = %self.spec.name, "{e}");
                return;
            }
        }
        change(&mut status);
        status.updated_at = self.clock.now();
        self.status.send_replace(status);
        self.report().await;
    }

    /// Reports the status as it is, without a transition.
    async fn report(&self) {
        let status = self.status.borrow().clone();
        self.observer
            .state_changed(ServerRuntime {
                name: self.spec.name.clone(),
                state: status.state,
                last_error: status.last_error,
                tool_count: status.tools.len(),
                connected_at: status.connected_at,
                updated_at: status.updated_at,
            })
            .await;
    }

    async fn fail(&self, error: String) {
        tracing::warn!(server = %self.spec.name, "{error}");
        self.log(&format!("error: {error}"));
        self.apply(ConnectionEvent::Failed, |s| {
            s.last_error = Some(error);
            s.peer = None;
            s.router = None;
            s.pid = None;
        })
        .await;
    }

    pub async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            // After a login the state is Connecting already.
            if self.status.borrow().state != ConnectionState::Connecting {
                self.apply(ConnectionEvent::Connect, |_| {}).await;
            }
            self.log(&format!("connecting ({})", self.spec.describe()));
            let connector = self.connector.clone();
            let spec = self.spec.clone();
            let slots = self.local().then(|| self.slots.clone());
            let rank = self.rank;
            let logs = self.logs.clone();
            let connecting = async move {
                // The slot comes first: `init_timeout` runs inside `connect`, so the
                // wait for a slot is not charged to it.
                let slot = match slots {
                    Some(slots) => {
                        let (capacity, in_use) = slots.usage();
                        if in_use >= capacity {
                            logs.append(
                                &spec.name,
                                &format!("[mcpproxy] waiting for a start slot ({in_use} of {capacity} servers starting)"),
                            );
                        }
                        Some(slots.acquire(rank).await)
                    }
                    None => None,
                };
                (slot, connector.connect(&spec).await)
            };
            tokio::pin!(connecting);
            let outcome = loop {
                tokio::select! {
                    (slot, result) = &mut connecting => break Some((slot, result)),
                    command = self.commands.recv() => match command {
                        None | Some(Command::Stop(..)) => {
                            if let Some(Command::Stop(_, ack)) = command {
                                let _ = ack.send(());
                            }
                            // Dropping the half-open connection kills its process group.
                            self.apply(ConnectionEvent::Disconnect, |_| {}).await;
                            return;
                        }
                        Some(Command::Restart(ack)) => {
                            let _ = ack.send(());
                            break None;
                        }
                        Some(Command::Reconnect | Command::Rediscover | Command::AuthStarted) => {}
                    },
                }
            };
            let interrupt = match outcome {
                None => {
                    attempt = 0;
                    self.apply(ConnectionEvent::Failed, |s| {
                        s.last_error = Some("restarted".to_owned());
                    })
                    .await;
                    continue;
                }
                Some((slot, Ok(connection))) => {
                    attempt = 0;
                    self.connected(connection, slot).await
                }
                Some((slot, Err(e))) => {
                    // A failed start gives its slot back now, not after the backoff.
                    drop(slot);
                    match e {
                        ConnectError::AuthRequired { reason, challenge } => {
                            Interrupt::AuthRequired(reason, challenge)
                        }
                        ConnectError::Isolation(e @ IsolationError::DockerUnavailable { .. }) => {
                            Interrupt::DockerUnavailable(e.to_string())
                        }
                        e => Interrupt::Failed(format!("cannot connect: {e}")),
                    }
                }
            };
            match interrupt {
                Interrupt::Stop(_, ack) => {
                    self.apply(ConnectionEvent::Disconnect, |s| {
                        s.peer = None;
                        s.router = None;
                        s.pid = None;
                    })
                    .await;
                    self.log("stopped");
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    return;
                }
                Interrupt::Restart(ack) => {
                    self.fail("restarted".to_owned()).await;
                    let _ = ack.send(());
                    continue;
                }
                Interrupt::Failed(error) => self.fail(error).await,
                Interrupt::DockerUnavailable(why) => {
                    if self.wait_for_docker(why).await {
                        attempt = 0;
                        continue;
                    }
                    return;
                }
                Interrupt::AuthRequired(reason, challenge) => {
                    if self.wait_for_login(reason, challenge).await {
                        attempt = 0;
                        continue;
                    }
                    return;
                }
            }
            // Backoff before the next try, unless told otherwise.
            attempt += 1;
            let delay = self.backoff.delay(attempt);
            match delay {
                Some(d) => self.log(&format!(
                    "retrying in {d:?} (try {attempt} of {})",
                    self.backoff.max_attempts
                )),
                None => {
                    let error = format!(
                        "{}; gave up after {} tries, restart the server to try again",
                        self.status.borrow().last_error.clone().unwrap_or_default(),
                        self.backoff.max_attempts
                    );
                    self.log(&error);
                    self.status.send_modify(|s| s.last_error = Some(error));
                    self.report().await;
                }
            }
            let sleep = async {
                match delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(sleep);
            tokio::select! {
                () = &mut sleep => {}
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop(..)) => {
                        self.apply(ConnectionEvent::Disconnect, |_| {}).await;
                        if let Some(Command::Stop(_, ack)) = command {
                            let _ = ack.send(());
                        }
                        return;
                    }
                    Some(Command::Restart(ack)) => {
                        attempt = 0;
                        let _ = ack.send(());
                    }
                    Some(Command::Reconnect) => attempt = 0,
                    Some(Command::Rediscover | Command::AuthStarted) => {}
                },
            }
        }
    }

    /// Waits in `Docker unavailable` — no retries counted, nothing started — until Docker
    /// answers (asked every couple of seconds) or someone restarts the server. False when
    /// the supervisor is to stop.
    async fn wait_for_docker(&mut self, why: String) -> bool {
        tracing::warn!(server = %self.spec.name, "{why}");
        self.log(&format!("waiting: {why}"));
        self.apply(ConnectionEvent::DockerUnavailable, |s| {
            s.last_error = Some(why);
            s.peer = None;
            s.router = None;
            s.pid = None;
        })
        .await;
        loop {
            tokio::select! {
                () = tokio::time::sleep(DOCKER_RECHECK) => {
                    if self.connector.docker_available().await {
                        self.log("Docker answers again; connecting");
                        return true;
                    }
                }
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop(..)) => {
                        self.apply(ConnectionEvent::Disconnect, |_| {}).await;
                        if let Some(Command::Stop(_, ack)) = command {
                            let _ = ack.send(());
                        }
                        return false;
                    }
                    Some(Command::Restart(ack)) => {
                        let _ = ack.send(());
                        return true;
                    }
                    Some(Command::Reconnect | Command::Rediscover | Command::AuthStarted) => {}
                },
            }
        }
    }

    /// Waits in `PendingAuth` (then `Authenticating`) until someone logs in and the server
    /// is restarted — no retries meanwhile, they would only be refused again. False when
    /// the supervisor is to stop.
    async fn wait_for_login(&mut self, reason: String, challenge: Option<String>) -> bool {
        let name = self.spec.name.clone();
        let message = format!(
            "login required ({reason}): run `mcpproxy auth login -s {name}` or POST /api/v1/servers/{name}/login"
        );
        self.log(&message);
        self.apply(ConnectionEvent::AuthRequired, |s| {
            s.last_error = Some(message);
            s.peer = None;
            s.router = None;
            s.pid = None;
        })
        .await;
        self.observer.auth_required(&name, challenge).await;
        loop {
            let command = self.commands.recv().await;
            match command {
                None | Some(Command::Stop(..)) => {
                    self.apply(ConnectionEvent::Disconnect, |_| {}).await;
                    if let Some(Command::Stop(_, ack)) = command {
                        let _ = ack.send(());
                    }
                    return false;
                }
                Some(Command::AuthStarted) => {
                    if self.status.borrow().state == ConnectionState::PendingAuth {
                        self.apply(ConnectionEvent::AuthStarted, |_| {}).await;
                    }
                }
                Some(Command::Restart(ack)) => {
                    if self.status.borrow().state == ConnectionState::Authenticating {
                        self.apply(ConnectionEvent::AuthCompleted, |_| {}).await;
                    }
                    let _ = ack.send(());
                    return true;
                }
                Some(Command::Reconnect | Command::Rediscover) => {}
            }
        }
    }

    /// Lists every page of tools, bounded by `init_timeout`. A server that lets the
    /// handshake through but wants a login for the rest says so here.
    async fn list_tools(&self, peer: &Peer<RoleClient>) -> Result<Vec<Tool>, Interrupt> {
        let listed = tokio::time::timeout(self.spec.init_timeout, peer.list_all_tools())
            .await
            .map_err(|_| {
                Interrupt::Failed(format!(
                    "tools/list did not answer within {:?}",
                    self.spec.init_timeout
                ))
            })?
            .map_err(|e| match crate::pool::auth_challenge(&e) {
                Some(challenge) => {
                    Interrupt::AuthRequired(format!("tools/list: {e}"), Some(challenge))
                }
                None => Interrupt::Failed(format!("tools/list failed: {e}")),
            })?;
        listed
            .into_iter()
            .map(|tool| {
                serde_json::to_value(&tool)
                    .and_then(serde_json::from_value::<Tool>)
                    .map_err(|e| Interrupt::Failed(format!("tool {} is malformed: {e}", tool.name)))
            })
            .collect()
    }

    async fn discover(&self, peer: &Peer<RoleClient>) -> Result<(), Interrupt> {
        let tools = self.list_tools(peer).await?;
        let count = tools.len();
        self.observer
            .tools_discovered(&self.spec.name, tools.clone())
            .await;
        self.apply(ConnectionEvent::ToolsDiscovered, |s| {
            s.tools = Arc::new(tools);
            s.last_error = None;
        })
        .await;
        self.log(&format!("ready: {count} tools"));
        Ok(())
    }

    /// Whether this server runs here (a process of ours) and so takes a start slot.
    fn local(&self) -> bool {
        self.spec.transport == mcpproxy_domain::Transport::Stdio
    }

    /// Runs while the connection is up; returns what ended it, having closed it. The start
    /// `slot` is given back once the first tool list is in.
    async fn connected(&mut self, mut connection: Connection, slot: Option<Slot>) -> Interrupt {
        let peer = connection.peer.clone();
        let router = connection.router.clone();
        let now = self.clock.now();
        let pid = connection.pid();
        self.log(&format!(
            "connected to {} {}",
            connection.server_info.name, connection.server_info.version
        ));
        self.apply(ConnectionEvent::Initialized, |s| {
            s.peer = Some(peer.clone());
            s.router = Some(router);
            s.pid = pid;
            s.connected_at = Some(now);
        })
        .await;
        let discovered = self.discover(&peer).await;
        drop(slot);
        if let Err(interrupt) = discovered {
            self.graveyard.bury(connection, Grace::RUNTIME);
            return interrupt;
        }

        let every = |d: Duration| {
            (!d.is_zero()).then(|| {
                let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            })
        };
        // Containers are not pinged, as in the Go proxy: their liveness is Docker's, and a
        // crashed container ends the connection anyway.
        let mut ping = if self.spec.isolation.in_container() {
            self.log("health checks skipped: the server runs in a container");
            None
        } else {
            every(self.spec.health_check_interval)
        };
        let mut sweep = every(self.spec.tool_discovery_interval);
        let ping_timeout = self.spec.health_check_interval.min(Duration::from_secs(10));
        let mut failed_pings = 0;
        let tools_changed = connection.tools_changed.clone();

        let interrupt = loop {
            tokio::select! {
                _ = &mut connection.done => {
                    break Interrupt::Failed(format!("the connection closed{}", connection.stderr.quote()));
                }
                () = tools_changed.notified() => {
                    self.rediscover(&peer).await;
                }
                _ = tick(&mut sweep) => {
                    self.rediscover(&peer).await;
                }
                _ = tick(&mut ping) => {
                    let pong = tokio::time::timeout(
                        ping_timeout,
                        peer.send_request(ClientRequest::PingRequest(PingRequest::default())),
                    )
                    .await;
                    if matches!(pong, Ok(Ok(_))) {
                        failed_pings = 0;
                    } else {
                        failed_pings += 1;
                        self.log(&format!("ping failed ({failed_pings} of {PING_FAILURES})"));
                        if failed_pings >= PING_FAILURES {
                            break Interrupt::Failed(format!("{PING_FAILURES} health checks in a row failed"));
                        }
                    }
                }
                command = self.commands.recv() => match command {
                    None => break Interrupt::Stop(Grace::SHUTDOWN, None),
                    Some(Command::Stop(grace, ack)) => break Interrupt::Stop(grace, Some(ack)),
                    Some(Command::Restart(ack)) => break Interrupt::Restart(ack),
                    Some(Command::Reconnect | Command::AuthStarted) => {}
                    Some(Command::Rediscover) => self.rediscover(&peer).await,
                },
            }
        };
        match &interrupt {
            // Stopping waits for the server to be gone: nothing may outlive a removal.
            Interrupt::Stop(grace, _) => connection.close(*grace).await,
            // Anything else reconnects at once; the old process is stopped meanwhile.
            _ => self.graveyard.bury(connection, Grace::RUNTIME),
        }
        interrupt
    }

    /// Re-reads the tool list; on failure keeps the tools it had (an empty list after a
    /// hiccup would hide every tool of the server).
    async fn rediscover(&self, peer: &Peer<RoleClient>) {
        self.apply(ConnectionEvent::Rediscover, |_| {}).await;
        if let Err(interrupt) = self.discover(peer).await {
            let why = match interrupt {
                Interrupt::Failed(e)
                | Interrupt::AuthRequired(e, _)
                | Interrupt::DockerUnavailable(e) => e,
                _ => "interrupted".to_owned(),
            };
            self.log(&format!("{why}; keeping the previous tool list"));
            self.apply(ConnectionEvent::ToolsDiscovered, |_| {}).await;
        }
    }
}

/// Waits for the next tick of an optional interval; never, when there is none.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
