//! The clients mcpproxy knows: where each keeps its MCP servers on each OS (as their
//! documentation says), under which key, and the entry that points it at the proxy in the
//! shape that client reads.

use std::path::PathBuf;

use mcpproxy_application::ports::ProxyEndpoint;
use serde_json::{Map, Value, json};

/// The file format of a client's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Toml,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Toml => "toml",
        }
    }
}

/// One client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub id: &'static str,
    pub name: &'static str,
    pub format: Format,
    /// The key (JSON) or table (TOML) that holds the servers.
    pub servers_key: &'static str,
    pub note: Option<&'static str>,
}

pub const CLIENTS: &[Client] = &[
    Client {
        id: "claude-code",
        name: "Claude Code",
        format: Format::Json,
        servers_key: "mcpServers",
        note: None,
    },
    Client {
        id: "claude-desktop",
        name: "Claude Desktop",
        format: Format::Json,
        servers_key: "mcpServers",
        note: Some(
            "connects through the mcp-remote stdio bridge (npx -y mcp-remote); needs Node.js",
        ),
    },
    Client {
        id: "cursor",
        name: "Cursor",
        format: Format::Json,
        servers_key: "mcpServers",
        note: None,
    },
    Client {
        id: "windsurf",
        name: "Windsurf",
        format: Format::Json,
        servers_key: "mcpServers",
        note: None,
    },
    Client {
        id: "vscode",
        name: "VS Code",
        format: Format::Json,
        servers_key: "servers",
        note: None,
    },
    Client {
        id: "codex",
        name: "Codex CLI",
        format: Format::Toml,
        servers_key: "mcp_servers",
        note: None,
    },
    Client {
        id: "gemini",
        name: "Gemini CLI",
        format: Format::Json,
        servers_key: "mcpServers",
        note: None,
    },
];

pub fn find(id: &str) -> Option<&'static Client> {
    CLIENTS.iter().find(|c| c.id == id)
}

/// Where the home directory and the OS put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub home: PathBuf,
    /// `linux`, `macos` or `windows`.
    pub os: String,
    /// `%APPDATA%` on Windows.
    pub appdata: Option<PathBuf>,
}

impl Machine {
    fn app_support(&self) -> PathBuf {
        match self.os.as_str() {
            "macos" => self.home.join("Library/Application Support"),
            "windows" => self
                .appdata
                .clone()
                .unwrap_or_else(|| self.home.join("AppData").join("Roaming")),
            _ => self.home.join(".config"),
        }
    }

    /// The config file of a client (or an import format) on this machine.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        let home = &self.home;
        Some(match id {
            "claude-code" => home.join(".claude.json"),
            "claude-desktop" => self
                .app_support()
                .join("Claude")
                .join("claude_desktop_config.json"),
            "cursor" => home.join(".cursor").join("mcp.json"),
            "windsurf" => home
                .join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
            "vscode" => self
                .app_support()
                .join("Code")
                .join("User")
                .join("mcp.json"),
            "codex" => home.join(".codex").join("config.toml"),
            "gemini" => home.join(".gemini").join("settings.json"),
            _ => return None,
        })
    }
}

/// `url` with `?apikey=` for clients that cannot send a header from their config.
fn with_query_key(url: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!(
            "{url}{}apikey={k}",
            if url.contains('?') { '&' } else { '?' }
        ),
        None => url.to_owned(),
    }
}

fn with_header(mut entry: Map<String, Value>, key: Option<&str>) -> Value {
    if let Some(k) = key {
        entry.insert("headers".into(), json!({"X-API-Key": k}));
    }
    Value::Object(entry)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The entry that points `client` at the proxy, as JSON (TOML for Codex is built from it).
pub fn entry(client: &Client, endpoint: &ProxyEndpoint) -> Value {
    let url = endpoint.url.as_str();
    let key = endpoint.api_key.as_deref();
    match client.id {
        "claude-code" | "vscode" => with_header(object(json!({"type": "http", "url": url})), key),
        // Claude Desktop reads stdio servers only; mcp-remote bridges to HTTP. No space
        // after the colon: Claude Desktop passes arguments with spaces mangled.
        "claude-desktop" => {
            let mut args = vec![json!("-y"), json!("mcp-remote"), json!(url)];
            if let Some(k) = key {
                args.extend([json!("--header"), json!(format!("X-API-Key:{k}"))]);
            }
            json!({"command": "npx", "args": args})
        }
        "cursor" => with_header(object(json!({"url": url})), key),
        "windsurf" => with_header(object(json!({"serverUrl": url})), key),
        "gemini" => with_header(object(json!({"httpUrl": url})), key),
        // Codex's HTTP entries take header values only from environment variables.
        _ => json!({"url": with_query_key(url, key)}),
    }
}

/// Whether an existing entry points at the proxy's endpoint `url` (in any of the shapes
/// above, with or without a key).
pub fn points_at(entry: &Value, url: &str) -> bool {
    let same = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s == url || s.split('?').next() == Some(url))
    };
    ["url", "serverUrl", "httpUrl"]
        .iter()
        .any(|k| same(&entry[*k]))
        || entry["args"]
            .as_array()
            .is_some_and(|args| args.iter().any(same))
}

/// The description of an import format, for `GET /servers/import/paths`.
pub fn import_description(id: &str) -> &'static str {
    match id {
        "claude-desktop" => "Claude Desktop app configuration",
        "claude-code" => "Claude Code user-level MCP servers",
        "cursor" => "Cursor IDE global MCP servers",
        "codex" => "Codex CLI configuration (TOML)",
        "gemini" => "Gemini CLI user settings",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(os: &str) -> Machine {
        Machine {
            home: PathBuf::from("/home/u"),
            os: os.to_owned(),
            appdata: Some(PathBuf::from("C:/Users/u/AppData/Roaming")),
        }
    }

    #[test]
    fn paths_follow_each_clients_documentation() {
        let linux = machine("linux");
        assert_eq!(
            linux.path("claude-desktop").unwrap(),
            PathBuf::from("/home/u/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            linux.path("vscode").unwrap(),
            PathBuf::from("/home/u/.config/Code/User/mcp.json")
        );
        assert_eq!(
            machine("macos").path("claude-desktop").unwrap(),
            PathBuf::from("/home/u/Library/Application Support/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            machine("windows").path("vscode").unwrap(),
            PathBuf::from("C:/Users/u/AppData/Roaming/Code/User/mcp.json")
        );
        assert_eq!(
            linux.path("windsurf").unwrap(),
            PathBuf::from("/home/u/.codeium/windsurf/mcp_config.json")
        );
        assert_eq!(linux.path("nope"), None);
    }

    #[test]
    fn entries_carry_the_key_the_way_each_client_can() {
        let endpoint = ProxyEndpoint {
            url: "http://127.0.0.1:8080/mcp".into(),
            api_key: Some("k1".into()),
        };
        let code = entry(find("claude-code").unwrap(), &endpoint);
        assert_eq!(
            code,
            json!({"type": "http", "url": "http://127.0.0.1:8080/mcp", "headers": {"X-API-Key": "k1"}})
        );
        let desktop = entry(find("claude-desktop").unwrap(), &endpoint);
        assert_eq!(desktop["args"][3], "--header");
        assert_eq!(desktop["args"][4], "X-API-Key:k1");
        let codex = entry(find("codex").unwrap(), &endpoint);
        assert_eq!(codex["url"], "http://127.0.0.1:8080/mcp?apikey=k1");
        for client in CLIENTS {
            assert!(
                points_at(&entry(client, &endpoint), &endpoint.url),
                "{}",
                client.id
            );
        }
        assert!(!points_at(
            &json!({"url": "http://other/mcp"}),
            &endpoint.url
        ));
    }
}
