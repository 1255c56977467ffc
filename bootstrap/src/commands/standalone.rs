//! The proxy's own services without a running proxy, for the commands that work alone:
//! the management use cases over the config file and the database, so a server added or
//! removed here is checked, saved and recorded exactly as the daemon would do it. Nothing
//! connects: no upstream runs while no proxy does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::ports::{
    ActivityRepository, ApprovalRepository, Clock, ConfigStore, Relay, SecretStore,
    ServerRepository, ServerRuntime, StorageError, SystemClock, UpstreamError, UpstreamNotice,
    UpstreamPool,
};
use mcpproxy_application::{
    ActivityLog, EventBus, ManagementService, SecretsService, TokenService,
};
use mcpproxy_config::FileConfigStore;
use mcpproxy_domain::{ServerName, Tool};
use mcpproxy_storage::Store;
use serde_json::{Map, Value};

use crate::exit::Failure;
use crate::locate::{Located, ensure_config_dir};
use crate::lock::InstanceLock;
use crate::paths::ensure_private_dir;

/// The services, holding the data directory's lock while they live.
pub struct Standalone {
    pub management: Arc<ManagementService>,
    /// Keyring secrets; servers that use one are not restarted (none runs).
    pub secrets: SecretsService,
    /// Agent tokens, in the same database and under the same key file as the daemon's.
    pub tokens: TokenService,
    /// Registries, import, connect: what works without upstream connections.
    pub discovery: crate::app::Discovery,
    db: Arc<dyn Store>,
    _lock: InstanceLock,
}

impl std::fmt::Debug for Standalone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standalone").finish_non_exhaustive()
    }
}

impl Standalone {
    pub async fn open(located: &Located) -> Result<Self, Failure> {
        if located.missing {
            ensure_config_dir(&located.config_path)?;
        }
        ensure_private_dir(&located.data_dir)?;
        // A daemon starting now waits for us (exit 3) rather than sharing the files.
        let lock = InstanceLock::acquire(&located.data_dir, "cli")?;
        // The command line writes as the replica `cli` (its changes reach running replicas).
        let db = crate::storage::open(&crate::storage::location(located, "cli")?).await?;
        let store: Arc<dyn ConfigStore> = Arc::new(FileConfigStore::with_config(
            &located.config_path,
            located.config.clone(),
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let events = Arc::new(EventBus::new());
        let activity = Arc::new(ActivityLog::new(
            db.clone() as Arc<dyn ActivityRepository>,
            events.clone(),
            clock.clone(),
        ));
        let management = Arc::new(ManagementService::new(
            store.clone(),
            Arc::new(NotRunning(db.clone())),
            db.clone() as Arc<dyn ApprovalRepository>,
            Arc::new(NoUpstreams),
            events.clone(),
            activity.clone(),
            clock.clone(),
        ));
        let tokens = TokenService::new(
            db.clone(),
            Arc::new(mcpproxy_secrets::TokenKeyFile::new(&located.data_dir)),
            clock,
            store.clone(),
            activity.clone(),
        );
        let keyring: Arc<dyn SecretStore> = Arc::new(mcpproxy_secrets::Keyring::new());
        let secrets = SecretsService::new(
            keyring.clone(),
            store.clone(),
            management.clone(),
            Arc::new(NoUpstreams),
            events,
            activity.clone(),
        );
        let discovery = crate::app::Discovery::new(store, management.clone(), activity, keyring);
        Ok(Self {
            management,
            secrets,
            tokens,
            discovery,
            db,
            _lock: lock,
        })
    }

    pub async fn close(self) {
        self.db.close().await;
    }
}

/// The database's server records, but no connection state: with no proxy running, no
/// server is connected, whatever the last run left.
struct NotRunning(Arc<dyn Store>);

#[async_trait]
impl ServerRepository for NotRunning {
    async fn save_runtime(&self, runtime: &ServerRuntime) -> Result<(), StorageError> {
        self.0.save_runtime(runtime).await
    }
    async fn runtime(&self, _: &ServerName) -> Result<Option<ServerRuntime>, StorageError> {
        Ok(None)
    }
    async fn all_runtime(&self) -> Result<Vec<ServerRuntime>, StorageError> {
        Ok(Vec::new())
    }
    async fn save_tools(&self, name: &ServerName, tools: &[Tool]) -> Result<(), StorageError> {
        self.0.save_tools(name, tools).await
    }
    async fn tools(&self, name: &ServerName) -> Result<Vec<Tool>, StorageError> {
        self.0.tools(name).await
    }
    async fn delete(&self, name: &ServerName) -> Result<(), StorageError> {
        ServerRepository::delete(&*self.0, name).await
    }
}

/// No upstream runs without the proxy.
struct NoUpstreams;

fn not_running(server: &ServerName) -> UpstreamError {
    UpstreamError::Failed(format!(
        "server {server} is not running because mcpproxy is not; start it with `mcpproxy serve`"
    ))
}

#[async_trait]
impl UpstreamPool for NoUpstreams {
    async fn restart(&self, server: &ServerName) -> Result<(), UpstreamError> {
        Err(not_running(server))
    }
    async fn rediscover(&self, server: &ServerName) -> Result<(), UpstreamError> {
        Err(not_running(server))
    }
    async fn auth_started(&self, _: &ServerName) {}
    async fn call_tool(
        &self,
        server: &ServerName,
        _: &str,
        _: Option<Map<String, Value>>,
        _: Duration,
        _: Option<Relay>,
    ) -> Result<Value, UpstreamError> {
        Err(not_running(server))
    }
    async fn request(
        &self,
        server: &ServerName,
        _: &str,
        _: Value,
        _: Duration,
    ) -> Result<Value, UpstreamError> {
        Err(not_running(server))
    }
    fn status(&self, _: &ServerName) -> Option<ServerRuntime> {
        None
    }
    fn server_info(&self, _: &ServerName) -> Option<Value> {
        None
    }
    fn notices(&self) -> tokio::sync::broadcast::Receiver<UpstreamNotice> {
        tokio::sync::broadcast::channel(1).1
    }
}
