//! The registry tools `list_registries` and `search_servers`, and the `add_from_registry`
//! operation of `upstream_servers`: arguments in, the registry use cases called, answers
//! out in the Go proxy's shapes.

use mcpproxy_application::ManagementError;
use mcpproxy_application::registry::{AddFromRegistry, RegistryServiceError};
use mcpproxy_domain::Caller;
use rmcp::model::CallToolResponse;
use serde_json::{Map, Value, json};

use crate::Services;
use crate::handler::{gate_result, json_result, text_result};

fn arg<'a>(args: &'a Map<String, Value>, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A refusal an agent can act on: the message, the stable code, and the inputs still
/// needed.
fn refused(e: &RegistryServiceError) -> CallToolResponse {
    if let RegistryServiceError::Management(ManagementError::Forbidden(gate)) = e {
        return gate_result(*gate);
    }
    let mut body = json!({"error": e.to_string(), "code": e.code()});
    let missing = e.missing_inputs();
    if !missing.is_empty() {
        body["missing_inputs"] = json!(missing);
    }
    text_result(body.to_string(), true)
}

pub fn list_registries(s: &Services) -> CallToolResponse {
    let registries = s.registries.list();
    json_result(&json!({
        "registries": registries,
        "total": registries.len(),
        "message": "Available MCP registries. Use the search_servers tool with a registry id to find servers. Newly added servers are quarantined by default until you approve them.",
    }))
}

pub async fn search_servers(s: &Services, args: &Map<String, Value>) -> CallToolResponse {
    let registry = arg(args, "registry");
    if registry.is_empty() {
        return text_result(
            "search_servers needs 'registry' (list_registries shows them, e.g. 'official')",
            true,
        );
    }
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    match s
        .registries
        .search(registry, arg(args, "search"), arg(args, "tag"), limit)
        .await
    {
        Ok(found) => json_result(&found),
        Err(e) => refused(&e),
    }
}

pub async fn add_from_registry(
    s: &Services,
    args: &Map<String, Value>,
    caller: &Caller,
) -> CallToolResponse {
    let (registry, id) = (arg(args, "registry"), arg(args, "id"));
    if registry.is_empty() || id.is_empty() {
        return text_result(
            "add_from_registry needs 'registry' and 'id' (from search_servers)",
            true,
        );
    }
    let inputs = match arg(args, "env_json") {
        "" => Default::default(),
        text => match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(map) => map
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            Err(e) => return text_result(format!("env_json is not a JSON object: {e}"), true),
        },
    };
    let request = AddFromRegistry {
        name: Some(arg(args, "name").to_owned()).filter(|n| !n.is_empty()),
        inputs,
        enabled: args.get("enabled").and_then(Value::as_bool),
    };
    match s
        .registries
        .add(registry, id, request, caller.clone())
        .await
    {
        Ok(added) => json_result(&added),
        Err(e) => refused(&e),
    }
}
