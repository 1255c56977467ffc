//! The code execution endpoint's tools (`/mcp/code`, and `/mcp` under
//! `routing_mode: code_execution`): `code_execution` beside `retrieve_tools` and
//! `describe_tool` (to find the tools a script calls), and the management tools where the
//! gates allow them. The script runs in the application's [`CodeService`].

use mcpproxy_application::CodeRequest;
use rmcp::RoleServer;
use rmcp::model::{CallToolResponse, Tool};
use rmcp::service::RequestContext;
use serde_json::{Map, Value, json};

use crate::Services;
use crate::builtin;
use crate::handler::{json_result, text_result};
use crate::server::session_of;

/// What a client of the code endpoint is taught in `initialize`.
pub const CODE_INSTRUCTIONS: &str = "mcpproxy gives you access to many MCP servers. Instead of calling tools one by one, \
write one JavaScript snippet that calls several tools, filters and joins their results, and returns only what you need. \
1) Find tools with retrieve_tools (it returns 'server:tool' names and input schemas); describe_tool gives full definitions. \
2) Call code_execution with `code`: the script sees `input` (your `input` argument) and \
`call_tool(server, tool, args)`, which returns {ok: true, result} (result is the MCP tool result: read result.content[0].text) \
or {ok: false, error: {code, message}}; `call_tools([{server, tool, args}, ...])` runs independent calls in parallel and returns \
one such envelope per request. Calls are synchronous (no await). The last expression, or a top-level return, is the result. \
Example: code = \"const a = call_tool('github', 'get_issue', {number: input.n}); const b = call_tool('slack', 'search', {q: input.q}); \
return {issue: a.ok ? JSON.parse(a.result.content[0].text).title : a.error.message, hits: b.ok ? b.result.content.length : 0};\" \
with input = {\"n\": 1, \"q\": \"deploy\"}. There is no require, fetch, process, filesystem or timers (sleep(ms) is bounded). \
options: timeout_ms, max_tool_calls, allowed_servers.";

/// The `code_execution` tool as agents of the Go MCPProxy know it.
fn code_execution_tool(enabled: bool) -> Tool {
    let description = if enabled {
        "Execute JavaScript (ES2023) that orchestrates several upstream MCP tools in one request. The script sees `input` and `call_tool(server, tool, args)` -> {ok, result | error}, and `call_tools([{server, tool, args}], {max_parallel})` for parallel calls; its last expression (or a top-level return) is the result. Every call passes the same checks as a direct call (quarantine, approvals, permissions). No require, fetch, process, filesystem or timers."
    } else {
        mcpproxy_application::code::DISABLED_MESSAGE
    };
    let value = json!({
        "name": "code_execution",
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "JavaScript source code (ES2023) to execute. call_tool() is synchronous; return a JSON-serializable value."},
                "input": {"type": "object", "description": "Input data accessible as global `input` variable in code", "default": {}},
                "language": {"type": "string", "enum": ["javascript"], "default": "javascript", "description": "Source language (only JavaScript is served)"},
                "options": {
                    "type": "object",
                    "properties": {
                        "timeout_ms": {"type": "number", "minimum": 1, "maximum": 600000, "description": "Execution timeout in milliseconds (1-600000)"},
                        "max_tool_calls": {"type": "number", "minimum": 0, "description": "Maximum number of tool calls (0 = unlimited)"},
                        "allowed_servers": {"type": "array", "items": {"type": "string"}, "description": "Server names the script may call (empty = all allowed)"},
                    },
                },
            },
            "required": ["code"],
        },
        "annotations": {"title": "Code Execution", "readOnlyHint": false, "destructiveHint": true, "openWorldHint": true},
    });
    // The literal above is a valid tool definition; a failure here is a typo in this file.
    serde_json::from_value(value).unwrap_or_else(|e| unreachable!("code_execution tool: {e}"))
}

/// The tools of the code endpoint.
pub fn tools(with_management: bool, enabled: bool) -> Vec<Tool> {
    let mut tools: Vec<Tool> = builtin::tools(with_management)
        .into_iter()
        .filter(|t| !t.name.starts_with("call_tool_"))
        .collect();
    tools.insert(0, code_execution_tool(enabled));
    tools
}

/// `code_execution`: parse, run, render. The refusals and the envelope come from the use case.
pub async fn execute(
    services: &Services,
    args: &Map<String, Value>,
    caller: &mcpproxy_domain::Caller,
    identity: Option<&mcpproxy_domain::token::AuthIdentity>,
    context: &RequestContext<RoleServer>,
) -> CallToolResponse {
    let mut request = match CodeRequest::from_arguments(args) {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    request.caller = caller.clone();
    request.identity = identity.cloned();
    request.session_id = session_of(context);
    request.client_name = context.peer.peer_info().map(|i| i.client_info.name.clone());
    match services.code.execute(request).await {
        // A script that failed is an error result carrying its envelope.
        Ok(envelope) if envelope["ok"] == Value::Bool(true) => json_result(&envelope),
        Ok(envelope) => text_result(envelope.to_string(), true),
        Err(e) => refused(e),
    }
}

fn refused(e: mcpproxy_application::CodeError) -> CallToolResponse {
    let body = json!({"ok": false, "error": {"code": e.code(), "message": e.to_string()}});
    text_result(body.to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_endpoint_offers_code_execution_and_the_search_tools() {
        let names: Vec<String> = tools(false, true)
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names[0], "code_execution");
        assert!(names.contains(&"retrieve_tools".to_owned()));
        assert!(names.contains(&"describe_tool".to_owned()));
        assert!(!names.iter().any(|n| n.starts_with("call_tool_")));
        let off = code_execution_tool(false);
        assert!(off.description.unwrap().contains("enable_code_execution"));
    }
}
