//! The proxy's own prompts, as agents of the Go MCPProxy know them: `setup-new-mcp-server`
//! and `troubleshoot-mcp-server`.

use serde_json::{Value, json};

pub const SETUP: &str = "setup-new-mcp-server";
pub const TROUBLESHOOT: &str = "troubleshoot-mcp-server";

/// Their `prompts/list` items.
pub fn definitions() -> Vec<Value> {
    vec![
        json!({
            "name": SETUP,
            "description": "Add a new MCP server to mcpproxy. Guides you through configuration for stdio or HTTP servers, or through finding one in a registry.",
            "arguments": [{"name": "server_type", "description": "Server type: 'stdio' (local command), 'http' (remote URL) or 'registry' (find one in an MCP registry)", "required": false}],
        }),
        json!({
            "name": TROUBLESHOOT,
            "description": "Diagnose and fix connection issues with MCP servers.",
            "arguments": [{"name": "server_name", "description": "Name of the server experiencing issues", "required": false}],
        }),
    ]
}

pub fn is_builtin(name: &str) -> bool {
    name == SETUP || name == TROUBLESHOOT
}

fn result(description: String, text: String) -> Value {
    json!({
        "description": description,
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    })
}

/// `setup-new-mcp-server` for a server type (`stdio` unless `http`, `sse` or `registry`).
pub fn setup(server_type: &str) -> Value {
    let kind = match server_type.trim() {
        "http" | "sse" | "streamable-http" => "http",
        "registry" => "registry",
        _ => "stdio",
    };
    let body = match kind {
        "http" => {
            "Add an HTTP MCP server:\n\n\
upstream_servers(operation=\"add\", name=\"server-name\", url=\"https://example.com/mcp\", protocol=\"http\")\n\n\
Headers (API keys) go in headers_json, e.g. headers_json=\"{\\\"Authorization\\\": \\\"Bearer ${env:MY_TOKEN}\\\"}\": \
a ${env:NAME} reference keeps the secret out of the config. OAuth logins are handled automatically when the server asks for one."
        }
        "registry" => {
            "Find a server in an MCP registry and add it:\n\n\
1. list_registries() shows the registries (official, reference, docker-mcp-catalog and your own).\n\
2. search_servers(registry=\"official\", search=\"github\") finds servers; each has an id.\n\
3. upstream_servers(operation=\"add_from_registry\", registry=\"official\", id=\"<the id>\") adds it. \
mcpproxy derives the command or URL from the registry's record. If it needs inputs (API keys, headers), \
the answer names them: pass them as env_json=\"{\\\"NAME\\\": \\\"${env:NAME}\\\"}\"."
        }
        _ => {
            "Add a stdio MCP server (a local command):\n\n\
upstream_servers(\n  operation=\"add\",\n  name=\"server-name\",\n  command=\"npx\",\n  args_json=\"[\\\"-y\\\", \\\"@modelcontextprotocol/server-github\\\"]\",\n  protocol=\"stdio\"\n)\n\n\
Common launchers:\n- npx: Node.js packages (e.g. npx -y @modelcontextprotocol/server-github)\n- uvx: Python packages (e.g. uvx mcp-server-fetch)\n- docker: containers (docker run -i --rm mcp/<name>)\n\n\
Environment variables (API keys, settings): env_json=\"{\\\"GITHUB_TOKEN\\\": \\\"${env:GITHUB_TOKEN}\\\"}\"; \
a ${env:NAME} reference keeps the secret out of the config.\n\n\
To find a server instead of writing its command, use the registry workflow: list_registries, search_servers, then upstream_servers operation add_from_registry."
        }
    };
    result(
        format!("Setup guide for {kind} MCP server"),
        format!(
            "{body}\n\nNew servers are quarantined until a person approves them: review with quarantine_security(operation=\"inspect_quarantined\", name=...), then ask the user to approve (mcpproxy upstream approve <name>, or the web UI)."
        ),
    )
}

/// What the proxy knows about a server now, for the troubleshooting prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub name: String,
    pub status: String,
    pub enabled: bool,
    pub quarantined: bool,
    pub tool_count: usize,
    pub last_error: Option<String>,
    pub protocol: String,
}

/// `troubleshoot-mcp-server`, with what the proxy knows about the server when it is named
/// and known.
pub fn troubleshoot(server_name: &str, facts: Option<&ServerFacts>) -> Value {
    let subject = if server_name.trim().is_empty() {
        "MCP servers".to_owned()
    } else {
        format!("server '{}'", server_name.trim())
    };
    let mut text = format!("Help me troubleshoot connection issues with {subject}.\n\n");
    if let Some(f) = facts {
        text.push_str(&format!(
            "What mcpproxy knows about '{}' now: status {}, {}, {}, {} tool(s), transport {}{}.\n\n",
            f.name,
            f.status,
            if f.enabled { "enabled" } else { "disabled" },
            if f.quarantined { "quarantined" } else { "not quarantined" },
            f.tool_count,
            f.protocol,
            f.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        ));
    } else if !server_name.trim().is_empty() {
        text.push_str(&format!(
            "mcpproxy has no server named '{}'; upstream_servers(operation=\"list\") shows the configured ones.\n\n",
            server_name.trim()
        ));
    }
    text.push_str(
        "Steps to diagnose:\n\
1. List all servers: upstream_servers(operation=\"list\")\n\
2. Check that the server is enabled and not quarantined\n\
3. Look at its connection status and last error\n\
4. Read its log: upstream_servers(operation=\"tail_log\", name=\"<server>\", lines=100)\n\
5. For stdio servers, check that the command exists and runs (npx, uvx, docker on PATH)\n\
6. For HTTP servers, check that the URL answers and the headers (API keys) are right\n\n\
Common issues:\n\
- Server quarantined: quarantine_security(operation=\"inspect_quarantined\") shows it; a person approves it\n\
- Tools missing: a new or changed tool waits for approval (quarantine_security operation=\"inspect_tools\")\n\
- Login required: the server uses OAuth; run `mcpproxy auth login -s <server>`\n\
- Missing environment variables: add them with upstream_servers(operation=\"patch\", name=..., env_json=...)\n\
- After a fix: upstream_servers(operation=\"restart\", name=...)",
    );
    result(format!("Troubleshooting guide for {subject}"), text)
}
