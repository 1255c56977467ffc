//! The response envelope, request ids, and the one table that turns application errors into
//! HTTP statuses.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mcpproxy_application::activity::ActivityQueryError;
use mcpproxy_application::call::{CallError, ReadCacheError};
use mcpproxy_application::diagnostics::DiagnosticsError;
use mcpproxy_application::ports::UpstreamError;
use mcpproxy_application::search::RetrieveError;
use mcpproxy_application::{AuthRefusal, CatalogError, Gate, ManagementError};
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being answered, for error bodies.
    static REQUEST_ID: String;
}

/// A successful answer: `{"success": true, "data": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

/// A refused or failed request: `{"success": false, "error": "…", "request_id": "…"}`, with
/// the reason `code` when a rule or a config gate refused (`READ_ONLY_MODE`,
/// `TOOL_QUARANTINED`, …): the same code MCP and the command line show.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub success: bool,
    /// What was wrong and what to do.
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub request_id: String,
}

pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        success: true,
        data,
    })
}

/// An error with its HTTP status, and its reason code when it has one.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
        }
    }

    fn with_code(mut self, code: Option<&'static str>) -> Self {
        self.code = code;
        self
    }

    /// The 403 of a config gate.
    pub(crate) fn gate(gate: Gate) -> Self {
        Self::new(StatusCode::FORBIDDEN, gate.message()).with_code(Some(gate.code()))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

/// The id of the request being answered, inside [`request_id`].
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn error_body(status: StatusCode, message: String, code: Option<&str>) -> Response {
    let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    (
        status,
        Json(ErrorEnvelope {
            success: false,
            error: message,
            code: code.map(str::to_owned),
            request_id,
        }),
    )
        .into_response()
}

/// The 401 of the key check. Behind [`request_id`] it is the API's error envelope; elsewhere
/// (the MCP endpoints) the same body without a request id.
pub(crate) fn unauthorized() -> Response {
    let message = "Invalid or missing API key";
    if REQUEST_ID.try_with(|_| ()).is_ok() {
        return error_body(StatusCode::UNAUTHORIZED, message.to_owned(), None);
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"success": false, "error": message})),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        }
        error_body(self.status, self.message, self.code)
    }
}

impl From<ManagementError> for ApiError {
    fn from(e: ManagementError) -> Self {
        let status = match &e {
            ManagementError::NotFound(_) => StatusCode::NOT_FOUND,
            ManagementError::AlreadyExists(_) => StatusCode::CONFLICT,
            ManagementError::Invalid(_) => StatusCode::BAD_REQUEST,
            ManagementError::Forbidden(g) => return Self::gate(*g),
            ManagementError::Held { .. } => StatusCode::FORBIDDEN,
            ManagementError::Upstream(u) => return Self::from(u.clone()),
            ManagementError::Config(_) | ManagementError::Storage(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let status = match &e {
            UpstreamError::UnknownServer(_) => StatusCode::NOT_FOUND,
            UpstreamError::Disabled(_) => StatusCode::CONFLICT,
            UpstreamError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::AuthRequired { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::ConnectionLost { .. }
            | UpstreamError::Rejected { .. }
            | UpstreamError::Failed(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.to_string())
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let status = match &e {
            CatalogError::UnknownServer(_) | CatalogError::UnknownTool { .. } => {
                StatusCode::NOT_FOUND
            }
            CatalogError::Storage(_) | CatalogError::Index(_) => StatusCode::SERVICE_UNAVAILABLE,
            CatalogError::Forbidden(g) => return Self::gate(*g),
            CatalogError::ConfigDenied { .. } => {
                return Self::new(StatusCode::CONFLICT, e.to_string())
                    .with_code(Some("TOOL_CONFIG_DENIED"));
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<RetrieveError> for ApiError {
    fn from(e: RetrieveError) -> Self {
        match e {
            RetrieveError::Catalog(c) => c.into(),
            other => Self::bad_request(other.to_string()),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        let status = match &e {
            CallError::BadToolId(_)
            | CallError::MissingName
            | CallError::BadArgumentsJson(_)
            | CallError::ArgumentsNotObject(_)
            | CallError::Intent(_)
            | CallError::InvalidArguments { .. } => StatusCode::BAD_REQUEST,
            CallError::UnknownServer(_) | CallError::UnknownTool(_) => StatusCode::NOT_FOUND,
            CallError::ServerDisabled(_)
            | CallError::QuarantinedServer { .. }
            | CallError::ToolDisabled(_)
            | CallError::ToolSwitchedOff(_)
            | CallError::ToolQuarantined { .. }
            | CallError::OutOfScope { .. }
            | CallError::NotPermitted { .. } => StatusCode::FORBIDDEN,
            CallError::Upstream(u) => return Self::from(u.clone()).with_code(e.code()),
        };
        Self::new(status, e.to_string()).with_code(e.code())
    }
}

impl From<AuthRefusal> for ApiError {
    fn from(e: AuthRefusal) -> Self {
        let status = match &e {
            AuthRefusal::UnknownServer(_) => StatusCode::NOT_FOUND,
            AuthRefusal::Local(_) | AuthRefusal::Disabled(_) => StatusCode::CONFLICT,
            AuthRefusal::AwaitingReview(_) => StatusCode::FORBIDDEN,
            AuthRefusal::OAuth(_) => StatusCode::BAD_GATEWAY,
            AuthRefusal::Forbidden(g) => return Self::gate(*g),
        };
        Self::new(status, e.to_string())
    }
}

impl From<DiagnosticsError> for ApiError {
    fn from(e: DiagnosticsError) -> Self {
        let status = match &e {
            DiagnosticsError::UnknownCode(_) | DiagnosticsError::NeedsServer(_) => {
                StatusCode::BAD_REQUEST
            }
            DiagnosticsError::UnknownServer(_) => StatusCode::NOT_FOUND,
            DiagnosticsError::NotFixable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            DiagnosticsError::StillBroken { code, .. } => {
                return Self::new(StatusCode::CONFLICT, e.to_string()).with_code(Some(code));
            }
            DiagnosticsError::Forbidden(g) => return Self::gate(*g),
            DiagnosticsError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DiagnosticsError::Management(m) => return Self::from(m.clone()),
            DiagnosticsError::Auth(a) => return Self::from(a.clone()),
        };
        Self::new(status, e.to_string())
    }
}

impl From<ActivityQueryError> for ApiError {
    fn from(e: ActivityQueryError) -> Self {
        match e {
            ActivityQueryError::Storage(s) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, s.to_string())
            }
            other => Self::bad_request(other.to_string()),
        }
    }
}

impl From<ReadCacheError> for ApiError {
    fn from(e: ReadCacheError) -> Self {
        let status = match &e {
            ReadCacheError::NotFound(_) => StatusCode::NOT_FOUND,
            ReadCacheError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.to_string())
    }
}

pub type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// Gives every request an id (the client's `X-Request-Id` when it sends one), answers with
/// it, and puts every error — including axum's own rejections — into the error envelope.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned);
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        // A rejection from an extractor (bad JSON, bad query…) comes as plain text.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY
            || status == StatusCode::UNSUPPORTED_MEDIA_TYPE
        {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        let body = std::mem::replace(response.body_mut(), Body::empty());
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let message = if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            text
        };
        response = REQUEST_ID
            .scope(id.clone(), async { error_body(status, message, None) })
            .await;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
