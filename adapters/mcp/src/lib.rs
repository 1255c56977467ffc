//! The MCP endpoint agents connect to, over streamable HTTP:
//!
//! - `/mcp/call`: the retrieve mode — `retrieve_tools`, `describe_tool`, the three
//!   `call_tool_*` variants, `read_cache`, and (unless management is off) `upstream_servers`
//!   and `quarantine_security`;
//! - `/mcp/all`: the direct mode — every callable upstream tool as `server__tool`, its
//!   definition passed on unchanged;
//! - `/mcp`: whichever of the two `routing_mode` names.
//!
//! Clients of every protocol era are served (initialize and sessions up to 2025-11-25, the
//! stateless 2026-07-28 revision) and all of them hear `notifications/tools/list_changed`.
//! `Host` and `Origin` are checked on loopback listeners against DNS rebinding.
#![forbid(unsafe_code)]

mod builtin;
mod handler;
mod manage;
mod notify;

use std::sync::Arc;

use mcpproxy_application::ports::{ConfigStore, ServerLogs};
use mcpproxy_application::{CallService, EventBus, ManagementService, ToolCatalog};
use mcpproxy_domain::DomainEvent;
use mcpproxy_domain::config::RoutingMode;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use builtin::DEFAULT_INSTRUCTIONS;
use handler::ProxyHandler;
use notify::Notifier;

/// Which tools an endpoint offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Retrieve,
    Direct,
}

/// The use cases the endpoint calls.
pub struct Services {
    pub config: Arc<dyn ConfigStore>,
    pub catalog: Arc<ToolCatalog>,
    pub calls: Arc<CallService>,
    pub management: Arc<ManagementService>,
    pub logs: Arc<dyn ServerLogs>,
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
    /// `trusted_hosts`; `*` turns the checks off.
    pub trusted_hosts: Vec<String>,
    /// Ends every session at shutdown.
    pub shutdown: CancellationToken,
}

fn http_config(access: &Access) -> StreamableHttpServerConfig {
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = access.shutdown.clone();
    if !access.loopback || access.trusted_hosts.iter().any(|h| h == "*") {
        return config.disable_allowed_hosts();
    }
    let hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(str::to_owned)
        .chain(access.trusted_hosts.iter().cloned())
        .collect();
    let origins: Vec<String> = hosts
        .iter()
        .flat_map(|h| {
            let h = if h.contains(':') && !h.starts_with('[') && h.matches(':').count() > 1 {
                format!("[{h}]")
            } else {
                h.clone()
            };
            [format!("http://{h}:*"), format!("https://{h}:*")]
        })
        .collect();
    config
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
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
    mode: impl Fn() -> Mode + Send + Sync + 'static,
) -> StreamableHttpService<ProxyHandler, LocalSessionManager> {
    let services = services.clone();
    let notifiers = notifiers.clone();
    // The factory runs once per session, so `/mcp` follows `routing_mode` as it is when a
    // client connects.
    StreamableHttpService::new(
        move || {
            let mode = mode();
            let notifier = match mode {
                Mode::Retrieve => notifiers.retrieve.clone(),
                Mode::Direct => notifiers.direct.clone(),
            };
            Ok(ProxyHandler {
                services: services.clone(),
                mode,
                notifier,
            })
        },
        Arc::new(LocalSessionManager::default()),
        http_config(access),
    )
}

/// The axum routes of the MCP endpoints, and a task that tells their clients when the tool
/// lists change (it ends with the event bus).
pub fn router(services: Arc<Services>, bus: &EventBus, access: Access) -> axum::Router {
    let notifiers = Notifiers::default();
    let routed = {
        let config = services.config.clone();
        move || match config.current().routing_mode() {
            RoutingMode::Direct => Mode::Direct,
            // code_execution is not built; its clients get the retrieve tools.
            RoutingMode::RetrieveTools | RoutingMode::CodeExecution => Mode::Retrieve,
        }
    };
    let router = axum::Router::new()
        .nest_service(
            "/mcp/call",
            endpoint(&services, &access, &notifiers, || Mode::Retrieve),
        )
        .nest_service(
            "/mcp/all",
            endpoint(&services, &access, &notifiers, || Mode::Direct),
        )
        .nest_service("/mcp", endpoint(&services, &access, &notifiers, routed));
    tokio::spawn(announce_changes(bus.subscribe(), notifiers));
    router
}

async fn announce_changes(
    mut events: tokio::sync::broadcast::Receiver<DomainEvent>,
    Notifiers { retrieve, direct }: Notifiers,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            // The callable tools changed.
            Ok(DomainEvent::ToolsIndexed { .. } | DomainEvent::ToolApprovalChanged { .. })
            | Err(RecvError::Lagged(_)) => direct.tools_changed().await,
            // Management tools come and go with read_only_mode / disable_management.
            Ok(DomainEvent::ConfigReloaded { .. }) => {
                retrieve.tools_changed().await;
                direct.tools_changed().await;
            }
            Ok(DomainEvent::ServerChanged { .. }) => direct.tools_changed().await,
            Ok(_) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
