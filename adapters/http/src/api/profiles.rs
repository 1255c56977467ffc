//! `/profiles`: the configured profiles, and the default profile of the UI surfaces (the Go
//! proxy's routes and shapes). A live MCP session's `set_profile` choice is its own.

use axum::Json;
use axum::http::StatusCode;
use mcpproxy_application::ProfileError;
use mcpproxy_application::profiles::ProfileSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let status = match &e {
            ProfileError::NoProfiles | ProfileError::Unknown { .. } => StatusCode::NOT_FOUND,
            ProfileError::Pinned { .. } | ProfileError::NoSession => StatusCode::FORBIDDEN,
        };
        Self::new(status, e.to_string())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileList {
    pub profiles: Vec<ProfileSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveProfile {
    /// `""`: no profile (all servers).
    pub active_profile: String,
}

/// The body of `PUT /profiles/active`: `profile` (or the Go proxy's alternative spelling
/// `active_profile`); `""` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SetActiveProfile {
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub active_profile: Option<String>,
}

/// Every profile: its servers (the configured ones it names) and how many tools an agent
/// under it is offered now.
#[utoipa::path(get, operation_id = "list_profiles", path = "/profiles", tag = "profiles",
    responses((status = 200, description = "Done", body = Envelope<ProfileList>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State, Caller(caller): Caller) -> ApiResult<ProfileList> {
    Ok(ok(ProfileList {
        profiles: state.0.profiles.list(&caller),
    }))
}

/// The default profile of the UI surfaces (`""`: all servers).
#[utoipa::path(get, operation_id = "get_active_profile", path = "/profiles/active", tag = "profiles",
    responses((status = 200, description = "Done", body = Envelope<ActiveProfile>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn active(state: State) -> ApiResult<ActiveProfile> {
    Ok(ok(ActiveProfile {
        active_profile: state.0.profiles.active(),
    }))
}

/// Sets the default profile of the UI surfaces (`""` clears it). It does not change a live
/// MCP session, which chooses with the `set_profile` tool.
#[utoipa::path(put, operation_id = "set_active_profile", path = "/profiles/active", tag = "profiles",
    request_body = SetActiveProfile,
    responses((status = 200, description = "Set", body = Envelope<ActiveProfile>),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Asked with an agent token", body = ErrorEnvelope),
        (status = 404, description = "No such profile; the error lists the profiles", body = ErrorEnvelope)))]
pub async fn set_active(
    state: State,
    Json(body): Json<SetActiveProfile>,
) -> ApiResult<ActiveProfile> {
    let slug = body.profile.or(body.active_profile).unwrap_or_default();
    Ok(ok(ActiveProfile {
        active_profile: state.0.profiles.set_active(&slug)?,
    }))
}
