//! The registries' answers as [`RegistryServer`]s.

use mcpproxy_domain::registry::{Package, RegistryServer, Remote, Transport};
use mcpproxy_domain::registry_derive::describe;
use serde_json::Value;

const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// Whether the server carries `tag`.
pub fn tagged(server: &RegistryServer, tag: &str) -> bool {
    server
        .tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tag.trim()))
}

/// One item of an official registry page: `{server, _meta}` (or a bare `server.json` from
/// older registries). Deleted, deprecated and superseded versions are left out.
pub fn official(item: &Value, registry: &str) -> Option<RegistryServer> {
    let (server, meta) = match item.get("server") {
        Some(s) if s.is_object() => (s, &item["_meta"][OFFICIAL_META]),
        _ => (item, &item["_meta"][OFFICIAL_META]),
    };
    let status = meta["status"]
        .as_str()
        .or_else(|| server["status"].as_str())
        .unwrap_or("active");
    if matches!(status, "deleted" | "deprecated") || meta["isLatest"] == Value::Bool(false) {
        return None;
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let name = text(&server["name"]);
    if name.is_empty() {
        return None;
    }
    let version = server["version"]
        .as_str()
        .or_else(|| server["version_detail"]["version"].as_str())
        .unwrap_or_default()
        .to_owned();
    let list = |key: &str| server[key].as_array().cloned().unwrap_or_default();
    // An entry this proxy cannot read in part is still listed; only its launch is lost.
    let packages: Vec<Package> = list("packages")
        .into_iter()
        .filter_map(|p| serde_json::from_value(p).ok())
        .collect();
    let remotes: Vec<Remote> = list("remotes")
        .into_iter()
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect();
    let mut entry = RegistryServer {
        id: name.clone(),
        name,
        title: text(&server["title"]),
        description: text(&server["description"]),
        version,
        source_code_url: text(&server["repository"]["url"]),
        updated_at: text(&meta["updatedAt"]),
        created_at: text(&meta["publishedAt"]),
        registry: registry.to_owned(),
        packages,
        remotes,
        ..RegistryServer::default()
    };
    describe(&mut entry);
    entry.connect_url = entry.url.clone();
    Some(entry)
}

/// One repository of Docker Hub's `mcp/` namespace: an image run with `docker run -i --rm`.
pub fn docker(item: &Value, registry: &str) -> Option<RegistryServer> {
    let name = item["name"].as_str().filter(|n| !n.is_empty())?;
    let namespace = item["namespace"].as_str().unwrap_or("mcp");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let tags = item["categories"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|cat| cat["name"].as_str().or_else(|| cat.as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut entry = RegistryServer {
        id: name.to_owned(),
        name: name.to_owned(),
        description: text(&item["description"]),
        source_code_url: format!("https://hub.docker.com/r/{namespace}/{name}"),
        updated_at: text(&item["last_updated"]),
        created_at: text(&item["date_registered"]),
        registry: registry.to_owned(),
        tags,
        packages: vec![Package {
            registry_type: "oci".to_owned(),
            identifier: format!("{namespace}/{name}"),
            runtime_hint: "docker".to_owned(),
            transport: Some(Transport {
                kind: "stdio".to_owned(),
                ..Transport::default()
            }),
            ..Package::default()
        }],
        ..RegistryServer::default()
    };
    describe(&mut entry);
    Some(entry)
}
