//! `/connect`: AI clients pointed at the proxy (their config files edited, backed up first)
//! or no longer.

use axum::Json;
use axum::extract::{Path, Query};
use mcpproxy_application::ManagementError;
use mcpproxy_application::connect::ConnectError;
use mcpproxy_application::ports::{ClientChange, ClientStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            // A gate's refusal looks the same on every route.
            ConnectError::Forbidden(gate) => ManagementError::Forbidden(gate).into(),
            ConnectError::Client(c) => c.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientStatus>,
    pub total: usize,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct EntryQuery {
    /// The name of the proxy's entry in the client's config (default `mcpproxy`).
    pub server_name: Option<String>,
}

/// Every client mcpproxy can connect: its config file, whether it exists, and whether it
/// holds the proxy's entry (or why the file cannot be read).
#[utoipa::path(get, operation_id = "list_clients", path = "/connect", tag = "connect",
    params(EntryQuery),
    responses((status = 200, description = "Done", body = Envelope<ClientList>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State, Query(q): Query<EntryQuery>) -> Json<Envelope<ClientList>> {
    let clients = state.0.clients.list(q.server_name.as_deref()).await;
    ok(ClientList {
        total: clients.len(),
        clients,
    })
}

/// One client's status, its config file read now.
#[utoipa::path(get, operation_id = "client_status", path = "/connect/{client}", tag = "connect",
    params(("client" = String, Path, description = "claude-code, claude-desktop, cursor, windsurf, vscode, codex or gemini"), EntryQuery),
    responses((status = 200, description = "Done", body = Envelope<ClientStatus>), (status = 400, description = "The config file does not parse (with its line)", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "Unknown client", body = ErrorEnvelope),
        (status = 422, description = "The file cannot be read", body = ErrorEnvelope)))]
pub async fn status(
    state: State,
    Path(client): Path<String>,
    Query(q): Query<EntryQuery>,
) -> ApiResult<ClientStatus> {
    Ok(ok(state
        .0
        .clients
        .status(&client, q.server_name.as_deref())
        .await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ConnectBody {
    /// The entry's name (default `mcpproxy`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Replace an entry of that name that points elsewhere.
    #[serde(default)]
    pub force: bool,
}

/// Writes the proxy's entry into the client's config (a backup of the file first).
#[utoipa::path(post, operation_id = "connect_client", path = "/connect/{client}", tag = "connect", request_body = ConnectBody,
    params(("client" = String, Path, description = "claude-code, claude-desktop, cursor, windsurf, vscode, codex or gemini")),
    responses((status = 200, description = "Done", body = Envelope<ClientChange>), (status = 400, description = "The config file does not parse (with its line); nothing was written", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate (read_only_mode, disable_management, an agent token)", body = ErrorEnvelope),
        (status = 404, description = "Unknown client", body = ErrorEnvelope), (status = 409, description = "An entry of that name points elsewhere; send force", body = ErrorEnvelope), (status = 422, description = "The file cannot be read or written", body = ErrorEnvelope)))]
pub async fn connect(
    state: State,
    Caller(source): Caller,
    Path(client): Path<String>,
    body: Option<Json<ConnectBody>>,
) -> ApiResult<ClientChange> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    Ok(ok(state
        .0
        .clients
        .connect(&client, body.server_name.as_deref(), body.force, source)
        .await?))
}

/// Removes the proxy's entry from the client's config (a backup of the file first).
#[utoipa::path(delete, operation_id = "disconnect_client", path = "/connect/{client}", tag = "connect",
    params(("client" = String, Path, description = "claude-code, claude-desktop, cursor, windsurf, vscode, codex or gemini"), EntryQuery),
    responses((status = 200, description = "Done", body = Envelope<ClientChange>), (status = 400, description = "The config file does not parse (with its line); nothing was written", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate (read_only_mode, disable_management, an agent token)", body = ErrorEnvelope),
        (status = 404, description = "Unknown client", body = ErrorEnvelope), (status = 422, description = "The file cannot be read or written", body = ErrorEnvelope)))]
pub async fn disconnect(
    state: State,
    Caller(source): Caller,
    Path(client): Path<String>,
    Query(q): Query<EntryQuery>,
) -> ApiResult<ClientChange> {
    Ok(ok(state
        .0
        .clients
        .disconnect(&client, q.server_name.as_deref(), source)
        .await?))
}
