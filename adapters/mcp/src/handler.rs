//! The MCP server each client session talks to. It parses, calls the application's use cases
//! and renders their answers; it decides nothing itself.

use std::sync::Arc;

use mcpproxy_application::call::CallRequest;
use mcpproxy_application::search::RetrieveRequest;
use mcpproxy_domain::CallVariant;
use mcpproxy_domain::activity::Source;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, SubscriptionFilter,
    Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value};

use crate::builtin::{self, DEFAULT_INSTRUCTIONS};
use crate::manage;
use crate::notify::Notifier;
use crate::{Mode, Services};

/// The most bytes of tool definitions in one `tools/list` page: some clients refuse a single
/// SSE event over 1 MiB.
const PAGE_BYTES: usize = 512 * 1024;

#[derive(Clone)]
pub struct ProxyHandler {
    pub services: Arc<Services>,
    pub mode: Mode,
    pub notifier: Arc<Notifier>,
}

impl std::fmt::Debug for ProxyHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandler")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

pub(crate) fn text_result(text: impl Into<String>, is_error: bool) -> CallToolResponse {
    let content = vec![ContentBlock::text(text)];
    if is_error {
        CallToolResult::error(content).into()
    } else {
        CallToolResult::success(content).into()
    }
}

pub(crate) fn json_result(value: &impl serde::Serialize) -> CallToolResponse {
    match serde_json::to_string(value) {
        Ok(text) => text_result(text, false),
        Err(e) => text_result(format!("could not render the answer: {e}"), true),
    }
}

/// An application result (a `CallToolResult` as JSON) as rmcp's type.
fn forward(value: Value) -> CallToolResponse {
    match serde_json::from_value::<CallToolResult>(value) {
        Ok(r) => r.into(),
        Err(e) => text_result(
            format!("the upstream answer is not a tool result: {e}"),
            true,
        ),
    }
}

fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn arg_bool(args: &Map<String, Value>, key: &str) -> bool {
    args.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn arg_u32(args: &Map<String, Value>, key: &str) -> Option<u32> {
    args.get(key)
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

impl ProxyHandler {
    fn management_allowed(&self) -> bool {
        let config = self.services.config.current();
        !(config.read_only_mode || config.disable_management)
    }

    async fn tools(&self) -> Vec<Tool> {
        match self.mode {
            Mode::Retrieve => builtin::tools(self.management_allowed()),
            Mode::Direct => self
                .services
                .catalog
                .callable()
                .await
                .into_iter()
                .filter_map(|t| {
                    // The definition goes out as the server sent it; only the name changes.
                    let mut value = serde_json::to_value(&t.tool).ok()?;
                    value["name"] = Value::String(t.id.direct_name());
                    serde_json::from_value(value).ok()
                })
                .collect(),
        }
    }

    fn call_request(
        &self,
        tool: String,
        arguments: Option<Map<String, Value>>,
        context: &RequestContext<RoleServer>,
    ) -> CallRequest {
        let session_id = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        CallRequest {
            tool,
            arguments,
            source: Some(Source::Mcp),
            session_id,
            request_id: Some(format!("{:?}", context.id).trim_matches('"').to_owned()),
            client_name: context.peer.peer_info().map(|i| i.client_info.name.clone()),
            ..Default::default()
        }
    }

    async fn call_upstream(&self, request: CallRequest) -> CallToolResponse {
        match self.services.calls.call(request).await {
            Ok(v) => forward(v),
            Err(e) => forward(e.to_tool_result()),
        }
    }

    async fn call_variant(
        &self,
        variant: CallVariant,
        args: &Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let parsed = match CallRequest::for_variant(variant, args) {
            Ok(r) => r,
            Err(e) => return forward(e.to_tool_result()),
        };
        // Who calls, from the MCP session; what and why, from the arguments.
        let mut request = self.call_request(parsed.tool, parsed.arguments, context);
        request.variant = parsed.variant;
        request.intent_reason = parsed.intent_reason;
        request.intent_sensitivity = parsed.intent_sensitivity;
        self.call_upstream(request).await
    }

    async fn builtin(
        &self,
        name: &str,
        args: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let s = &self.services;
        Ok(match name {
            "retrieve_tools" => {
                let request = RetrieveRequest {
                    query: arg_str(&args, "query").unwrap_or_default().to_owned(),
                    limit: arg_u32(&args, "limit"),
                    include_disabled: arg_bool(&args, "include_disabled"),
                    read_only_only: arg_bool(&args, "read_only_only"),
                    exclude_destructive: arg_bool(&args, "exclude_destructive"),
                    exclude_open_world: arg_bool(&args, "exclude_open_world"),
                };
                match s.catalog.retrieve(&request).await {
                    Ok(r) => json_result(&r),
                    Err(e) => text_result(e.to_string(), true),
                }
            }
            "describe_tool" => {
                let ids: Vec<String> = args
                    .get("tool_ids")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                match s.catalog.describe(&ids).await {
                    Ok(r) => json_result(&r),
                    Err(e) => text_result(e.to_string(), true),
                }
            }
            "read_cache" => {
                let key = arg_str(&args, "key").unwrap_or_default();
                match s
                    .calls
                    .read_cache(
                        key,
                        arg_u32(&args, "offset").unwrap_or(0),
                        arg_u32(&args, "limit"),
                    )
                    .await
                {
                    Ok(v) => json_result(&v),
                    Err(e) => text_result(e.to_string(), true),
                }
            }
            "upstream_servers" | "quarantine_security" if !self.management_allowed() => {
                text_result(
                    "server management is turned off on this proxy (read_only_mode or disable_management)",
                    true,
                )
            }
            "upstream_servers" => manage::upstream_servers(s, &args).await,
            "quarantine_security" => manage::quarantine_security(s, &args).await,
            other => match CallVariant::from_tool_name(other) {
                Some(variant) => self.call_variant(variant, &args, context).await,
                None => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "no tool named {other}; tools/list shows the tools of this endpoint"
                        ),
                        None,
                    ));
                }
            },
        })
    }
}

impl ServerHandler for ProxyHandler {
    fn get_info(&self) -> ServerConfig {
        let config = self.services.config.current();
        let instructions = if config.instructions.is_empty() {
            DEFAULT_INSTRUCTIONS.to_owned()
        } else {
            config.instructions.clone()
        };
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("mcpproxy", env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools().await;
        let start: usize = request
            .and_then(|r| r.cursor)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut next = None;
        for (i, tool) in tools.iter().enumerate().skip(start) {
            let size = serde_json::to_string(tool).map(|s| s.len()).unwrap_or(0);
            if !page.is_empty() && bytes + size > PAGE_BYTES {
                next = Some(i.to_string());
                break;
            }
            bytes += size;
            page.push(tool.clone());
        }
        let mut result = ListToolsResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = params.arguments.unwrap_or_default();
        match self.mode {
            Mode::Retrieve => self.builtin(&params.name, args, &context).await,
            Mode::Direct => {
                let wanted = params.name.as_ref();
                let found = self
                    .services
                    .catalog
                    .callable()
                    .await
                    .into_iter()
                    .find(|t| t.id.direct_name() == wanted);
                let tool = match found {
                    Some(t) => t.id.to_string(),
                    // Not callable now: let the pipeline say why (quarantine, approval…).
                    None => wanted.replacen("__", ":", 1),
                };
                let request = self.call_request(tool, Some(args), &context);
                Ok(self.call_upstream(request).await)
            }
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.notifier.add_session(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed.filter(|wanted| *wanted);
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.notifier.listen();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if context.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}
