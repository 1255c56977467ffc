//! The definitions of the proxy's own tools, as agents of the Go MCPProxy know them.

use rmcp::model::Tool;
use serde_json::{Value, json};

/// The text every client gets in `initialize` unless `instructions` says otherwise.
pub const DEFAULT_INSTRUCTIONS: &str = "mcpproxy gives you access to many MCP servers through a few tools. \
To use a tool: 1) call retrieve_tools with a short description of what you need; it returns matching tools \
as 'server:tool' names, with their input schemas and a call_with field; 2) call the tool named in call_with \
(call_tool_read, call_tool_write or call_tool_destructive) with name set to the 'server:tool' name and args set \
to the arguments. If a response is truncated, read the rest with read_cache and the key it gives. Use \
describe_tool for the full definition of up to five tools.";

fn tool(
    name: &str,
    description: &str,
    properties: Value,
    required: &[&str],
    annotations: Value,
) -> Tool {
    let value = json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties, "required": required},
        "annotations": annotations,
    });
    // The literals above are valid tool definitions; a failure here is a typo in this file.
    serde_json::from_value(value).unwrap_or_else(|e| unreachable!("built-in tool {name}: {e}"))
}

fn call_args(kind: &str) -> Value {
    json!({
        "name": {"type": "string", "description": "The tool to call, as 'server:tool' (from retrieve_tools)"},
        "args": {"type": "object", "description": format!("The arguments of the {kind} tool, as an object matching its input schema")},
        "args_json": {"type": "string", "description": "The arguments as a JSON string (used instead of args when both are given)"},
        "intent_reason": {"type": "string", "maxLength": 1000, "description": "Why this call is made, for the audit log"},
        "intent_data_sensitivity": {"type": "string", "enum": ["public", "internal", "private", "unknown"], "description": "How sensitive the data of this call is"},
    })
}

/// `set_profile` (the Go proxy's definition), offered where profiles are configured.
pub fn set_profile_tool() -> Tool {
    tool(
        "set_profile",
        "Switch the active profile for THIS session. A profile scopes tool discovery (retrieve_tools) and tool calls to a named subset of upstream servers, e.g. 'research' or 'deploy'. The choice lasts for the current MCP session and applies to the following retrieve_tools / call_tool_* / code_execution calls. Pass an empty string to clear it and go back to all servers. A /mcp/p/<slug> URL still overrides the session profile, and a profile-pinned agent token cannot switch away from its pinned profile.",
        json!({"profile": {"type": "string", "description": "Profile slug to activate for this session (e.g. 'research'); \"\" clears the active profile"}}),
        &[],
        json!({"title": "Set Profile", "readOnlyHint": true, "destructiveHint": false, "openWorldHint": false}),
    )
}

/// The tools of the retrieve-mode endpoints; the management tools only when allowed.
pub fn tools(with_management: bool) -> Vec<Tool> {
    let mut tools = vec![
        tool(
            "retrieve_tools",
            "Find tools among all connected MCP servers by describing what you need in plain words. Returns the best matches as 'server:tool' names with their input schemas, annotations and call_with (the call_tool_* variant to use).",
            json!({
                "query": {"type": "string", "description": "What the tool should do, e.g. 'create a github issue'"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many tools to return (default: tools_limit)"},
                "include_disabled": {"type": "boolean", "description": "Also return tools disabled in the server's config, marked disabled"},
                "read_only_only": {"type": "boolean", "description": "Only tools that declare readOnlyHint"},
                "exclude_destructive": {"type": "boolean", "description": "Leave out tools that may be destructive: destructiveHint true or missing (the MCP default), unless readOnlyHint is true"},
                "exclude_open_world": {"type": "boolean", "description": "Leave out tools that may reach the open world: openWorldHint true or missing (the MCP default)"},
            }),
            &["query"],
            json!({"readOnlyHint": true}),
        ),
        tool(
            "describe_tool",
            "Get the full definitions (input and output schemas, annotations) of up to five tools by their 'server:tool' names.",
            json!({"tool_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5}}),
            &["tool_ids"],
            json!({"readOnlyHint": true}),
        ),
        tool(
            "call_tool_read",
            "Call a tool that only reads (retrieve_tools says call_with: call_tool_read). Refused for tools their server marks destructive.",
            call_args("read-only"),
            &["name"],
            json!({"readOnlyHint": true}),
        ),
        tool(
            "call_tool_write",
            "Call a tool that creates or changes something (call_with: call_tool_write). Refused for tools their server marks destructive.",
            call_args("writing"),
            &["name"],
            json!({"readOnlyHint": false, "destructiveHint": false}),
        ),
        tool(
            "call_tool_destructive",
            "Call a tool that deletes or does something that cannot be undone (call_with: call_tool_destructive).",
            call_args("destructive"),
            &["name"],
            json!({"readOnlyHint": false, "destructiveHint": true}),
        ),
        tool(
            "read_cache",
            "Read a truncated tool response in pages of records, with the key the truncated response gave.",
            json!({
                "key": {"type": "string", "description": "The key from the truncated response"},
                "offset": {"type": "integer", "minimum": 0, "description": "The first record (default 0)"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "How many records (default 50)"},
            }),
            &["key"],
            json!({"readOnlyHint": true}),
        ),
    ];
    tools.push(tool(
        "list_registries",
        "List the MCP server registries you can search with search_servers (the official MCP registry, the reference servers, the Docker MCP catalog, and the user's own). Use this first when the user wants a new server.",
        json!({}),
        &[],
        json!({"readOnlyHint": true, "openWorldHint": false}),
    ));
    tools.push(tool(
        "search_servers",
        "Search an MCP server registry for NEW servers to add (not for tools of connected servers: use retrieve_tools for those). Results have an id to pass to upstream_servers operation add_from_registry, the command or URL it would run, and the inputs (API keys, headers) it needs.",
        json!({
            "registry": {"type": "string", "description": "Registry id or name (list_registries shows them), e.g. 'official'"},
            "search": {"type": "string", "description": "Words of the server's name or description"},
            "tag": {"type": "string", "description": "Only servers with this tag (where the registry has tags)"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "How many servers (default 10)"},
        }),
        &["registry"],
        json!({"readOnlyHint": true, "openWorldHint": true}),
    ));
    if with_management {
        tools.push(tool(
            "upstream_servers",
            "Manage the upstream MCP servers: list, add (new servers start quarantined until a person approves them), add_from_registry (add a server found with search_servers by its registry and id; mcpproxy derives its command or URL), remove, update/patch, enable, disable, restart, refresh, tail_log.",
            json!({
                "operation": {"type": "string", "enum": ["list", "add", "add_from_registry", "remove", "update", "patch", "enable", "disable", "restart", "refresh", "tail_log"]},
                "name": {"type": "string", "description": "The server (add_from_registry: a name instead of the derived one)"},
                "registry": {"type": "string", "description": "add_from_registry: the registry id (list_registries)"},
                "id": {"type": "string", "description": "add_from_registry: the server's id in the registry (search_servers)"},
                "command": {"type": "string", "description": "add/update: the command of a stdio server"},
                "args_json": {"type": "string", "description": "add/update: the command's arguments as a JSON array"},
                "env_json": {"type": "string", "description": "add/update: environment variables as a JSON object; add_from_registry: the values of the inputs the entry needs (env vars, headers), e.g. {\"API_KEY\": \"${env:API_KEY}\"}"},
                "url": {"type": "string", "description": "add/update: the URL of an HTTP or SSE server"},
                "protocol": {"type": "string", "enum": ["stdio", "http", "sse", "streamable-http", "auto"]},
                "headers_json": {"type": "string", "description": "add/update: HTTP headers as a JSON object"},
                "patch_json": {"type": "string", "description": "patch: a JSON merge patch of the server entry (objects merge, arrays replace, null removes)"},
                "enabled": {"type": "boolean"},
                "lines": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "tail_log: how many lines (default 50)"},
            }),
            &["operation"],
            json!({"readOnlyHint": false, "destructiveHint": true}),
        ));
        tools.push(tool(
            "quarantine_security",
            "Review quarantined servers, tool and prompt approvals: list_quarantined, inspect_quarantined, quarantine_server, inspect_tools, approve_tool, approve_all_tools, block_tool, block_all_tools, enable_tool, disable_tool, inspect_prompts, approve_prompt, approve_all_prompts. block_tool/block_all_tools approve a tool and switch it off in one step (acknowledged but hidden); enable_tool/disable_tool switch one tool on or off. A server's prompt whose name, description or arguments changed since it was approved is held until approved. Lifting a server's quarantine is for people, not agents.",
            json!({
                "operation": {"type": "string", "enum": ["list_quarantined", "inspect_quarantined", "quarantine_server", "inspect_tools", "approve_tool", "approve_all_tools", "block_tool", "block_all_tools", "enable_tool", "disable_tool", "inspect_prompts", "approve_prompt", "approve_all_prompts"]},
                "name": {"type": "string", "description": "The server"},
                "tool_name": {"type": "string", "description": "approve_tool/block_tool/enable_tool/disable_tool: the tool"},
                "prompt_name": {"type": "string", "description": "approve_prompt: the prompt (its own name, without the server prefix)"},
            }),
            &["operation"],
            json!({"readOnlyHint": false}),
        ));
    }
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_well_formed_and_management_is_optional() {
        let all = tools(true);
        assert_eq!(all.len(), 10);
        assert_eq!(tools(false).len(), 8);
        for t in &all {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            assert!(t.description.is_some());
        }
    }
}
