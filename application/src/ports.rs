//! The ports: what the use cases need from the outside world, as traits.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus};
use mcpproxy_domain::activity_stats::{
    CallCount, GroupBy, GroupCount, ToolUsageCounts, UsageBucket, timeline_of,
};
use mcpproxy_domain::token::AgentToken;
use mcpproxy_domain::{
    Config, ConnectionState, DomainEvent, ServerConfig, ServerName, Timestamp, Tool, ToolApproval,
    ValidationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A storage failure. Storage adapters say what failed; the use cases pass it on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageError(pub String);

/// Why the config could not be saved. Nothing was written in either case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigStoreError {
    #[error("the config is invalid: {}", join(.0))]
    Invalid(Vec<ValidationError>),
    #[error("could not write {path}: {reason}")]
    Write { path: String, reason: String },
}

pub(crate) fn join(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The config file: the version in force, and saving a new one.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// The config in force.
    fn current(&self) -> Arc<Config>;
    /// Validates, writes atomically and puts `config` in force.
    async fn save(&self, config: Config) -> Result<(), ConfigStoreError>;
}

/// What a config read from the file passes before it goes into force (at start and on each
/// hot reload): returns the config to use and the servers it newly holds for review. The rule
/// is the application's ([`crate::load_gate::LoadGate`]); the config adapter only asks it.
#[async_trait]
pub trait ConfigAdmission: Send + Sync {
    async fn admit(&self, config: Config) -> (Config, Vec<ServerName>);
}

/// What the proxy knows about a server at run time, beyond its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerRuntime {
    pub name: ServerName,
    pub state: ConnectionState,
    pub last_error: Option<String>,
    pub tool_count: usize,
    pub connected_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// Run-time state of servers, and the last tool list of each, kept across restarts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ServerRepository: Send + Sync {
    async fn save_runtime(&self, runtime: &ServerRuntime) -> Result<(), StorageError>;
    async fn runtime(&self, name: &ServerName) -> Result<Option<ServerRuntime>, StorageError>;
    async fn all_runtime(&self) -> Result<Vec<ServerRuntime>, StorageError>;
    async fn save_tools(&self, name: &ServerName, tools: &[Tool]) -> Result<(), StorageError>;
    async fn tools(&self, name: &ServerName) -> Result<Vec<Tool>, StorageError>;
    /// Forgets the state and tools of a removed server.
    async fn delete(&self, name: &ServerName) -> Result<(), StorageError>;
}

/// Word from the shared database that another replica changed tool lists or approvals (on
/// PostgreSQL, `LISTEN/NOTIFY`); the embedded database has no other writer and no feed.
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next change made by another replica. An error means the feed lost its
    /// connection; it reconnects on the next call.
    async fn next(&mut self) -> Result<(), StorageError>;
}

/// Tool approvals, per server and tool.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ApprovalRepository: Send + Sync {
    async fn get(
        &self,
        server: &ServerName,
        tool: &str,
    ) -> Result<Option<ToolApproval>, StorageError>;
    async fn for_server(&self, server: &ServerName) -> Result<Vec<ToolApproval>, StorageError>;
    async fn save(&self, approval: &ToolApproval) -> Result<(), StorageError>;
    async fn delete(&self, server: &ServerName, tool: &str) -> Result<(), StorageError>;
    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError>;
}

/// Agent tokens, by name and by the HMAC of the secret.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AgentTokenRepository: Send + Sync {
    /// Stores a new token; false when the name is taken.
    async fn insert(&self, token: &AgentToken) -> Result<bool, StorageError>;
    /// Replaces the token of the same name.
    async fn update(&self, token: &AgentToken) -> Result<(), StorageError>;
    async fn by_name(&self, name: &str) -> Result<Option<AgentToken>, StorageError>;
    async fn by_hash(&self, hash: &str) -> Result<Option<AgentToken>, StorageError>;
    async fn all(&self) -> Result<Vec<AgentToken>, StorageError>;
    async fn touch(&self, name: &str, at: Timestamp) -> Result<(), StorageError>;
    /// Deletes the record; false when there was none.
    async fn delete(&self, name: &str) -> Result<bool, StorageError>;
}

/// The secret side of agent tokens: new secrets, and the keyed hash they are stored as
/// (HMAC-SHA256 under a key kept apart from the database).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenKeys: Send + Sync {
    /// A fresh `mcp_agt_` token.
    fn generate(&self) -> Result<String, StorageError>;
    /// The token's HMAC, hex.
    fn hash(&self, token: &str) -> Result<String, StorageError>;
}

/// Which activity records to list. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityFilter {
    /// Any of these types (none: every type).
    pub kinds: Vec<ActivityKind>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub status: Option<ActivityStatus>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub limit: u32,
    pub offset: u32,
    /// Only records where sensitive data was detected.
    #[serde(default)]
    pub sensitive_data: bool,
    /// Only records with a detection of this type (`aws_access_key`, …).
    #[serde(default)]
    pub detection_type: Option<String>,
    /// Only records whose worst detection is at least this severe.
    #[serde(default)]
    pub min_severity: Option<mcpproxy_domain::sensitive::Severity>,
    /// Only calls made with the agent token of this name.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only records of this kind of caller: `admin` (the API key, the socket) or `agent`.
    #[serde(default)]
    pub auth_type: Option<String>,
}

/// A page of activity, newest first, with the number of all matching records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityPage {
    pub records: Vec<ActivityRecord>,
    pub total: u64,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ActivityRepository: Send + Sync {
    async fn append(&self, record: &ActivityRecord) -> Result<(), StorageError>;
    /// Appends several records at once (one transaction where the store has them).
    async fn append_all(&self, records: &[ActivityRecord]) -> Result<(), StorageError> {
        for record in records {
            self.append(record).await?;
        }
        Ok(())
    }
    async fn get(&self, id: &str) -> Result<Option<ActivityRecord>, StorageError>;
    async fn list(&self, filter: &ActivityFilter) -> Result<ActivityPage, StorageError>;
    /// Deletes records older than `before` and the oldest beyond `max_records`; returns how
    /// many went.
    async fn prune(&self, before: Timestamp, max_records: u64) -> Result<u64, StorageError>;
    /// The records matching `filter` (its limit and offset aside) counted by `by` and
    /// status. The default folds every record; a store that can count does it itself.
    async fn count_by(
        &self,
        filter: &ActivityFilter,
        by: GroupBy,
    ) -> Result<Vec<GroupCount>, StorageError> {
        Ok(GroupCount::of_records(
            &every_record(self, filter).await?,
            by,
        ))
    }
    /// The records matching `filter` (its limit and offset aside) counted by server, tool
    /// and status in one pass. The default folds every record.
    async fn count_calls(&self, filter: &ActivityFilter) -> Result<Vec<CallCount>, StorageError> {
        Ok(CallCount::of_records(&every_record(self, filter).await?))
    }
    /// The usage of each tool among the `tool_call` records matching `filter` (its limit
    /// and offset aside), and their hourly timeline. The default folds every record.
    async fn tool_usage(&self, filter: &ActivityFilter) -> Result<UsageCounts, StorageError> {
        let records = every_record(self, filter).await?;
        Ok(UsageCounts {
            tools: ToolUsageCounts::of_records(&records),
            timeline: timeline_of(&records),
        })
    }
}

/// Every record matching `filter`, newest first, read a page at a time.
pub async fn every_record<R: ActivityRepository + ?Sized>(
    repo: &R,
    filter: &ActivityFilter,
) -> Result<Vec<ActivityRecord>, StorageError> {
    let mut filter = filter.clone();
    filter.limit = 1000;
    filter.offset = 0;
    let mut all = Vec::new();
    loop {
        let page = repo.list(&filter).await?;
        let n = page.records.len();
        all.extend(page.records);
        if n < filter.limit as usize {
            return Ok(all);
        }
        filter.offset += filter.limit;
    }
}

/// Per-tool usage counts and the hourly timeline of a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageCounts {
    pub tools: Vec<ToolUsageCounts>,
    pub timeline: Vec<UsageBucket>,
}

/// A full tool response kept for `read_cache` after it was truncated for the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedResponse {
    pub key: String,
    pub value: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CacheRepository: Send + Sync {
    async fn put(&self, entry: &CachedResponse) -> Result<(), StorageError>;
    /// The entry, unless it expired before `now`.
    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<CachedResponse>, StorageError>;
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError>;
}

/// A search failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search index: {0}")]
pub struct IndexError(pub String);

/// A tool the index found for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub server: ServerName,
    pub tool: String,
    pub score: f32,
    /// How much of what the query asks for this tool covers, from 0 (nothing but filler) to
    /// 1 (every concept), each concept weighted by how rare it is among the tools. A weak
    /// best match means no tool fits.
    pub coverage: f32,
}

/// Why texts could not be embedded (a model that does not load or run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedding failed: {0}")]
pub struct EmbedError(pub String);

/// A sentence-embedding model: texts in, vectors whose dot product says how alike in meaning
/// two texts are. CPU-bound and synchronous; callers run it off the async runtime.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Embedder: Send + Sync {
    /// One unit-length vector per text, in order, all of the same length.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Names the model, so vectors of another model are never mixed with its own.
    fn model(&self) -> String;
}

/// The full-text index of the tools agents may use.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ToolIndex: Send + Sync {
    /// Makes `tools` the indexed tools of `server`, replacing whatever was indexed for it;
    /// `aliases` are more names its tools answer to (the config's `search.aliases`).
    async fn replace_server(
        &self,
        server: &ServerName,
        tools: &[Tool],
        aliases: &[String],
    ) -> Result<(), IndexError>;
    async fn remove_server(&self, server: &ServerName) -> Result<(), IndexError>;
    /// Takes the config's query-side settings (`search.synonyms`) in force.
    fn configure(&self, search: &mcpproxy_domain::SearchConfig);
    /// For each indexed server, the signature of what is indexed
    /// (`mcpproxy_domain::fingerprint::indexed_signature`).
    async fn signatures(&self)
    -> Result<std::collections::HashMap<ServerName, String>, IndexError>;
    /// The best matches for `query`, best first.
    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError>;
}

/// Why an upstream operation failed. Each message says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("server {0} is not configured; `mcpproxy upstream list` shows the configured servers")]
    UnknownServer(ServerName),
    #[error("server {0} is disabled; enable it to use its tools")]
    Disabled(ServerName),
    #[error("server {server} is not connected (state: {state}{}); the proxy keeps retrying, or restart it", last_error.as_deref().map(|e| format!(", last error: {e}")).unwrap_or_default())]
    Unavailable {
        server: ServerName,
        state: ConnectionState,
        last_error: Option<String>,
    },
    #[error(
        "{tool} on server {server} did not answer within {after:?} (call_tool_timeout); the call was cancelled, the server stays connected"
    )]
    Timeout {
        server: ServerName,
        tool: String,
        after: Duration,
    },
    #[error("the connection to server {server} was lost during the call: {reason}")]
    ConnectionLost { server: ServerName, reason: String },
    #[error("server {server} answered with an error: {message}")]
    Rejected {
        server: ServerName,
        /// The JSON-RPC error code the server answered with.
        code: i32,
        message: String,
    },
    #[error(
        "server {server} needs a login{}: run `mcpproxy auth login -s {server}`, or POST /api/v1/servers/{server}/login",
        challenge.as_deref().filter(|c| c.contains("insufficient_scope")).map(|_| " with more permissions").unwrap_or_default()
    )]
    AuthRequired {
        server: ServerName,
        /// The server's `WWW-Authenticate`, which says what it wants.
        challenge: Option<String>,
    },
    #[error("{0}")]
    Failed(String),
}

/// Why a client did not answer a request relayed to it (JSON-RPC code and message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RelayError {
    pub code: i32,
    pub message: String,
}

/// The client waiting for an upstream's answer, who also takes what the server sends back
/// meanwhile: the proxy relays the whole protocol, not only the result.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RelaySink: Send + Sync {
    /// A request of the server to the client during the call (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`); the client's result.
    async fn request(&self, method: &str, params: Value) -> Result<Value, RelayError>;
    /// A notification for the caller: `notifications/progress` (the sink puts its own
    /// progress token in) or `notifications/message`.
    async fn notify(&self, method: &str, params: Value);
}

/// A caller's sink, compared by identity.
#[derive(Clone)]
pub struct Relay(pub Arc<dyn RelaySink>);

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

impl PartialEq for Relay {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What an upstream says outside any call: `notifications/tools/list_changed`,
/// `…/prompts/list_changed`, `…/resources/list_changed`, `…/resources/updated`, log lines.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamNotice {
    pub server: ServerName,
    pub method: String,
    pub params: Value,
}

/// The live connections to upstream servers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UpstreamPool: Send + Sync {
    /// Closes the server's connection and connects again with the config in force.
    async fn restart(&self, server: &ServerName) -> Result<(), UpstreamError>;

    /// Reads the server's tool list again over its connection.
    async fn rediscover(&self, server: &ServerName) -> Result<(), UpstreamError>;

    /// A login to the server started: it waits in `Authenticating` for it.
    async fn auth_started(&self, server: &ServerName);

    /// Calls a tool; the result is the upstream's `CallToolResult` as JSON, unchanged.
    /// A timeout fails this call only; other calls and the connection go on. With a relay,
    /// what the server sends back during the call (progress, log lines, sampling,
    /// elicitation, roots) goes to it, and a caller that gives up cancels the call upstream.
    async fn call_tool(
        &self,
        server: &ServerName,
        tool: &str,
        arguments: Option<Map<String, Value>>,
        timeout: Duration,
        relay: Option<Relay>,
    ) -> Result<Value, UpstreamError>;

    /// Any other request to the server (`prompts/get`, `resources/read`,
    /// `completion/complete`, …) as method and params; its result, unchanged.
    async fn request(
        &self,
        server: &ServerName,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, UpstreamError>;

    /// The server's `initialize` result (protocol version, capabilities, server info,
    /// instructions) while it is connected.
    fn server_info(&self, server: &ServerName) -> Option<Value>;

    /// What the upstreams say outside calls, from now on.
    fn notices(&self) -> tokio::sync::broadcast::Receiver<UpstreamNotice>;

    /// The server's connection as it is now, if the pool supervises it.
    fn status(&self, server: &ServerName) -> Option<ServerRuntime>;

    /// Only the state of the server's connection (what the admission rule asks on every
    /// call); `None` when the pool does not know.
    fn connection(&self, server: &ServerName) -> Option<ConnectionState> {
        self.status(server).map(|s| s.state)
    }
}

/// What the upstream adapter reports about connections it supervises.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UpstreamObserver: Send + Sync {
    async fn state_changed(&self, runtime: ServerRuntime);
    async fn tools_discovered(&self, server: &ServerName, tools: Vec<Tool>);
    /// The server asked for authorization (401, or 403 for a missing scope) with this
    /// `WWW-Authenticate` challenge.
    async fn auth_required(&self, server: &ServerName, challenge: Option<String>);
}

/// The stored OAuth state of each server (tokens, the registered client), as the OAuth
/// adapter writes it. Kept in the database so logins survive restarts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn load(&self, server: &ServerName) -> Result<Option<Value>, StorageError>;
    async fn save(&self, server: &ServerName, data: &Value) -> Result<(), StorageError>;
    async fn clear(&self, server: &ServerName) -> Result<(), StorageError>;
}

/// Why a login step failed; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OAuthError(pub String);

/// A login under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginStarted {
    /// The authorization URL the user opens.
    pub url: String,
    /// Whether the proxy opened it in a browser (not when `HEADLESS`, `NO_BROWSER` or `CI`).
    pub browser_opened: bool,
    /// Another login of this server was already under way; this is its URL.
    pub joined: bool,
}

/// Where a server's login stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthStatus {
    /// Holds an access token.
    pub logged_in: bool,
    /// When the access token expires.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<String>,
    /// The URL of a login under way.
    pub pending_url: Option<String>,
    /// Why the last refresh or login failed.
    pub last_error: Option<String>,
}

/// OAuth 2.1 for upstream servers: discovery, registration, PKCE, the code exchange and
/// refreshing (the OAuth adapter).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OAuthProvider: Send + Sync {
    /// Starts a login to `server` (joining the one under way), seeded with the server's
    /// `WWW-Authenticate` challenge when there is one.
    async fn start_login(
        &self,
        server: &ServerConfig,
        challenge: Option<String>,
    ) -> Result<LoginStarted, OAuthError>;
    /// Finishes the login the authorization server sent the browser back for (`state`
    /// names it); the server logged in.
    async fn complete_login(&self, state: &str, code: &str) -> Result<ServerName, OAuthError>;
    /// Forgets the server's tokens.
    async fn logout(&self, server: &ServerName) -> Result<(), OAuthError>;
    async fn status(&self, server: &ServerName) -> OAuthStatus;
}

/// The per-server log files (`server-<name>.log`): what each upstream wrote on stderr and
/// what happened to its connection.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ServerLogs: Send + Sync {
    /// Appends one line. Never blocks: a flood of lines may lose some, never stall a server.
    fn append(&self, server: &ServerName, line: &str);
    /// The last `lines` lines, oldest first.
    async fn tail(&self, server: &ServerName, lines: usize) -> Result<Vec<String>, StorageError>;
}

/// Why the secret store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretStoreError {
    /// No keyring to talk to (no Secret Service on the session bus, no session bus, …).
    #[error("the OS keyring is not available: {0}")]
    Unavailable(String),
    /// The keyring answered with an error (locked, refused, …).
    #[error("the OS keyring failed: {0}")]
    Failed(String),
}

/// The OS keyring (Secret Service, Keychain, Credential Manager): secrets by name, all
/// under the service `mcpproxy`. Values never leave through anything but [`SecretStore::get`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretStoreError>;
    async fn set(&self, name: &str, value: &str) -> Result<(), SecretStoreError>;
    /// Deletes the secret; false when there was none.
    async fn delete(&self, name: &str) -> Result<bool, SecretStoreError>;
    /// The names of every stored secret, sorted.
    async fn list(&self) -> Result<Vec<String>, SecretStoreError>;
    /// Which store this is, for people (`secret-service`, `file …`).
    fn describe(&self) -> String;
}

/// A reason why a way of isolating servers cannot be used here: an error code of the
/// `MCPX_*` family (the doctor's), what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IsolationProblem {
    pub code: String,
    pub reason: String,
    pub fix: String,
}

/// Whether Docker can run isolated servers on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DockerFacts {
    pub available: bool,
    /// The `docker` program the proxy runs.
    pub cli_path: Option<String>,
    /// The daemon's version, when it answers.
    pub server_version: Option<String>,
    /// `DOCKER_HOST`, when set.
    pub docker_host: Option<String>,
    pub problem: Option<IsolationProblem>,
}

/// Whether servers can be sandboxed on this machine, and with what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SandboxFacts {
    /// A sandbox without network can be built (the strictest kind).
    pub available: bool,
    /// What builds it: `bubblewrap` or `landlock`.
    pub backend: Option<String>,
    /// What builds a sandbox that may use the network (Landlock before ABI 4 can only
    /// build those).
    pub backend_with_network: Option<String>,
    /// The `bwrap` program found on PATH.
    pub bwrap_path: Option<String>,
    /// Why that `bwrap` cannot build a sandbox here.
    pub bwrap_error: Option<String>,
    /// The kernel's Landlock ABI version.
    pub landlock_abi: Option<u8>,
    pub landlock_error: Option<String>,
    pub problem: Option<IsolationProblem>,
}

/// What this machine offers to isolate stdio servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IsolationFacts {
    pub docker: DockerFacts,
    pub sandbox: SandboxFacts,
}

/// Looks at the machine: Docker's daemon, bubblewrap, Landlock.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IsolationProbe: Send + Sync {
    async fn facts(&self) -> IsolationFacts;
}

/// Publishes domain events. Never blocks: a subscriber that cannot keep up loses events
/// and is told so, the publisher does not wait for it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: DomainEvent);
}

/// The wall clock, as a port so tests can fix time.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}

/// A script to run in the sandbox, with its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptJob {
    /// JavaScript source: its last expression, or a top-level `return`, is the result.
    pub source: String,
    /// The global `input`.
    pub input: Value,
    /// When the script is stopped (its `timeout_ms` counted from the request, so time
    /// spent waiting for a free runtime counts).
    pub deadline: std::time::Instant,
    /// The heap of its runtime.
    pub memory_limit_bytes: usize,
    /// The most bytes of the JSON it may return.
    pub max_output_bytes: usize,
}

/// Ends a script from inside a host function (a limit of the use case was broken): the
/// engine stops the script at once, whatever it catches, and reports this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptAbort {
    /// `MAX_TOOL_CALLS_EXCEEDED`, `SERVER_NOT_ALLOWED`, `TIMEOUT`.
    pub code: &'static str,
    pub message: String,
}

/// What a script reaches: its host functions, answered by the application. Called on the
/// engine's own thread, which waits for the answer.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ScriptHost: Send + Sync {
    /// `call_tool(server, tool, args)`, its three arguments as JSON; answers the envelope
    /// the script sees (`{ok, result}` or `{ok: false, error}`).
    fn call_tool(&self, server: Value, tool: Value, args: Value) -> Result<Value, ScriptAbort>;
    /// `call_tools(requests, options)`: an array of envelopes, or one envelope for a
    /// malformed batch.
    fn call_tools(&self, requests: Value, options: Value) -> Result<Value, ScriptAbort>;
}

/// Why a script gave no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptFailure {
    #[error("{message}")]
    Syntax { message: String },
    #[error("{message}")]
    Runtime { message: String, stack: String },
    #[error("the script ran past its time limit")]
    Timeout,
    #[error("the script used more memory than its runtime may have")]
    OutOfMemory,
    #[error("the script's result is not JSON: {0}")]
    Serialization(String),
    #[error("the script's result is {size} bytes of JSON, over the limit of {limit}")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("{}", .0.message)]
    Aborted(ScriptAbort),
    #[error("the script engine failed: {0}")]
    Engine(String),
}

/// The JavaScript engine: runs one script in a fresh global scope on a runtime of its pool,
/// with nothing but `input`, `call_tool`, `call_tools`, a bounded `sleep` and `console`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ScriptRunner: Send + Sync {
    async fn run(&self, job: ScriptJob, host: Arc<dyn ScriptHost>) -> Result<Value, ScriptFailure>;
}
mod diagnostics;
mod discovery;
pub use diagnostics::*;
pub use discovery::*;
