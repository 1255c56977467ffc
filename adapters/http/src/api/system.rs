//! Status, information and the configuration document.

use axum::Json;
use mcpproxy_application::Allowed;
use mcpproxy_application::catalog::ToolStats;
use mcpproxy_application::management::AppliedConfig;
use mcpproxy_domain::ValidationError;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope::{ApiResult, ErrorEnvelope, ok};
use super::{Caller, State};

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerCounts {
    pub total: usize,
    pub enabled: usize,
    pub connected: usize,
    pub quarantined: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusData {
    pub running: bool,
    pub version: String,
    pub listen_addr: String,
    pub uptime_seconds: u64,
    pub routing_mode: String,
    pub servers: ServerCounts,
    pub tools: ToolStats,
    /// What the config gates let a person do now (`read_only_mode`, `disable_management`,
    /// `allow_server_add`, `allow_server_remove`): the web panel offers only these controls.
    pub allowed: Allowed,
    /// This process's name among the replicas sharing a database (`MCPPROXY_REPLICA_ID`,
    /// else `host:port`); PostgreSQL-backed activity records carry it as `replica_id`.
    pub replica_id: String,
    /// The database holding the state: `sqlite` (embedded) or `postgres` (shared).
    pub storage: String,
}

/// How the proxy is doing.
#[utoipa::path(get, operation_id = "get_status", path = "/status", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<StatusData>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn status(state: State, Caller(caller): Caller) -> ApiResult<StatusData> {
    let api = &state.0;
    let servers = api.management.list_servers().await?;
    let tools = api.catalog.all_tools(&caller).stats;
    let config = api.config.current();
    Ok(ok(StatusData {
        running: true,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        listen_addr: api.endpoints.listen_addr.clone(),
        uptime_seconds: api.started.elapsed().as_secs(),
        routing_mode: config.routing_mode().as_str().to_owned(),
        servers: ServerCounts {
            total: servers.len(),
            enabled: servers.iter().filter(|s| s.enabled).count(),
            connected: servers.iter().filter(|s| s.connected).count(),
            quarantined: servers.iter().filter(|s| s.quarantined).count(),
        },
        tools,
        allowed: api.management.allowed(&caller),
        replica_id: api.replica.id.clone(),
        storage: api.replica.storage.to_owned(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointsData {
    /// The base URL of the HTTP listener.
    pub http: String,
    /// The MCP endpoint agents connect to.
    pub mcp: String,
    /// The unix socket (no API key needed), when enabled.
    pub socket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InfoData {
    pub version: String,
    pub listen_addr: String,
    pub endpoints: EndpointsData,
}

/// The version and where the proxy listens.
#[utoipa::path(get, operation_id = "get_info", path = "/info", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<InfoData>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn info(state: State) -> ApiResult<InfoData> {
    let e = &state.0.endpoints;
    Ok(ok(InfoData {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        listen_addr: e.listen_addr.clone(),
        endpoints: EndpointsData {
            http: format!("{}://{}", e.scheme, e.listen_addr),
            mcp: format!("{}://{}/mcp", e.scheme, e.listen_addr),
            socket: e.socket.as_ref().map(|p| p.display().to_string()),
        },
    }))
}

/// The configuration in force, secrets masked.
#[utoipa::path(get, operation_id = "get_config", path = "/config", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<serde_json::Value>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn get_config(state: State) -> ApiResult<Value> {
    Ok(ok(state.0.management.config_view()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_errors(errors: Vec<ValidationError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            field: e.field,
            message: e.message,
        })
        .collect()
}

/// Checks a configuration document without applying it.
#[utoipa::path(post, operation_id = "validate_config", path = "/config/validate", tag = "system", request_body = Object,
    responses((status = 200, description = "Done", body = super::envelope::Envelope<Validation>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn validate_config(state: State, Json(doc): Json<Value>) -> ApiResult<Validation> {
    Ok(ok(match state.0.management.validate_config(&doc) {
        Ok(_) => Validation {
            valid: true,
            errors: Vec::new(),
        },
        Err(errors) => Validation {
            valid: false,
            errors: field_errors(errors),
        },
    }))
}

/// Replaces the configuration (saved atomically, applied live; masked secrets sent back
/// unchanged keep their values).
#[utoipa::path(post, operation_id = "apply_config", path = "/config/apply", tag = "system", request_body = Object,
    responses((status = 200, description = "Done", body = super::envelope::Envelope<AppliedConfig>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope)))]
pub async fn apply_config(
    state: State,
    Caller(caller): Caller,
    Json(doc): Json<Value>,
) -> ApiResult<AppliedConfig> {
    Ok(ok(state.0.management.apply_config(&doc, caller).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKey {
    /// The new API key; the old one is refused from now on.
    pub api_key: String,
}

/// Replaces the API key with a new one (what `mcpproxy status --reset-key` does). HTTP
/// clients using the old key are refused from then on; the unix socket needs none.
#[utoipa::path(post, operation_id = "reset_api_key", path = "/config/reset-key", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<NewKey>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope)))]
pub async fn reset_key(state: State, Caller(caller): Caller) -> ApiResult<NewKey> {
    let api_key = state.0.management.reset_api_key(caller).await?;
    Ok(ok(NewKey { api_key }))
}
