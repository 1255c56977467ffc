//! `/servers/import…`: servers imported from another AI client's config — an uploaded
//! file, posted content, or a file of this machine — and the well-known files found here.
//! `?preview=true` reports what would happen and changes nothing.

use axum::Json;
use axum::extract::{Multipart, Query};
use axum::http::StatusCode;
use mcpproxy_application::import::{ImportError, ImportReport, ImportRequest};
use mcpproxy_application::ports::{ClientError, ForeignConfigPath, ImportSource};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        let status = match &e {
            ClientError::UnknownClient(_) => StatusCode::NOT_FOUND,
            ClientError::AlreadyExists { .. } => StatusCode::CONFLICT,
            ClientError::Io { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ClientError::UnknownFormat(_)
            | ClientError::Malformed { .. }
            | ClientError::UnknownShape(_) => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.to_string())
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Client(c) => c.into(),
            ImportError::Management(m) => m.into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// Report what would be imported; change nothing.
    #[serde(default)]
    pub preview: bool,
    /// Add the servers trusted instead of quarantined.
    #[serde(default)]
    pub no_quarantine: bool,
}

/// What the JSON import routes take besides the file.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ImportOptions {
    /// claude-desktop, claude-code, cursor, codex or gemini; told from the file when absent.
    #[serde(default)]
    pub format: Option<String>,
    /// Only these servers (their names in the file).
    #[serde(default)]
    pub server_names: Vec<String>,
    /// Store the values that look like secrets in the OS keyring and import
    /// `${keyring:NAME}` references instead. Without a keyring the servers are imported
    /// unchanged and `keyring.error` says why.
    #[serde(default)]
    pub to_keyring: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContentImport {
    /// The file's text (JSON or TOML).
    pub content: String,
    #[serde(flatten)]
    pub options: ImportOptions,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PathImport {
    /// A file on the proxy's machine.
    pub path: String,
    #[serde(flatten)]
    pub options: ImportOptions,
}

async fn run(
    state: &State,
    source: mcpproxy_domain::Caller,
    from: ImportSource,
    options: ImportOptions,
    q: &ImportQuery,
) -> ApiResult<ImportReport> {
    let request = ImportRequest {
        source: from,
        format: options.format.filter(|f| !f.is_empty()),
        only: options.server_names,
        dry_run: q.preview,
        skip_quarantine: q.no_quarantine,
        to_keyring: options.to_keyring,
    };
    Ok(ok(state.0.imports.import(request, source).await?))
}

/// Imports servers from posted file content.
#[utoipa::path(post, operation_id = "import_servers_json", path = "/servers/import/json", tag = "import", request_body = ContentImport,
    params(ImportQuery),
    responses((status = 200, description = "Done: imported, skipped (duplicates) and failed servers", body = Envelope<ImportReport>),
        (status = 400, description = "Bad input: an unknown format, or content that does not parse (with its line)", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope)))]
pub async fn from_content(
    state: State,
    Caller(source): Caller,
    Query(q): Query<ImportQuery>,
    Json(body): Json<ContentImport>,
) -> ApiResult<ImportReport> {
    let from = ImportSource::Content {
        text: body.content,
        file_name: None,
    };
    run(&state, source, from, body.options, &q).await
}

/// Imports servers from a file on the proxy's machine.
#[utoipa::path(post, operation_id = "import_servers_path", path = "/servers/import/path", tag = "import", request_body = PathImport,
    params(ImportQuery),
    responses((status = 200, description = "Done: imported, skipped (duplicates) and failed servers", body = Envelope<ImportReport>),
        (status = 400, description = "Bad input: an unknown format, or a file that does not parse (with its line)", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope),
        (status = 422, description = "The file cannot be read", body = ErrorEnvelope)))]
pub async fn from_path(
    state: State,
    Caller(source): Caller,
    Query(q): Query<ImportQuery>,
    Json(body): Json<PathImport>,
) -> ApiResult<ImportReport> {
    let path = std::path::PathBuf::from(body.path);
    if !path.is_absolute() {
        return Err(ApiError::bad_request(
            "path must be absolute (the proxy's working directory is not yours)",
        ));
    }
    run(&state, source, ImportSource::Path(path), body.options, &q).await
}

/// The upload form: the config file as `file`, and optionally `format` and `to_keyring`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    format: Option<String>,
    /// `true`: store the values that look like secrets in the OS keyring.
    to_keyring: Option<bool>,
}

/// Imports servers from an uploaded config file (multipart form: `file`, `format`,
/// `to_keyring`).
#[utoipa::path(post, operation_id = "import_servers_upload", path = "/servers/import", tag = "import",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(ImportQuery),
    responses((status = 200, description = "Done: imported, skipped (duplicates) and failed servers", body = Envelope<ImportReport>),
        (status = 400, description = "Bad input: no file, an unknown format, or a file that does not parse (with its line)", body = ErrorEnvelope),
        (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 403, description = "Refused by a config gate", body = ErrorEnvelope)))]
pub async fn upload(
    state: State,
    Caller(source): Caller,
    Query(q): Query<ImportQuery>,
    mut form: Multipart,
) -> ApiResult<ImportReport> {
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::bad_request(e.body_text());
    let mut file = None;
    let mut options = ImportOptions::default();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().map(str::to_owned);
                let text = field.text().await.map_err(bad)?;
                file = Some((text, name));
            }
            Some("format") => options.format = Some(field.text().await.map_err(bad)?),
            Some("to_keyring") => {
                let text = field.text().await.map_err(bad)?;
                options.to_keyring = match text.trim() {
                    "true" | "1" | "on" => true,
                    "false" | "0" | "off" | "" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "to_keyring must be true or false, not {other:?}"
                        )));
                    }
                };
            }
            _ => {}
        }
    }
    let (text, file_name) = file.ok_or_else(|| {
        ApiError::bad_request("no file: send the config as the form field 'file'")
    })?;
    run(
        &state,
        source,
        ImportSource::Content { text, file_name },
        options,
        &q,
    )
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportPaths {
    pub os: String,
    pub paths: Vec<ForeignConfigPath>,
}

/// The well-known config files of AI clients on this machine, and whether each exists.
#[utoipa::path(get, operation_id = "import_paths", path = "/servers/import/paths", tag = "import",
    responses((status = 200, description = "Done", body = Envelope<ImportPaths>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn paths(state: State) -> Json<Envelope<ImportPaths>> {
    ok(ImportPaths {
        // The Go proxy names the OS as Go does.
        os: match std::env::consts::OS {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        },
        paths: state.0.imports.paths(),
    })
}
