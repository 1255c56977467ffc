//! Reading the servers of another client's config, in the formats their documentation
//! gives: Claude Desktop and Cursor (`mcpServers` of `command`/`args`/`env` or `url`),
//! Claude Code (`~/.claude.json`: `mcpServers` with `type` stdio/http/sse), Gemini CLI
//! (`settings.json`: `command`, `url` for SSE, `httpUrl` for streamable HTTP, `cwd`) and
//! Codex (`config.toml`: `[mcp_servers.<name>]` with `command`, `args`, `env`, `cwd`, or
//! `url`, `http_headers`, `bearer_token_env_var`).
//!
//! `${NAME}` references in those files become this proxy's `${env:NAME}`, so a secret kept
//! in the environment stays there.

use std::path::Path;

use mcpproxy_application::ports::{ClientError, ForeignConfig, ForeignServer};
use mcpproxy_domain::{ServerConfig, ServerName};
use serde_json::{Map, Value};

use crate::docs::{JsonDoc, TomlDoc};

/// The formats, with their names.
pub const FORMATS: &[(&str, &str)] = &[
    ("claude-desktop", "Claude Desktop"),
    ("claude-code", "Claude Code"),
    ("cursor", "Cursor IDE"),
    ("codex", "Codex CLI"),
    ("gemini", "Gemini CLI"),
];

fn format_name(format: &str) -> &'static str {
    FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map_or("", |(_, n)| n)
}

/// Top-level keys only Claude Code's `~/.claude.json` has.
const CLAUDE_CODE_KEYS: &[&str] = &[
    "projects",
    "numStartups",
    "userID",
    "oauthAccount",
    "installMethod",
    "firstStartTime",
];
/// Top-level keys of Gemini CLI's `settings.json`.
const GEMINI_KEYS: &[&str] = &[
    "theme",
    "selectedAuthType",
    "general",
    "ui",
    "model",
    "security",
    "context",
    "tools",
    "contextFileName",
    "checkpointing",
];

/// Tells the format of a JSON config from its name and keys.
fn detect_json(root: &Map<String, Value>, file_name: &str) -> Option<&'static str> {
    let servers = root.get("mcpServers")?.as_object()?;
    let entries = || servers.values();
    if file_name == "claude_desktop_config.json" {
        return Some("claude-desktop");
    }
    if file_name == ".claude.json" || CLAUDE_CODE_KEYS.iter().any(|k| root.contains_key(*k)) {
        return Some("claude-code");
    }
    if file_name == "settings.json"
        || GEMINI_KEYS.iter().any(|k| root.contains_key(*k))
        || entries().any(|e| e.get("httpUrl").is_some() || e.get("cwd").is_some())
    {
        return Some("gemini");
    }
    if entries().any(|e| e.get("type").is_some()) {
        return Some("claude-code");
    }
    if file_name == "mcp.json" || entries().any(|e| e.get("url").is_some()) {
        return Some("cursor");
    }
    Some("claude-desktop")
}

/// `${NAME}` → `${env:NAME}`; other text as it is.
fn env_refs(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end)
                if !after[..end].is_empty()
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.push_str("${env:");
                out.push_str(&after[..end]);
                out.push('}');
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Gemini CLI also reads `$NAME`: → `${env:NAME}`.
fn bare_refs(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let name_len = text[i + 1..]
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .count();
        if c == '$' && name_len > 0 && !text[i + 1..].starts_with(|ch: char| ch.is_ascii_digit()) {
            out.push_str("${env:");
            out.push_str(&text[i + 1..i + 1 + name_len]);
            out.push('}');
            for _ in 0..name_len {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(env_refs).collect())
        .unwrap_or_default()
}

fn string_map(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), env_refs);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().map(env_refs).unwrap_or_default()
}

/// A server entry of any of the formats as this proxy's entry.
fn convert(format: &str, name: &str, entry: &Value) -> Result<ServerConfig, String> {
    let clean: String = name
        .chars()
        .map(|c| if c == ':' || c.is_control() { '-' } else { c })
        .collect();
    let mut server = ServerConfig::new(ServerName::parse(clean.trim()).map_err(|e| e.to_string())?);
    server.command = text(&entry["command"]);
    server.args = strings(&entry["args"]);
    server.env = string_map(&entry["env"]);
    server.working_dir = text(&entry["cwd"]);
    match format {
        "gemini" => {
            if let Some(url) = entry["httpUrl"].as_str() {
                server.url = env_refs(url);
                server.protocol = "http".into();
            } else if let Some(url) = entry["url"].as_str() {
                server.url = env_refs(url);
                server.protocol = "sse".into();
            }
            server.headers = string_map(&entry["headers"]);
            for value in server.env.values_mut().chain(server.headers.values_mut()) {
                *value = bare_refs(value);
            }
            for arg in &mut server.args {
                *arg = bare_refs(arg);
            }
        }
        "codex" => {
            server.url = text(&entry["url"]);
            server.headers = string_map(&entry["http_headers"]);
            for (header, var) in string_map(&entry["env_http_headers"]) {
                server.headers.insert(header, format!("${{env:{var}}}"));
            }
            if let Some(var) = entry["bearer_token_env_var"].as_str() {
                server
                    .headers
                    .insert("Authorization".into(), format!("Bearer ${{env:{var}}}"));
            }
            if !server.url.is_empty() {
                server.protocol = "http".into();
            }
            if entry["enabled"] == Value::Bool(false) {
                server.enabled = false;
            }
        }
        _ => {
            server.url = text(&entry["url"]);
            server.headers = string_map(&entry["headers"]);
            server.protocol = match entry["type"].as_str() {
                Some("stdio") => "stdio",
                Some("sse") => "sse",
                Some("http" | "streamable-http" | "streamableHttp") => "http",
                _ => "",
            }
            .into();
        }
    }
    if server.command.is_empty() && server.url.is_empty() {
        return Err(
            "missing required field: command (a local server) or url (a remote one)".into(),
        );
    }
    if server.protocol.is_empty() {
        server.protocol = if server.command.is_empty() {
            "http"
        } else {
            "stdio"
        }
        .into();
    }
    if entry["disabled"] == Value::Bool(true) {
        server.enabled = false;
    }
    Ok(server)
}

fn servers(format: &str, entries: Vec<(String, Value)>) -> Vec<ForeignServer> {
    entries
        .into_iter()
        .map(|(name, original)| ForeignServer {
            config: convert(format, &name, &original),
            original_name: name,
            original,
        })
        .collect()
}

/// Parses `text` (of the file `file_name`) in `format`, or in the format it looks like.
pub fn parse(
    path: &Path,
    text: &str,
    file_name: &str,
    format: Option<&str>,
) -> Result<ForeignConfig, ClientError> {
    if let Some(f) = format
        && format_name(f).is_empty()
    {
        return Err(ClientError::UnknownFormat(f.to_owned()));
    }
    let is_toml = format == Some("codex") || (format.is_none() && file_name.ends_with(".toml"));
    if is_toml {
        let doc = TomlDoc::parse(path, text, "mcp_servers")?;
        return Ok(ForeignConfig {
            format: "codex".into(),
            format_name: format_name("codex").into(),
            servers: servers("codex", doc.servers()),
            warnings: Vec::new(),
        });
    }
    let doc = JsonDoc::parse(path, text, "mcpServers")?;
    let root = doc.root();
    let format = match format {
        Some(f) => f,
        None => detect_json(root, file_name)
            .ok_or_else(|| ClientError::UnknownShape(path.display().to_string()))?,
    };
    let entries: Vec<(String, Value)> = root
        .get("mcpServers")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut warnings = Vec::new();
    if format == "claude-code" {
        let project_servers: usize = root
            .get("projects")
            .and_then(Value::as_object)
            .map(|p| {
                p.values()
                    .filter_map(|proj| proj["mcpServers"].as_object())
                    .map(Map::len)
                    .sum()
            })
            .unwrap_or(0);
        if project_servers > 0 {
            warnings.push(format!(
                "{project_servers} project-scoped server(s) under \"projects\" were not imported; only the user-level mcpServers were"
            ));
        }
    }
    if entries.is_empty() {
        warnings.push(format!(
            "no servers under \"mcpServers\" in {}",
            path.display()
        ));
    }
    Ok(ForeignConfig {
        format: format.to_owned(),
        format_name: format_name(format).to_owned(),
        servers: servers(format, entries),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_become_env_references() {
        assert_eq!(
            env_refs("Bearer ${GITHUB_TOKEN}"),
            "Bearer ${env:GITHUB_TOKEN}"
        );
        assert_eq!(
            env_refs("${env:X} and ${A:-b} and $PLAIN"),
            "${env:X} and ${A:-b} and $PLAIN"
        );
    }

    #[test]
    fn formats_are_told_apart() {
        let p = Path::new("x");
        let desktop = r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "pkg"]}}}"#;
        assert_eq!(
            parse(p, desktop, "claude_desktop_config.json", None)
                .unwrap()
                .format,
            "claude-desktop"
        );
        let code =
            r#"{"numStartups": 3, "mcpServers": {"gh": {"type": "http", "url": "https://x/mcp"}}}"#;
        assert_eq!(
            parse(p, code, "backup.json", None).unwrap().format,
            "claude-code"
        );
        let gemini = r#"{"theme": "GitHub", "mcpServers": {"s": {"httpUrl": "https://x/mcp"}}}"#;
        assert_eq!(parse(p, gemini, "s.json", None).unwrap().format, "gemini");
        let cursor = r#"{"mcpServers": {"r": {"url": "https://x/sse"}}}"#;
        assert_eq!(parse(p, cursor, "mcp.json", None).unwrap().format, "cursor");
        assert!(matches!(
            parse(p, "{}", "a.json", None),
            Err(ClientError::UnknownShape(_))
        ));
        assert!(matches!(
            parse(p, desktop, "a.json", Some("zed")),
            Err(ClientError::UnknownFormat(_))
        ));
    }
}
