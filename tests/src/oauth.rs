//! A protected MCP server with its own OAuth 2.1 authorization server, on one loopback port,
//! for the login tests: RFC 9728 resource metadata, RFC 8414 server metadata, dynamic
//! registration, an authorization endpoint that approves at once (302 back with a code),
//! and a token endpoint whose token lifetime and refresh behaviour a test sets. `/mcp`
//! answers 401 with a challenge unless the request carries a token it issued.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is the report

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

/// What the authorization server has done, and how it behaves.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Lifetime of the access tokens it issues, in seconds.
    pub expires_in: u64,
    /// Whether it honours refresh tokens (false: `invalid_grant`).
    pub refresh_ok: bool,
    pub authorizations: usize,
    pub refreshes: usize,
    /// Requests to `/mcp`, with or without a valid token.
    pub mcp_requests: usize,
    tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    codes: HashMap<String, String>,
    issued: usize,
}

/// The running server.
#[derive(Debug)]
pub struct AuthServer {
    pub base: String,
    pub ledger: Arc<Mutex<Ledger>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AuthServer {
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }
}

#[derive(Debug, Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("protected", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object", "properties": {"message": {"type": "string"}}});
        let tool = Tool::new(
            "echo",
            "Echoes back the message",
            schema.as_object().unwrap().clone(),
        );
        Ok(ListToolsResult::with_all_items(vec![tool]))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let message = params
            .arguments
            .and_then(|a| a.get("message").cloned())
            .unwrap_or(Value::Null);
        Ok(
            CallToolResult::success(vec![ContentBlock::text(format!("protected: {message}"))])
                .into(),
        )
    }
}

type Shared = (Arc<Mutex<Ledger>>, String);

fn issue(ledger: &mut Ledger) -> Value {
    ledger.issued += 1;
    let (access, refresh) = (
        format!("at-{}", ledger.issued),
        format!("rt-{}", ledger.issued),
    );
    ledger.tokens.insert(access.clone());
    ledger.refresh_tokens.insert(refresh.clone());
    json!({"access_token": access, "token_type": "Bearer", "expires_in": ledger.expires_in,
           "refresh_token": refresh, "scope": "mcp"})
}

async fn token(
    State((ledger, _)): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut ledger = ledger.lock().unwrap();
    let grant = form.get("grant_type").map(String::as_str);
    let refused = || {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response()
    };
    match grant {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            if ledger.codes.remove(&code).is_none() {
                return refused();
            }
            axum::Json(issue(&mut ledger)).into_response()
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            ledger.refreshes += 1;
            if !ledger.refresh_ok || !ledger.refresh_tokens.remove(&presented) {
                return refused();
            }
            axum::Json(issue(&mut ledger)).into_response()
        }
        _ => refused(),
    }
}

async fn authorize(
    State((ledger, _)): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut ledger = ledger.lock().unwrap();
    ledger.authorizations += 1;
    let code = format!("code-{}", ledger.authorizations);
    ledger.codes.insert(
        code.clone(),
        query.get("code_challenge").cloned().unwrap_or_default(),
    );
    let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
    let state = query.get("state").cloned().unwrap_or_default();
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn guard(State((ledger, base)): State<Shared>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let valid = {
        let mut ledger = ledger.lock().unwrap();
        ledger.mcp_requests += 1;
        presented.is_some_and(|t| ledger.tokens.contains(&t))
    };
    if valid {
        return next.run(request).await;
    }
    let challenge = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
    );
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_str(&challenge).unwrap(),
    );
    response
}

/// Starts the server on a free loopback port; tokens live `expires_in` seconds.
pub async fn start(expires_in: u64, refresh_ok: bool) -> AuthServer {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let ledger = Arc::new(Mutex::new(Ledger {
        expires_in,
        refresh_ok,
        ..Ledger::default()
    }));
    let shared: Shared = (ledger.clone(), base.clone());
    let mcp = StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let resource = json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]});
    let metadata = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"]
    });
    let app = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || async move { axum::Json(resource) }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/register",
            post(|axum::Json(body): axum::Json<Value>| async move {
                (
                    StatusCode::CREATED,
                    axum::Json(json!({
                        "client_id": "proxy-client",
                        "redirect_uris": body["redirect_uris"],
                        "token_endpoint_auth_method": "none",
                        "grant_types": ["authorization_code", "refresh_token"],
                        "response_types": ["code"]
                    })),
                )
            }),
        )
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(shared);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    AuthServer { base, ledger, task }
}

/// Does what the user's browser does with a login URL: opens it, and follows the
/// authorization server's redirect back to the proxy. Returns the proxy's page.
pub async fn browse(url: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(url).send().await.unwrap();
    let back = answer.headers()["location"].to_str().unwrap().to_owned();
    browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
