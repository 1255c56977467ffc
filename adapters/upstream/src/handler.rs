//! The proxy's side of each upstream session: who we say we are, and what we do with what
//! the server sends us — requests and notifications during a call go to that call's client
//! (see [`crate::router`]); the rest is told to whoever listens ([`UpstreamNotice`]).
// Sampling and roots are deprecated by the newest protocol (SEP-2577), still used by servers
// of the earlier versions, which the proxy relays as they are.
#![allow(deprecated)]

use std::sync::Arc;

use mcpproxy_application::ports::{Relay, ServerLogs, UpstreamNotice};
use mcpproxy_domain::ServerName;
#[allow(deprecated)] // logging is deprecated in the newest protocol, still widely sent
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ErrorCode, Implementation, ListRootsResult,
    ProgressNotificationParam, ProtocolVersion, ResourceUpdatedNotificationParam,
};
use rmcp::service::{InboundStreamOrigin, NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use crate::router::CallRouter;

/// The client name every upstream sees in `initialize`.
pub const CLIENT_NAME: &str = "mcpproxy";

#[derive(Clone)]
pub struct UpstreamClient {
    server: ServerName,
    logs: Arc<dyn ServerLogs>,
    /// Woken by `notifications/tools/list_changed`.
    pub tools_changed: Arc<Notify>,
    /// The calls in flight that relay.
    pub router: Arc<CallRouter>,
    notices: broadcast::Sender<UpstreamNotice>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The call a server's request belongs to, from the stream it came on.
fn origin(context: &RequestContext<RoleClient>) -> Option<&rmcp::model::RequestId> {
    match context.extensions.get::<InboundStreamOrigin>() {
        Some(InboundStreamOrigin::OutboundRequest(id)) => Some(id),
        _ => None,
    }
}

impl UpstreamClient {
    pub fn new(
        server: ServerName,
        logs: Arc<dyn ServerLogs>,
        notices: broadcast::Sender<UpstreamNotice>,
    ) -> Self {
        Self {
            server,
            logs,
            tools_changed: Arc::new(Notify::new()),
            router: Arc::new(CallRouter::default()),
            notices,
        }
    }

    fn notice(&self, method: &str, params: Value) {
        // Nobody listening is fine.
        let _ = self.notices.send(UpstreamNotice {
            server: self.server.clone(),
            method: method.to_owned(),
            params,
        });
    }

    /// Asks the client of the call `relay` belongs to, and reads its answer as `R`.
    async fn ask<P: Serialize, R: DeserializeOwned>(
        &self,
        relay: Option<Relay>,
        method: &str,
        params: &P,
    ) -> Result<R, ErrorData> {
        let Some(Relay(sink)) = relay else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("{method}: no client is waiting on a call of this server to answer it"),
                None,
            ));
        };
        let params = serde_json::to_value(params)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let answer = sink
            .request(method, params)
            .await
            .map_err(|e| ErrorData::new(ErrorCode(e.code), e.message, None))?;
        serde_json::from_value(answer).map_err(|e| {
            ErrorData::internal_error(format!("the client's answer to {method}: {e}"), None)
        })
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        // The proxy relays sampling, elicitation and roots to the client of each call.
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({"sampling": {}, "elicitation": {}, "roots": {}}))
                .unwrap_or_default();
        // The handshake is `initialize`, so the newest version that has one (a server of a
        // newer protocol answers in its older one, as the spec asks of it).
        ClientConfig::new(
            capabilities,
            Implementation::new(CLIENT_NAME, env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let relay = self.router.for_origin(origin(&context));
        self.ask(relay, "sampling/createMessage", &params).await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let relay = self.router.for_origin(origin(&context));
        self.ask(relay, "elicitation/create", &params).await
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let relay = self.router.for_origin(origin(&context));
        self.ask(relay, "roots/list", &json!({})).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(Relay(sink)) = self.router.by_progress(&params.progress_token)
            && let Ok(params) = serde_json::to_value(&params)
        {
            sink.notify("notifications/progress", params).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.logs.append(
            &self.server,
            "[mcpproxy] the server says its tool list changed",
        );
        self.tools_changed.notify_one();
        self.notice("notifications/tools/list_changed", json!({}));
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.notice("notifications/prompts/list_changed", json!({}));
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.notice("notifications/resources/list_changed", json!({}));
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let params = serde_json::to_value(&params).unwrap_or_default();
        self.notice("notifications/resources/updated", params);
    }

    #[allow(deprecated)] // logging is deprecated in the newest protocol, still widely sent
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let data = match &params.data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let logger = params.logger.as_deref().unwrap_or("server");
        self.logs.append(
            &self.server,
            &format!("[{logger}] {:?}: {data}", params.level),
        );
        let value = serde_json::to_value(&params).unwrap_or_default();
        // A log line during a call is for that call's client; others, for whoever listens.
        match self.router.for_origin(None) {
            Some(Relay(sink)) => sink.notify("notifications/message", value).await,
            None => self.notice("notifications/message", value),
        }
    }
}
