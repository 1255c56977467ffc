//! `/tool-calls` and `/servers/{id}/tool-calls`: the tool-call history (the Go MCPProxy's
//! routes) and the replay of a recorded call.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use mcpproxy_application::history::{
    HistoryError, ReplayRequest, Replayed, ServerToolCalls, ToolCallPage, ToolCallRecord,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, current_request_id, ok};
use super::{Caller, State};

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Call(c) => c.into(),
            HistoryError::Query(q) => q.into(),
            HistoryError::Gate { gate, .. } => {
                let mut refused = Self::gate(gate);
                refused.message = e.to_string();
                refused
            }
            HistoryError::NotFound(_) | HistoryError::UnknownServer(_) => {
                Self::not_found(e.to_string())
            }
            HistoryError::NotAToolCall { .. } => Self::bad_request(e.to_string()),
            HistoryError::Storage(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ToolCallsQuery {
    /// 1–100, default 50
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// Only the calls of this MCP session
    pub session_id: Option<String>,
}

/// Recorded tool calls, newest first.
#[utoipa::path(get, operation_id = "list_tool_calls", path = "/tool-calls", tag = "activity", params(ToolCallsQuery),
    responses((status = 200, description = "Done", body = Envelope<ToolCallPage>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State, Query(q): Query<ToolCallsQuery>) -> ApiResult<ToolCallPage> {
    let session = q.session_id.filter(|s| !s.is_empty());
    Ok(ok(state
        .0
        .history
        .list(q.limit, q.offset.unwrap_or(0), session)
        .await?))
}

/// One recorded tool call.
#[utoipa::path(get, operation_id = "get_tool_call", path = "/tool-calls/{id}", tag = "activity",
    params(("id" = String, Path, description = "The call's activity record id")),
    responses((status = 200, description = "Done", body = Envelope<ToolCallRecord>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn get(state: State, Path(id): Path<String>) -> ApiResult<ToolCallRecord> {
    Ok(ok(state.0.history.get(&id).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ServerCallsQuery {
    /// 1–100, default 50
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A server's latest recorded tool calls, newest first.
#[utoipa::path(get, operation_id = "server_tool_calls", path = "/servers/{id}/tool-calls", tag = "servers",
    params(("id" = String, Path, description = "The server name"), ServerCallsQuery),
    responses((status = 200, description = "Done", body = Envelope<ServerToolCalls>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn for_server(
    state: State,
    Path(id): Path<String>,
    Query(q): Query<ServerCallsQuery>,
) -> ApiResult<ServerToolCalls> {
    Ok(ok(state.0.history.for_server(&id, q.limit).await?))
}

/// What to change in a replay.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReplayBody {
    /// Arguments to use instead of the recorded ones.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Map<String, Value>>,
}

/// Runs a recorded tool call again through the same checks as any call (the recorded
/// arguments unless the body gives others, the `call_tool_*` variant it used). The new call
/// is recorded with `replayed_from`. `read_only_mode` refuses to replay a tool that is not
/// read-only; an agent token may not replay.
#[utoipa::path(post, operation_id = "replay_tool_call", path = "/tool-calls/{id}/replay", tag = "activity",
    params(("id" = String, Path, description = "The call's activity record id")), request_body(content = Option<ReplayBody>, description = "Optional: other arguments"),
    responses((status = 200, description = "Done", body = Envelope<Replayed>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope),
        (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope), (status = 502, description = "The upstream server failed", body = ErrorEnvelope),
        (status = 503, description = "Not available now (server disconnected, storage unavailable)", body = ErrorEnvelope)))]
pub async fn replay(
    state: State,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Replayed> {
    // The body is optional: an empty one replays the call as it was.
    let body: ReplayBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be a JSON object like {{\"arguments\": {{...}}}}: {e}"
            ))
        })?
    };
    Ok(ok(state
        .0
        .history
        .replay(ReplayRequest {
            id,
            arguments: body.arguments,
            caller,
            request_id: current_request_id(),
        })
        .await?))
}
