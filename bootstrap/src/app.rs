//! The composition root: every adapter built and plugged into the application's ports, in
//! the order they depend on each other.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::ports::{
    ActivityRepository, ApprovalRepository, CacheRepository, Clock, ConfigStore, OAuthProvider,
    PromptApprovalRepository, ScriptRunner, ServerLogs, ServerRepository, SystemClock, TokenStore,
    ToolIndex, UpstreamPool,
};
use mcpproxy_application::semantic::{Fusion, HybridIndex};
use mcpproxy_application::{
    ActivityLog, AuthService, CallService, ClientService, CodeService, EventBus, ImportService,
    IsolationService, ManagementService, ProfileService, PromptService, ProtocolRelay,
    RegistryService, SecretsService, SensitiveScanner, TokenService, ToolCallHistory, ToolCatalog,
    UpstreamTracker, launch,
};
use mcpproxy_config::FileConfigStore;
use mcpproxy_domain::{Config, DomainEvent, ServerName};
use mcpproxy_http::{
    Api, Check, Endpoints, KeyPolicy, Readiness, Replica, SameUserListener, TokenRoutes,
    docs_routes, health_routes, management_routes, oauth_routes, require_key,
};
use mcpproxy_logs::{Rotation, ServerLogFiles};
use mcpproxy_oauth::{OAuth, headless_from_env};
use mcpproxy_script::QuickJsRunner;
use mcpproxy_search::TantivyIndex;
use mcpproxy_secrets::{Keyring, TokenKeyFile};
use mcpproxy_storage::Store;
use mcpproxy_upstream::{Connector, Isolator, OAuthTokens, Pool, Reaper};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::exit::{Exit, Failure};

/// Everything a running proxy is made of.
pub struct App {
    pub store: Arc<FileConfigStore>,
    pub db: Arc<dyn Store>,
    /// This process among the replicas sharing the database.
    pub replica: String,
    pub bus: EventBus,
    pub activity: Arc<ActivityLog>,
    pub index: TantivyIndex,
    pub catalog: Arc<ToolCatalog>,
    pub pool: Arc<Pool>,
    pub management: Arc<ManagementService>,
    pub calls: Arc<CallService>,
    pub code: Arc<CodeService>,
    pub logs: Arc<ServerLogFiles>,
    pub auth: Arc<AuthService>,
    pub secrets: Arc<SecretsService>,
    pub tokens: Arc<TokenService>,
    pub profiles: Arc<ProfileService>,
    pub relay: Arc<ProtocolRelay>,
    pub discovery: Discovery,
    pub prompts: Arc<PromptService>,
    pub isolation: Arc<IsolationService>,
    pub diagnostics: Arc<mcpproxy_application::diagnostics::DiagnosticsService>,
    /// The TCP listener speaks HTTPS (`tls.enabled`): the addresses it gives say so.
    pub https: bool,
    follower: JoinHandle<()>,
    /// Background work: the activity writer and its retention, the token refresher, the
    /// logins servers ask for.
    background: Vec<JoinHandle<()>>,
    sessions: CancellationToken,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// The use cases of finding and wiring servers and clients: registries, import, connect,
/// prompts.
#[derive(Clone)]
pub struct Discovery {
    pub registries: Arc<RegistryService>,
    pub imports: Arc<ImportService>,
    pub clients: Arc<ClientService>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

impl Discovery {
    /// The services over `store` and `management`, with the registries read over HTTP and
    /// this user's client config files.
    pub fn new(
        store: Arc<dyn ConfigStore>,
        management: Arc<ManagementService>,
        activity: Arc<ActivityLog>,
        secrets: Arc<dyn mcpproxy_application::ports::SecretStore>,
    ) -> Self {
        let registries = Arc::new(RegistryService::new(
            store.clone(),
            Arc::new(mcpproxy_registry::HttpRegistries::from_env()),
            management.clone(),
            Arc::new(SystemClock),
            Arc::new(|var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty())),
        ));
        let client_files = Arc::new(mcpproxy_clients::ClientFiles::from_env());
        Self {
            registries,
            imports: Arc::new(ImportService::new(
                store.clone(),
                client_files.clone(),
                management.clone(),
                secrets,
            )),
            clients: Arc::new(ClientService::new(store, client_files, activity)),
        }
    }
}

/// Starts the watchdog that stops upstream servers if this process dies. Without it the
/// proxy still works; only a crash could then leave servers behind, so that is logged.
fn start_reaper() -> Option<Reaper> {
    let exe = std::env::current_exe()
        .map_err(|e| tracing::warn!("cannot find the mcpproxy executable for the reaper: {e}"))
        .ok()?;
    Reaper::spawn(&exe, &["__reaper"])
        .map_err(|e| tracing::warn!("cannot start the process reaper: {e}"))
        .ok()
}

/// Docker and sandbox wrapping for stdio servers, with this program as the Landlock helper.
/// Without it an isolated server is refused (never run unprotected), so failing to set it
/// up stops the start.
pub fn isolator(data_dir: &Path) -> Result<Arc<Isolator>, Failure> {
    let exe = std::env::current_exe().map_err(|e| {
        Failure::new(
            Exit::General,
            format!("cannot find the mcpproxy executable for sandboxing: {e}"),
        )
    })?;
    Isolator::new(data_dir, exe).map(Arc::new).map_err(|e| {
        Failure::new(
            Exit::General,
            format!("cannot set up isolation in {}: {e}", data_dir.display()),
        )
    })
}

/// The OAuth adapter as the upstream transport asks for it.
struct OAuthBridge(Arc<OAuth>);

#[async_trait]
impl OAuthTokens for OAuthBridge {
    async fn client(
        &self,
        server: &ServerName,
        url: &str,
    ) -> Option<rmcp::transport::auth::AuthClient<reqwest::Client>> {
        self.0.client(server, url).await
    }
}

/// Starts the login a server asks for (unless someone logged it out), and turns a server
/// whose token could not be refreshed to "login required".
async fn follow_auth(
    mut events: broadcast::Receiver<DomainEvent>,
    auth: Arc<AuthService>,
    pool: Arc<Pool>,
) {
    loop {
        match events.recv().await {
            Ok(DomainEvent::AuthRequired { server, challenge }) => {
                auth.login_when_asked(&server, challenge).await;
            }
            Ok(DomainEvent::RefreshFailed { server, .. }) => {
                // Reconnecting without a token ends in PendingAuth, which asks for a login.
                if let Err(e) = pool.restart(&server).await {
                    tracing::warn!(%server, "cannot reconnect after the failed refresh: {e}");
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The servers the pool keeps running, those with tools in the catalog first (they start
/// first when many start at once).
fn start_plan(store: &FileConfigStore, catalog: &ToolCatalog) -> Config {
    let view = catalog.view();
    launch::start_order(launch::runnable(&store.current()), |name| {
        view.has_tools(name)
    })
}

/// Keeps the upstream connections and the tool catalog in line with the config.
async fn follow_config(
    mut events: broadcast::Receiver<DomainEvent>,
    store: Arc<FileConfigStore>,
    pool: Arc<Pool>,
    catalog: Arc<ToolCatalog>,
) {
    loop {
        match events.recv().await {
            Ok(DomainEvent::ServerChanged { .. } | DomainEvent::ConfigReloaded { .. })
            | Err(broadcast::error::RecvError::Lagged(_)) => {
                pool.reconcile(&start_plan(&store, &catalog)).await;
                if let Err(e) = catalog.config_changed().await {
                    tracing::error!("could not update the tool catalog: {e}");
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The index tool search asks: the lexical one, or with `search.embedding_model` set, the
/// lexical one fused with that local sentence model (loaded once, here; a model that does not
/// load stops the start with the reason).
async fn search_index(index: &TantivyIndex, model: &str) -> Result<Arc<dyn ToolIndex>, Failure> {
    if model.trim().is_empty() {
        return Ok(Arc::new(index.clone()));
    }
    let dir = std::path::PathBuf::from(model.trim());
    let embedder = tokio::task::spawn_blocking(move || mcpproxy_embed::open(&dir))
        .await
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?
        .map_err(|e| {
            Failure::new(
                Exit::Config,
                match e {
                    mcpproxy_embed::LoadError::NotBuilt => format!("search.embedding_model: {e}"),
                    _ => format!(
                        "search.embedding_model: {e}; point it at a sentence-transformers model \
                         folder (config.json, model.safetensors, tokenizer.json) or remove it"
                    ),
                },
            )
        })?;
    tracing::info!(model = %model.trim(), "tool search: lexical ranking fused with a sentence model");
    Ok(Arc::new(HybridIndex::new(
        Arc::new(index.clone()),
        embedder,
        Fusion::default(),
    )))
}

impl App {
    pub async fn start(
        store: Arc<FileConfigStore>,
        db: Arc<dyn Store>,
        replica: &str,
        data_dir: &Path,
        log_dir: &Path,
        rotation: Rotation,
        callback_base: &str,
    ) -> Result<Self, Failure> {
        let bus = EventBus::new();
        let events = Arc::new(bus.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store_port: Arc<dyn ConfigStore> = store.clone();
        let servers: Arc<dyn ServerRepository> = db.clone();
        let approvals: Arc<dyn ApprovalRepository> = db.clone();
        let mut activity = ActivityLog::new(
            db.clone() as Arc<dyn ActivityRepository>,
            events.clone(),
            clock.clone(),
        )
        .with_sensitive_data(Arc::new(SensitiveScanner::new(store_port.clone())));
        // On a shared database, each record says which replica wrote it.
        if db.backend() != "sqlite" {
            activity = activity.with_replica(replica);
        }
        let activity = Arc::new(activity);
        // Calls are recorded in batches, off their path.
        let activity_writer = activity.start_writer();

        let index_dir = data_dir.join("index");
        let index = tokio::task::spawn_blocking(move || TantivyIndex::open(&index_dir))
            .await
            .map_err(|e| Failure::new(Exit::General, e.to_string()))?
            .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
        let search = search_index(&index, &store.current().search.embedding_model).await?;
        let catalog = Arc::new(ToolCatalog::new(
            store_port.clone(),
            servers.clone(),
            approvals.clone(),
            search,
            events.clone(),
            activity.clone(),
        ));
        catalog.load().await.map_err(|e| {
            Failure::new(Exit::General, format!("cannot load the tool catalog: {e}"))
        })?;

        let logs = Arc::new(ServerLogFiles::new(log_dir, rotation));
        let oauth = Arc::new(OAuth::new(
            db.clone() as Arc<dyn TokenStore>,
            events.clone(),
            headless_from_env(),
        ));
        oauth.set_callback_base(callback_base);
        let keyring: Arc<dyn mcpproxy_application::ports::SecretStore> = Arc::new(Keyring::new());
        let isolator = isolator(data_dir)?;
        // Containers and directories a killed run (proxy and reaper both) left behind.
        isolator.sweep(&|name| std::env::var(name).ok()).await;
        let connector = Arc::new(
            Connector::new(logs.clone(), start_reaper())
                .with_oauth(Arc::new(OAuthBridge(oauth.clone())))
                .with_isolation(isolator.clone())
                .with_secrets(keyring.clone()),
        );
        let host = Arc::new(crate::host::HostChecks::new(
            connector.clone(),
            data_dir.to_owned(),
        ));
        let isolation_probe = isolator as Arc<dyn mcpproxy_application::ports::IsolationProbe>;
        let isolation = Arc::new(IsolationService::new(
            store_port.clone(),
            isolation_probe.clone(),
        ));
        let tracker = Arc::new(UpstreamTracker::new(
            servers.clone(),
            events.clone(),
            catalog.clone(),
        ));
        let pool = Arc::new(Pool::new(connector, tracker, clock.clone()));
        let management = Arc::new(ManagementService::new(
            store_port.clone(),
            servers,
            approvals.clone(),
            pool.clone() as Arc<dyn UpstreamPool>,
            events.clone(),
            activity.clone(),
            clock.clone(),
        ));
        let secrets = Arc::new(SecretsService::new(
            keyring.clone(),
            store_port.clone(),
            management.clone(),
            pool.clone() as Arc<dyn UpstreamPool>,
            events.clone(),
            activity.clone(),
        ));
        let calls = Arc::new(CallService::new(
            catalog.clone(),
            pool.clone() as Arc<dyn UpstreamPool>,
            db.clone() as Arc<dyn CacheRepository>,
            activity.clone(),
            clock.clone(),
        ));
        let tokens = Arc::new(TokenService::new(
            db.clone(),
            Arc::new(TokenKeyFile::new(data_dir)),
            clock,
            store_port.clone(),
            activity.clone(),
        ));
        let profiles = Arc::new(ProfileService::new(catalog.clone(), events.clone()));
        // The pool's size is read once: its threads start with the first script.
        let scripts = QuickJsRunner::new(store.current().code_execution.settings().pool_size);
        let code = Arc::new(CodeService::new(
            catalog.clone(),
            calls.clone(),
            Arc::new(scripts) as Arc<dyn ScriptRunner>,
            activity.clone(),
        ));
        let auth = Arc::new(AuthService::new(
            store.clone() as Arc<dyn ConfigStore>,
            oauth.clone() as Arc<dyn OAuthProvider>,
            pool.clone() as Arc<dyn UpstreamPool>,
            events.clone(),
            activity.clone(),
        ));
        let diagnostics = Arc::new(mcpproxy_application::diagnostics::DiagnosticsService::new(
            store_port.clone(),
            host,
            mcpproxy_application::diagnostics::Running {
                upstream: pool.clone() as Arc<dyn UpstreamPool>,
                oauth: oauth.clone() as Arc<dyn OAuthProvider>,
                isolation: isolation_probe,
                approvals,
                management: management.clone(),
                auth: auth.clone(),
            },
        ));
        let relay = Arc::new(ProtocolRelay::new(
            catalog.clone(),
            pool.clone() as Arc<dyn UpstreamPool>,
        ));
        let discovery =
            Discovery::new(store.clone(), management.clone(), activity.clone(), keyring);
        let prompts = Arc::new(PromptService::new(
            store.clone(),
            relay.clone(),
            db.clone() as Arc<dyn PromptApprovalRepository>,
            management.clone(),
            events.clone(),
            activity.clone(),
        ));
        if let Err(e) = prompts.forget_removed().await {
            tracing::warn!("cannot forget the prompt approvals of removed servers: {e}");
        }
        let follower = tokio::spawn(follow_config(
            bus.subscribe(),
            store.clone(),
            pool.clone(),
            catalog.clone(),
        ));
        let mut background = vec![
            activity_writer,
            // The configured activity retention, now and every ten minutes.
            tokio::spawn(
                activity
                    .clone()
                    .prune_forever(store.clone(), Duration::from_secs(600)),
            ),
            tokio::spawn(oauth.clone().refresh_forever()),
            tokio::spawn(follow_auth(bus.subscribe(), auth.clone(), pool.clone())),
            tokio::spawn(prompts.clone().follow(bus.subscribe())),
        ];
        // On a shared database, what another replica approves or sees change holds here too.
        match db.changes().await {
            Ok(Some(feed)) => background.push(tokio::spawn(catalog.clone().follow_changes(feed))),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot follow the other replicas' changes: {e}"),
        }
        pool.reconcile(&start_plan(&store, &catalog)).await;
        Ok(Self {
            https: false,
            store,
            db,
            replica: replica.to_owned(),
            bus,
            activity,
            index,
            catalog,
            pool,
            management,
            calls,
            code,
            logs,
            auth,
            secrets,
            tokens,
            profiles,
            relay,
            discovery,
            prompts,
            isolation,
            diagnostics,
            follower,
            background,
            sessions: CancellationToken::new(),
        })
    }

    /// The API of one listener; `on_socket`: the unix socket's, whose callers are the user
    /// at this machine.
    fn api(&self, listening: SocketAddr, socket: Option<&Path>, on_socket: bool) -> Arc<Api> {
        Arc::new(Api {
            config: self.store.clone(),
            management: self.management.clone(),
            catalog: self.catalog.clone(),
            calls: self.calls.clone(),
            code: self.code.clone(),
            activity: self.activity.clone(),
            history: Arc::new(ToolCallHistory::new(
                self.activity.clone(),
                self.calls.clone(),
                self.catalog.clone(),
            )),
            auth: self.auth.clone(),
            secrets: self.secrets.clone(),
            tokens: self.tokens.clone(),
            profiles: self.profiles.clone(),
            isolation: self.isolation.clone(),
            diagnostics: self.diagnostics.clone(),
            logs: self.logs.clone() as Arc<dyn ServerLogs>,
            registries: self.discovery.registries.clone(),
            imports: self.discovery.imports.clone(),
            clients: self.discovery.clients.clone(),
            prompts: self.prompts.clone(),
            bus: self.bus.clone(),
            endpoints: Endpoints {
                scheme: if self.https { "https" } else { "http" },
                listen_addr: listening.to_string(),
                socket: socket.map(Path::to_owned),
            },
            replica: Replica {
                id: self.replica.clone(),
                storage: self.db.backend(),
            },
            on_socket,
            started: std::time::Instant::now(),
            shutdown: self.sessions.clone(),
        })
    }

    fn health(&self) -> axum::Router {
        health_routes(Arc::new(AppReadiness {
            db: self.db.clone(),
            index: self.index.clone(),
        }))
    }

    /// The routes of the TCP listener: health (open), the MCP endpoints (behind the key when
    /// `require_mcp_auth`), the REST API and events (always behind the key), the docs, and
    /// the web panel at `/ui/` (its pages ask for the key and keep it in a cookie).
    pub fn router(&self, listening: SocketAddr, socket: Option<&Path>) -> axum::Router {
        let policy = |required: fn(&mcpproxy_domain::Config) -> bool, tokens| KeyPolicy {
            config: self.store.clone(),
            required,
            tokens: Some((self.tokens.clone(), tokens)),
        };
        let services = Arc::new(mcpproxy_mcp::Services {
            config: self.store.clone(),
            catalog: self.catalog.clone(),
            calls: self.calls.clone(),
            code: self.code.clone(),
            management: self.management.clone(),
            logs: self.logs.clone() as Arc<dyn ServerLogs>,
            relay: self.relay.clone(),
            prompts: self.prompts.clone(),
            registries: self.discovery.registries.clone(),
            profiles: self.profiles.clone(),
        });
        let access = mcpproxy_mcp::Access {
            loopback: listening.ip().is_loopback(),
            shutdown: self.sessions.clone(),
        };
        let mcp = mcpproxy_mcp::router(services, &self.bus, access).layer(
            axum::middleware::from_fn_with_state(
                policy(|c| c.require_mcp_auth, TokenRoutes::Mcp),
                require_key,
            ),
        );
        let api = self.api(listening, socket, false);
        // The web panel's requests carry the key in its cookie; everything else as before.
        let web = mcpproxy_web::Web::new(self.store.clone(), listening.port());
        let management =
            management_routes(api.clone(), Some(policy(|_| true, TokenRoutes::RestReads))).layer(
                axum::middleware::from_fn_with_state(web.clone(), mcpproxy_web::key_from_cookie),
            );
        self.health()
            .merge(oauth_routes(api))
            .merge(mcp)
            .merge(management)
            .merge(docs_routes())
            .merge(web.routes())
    }

    /// The routes of the unix socket: health and management, no key (only this user can
    /// connect).
    pub fn socket_router(&self, listening: SocketAddr, socket: &Path) -> axum::Router {
        self.health().merge(management_routes(
            self.api(listening, Some(socket), true),
            None,
        ))
    }

    /// Binds `<data_dir>/mcpproxy.sock` when `enable_socket` is on.
    pub fn bind_socket(&self, data_dir: &Path) -> Result<Option<SameUserListener>, Failure> {
        if !self.store.current().enable_socket {
            return Ok(None);
        }
        let path = data_dir.join("mcpproxy.sock");
        SameUserListener::bind(&path).map(Some).map_err(|e| {
            Failure::new(
                Exit::General,
                format!("cannot listen on {}: {e}", path.display()),
            )
        })
    }

    /// Ends client sessions and stops every upstream, within the shutdown budget.
    pub async fn stop(&self) {
        self.sessions.cancel();
        self.pool.shutdown().await;
        // Every call's record is written before the database closes.
        self.activity.flush().await;
        self.follower.abort();
        for task in &self.background {
            task.abort();
        }
    }
}

/// Ready when the database and the index answer (the config is loaded before serving).
struct AppReadiness {
    db: Arc<dyn Store>,
    index: TantivyIndex,
}

#[async_trait]
impl Readiness for AppReadiness {
    async fn checks(&self) -> Vec<Check> {
        // A database that does not answer within the probe's patience counts as down.
        let db_ok = tokio::time::timeout(Duration::from_secs(2), self.db.ping())
            .await
            .unwrap_or(false);
        let index_ok = self.index.search("ready", 1).await.is_ok();
        vec![
            Check {
                name: "config",
                ok: true,
                detail: None,
            },
            Check {
                name: "storage",
                ok: db_ok,
                detail: (!db_ok).then(|| "the database does not answer".to_owned()),
            },
            Check {
                name: "index",
                ok: index_ok,
                detail: (!index_ok).then(|| "the search index does not answer".to_owned()),
            },
        ]
    }
}
