//! The management tools `upstream_servers` and `quarantine_security`: arguments in, use
//! cases of the application called, answers out.

use mcpproxy_application::{AddServer, CatalogError, ManagementError};
use mcpproxy_domain::{Caller, ServerConfig, ServerName};
use rmcp::model::CallToolResponse;
use serde_json::{Map, Value, json};

use crate::Services;
use crate::handler::{gate_result, json_result, text_result};

fn arg<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A refusal to run an operation, as the message for the agent.
type Refusal = String;

fn need<'a>(args: &'a Map<String, Value>, key: &str, op: &str) -> Result<&'a str, Refusal> {
    arg(args, key).ok_or_else(|| format!("{op} needs '{key}'"))
}

/// A JSON argument given as a string (`args_json`, `env_json`…).
fn json_arg(args: &Map<String, Value>, key: &str) -> Result<Option<Value>, Refusal> {
    match arg(args, key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("{key} is not valid JSON: {e}")),
    }
}

/// The server entry fields given as arguments, as a JSON object (for add and update).
fn entry_fields(args: &Map<String, Value>) -> Result<Map<String, Value>, Refusal> {
    let mut fields = Map::new();
    for key in ["command", "url", "protocol"] {
        if let Some(v) = arg(args, key) {
            fields.insert(key.to_owned(), Value::String(v.to_owned()));
        }
    }
    for (arg_key, field) in [
        ("args_json", "args"),
        ("env_json", "env"),
        ("headers_json", "headers"),
    ] {
        if let Some(v) = json_arg(args, arg_key)? {
            fields.insert(field.to_owned(), v);
        }
    }
    if let Some(enabled) = args.get("enabled").and_then(Value::as_bool) {
        fields.insert("enabled".to_owned(), Value::Bool(enabled));
    }
    Ok(fields)
}

/// A use case's error as the agent reads it; a gate's refusal carries its code.
trait Refused: std::fmt::Display {
    fn gate(&self) -> Option<mcpproxy_application::Gate>;
}

impl Refused for ManagementError {
    fn gate(&self) -> Option<mcpproxy_application::Gate> {
        match self {
            Self::Forbidden(g) => Some(*g),
            _ => None,
        }
    }
}

impl Refused for CatalogError {
    fn gate(&self) -> Option<mcpproxy_application::Gate> {
        match self {
            Self::Forbidden(g) => Some(*g),
            _ => None,
        }
    }
}

impl Refused for mcpproxy_application::prompts::PromptError {
    fn gate(&self) -> Option<mcpproxy_application::Gate> {
        match self {
            Self::Relay(mcpproxy_application::RelayRefusal::Gate(g)) => Some(*g),
            _ => None,
        }
    }
}

impl Refused for mcpproxy_application::ports::StorageError {
    fn gate(&self) -> Option<mcpproxy_application::Gate> {
        None
    }
}

fn done(result: Result<impl serde::Serialize, impl Refused>) -> CallToolResponse {
    match result {
        Ok(v) => json_result(&v),
        Err(e) => match e.gate() {
            Some(gate) => gate_result(gate),
            None => text_result(e.to_string(), true),
        },
    }
}

pub async fn upstream_servers(
    s: &Services,
    args: &Map<String, Value>,
    caller: &Caller,
) -> CallToolResponse {
    run_upstream_servers(s, args, caller)
        .await
        .unwrap_or_else(|refusal| text_result(refusal, true))
}

async fn run_upstream_servers(
    s: &Services,
    args: &Map<String, Value>,
    caller: &Caller,
) -> Result<CallToolResponse, Refusal> {
    let op = need(args, "operation", "upstream_servers")?;
    let m = &s.management;
    Ok(match op {
        "list" => done(
            m.list_servers()
                .await
                .map(|servers| json!({"total": servers.len(), "servers": servers})),
        ),
        "add" => {
            let name = need(args, "name", op)?;
            let mut fields = entry_fields(args)?;
            fields.insert("name".to_owned(), Value::String(name.to_owned()));
            let config: ServerConfig = serde_json::from_value(Value::Object(fields))
                .map_err(|e| format!("invalid server: {e}"))?;
            done(
                m.add_server(
                    AddServer {
                        config,
                        skip_quarantine: false,
                    },
                    caller,
                )
                .await,
            )
        }
        "add_from_registry" => crate::discover::add_from_registry(s, args, caller).await,
        "remove" => {
            let name = need(args, "name", op)?;
            done(
                m.remove_server(name, caller)
                    .await
                    .map(|()| json!({"removed": name})),
            )
        }
        "update" | "patch" => {
            let name = need(args, "name", op)?;
            let mut patch = entry_fields(args)?;
            if let Some(Value::Object(extra)) = json_arg(args, "patch_json")? {
                patch.extend(extra);
            }
            if patch.is_empty() {
                return Err(format!(
                    "{op} needs the fields to change (command, args_json, env_json, url, protocol, headers_json, enabled or patch_json)"
                ));
            }
            done(m.patch_server(name, &Value::Object(patch), caller).await)
        }
        "enable" => {
            let name = need(args, "name", op)?;
            done(
                m.enable_server(name, caller)
                    .await
                    .map(|()| json!({"success": true, "server": name, "enabled": true})),
            )
        }
        "disable" => {
            let name = need(args, "name", op)?;
            done(
                m.disable_server(name, caller)
                    .await
                    .map(|()| json!({"success": true, "server": name, "enabled": false})),
            )
        }
        // Reconnecting also reads the server's tools again.
        "restart" | "refresh" => {
            let name = need(args, "name", op)?;
            done(
                m.restart_server(name, caller)
                    .await
                    .map(|()| json!({"success": true, "server": name})),
            )
        }
        "tail_log" => {
            let name = need(args, "name", op)?;
            let lines = args
                .get("lines")
                .and_then(Value::as_u64)
                .unwrap_or(50)
                .clamp(1, 1000);
            let Ok(server) = ServerName::parse(name) else {
                return Err(format!("{name:?} is not a server name"));
            };
            if let Err(e) = m.get_server(name).await {
                return Err(e.to_string());
            }
            done(
                s.logs
                    .tail(&server, usize::try_from(lines).unwrap_or(50))
                    .await
                    .map(|lines| json!({"server": name, "lines": lines})),
            )
        }
        other => text_result(
            format!(
                "unknown operation {other:?}; use list, add, add_from_registry, remove, update, patch, enable, disable, restart, refresh or tail_log"
            ),
            true,
        ),
    })
}

pub async fn quarantine_security(
    s: &Services,
    args: &Map<String, Value>,
    caller: &Caller,
) -> CallToolResponse {
    run_quarantine_security(s, args, caller)
        .await
        .unwrap_or_else(|refusal| text_result(refusal, true))
}

async fn run_quarantine_security(
    s: &Services,
    args: &Map<String, Value>,
    caller: &Caller,
) -> Result<CallToolResponse, Refusal> {
    let op = need(args, "operation", "quarantine_security")?;
    Ok(match op {
        "list_quarantined" => done(s.management.list_servers().await.map(|servers| {
            let quarantined: Vec<_> = servers.into_iter().filter(|v| v.quarantined).collect();
            json!({"total": quarantined.len(), "servers": quarantined})
        })),
        "inspect_quarantined" | "inspect_tools" => {
            let name = need(args, "name", op)?;
            // What the server runs (command, args, env masked) is part of the review.
            let view = match s.management.get_server(name).await {
                Ok(v) => v,
                Err(e) => return Err(e.to_string()),
            };
            done(
                s.catalog
                    .review(name)
                    .await
                    .map(|tools| json!({"server": name, "config": view, "tools": tools})),
            )
        }
        "quarantine_server" => {
            let name = need(args, "name", op)?;
            done(
                s.management
                    .quarantine_server(name, caller)
                    .await
                    .map(|()| json!({"success": true, "server": name, "quarantined": true})),
            )
        }
        "approve_tool" | "block_tool" => {
            let name = need(args, "name", op)?;
            let tool = vec![need(args, "tool_name", op)?.to_owned()];
            let result = if op == "approve_tool" {
                s.catalog.approve(name, Some(&tool), caller).await
            } else {
                s.catalog.block(name, Some(&tool), caller).await
            };
            done(result.map(|changed| json!({"server": name, "changed": changed})))
        }
        "approve_all_tools" | "block_all_tools" => {
            let name = need(args, "name", op)?;
            let result = if op == "approve_all_tools" {
                s.catalog.approve(name, None, caller).await
            } else {
                s.catalog.block(name, None, caller).await
            };
            done(result.map(|changed| json!({"server": name, "changed": changed})))
        }
        "inspect_prompts" => {
            let name = need(args, "name", op)?;
            done(
                s.prompts
                    .review(name)
                    .await
                    .map(|prompts| json!({"server": name, "prompts": prompts})),
            )
        }
        "approve_prompt" | "approve_all_prompts" => {
            let name = need(args, "name", op)?;
            let wanted = if op == "approve_prompt" {
                Some(vec![need(args, "prompt_name", op)?.to_owned()])
            } else {
                None
            };
            done(
                s.prompts
                    .set_approval(name, wanted.as_deref(), true, caller)
                    .await
                    .map(|changed| json!({"server": name, "changed": changed})),
            )
        }
        other => text_result(
            format!(
                "unknown operation {other:?}; use list_quarantined, inspect_quarantined, quarantine_server, inspect_tools, approve_tool, approve_all_tools, block_tool, block_all_tools, inspect_prompts, approve_prompt or approve_all_prompts"
            ),
            true,
        ),
    })
}
