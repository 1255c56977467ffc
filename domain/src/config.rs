//! The configuration document, `mcp_config.json`, in the Go MCPProxy's format.
//!
//! Keys this proxy acts on are typed; every other key (including those of features we do not
//! have yet, and deprecated ones) is kept in `extra` and written back unchanged, so a config
//! shared with the Go proxy loses nothing when we save it. Defaults are the Go proxy's, applied
//! to absent keys. Validation is pure and names the key of every problem.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::duration::GoDuration;
use crate::isolation::{DockerIsolationConfig, IsolationConfig};
use crate::name::ServerName;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_TOOLS_LIMIT: i64 = 15;
pub const DEFAULT_TOOL_RESPONSE_LIMIT: i64 = 20_000;
pub const DEFAULT_CALL_TOOL_TIMEOUT: GoDuration = GoDuration::from_secs(120);
pub const DEFAULT_HEALTH_CHECK_INTERVAL: GoDuration = GoDuration::from_secs(30);
pub const DEFAULT_TOOL_DISCOVERY_INTERVAL: GoDuration = GoDuration::from_secs(300);
pub const DEFAULT_INIT_TIMEOUT: GoDuration = GoDuration::from_secs(30);
/// Claude Code inlines a tool result up to this many characters when a tool says so.
pub const DEFAULT_MAX_RESULT_SIZE_CHARS: i64 = 500_000;

/// One problem in a config, with the key it is about (`mcpServers[2].url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: String,
    pub data_dir: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_key: String,
    pub enable_socket: bool,
    #[serde(rename = "mcpServers")]
    pub servers: Vec<ServerConfig>,
    pub tools_limit: i64,
    pub tool_response_limit: i64,
    pub call_tool_timeout: GoDuration,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub routing_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instructions: String,
    pub read_only_mode: bool,
    pub disable_management: bool,
    pub allow_server_add: bool,
    pub allow_server_remove: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_enabled: Option<bool>,
    pub require_mcp_auth: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_hosts: Vec<String>,
    pub enable_prompts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_interval: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_discovery_interval: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_timeout: Option<GoDuration>,
    pub logging: LoggingConfig,
    pub environment: EnvironmentConfig,
    pub activity_retention_days: i64,
    pub activity_max_records: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_declaration: Option<IntentDeclarationConfig>,
    #[serde(skip_serializing_if = "SearchConfig::is_empty")]
    pub search: SearchConfig,
    /// HTTPS on the listener (issue 21; rules in tls.rs). Absent stays absent when saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// The `anthropic/maxResultSizeChars` hint put in every tool's `_meta` (absent: Go's
    /// 500000, Claude Code's own ceiling; 0 or less: no hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_result_size_chars: Option<i64>,
    // -- Limits against overload (mcpproxy's own keys; absent means the default in
    // `crate::limits`, and an absent key is not written back) --
    /// The most TCP connections served at once; more get a 503. Needs a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_max_connections: Option<i64>,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection waits for its next request. Needs a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_read_header_timeout: Option<GoDuration>,
    /// The most MCP sessions kept at once; the longest idle goes first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_max_sessions: Option<i64>,
    /// The most local (stdio) servers starting at once; absent: one per core. A server
    /// waiting for its turn is not charged the wait against its `init_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_starts: Option<i64>,
    // -- Registries and prompts (issue 20) --
    /// The user's own registries, merged with the built-in ones by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<crate::registry::RegistrySource>,
    /// Lets registry and remote-server URLs lead to private or loopback addresses (off: a
    /// URL someone else gave cannot make the proxy fetch from inside the network).
    #[serde(skip_serializing_if = "is_false")]
    pub allow_private_registry_fetch: bool,
    /// Refuses changes to `registries` at run time.
    #[serde(skip_serializing_if = "is_false")]
    pub registries_locked: bool,
    /// Offers the upstream servers' prompts on the aggregated endpoints (opt-in, as in Go).
    /// Always written, as the Go proxy writes it: a config saved back keeps the key.
    pub aggregate_upstream_prompts: bool,
    // -- isolation of stdio servers (issue 19; rules in isolation.rs) --
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_isolation: Option<DockerIsolationConfig>,
    /// Absent means the defaults (detection on), and stays absent when saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive_data_detection: Option<SensitiveDataConfig>,
    /// Where the state is kept (issue 23, rules in storage.rs); absent: SQLite in `data_dir`,
    /// and it stays absent when saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<crate::storage::StorageConfig>,
    /// Named subsets of the servers, served at `/mcp/p/<name>` (rules in profile.rs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<crate::profile::ProfileConfig>,
    // -- code execution (issue 22; rules in code.rs). Before `extra`, which takes the rest --
    #[serde(flatten)]
    pub code_execution: crate::code::CodeExecutionConfig,
    /// Every key this proxy does not act on, kept as it was read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: String::new(),
            api_key: String::new(),
            enable_socket: true,
            servers: Vec::new(),
            tools_limit: DEFAULT_TOOLS_LIMIT,
            tool_response_limit: DEFAULT_TOOL_RESPONSE_LIMIT,
            call_tool_timeout: DEFAULT_CALL_TOOL_TIMEOUT,
            routing_mode: String::new(),
            instructions: String::new(),
            read_only_mode: false,
            disable_management: false,
            allow_server_add: true,
            allow_server_remove: true,
            quarantine_enabled: None,
            require_mcp_auth: false,
            trusted_hosts: Vec::new(),
            enable_prompts: true,
            health_check_interval: None,
            tool_discovery_interval: None,
            init_timeout: None,
            logging: LoggingConfig::default(),
            environment: EnvironmentConfig::default(),
            activity_retention_days: 90,
            activity_max_records: 100_000,
            intent_declaration: None,
            search: SearchConfig::default(),
            tls: None,
            max_result_size_chars: None,
            http_max_connections: None,
            http_read_header_timeout: None,
            mcp_max_sessions: None,
            max_concurrent_starts: None,
            registries: Vec::new(),
            allow_private_registry_fetch: false,
            registries_locked: false,
            aggregate_upstream_prompts: false,
            docker_isolation: None,
            sensitive_data_detection: None,
            storage: None,
            profiles: Vec::new(),
            code_execution: crate::code::CodeExecutionConfig::default(),
            extra: Map::new(),
        }
    }
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    pub level: String,
    pub enable_file: bool,
    pub enable_console: bool,
    pub filename: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_dir: String,
    /// Megabytes before a log file is rotated.
    pub max_size: i64,
    pub max_backups: i64,
    /// Days a rotated file is kept.
    pub max_age: i64,
    pub compress: bool,
    pub json_format: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            // The Go proxy defaults to console only; a daemon without a log file is hard to
            // troubleshoot, so ours writes main.log unless the config says otherwise.
            enable_file: true,
            enable_console: true,
            filename: "main.log".to_owned(),
            log_dir: String::new(),
            max_size: 10,
            max_backups: 5,
            max_age: 30,
            compress: true,
            json_format: false,
            extra: Map::new(),
        }
    }
}

/// `environment`: what a stdio upstream inherits from the proxy's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvironmentConfig {
    pub inherit_system_safe: bool,
    pub allowed_system_vars: Vec<String>,
    pub custom_vars: BTreeMap<String, String>,
    pub enhance_path: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Variables that carry no secrets and that most tools need to run.
pub const SAFE_SYSTEM_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SHELL",
    "TERM",
    "LANG",
    "USER",
    "USERNAME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_COLLATE",
    "LC_MONETARY",
    "LC_MESSAGES",
    "LC_PAPER",
    "LC_NAME",
    "LC_ADDRESS",
    "LC_TELEPHONE",
    "LC_MEASUREMENT",
    "LC_IDENTIFICATION",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "NVM_DIR",
    "ASDF_DIR",
    "PYENV_ROOT",
    "VOLTA_HOME",
    "HOMEBREW_PREFIX",
    "COLIMA_HOME",
];

impl Default for EnvironmentConfig {
    fn default() -> Self {
        Self {
            inherit_system_safe: true,
            allowed_system_vars: SAFE_SYSTEM_VARS.iter().map(|s| (*s).to_owned()).collect(),
            custom_vars: BTreeMap::new(),
            enhance_path: false,
            extra: Map::new(),
        }
    }
}

/// `intent_declaration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentDeclarationConfig {
    #[serde(default = "yes")]
    pub strict_server_validation: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `search`: how `retrieve_tools` reads queries (this proxy's own section; the Go MCPProxy
/// has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// More names a server's tools answer to, by server name: `{"ms365": ["outlook"]}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// More groups of words that mean the same, beside the built-in thesaurus:
    /// `[["runbook", "playbook"]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<Vec<String>>,
    /// A folder holding a local sentence-embedding model (sentence-transformers layout, e.g.
    /// all-MiniLM-L6-v2): tool search then fuses its ranking with the lexical one. Empty:
    /// lexical search only. Read at start; nothing is ever downloaded.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub embedding_model: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SearchConfig {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The extra names of one server.
    pub fn aliases_of(&self, server: &str) -> &[String] {
        self.aliases.get(server).map_or(&[], Vec::as_slice)
    }

    fn validate(&self, errors: &mut Vec<ValidationError>) {
        for (server, names) in &self.aliases {
            if names.iter().any(|n| n.trim().is_empty()) {
                errors.push(ValidationError::new(
                    format!("search.aliases.{server}"),
                    "an alias cannot be empty; list the names the server's tools answer to",
                ));
            }
        }
        for (i, group) in self.synonyms.iter().enumerate() {
            if group.iter().filter(|w| !w.trim().is_empty()).count() < 2 {
                errors.push(ValidationError::new(
                    format!("search.synonyms[{i}]"),
                    "a synonym group needs at least two words, like [\"runbook\", \"playbook\"]",
                ));
            }
        }
    }
}

/// How an upstream is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Stdio,
    StreamableHttp,
    Sse,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }
}

/// `trust_mode`: how tool changes of a server are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrustMode {
    /// Every change is approved as it comes.
    Auto,
    /// Changes wait for a scan; without a scanner, for a person.
    Scan,
    /// Every change waits for a person.
    Manual,
}

impl TrustMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "auto" => Some(Self::Auto),
            "scan" => Some(Self::Scan),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

/// `mcpServers[].oauth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct OAuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub redirect_uri: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_params: BTreeMap<String, String>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: Map<String, Value>,
}

/// OAuth parameters the proxy sets itself; `extra_params` may not override them.
const RESERVED_OAUTH_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "code",
    "refresh_token",
    "token_type",
];

/// One entry of `mcpServers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerConfig {
    pub name: ServerName,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthConfig>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Absent means "never stated": not quarantined for a server the proxy already knows, held
    /// for review (set to `true` on load) for one it has never seen.
    // The rule: domain/src/load_gate.rs (kept out of the doc text, which is the API's too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_tool_changes: Option<bool>,
    /// Deprecated predecessor of `auto_approve_tool_changes`, still honoured.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_quarantine: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_tools: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reconnect_on_use: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_discovery_interval: Option<GoDuration>,
    /// RFC 3339 time of creation, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Who added the server through the proxy, or last changed how it is started: `mcp` (an
    /// agent), `cli`, `api` (people). Absent for servers written into the file by hand.
    /// See [`crate::launch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    /// Whether this server's prompts join the aggregated ones (with
    /// `aggregate_upstream_prompts`); absent means yes when it offers prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_prompts: Option<bool>,
    // -- isolation (issue 19; rules in isolation.rs) --
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationConfig>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: Map<String, Value>,
}

impl ServerConfig {
    /// A minimal entry; the rest takes its defaults.
    pub fn new(name: ServerName) -> Self {
        Self {
            name,
            url: String::new(),
            protocol: String::new(),
            command: String::new(),
            args: Vec::new(),
            working_dir: String::new(),
            env: BTreeMap::new(),
            headers: BTreeMap::new(),
            oauth: None,
            enabled: true,
            quarantined: None,
            trust_mode: None,
            auto_approve_tool_changes: None,
            skip_quarantine: false,
            enabled_tools: Vec::new(),
            disabled_tools: Vec::new(),
            reconnect_on_use: false,
            init_timeout: None,
            health_check_interval: None,
            tool_discovery_interval: None,
            created: None,
            updated: None,
            added_by: None,
            expose_prompts: None,
            isolation: None,
            extra: Map::new(),
        }
    }

    pub fn is_quarantined(&self) -> bool {
        self.quarantined == Some(true)
    }

    /// The transport, from `protocol` or, for `auto`/empty, from what is set:
    /// a `command` means stdio, else a `url` means streamable HTTP.
    pub fn transport(&self) -> Result<Transport, ValidationError> {
        match self.protocol.as_str() {
            "stdio" => Ok(Transport::Stdio),
            "http" | "streamable-http" => Ok(Transport::StreamableHttp),
            "sse" => Ok(Transport::Sse),
            "" | "auto" => {
                if !self.command.is_empty() {
                    Ok(Transport::Stdio)
                } else if !self.url.is_empty() {
                    Ok(Transport::StreamableHttp)
                } else {
                    Err(ValidationError::new(
                        "command",
                        "set 'command' (a local stdio server) or 'url' (a remote HTTP server)",
                    ))
                }
            }
            other => Err(ValidationError::new(
                "protocol",
                format!(
                    "invalid protocol {other:?}; use stdio, http, sse, streamable-http or auto"
                ),
            )),
        }
    }

    /// The trust tier in force: a valid `trust_mode`; else the legacy flags; else manual.
    /// An unrecognised `trust_mode` fails closed to manual.
    pub fn effective_trust_mode(&self) -> TrustMode {
        match self.trust_mode.as_deref() {
            Some(raw) if !raw.is_empty() => TrustMode::parse(raw).unwrap_or(TrustMode::Manual),
            _ => match self.auto_approve_tool_changes {
                Some(true) => TrustMode::Auto,
                Some(false) => TrustMode::Manual,
                None if self.skip_quarantine => TrustMode::Auto,
                None => TrustMode::Manual,
            },
        }
    }

    /// The problems of this entry on its own, with keys prefixed by `prefix`
    /// (`mcpServers[2]`).
    pub fn validate(&self, prefix: &str) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        let field = |key: &str| format!("{prefix}.{key}");
        match self.transport() {
            Err(e) => errors.push(ValidationError::new(field(&e.field), e.message)),
            Ok(Transport::Stdio) if self.command.is_empty() => errors.push(ValidationError::new(
                field("command"),
                "command is required for the stdio protocol",
            )),
            Ok(t @ (Transport::StreamableHttp | Transport::Sse)) => {
                if self.url.is_empty() {
                    errors.push(ValidationError::new(
                        field("url"),
                        format!("url is required for the {} protocol", t.as_str()),
                    ));
                } else if !is_http_url(&self.url) {
                    errors.push(ValidationError::new(
                        field("url"),
                        format!(
                            "{:?} is not an http:// or https:// URL",
                            crate::redact::url(&self.url)
                        ),
                    ));
                }
            }
            Ok(_) => {}
        }
        if !self.enabled_tools.is_empty() && !self.disabled_tools.is_empty() {
            errors.push(ValidationError::new(
                field("enabled_tools"),
                "enabled_tools and disabled_tools are mutually exclusive; use one or the other",
            ));
        }
        if let Some(mode) = self.trust_mode.as_deref()
            && !mode.is_empty()
            && TrustMode::parse(mode).is_none()
        {
            errors.push(ValidationError::new(
                field("trust_mode"),
                format!("invalid trust_mode {mode:?}; use auto, scan or manual"),
            ));
        }
        if let Some(oauth) = &self.oauth {
            for key in oauth.extra_params.keys() {
                if RESERVED_OAUTH_PARAMS.contains(&key.to_ascii_lowercase().as_str()) {
                    errors.push(ValidationError::new(
                        field("oauth.extra_params"),
                        format!("{key:?} is set by mcpproxy itself and cannot be overridden"),
                    ));
                }
            }
        }
        check_interval(
            &mut errors,
            &field("init_timeout"),
            self.init_timeout,
            1,
            1800,
        );
        check_interval(
            &mut errors,
            &field("health_check_interval"),
            self.health_check_interval,
            5,
            3600,
        );
        check_interval(
            &mut errors,
            &field("tool_discovery_interval"),
            self.tool_discovery_interval,
            30,
            86_400,
        );
        if let Some(isolation) = &self.isolation {
            errors.extend(crate::isolation::validate_server(
                isolation,
                &field("isolation"),
            ));
        }
        errors
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

/// `{0} ∪ [min, max]` seconds: 0 disables the loop, anything else must be in range.
fn check_interval(
    errors: &mut Vec<ValidationError>,
    field: &str,
    value: Option<GoDuration>,
    min_secs: i64,
    max_secs: i64,
) {
    let Some(d) = value else { return };
    if d == GoDuration::ZERO {
        return;
    }
    let (min, max) = (
        GoDuration::from_secs(min_secs),
        GoDuration::from_secs(max_secs),
    );
    if d < min || d > max {
        errors.push(ValidationError::new(
            field,
            format!("must be 0s (disabled) or between {min} and {max}, got {d}"),
        ));
    }
}

/// A `listen` value is `host:port` or `:port` with a numeric port.
fn is_valid_listen(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    let host_ok =
        host.is_empty() || (host.starts_with('[') && host.ends_with(']')) || !host.contains(':');
    host_ok && port.parse::<u16>().is_ok()
}

/// How the servers of two configs differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub added: Vec<ServerName>,
    pub removed: Vec<ServerName>,
    pub updated: Vec<ServerName>,
    /// Keys that only take effect after a restart and changed.
    pub needs_restart: Vec<&'static str>,
}

impl ConfigDiff {
    pub fn between(old: &Config, new: &Config) -> Self {
        let mut diff = Self::default();
        for server in &new.servers {
            match old.server(&server.name) {
                None => diff.added.push(server.name.clone()),
                Some(before) if before != server => diff.updated.push(server.name.clone()),
                Some(_) => {}
            }
        }
        for server in &old.servers {
            if new.server(&server.name).is_none() {
                diff.removed.push(server.name.clone());
            }
        }
        for (key, changed) in [
            ("listen", old.listen != new.listen),
            ("data_dir", old.data_dir != new.data_dir),
            ("api_key", old.api_key != new.api_key),
            ("tls", old.tls != new.tls),
            ("enable_socket", old.enable_socket != new.enable_socket),
            ("storage", old.storage != new.storage),
            (
                "http_max_connections",
                old.http_max_connections != new.http_max_connections,
            ),
            (
                "http_read_header_timeout",
                old.http_read_header_timeout != new.http_read_header_timeout,
            ),
        ] {
            if changed {
                diff.needs_restart.push(key);
            }
        }
        diff
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingMode {
    RetrieveTools,
    Direct,
    CodeExecution,
}

impl RoutingMode {
    /// The name in the config file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetrieveTools => "retrieve_tools",
            Self::Direct => "direct",
            Self::CodeExecution => "code_execution",
        }
    }
}

// ---- Security (issue 18) -------------------------------------------------------------

/// `sensitive_data_detection`: what to look for in tool arguments and responses. The Go
/// MCPProxy's keys and defaults (on, 1 MiB, entropy 4.5, every category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SensitiveDataConfig {
    pub enabled: bool,
    pub scan_requests: bool,
    pub scan_responses: bool,
    pub max_payload_size_kb: i64,
    pub entropy_threshold: f64,
    /// Categories turned on or off by name; a category not named is on.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_patterns: Vec<CustomPattern>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensitive_keywords: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for SensitiveDataConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scan_requests: true,
            scan_responses: true,
            max_payload_size_kb: 1024,
            entropy_threshold: 4.5,
            categories: BTreeMap::new(),
            custom_patterns: Vec::new(),
            sensitive_keywords: Vec::new(),
            extra: Map::new(),
        }
    }
}

impl SensitiveDataConfig {
    pub fn category_enabled(&self, category: crate::sensitive::Category) -> bool {
        self.categories
            .get(category.as_str())
            .copied()
            .unwrap_or(true)
    }

    fn validate(&self) -> Vec<ValidationError> {
        const KEY: &str = "sensitive_data_detection";
        let mut errors = Vec::new();
        if self.max_payload_size_kb <= 0 {
            errors.push(ValidationError::new(
                format!("{KEY}.max_payload_size_kb"),
                "must be a positive number of kilobytes",
            ));
        }
        if !(0.0..=8.0).contains(&self.entropy_threshold) {
            errors.push(ValidationError::new(
                format!("{KEY}.entropy_threshold"),
                "must be between 0 and 8 bits per character (default 4.5)",
            ));
        }
        for name in self.categories.keys() {
            if crate::sensitive::Category::parse(name).is_none() {
                errors.push(ValidationError::new(
                    format!("{KEY}.categories.{name}"),
                    "unknown category; use cloud_credentials, private_key, api_token, auth_token, sensitive_file, database_credential, high_entropy or credit_card",
                ));
            }
        }
        for (i, p) in self.custom_patterns.iter().enumerate() {
            let field = format!("{KEY}.custom_patterns[{i}]");
            if p.name.is_empty() {
                errors.push(ValidationError::new(format!("{field}.name"), "is required"));
            }
            if p.regex.is_some() != p.keywords.is_empty() {
                errors.push(ValidationError::new(
                    field.clone(),
                    "give either regex or keywords (one of them)",
                ));
            }
            if crate::sensitive::Severity::parse(&p.severity).is_none() {
                errors.push(ValidationError::new(
                    format!("{field}.severity"),
                    "use critical, high, medium or low",
                ));
            }
        }
        if errors.is_empty()
            && let Err(compile) = crate::sensitive::Detector::new(self)
        {
            errors.extend(compile);
        }
        errors
    }
}

/// `sensitive_data_detection.custom_patterns[]`: the user's own secrets to look for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomPattern {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl Config {
    /// The detection settings in force (the defaults when the key is absent).
    pub fn sensitive_data(&self) -> std::borrow::Cow<'_, SensitiveDataConfig> {
        match &self.sensitive_data_detection {
            Some(c) => std::borrow::Cow::Borrowed(c),
            None => std::borrow::Cow::Owned(SensitiveDataConfig::default()),
        }
    }
}

// ---- end of issue 18's section -------------------------------------------------------

impl Config {
    pub fn server(&self, name: &ServerName) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| &s.name == name)
    }

    pub fn server_mut(&mut self, name: &ServerName) -> Option<&mut ServerConfig> {
        self.servers.iter_mut().find(|s| &s.name == name)
    }

    pub fn quarantine_enabled(&self) -> bool {
        self.quarantine_enabled.unwrap_or(true)
    }

    /// The `anthropic/maxResultSizeChars` value to advertise on tools; `None` when off.
    pub fn max_result_size_hint(&self) -> Option<u64> {
        let chars = self
            .max_result_size_chars
            .unwrap_or(DEFAULT_MAX_RESULT_SIZE_CHARS);
        u64::try_from(chars).ok().filter(|c| *c > 0)
    }

    pub fn strict_server_validation(&self) -> bool {
        self.intent_declaration
            .as_ref()
            .is_none_or(|i| i.strict_server_validation)
    }

    /// The routing mode served on `/mcp`; anything unset means `retrieve_tools`.
    pub fn routing_mode(&self) -> RoutingMode {
        match self.routing_mode.as_str() {
            "direct" => RoutingMode::Direct,
            "code_execution" => RoutingMode::CodeExecution,
            _ => RoutingMode::RetrieveTools,
        }
    }

    /// Per-server value, else global, else the default; `0s` means "disabled".
    pub fn health_check_interval(&self, server: &ServerConfig) -> GoDuration {
        server
            .health_check_interval
            .or(self.health_check_interval)
            .unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL)
    }

    pub fn tool_discovery_interval(&self, server: &ServerConfig) -> GoDuration {
        server
            .tool_discovery_interval
            .or(self.tool_discovery_interval)
            .unwrap_or(DEFAULT_TOOL_DISCOVERY_INTERVAL)
    }

    /// The `initialize` deadline; a zero here would let a stuck server hang forever, so it
    /// falls back to the default.
    pub fn init_timeout(&self, server: &ServerConfig) -> GoDuration {
        let d = server
            .init_timeout
            .or(self.init_timeout)
            .unwrap_or(DEFAULT_INIT_TIMEOUT);
        if d.is_positive() {
            d
        } else {
            DEFAULT_INIT_TIMEOUT
        }
    }

    /// Repairs what the Go proxy repairs silently on load, and says what it did:
    /// non-positive limits and timeouts take their defaults, unknown trust modes become
    /// `manual`.
    pub fn normalize(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.listen.is_empty() {
            self.listen = DEFAULT_LISTEN.to_owned();
        }
        if self.tools_limit <= 0 {
            notes.push(format!(
                "tools_limit {} is not positive; using {DEFAULT_TOOLS_LIMIT}",
                self.tools_limit
            ));
            self.tools_limit = DEFAULT_TOOLS_LIMIT;
        }
        if self.tool_response_limit < 0 {
            notes.push("tool_response_limit is negative; using 0 (no limit)".to_owned());
            self.tool_response_limit = 0;
        }
        if !self.call_tool_timeout.is_positive() {
            notes.push(format!(
                "call_tool_timeout {} is not positive; using {DEFAULT_CALL_TOOL_TIMEOUT}",
                self.call_tool_timeout
            ));
            self.call_tool_timeout = DEFAULT_CALL_TOOL_TIMEOUT;
        }
        for server in &mut self.servers {
            if let Some(mode) = server.trust_mode.as_deref()
                && !mode.is_empty()
                && TrustMode::parse(mode).is_none()
            {
                notes.push(format!(
                    "server {}: trust_mode {mode:?} is not auto, scan or manual; using manual",
                    server.name
                ));
                server.trust_mode = Some("manual".to_owned());
            }
        }
        let servers: Vec<ServerName> = self.servers.iter().map(|s| s.name.clone()).collect();
        notes.extend(crate::profile::warnings(&self.profiles, &servers));
        notes
    }

    /// Every problem in the config, each naming its key.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        self.search.validate(&mut errors);
        if !is_valid_listen(&self.listen) {
            errors.push(ValidationError::new(
                "listen",
                format!(
                    "{:?} is not an address; use host:port (like 127.0.0.1:8080) or :port",
                    self.listen
                ),
            ));
        }
        if !(1..=1000).contains(&self.tools_limit) {
            errors.push(ValidationError::new(
                "tools_limit",
                "must be between 1 and 1000",
            ));
        }
        if self.tool_response_limit < 0 {
            errors.push(ValidationError::new(
                "tool_response_limit",
                "cannot be negative (0 turns the limit off)",
            ));
        }
        if !self.call_tool_timeout.is_positive() {
            errors.push(ValidationError::new(
                "call_tool_timeout",
                "must be a positive duration, like \"2m\"",
            ));
        }
        check_interval(&mut errors, "init_timeout", self.init_timeout, 1, 1800);
        self.code_execution.validate(&mut errors);
        if let Some(storage) = &self.storage {
            storage.validate(&mut errors);
        }
        check_interval(
            &mut errors,
            "health_check_interval",
            self.health_check_interval,
            5,
            3600,
        );
        check_interval(
            &mut errors,
            "tool_discovery_interval",
            self.tool_discovery_interval,
            30,
            86_400,
        );
        if !matches!(
            self.routing_mode.as_str(),
            "" | "retrieve_tools" | "direct" | "code_execution"
        ) {
            errors.push(ValidationError::new(
                "routing_mode",
                format!(
                    "invalid routing mode {:?}; use retrieve_tools, direct or code_execution",
                    self.routing_mode
                ),
            ));
        }
        if !matches!(
            self.logging.level.as_str(),
            "" | "trace" | "debug" | "info" | "warn" | "error"
        ) {
            errors.push(ValidationError::new(
                "logging.level",
                format!(
                    "invalid log level {:?}; use trace, debug, info, warn or error",
                    self.logging.level
                ),
            ));
        }
        for (key, value) in [
            ("activity_retention_days", self.activity_retention_days),
            ("activity_max_records", self.activity_max_records),
            ("logging.max_size", self.logging.max_size),
            ("logging.max_backups", self.logging.max_backups),
            ("logging.max_age", self.logging.max_age),
        ] {
            if value < 0 {
                errors.push(ValidationError::new(key, "cannot be negative"));
            }
        }
        if let Some(detection) = &self.sensitive_data_detection {
            errors.extend(detection.validate());
        }
        errors.extend(crate::limits::validate(self));
        errors.extend(crate::profile::validate(&self.profiles));
        if let Some(isolation) = &self.docker_isolation {
            errors.extend(crate::isolation::validate_global(isolation));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, server) in self.servers.iter().enumerate() {
            let prefix = format!("mcpServers[{i}]");
            if !seen.insert(server.name.as_str()) {
                errors.push(ValidationError::new(
                    format!("{prefix}.name"),
                    format!(
                        "duplicate server name {:?}; each server needs its own name",
                        server.name.as_str()
                    ),
                ));
            }
            errors.extend(server.validate(&prefix));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    fn server(name: &str, command: &str) -> ServerConfig {
        let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
        s.command = command.into();
        s
    }

    #[test]
    fn empty_document_takes_go_defaults() {
        let c = parse(json!({}));
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.tools_limit, 15);
        assert_eq!(c.tool_response_limit, 20_000);
        assert_eq!(c.call_tool_timeout, GoDuration::from_secs(120));
        assert!(c.enable_socket && c.allow_server_add && c.allow_server_remove);
        assert!(c.quarantine_enabled() && c.strict_server_validation() && c.enable_prompts);
        assert_eq!(c.routing_mode(), RoutingMode::RetrieveTools);
        assert!(
            c.environment
                .allowed_system_vars
                .iter()
                .any(|v| v == "PATH")
        );
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }

    #[test]
    fn the_search_section_is_read_checked_and_written_only_when_set() {
        let c = parse(json!({"search": {"aliases": {"mail": ["fastmail"]},
            "synonyms": [["runbook", "playbook"]], "future_knob": 1}}));
        assert_eq!(c.search.aliases_of("mail"), ["fastmail"]);
        assert!(c.search.aliases_of("other").is_empty());
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let saved = serde_json::to_value(&c).unwrap();
        assert_eq!(saved["search"]["future_knob"], 1, "unknown keys kept");
        assert!(
            serde_json::to_value(parse(json!({})))
                .unwrap()
                .get("search")
                .is_none()
        );

        let bad = parse(json!({"search": {"aliases": {"mail": [" "]}, "synonyms": [["alone"]]}}));
        let fields: Vec<String> = bad.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["search.aliases.mail", "search.synonyms[0]"]);
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let doc = json!({
            "listen": "127.0.0.1:9000",
            "top_k": 5,
            "docker_isolation": {"enabled": false, "memory_limit": "512m"},
            "logging": {"level": "debug", "rotate_hourly": true},
            "mcpServers": [{
                "name": "gh", "url": "https://x", "isolation": {"image": "node:22"},
                "oauth": {"client_id": "abc", "pkce_enabled": true}
            }]
        });
        let back = serde_json::to_value(parse(doc.clone())).unwrap();
        assert_eq!(back["top_k"], 5);
        assert_eq!(back["docker_isolation"], doc["docker_isolation"]);
        assert_eq!(back["logging"]["rotate_hourly"], true);
        assert_eq!(
            back["mcpServers"][0]["isolation"],
            json!({"image": "node:22"})
        );
        assert_eq!(back["mcpServers"][0]["oauth"]["pkce_enabled"], true);
        assert_eq!(back["mcpServers"][0]["oauth"]["client_id"], "abc");
    }

    #[test]
    fn transport_auto_rule() {
        let mut s = ServerConfig::new(ServerName::parse("a").unwrap());
        assert!(s.transport().is_err());
        s.url = "http://h/mcp".into();
        assert_eq!(s.transport(), Ok(Transport::StreamableHttp));
        s.command = "npx".into();
        assert_eq!(s.transport(), Ok(Transport::Stdio));
        s.protocol = "sse".into();
        assert_eq!(s.transport(), Ok(Transport::Sse));
        s.protocol = "http".into();
        assert_eq!(s.transport(), Ok(Transport::StreamableHttp));
        s.protocol = "grpc".into();
        assert!(s.transport().unwrap_err().message.contains("grpc"));
    }

    #[test]
    fn validation_names_every_key() {
        let c = parse(json!({
            "listen": "nowhere",
            "tools_limit": 5000,
            "routing_mode": "fast",
            "health_check_interval": "1s",
            "mcpServers": [
                {"name": "a", "protocol": "stdio"},
                {"name": "a", "protocol": "sse"},
                {"name": "b", "url": "ftp://x", "enabled_tools": ["x"], "disabled_tools": ["y"]},
                {"name": "c", "command": "x", "trust_mode": "yolo",
                 "oauth": {"extra_params": {"state": "x", "resource": "r"}}}
            ]
        }));
        let fields: Vec<String> = c.validate().into_iter().map(|e| e.field).collect();
        for want in [
            "listen",
            "tools_limit",
            "routing_mode",
            "health_check_interval",
            "mcpServers[0].command",
            "mcpServers[1].name",
            "mcpServers[1].url",
            "mcpServers[2].url",
            "mcpServers[2].enabled_tools",
            "mcpServers[3].trust_mode",
            "mcpServers[3].oauth.extra_params",
        ] {
            assert!(
                fields.iter().any(|f| f == want),
                "{want} missing in {fields:?}"
            );
        }
        assert_eq!(fields.len(), 11, "{fields:?}");
    }

    #[test]
    fn listen_forms() {
        for ok in [
            "127.0.0.1:8080",
            ":8080",
            "localhost:0",
            "[::1]:9000",
            "0.0.0.0:80",
        ] {
            assert!(is_valid_listen(ok), "{ok}");
        }
        for bad in ["8080", "host:", "host:http", "::1:80", ""] {
            assert!(!is_valid_listen(bad), "{bad}");
        }
    }

    #[test]
    fn normalize_repairs_like_go() {
        let mut c = parse(json!({
            "tools_limit": 0, "tool_response_limit": -1, "call_tool_timeout": "0s",
            "mcpServers": [{"name": "a", "command": "x", "trust_mode": "Scan"}]
        }));
        let notes = c.normalize();
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert_eq!(c.tools_limit, 15);
        assert_eq!(c.tool_response_limit, 0);
        assert_eq!(c.call_tool_timeout, DEFAULT_CALL_TOOL_TIMEOUT);
        assert_eq!(c.servers[0].effective_trust_mode(), TrustMode::Manual);
        assert!(c.validate().is_empty());
    }

    #[test]
    fn trust_mode_from_legacy_flags() {
        let mut s = ServerConfig::new(ServerName::parse("a").unwrap());
        assert_eq!(s.effective_trust_mode(), TrustMode::Manual);
        s.skip_quarantine = true;
        assert_eq!(s.effective_trust_mode(), TrustMode::Auto);
        s.auto_approve_tool_changes = Some(false);
        assert_eq!(s.effective_trust_mode(), TrustMode::Manual);
        s.trust_mode = Some("auto".into());
        assert_eq!(s.effective_trust_mode(), TrustMode::Auto);
        s.trust_mode = Some("bogus".into());
        assert_eq!(s.effective_trust_mode(), TrustMode::Manual);
    }

    #[test]
    fn intervals_resolve_server_then_global_then_default() {
        let c = parse(json!({
            "health_check_interval": "10s",
            "init_timeout": "0s",
            "mcpServers": [{"name": "a", "command": "x", "health_check_interval": "0s"},
                           {"name": "b", "command": "x"}]
        }));
        assert_eq!(c.health_check_interval(&c.servers[0]), GoDuration::ZERO);
        assert_eq!(
            c.health_check_interval(&c.servers[1]),
            GoDuration::from_secs(10)
        );
        assert_eq!(
            c.tool_discovery_interval(&c.servers[1]),
            DEFAULT_TOOL_DISCOVERY_INTERVAL
        );
        assert_eq!(c.init_timeout(&c.servers[1]), DEFAULT_INIT_TIMEOUT);
    }

    #[test]
    fn diff_names_added_removed_updated() {
        let old = Config {
            servers: vec![server("a", "x"), server("b", "x")],
            ..Config::default()
        };
        let new = Config {
            servers: vec![server("b", "y"), server("c", "x")],
            listen: "127.0.0.1:1".into(),
            ..Config::default()
        };
        let d = ConfigDiff::between(&old, &new);
        let names = |v: &[ServerName]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&d.added), ["c"]);
        assert_eq!(names(&d.removed), ["a"]);
        assert_eq!(names(&d.updated), ["b"]);
        assert_eq!(d.needs_restart, ["listen"]);
    }

    #[test]
    fn quarantined_absent_stays_absent() {
        let c = parse(json!({"mcpServers": [{"name": "a", "command": "x"}]}));
        assert!(!c.servers[0].is_quarantined());
        let back = serde_json::to_value(&c).unwrap();
        assert!(back["mcpServers"][0].get("quarantined").is_none());
    }
}
