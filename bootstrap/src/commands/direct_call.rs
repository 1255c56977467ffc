//! `mcpproxy call tool …` without a running proxy (as in Go's standalone mode): this process
//! connects to the one server the tool belongs to, learns its tools, and makes the call
//! through the proxy's own call use case — so the admission rule (quarantine, approval, the
//! config's tool filters, per-tool switches, intent), the argument check and the activity
//! record are the daemon's, not a copy. The data directory is locked meanwhile (a daemon
//! starting now waits), and the connection is closed before the command ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::call::{CallRequest, CallService};
use mcpproxy_application::ports::{
    ActivityRepository, ApprovalRepository, CacheRepository, Clock, ConfigStore, IndexError, Relay,
    SearchHit, ServerLogs, ServerRepository, ServerRuntime, SystemClock, ToolIndex, UpstreamError,
    UpstreamNotice, UpstreamPool,
};
use mcpproxy_application::{ActivityLog, EventBus, ToolCatalog};
use mcpproxy_config::FileConfigStore;
use mcpproxy_domain::{CallVariant, ConnectionState, SearchConfig, ServerName, Tool, ToolId};
use mcpproxy_storage::Database;
use mcpproxy_upstream::{ConnectSpec, Connector, Grace};
use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value};

use super::Context;
use crate::exit::{Exit, Failure};
use crate::lock::InstanceLock;
use crate::paths::ensure_private_dir;

/// Calls `tool_name` (`server:tool`, or a `call_tool_*` variant with its `name` inside) with
/// `arguments`; the tool's result as MCP returns it.
pub async fn call(
    ctx: &Context,
    tool_name: &str,
    arguments: Map<String, Value>,
    timeout: Option<Duration>,
) -> Result<Value, Failure> {
    let bad = |e: mcpproxy_application::call::CallError| {
        let code = e.code().map(|c| format!(" [{c}]")).unwrap_or_default();
        Failure::new(Exit::General, format!("{e}{code}"))
    };
    let mut request = match CallVariant::from_tool_name(tool_name) {
        Some(variant) => CallRequest::for_variant(variant, &arguments).map_err(bad)?,
        None => CallRequest {
            tool: tool_name.to_owned(),
            arguments: Some(arguments),
            ..CallRequest::default()
        },
    };
    request.timeout = timeout;
    let id = ToolId::parse(&request.tool).map_err(|e| {
        Failure::new(
            Exit::General,
            format!("{:?} is not server:tool ({e})", request.tool),
        )
    })?;
    let located = &ctx.located;
    let config = &located.config;
    let server = config.server(id.server()).ok_or_else(|| {
        Failure::new(
            Exit::General,
            format!(
                "server {:?} is not in {}; `mcpproxy upstream list` shows the configured servers",
                id.server().as_str(),
                located.config_path.display()
            ),
        )
    })?;
    // What an agent added runs only after a person's review, here too.
    if let Some(hold @ mcpproxy_application::launch::Hold::AwaitingReview) =
        mcpproxy_application::launch::hold(server)
    {
        return Err(Failure::new(
            Exit::General,
            hold.explain(id.server().as_str()),
        ));
    }

    ensure_private_dir(&located.data_dir)?;
    let _lock = InstanceLock::acquire(&located.data_dir, "cli")?;
    let db = Database::open(&located.data_dir.join("mcpproxy.db"))
        .await
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
    let store: Arc<dyn ConfigStore> = Arc::new(FileConfigStore::with_config(
        &located.config_path,
        config.clone(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let events = Arc::new(EventBus::new());
    let activity = Arc::new(ActivityLog::new(
        Arc::new(db.clone()) as Arc<dyn ActivityRepository>,
        events.clone(),
        clock.clone(),
    ));
    let writer = activity.start_writer();
    let catalog = Arc::new(ToolCatalog::new(
        store,
        Arc::new(db.clone()) as Arc<dyn ServerRepository>,
        Arc::new(db.clone()) as Arc<dyn ApprovalRepository>,
        Arc::new(NoIndex),
        events,
        activity.clone(),
    ));
    let failed = |e: String| Failure::new(Exit::General, e);
    catalog.load().await.map_err(|e| failed(e.to_string()))?;

    let mut spec = ConnectSpec::new(config, server)
        .map_err(|e| Failure::new(Exit::Config, format!("server {}: {e}", id.server())))?;
    spec.init_timeout = config.init_timeout(server).to_std();
    let logs = Arc::new(ctx.server_logs());
    // No reaper: this process waits for the server to stop before it ends.
    let connector = Connector::new(logs as Arc<dyn ServerLogs>, None)
        .with_isolation(crate::app::isolator(&located.data_dir)?)
        .with_secrets(Arc::new(mcpproxy_secrets::Keyring::new()));
    if ctx.progress {
        eprintln!(
            "no mcpproxy running: connecting to '{}' ({})…",
            id.server(),
            spec.describe()
        );
    }
    let connection = connector
        .connect(&spec)
        .await
        .map_err(|e| failed(format!("server '{}': {e}", id.server())))?;
    let outcome = async {
        // The tools as the daemon would learn them: their approvals follow the same rule.
        let listed = tokio::time::timeout(spec.init_timeout, connection.peer.list_all_tools())
            .await
            .map_err(|_| {
                failed(format!(
                    "tools/list did not answer within {:?}",
                    spec.init_timeout
                ))
            })?
            .map_err(|e| failed(format!("tools/list failed: {e}")))?;
        let tools = listed
            .into_iter()
            .filter_map(|t| {
                serde_json::to_value(&t)
                    .and_then(serde_json::from_value)
                    .ok()
            })
            .collect::<Vec<Tool>>();
        catalog
            .discovered(id.server(), tools)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let pool = Arc::new(OneServer {
            name: id.server().clone(),
            peer: connection.peer.clone(),
            since: clock.now(),
        });
        let calls = CallService::new(
            catalog.clone(),
            pool as Arc<dyn UpstreamPool>,
            Arc::new(db.clone()) as Arc<dyn CacheRepository>,
            activity.clone(),
            clock.clone(),
        );
        calls.call(request).await.map_err(bad)
    }
    .await;
    connection.close(Grace::SHUTDOWN).await;
    activity.flush().await;
    writer.abort();
    db.close().await;
    outcome
}

/// The search index is not needed for one call; the catalog's rule is.
struct NoIndex;

#[async_trait]
impl ToolIndex for NoIndex {
    async fn replace_server(
        &self,
        _: &ServerName,
        _: &[Tool],
        _: &[String],
    ) -> Result<(), IndexError> {
        Ok(())
    }
    async fn remove_server(&self, _: &ServerName) -> Result<(), IndexError> {
        Ok(())
    }
    fn configure(&self, _: &SearchConfig) {}
    async fn signatures(&self) -> Result<HashMap<ServerName, String>, IndexError> {
        Ok(HashMap::new())
    }
    async fn search(&self, _: &str, _: usize) -> Result<Vec<SearchHit>, IndexError> {
        Ok(Vec::new())
    }
}

/// The one server this command connected to, as the call use case's pool.
struct OneServer {
    name: ServerName,
    peer: rmcp::Peer<rmcp::RoleClient>,
    since: mcpproxy_domain::Timestamp,
}

impl OneServer {
    fn only(&self, server: &ServerName) -> Result<(), UpstreamError> {
        if server == &self.name {
            Ok(())
        } else {
            Err(UpstreamError::Failed(format!(
                "server {server} is not running because mcpproxy is not; start it with `mcpproxy serve`"
            )))
        }
    }
}

#[async_trait]
impl UpstreamPool for OneServer {
    async fn restart(&self, server: &ServerName) -> Result<(), UpstreamError> {
        self.only(server)
    }
    async fn rediscover(&self, server: &ServerName) -> Result<(), UpstreamError> {
        self.only(server)
    }
    async fn auth_started(&self, _: &ServerName) {}
    async fn call_tool(
        &self,
        server: &ServerName,
        tool: &str,
        arguments: Option<Map<String, Value>>,
        timeout: Duration,
        _: Option<Relay>,
    ) -> Result<Value, UpstreamError> {
        self.only(server)?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let result = tokio::time::timeout(timeout, self.peer.call_tool(params))
            .await
            .map_err(|_| UpstreamError::Timeout {
                server: server.clone(),
                tool: tool.to_owned(),
                after: timeout,
            })?
            .map_err(|e| UpstreamError::ConnectionLost {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        serde_json::to_value(result).map_err(|e| UpstreamError::Failed(e.to_string()))
    }
    async fn request(
        &self,
        server: &ServerName,
        _: &str,
        _: Value,
        _: Duration,
    ) -> Result<Value, UpstreamError> {
        self.only(server)?;
        Err(UpstreamError::Failed(
            "only tool calls are made without a running mcpproxy".to_owned(),
        ))
    }
    fn server_info(&self, _: &ServerName) -> Option<Value> {
        None
    }
    fn notices(&self) -> tokio::sync::broadcast::Receiver<UpstreamNotice> {
        tokio::sync::broadcast::channel(1).1
    }
    fn status(&self, server: &ServerName) -> Option<ServerRuntime> {
        (server == &self.name).then(|| ServerRuntime {
            name: server.clone(),
            state: ConnectionState::Ready,
            last_error: None,
            tool_count: 0,
            connected_at: Some(self.since),
            updated_at: self.since,
        })
    }
}
