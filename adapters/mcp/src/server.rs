//! `/mcp/server/<name>`: one upstream server as if the client were connected to it directly
//! — its own tool, prompt and resource names, the capabilities and instructions it declared —
//! with the proxy's rules still applied: only approved, allowed tools are listed and
//! callable, every call goes through the pipeline (arguments, truncation, the activity log),
//! and nothing of a quarantined or disabled server is relayed.
//!
//! The sessions of this endpoint share the proxy's one connection to the server; when that
//! connection is renewed (a restart, a crash) they carry on over the new one.
// Logging is deprecated by the newest protocol (SEP-2577), still relayed for the others.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use mcpproxy_application::RelayRefusal;
use mcpproxy_application::call::CallRequest;
use mcpproxy_application::catalog::Listing;
use mcpproxy_application::ports::UpstreamError;
use mcpproxy_application::prompts::PromptError;
use mcpproxy_domain::Caller;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::token::AuthIdentity;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Services;
use crate::handler::{PAGE_BYTES, forward, text_result, tools_page, with_result_size_hint};
use crate::notify::{Change, Notifier, accepted};
use crate::relay::{Outcome, relayed_call};

/// A subscriber: its session id and its peer.
type Subscriber = (String, Peer<RoleServer>);

/// What the sessions of one server's endpoint share.
#[derive(Debug, Default)]
pub struct ServerState {
    pub notifier: Notifier,
    /// Who subscribed to which resource URI.
    subscriptions: Mutex<HashMap<String, Vec<Subscriber>>>,
}

impl ServerState {
    fn subscriptions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the session's subscription; true when it is the first one for `uri` (the
    /// upstream must be asked).
    fn subscribe(&self, uri: &str, session: String, peer: Peer<RoleServer>) -> bool {
        let mut all = self.subscriptions();
        let subscribers = all.entry(uri.to_owned()).or_default();
        subscribers.retain(|(s, p)| !p.is_transport_closed() && *s != session);
        let first = subscribers.is_empty();
        subscribers.push((session, peer));
        first
    }

    /// Drops the session's subscription; true when nobody is left for `uri` (the upstream
    /// can be told).
    fn unsubscribe(&self, uri: &str, session: &str) -> bool {
        let mut all = self.subscriptions();
        let Some(subscribers) = all.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|(s, p)| !p.is_transport_closed() && s != session);
        let last = subscribers.is_empty();
        if last {
            all.remove(uri);
        }
        last
    }

    /// Sends `notifications/resources/updated` for `uri` to its subscribers.
    pub async fn resource_updated(&self, uri: &str) {
        let subscribers = self.subscriptions().get(uri).cloned().unwrap_or_default();
        for (_, peer) in subscribers {
            let params = ResourceUpdatedNotificationParam::new(uri);
            if let Err(e) = peer.notify_resource_updated(params).await {
                tracing::debug!(error = %e, "a client did not take resources/updated");
            }
        }
    }
}

/// The client session a request came in, by its `Mcp-Session-Id`.
pub fn session_of(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[derive(Clone)]
pub struct ServerEndpoint {
    pub services: Arc<Services>,
    pub server: String,
    pub state: Arc<ServerState>,
    /// Who the sessions of this endpoint are, for every rule they meet.
    pub caller: Caller,
    /// The agent token behind `caller`, for the record.
    pub identity: Option<AuthIdentity>,
    /// Every session; a session's tool calls take the fast path once it is initialized.
    pub(crate) book: Arc<crate::sessions::SessionBook>,
}

impl std::fmt::Debug for ServerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEndpoint")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A refusal of the relay as a JSON-RPC error, keeping the upstream's own code; a refusal of
/// the admission rule or a gate carries its reason code in `data.code`.
pub fn refusal(e: RelayRefusal) -> ErrorData {
    if let Some(code) = e.code() {
        let data = Some(serde_json::json!({"code": code}));
        return match e {
            RelayRefusal::Gate(_) => ErrorData::invalid_params(e.to_string(), data),
            other => ErrorData::invalid_request(other.to_string(), data),
        };
    }
    match e {
        RelayRefusal::Upstream(UpstreamError::Rejected { code, message, .. }) => {
            ErrorData::new(ErrorCode(code), message, None)
        }
        RelayRefusal::UnknownResource(_) => {
            ErrorData::new(ErrorCode::RESOURCE_NOT_FOUND, e.to_string(), None)
        }
        RelayRefusal::UnknownPrompt(_) | RelayRefusal::Unsupported(..) => {
            ErrorData::invalid_params(e.to_string(), None)
        }
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

/// A refusal of the prompt use cases as a JSON-RPC error: a held or unknown prompt is the
/// caller's mistake to fix, like an unknown name.
pub fn prompt_refusal(e: PromptError) -> ErrorData {
    match e {
        PromptError::Relay(r) => refusal(r),
        PromptError::Storage(s) => ErrorData::internal_error(s.to_string(), None),
        other => ErrorData::invalid_params(other.to_string(), None),
    }
}

pub(crate) fn to_json(params: &impl Serialize) -> Result<Value, ErrorData> {
    serde_json::to_value(params).map_err(|e| ErrorData::invalid_params(e.to_string(), None))
}

pub(crate) fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value).map_err(|e| {
        ErrorData::internal_error(format!("the server's answer does not fit: {e}"), None)
    })
}

impl ServerEndpoint {
    /// This endpoint as the request's sender: the agent of the token it presented, if any.
    fn for_request(&self, context: &RequestContext<RoleServer>) -> std::borrow::Cow<'_, Self> {
        match crate::agent_of(context) {
            Some(agent) => std::borrow::Cow::Owned(Self {
                caller: agent.caller(Source::Mcp),
                identity: Some(agent.identity.clone()),
                ..self.clone()
            }),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Sends the request to the server as it is and reads its result.
    async fn relay<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, ErrorData> {
        let answer = self
            .services
            .relay
            .forward(&self.server, method, to_json(params)?, &self.caller)
            .await
            .map_err(refusal)?;
        from_json(answer)
    }

    /// What the client sees before the server is reachable.
    fn placeholder(&self, why: &str) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(self.server.clone(), "unknown"))
        .with_instructions(format!("mcpproxy: {why}"))
    }
}

impl ServerHandler for ServerEndpoint {
    fn get_info(&self) -> ServerConfig {
        let relay = &self.services.relay;
        match relay.server_info(&self.server, &self.caller) {
            Ok(Some(info)) => match serde_json::from_value::<ServerConfig>(info) {
                Ok(mut info) => {
                    // The proxy changes the tool list (approvals) and says so.
                    let tools = info.capabilities.tools.get_or_insert_with(Default::default);
                    tools.list_changed = Some(true);
                    if !relay.prompts_enabled(&self.caller) {
                        info.capabilities.prompts = None;
                    }
                    info
                }
                Err(e) => self.placeholder(&format!(
                    "the server's initialize result is unreadable: {e}"
                )),
            },
            Ok(None) => self.placeholder(&format!(
                "server {} is not connected yet; its tools appear when it is",
                self.server
            )),
            Err(refusal) => self.placeholder(&refusal.to_string()),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let this = self.for_request(&context);
        let server = self
            .services
            .relay
            .open(&this.server, &this.caller)
            .map_err(refusal)?;
        let cursor = request.and_then(|r| r.cursor);
        tools_page(this.services.catalog.view().page(
            &this.caller,
            Listing::Server(&server.name),
            cursor.as_deref(),
            PAGE_BYTES,
        ))
        .map(|result| with_result_size_hint(result, &this.services.config.current()))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let this = self.for_request(&context);
        let session_id = session_of(&context);
        let request = CallRequest {
            tool: format!("{}:{}", this.server, params.name),
            arguments: params.arguments,
            caller: this.caller.clone(),
            identity: this.identity.clone(),
            session_id,
            request_id: Some(format!("{:?}", context.id).trim_matches('"').to_owned()),
            client_name: context.peer.peer_info().map(|i| i.client_info.name.clone()),
            ..CallRequest::default()
        };
        Ok(
            match relayed_call(&this.services.calls, request, &context).await {
                Outcome::Done(Ok(v)) => forward(v),
                Outcome::Done(Err(e)) => forward(e.to_tool_result()),
                Outcome::Cancelled => text_result("the call was cancelled", true),
            },
        )
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let this = self.for_request(&context);
        // The server's approved prompts, all on one page.
        let listed = this
            .services
            .prompts
            .server_list(&this.server, &this.caller)
            .await
            .map_err(prompt_refusal)?;
        from_json(listed)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let this = self.for_request(&context);
        let answer = this
            .services
            .prompts
            .server_get(&this.server, to_json(&request)?, &this.caller)
            .await
            .map_err(prompt_refusal)?;
        from_json::<GetPromptResult>(answer).map(Into::into)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let this = self.for_request(&context);
        this.relay("resources/list", &request.unwrap_or_default())
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let this = self.for_request(&context);
        this.relay("resources/templates/list", &request.unwrap_or_default())
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let this = self.for_request(&context);
        this.relay::<ReadResourceResult>("resources/read", &request)
            .await
            .map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let this = self.for_request(&context);
        this.services
            .relay
            .open(&this.server, &this.caller)
            .map_err(refusal)?;
        let session = session_of(&context).unwrap_or_default();
        if self
            .state
            .subscribe(&request.uri, session, context.peer.clone())
        {
            let _: Value = this.relay("resources/subscribe", &request).await?;
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let this = self.for_request(&context);
        let session = session_of(&context).unwrap_or_default();
        if this.state.unsubscribe(&request.uri, &session) {
            let _: Value = this.relay("resources/unsubscribe", &request).await?;
        }
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let this = self.for_request(&context);
        let answer = this
            .services
            .prompts
            .server_complete(&this.server, to_json(&request)?, &this.caller)
            .await
            .map_err(prompt_refusal)?;
        from_json(answer)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let this = self.for_request(&context);
        let _: Value = this.relay("logging/setLevel", &request).await?;
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        crate::fast::Lane::open(&self.book, &context, Arc::new(self.clone()));
        self.state.notifier.add_session(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(accepted(
            requested,
            &[Change::Tools, Change::Prompts, Change::Resources],
        ))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.state.notifier.serve_listener(context).await
    }
}
