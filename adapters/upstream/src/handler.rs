//! The proxy's side of each upstream session: who we say we are, and what we do with the
//! server's notifications.

use std::sync::Arc;

use mcpproxy_application::ports::ServerLogs;
use mcpproxy_domain::ServerName;
#[allow(deprecated)] // logging is deprecated in the newest protocol, still widely sent
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::Notify;

/// The client name every upstream sees in `initialize`.
pub const CLIENT_NAME: &str = "mcpproxy";

#[derive(Clone)]
pub struct UpstreamClient {
    server: ServerName,
    logs: Arc<dyn ServerLogs>,
    /// Woken by `notifications/tools/list_changed`.
    pub tools_changed: Arc<Notify>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    pub fn new(server: ServerName, logs: Arc<dyn ServerLogs>) -> Self {
        Self {
            server,
            logs,
            tools_changed: Arc::new(Notify::new()),
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(CLIENT_NAME, env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.logs.append(
            &self.server,
            "[mcpproxy] the server says its tool list changed",
        );
        self.tools_changed.notify_one();
    }

    #[allow(deprecated)] // logging is deprecated in the newest protocol, still widely sent
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let data = match &params.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let logger = params.logger.as_deref().unwrap_or("server");
        self.logs.append(
            &self.server,
            &format!("[{logger}] {:?}: {data}", params.level),
        );
    }
}
