//! `/servers/{id}/prompts`: a server's prompts and their approvals; a prompt whose name,
//! description or arguments changed since it was approved is held until approved here.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use mcpproxy_application::RelayRefusal;
use mcpproxy_application::prompts::{PromptError, PromptReview};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<PromptError> for ApiError {
    fn from(e: PromptError) -> Self {
        let status = match &e {
            PromptError::Unknown(_) | PromptError::Relay(RelayRefusal::UnknownServer(_)) => {
                StatusCode::NOT_FOUND
            }
            PromptError::Held { .. } | PromptError::Relay(RelayRefusal::Gate(_)) => {
                StatusCode::FORBIDDEN
            }
            PromptError::Relay(_) => StatusCode::BAD_GATEWAY,
            PromptError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self {
            code: e.code(),
            ..Self::new(status, e.to_string())
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerPrompts {
    pub server: String,
    pub prompts: Vec<PromptReview>,
}

/// The server's prompts with their approval states (a changed one shows what was approved).
#[utoipa::path(get, operation_id = "server_prompts", path = "/servers/{id}/prompts", tag = "servers",
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<ServerPrompts>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server", body = ErrorEnvelope)))]
pub async fn list(state: State, Path(id): Path<String>) -> ApiResult<ServerPrompts> {
    let prompts = state.0.prompts.review(&id).await?;
    Ok(ok(ServerPrompts {
        server: id,
        prompts,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApprovePrompts {
    /// The prompts to approve (their own names); all of the server's when absent.
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromptsApproved {
    pub server: String,
    pub approved: Vec<String>,
}

/// Approves prompts as they are now: they are offered again.
#[utoipa::path(post, operation_id = "approve_prompts", path = "/servers/{id}/prompts/approve", tag = "servers", request_body = ApprovePrompts,
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Done", body = Envelope<PromptsApproved>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "No such server or prompt", body = ErrorEnvelope)))]
pub async fn approve(
    state: State,
    Caller(source): Caller,
    Path(id): Path<String>,
    body: Option<Json<ApprovePrompts>>,
) -> ApiResult<PromptsApproved> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let approved = state
        .0
        .prompts
        .set_approval(&id, body.prompts.as_deref(), true, &source)
        .await?;
    Ok(ok(PromptsApproved {
        server: id,
        approved,
    }))
}
