//! `/servers`: the upstream MCP servers.

use axum::Json;
use axum::extract::{Path, Query};
use mcpproxy_application::AddServer;
use mcpproxy_application::catalog::ToolReview;
use mcpproxy_application::management::{BulkResult, ServerView};
use mcpproxy_domain::{ServerConfig, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerList {
    pub servers: Vec<ServerView>,
    pub total: usize,
}

/// Every configured server with its state; env and header values masked.
#[utoipa::path(get, operation_id = "list_servers", path = "/servers", tag = "servers",
    responses((status = 200, description = "Done", body = Envelope<ServerList>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State) -> ApiResult<ServerList> {
    let servers = state.0.management.list_servers().await?;
    Ok(ok(ServerList {
        total: servers.len(),
        servers,
    }))
}

/// Adds a server. It starts quarantined unless the body says `"quarantined": false`, its
/// `trust_mode` is `auto`, or quarantine is off.
#[utoipa::path(post, operation_id = "add_server", path = "/servers", tag = "servers", request_body = ServerConfig,
    responses((status = 200, description = "Done", body = Envelope<ServerView>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 409, description = "Conflicts with what exists", body = ErrorEnvelope)))]
pub async fn add(
    state: State,
    Caller(caller): Caller,
    Json(body): Json<Value>,
) -> ApiResult<ServerView> {
    let skip_quarantine = body.get("quarantined") == Some(&Value::Bool(false));
    let config: ServerConfig = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid server: {e}")))?;
    let request = AddServer {
        config,
        skip_quarantine,
    };
    Ok(ok(state.0.management.add_server(request, caller).await?))
}

/// Changes a server with a JSON merge patch: objects merge, arrays replace, `null` removes.
#[utoipa::path(patch, operation_id = "patch_server", path = "/servers/{id}", tag = "servers", request_body = Object,
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<ServerView>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn patch(
    state: State,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> ApiResult<ServerView> {
    Ok(ok(state
        .0
        .management
        .patch_server(&id, &patch, caller)
        .await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub removed: String,
}

/// Removes a server; its process is stopped, its state and approvals forgotten.
#[utoipa::path(delete, operation_id = "remove_server", path = "/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<Removed>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn remove(
    state: State,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Removed> {
    state.0.management.remove_server(&id, caller).await?;
    Ok(ok(Removed { removed: id }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDone {
    pub success: bool,
    pub server: String,
    pub action: String,
    /// `login`: the URL to open to log in (opened in a browser unless the proxy runs
    /// headless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    /// `login`: whether the proxy opened it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_opened: Option<bool>,
}

/// `enable`, `disable`, `restart`, `quarantine`, `unquarantine`, `discover-tools` (read the
/// server's tools again), `login` (start an OAuth login; a second one joins the first) or
/// `logout` (forget its tokens; it stays disconnected until the next login).
#[utoipa::path(post, operation_id = "server_action", path = "/servers/{id}/{action}", tag = "servers",
    params(("id" = String, Path, description = "The server name"),
           ("action" = String, Path, description = "enable, disable, restart, quarantine, unquarantine, discover-tools, login or logout")),
    responses((status = 200, description = "Done", body = Envelope<ActionDone>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope),
        (status = 409, description = "Conflicts with what exists", body = ErrorEnvelope), (status = 502, description = "The upstream server failed", body = ErrorEnvelope),
        (status = 503, description = "Not available now (server disconnected, storage unavailable)", body = ErrorEnvelope)))]
pub async fn action(
    state: State,
    Caller(caller): Caller,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<ActionDone> {
    let m = &state.0.management;
    let mut login = None;
    let c = &caller;
    match action.as_str() {
        "login" => login = Some(state.0.auth.login(&id, c).await?),
        "logout" => state.0.auth.logout(&id, c).await?,
        "enable" => m.enable_server(&id, c).await?,
        "disable" => m.disable_server(&id, c).await?,
        "restart" => m.restart_server(&id, c).await?,
        "quarantine" => m.quarantine_server(&id, c).await?,
        "unquarantine" => m.unquarantine_server(&id, c).await?,
        "discover-tools" => m.discover_tools(&id, c).await?,
        other => {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!(
                    "no action {other:?}; use enable, disable, restart, quarantine, unquarantine, discover-tools, login or logout"
                ),
            ));
        }
    }
    Ok(ok(ActionDone {
        success: true,
        server: id,
        action,
        auth_url: login.as_ref().map(|l| l.url.clone()),
        browser_opened: login.map(|l| l.browser_opened),
    }))
}

/// `restart_all`, `enable_all` or `disable_all`.
#[utoipa::path(post, operation_id = "bulk_servers", path = "/servers/{id}", tag = "servers",
    params(("id" = String, Path, description = "restart_all, enable_all or disable_all")),
    responses((status = 200, description = "Done", body = Envelope<BulkResult>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn bulk(
    state: State,
    Caller(caller): Caller,
    Path(operation): Path<String>,
) -> ApiResult<BulkResult> {
    let m = &state.0.management;
    let result = match operation.as_str() {
        "restart_all" => m.restart_all(caller).await?,
        "enable_all" => m.enable_all(caller).await?,
        "disable_all" => m.disable_all(caller).await?,
        other => {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("no operation {other:?}; use restart_all, enable_all or disable_all"),
            ));
        }
    };
    Ok(ok(result))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerTools {
    pub server: String,
    pub tools: Vec<ToolReview>,
}

/// The server's tools with their approval states (a changed tool shows what was approved).
#[utoipa::path(get, operation_id = "server_tools", path = "/servers/{id}/tools", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<ServerTools>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn tools(state: State, Path(id): Path<String>) -> ApiResult<ServerTools> {
    let tools = state.0.catalog.review(&id).await?;
    Ok(ok(ServerTools { server: id, tools }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApproveBody {
    /// The tools to approve; all of the server's tools when absent.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    pub server: String,
    pub approved: Vec<String>,
}

/// Approves tools as they are now: they become searchable and callable.
#[utoipa::path(post, operation_id = "approve_tools", path = "/servers/{id}/tools/approve", tag = "servers", request_body = ApproveBody,
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<Approved>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn approve(
    state: State,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Option<Json<ApproveBody>>,
) -> ApiResult<Approved> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let approved = state
        .0
        .catalog
        .approve(&id, body.tools.as_deref(), caller)
        .await?;
    Ok(ok(Approved {
        server: id,
        approved,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TailQuery {
    /// How many lines (1–10000, default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub tail: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerLogs {
    pub server: String,
    pub logs: Vec<String>,
}

/// The last lines of the server's log: its stderr and what happened to its connection.
#[utoipa::path(get, operation_id = "server_logs", path = "/servers/{id}/logs", tag = "servers",
    params(("id" = String, Path, description = "The server name"), TailQuery),
    responses((status = 200, description = "Done", body = Envelope<ServerLogs>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn logs(
    state: State,
    Path(id): Path<String>,
    Query(q): Query<TailQuery>,
) -> ApiResult<ServerLogs> {
    let tail = q.tail.unwrap_or(100);
    if !(1..=10_000).contains(&tail) {
        return Err(ApiError::bad_request(format!(
            "tail must be between 1 and 10000, got {tail}"
        )));
    }
    state.0.management.get_server(&id).await?;
    let name = ServerName::parse(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let logs =
        state.0.logs.tail(&name, tail as usize).await.map_err(|e| {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        })?;
    Ok(ok(ServerLogs { server: id, logs }))
}
