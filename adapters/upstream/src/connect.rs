//! The core layer: one connection to one upstream over stdio, streamable HTTP or legacy SSE,
//! from spawning (or dialling) to a finished `initialize` handshake. Stateless: retrying and
//! health are the supervisor's business.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use mcpproxy_application::ports::{SecretStore, ServerLogs};
use mcpproxy_domain::config::EnvironmentConfig;
use mcpproxy_domain::{Config, Isolation, ServerConfig, ServerName, Transport, ValidationError};
use rmcp::model::Implementation;
use rmcp::service::{ClientInitializeError, QuitReason, RunningServiceCancellationToken};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::AuthClient;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{Peer, RoleClient, ServiceExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::env::{self, LaunchError};
use crate::handler::UpstreamClient;
use crate::isolation::{IsolationError, Isolator};
use crate::process::{self, ChildProcess, Grace, Launch, Leftovers, Reaper, StderrTail};
use crate::sse::{SseClientTransport, SseError};

/// Everything needed to connect to one server; two equal specs connect the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSpec {
    pub name: ServerName,
    pub transport: Transport,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<PathBuf>,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub environment: EnvironmentConfig,
    pub init_timeout: Duration,
    pub health_check_interval: Duration,
    pub tool_discovery_interval: Duration,
    pub reconnect_on_use: bool,
    /// What a stdio server runs in (host, Docker, sandbox).
    pub isolation: Isolation,
}

impl ConnectSpec {
    pub fn new(config: &Config, server: &ServerConfig) -> Result<Self, ValidationError> {
        let isolation = config.isolation(server);
        let mut init_timeout = config.init_timeout(server).to_std();
        if let Isolation::Docker(run) = &isolation {
            // A container may take its start-up time before the server inside can answer.
            init_timeout = init_timeout.max(run.start_timeout.to_std());
        }
        Ok(Self {
            name: server.name.clone(),
            transport: server.transport()?,
            command: server.command.clone(),
            args: server.args.clone(),
            env: server.env.clone(),
            working_dir: (!server.working_dir.is_empty())
                .then(|| PathBuf::from(&server.working_dir)),
            url: server.url.clone(),
            headers: server.headers.clone(),
            environment: config.environment.clone(),
            init_timeout,
            health_check_interval: config.health_check_interval(server).to_std(),
            tool_discovery_interval: config.tool_discovery_interval(server).to_std(),
            reconnect_on_use: server.reconnect_on_use,
            isolation,
        })
    }

    /// A one-line description for logs: `stdio: npx -y x` or `sse: http://…`.
    pub fn describe(&self) -> String {
        match self.transport {
            Transport::Stdio => {
                let mut s = format!("stdio: {}", self.command);
                for a in &self.args {
                    s.push(' ');
                    s.push_str(a);
                }
                s
            }
            t => format!(
                "{}: {}",
                t.as_str(),
                mcpproxy_domain::redact::url(&self.url)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("cannot start {program}: {error}")]
    Spawn { program: String, error: String },
    #[error("no answer to initialize within {after:?} (init_timeout){stderr}")]
    Timeout { after: Duration, stderr: String },
    #[error("initialize failed: {reason}{stderr}")]
    Handshake { reason: String, stderr: String },
    #[error("the server needs a login: {reason}")]
    AuthRequired {
        reason: String,
        /// Its `WWW-Authenticate`: what it wants.
        challenge: Option<String>,
    },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Isolation(#[from] IsolationError),
}

/// An initialised session with an upstream.
pub struct Connection {
    pub peer: Peer<RoleClient>,
    pub server_info: Implementation,
    pub tools_changed: Arc<Notify>,
    /// The calls in flight that relay what the server sends back.
    pub router: Arc<crate::router::CallRouter>,
    pub stderr: StderrTail,
    /// Ends when the session ends, for whatever reason.
    pub done: JoinHandle<QuitReason>,
    cancel: Option<RunningServiceCancellationToken>,
    process: Option<ChildProcess>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server_info", &self.server_info)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The process id of a stdio server.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ChildProcess::pid)
    }

    /// The name of the Docker container the server runs in, if it does.
    pub fn container(&self) -> Option<String> {
        self.process
            .as_ref()
            .and_then(ChildProcess::container)
            .map(|c| c.name.clone())
    }

    /// Ends the session and, for stdio, stops the process and everything it started.
    pub async fn close(mut self, grace: Grace) {
        if let Some(cancel) = self.cancel.take() {
            cancel.cancel();
        }
        // `done` may have completed already (that is how a crash is noticed); a finished
        // JoinHandle must not be polled again.
        if !self.done.is_finished() {
            let _ = tokio::time::timeout(grace.close, &mut self.done).await;
        }
        self.done.abort();
        if let Some(process) = self.process.take() {
            process.stop(grace).await;
        }
    }
}

/// Reads a variable of the proxy's environment.
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The keyring secrets a connection needs: a value, `None` when the keyring lacks it, or why
/// the keyring could not be read.
pub(crate) type KeyringValues = HashMap<String, Result<Option<String>, String>>;

/// The OAuth side of the proxy as the transport needs it: the authorization manager that
/// holds a server's tokens (bootstrap wires the OAuth adapter in).
#[async_trait::async_trait]
pub trait OAuthTokens: Send + Sync {
    /// An HTTP client that adds `server`'s current token to each request.
    async fn client(&self, server: &ServerName, url: &str) -> Option<AuthClient<reqwest::Client>>;
}

/// Opens connections. One per proxy; cheap to share.
#[derive(Clone)]
pub struct Connector {
    logs: Arc<dyn ServerLogs>,
    reaper: Option<Reaper>,
    http: reqwest::Client,
    /// The proxy's environment, read through a function so tests can fix it.
    env_lookup: EnvLookup,
    /// Tokens for servers that need a login; without it no server can log in.
    oauth: Option<Arc<dyn OAuthTokens>>,
    /// Where every session tells what its server says outside calls.
    notices: tokio::sync::broadcast::Sender<mcpproxy_application::ports::UpstreamNotice>,
    /// The OS keyring, for `${keyring:NAME}` references.
    secrets: Option<Arc<dyn SecretStore>>,
    /// Docker and sandbox wrapping; without it an isolated server is refused, never run
    /// unprotected.
    isolator: Option<Arc<Isolator>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    pub fn new(logs: Arc<dyn ServerLogs>, reaper: Option<Reaper>) -> Self {
        Self {
            logs,
            reaper,
            http: reqwest::Client::new(),
            env_lookup: Arc::new(|name| std::env::var(name).ok()),
            notices: tokio::sync::broadcast::channel(256).0,
            oauth: None,
            secrets: None,
            isolator: None,
        }
    }

    /// Resolves `${keyring:NAME}` references from `secrets` when a server connects.
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Reads the keyring secrets `spec` refers to, once per connection attempt, so a secret
    /// changed since the last attempt is used.
    pub(crate) async fn read_keyring(&self, spec: &ConnectSpec) -> KeyringValues {
        let values = spec
            .env
            .values()
            .chain(spec.headers.values())
            .chain(spec.args.iter())
            .chain(spec.environment.custom_vars.values())
            .chain(std::iter::once(&spec.url));
        let names: std::collections::BTreeSet<&str> = values
            .flat_map(|v| mcpproxy_domain::secret::references(v))
            .filter(|(source, _)| *source == mcpproxy_domain::secret::SecretSource::Keyring)
            .map(|(_, name)| name)
            .collect();
        let mut read = KeyringValues::new();
        for name in names {
            let value = match &self.secrets {
                Some(store) => store.get(name).await.map_err(|e| e.to_string()),
                None => Err("this mcpproxy has no keyring".to_owned()),
            };
            read.insert(name.to_owned(), value);
        }
        read
    }

    pub(crate) fn resolver<'a>(&'a self, keyring: &'a KeyringValues) -> env::Resolver<'a> {
        env::Resolver {
            env: self.env_lookup.as_ref(),
            keyring,
        }
    }

    /// Lets servers run in Docker or a sandbox.
    pub fn with_isolation(mut self, isolator: Arc<Isolator>) -> Self {
        self.isolator = Some(isolator);
        self
    }

    pub fn isolator(&self) -> Option<&Arc<Isolator>> {
        self.isolator.as_ref()
    }

    /// Whether Docker answers now, for a server waiting for it.
    pub async fn docker_available(&self) -> bool {
        match &self.isolator {
            Some(isolator) => matches!(
                isolator.docker_facts(self.env_lookup.as_ref()).await.state,
                crate::isolation::docker::State::Available { .. }
            ),
            None => false,
        }
    }

    /// Lets streamable HTTP servers log in, with the tokens `oauth` holds.
    pub fn with_oauth(mut self, oauth: Arc<dyn OAuthTokens>) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// What the servers say outside calls, from now on.
    pub fn notices(
        &self,
    ) -> tokio::sync::broadcast::Receiver<mcpproxy_application::ports::UpstreamNotice> {
        self.notices.subscribe()
    }

    pub fn logs(&self) -> &Arc<dyn ServerLogs> {
        &self.logs
    }

    pub async fn connect(&self, spec: &ConnectSpec) -> Result<Connection, ConnectError> {
        let client =
            UpstreamClient::new(spec.name.clone(), self.logs.clone(), self.notices.clone());
        let keyring = self.read_keyring(spec).await;
        let r = self.resolver(&keyring);
        match spec.transport {
            Transport::Stdio => self.connect_stdio(spec, client, &r).await,
            Transport::StreamableHttp => {
                let config = StreamableHttpClientTransportConfig::with_uri(env::expand(
                    "url", &spec.url, &r,
                )?)
                .custom_headers(http_headers(spec, &r)?)
                .max_concurrent_requests(64);
                let authorized = match &self.oauth {
                    Some(oauth) => oauth.client(&spec.name, &spec.url).await,
                    None => None,
                };
                let result = match authorized {
                    // Each request carries the current token; a refused one is refreshed
                    // once, then the server's challenge comes back as AuthRequired.
                    Some(mut auth) => {
                        auth.http_client = self.http.clone();
                        let transport = StreamableHttpClientTransport::with_client(auth, config);
                        handshake(spec, client.clone().serve(transport)).await
                    }
                    None => {
                        let transport =
                            StreamableHttpClientTransport::with_client(self.http.clone(), config);
                        handshake(spec, client.clone().serve(transport)).await
                    }
                };
                finish(spec, &client, result, None, StderrTail::default())
            }
            Transport::Sse => {
                let headers = http_headers(spec, &r)?.into_iter().collect();
                let url = env::expand("url", &spec.url, &r)?;
                let opened = tokio::time::timeout(
                    spec.init_timeout,
                    SseClientTransport::connect(self.http.clone(), &url, headers),
                )
                .await;
                let transport = match opened {
                    Err(_) => {
                        return Err(ConnectError::Timeout {
                            after: spec.init_timeout,
                            stderr: String::new(),
                        });
                    }
                    Ok(Err(e @ SseError::Unauthorized { .. })) => {
                        return Err(ConnectError::AuthRequired {
                            reason: e.to_string(),
                            challenge: None,
                        });
                    }
                    Ok(Err(e)) => {
                        return Err(ConnectError::Handshake {
                            reason: e.to_string(),
                            stderr: String::new(),
                        });
                    }
                    Ok(Ok(t)) => t,
                };
                let result = handshake(spec, client.clone().serve(transport)).await;
                finish(spec, &client, result, None, StderrTail::default())
            }
        }
    }

    async fn connect_stdio(
        &self,
        spec: &ConnectSpec,
        client: UpstreamClient,
        r: &env::Resolver<'_>,
    ) -> Result<Connection, ConnectError> {
        if let Some(dir) = &spec.working_dir {
            env::check_working_dir(dir)?;
        }
        let child_env = env::child_env(&spec.environment, &spec.env, r)?;
        // Arguments may hold references too; the isolated launch builds on the same spec.
        let args = spec
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| env::expand(&format!("args[{i}]"), a, r))
            .collect::<Result<Vec<_>, _>>()?;
        let expanded = ConnectSpec {
            args,
            ..spec.clone()
        };
        let spec = &expanded;
        let launch = match &spec.isolation {
            Isolation::None | Isolation::OwnContainer => {
                let program = env::find_program(
                    &spec.command,
                    child_env.get("PATH").map(String::as_str),
                    spec.working_dir.as_deref(),
                )?;
                Launch {
                    program,
                    args: spec.args.iter().map(Into::into).collect(),
                    env: child_env,
                    working_dir: spec.working_dir.clone(),
                    leftovers: Leftovers::default(),
                }
            }
            _ => {
                let isolator = self.isolator.as_ref().ok_or(IsolationError::NotSetUp)?;
                isolator
                    .launch(spec, child_env, self.env_lookup.as_ref())
                    .await?
            }
        };
        let program = launch.program.display().to_string();
        let spawned = process::spawn(&spec.name, launch, self.logs.clone(), self.reaper.as_ref())
            .map_err(|e| ConnectError::Spawn {
            program,
            error: e.to_string(),
        })?;
        let result = handshake(spec, client.clone().serve((spawned.stdout, spawned.stdin))).await;
        if result.is_err() {
            // Let the server finish writing why it failed, so the error can quote it.
            spawned.stderr.wait_closed(Duration::from_millis(500)).await;
        }
        finish(spec, &client, result, Some(spawned.process), spawned.stderr)
    }
}

/// The configured headers with their references expanded.
fn http_headers(
    spec: &ConnectSpec,
    r: &env::Resolver<'_>,
) -> Result<HashMap<HeaderName, HeaderValue>, ConnectError> {
    spec.headers
        .iter()
        .map(|(k, v)| {
            let value = env::expand(&format!("headers.{k}"), v, r)?;
            let name = HeaderName::try_from(k.as_str()).map_err(|_| {
                ConnectError::Config(format!("headers: {k:?} is not a valid header name"))
            })?;
            let value = HeaderValue::try_from(value).map_err(|_| {
                ConnectError::Config(format!(
                    "headers.{k}: the value is not a valid header value"
                ))
            })?;
            Ok((name, value))
        })
        .collect()
}

type Running = rmcp::service::RunningService<RoleClient, UpstreamClient>;

/// Why a handshake did not complete.
enum HandshakeFailure {
    TimedOut,
    /// Why, and the server's `WWW-Authenticate`.
    Auth(String, Option<String>),
    Other(String),
}

/// Bounds the handshake by `init_timeout` and sorts out why it failed.
async fn handshake(
    spec: &ConnectSpec,
    serve: impl Future<Output = Result<Running, ClientInitializeError>>,
) -> Result<Running, HandshakeFailure> {
    match tokio::time::timeout(spec.init_timeout, serve).await {
        Err(_) => Err(HandshakeFailure::TimedOut),
        Ok(Ok(running)) => Ok(running),
        Ok(Err(e)) if e.is_authorization_required() || e.auth_challenge().is_some() => Err(
            HandshakeFailure::Auth(e.to_string(), e.auth_challenge().map(str::to_owned)),
        ),
        Ok(Err(e)) => Err(HandshakeFailure::Other(e.to_string())),
    }
}

/// For a container that did not start: the error code and what to do, from Docker's words.
fn docker_hint(spec: &ConnectSpec, stderr: &StderrTail) -> String {
    match &spec.isolation {
        Isolation::Docker(run) => {
            crate::isolation::docker::explain_failure(&stderr.lines(), &run.image)
                .map(|hint| format!(" ({hint})"))
                .unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn finish(
    spec: &ConnectSpec,
    client: &UpstreamClient,
    result: Result<Running, HandshakeFailure>,
    process: Option<ChildProcess>,
    stderr: StderrTail,
) -> Result<Connection, ConnectError> {
    let running = match result {
        Ok(r) => r,
        Err(failure) => {
            // Dropping the process stops its whole group (see ChildProcess's Drop).
            drop(process);
            return Err(match failure {
                HandshakeFailure::TimedOut => ConnectError::Timeout {
                    after: spec.init_timeout,
                    stderr: stderr.quote() + &docker_hint(spec, &stderr),
                },
                HandshakeFailure::Auth(reason, challenge) => {
                    ConnectError::AuthRequired { reason, challenge }
                }
                HandshakeFailure::Other(reason) => ConnectError::Handshake {
                    reason,
                    stderr: stderr.quote() + &docker_hint(spec, &stderr),
                },
            });
        }
    };
    let peer = running.peer().clone();
    let server_info = peer
        .peer_info()
        .and_then(|info| info.server_info.clone())
        .unwrap_or_else(|| Implementation::new("unknown", "unknown"));
    let cancel = running.cancellation_token();
    let done = tokio::spawn(async move { running.waiting().await.unwrap_or(QuitReason::Closed) });
    Ok(Connection {
        peer,
        server_info,
        tools_changed: client.tools_changed.clone(),
        router: client.router.clone(),
        stderr,
        done,
        cancel: Some(cancel),
        process,
    })
}

impl Connector {
    /// Reads the proxy's environment through `lookup` instead of the process environment.
    pub fn with_env_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env_lookup = Arc::new(lookup);
        self
    }
}
