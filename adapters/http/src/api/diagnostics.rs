//! The doctor over REST: what is wrong now (`/diagnostics`, also at Go's `/doctor`), one
//! server's findings, and the fixes it can make (`POST /diagnostics/fix`, behind the gates).

use axum::Json;
use axum::extract::{Path, Query};
use mcpproxy_application::diagnostics::{DiagnosticsReport, FixOutcome};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

#[derive(Debug, Deserialize, IntoParams)]
pub struct DiagnosticsQuery {
    /// Only this server's findings.
    pub server: Option<String>,
}

/// Everything wrong now, worst first, each with its stable `MCPX_*` code, cause and fix.
#[utoipa::path(get, operation_id = "get_diagnostics", path = "/diagnostics", tag = "system",
    params(DiagnosticsQuery),
    responses((status = 200, description = "Done", body = Envelope<DiagnosticsReport>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn report(
    state: State,
    Query(q): Query<DiagnosticsQuery>,
) -> ApiResult<DiagnosticsReport> {
    Ok(ok(state
        .0
        .diagnostics
        .diagnose(q.server.as_deref())
        .await?))
}

/// The same report at the Go proxy's name.
#[utoipa::path(get, operation_id = "get_doctor", path = "/doctor", tag = "system",
    params(DiagnosticsQuery),
    responses((status = 200, description = "Done", body = Envelope<DiagnosticsReport>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn doctor(state: State, query: Query<DiagnosticsQuery>) -> ApiResult<DiagnosticsReport> {
    report(state, query).await
}

/// One server's findings.
#[utoipa::path(get, operation_id = "server_diagnostics", path = "/servers/{id}/diagnostics", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<DiagnosticsReport>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn server(state: State, Path(id): Path<String>) -> ApiResult<DiagnosticsReport> {
    Ok(ok(state.0.diagnostics.diagnose(Some(&id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FixRequest {
    /// The `MCPX_*` code to fix.
    pub code: String,
    /// The server it concerns (every fix but the data directory's needs one).
    pub server: Option<String>,
}

/// Makes the fix a code names, when the doctor can (`fixable` in the report): restart a
/// server whose cause is gone, start a login, make the data directory private again.
#[utoipa::path(post, operation_id = "fix_diagnostic", path = "/diagnostics/fix", tag = "system", request_body = FixRequest,
    responses((status = 200, description = "Done", body = Envelope<FixOutcome>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope),
        (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope),
        (status = 409, description = "The cause is still there (install the command, set the secret …); the code says which", body = ErrorEnvelope),
        (status = 422, description = "This code is fixed by hand; the error says how", body = ErrorEnvelope)))]
pub async fn fix(
    state: State,
    Caller(caller): Caller,
    Json(body): Json<FixRequest>,
) -> ApiResult<FixOutcome> {
    Ok(ok(state
        .0
        .diagnostics
        .fix(&body.code, body.server.as_deref(), caller)
        .await?))
}
