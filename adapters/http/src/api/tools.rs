//! `/tools` and `/index/search`: every tool, search, and calls through the pipeline.

use axum::Json;
use axum::extract::Query;
use mcpproxy_application::call::CallRequest;
use mcpproxy_application::catalog::{ToolRow, ToolStats};
use mcpproxy_application::search::{RetrieveRequest, RetrievedTool};
use mcpproxy_application::{TokenSavings, ToolListing};
use mcpproxy_domain::CallVariant;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Caller, State};

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ToolsQuery {
    /// Only this server's tools.
    pub server: Option<String>,
    /// At most this many tools (1–1000; all when absent).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip this many tools first (with `limit`, a page).
    pub offset: Option<u32>,
}

/// Every tool of every server (or one page of them), whether it can be called, and counts
/// over all of them. `total_matching` counts the tools the `server` filter keeps.
#[utoipa::path(get, operation_id = "list_tools", path = "/tools", tag = "tools", params(ToolsQuery),
    responses((status = 200, description = "Done", body = Envelope<ToolPage>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(
    state: State,
    Caller(caller): Caller,
    Query(q): Query<ToolsQuery>,
) -> ApiResult<ToolPage> {
    if let Some(limit) = q.limit
        && !(1..=1000).contains(&limit)
    {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and 1000, got {limit}"
        )));
    }
    let ToolListing { mut tools, stats } = state.0.catalog.all_tools(&caller);
    if let Some(server) = q.server.as_deref().filter(|s| !s.is_empty()) {
        tools.retain(|t| t.server == server);
    }
    let total_matching = tools.len();
    let offset = usize::try_from(q.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit = q
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let tools = tools.into_iter().skip(offset).take(limit).collect();
    Ok(ok(ToolPage {
        tools,
        stats,
        total_matching,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolPage {
    pub tools: Vec<ToolRow>,
    pub stats: ToolStats,
    pub total_matching: usize,
}

/// How many tokens an agent saves by searching (`retrieve_tools`) instead of loading every
/// callable tool's definition: an estimate at about four bytes of JSON per token.
#[utoipa::path(get, operation_id = "token_stats", path = "/stats/tokens", tag = "tools",
    responses((status = 200, description = "Done", body = Envelope<TokenSavings>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn token_stats(state: State) -> ApiResult<TokenSavings> {
    Ok(ok(state.0.catalog.token_savings()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// What the tool should do.
    #[param(required = true, min_length = 1)]
    pub q: Option<String>,
    /// How many results (1–100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub query: String,
    pub results: Vec<RetrievedTool>,
    pub total: usize,
    /// How much of the query the best match covers (0–1).
    pub confidence: f32,
    /// The best match is weak: probably no tool does this.
    pub low_confidence: bool,
    /// Said when the query was cut to what one search may cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// Searches the callable tools as `retrieve_tools` does.
#[utoipa::path(get, operation_id = "search_tools", path = "/index/search", tag = "tools", params(SearchQuery),
    responses((status = 200, description = "Done", body = Envelope<SearchResults>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn search(
    state: State,
    Caller(caller): Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<SearchResults> {
    let query = q.q.unwrap_or_default();
    if query.trim().is_empty() {
        return Err(ApiError::bad_request(
            "q is required: what should the tool do?",
        ));
    }
    let found = state
        .0
        .catalog
        .retrieve(
            &RetrieveRequest {
                query,
                limit: Some(q.limit.unwrap_or(10)),
                ..Default::default()
            },
            &caller,
        )
        .await?;
    Ok(ok(SearchResults {
        query: found.query,
        total: found.total,
        results: found.tools,
        confidence: found.confidence,
        low_confidence: found.low_confidence,
        notice: found.notice,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallBody {
    /// `server:tool`; or `call_tool_read`, `call_tool_write`, `call_tool_destructive` with
    /// the arguments those MCP tools take (`name`, `args`, `intent_reason`,
    /// `intent_data_sensitivity`), which checks the intent as agents' calls are checked.
    pub tool_name: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Map<String, Value>>,
    /// How long the upstream may take to answer, a Go duration like `30s` (default
    /// `call_tool_timeout`).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Calls a tool through the same checks as agents' calls (quarantine, approval, arguments).
/// The data is the tool's result as MCP returns it.
#[utoipa::path(post, operation_id = "call_tool", path = "/tools/call", tag = "tools", request_body = CallBody,
    responses((status = 200, description = "Done", body = Envelope<serde_json::Value>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope),
        (status = 403, description = "Refused by a config gate or a quarantine", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope), (status = 502, description = "The upstream server failed", body = ErrorEnvelope),
        (status = 503, description = "Not available now (server disconnected, storage unavailable)", body = ErrorEnvelope), (status = 504, description = "The upstream server did not answer in time", body = ErrorEnvelope)))]
pub async fn call(
    state: State,
    Caller(caller): Caller,
    Json(body): Json<CallBody>,
) -> ApiResult<Value> {
    let mut request = match CallVariant::from_tool_name(&body.tool_name) {
        Some(variant) => CallRequest::for_variant(variant, &body.arguments.unwrap_or_default())?,
        None => CallRequest {
            tool: body.tool_name,
            arguments: body.arguments,
            ..CallRequest::default()
        },
    };
    request.caller = caller;
    request.request_id = super::envelope::current_request_id();
    request.timeout = body
        .timeout
        .as_deref()
        .map(|t| {
            mcpproxy_domain::GoDuration::parse(t)
                .map(|d| d.to_std())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("timeout {t:?} is not a duration like 30s or 2m"))
                })
        })
        .transpose()?;
    Ok(ok(state.0.calls.call(request).await?))
}
