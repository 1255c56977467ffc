//! `/api/v1`: the REST API people, scripts, the web UI, the tray and the CLI manage the proxy
//! with. Handlers parse, call the application's use cases and render; the envelope and the
//! error table are in [`envelope`].

pub mod activity;
pub mod activity_summary;
pub mod auth;
pub mod code;
pub mod connect;
pub mod diagnostics;
pub mod envelope;
pub mod import;
pub mod isolation;
pub mod profiles;
pub mod prompts;
pub mod registries;
pub mod secrets;
pub mod servers;
pub mod system;
pub mod tokens;
pub mod tool_calls;
pub mod tool_switches;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use mcpproxy_application::ports::{ConfigStore, ServerLogs};
use mcpproxy_application::{
    ActivityLog, AuthService, CallService, ClientService, CodeService, EventBus, ImportService,
    IsolationService, ManagementService, PromptService, RegistryService, SecretsService,
    TokenService, ToolCallHistory, ToolCatalog,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the proxy can be reached, for `/info`.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `https` when `tls.enabled`, else `http`.
    pub scheme: &'static str,
    pub listen_addr: String,
    pub socket: Option<PathBuf>,
}

/// This process among the replicas that share one database.
#[derive(Debug, Clone)]
pub struct Replica {
    /// `MCPPROXY_REPLICA_ID`, else `host:port`.
    pub id: String,
    /// The database holding the state: `sqlite` or `postgres`.
    pub storage: &'static str,
}

/// What the handlers use.
pub struct Api {
    pub config: Arc<dyn ConfigStore>,
    pub management: Arc<ManagementService>,
    pub catalog: Arc<ToolCatalog>,
    pub calls: Arc<CallService>,
    /// Code execution (`POST /code/exec`).
    pub code: Arc<CodeService>,
    pub activity: Arc<ActivityLog>,
    /// The tool-call history and replay (`/tool-calls`).
    pub history: Arc<ToolCallHistory>,
    pub auth: Arc<AuthService>,
    pub isolation: Arc<IsolationService>,
    pub diagnostics: Arc<mcpproxy_application::diagnostics::DiagnosticsService>,
    pub secrets: Arc<SecretsService>,
    pub tokens: Arc<TokenService>,
    pub profiles: Arc<mcpproxy_application::ProfileService>,
    pub logs: Arc<dyn ServerLogs>,
    pub registries: Arc<RegistryService>,
    pub imports: Arc<ImportService>,
    pub clients: Arc<ClientService>,
    pub prompts: Arc<PromptService>,
    pub bus: EventBus,
    pub endpoints: Endpoints,
    pub replica: Replica,
    /// This API answers on the unix socket: its callers are the user at this machine.
    pub on_socket: bool,
    pub started: Instant,
    /// Cancelled when the proxy stops; ends the `/events` streams.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

pub type State = axum::extract::State<Arc<Api>>;

/// Who sends a request: an agent under its token's grant when it presented one, a person on
/// the unix socket, else a holder of the API key; for the activity log, `cli` when the
/// request says `X-MCPProxy-Source: cli` (the mcpproxy command line does), else `api`.
#[derive(Debug, Clone)]
pub struct Caller(pub mcpproxy_domain::Caller);

impl axum::extract::FromRequestParts<Arc<Api>> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        api: &Arc<Api>,
    ) -> Result<Self, Self::Rejection> {
        use mcpproxy_domain::CallerKind;
        use mcpproxy_domain::activity::Source;
        let cli = parts
            .headers
            .get("x-mcpproxy-source")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cli"));
        let source = if cli { Source::Cli } else { Source::Api };
        if let Some(agent) = parts
            .extensions
            .get::<mcpproxy_application::tokens::Authenticated>()
        {
            return Ok(Self(agent.caller(Source::Api)));
        }
        let kind = if api.on_socket {
            CallerKind::Person
        } else {
            CallerKind::KeyHolder
        };
        Ok(Self(mcpproxy_domain::Caller::new(kind, source)))
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcpproxy REST API",
        description = "Manage mcpproxy: its upstream MCP servers, their tools and approvals, its configuration and its activity log. Over TCP every route needs the API key (X-API-Key header, Authorization: Bearer, or ?apikey=); over the unix socket none is needed.",
        license(name = "MIT")
    ),
    servers((url = "/api/v1")),
    security(("api_key" = []), ("bearer" = [])),
    modifiers(&Security),
    tags(
        (name = "system", description = "Status, information, configuration"),
        (name = "servers", description = "Upstream MCP servers"),
        (name = "tools", description = "Tools, search and calls"),
        (name = "activity", description = "The activity log"),
        (name = "secrets", description = "Secrets in the OS keyring (names and masks, never values)"),
        (name = "profiles", description = "Profiles: named subsets of the servers, served at /mcp/p/<name>"),
        (name = "tokens", description = "Agent tokens: scoped credentials for AI agents (the secret is shown once)"),
        (name = "registries", description = "MCP server registries: search them, add their servers"),
        (name = "import", description = "Servers imported from other AI clients' configs"),
        (name = "connect", description = "AI clients pointed at the proxy"),
    )
)]
struct ApiDoc;

/// The routes of `/api/v1` (relative to it) and their OpenAPI document.
pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::status))
        .routes(routes!(system::info))
        .routes(routes!(system::get_config))
        .routes(routes!(system::validate_config))
        .routes(routes!(system::apply_config))
        .routes(routes!(system::reset_key))
        .routes(routes!(isolation::docker_status))
        .routes(routes!(isolation::report))
        .routes(routes!(diagnostics::report))
        .routes(routes!(diagnostics::doctor))
        .routes(routes!(diagnostics::fix))
        .routes(routes!(diagnostics::server))
        .routes(routes!(servers::list, servers::add))
        .routes(routes!(servers::patch, servers::remove, servers::bulk))
        .routes(routes!(servers::action))
        .routes(routes!(servers::tools))
        .routes(routes!(servers::approve))
        .routes(routes!(tool_switches::set_enabled))
        .routes(routes!(tool_switches::enable_all))
        .routes(routes!(tool_switches::disable_all))
        .routes(routes!(tool_switches::block))
        .routes(routes!(tool_switches::diff))
        .routes(routes!(tool_switches::export))
        .routes(routes!(servers::logs))
        .routes(routes!(secrets::config_to_secret))
        .routes(routes!(secrets::list, secrets::set))
        .routes(routes!(secrets::get, secrets::delete))
        .routes(routes!(secrets::migrate))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::show, tokens::revoke))
        .routes(routes!(tokens::delete))
        .routes(routes!(tokens::regenerate))
        .routes(routes!(profiles::list))
        .routes(routes!(profiles::active, profiles::set_active))
        .routes(routes!(prompts::list))
        .routes(routes!(prompts::approve))
        .routes(routes!(import::upload))
        .routes(routes!(import::from_content))
        .routes(routes!(import::from_path))
        .routes(routes!(import::paths))
        .routes(routes!(registries::list, registries::add_source))
        .routes(routes!(registries::edit_source, registries::remove_source))
        .routes(routes!(registries::search))
        .routes(routes!(registries::add_server))
        .routes(routes!(registries::refresh))
        .routes(routes!(connect::list))
        .routes(routes!(
            connect::status,
            connect::connect,
            connect::disconnect
        ))
        .routes(routes!(auth::status))
        .routes(routes!(tools::list))
        .routes(routes!(tools::token_stats))
        .routes(routes!(tools::search))
        .routes(routes!(tools::call))
        .routes(routes!(code::exec))
        .routes(routes!(activity::list))
        .routes(routes!(activity::export))
        .routes(routes!(activity_summary::summary))
        .routes(routes!(activity_summary::usage))
        .routes(routes!(activity::get))
        .routes(routes!(tool_calls::list))
        .routes(routes!(tool_calls::get))
        .routes(routes!(tool_calls::replay))
        .routes(routes!(tool_calls::for_server))
}

/// The OpenAPI document of the REST API, as JSON.
pub fn openapi_json() -> String {
    let (_, doc) = routes().split_for_parts();
    doc.to_pretty_json().unwrap_or_default()
}
