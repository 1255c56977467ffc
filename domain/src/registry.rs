//! MCP server registries: where new servers are found.
//!
//! Three sources are built in, as in the Go MCPProxy — the official MCP registry (its v0.1
//! API), the reference servers (a list in the binary, so the basics work offline) and the
//! Docker MCP catalog — and the user adds their own under `registries`. A registry's trust
//! comes only from being one of the built-ins, never from what a config entry says about
//! itself. A discovered server carries the parts of its `server.json` (packages, remotes)
//! that [`crate::registry_derive`] turns into a runnable server entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The official registry protocol (`/v0.1/servers`, cursor pages, `search`).
pub const PROTOCOL_OFFICIAL: &str = "modelcontextprotocol/registry";
/// The reference servers shipped in the binary.
pub const PROTOCOL_REFERENCE: &str = "builtin/reference";
/// Docker Hub's `mcp/` namespace.
pub const PROTOCOL_DOCKER: &str = "custom/docker";

/// The default page size of a search, and its ceiling.
pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;

fn is_false(b: &bool) -> bool {
    !*b
}

/// One entry of `registries` in the config (and of the built-in list), in the Go format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistrySource {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Where the server list is read; derived from `url` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub servers_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// How many servers it lists, as the registry states it (a number or a text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    pub count: Option<Value>,
    /// It needs an API key (`MCPPROXY_REGISTRY_<ID>_API_KEY`); without one it is skipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_key: bool,
    /// Keys this proxy does not act on (the Go proxy's `provenance`, …), kept as written.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: Map<String, Value>,
}

impl RegistrySource {
    fn builtin(
        id: &str,
        name: &str,
        description: &str,
        url: &str,
        servers_url: &str,
        tags: &[&str],
        protocol: &str,
    ) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            url: url.to_owned(),
            servers_url: servers_url.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            protocol: protocol.to_owned(),
            count: None,
            requires_key: false,
            extra: Map::new(),
        }
    }

    /// The protocol, `modelcontextprotocol/registry` when unset.
    pub fn protocol(&self) -> &str {
        if self.protocol.is_empty() {
            PROTOCOL_OFFICIAL
        } else {
            &self.protocol
        }
    }

    /// Where its server list is read: `servers_url`, else `<url>/v0.1/servers` for the
    /// official protocol, else `url`.
    pub fn servers_url(&self) -> String {
        if !self.servers_url.is_empty() {
            return self.servers_url.clone();
        }
        if self.protocol() == PROTOCOL_OFFICIAL {
            return format!("{}/v0.1/servers", self.url.trim_end_matches('/'));
        }
        self.url.clone()
    }

    /// The environment variable that holds its API key: `MCPPROXY_REGISTRY_<ID>_API_KEY`,
    /// the id upper-cased with every other character as `_`.
    pub fn key_variable(&self) -> String {
        let id: String = self
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("MCPPROXY_REGISTRY_{id}_API_KEY")
    }

    /// Whether `wanted` names this registry: its id or its name, in any case.
    pub fn is_named(&self, wanted: &str) -> bool {
        self.id.eq_ignore_ascii_case(wanted) || self.name.eq_ignore_ascii_case(wanted)
    }
}

/// Where a registry comes from: shipped in the binary, or added by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    Official,
    Custom,
}

/// The registries shipped in the binary, in their order.
pub fn builtin_registries() -> Vec<RegistrySource> {
    vec![
        RegistrySource::builtin(
            "official",
            "Official MCP Registry",
            "The official Model Context Protocol server registry (no key required)",
            "https://registry.modelcontextprotocol.io/",
            "https://registry.modelcontextprotocol.io/v0.1/servers",
            &["verified", "official"],
            PROTOCOL_OFFICIAL,
        ),
        RegistrySource::builtin(
            "reference",
            "Reference Servers",
            "The @modelcontextprotocol reference servers, built in so they are found offline",
            "https://github.com/modelcontextprotocol/servers",
            "builtin://reference",
            &["verified", "official", "reference"],
            PROTOCOL_REFERENCE,
        ),
        RegistrySource::builtin(
            "docker-mcp-catalog",
            "Docker MCP Catalog",
            "MCP servers as container images in Docker Hub's mcp/ namespace",
            "https://hub.docker.com/catalogs/mcp",
            "https://hub.docker.com/v2/repositories/mcp/",
            &["verified"],
            PROTOCOL_DOCKER,
        ),
    ]
}

/// Former built-ins of the Go proxy, dropped there too: an old config that still lists
/// them does not bring them back.
const RETIRED_BUILTINS: &[&str] = &[
    "pulse",
    "smithery",
    "fleur",
    "azure-mcp-demo",
    "remote-mcp-servers",
];

pub fn is_builtin(id: &str) -> bool {
    builtin_registries().iter().any(|r| r.id == id)
}

/// The registries in force: the built-ins, then the user's. A user entry with a built-in's
/// id replaces it in place (to give it a key, say) and stays official; any other is custom;
/// of two entries with one id the later wins. Entries are not validated on load (a URL is
/// checked when it is fetched), so a config written by the Go proxy always loads.
pub fn effective_registries(configured: &[RegistrySource]) -> Vec<(RegistrySource, Provenance)> {
    let mut out: Vec<(RegistrySource, Provenance)> = builtin_registries()
        .into_iter()
        .map(|r| (r, Provenance::Official))
        .collect();
    for entry in configured {
        // An entry without an id cannot be named; a config the Go proxy wrote is still loaded.
        if entry.id.trim().is_empty() || RETIRED_BUILTINS.contains(&entry.id.as_str()) {
            continue;
        }
        match out.iter_mut().find(|(r, _)| r.id == entry.id) {
            Some(slot) => slot.0 = entry.clone(),
            None => out.push((entry.clone(), Provenance::Custom)),
        }
    }
    out
}

/// An id for a registry added by URL without one: its host, lower-case, dots and other
/// marks as `-` (`registry.example.com` → `registry-example-com`).
pub fn id_from_url(url: &str) -> String {
    let host = crate::netguard::host_of(url).unwrap_or_default();
    let mut id = String::new();
    for c in host.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_matches('-').to_owned()
}

/// An input a server needs before it runs: an environment variable, a header, or an
/// argument's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequiredInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Masked in what is shown; best kept as a secret reference.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// `env`, `header` or `argument`.
    pub kind: String,
    /// Without it the server cannot run.
    #[serde(default)]
    pub required: bool,
}

/// A server a registry lists, in the Go proxy's shape plus the `server.json` parts the
/// runnable config is derived from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryServer {
    /// Its id within the registry (`io.github.upstash/context7`).
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The remote endpoint, for servers reached over HTTP.
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_code_url: String,
    /// How it would be started locally, as a command line (for people; the config is
    /// derived from the packages).
    #[serde(
        rename = "installCmd",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub install_cmd: String,
    #[serde(
        rename = "connectUrl",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub connect_url: String,
    #[serde(
        rename = "updatedAt",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub updated_at: String,
    #[serde(
        rename = "createdAt",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub created_at: String,
    /// The registry it came from.
    #[serde(default)]
    pub registry: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_inputs: Vec<RequiredInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Package>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<Remote>,
}

/// `packages[]` of a `server.json`: something to download and run locally. Field names
/// are the official camelCase; the snake_case of older registries is read too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(default, alias = "registry_type", alias = "registry_name")]
    pub registry_type: String,
    #[serde(default, alias = "name")]
    pub identifier: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(
        default,
        alias = "runtime_hint",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime_hint: String,
    #[serde(
        default,
        alias = "runtime_arguments",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub runtime_arguments: Vec<Argument>,
    #[serde(
        default,
        alias = "package_arguments",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub package_arguments: Vec<Argument>,
    #[serde(
        default,
        alias = "environment_variables",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub environment_variables: Vec<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
}

/// A transport of a package or a remote: `stdio`, `streamable-http` or `sse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    #[serde(rename = "type", default, alias = "transport_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Input>,
}

/// `remotes[]` of a `server.json`: an endpoint to connect to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Remote {
    #[serde(rename = "type", default, alias = "transport_type")]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Input>,
    /// Values of the `{name}` parts of `url`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Input>,
}

/// An input of the `server.json` format: an environment variable, a header (both with a
/// `name`) or a variable; also the common part of an argument.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, alias = "is_required")]
    pub is_required: bool,
    #[serde(default, alias = "is_secret")]
    pub is_secret: bool,
    /// A fixed value; `{name}` parts come from `variables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub variables: BTreeMap<String, Input>,
}

/// A command-line argument of a package: `positional` (`valueHint` names it) or `named`
/// (`name` is the flag).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(
        default,
        alias = "value_hint",
        skip_serializing_if = "String::is_empty"
    )]
    pub value_hint: String,
    #[serde(default, alias = "is_repeated")]
    pub is_repeated: bool,
    #[serde(flatten)]
    pub input: Input,
}

/// One reference server: its id, what it does, and how it starts.
struct Reference {
    id: &'static str,
    description: &'static str,
    runtime: &'static str,
    package: &'static str,
    registry_type: &'static str,
}

const REFERENCE: &[Reference] = &[
    Reference {
        id: "filesystem",
        description: "Secure file operations with configurable access controls.",
        runtime: "npx",
        package: "@modelcontextprotocol/server-filesystem",
        registry_type: "npm",
    },
    Reference {
        id: "memory",
        description: "Knowledge-graph-based persistent memory system.",
        runtime: "npx",
        package: "@modelcontextprotocol/server-memory",
        registry_type: "npm",
    },
    Reference {
        id: "everything",
        description: "Reference and test server exercising every MCP protocol feature.",
        runtime: "npx",
        package: "@modelcontextprotocol/server-everything",
        registry_type: "npm",
    },
    Reference {
        id: "sequentialthinking",
        description: "Dynamic and reflective problem-solving through thought sequences.",
        runtime: "npx",
        package: "@modelcontextprotocol/server-sequential-thinking",
        registry_type: "npm",
    },
    Reference {
        id: "fetch",
        description: "Web content fetching and conversion for efficient LLM usage.",
        runtime: "uvx",
        package: "mcp-server-fetch",
        registry_type: "pypi",
    },
    Reference {
        id: "git",
        description: "Tools to read, search, and manipulate Git repositories.",
        runtime: "uvx",
        package: "mcp-server-git",
        registry_type: "pypi",
    },
    Reference {
        id: "time",
        description: "Time and timezone conversion capabilities.",
        runtime: "uvx",
        package: "mcp-server-time",
        registry_type: "pypi",
    },
];

/// The reference servers of `github.com/modelcontextprotocol/servers`, all local (stdio).
pub fn reference_servers() -> Vec<RegistryServer> {
    REFERENCE
        .iter()
        .map(|r| {
            let id = format!("reference/{}", r.id);
            let mut server = RegistryServer {
                id,
                name: r.id.to_owned(),
                description: r.description.to_owned(),
                source_code_url: format!(
                    "https://github.com/modelcontextprotocol/servers/tree/main/src/{}",
                    r.id
                ),
                registry: "reference".to_owned(),
                tags: vec!["reference".to_owned()],
                packages: vec![Package {
                    registry_type: r.registry_type.to_owned(),
                    identifier: r.package.to_owned(),
                    runtime_hint: r.runtime.to_owned(),
                    transport: Some(Transport {
                        kind: "stdio".to_owned(),
                        ..Transport::default()
                    }),
                    ..Package::default()
                }],
                ..RegistryServer::default()
            };
            crate::registry_derive::describe(&mut server);
            server
        })
        .collect()
}

/// Whether `server` matches a search: every word of `search` in its id, name, title or
/// description, and `tag` among its tags (when given). Case does not matter.
pub fn matches(server: &RegistryServer, search: &str, tag: &str) -> bool {
    let text = format!(
        "{} {} {} {}",
        server.id, server.name, server.title, server.description
    )
    .to_lowercase();
    let words_match = search
        .split_whitespace()
        .all(|w| text.contains(&w.to_lowercase()));
    let tag_matches = tag.is_empty()
        || server
            .tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag.trim()));
    words_match && tag_matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(id: &str) -> RegistrySource {
        RegistrySource {
            id: id.to_owned(),
            name: id.to_owned(),
            description: String::new(),
            url: format!("https://{id}.example.com"),
            servers_url: String::new(),
            tags: Vec::new(),
            protocol: String::new(),
            count: None,
            requires_key: false,
            extra: Map::new(),
        }
    }

    #[test]
    fn the_builtins_come_first_and_a_custom_entry_never_drops_them() {
        let all = effective_registries(&[custom("acme")]);
        let ids: Vec<&str> = all.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(ids, ["official", "reference", "docker-mcp-catalog", "acme"]);
        assert_eq!(all[3].1, Provenance::Custom);
    }

    #[test]
    fn trust_comes_from_the_id_not_from_what_the_entry_claims() {
        let mut claims = custom("acme");
        claims
            .extra
            .insert("provenance".into(), Value::String("official".into()));
        let all = effective_registries(&[claims]);
        assert_eq!(all[3].1, Provenance::Custom);
        // A built-in overridden (to give it a key) stays official, in place.
        let mut official = custom("official");
        official.requires_key = true;
        let all = effective_registries(&[official]);
        assert_eq!(all.len(), 3);
        assert!(all[0].0.requires_key);
        assert_eq!(all[0].1, Provenance::Official);
    }

    #[test]
    fn a_go_config_with_its_registries_loads_and_saves_unchanged() {
        let doc = serde_json::json!({"registries": [
            {"id": "official", "name": "Official MCP Registry", "url": "https://registry.modelcontextprotocol.io/",
             "servers_url": "https://registry.modelcontextprotocol.io/v0.1/servers", "tags": ["verified"],
             "protocol": "modelcontextprotocol/registry", "provenance": "official"},
            {"id": "smithery", "name": "Smithery", "url": "https://smithery.ai", "protocol": "custom/smithery", "count": "1000+"},
            {"id": "", "name": "nameless"},
            {"id": "acme", "name": "Acme", "url": "https://acme.example", "count": 12, "requires_key": true}
        ]});
        let config: crate::Config = serde_json::from_value(doc.clone()).unwrap();
        assert!(config.validate().is_empty());
        let ids: Vec<String> = effective_registries(&config.registries)
            .into_iter()
            .map(|(r, _)| r.id)
            .collect();
        assert_eq!(ids, ["official", "reference", "docker-mcp-catalog", "acme"]);
        let saved = serde_json::to_value(&config).unwrap();
        assert_eq!(saved["registries"], doc["registries"]);
    }

    #[test]
    fn retired_builtins_stay_retired() {
        assert_eq!(effective_registries(&[custom("smithery")]).len(), 3);
    }

    #[test]
    fn servers_url_and_key_variable() {
        let r = custom("acme.corp");
        assert_eq!(
            r.servers_url(),
            "https://acme.corp.example.com/v0.1/servers"
        );
        assert_eq!(r.key_variable(), "MCPPROXY_REGISTRY_ACME_CORP_API_KEY");
        assert_eq!(
            id_from_url("https://Registry.Example.com:8443/x"),
            "registry-example-com"
        );
    }

    #[test]
    fn reference_servers_start_locally() {
        let all = reference_servers();
        let time = all.iter().find(|s| s.id == "reference/time").unwrap();
        assert_eq!(time.install_cmd, "uvx mcp-server-time");
        assert!(time.url.is_empty());
        let fs = all.iter().find(|s| s.id == "reference/filesystem").unwrap();
        assert_eq!(
            fs.install_cmd,
            "npx -y @modelcontextprotocol/server-filesystem"
        );
    }

    #[test]
    fn search_matches_every_word_in_any_field() {
        let all = reference_servers();
        let found: Vec<&str> = all
            .iter()
            .filter(|s| matches(s, "git REPOSITORIES", ""))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(found, ["git"]);
        assert!(all.iter().all(|s| matches(s, "", "reference")));
        assert!(!all.iter().any(|s| matches(s, "", "database")));
    }
}
