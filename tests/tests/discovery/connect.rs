//! `connect` / `disconnect` against a fake home: every client's file gains the proxy's entry
//! in its own shape, keeps everything else, is backed up first, and is restored by
//! `disconnect`; a malformed file is refused with its line and never written.

use std::path::{Path, PathBuf};

use mcpproxy_tests::{Home, fixture};
use serde_json::{Value, json};

use crate::start;

const URL: &str = "http://127.0.0.1:8080/mcp";

/// Each client: its id, its sample, where it lives under HOME, the key of its servers, and
/// the field of the proxy's entry that holds the endpoint.
const CLIENTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "claude-code",
        "claude.json",
        ".claude.json",
        "mcpServers",
        "url",
    ),
    (
        "claude-desktop",
        "claude_desktop_config.json",
        ".config/Claude/claude_desktop_config.json",
        "mcpServers",
        "args",
    ),
    (
        "cursor",
        "cursor-mcp.json",
        ".cursor/mcp.json",
        "mcpServers",
        "url",
    ),
    (
        "windsurf",
        "windsurf-mcp_config.json",
        ".codeium/windsurf/mcp_config.json",
        "mcpServers",
        "serverUrl",
    ),
    (
        "vscode",
        "vscode-mcp.json",
        ".config/Code/User/mcp.json",
        "servers",
        "url",
    ),
    (
        "codex",
        "codex-config.toml",
        ".codex/config.toml",
        "mcp_servers",
        "url",
    ),
    (
        "gemini",
        "gemini-settings.json",
        ".gemini/settings.json",
        "mcpServers",
        "httpUrl",
    ),
];

fn place(home: &Home, sample: &str, at: &str) -> PathBuf {
    let to = home.path().join(at);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixture(&format!("clients/{sample}")), &to).unwrap();
    to
}

fn backups(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.bak."))
        })
        .collect()
}

/// The document as JSON (TOML read through its tables).
fn parsed(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "toml") {
        let mut out = serde_json::Map::new();
        for line in text.lines().filter(|l| l.starts_with("[mcp_servers.")) {
            out.insert(line.to_owned(), Value::Bool(true));
        }
        out.insert("text".into(), Value::String(text));
        Value::Object(out)
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

#[tokio::test]
async fn each_clients_file_gains_the_entry_keeps_the_rest_and_disconnect_restores_it() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k"}).to_string());
    for (client, sample, at, key, field) in CLIENTS {
        let path = place(&home, sample, at);
        let original_text = std::fs::read_to_string(&path).unwrap();
        let original = parsed(&path);
        let done = home.cli(&["connect", client]).await;
        assert!(
            done.ok().contains("registered"),
            "{client}: {}",
            done.stdout
        );

        // A backup of the file as it was.
        let saved = backups(&path);
        assert_eq!(saved.len(), 1, "{client}: one backup");
        assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), original_text);

        let text = std::fs::read_to_string(&path).unwrap();
        if *client == "codex" {
            assert!(
                text.starts_with(&original_text),
                "comments and layout kept:\n{text}"
            );
            assert!(
                text.contains(&format!("[mcp_servers.mcpproxy]\nurl = \"{URL}\"")),
                "{text}"
            );
        } else {
            let mut now: Value = serde_json::from_str(&text).unwrap();
            let entry = now[key]["mcpproxy"].take();
            let endpoint = if *field == "args" {
                entry["args"][2].clone()
            } else {
                entry[*field].clone()
            };
            assert_eq!(endpoint, URL, "{client}: {entry}");
            now[key].as_object_mut().unwrap().remove("mcpproxy");
            assert_eq!(now, original, "{client}: every other key kept");
        }
        if *client == "vscode" {
            assert!(text.contains("\n\t\"servers\""), "tabs kept:\n{text}");
        }

        // Again: nothing to do, nothing written.
        let again = home.cli(&["connect", client]).await;
        assert!(again.ok().contains("already connected"), "{}", again.stdout);
        assert_eq!(backups(&path).len(), 1);

        home.cli(&["disconnect", client]).await.ok();
        assert_eq!(parsed(&path), original, "{client}: disconnect restores it");
        if *client == "codex" {
            assert_eq!(std::fs::read_to_string(&path).unwrap(), original_text);
        }
    }
    let listed = home.cli(&["connect", "--list", "-o", "json"]).await.json();
    assert_eq!(listed["total"], 7);
    assert!(
        listed["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["exists"] == true && c["connected"] == false)
    );
}

#[tokio::test]
async fn a_malformed_file_is_refused_with_its_line_and_never_written() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k"}).to_string());
    let cursor = home.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    let broken = "{\n  \"mcpServers\": {\n    \"fs\": {\"command\": \"npx\"},\n  }\n}\n";
    std::fs::write(&cursor, broken).unwrap();
    home.cli(&["connect", "cursor"]).await.failed(1, "line 4");
    home.cli(&["disconnect", "cursor"])
        .await
        .failed(1, "line 4");
    let codex = home.path().join(".codex/config.toml");
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    std::fs::write(&codex, "model = \"o3\"\n[mcp_servers.fs\n").unwrap();
    home.cli(&["connect", "codex"]).await.failed(1, "line 2");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), broken);
    assert!(backups(&cursor).is_empty() && backups(&codex).is_empty());
    let listed = home.cli(&["connect", "--list", "-o", "json"]).await.json();
    let status = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "cursor")
        .unwrap()
        .clone();
    assert!(
        status["error"].as_str().unwrap().contains("line 4"),
        "{status}"
    );
}

#[tokio::test]
async fn an_entry_that_points_elsewhere_is_replaced_only_with_force() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "secret-key", "require_mcp_auth": true}).to_string());
    let cursor = home.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    std::fs::write(
        &cursor,
        json!({"mcpServers": {"mcpproxy": {"url": "http://elsewhere/mcp"}}}).to_string(),
    )
    .unwrap();
    home.cli(&["connect", "cursor"]).await.failed(1, "--force");
    home.cli(&["connect", "cursor", "--force"]).await.ok();
    let now: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    // The endpoint asks for the key, so the entry carries it.
    assert_eq!(
        now["mcpServers"]["mcpproxy"],
        json!({"url": URL, "headers": {"X-API-Key": "secret-key"}})
    );
    home.cli(&["connect", "cursor", "--name", "proxy-two"])
        .await
        .ok();
    let now: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(now["mcpServers"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn the_api_and_the_running_proxy_connect_clients_too() {
    let (home, proxy, api) = start(&json!({})).await;
    let vscode = home.path().join(".config/Code/User/mcp.json");
    let done = api.post("/connect/vscode", &json!({})).await.data();
    assert_eq!(done["action"], "connected");
    assert!(
        done.get("backup_path").is_none(),
        "a new file has nothing to back up"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&vscode).unwrap()).unwrap();
    // The address the proxy really listens on.
    assert_eq!(written["servers"]["mcpproxy"]["url"], proxy.url("/mcp"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&vscode).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let status = api.get("/connect/vscode").await.data();
    assert_eq!(status["connected"], true);
    api.get("/connect/nope")
        .await
        .refused(404, "unknown client");
    // The command line goes through the running proxy.
    let cli = home.cli(&["disconnect", "vscode"]).await;
    assert!(cli.ok().contains("removed"), "{}", cli.stdout);
    let listed = api.get("/connect").await.data();
    let vs = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vscode")
        .unwrap()
        .clone();
    assert_eq!(vs["connected"], false);
    assert_eq!(vs["exists"], true);
}

#[tokio::test]
async fn connect_all_touches_only_the_clients_set_up_here() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k"}).to_string());
    let cursor = place(&home, "cursor-mcp.json", ".cursor/mcp.json");
    let gemini = place(&home, "gemini-settings.json", ".gemini/settings.json");
    let all = home.cli(&["connect", "--all", "-o", "json"]).await.json();
    let outcomes = all.as_array().unwrap();
    assert_eq!(outcomes.len(), 7);
    let connected: Vec<&str> = outcomes
        .iter()
        .filter(|o| o["result"]["action"] == "connected")
        .map(|o| o["client"].as_str().unwrap())
        .collect();
    assert_eq!(connected, ["cursor", "gemini"]);
    assert!(
        outcomes
            .iter()
            .filter(|o| o["error"].is_string())
            .all(|o| o["error"].as_str().unwrap().starts_with("skipped"))
    );
    assert!(
        !home.path().join(".codex").exists(),
        "no config made for a client that is not here"
    );
    for path in [cursor, gemini] {
        assert!(std::fs::read_to_string(&path).unwrap().contains(URL));
    }
}
