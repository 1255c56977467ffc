//! The MCP endpoint agents connect to, over streamable HTTP:
//!
//! - `/mcp/call`: the retrieve mode — `retrieve_tools`, `describe_tool`, the three
//!   `call_tool_*` variants, `read_cache`, and (unless management is off) `upstream_servers`
//!   and `quarantine_security`;
//! - `/mcp/all`: the direct mode — every callable upstream tool as `server__tool`, its
//!   definition passed on unchanged;
//! - `/mcp/code`: code execution — `code_execution` (a JavaScript snippet that calls several
//!   tools), with `retrieve_tools` and `describe_tool` ([`code`]);
//! - `/mcp`: whichever of the three `routing_mode` names;
//! - `/mcp/server/<name>`: one upstream as it is ([`server`]);
//! - `/mcp/p/<slug>`: the retrieve mode under a profile (`profiles` in the config): only
//!   the profile's servers are listed, found and callable ([`profile`]).
//!
//! Everything of the protocol is relayed: prompts (the proxy's own, and with
//! `aggregate_upstream_prompts` the servers' approved ones as `server__prompt`), resources (routed by URI), completion, logging, and during a call the
//! server's sampling, elicitation and roots requests, progress and log lines ([`relay`]).
//!
//! Clients of every protocol era are served (initialize and sessions up to 2025-11-25, the
//! stateless 2026-07-28 revision) and all of them hear `notifications/tools/list_changed`.
//! `Host` and `Origin` are checked on loopback listeners against DNS rebinding.
#![forbid(unsafe_code)]

mod builtin;
mod code;
mod discover;
mod fast;
mod guard;
mod handler;
mod hosts;
mod manage;
mod notify;
mod profile;
mod relay;
mod server;
mod sessions;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use mcpproxy_application::ports::{ConfigStore, ServerLogs, UpstreamNotice};
use mcpproxy_application::{
    CallService, CodeService, EventBus, ManagementService, ProfileService, PromptService,
    ProtocolRelay, RegistryService, ToolCatalog,
};
use mcpproxy_domain::config::RoutingMode;
use mcpproxy_domain::{Caller, DomainEvent};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use builtin::DEFAULT_INSTRUCTIONS;
use handler::ProxyHandler;
use notify::{Change, Notifier};
use server::{ServerEndpoint, ServerState};
use sessions::BookedSessions;
use sessions::SessionBook;

/// The agent whose token a request presented (the key check put it there), if any.
pub(crate) fn agent_of(
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Option<&mcpproxy_application::tokens::Authenticated> {
    context
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<mcpproxy_application::tokens::Authenticated>()
}

/// Which tools an endpoint offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Retrieve,
    Direct,
    Code,
}

/// The use cases the endpoint calls.
pub struct Services {
    pub config: Arc<dyn ConfigStore>,
    pub catalog: Arc<ToolCatalog>,
    pub calls: Arc<CallService>,
    pub code: Arc<CodeService>,
    pub management: Arc<ManagementService>,
    pub logs: Arc<dyn ServerLogs>,
    pub relay: Arc<ProtocolRelay>,
    pub prompts: Arc<PromptService>,
    pub registries: Arc<RegistryService>,
    pub profiles: Arc<ProfileService>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// Who may call, as `Host` and `Origin` see it.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The listener is on a loopback address: only loopback hosts (and `trusted_hosts`)
    /// may reach it, so a web page cannot rebind a public name to it.
    pub loopback: bool,
    /// Ends every session at shutdown.
    pub shutdown: CancellationToken,
}

pub(crate) fn http_config(access: &Access) -> StreamableHttpServerConfig {
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = access.shutdown.clone();
    // `Host` and `Origin` are checked in front of every endpoint by [`hosts::check`], which
    // reads `trusted_hosts` per request (rmcp's own check is fixed when the service is made).
    config.disable_allowed_hosts()
}

/// The notifiers of the two modes: a client hears the changes of the mode it was given.
#[derive(Debug, Clone, Default)]
struct Notifiers {
    retrieve: Arc<Notifier>,
    direct: Arc<Notifier>,
}

fn endpoint(
    services: &Arc<Services>,
    access: &Access,
    notifiers: &Notifiers,
    book: &Arc<SessionBook>,
    mode: impl Fn() -> Mode + Send + Sync + 'static,
) -> StreamableHttpService<ProxyHandler, BookedSessions> {
    let services = services.clone();
    let notifiers = notifiers.clone();
    let sessions = book.clone();
    // The factory runs once per session, so `/mcp` follows `routing_mode` as it is when a
    // client connects.
    StreamableHttpService::new(
        move || {
            let mode = mode();
            let notifier = match mode {
                // The code endpoint's tools change when the retrieve endpoint's do.
                Mode::Retrieve | Mode::Code => notifiers.retrieve.clone(),
                Mode::Direct => notifiers.direct.clone(),
            };
            Ok(ProxyHandler {
                services: services.clone(),
                mode,
                notifier,
                // An unlimited agent; a request with an agent token is that token's agent.
                caller: Caller::agent(),
                identity: None,
                profile: None,
                book: sessions.clone(),
            })
        },
        Arc::new(BookedSessions::new(book.clone())),
        http_config(access),
    )
}

/// The per-server endpoints, made on first use.
struct ServerEndpoints {
    services: Arc<Services>,
    access: Access,
    book: Arc<SessionBook>,
    made: std::sync::Mutex<HashMap<String, ServerService>>,
}

type ServerService = (
    Arc<ServerState>,
    StreamableHttpService<ServerEndpoint, BookedSessions>,
);

impl ServerEndpoints {
    fn get(&self, name: &str) -> ServerService {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.entry(name.to_owned())
            .or_insert_with(|| {
                let state = Arc::new(ServerState::default());
                let handler = ServerEndpoint {
                    services: self.services.clone(),
                    server: name.to_owned(),
                    state: state.clone(),
                    caller: Caller::agent(),
                    identity: None,
                    book: self.book.clone(),
                };
                let service = StreamableHttpService::new(
                    move || Ok(handler.clone()),
                    Arc::new(BookedSessions::new(self.book.clone())),
                    http_config(&self.access),
                );
                (state, service)
            })
            .clone()
    }

    /// The state of a server's endpoint, if a client ever used it.
    fn state(&self, name: &str) -> Option<Arc<ServerState>> {
        let made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.get(name).map(|(state, _)| state.clone())
    }
}

async fn serve_server(
    axum::extract::State(endpoints): axum::extract::State<Arc<ServerEndpoints>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let known = endpoints.services.catalog.view().server(&name).is_some();
    if !known {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": -32600, "message": format!(
                "no server named {name:?}; /mcp/server/<name> serves the servers in mcpServers"
            )},
        });
        return (http::StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let (_, service) = endpoints.get(&name);
    match service.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// The axum routes of the MCP endpoints, and a task that tells their clients when the tool
/// lists change (it ends with the event bus).
pub fn router(services: Arc<Services>, bus: &EventBus, access: Access) -> axum::Router {
    let notifiers = Notifiers::default();
    let routed = {
        let catalog = services.catalog.clone();
        move || match catalog.view().settings().routing {
            RoutingMode::Direct => Mode::Direct,
            RoutingMode::CodeExecution => Mode::Code,
            RoutingMode::RetrieveTools => Mode::Retrieve,
        }
    };
    let book = Arc::new(SessionBook::new(
        services.config.clone(),
        services.profiles.clone(),
    ));
    let servers = Arc::new(ServerEndpoints {
        services: services.clone(),
        access: access.clone(),
        book: book.clone(),
        made: std::sync::Mutex::new(HashMap::new()),
    });
    let profiles = Arc::new(profile::ProfileEndpoints::new(
        services.clone(),
        access.clone(),
        notifiers.retrieve.clone(),
        book.clone(),
    ));
    let router = axum::Router::new()
        .route(
            "/mcp/server/{name}",
            axum::routing::any(serve_server).with_state(servers.clone()),
        )
        .route(
            "/mcp/p/{slug}",
            axum::routing::any(profile::serve).with_state(profiles),
        )
        .nest_service(
            "/mcp/call",
            endpoint(&services, &access, &notifiers, &book, || Mode::Retrieve),
        )
        .nest_service(
            "/mcp/all",
            endpoint(&services, &access, &notifiers, &book, || Mode::Direct),
        )
        .nest_service(
            "/mcp/code",
            endpoint(&services, &access, &notifiers, &book, || Mode::Code),
        )
        .nest_service(
            "/mcp",
            endpoint(&services, &access, &notifiers, &book, routed),
        )
        .layer(axum::middleware::from_fn_with_state(book, guard::guard))
        .layer(axum::middleware::from_fn_with_state(
            hosts::HostCheck {
                loopback: access.loopback,
                config: services.config.clone(),
            },
            hosts::check,
        ));
    tokio::spawn(announce_changes(
        bus.subscribe(),
        notifiers.clone(),
        servers.clone(),
    ));
    tokio::spawn(relay_notices(services.relay.notices(), notifiers, servers));
    router
}

async fn announce_changes(
    mut events: tokio::sync::broadcast::Receiver<DomainEvent>,
    Notifiers { retrieve, direct }: Notifiers,
    servers: Arc<ServerEndpoints>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = events.recv().await;
        // A server's own endpoint lists its approved tools.
        if let Ok(
            DomainEvent::ToolsIndexed { server, .. }
            | DomainEvent::ToolApprovalChanged { server, .. }
            | DomainEvent::ServerChanged { server, .. },
        ) = &event
            && let Some(state) = servers.state(server.as_str())
        {
            state.notifier.tools_changed().await;
        }
        // A prompt was held or approved: the prompt lists changed.
        if let Ok(DomainEvent::PromptApprovalChanged { server, .. }) = &event {
            if let Some(state) = servers.state(server.as_str()) {
                state.notifier.announce(Change::Prompts).await;
            }
            retrieve.announce(Change::Prompts).await;
            direct.announce(Change::Prompts).await;
        }
        match event {
            // The callable tools changed.
            Ok(DomainEvent::ToolsIndexed { .. } | DomainEvent::ToolApprovalChanged { .. })
            | Err(RecvError::Lagged(_)) => direct.tools_changed().await,
            // Management tools come and go with read_only_mode / disable_management.
            // Prompts come and go with enable_prompts / aggregate_upstream_prompts.
            Ok(DomainEvent::ConfigReloaded { .. }) => {
                retrieve.tools_changed().await;
                direct.tools_changed().await;
                retrieve.announce(Change::Prompts).await;
                direct.announce(Change::Prompts).await;
            }
            Ok(DomainEvent::ServerChanged { .. }) => direct.tools_changed().await,
            Ok(_) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// Passes on what the upstreams say outside calls: list changes to the clients of their
/// own endpoints and of the aggregated ones, resource updates to the subscribers.
async fn relay_notices(
    mut notices: tokio::sync::broadcast::Receiver<UpstreamNotice>,
    notifiers: Notifiers,
    servers: Arc<ServerEndpoints>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let notice = match notices.recv().await {
            Ok(n) => n,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let state = servers.state(notice.server.as_str());
        let change = match notice.method.as_str() {
            "notifications/prompts/list_changed" => Some(Change::Prompts),
            "notifications/resources/list_changed" => Some(Change::Resources),
            "notifications/resources/updated" => {
                if let (Some(state), Some(uri)) = (&state, notice.params["uri"].as_str()) {
                    state.resource_updated(uri).await;
                }
                None
            }
            _ => None,
        };
        if let Some(change) = change {
            if let Some(state) = &state {
                state.notifier.announce(change).await;
            }
            notifiers.retrieve.announce(change).await;
            notifiers.direct.announce(change).await;
        }
    }
}
