//! Isolation of stdio servers: Docker's status in the Go proxy's shape, and the whole report
//! (what this machine offers, how each server is isolated) for the doctor and the web UI.

use mcpproxy_application::{DockerStatus, IsolationReport};

use super::State;
use super::envelope::{ApiResult, ErrorEnvelope, ok};

/// Whether Docker answers and whether it is the default isolation.
#[utoipa::path(get, operation_id = "get_docker_status", path = "/docker/status", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<DockerStatus>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn docker_status(state: State) -> ApiResult<DockerStatus> {
    Ok(ok(state.0.isolation.docker_status().await))
}

/// Docker, bubblewrap and Landlock on this machine, and each stdio server's isolation with
/// whether it can be given now.
#[utoipa::path(get, operation_id = "get_isolation", path = "/isolation", tag = "system",
    responses((status = 200, description = "Done", body = super::envelope::Envelope<IsolationReport>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn report(state: State) -> ApiResult<IsolationReport> {
    Ok(ok(state.0.isolation.report().await))
}
