//! `/tokens`: agent tokens. The secret is in the answer of create and regenerate only.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use mcpproxy_application::TokenError;
use mcpproxy_application::tokens::{CreateToken, CreatedToken, TokenInfo};
use serde::Serialize;
use utoipa::ToSchema;

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let status = match &e {
            TokenError::Spec(_) | TokenError::UnknownServer(_) | TokenError::UnknownProfile(..) => {
                StatusCode::BAD_REQUEST
            }
            TokenError::Exists(_) => StatusCode::CONFLICT,
            TokenError::NotFound(_) => StatusCode::NOT_FOUND,
            TokenError::Forbidden(g) => return Self::gate(*g),
            TokenError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, e.to_string())
    }
}

/// Every agent token (never the secrets).
#[utoipa::path(get, operation_id = "list_tokens", path = "/tokens", tag = "tokens",
    responses((status = 200, description = "Done", body = Envelope<Vec<TokenInfo>>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Agent tokens may not manage tokens", body = ErrorEnvelope)))]
pub async fn list(state: State, Caller(caller): Caller) -> ApiResult<Vec<TokenInfo>> {
    Ok(ok(state.0.tokens.list(caller).await?))
}

/// Creates an agent token; the answer holds the token, shown this once.
#[utoipa::path(post, operation_id = "create_token", path = "/tokens", tag = "tokens",
    request_body = CreateToken,
    responses((status = 200, description = "Created; save the token now", body = Envelope<CreatedToken>),
        (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate, or asked with an agent token", body = ErrorEnvelope),
        (status = 409, description = "The name is taken", body = ErrorEnvelope)))]
pub async fn create(
    state: State,
    Caller(caller): Caller,
    Json(body): Json<CreateToken>,
) -> ApiResult<CreatedToken> {
    Ok(ok(state.0.tokens.create(&body, caller).await?))
}

/// One agent token.
#[utoipa::path(get, operation_id = "get_token", path = "/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, description = "Done", body = Envelope<TokenInfo>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Agent tokens may not manage tokens", body = ErrorEnvelope),
        (status = 404, description = "No such token", body = ErrorEnvelope)))]
pub async fn show(
    state: State,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> ApiResult<TokenInfo> {
    Ok(ok(state.0.tokens.show(&name, caller).await?))
}

/// Revokes a token: it stops working now; the record and its name stay.
#[utoipa::path(delete, operation_id = "revoke_token", path = "/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, description = "Revoked", body = Envelope<TokenInfo>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate, or asked with an agent token", body = ErrorEnvelope),
        (status = 404, description = "No such token", body = ErrorEnvelope)))]
pub async fn revoke(
    state: State,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> ApiResult<TokenInfo> {
    Ok(ok(state.0.tokens.revoke(&name, caller).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedToken {
    pub deleted: String,
}

/// Deletes a token for good; its name is free again.
#[utoipa::path(delete, operation_id = "delete_token", path = "/tokens/{name}/permanent", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, description = "Deleted", body = Envelope<DeletedToken>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate, or asked with an agent token", body = ErrorEnvelope),
        (status = 404, description = "No such token", body = ErrorEnvelope)))]
pub async fn delete(
    state: State,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> ApiResult<DeletedToken> {
    state.0.tokens.delete(&name, caller).await?;
    Ok(ok(DeletedToken { deleted: name }))
}

/// A new secret for the token, same name and scope; the old secret stops working.
#[utoipa::path(post, operation_id = "regenerate_token", path = "/tokens/{name}/regenerate", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, description = "Regenerated; save the token now", body = Envelope<CreatedToken>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate, or asked with an agent token", body = ErrorEnvelope),
        (status = 404, description = "No such token", body = ErrorEnvelope)))]
pub async fn regenerate(
    state: State,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> ApiResult<CreatedToken> {
    Ok(ok(state.0.tokens.regenerate(&name, caller).await?))
}
