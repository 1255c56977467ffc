//! The MCP server each client session talks to. It parses, calls the application's use cases
//! and renders their answers; it decides nothing itself.
// Logging is deprecated by the newest protocol (SEP-2577), still relayed for the others.
#![allow(deprecated)]

use std::sync::Arc;

use mcpproxy_application::call::CallRequest;
use mcpproxy_application::catalog::Listing;
use mcpproxy_application::gates::{self, Action, Gate};
use mcpproxy_application::search::RetrieveRequest;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::token::AuthIdentity;
use mcpproxy_domain::{CallVariant, Caller, ToolId};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
    SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::builtin::{self, DEFAULT_INSTRUCTIONS};
use crate::manage;
use crate::notify::{Change, Notifier, accepted};
use crate::relay::{Outcome, relayed_call};
use crate::server::{from_json, prompt_refusal, refusal, session_of, to_json};
use crate::{Mode, Services};

/// The most bytes of tool definitions in one `tools/list` page: some clients refuse a single
/// SSE event over 1 MiB.
pub(crate) const PAGE_BYTES: usize = 512 * 1024;

#[derive(Clone)]
pub struct ProxyHandler {
    pub services: Arc<Services>,
    pub mode: Mode,
    pub notifier: Arc<Notifier>,
    /// Who this session is, for every rule it meets.
    pub caller: Caller,
    /// The agent token behind `caller`, for the record.
    pub identity: Option<AuthIdentity>,
    /// The profile of the endpoint (`/mcp/p/<slug>`), if any.
    pub profile: Option<String>,
    /// Every session; a session's tool calls take the fast path once it is initialized.
    pub(crate) book: Arc<crate::sessions::SessionBook>,
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

/// A refusal of a gate: the code agents match on, and what to do.
pub(crate) fn gate_result(gate: Gate) -> CallToolResponse {
    let body = json!({"status": gate.code(), "error": gate.message()});
    text_result(body.to_string(), true)
}

/// The `_meta` key Claude Code reads to inline tool results up to that many characters
/// rather than spill them to a file (its default ceiling is far lower).
const MAX_RESULT_SIZE_KEY: &str = "anthropic/maxResultSizeChars";

/// `result` with the `anthropic/maxResultSizeChars` hint (config `max_result_size_chars`) in
/// every tool's `_meta`, beside what the tool's server put there.
pub(crate) fn with_result_size_hint(
    mut result: ListToolsResult,
    config: &mcpproxy_domain::Config,
) -> ListToolsResult {
    if let Some(chars) = config.max_result_size_hint() {
        for tool in &mut result.tools {
            tool.meta
                .get_or_insert_with(|| rmcp::model::MetaObject(Default::default()))
                .0
                .insert(MAX_RESULT_SIZE_KEY.to_owned(), json!(chars));
        }
    }
    result
}

/// A page of the catalog's `tools/list`, as rmcp's result.
pub(crate) fn tools_page(
    page: Result<
        mcpproxy_application::catalog::ToolsPage,
        mcpproxy_application::catalog::BadCursor,
    >,
) -> Result<ListToolsResult, ErrorData> {
    let page = page.map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
    let tools = page
        .tools
        .iter()
        .filter_map(|json| serde_json::from_str::<Tool>(json).ok())
        .collect();
    let mut result = ListToolsResult::with_all_items(tools);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// An application result (a `CallToolResult` as JSON) as rmcp's type.
pub(crate) fn forward(value: Value) -> CallToolResponse {
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
    /// This handler as the request's sender: the agent of the token it presented, if any,
    /// under the profile the request is in (the token's pin, the endpoint's, or the
    /// session's `set_profile` choice).
    fn for_request(&self, context: &RequestContext<RoleServer>) -> std::borrow::Cow<'_, Self> {
        let agent = crate::agent_of(context);
        let base = agent.map_or_else(|| self.caller.clone(), |a| a.caller(Source::Mcp));
        let pinned = agent.is_some_and(|a| a.pin.is_some());
        let session = session_of(context);
        let caller = self.services.profiles.scoped(
            base,
            pinned,
            self.profile.as_deref(),
            session.as_deref(),
        );
        if agent.is_none() && caller == self.caller {
            return std::borrow::Cow::Borrowed(self);
        }
        std::borrow::Cow::Owned(Self {
            caller,
            identity: agent.map(|a| a.identity.clone()).or(self.identity.clone()),
            ..self.clone()
        })
    }

    /// `set_profile`: the session's profile from now on.
    fn set_profile(
        &self,
        args: &Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let pin = crate::agent_of(context).and_then(|a| a.profile_pin());
        let slug = arg_str(args, "profile").unwrap_or_default();
        match self
            .services
            .profiles
            .choose(session_of(context).as_deref(), slug, pin)
        {
            Ok(choice) => json_result(&choice),
            Err(e) => text_result(e.to_string(), true),
        }
    }

    /// The built-in tools of the retrieve and code endpoints: `set_profile` where profiles
    /// are configured.
    fn with_set_profile(&self, mut tools: Vec<Tool>) -> Vec<Tool> {
        if self.services.profiles.any() {
            tools.push(builtin::set_profile_tool());
        }
        tools
    }

    /// Whether this session is offered the management tools (the gates decide).
    fn management(&self) -> Result<(), Gate> {
        let view = self.services.catalog.view();
        gates::check(view.settings(), Action::OfferManagementTools, &self.caller)
    }

    fn call_request(
        &self,
        tool: String,
        arguments: Option<Map<String, Value>>,
        context: &RequestContext<RoleServer>,
    ) -> CallRequest {
        let session_id = session_of(context);
        CallRequest {
            tool,
            arguments,
            caller: self.caller.clone(),
            identity: self.identity.clone(),
            session_id,
            request_id: Some(format!("{:?}", context.id).trim_matches('"').to_owned()),
            client_name: context.peer.peer_info().map(|i| i.client_info.name.clone()),
            ..Default::default()
        }
    }

    /// Calls through the pipeline, relaying what the server sends back to this client.
    async fn call_upstream(
        &self,
        request: CallRequest,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        match relayed_call(&self.services.calls, request, context).await {
            Outcome::Done(Ok(v)) => forward(v),
            Outcome::Done(Err(e)) => forward(e.to_tool_result()),
            Outcome::Cancelled => text_result("the call was cancelled", true),
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
        self.call_upstream(request, context).await
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
                match s.catalog.retrieve(&request, &self.caller).await {
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
                match s.catalog.describe(&ids, &self.caller) {
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
            "set_profile" if s.profiles.any() => self.set_profile(&args, context),
            "list_registries" => crate::discover::list_registries(s),
            "search_servers" => crate::discover::search_servers(s, &args).await,
            // The management tools are offered only where the gates allow them; a call to
            // one that is not offered gets the gate's refusal.
            "upstream_servers" | "quarantine_security" => match self.management() {
                Err(gate) => gate_result(gate),
                Ok(()) if name == "upstream_servers" => {
                    manage::upstream_servers(s, &args, &self.caller).await
                }
                Ok(()) => manage::quarantine_security(s, &args, &self.caller).await,
            },
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
            match self.mode {
                Mode::Code => crate::code::CODE_INSTRUCTIONS.to_owned(),
                Mode::Retrieve | Mode::Direct => DEFAULT_INSTRUCTIONS.to_owned(),
            }
        } else {
            config.instructions.clone()
        };
        // The servers' prompts, resources, completions and logging are relayed here too.
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_completions()
            .enable_logging()
            .build();
        if self.services.relay.prompts_enabled(&self.caller) {
            let mut prompts = rmcp::model::PromptsCapability::default();
            prompts.list_changed = Some(true);
            capabilities.prompts = Some(prompts);
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("mcpproxy", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let this = self.for_request(&context);
        let config = this.services.config.current();
        let listed = match this.mode {
            Mode::Retrieve => Ok(ListToolsResult::with_all_items(
                this.with_set_profile(builtin::tools(this.management().is_ok())),
            )),
            Mode::Code => Ok(ListToolsResult::with_all_items(this.with_set_profile(
                crate::code::tools(this.management().is_ok(), this.services.code.enabled()),
            ))),
            Mode::Direct => {
                let cursor = request.and_then(|r| r.cursor);
                tools_page(this.services.catalog.view().page(
                    &this.caller,
                    Listing::Direct,
                    cursor.as_deref(),
                    PAGE_BYTES,
                ))
            }
        };
        listed.map(|result| with_result_size_hint(result, &config))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let this = self.for_request(&context);
        let args = params.arguments.unwrap_or_default();
        match this.mode {
            Mode::Retrieve => this.builtin(&params.name, args, &context).await,
            Mode::Code if params.name == "code_execution" => Ok(crate::code::execute(
                &this.services,
                &args,
                &this.caller,
                this.identity.as_ref(),
                &context,
            )
            .await),
            // The code endpoint has no call_tool_* tools: calls go through scripts.
            Mode::Code if CallVariant::from_tool_name(&params.name).is_some() => {
                Err(ErrorData::invalid_params(
                    format!(
                        "no tool named {}; on this endpoint tools are called from code_execution scripts with call_tool(server, tool, args)",
                        params.name
                    ),
                    None,
                ))
            }
            Mode::Code => this.builtin(&params.name, args, &context).await,
            Mode::Direct => {
                let wanted = params.name.as_ref();
                let tool = match this.services.catalog.view().direct(wanted) {
                    Some(entry) => entry.id.to_string(),
                    // No such tool: let the pipeline say so.
                    None => ToolId::from_direct(wanted)
                        .map_or_else(|| wanted.to_owned(), |id| id.to_string()),
                };
                let request = this.call_request(tool, Some(args), &context);
                Ok(this.call_upstream(request, &context).await)
            }
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let this = self.for_request(&context);
        let prompts = this
            .services
            .prompts
            .list(&this.caller)
            .await
            .map_err(prompt_refusal)?;
        from_json(json!({"prompts": prompts}))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let this = self.for_request(&context);
        let arguments = request.arguments.map(Value::Object);
        let answer = self
            .services
            .prompts
            .get(&request.name, arguments, &this.caller)
            .await
            .map_err(prompt_refusal)?;
        from_json::<GetPromptResult>(answer).map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let this = self.for_request(&context);
        let resources = this.services.relay.list_resources(&this.caller).await;
        from_json(json!({"resources": resources}))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let this = self.for_request(&context);
        let templates = self
            .services
            .relay
            .list_resource_templates(&this.caller)
            .await;
        from_json(json!({"resourceTemplates": templates}))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let this = self.for_request(&context);
        let answer = self
            .services
            .relay
            .resource_request("resources/read", to_json(&request)?, &this.caller)
            .await
            .map_err(refusal)?;
        from_json::<ReadResourceResult>(answer).map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let this = self.for_request(&context);
        this.services
            .relay
            .resource_request("resources/subscribe", to_json(&request)?, &this.caller)
            .await
            .map_err(refusal)?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let this = self.for_request(&context);
        this.services
            .relay
            .resource_request("resources/unsubscribe", to_json(&request)?, &this.caller)
            .await
            .map_err(refusal)?;
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let this = self.for_request(&context);
        let answer = self
            .services
            .prompts
            .complete(to_json(&request)?, &this.caller)
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
        this.services
            .relay
            .set_level_everywhere(to_json(&request)?, &this.caller)
            .await;
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        crate::fast::Lane::open(&self.book, &context, Arc::new(self.clone()));
        self.notifier.add_session(context.peer);
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
        self.notifier.serve_listener(context).await
    }
}
