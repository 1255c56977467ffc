//! `/servers/{id}/tools/…`: a person's per-tool switches, blocks, and what a reviewer reads
//! (a changed tool's diff, every tool's description and schema for audit). Names and shapes
//! are the Go MCPProxy's.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use mcpproxy_application::catalog::ToolReview;
use mcpproxy_domain::approval::ApprovalState;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

#[derive(Debug, Deserialize, ToSchema)]
pub struct EnabledBody {
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolEnabled {
    pub server_name: String,
    pub tool_name: String,
    pub enabled: bool,
    /// Whether the switch moved (false: it was already so).
    pub changed: bool,
}

/// Switches one tool on or off by hand, whatever its approval. A switched-off tool is neither
/// listed, searched nor callable, and stays so across restarts and new versions of the
/// tool. A tool the server's `enabled_tools`/`disabled_tools` hides cannot be switched on
/// (409).
#[utoipa::path(post, operation_id = "set_tool_enabled", path = "/servers/{id}/tools/{tool}/enabled", tag = "servers", request_body = EnabledBody,
    params(("id" = String, Path, description = "The server name"), ("tool" = String, Path, description = "The tool name")),
    responses((status = 200, description = "Done", body = Envelope<ToolEnabled>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 404, description = "No such server or tool", body = ErrorEnvelope), (status = 409, description = "The server's config hides the tool", body = ErrorEnvelope)))]
pub async fn set_enabled(
    state: State,
    Caller(caller): Caller,
    Path((id, tool)): Path<(String, String)>,
    Json(body): Json<EnabledBody>,
) -> ApiResult<ToolEnabled> {
    let changed = state
        .0
        .catalog
        .set_enabled(&id, Some(std::slice::from_ref(&tool)), body.enabled, caller)
        .await?;
    Ok(ok(ToolEnabled {
        server_name: id,
        tool_name: tool,
        enabled: body.enabled,
        changed: !changed.is_empty(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllToolsEnabled {
    pub server_name: String,
    pub enabled: bool,
    /// How many tools' switch moved.
    pub changed: usize,
    pub tools: Vec<String>,
}

async fn set_all(
    state: State,
    caller: Caller,
    id: String,
    enabled: bool,
) -> ApiResult<AllToolsEnabled> {
    let tools = state
        .0
        .catalog
        .set_enabled(&id, None, enabled, caller.0)
        .await?;
    Ok(ok(AllToolsEnabled {
        server_name: id,
        enabled,
        changed: tools.len(),
        tools,
    }))
}

/// Switches every tool of the server on.
#[utoipa::path(post, operation_id = "enable_all_tools", path = "/servers/{id}/tools/enable_all", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<AllToolsEnabled>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate", body = ErrorEnvelope), (status = 404, description = "No such server", body = ErrorEnvelope)))]
pub async fn enable_all(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<AllToolsEnabled> {
    set_all(state, caller, id, true).await
}

/// Switches every tool of the server off.
#[utoipa::path(post, operation_id = "disable_all_tools", path = "/servers/{id}/tools/disable_all", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<AllToolsEnabled>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate", body = ErrorEnvelope), (status = 404, description = "No such server", body = ErrorEnvelope)))]
pub async fn disable_all(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<AllToolsEnabled> {
    set_all(state, caller, id, false).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BlockBody {
    /// The tools to block.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Block every tool that waits for review (pending or changed).
    #[serde(default)]
    pub block_all: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Blocked {
    pub blocked: usize,
    pub tools: Vec<String>,
    pub message: String,
}

/// Blocks tools: each is approved as it is now and switched off in one write (it leaves
/// review but is never callable). `block_all` blocks every tool waiting for review.
#[utoipa::path(post, operation_id = "block_tools", path = "/servers/{id}/tools/block", tag = "servers", request_body = BlockBody,
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<Blocked>), (status = 400, description = "Neither tools nor block_all", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 404, description = "No such server or tool", body = ErrorEnvelope)))]
pub async fn block(
    state: State,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<BlockBody>,
) -> ApiResult<Blocked> {
    let wanted = match (body.block_all, body.tools.is_empty()) {
        (true, _) => None,
        (false, false) => Some(body.tools.as_slice()),
        (false, true) => {
            return Err(ApiError::bad_request(
                "Either 'tools' array or 'block_all: true' required",
            ));
        }
    };
    let tools = state.0.catalog.block(&id, wanted, caller).await?;
    Ok(ok(Blocked {
        blocked: tools.len(),
        message: format!("Blocked {} tools for server {id}", tools.len()),
        tools,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolDiff {
    pub server_name: String,
    pub tool_name: String,
    pub status: ApprovalState,
    pub approved_hash: Option<String>,
    pub current_hash: String,
    pub previous_description: Option<String>,
    pub current_description: String,
    #[schema(value_type = Option<Object>)]
    pub previous_schema: Option<Arc<serde_json::Value>>,
    #[schema(value_type = Object)]
    pub current_schema: Arc<serde_json::Value>,
}

async fn review_of(state: &State, id: &str, tool: &str) -> Result<ToolReview, ApiError> {
    state
        .0
        .catalog
        .review(id)
        .await?
        .into_iter()
        .find(|t| t.name == tool)
        .ok_or_else(|| ApiError::not_found(format!("server {id} has no tool named {tool:?}")))
}

/// What changed in a tool since it was approved (404 unless it changed).
#[utoipa::path(get, operation_id = "tool_diff", path = "/servers/{id}/tools/{tool}/diff", tag = "servers",
    params(("id" = String, Path, description = "The server name"), ("tool" = String, Path, description = "The tool name")),
    responses((status = 200, description = "Done", body = Envelope<ToolDiff>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server or tool, or it did not change", body = ErrorEnvelope)))]
pub async fn diff(state: State, Path((id, tool)): Path<(String, String)>) -> ApiResult<ToolDiff> {
    let review = review_of(&state, &id, &tool).await?;
    if review.state != ApprovalState::Changed {
        return Err(ApiError::not_found(format!(
            "No changes detected for this tool: {id}:{tool} is {}",
            review.state.as_str()
        )));
    }
    Ok(ok(ToolDiff {
        server_name: id,
        tool_name: tool,
        status: review.state,
        approved_hash: review.approved_fingerprint,
        current_hash: review.fingerprint,
        previous_description: review.approved_description,
        current_description: review.description,
        previous_schema: review.approved_input_schema,
        current_schema: review.input_schema,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `json` (default) or `text`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolExport {
    pub server_name: String,
    pub tool_name: String,
    pub status: ApprovalState,
    pub hash: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub schema: Arc<serde_json::Value>,
    pub enabled: bool,
    pub disabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolsExport {
    pub server_name: String,
    pub tools: Vec<ToolExport>,
    pub count: usize,
}

/// Every tool of the server with its description, schema, approval and switch, for audit:
/// JSON in the envelope, or `format=text` as plain text.
#[utoipa::path(get, operation_id = "export_tools", path = "/servers/{id}/tools/export", tag = "servers",
    params(("id" = String, Path, description = "The server name"), ExportQuery),
    responses((status = 200, description = "Done", body = Envelope<ToolsExport>), (status = 400, description = "Unknown format", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server", body = ErrorEnvelope)))]
pub async fn export(
    state: State,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let tools: Vec<ToolExport> = state
        .0
        .catalog
        .review(&id)
        .await?
        .into_iter()
        .map(|t| ToolExport {
            server_name: id.clone(),
            tool_name: t.name,
            status: t.state,
            hash: t.fingerprint,
            description: t.description,
            schema: t.input_schema,
            enabled: !t.disabled,
            disabled: t.disabled,
        })
        .collect();
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(ok(ToolsExport {
            server_name: id,
            count: tools.len(),
            tools,
        })
        .into_response()),
        "text" => {
            let mut out = String::new();
            for t in &tools {
                let schema = serde_json::to_string_pretty(&*t.schema).unwrap_or_default();
                out.push_str(&format!(
                    "=== {}:{} ===\nStatus: {}\nEnabled: {}\nHash: {}\nDescription:\n{}\nSchema:\n{schema}\n\n",
                    t.server_name,
                    t.tool_name,
                    t.status.as_str(),
                    t.enabled,
                    t.hash,
                    t.description
                ));
            }
            Ok(([("content-type", "text/plain; charset=utf-8")], out).into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "unknown format {other:?}; use json or text"
        ))),
    }
}
