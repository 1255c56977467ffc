//! `POST /api/v1/code/exec`: runs a script (code execution) for a REST client or the CLI.
//! The answer is the Go proxy's own envelope for this route: `{ok, result | error, stats,
//! request_id}`; a script that runs and fails is still a 200 with `ok: false`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcpproxy_application::CodeRequest;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::envelope::current_request_id;
use super::{Caller, State};

/// The request: the arguments of the `code_execution` MCP tool.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // the schema of the body, which the handler reads as JSON
pub struct CodeExecBody {
    /// JavaScript; its last expression (or a top-level `return`) is the result.
    code: String,
    /// The script's global `input`.
    #[schema(value_type = Option<Object>)]
    input: Option<Value>,
    /// `timeout_ms` (1–600000), `max_tool_calls` (0: no limit), `allowed_servers`.
    #[schema(value_type = Option<Object>)]
    options: Option<Value>,
    /// `javascript` (the only language served).
    language: Option<String>,
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    let body = json!({
        "ok": false,
        "error": {"code": code, "message": message},
        "request_id": current_request_id(),
    });
    (status, Json(body)).into_response()
}

/// Runs a script whose tool calls go through the same checks as agents' calls.
#[utoipa::path(post, operation_id = "code_exec", path = "/code/exec", tag = "tools", request_body = CodeExecBody,
    responses((status = 200, description = "The script ran: {ok, result} or {ok: false, error: {code, message}} (SYNTAX_ERROR, RUNTIME_ERROR, TIMEOUT, MEMORY_LIMIT_EXCEEDED, MAX_TOOL_CALLS_EXCEEDED, SERVER_NOT_ALLOWED, …)", body = Object),
        (status = 400, description = "Bad request (INVALID_REQUEST, INVALID_LANGUAGE)", body = Object),
        (status = 401, description = "Missing or wrong API key", body = Object),
        (status = 403, description = "enable_code_execution is false (FEATURE_DISABLED)", body = Object)))]
pub async fn exec(state: State, Caller(caller): Caller, body: Option<Json<Value>>) -> Response {
    let Some(Json(Value::Object(args))) = body else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body must be a JSON object: {\"code\": \"...\", \"input\": {...}, \"options\": {...}}".into(),
        );
    };
    let mut request = match CodeRequest::from_arguments(&args) {
        Ok(r) => r,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, e.code(), e.to_string()),
    };
    request.caller = caller;
    let envelope = match state.0.code.execute(request).await {
        Ok(v) => v,
        Err(e) => {
            let status = match e {
                mcpproxy_application::CodeError::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            return refusal(status, e.code(), e.to_string());
        }
    };
    let mut body = json!({
        "ok": envelope["ok"],
        "stats": {
            "tool_calls": envelope["tool_calls"],
            "execution_id": envelope["execution_id"],
        },
        "request_id": current_request_id(),
    });
    if envelope["ok"] == Value::Bool(true) {
        body["result"] = envelope["value"].clone();
    } else {
        body["error"] = envelope["error"].clone();
    }
    (StatusCode::OK, Json(body)).into_response()
}
