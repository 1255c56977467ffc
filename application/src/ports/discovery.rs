//! The ports of finding and wiring servers and clients: MCP server registries, the config
//! files of other AI clients (import from them, connect them to the proxy), and the
//! approvals of upstream prompts.

use std::path::PathBuf;

use async_trait::async_trait;
use mcpproxy_domain::registry::{RegistryServer, RegistrySource};
use mcpproxy_domain::{ServerConfig, ServerName, ToolApproval};
use serde::Serialize;
use serde_json::Value;

use super::StorageError;

/// Why a registry could not be read. Every message names the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "registry {registry:?} ({url}) did not answer: {reason}; try again later, or `mcpproxy registry list` for the others"
    )]
    Unreachable {
        registry: String,
        url: String,
        reason: String,
    },
    #[error("registry {registry:?} ({url}) answered with something mcpproxy cannot read: {reason}")]
    BadAnswer {
        registry: String,
        url: String,
        reason: String,
    },
    #[error("registry {registry:?}: {reason}")]
    Refused { registry: String, reason: String },
    #[error("registry {registry:?} needs an API key: set {variable}")]
    KeyMissing { registry: String, variable: String },
    #[error(
        "registry {registry:?} uses the protocol {protocol:?}, which mcpproxy does not speak; use modelcontextprotocol/registry or custom/docker"
    )]
    Unsupported { registry: String, protocol: String },
}

/// What a search asks a registry for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryQuery {
    /// Words of the name or description; empty lists everything.
    pub search: String,
    pub tag: String,
    /// At most this many servers.
    pub limit: usize,
}

/// The network registries: the official registry protocol and Docker Hub's catalog. Every
/// URL they lead to is checked against the SSRF rule (`mcpproxy_domain::netguard`) when it
/// is resolved, not only when it is written.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Registry: Send + Sync {
    /// Servers of `source` that match `query`, in the registry's order.
    async fn search(
        &self,
        source: &RegistrySource,
        query: &RegistryQuery,
        allow_private: bool,
    ) -> Result<Vec<RegistryServer>, RegistryError>;

    /// Refuses a URL whose host resolves to a private or loopback address (unless
    /// `allow_private`); `what` names it in the refusal.
    async fn check_public(
        &self,
        what: &str,
        url: &str,
        allow_private: bool,
    ) -> Result<(), RegistryError>;
}

/// Where servers to import come from: a file on this machine, or its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportSource {
    Path(PathBuf),
    Content {
        text: String,
        /// The file's name, if known: its extension helps tell the format.
        file_name: Option<String>,
    },
}

/// A server read from another client's config.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignServer {
    /// Its name there.
    pub original_name: String,
    /// The entry as this proxy would run it, or why it cannot be.
    pub config: Result<ServerConfig, String>,
    /// The entry as it was written.
    pub original: Value,
}

/// The servers of a config file of another client.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignConfig {
    /// `claude-desktop`, `claude-code`, `cursor`, `codex` or `gemini`.
    pub format: String,
    pub format_name: String,
    pub servers: Vec<ForeignServer>,
    pub warnings: Vec<String>,
}

/// A well-known config file of another client on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForeignConfigPath {
    pub name: String,
    pub format: String,
    pub path: String,
    pub exists: bool,
    pub description: String,
}

/// What the proxy's entry in a client's config points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEndpoint {
    /// `http://127.0.0.1:8080/mcp`.
    pub url: String,
    /// The API key, written only when the MCP endpoint asks for it (`require_mcp_auth`).
    pub api_key: Option<String>,
}

/// An AI client and whether it is connected to the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientStatus {
    /// `claude-code`, `claude-desktop`, `cursor`, `windsurf`, `vscode`, `codex`, `gemini`.
    pub id: String,
    pub name: String,
    /// `json` or `toml`.
    pub format: String,
    pub config_path: String,
    /// The config file exists.
    pub exists: bool,
    /// It holds an entry for the proxy under the name asked about.
    pub connected: bool,
    /// The file could not be read; why, with its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a connect or disconnect did to a client's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientChange {
    pub client: String,
    pub config_path: String,
    pub server_name: String,
    /// `connected`, `updated`, `already_connected`, `disconnected` or `not_connected`.
    pub action: String,
    /// The copy of the file as it was before, when the file was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_path: Option<String>,
    pub message: String,
}

/// Why a client's config could not be read or changed. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("unknown client {0:?}; `mcpproxy connect --list` shows the clients")]
    UnknownClient(String),
    #[error("unknown format {0:?}; use claude-desktop, claude-code, cursor, codex or gemini")]
    UnknownFormat(String),
    #[error(
        "{path} is not valid {format} at line {line}, column {column}: {reason}; fix it (nothing was changed)"
    )]
    Malformed {
        path: String,
        format: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "{client} already has an entry named {name:?} in {path} that points elsewhere; use --force to replace it, or --name to add another"
    )]
    AlreadyExists {
        client: String,
        name: String,
        path: String,
    },
    #[error(
        "cannot tell the format of {0}; give it with --format (claude-desktop, claude-code, cursor, codex or gemini)"
    )]
    UnknownShape(String),
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

/// The config files of other AI clients: read to import their servers, edited to connect
/// them to the proxy. Edits keep the rest of the file, back it up first and replace it
/// atomically; a file that cannot be parsed is never written.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ClientConfigs: Send + Sync {
    /// The clients the proxy can connect, with their config paths on this machine.
    fn clients(&self) -> Vec<ClientStatus>;
    /// One client's status; reads its file.
    async fn status(&self, client: &str, name: &str) -> Result<ClientStatus, ClientError>;
    async fn connect(
        &self,
        client: &str,
        name: &str,
        endpoint: &ProxyEndpoint,
        force: bool,
    ) -> Result<ClientChange, ClientError>;
    async fn disconnect(&self, client: &str, name: &str) -> Result<ClientChange, ClientError>;

    /// The well-known config files to import from, and whether each exists.
    fn import_paths(&self) -> Vec<ForeignConfigPath>;
    /// The servers of a config file of another client; `format` when known, else told
    /// from the file.
    async fn read_servers(
        &self,
        source: &ImportSource,
        format: Option<String>,
    ) -> Result<ForeignConfig, ClientError>;
}

/// Approvals of upstream prompts, per server and prompt; the records of the tools' model.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PromptApprovalRepository: Send + Sync {
    /// The servers that have records.
    async fn servers(&self) -> Result<Vec<ServerName>, StorageError>;
    async fn for_server(&self, server: &ServerName) -> Result<Vec<ToolApproval>, StorageError>;
    async fn save(&self, approval: &ToolApproval) -> Result<(), StorageError>;
    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError>;
}
