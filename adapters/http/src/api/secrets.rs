//! `/secrets` and `/servers/{id}/config-to-secret`: keyring secrets, never their values.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use mcpproxy_application::SecretsError;
use mcpproxy_application::secrets::{Migration, MovedSecret, SecretInfo, SecretList};
use mcpproxy_domain::plaintext::ValueScope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        let status = match &e {
            SecretsError::BadName(_)
            | SecretsError::EmptyValue(_)
            | SecretsError::AlreadyReference { .. }
            | SecretsError::EmptyField { .. } => StatusCode::BAD_REQUEST,
            SecretsError::NotFound(_) | SecretsError::UnknownKey { .. } => StatusCode::NOT_FOUND,
            SecretsError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            SecretsError::Management(m) => return m.clone().into(),
        };
        Self::new(status, e.to_string())
    }
}

/// Only the keyring stores secrets; `env` references are read from the environment.
fn check_type(kind: Option<&str>) -> Result<(), ApiError> {
    match kind {
        None | Some("" | "keyring") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "secret type {other:?} cannot be stored; only \"keyring\" can"
        ))),
    }
}

/// Every secret in the keyring and every secret the config refers to (names, never values).
#[utoipa::path(get, operation_id = "list_secrets", path = "/secrets", tag = "secrets",
    responses((status = 200, description = "Done", body = Envelope<SecretList>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn list(state: State) -> ApiResult<SecretList> {
    Ok(ok(state.0.secrets.list().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetSecret {
    pub name: String,
    pub value: String,
    /// `keyring` (the only type that stores).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Stores a secret in the OS keyring (service `mcpproxy`); use it as `${keyring:NAME}`. The
/// servers that use it are restarted.
#[utoipa::path(post, operation_id = "set_secret", path = "/secrets", tag = "secrets", request_body = SetSecret,
    responses((status = 200, description = "Stored", body = Envelope<SecretInfo>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn set(
    state: State,
    Caller(source): Caller,
    Json(body): Json<SetSecret>,
) -> ApiResult<SecretInfo> {
    check_type(body.kind.as_deref())?;
    Ok(ok(state
        .0
        .secrets
        .set(&body.name, &body.value, source)
        .await?))
}

/// One secret: whether it is set, masked, and which servers use it.
#[utoipa::path(get, operation_id = "get_secret", path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "The secret's name")),
    responses((status = 200, description = "Done", body = Envelope<SecretInfo>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "Not in the keyring", body = ErrorEnvelope), (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn get(state: State, Path(name): Path<String>) -> ApiResult<SecretInfo> {
    Ok(ok(state.0.secrets.get(&name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TypeQuery {
    /// `keyring` (the default and only type).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}

/// Deletes a secret from the keyring; the servers that use it are restarted (and fail,
/// naming it, until it is set again).
#[utoipa::path(delete, operation_id = "delete_secret", path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "The secret's name"), TypeQuery),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 404, description = "Not in the keyring", body = ErrorEnvelope), (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn delete(
    state: State,
    Caller(source): Caller,
    Path(name): Path<String>,
    Query(q): Query<TypeQuery>,
) -> ApiResult<Deleted> {
    check_type(q.kind.as_deref())?;
    state.0.secrets.delete(&name, source).await?;
    Ok(ok(Deleted { deleted: name }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MigrateBody {
    /// Move every candidate into the keyring; without it, only report them.
    #[serde(default)]
    pub apply: bool,
}

/// The plaintext env and header values that look like secrets; with `apply`, moves each into
/// the keyring under its suggested name and puts the reference in its place.
#[utoipa::path(post, operation_id = "migrate_secrets", path = "/secrets/migrate", tag = "secrets", request_body = MigrateBody,
    responses((status = 200, description = "Done", body = Envelope<Migration>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate", body = ErrorEnvelope), (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn migrate(
    state: State,
    Caller(source): Caller,
    body: Option<Json<MigrateBody>>,
) -> ApiResult<Migration> {
    let apply = body.is_some_and(|Json(b)| b.apply);
    Ok(ok(state.0.secrets.migrate(apply, source).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfigToSecret {
    /// `header` or `env`.
    pub scope: String,
    /// The key in the server's headers or env.
    pub key: String,
    /// The keyring name to store the value under.
    pub secret_name: String,
}

/// Moves a header or env value of the server into the keyring and writes
/// `${keyring:<secret_name>}` in its place. The value is read on the proxy; the client never
/// needs it.
#[utoipa::path(post, operation_id = "config_to_secret", path = "/servers/{id}/config-to-secret", tag = "servers", request_body = ConfigToSecret,
    params(("id" = String, Path, description = "The server name")),
    responses((status = 200, description = "Moved", body = Envelope<MovedSecret>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 404, description = "No such server or key", body = ErrorEnvelope), (status = 503, description = "The OS keyring is not available", body = ErrorEnvelope)))]
pub async fn config_to_secret(
    state: State,
    Caller(source): Caller,
    Path(id): Path<String>,
    Json(body): Json<ConfigToSecret>,
) -> ApiResult<MovedSecret> {
    let scope = ValueScope::parse(&body.scope).ok_or_else(|| {
        ApiError::bad_request(format!("scope {:?} is not header or env", body.scope))
    })?;
    Ok(ok(state
        .0
        .secrets
        .move_to_keyring(&id, scope, &body.key, &body.secret_name, source)
        .await?))
}
