//! `/registries`: the MCP server registries — listed, searched, added to, and the user's own
//! sources added, edited and removed. Refusals carry the Go proxy's stable `code` (and
//! `missing_inputs`) beside the usual envelope.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcpproxy_application::ManagementError;
use mcpproxy_application::management::{NewRegistry, RegistryEdit, RegistrySourceError};
use mcpproxy_application::ports::RegistryError;
use mcpproxy_application::registry::{
    AddFromRegistry, AddedFromRegistry, RegistryServiceError, RegistryView, SearchResult,
};
use mcpproxy_domain::registry::RegistrySource;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, Envelope, ErrorEnvelope, current_request_id, ok};
use super::{Caller, State};

/// A refusal with its stable code: `{"success": false, "error", "code", "missing_inputs"?,
/// "request_id"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodedError {
    pub success: bool,
    pub error: String,
    /// The same code the CLI and MCP surfaces give (`missing_required_input`,
    /// `invalid_registry_url`, `registry_not_found`, …); absent when the request itself
    /// could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_inputs: Vec<String>,
    pub request_id: String,
}

/// A refusal of the registry use cases.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    body: CodedError,
}

impl Refusal {
    fn new(status: StatusCode, code: &str, message: String, missing: Vec<String>) -> Self {
        Self {
            status,
            body: CodedError {
                success: false,
                error: message,
                code: Some(code.to_owned()),
                missing_inputs: missing,
                request_id: current_request_id().unwrap_or_default(),
            },
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn management_status(e: &ManagementError) -> StatusCode {
    ApiError::from(e.clone()).status
}

impl From<RegistryServiceError> for Refusal {
    fn from(e: RegistryServiceError) -> Self {
        let status = match &e {
            RegistryServiceError::UnknownRegistry(_)
            | RegistryServiceError::UnknownServer { .. } => StatusCode::NOT_FOUND,
            RegistryServiceError::Registry(RegistryError::Refused { .. })
            | RegistryServiceError::Derive(_) => StatusCode::BAD_REQUEST,
            RegistryServiceError::Registry(_) => StatusCode::BAD_GATEWAY,
            RegistryServiceError::Management(m) => management_status(m),
        };
        Self::new(status, e.code(), e.to_string(), e.missing_inputs())
    }
}

impl From<RegistrySourceError> for Refusal {
    fn from(e: RegistrySourceError) -> Self {
        let status = match &e {
            RegistrySourceError::Locked => StatusCode::FORBIDDEN,
            RegistrySourceError::InvalidUrl(_) | RegistrySourceError::BadProtocol(_) => {
                StatusCode::BAD_REQUEST
            }
            RegistrySourceError::ShadowsBuiltin(_) | RegistrySourceError::Duplicate(_) => {
                StatusCode::CONFLICT
            }
            RegistrySourceError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistrySourceError::Management(m) => management_status(m),
        };
        Self::new(status, e.code(), e.to_string(), Vec::new())
    }
}

type Answer<T> = Result<Json<Envelope<T>>, Refusal>;

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryList {
    pub registries: Vec<RegistryView>,
    pub total: usize,
}

/// Every registry: the built-in ones (official, reference, docker-mcp-catalog), then the
/// user's, each with its provenance.
#[utoipa::path(get, operation_id = "list_registries", path = "/registries", tag = "registries",
    responses((status = 200, description = "Done", body = Envelope<RegistryList>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State) -> Json<Envelope<RegistryList>> {
    let registries = state.0.registries.list();
    ok(RegistryList {
        total: registries.len(),
        registries,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSource {
    /// The registry's https URL (a trusted local one may be http with
    /// `allow_private_registry_fetch`).
    pub url: String,
    /// Derived from the host when absent.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// `modelcontextprotocol/registry` (default) or `custom/docker`.
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub servers_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceChanged {
    pub registry: RegistrySource,
}

/// Adds a registry source; it is tagged custom.
#[utoipa::path(post, operation_id = "add_registry", path = "/registries", tag = "registries", request_body = NewSource,
    responses((status = 200, description = "Done", body = Envelope<SourceChanged>), (status = 400, description = "invalid_registry_url", body = CodedError),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "registries_locked or a config gate", body = CodedError),
        (status = 409, description = "registry_shadows_builtin or duplicate_registry", body = CodedError)))]
pub async fn add_source(
    state: State,
    Caller(source): Caller,
    Json(body): Json<NewSource>,
) -> Answer<SourceChanged> {
    let new = NewRegistry {
        url: body.url,
        id: body.id,
        name: body.name,
        protocol: body.protocol,
        servers_url: body.servers_url,
    };
    let registry = state.0.management.add_registry(new, source).await?;
    Ok(ok(SourceChanged { registry }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SourceEdit {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub servers_url: Option<String>,
}

/// Changes a registry source the user added; omitted fields stay.
#[utoipa::path(put, operation_id = "edit_registry", path = "/registries/{id}", tag = "registries", request_body = SourceEdit,
    params(("id" = String, Path, description = "The registry id")),
    responses((status = 200, description = "Done", body = Envelope<SourceChanged>), (status = 400, description = "invalid_registry_url", body = CodedError),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "registries_locked or a config gate", body = CodedError),
        (status = 404, description = "registry_not_found", body = CodedError), (status = 409, description = "registry_shadows_builtin", body = CodedError)))]
pub async fn edit_source(
    state: State,
    Caller(source): Caller,
    Path(id): Path<String>,
    Json(body): Json<SourceEdit>,
) -> Answer<SourceChanged> {
    let edit = RegistryEdit {
        name: body.name,
        url: body.url,
        servers_url: body.servers_url,
    };
    let registry = state.0.management.edit_registry(&id, edit, source).await?;
    Ok(ok(SourceChanged { registry }))
}

/// Removes a registry source the user added; servers added from it stay.
#[utoipa::path(delete, operation_id = "remove_registry", path = "/registries/{id}", tag = "registries",
    params(("id" = String, Path, description = "The registry id")),
    responses((status = 200, description = "Done", body = Envelope<SourceChanged>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "registries_locked or a config gate", body = CodedError), (status = 404, description = "registry_not_found", body = CodedError),
        (status = 409, description = "registry_shadows_builtin", body = CodedError)))]
pub async fn remove_source(
    state: State,
    Caller(source): Caller,
    Path(id): Path<String>,
) -> Answer<SourceChanged> {
    let registry = state.0.management.remove_registry(&id, source).await?;
    Ok(ok(SourceChanged { registry }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Words of the name or description.
    pub search: Option<String>,
    /// Only servers with this tag (where the registry has tags).
    pub tag: Option<String>,
    /// How many (1–50, default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
}

/// Searches a registry's servers.
#[utoipa::path(get, operation_id = "search_registry", path = "/registries/{id}/servers", tag = "registries",
    params(("id" = String, Path, description = "The registry id or name"), SearchQuery),
    responses((status = 200, description = "Done", body = Envelope<SearchResult>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "registry_not_found", body = CodedError), (status = 502, description = "registry_unavailable: the registry did not answer", body = CodedError)))]
pub async fn search(
    state: State,
    Path(id): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Answer<SearchResult> {
    let found = state
        .0
        .registries
        .search(
            &id,
            q.search.as_deref().unwrap_or_default(),
            q.tag.as_deref().unwrap_or_default(),
            q.limit,
        )
        .await?;
    Ok(ok(found))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AddOverrides {
    /// A name instead of the derived one.
    #[serde(default)]
    pub name: Option<String>,
    /// Values of the entry's inputs: environment variables, headers, arguments.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Adds a registry's server as an upstream. The entry is derived from the registry's record
/// (the body carries only overrides, never a command or URL) and is quarantined unless
/// quarantine is off.
#[utoipa::path(post, operation_id = "add_from_registry", path = "/registries/{id}/servers/{server_id}/add", tag = "registries", request_body = AddOverrides,
    params(("id" = String, Path, description = "The registry id"), ("server_id" = String, Path, description = "The server's id in the registry, URL-encoded (io.github.x%2Fy)")),
    responses((status = 200, description = "Done", body = Envelope<AddedFromRegistry>),
        (status = 400, description = "missing_required_input (with missing_inputs), not_runnable or invalid_registry_url", body = CodedError),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = CodedError),
        (status = 404, description = "registry_not_found or server_not_found", body = CodedError), (status = 409, description = "duplicate_server", body = CodedError),
        (status = 502, description = "registry_unavailable", body = CodedError)))]
pub async fn add_server(
    state: State,
    Caller(source): Caller,
    Path((id, server_id)): Path<(String, String)>,
    body: Option<Json<AddOverrides>>,
) -> Answer<AddedFromRegistry> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let request = AddFromRegistry {
        name: body.name,
        inputs: body.env,
        enabled: body.enabled,
    };
    Ok(ok(state
        .0
        .registries
        .add(&id, &server_id, request, source)
        .await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Refreshed {
    pub registry_id: String,
    pub cleared: usize,
}

/// Forgets a registry's cached answers so the next search asks it again.
#[utoipa::path(post, operation_id = "refresh_registry", path = "/registries/{id}/refresh", tag = "registries",
    params(("id" = String, Path, description = "The registry id")),
    responses((status = 200, description = "Done", body = Envelope<Refreshed>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 404, description = "registry_not_found", body = CodedError)))]
pub async fn refresh(state: State, Path(id): Path<String>) -> Answer<Refreshed> {
    let cleared = state.0.registries.refresh(&id).await?;
    Ok(ok(Refreshed {
        registry_id: id,
        cleared,
    }))
}
