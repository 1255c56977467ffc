//! Import: each client's documented config format read into servers, a dry run that changes
//! nothing, duplicates reported and left as they are, plaintext secrets reported or moved
//! into a real OS keyring (`--to-keyring`), and the REST routes (content, a file, an upload,
//! the files found on this machine).

use std::path::{Path, PathBuf};

use mcpproxy_tests::keyring::{SecretService, guarded_fixture};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture, fixture_bin};
use serde_json::{Value, json};

use crate::{KEY, start};

fn sample(name: &str) -> PathBuf {
    fixture(&format!("clients/{name}"))
}

/// `sample` copied into `dir` as `file_name` (some formats are told by the file's name).
fn copy_as(dir: &Path, name: &str, file_name: &str) -> String {
    let to = dir.join(file_name);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(sample(name), &to).unwrap();
    to.display().to_string()
}

fn server(config: &Value, name: &str) -> Value {
    config["mcpServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {config}"))
        .clone()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn import(home: &Home, args: &[&str]) -> Value {
    let mut all = vec!["upstream", "import"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    home.cli(&all).await.json()
}

#[tokio::test]
async fn each_clients_file_imports_as_its_documentation_describes() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k"}).to_string());
    let files = tempfile::tempdir().unwrap();

    let desktop = sample("claude_desktop_config.json");
    let report = import(&home, &[desktop.to_str().unwrap()]).await;
    assert_eq!(report["format"], "claude-desktop");
    assert_eq!(names(&report["imported"]), ["filesystem", "github"]);
    assert_eq!(report["secrets"][0]["key"], "GITHUB_PERSONAL_ACCESS_TOKEN");
    assert_eq!(report["secrets"][0]["server"], "github");
    assert_eq!(report["secrets"][0]["in_keyring"], false);
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("`mcpproxy secrets migrate` moves them into the OS keyring"),
        "{report}"
    );

    let code = import(
        &home,
        &[
            sample("claude.json").to_str().unwrap(),
            "--format",
            "claude-code",
        ],
    )
    .await;
    assert_eq!(names(&code["imported"]), ["airtable", "sentry"]);
    assert_eq!(
        code["failed"][0]["name"], "api-server",
        "a ${{VAR:-default}} URL cannot be kept: {code}"
    );
    assert!(
        code["warnings"][0]
            .as_str()
            .unwrap()
            .contains("project-scoped"),
        "{code}"
    );

    let cursor = import(
        &home,
        &[&copy_as(
            files.path(),
            "cursor-mcp.json",
            ".cursor/mcp.json",
        )],
    )
    .await;
    assert_eq!(cursor["format"], "cursor");
    assert_eq!(names(&cursor["imported"]), ["server-name", "remote-server"]);

    let codex = import(&home, &[sample("codex-config.toml").to_str().unwrap()]).await;
    assert_eq!(codex["format"], "codex");
    assert_eq!(names(&codex["imported"]), ["context7", "figma"]);

    let gemini = import(
        &home,
        &[&copy_as(
            files.path(),
            "gemini-settings.json",
            ".gemini/settings.json",
        )],
    )
    .await;
    assert_eq!(gemini["format"], "gemini");
    assert_eq!(
        names(&gemini["imported"]),
        ["pythonTools", "httpServer", "sseServer"]
    );

    let saved = home.read_config();
    let fs = server(&saved, "filesystem");
    assert_eq!(fs["command"], "npx");
    assert_eq!(fs["args"][1], "@modelcontextprotocol/server-filesystem");
    assert_eq!(fs["quarantined"], true);
    assert_eq!(
        server(&saved, "github")["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "ghp_exampletoken0123456789"
    );
    assert_eq!(
        server(&saved, "airtable")["env"]["AIRTABLE_API_KEY"],
        "${env:AIRTABLE_API_KEY}"
    );
    assert_eq!(
        server(&saved, "sentry")["url"],
        "https://mcp.sentry.dev/mcp"
    );
    assert_eq!(server(&saved, "sentry")["protocol"], "http");
    assert_eq!(
        server(&saved, "remote-server")["headers"]["API_KEY"],
        "${env:MY_SERVICE_TOKEN}"
    );
    assert_eq!(
        server(&saved, "context7")["env"]["MY_ENV_VAR"],
        "MY_ENV_VALUE"
    );
    let figma = server(&saved, "figma");
    assert_eq!(
        figma["headers"]["Authorization"],
        "Bearer ${env:FIGMA_OAUTH_TOKEN}"
    );
    assert_eq!(figma["headers"]["X-Figma-Region"], "us-east-1");
    let python = server(&saved, "pythonTools");
    assert_eq!(python["working_dir"], "./mcp-servers/python");
    assert_eq!(python["env"]["DATABASE_URL"], "${env:DB_CONNECTION_STRING}");
    assert_eq!(python["env"]["API_KEY"], "${env:EXTERNAL_API_KEY}");
    assert_eq!(server(&saved, "httpServer")["protocol"], "http");
    assert_eq!(server(&saved, "sseServer")["protocol"], "sse");
    assert!(
        saved["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["quarantined"] == true)
    );
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_duplicates_are_reported_not_overwritten() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [{"name": "github", "command": "my-own-github"}]})
            .to_string(),
    );
    let desktop = sample("claude_desktop_config.json");
    let before = std::fs::read(home.config_path()).unwrap();

    let dry = import(&home, &[desktop.to_str().unwrap(), "--dry-run"]).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(names(&dry["imported"]), ["filesystem"]);
    assert_eq!(dry["skipped"][0]["name"], "github");
    assert!(
        dry["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(
        std::fs::read(home.config_path()).unwrap(),
        before,
        "a dry run writes nothing"
    );

    let only = import(
        &home,
        &[
            desktop.to_str().unwrap(),
            "-s",
            "filesystem",
            "--no-quarantine",
        ],
    )
    .await;
    assert_eq!(
        only["summary"],
        json!({"total": 1, "imported": 1, "skipped": 0, "failed": 0})
    );
    assert_eq!(only["imported"][0]["quarantined"], false);
    let again = import(&home, &[desktop.to_str().unwrap()]).await;
    assert_eq!(again["summary"]["skipped"], 2);
    assert_eq!(again["summary"]["imported"], 0);
    let saved = home.read_config();
    assert_eq!(
        server(&saved, "github")["command"],
        "my-own-github",
        "not overwritten"
    );
    assert_eq!(saved["mcpServers"].as_array().unwrap().len(), 2);

    let table = home
        .cli(&["upstream", "import", desktop.to_str().unwrap()])
        .await;
    assert!(table.ok().contains("skipped"), "{}", table.stdout);
}

#[tokio::test]
async fn the_api_imports_content_files_and_uploads_and_lists_this_machines_files() {
    let fixture_cmd = fixture_bin().display().to_string();
    let desktop = json!({"mcpServers": {
        "fx-one": {"command": fixture_cmd, "args": ["--name", "one"]},
        "fx-two": {"command": fixture_cmd, "args": ["--name", "two"], "env": {"API_TOKEN": "plain-secret"}}
    }});
    let (home, _proxy, api) = start(&json!({})).await;
    let desktop_path = home
        .path()
        .join(".config/Claude/claude_desktop_config.json");
    std::fs::create_dir_all(desktop_path.parent().unwrap()).unwrap();
    std::fs::write(&desktop_path, desktop.to_string()).unwrap();

    let paths = api.get("/servers/import/paths").await.data();
    let found = |name: &str| {
        paths["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(found("Claude Desktop")["exists"], true, "{paths}");
    assert_eq!(
        found("Claude Desktop")["path"],
        desktop_path.display().to_string()
    );
    assert_eq!(found("Cursor IDE")["exists"], false);

    let preview = api
        .post(
            "/servers/import/json?preview=true",
            &json!({"content": desktop.to_string(), "format": "claude-desktop"}),
        )
        .await
        .data();
    assert_eq!(preview["summary"]["imported"], 2);
    assert!(
        api.get("/servers").await.data()["servers"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a preview adds nothing"
    );

    let imported = api
        .post(
            "/servers/import/path",
            &json!({"path": desktop_path, "server_names": ["fx-two"]}),
        )
        .await
        .data();
    assert_eq!(names(&imported["imported"]), ["fx-two"]);
    assert_eq!(imported["secrets"][0]["key"], "API_TOKEN");
    let servers = api.get("/servers").await.data();
    assert_eq!(servers["servers"][0]["name"], "fx-two");
    assert_eq!(servers["servers"][0]["quarantined"], true);

    let codex = format!(
        "[mcp_servers.fx-three]\ncommand = {fixture_cmd:?}\nargs = [\"--name\", \"three\"]\n"
    );
    // A browser's upload: multipart/form-data with the file as `file`.
    let boundary = "mcpproxy-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"config.toml\"\r\nContent-Type: application/toml\r\n\r\n{codex}\r\n--{boundary}--\r\n"
    );
    let upload = api
        .request(reqwest::Method::POST, "/servers/import")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    let uploaded = api.send(upload).await.data();
    assert_eq!(uploaded["format"], "codex");
    assert_eq!(names(&uploaded["imported"]), ["fx-three"]);

    let duplicate = api
        .post("/servers/import/path", &json!({"path": desktop_path}))
        .await
        .data();
    assert_eq!(duplicate["skipped"][0]["name"], "fx-two");
    assert_eq!(names(&duplicate["imported"]), ["fx-one"]);

    api.post(
        "/servers/import/json",
        &json!({"content": "{\n  \"mcpServers\": {,\n}"}),
    )
    .await
    .refused(400, "line 2");
}

/// A Claude Desktop file with the guarded fixture `name`, its token in plain text.
fn desktop_with_token(dir: &Path, name: &str, token: &str) -> PathBuf {
    let (command, args) = guarded_fixture(name, token);
    let file = dir.join(format!("{name}_claude_desktop_config.json"));
    let entry = json!({"command": command, "args": args,
        "env": {"FIXTURE_TOKEN": token, "LOG_LEVEL": "debug"}});
    std::fs::write(&file, json!({"mcpServers": {name: entry}}).to_string()).unwrap();
    file
}

/// `mcpproxy upstream import <args> -o json` with the keyring on its session bus.
async fn import_with(home: &Home, keyring: &SecretService, args: &[&str]) -> Value {
    let mut all = vec!["upstream", "import"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    home.cli_with(&all, None, |c| keyring.apply(c)).await.json()
}

async fn wait_ready(api: &Rest, name: &str) {
    eventually_async(&format!("{name} ready"), || async {
        let servers = api.get("/servers").await.data();
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == name && s["status"] == "Ready")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn to_keyring_moves_imported_tokens_into_the_keyring_and_the_server_runs_with_them() {
    const TOKEN: &str = "imp-Token-Value-5b8e2d91c4";
    let keyring = SecretService::start().await;
    let home = Home::new();
    home.write_config(&json!({"api_key": KEY}).to_string());
    let files = tempfile::tempdir().unwrap();
    let desktop = desktop_with_token(files.path(), "kr-imp", TOKEN);
    let desktop = desktop.to_str().unwrap();
    // A dry run without the option names the secret and the command that would move it.
    let dry = import_with(&home, &keyring, &[desktop, "--dry-run"]).await;
    assert_eq!(dry["secrets"][0]["key"], "FIXTURE_TOKEN", "{dry}");
    assert_eq!(dry["secrets"][0]["in_keyring"], false);
    assert_eq!(
        dry["keyring"]["command"],
        format!("mcpproxy upstream import {desktop} --to-keyring")
    );
    assert!(!dry.to_string().contains(TOKEN), "{dry}");

    // Without a proxy running: into the keyring, and only the reference into the config.
    let report = import_with(
        &home,
        &keyring,
        &[desktop, "--to-keyring", "--no-quarantine"],
    )
    .await;
    assert_eq!(names(&report["imported"]), ["kr-imp"], "{report}");
    assert_eq!(report["secrets"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["secrets"][0]["in_keyring"], true);
    assert_eq!(
        report["secrets"][0]["reference"],
        "${keyring:kr-imp_fixture_token}"
    );
    assert_eq!(report["keyring"]["stored"], 1);
    let config_text = std::fs::read_to_string(home.config_path()).unwrap();
    assert!(!config_text.contains(TOKEN), "{config_text}");
    let saved = server(&home.read_config(), "kr-imp");
    assert_eq!(
        saved["env"]["FIXTURE_TOKEN"],
        "${keyring:kr-imp_fixture_token}"
    );
    assert_eq!(saved["env"]["LOG_LEVEL"], "debug");
    // Another tool finds it under service mcpproxy.
    let mut lookup = std::process::Command::new("secret-tool");
    lookup.args([
        "lookup",
        "service",
        "mcpproxy",
        "username",
        "kr-imp_fixture_token",
    ]);
    keyring.apply(&mut lookup);
    assert_eq!(
        String::from_utf8(lookup.output().unwrap().stdout).unwrap(),
        TOKEN
    );

    // The proxy resolves the reference: the server only starts with the right token.
    let _proxy = Proxy::start_with(&home, &[], |c| keyring.apply(c)).await;
    let api = Rest::new(&_proxy.url(""), Some(KEY));
    wait_ready(&api, "kr-imp").await;
    let called = api
        .post(
            "/tools/call",
            &json!({"tool_name": "kr-imp:echo", "arguments": {"message": "via keyring"}}),
        )
        .await
        .data();
    assert!(called.to_string().contains("via keyring"), "{called}");

    // Over REST (the running proxy's keyring): `to_keyring: true` on the content route.
    const OTHER: &str = "rest-Token-Value-0a9f3e77d2";
    let other = desktop_with_token(files.path(), "kr-rest", OTHER);
    let content = std::fs::read_to_string(&other).unwrap();
    let imported = api
        .post(
            "/servers/import/json?no_quarantine=true",
            &json!({"content": content, "to_keyring": true}),
        )
        .await
        .data();
    assert_eq!(
        imported["secrets"][0]["reference"], "${keyring:kr-rest_fixture_token}",
        "{imported}"
    );
    wait_ready(&api, "kr-rest").await;
}

#[tokio::test]
async fn to_keyring_without_a_keyring_says_so_and_imports_unchanged() {
    let home = Home::new();
    home.write_config(&json!({"api_key": KEY}).to_string());
    let files = tempfile::tempdir().unwrap();
    let desktop = desktop_with_token(files.path(), "no-kr", "plain-Token-Value-77c1d0");
    let ran = home
        .cli_with(
            &[
                "upstream",
                "import",
                desktop.to_str().unwrap(),
                "--to-keyring",
                "-o",
                "json",
            ],
            None,
            |c| {
                c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
            },
        )
        .await;
    let report = ran.json();
    assert_eq!(names(&report["imported"]), ["no-kr"], "{report}");
    assert_eq!(report["keyring"]["available"], false, "{report}");
    assert_eq!(report["keyring"]["command"], "mcpproxy secrets migrate");
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("keyring is not available") && warning.contains("imported unchanged"),
        "{warning}"
    );
    let saved = server(&home.read_config(), "no-kr");
    assert_eq!(saved["env"]["FIXTURE_TOKEN"], "plain-Token-Value-77c1d0");
}
