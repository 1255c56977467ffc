//! The config gates hold import, add-from-registry, registry sources, connect and prompt
//! approvals on every surface with the gate's code, and nothing is written: not the
//! proxy's config, not a client's file. Reading (lists, statuses, reviews) stays open.

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Answer;
use mcpproxy_tests::{Ran, fixture};
use serde_json::{Value, json};

use crate::start;

fn rest_refused(answer: &Answer, code: &str, what: &str) {
    assert_eq!(answer.status.as_u16(), 403, "{what}: {}", answer.text);
    assert_eq!(answer.json()["code"], code, "{what}: {}", answer.text);
}

fn cli_refused(ran: &Ran, code: &str, what: &str) {
    assert_eq!(ran.code, Some(1), "{what}: {} {}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains(&format!("[{code}]")),
        "{what} should say [{code}]: {}",
        ran.stderr
    );
}

fn mcp_refused(result: &Value, code: &str, what: &str) {
    assert_eq!(result["isError"], true, "{what}: {result}");
    let body: Value = serde_json::from_str(&text(result))
        .unwrap_or_else(|_| panic!("{what}: not a status object: {result}"));
    assert_eq!(body["status"], code, "{what}: {body}");
}

#[tokio::test]
async fn read_only_mode_holds_import_registries_connect_and_prompt_approvals() {
    let (home, proxy, api) = start(&json!({
        "read_only_mode": true,
        "mcpServers": [{"name": "web", "url": "http://127.0.0.1:9/mcp", "enabled": false}]
    }))
    .await;
    let cursor = home.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    let sample = std::fs::read_to_string(fixture("clients/cursor-mcp.json")).unwrap();
    std::fs::write(&cursor, &sample).unwrap();
    let config_before = std::fs::read_to_string(home.config_path()).unwrap();
    let code = "READ_ONLY_MODE";

    // Import: REST (a preview too: it would show what the gate refuses), and the CLI.
    for preview in ["false", "true"] {
        let answer = api
            .post(
                &format!("/servers/import/json?preview={preview}"),
                &json!({"content": sample}),
            )
            .await;
        rest_refused(&answer, code, "REST import");
    }
    let path = cursor.display().to_string();
    cli_refused(
        &home.cli(&["upstream", "import", &path]).await,
        code,
        "CLI import",
    );

    // A registry: adding one of its servers (refused before any fetch: nothing listens at
    // the registry's address here), and the sources.
    let answer = api
        .post(
            "/registries/official/servers/io.github.upstash%2Fcontext7/add",
            &json!({}),
        )
        .await;
    rest_refused(&answer, code, "REST add from registry");
    let answer = api
        .post(
            "/registries",
            &json!({"url": "https://registry.example.com"}),
        )
        .await;
    rest_refused(&answer, code, "REST registry source");
    cli_refused(
        &home
            .cli(&["registry", "add-source", "https://registry.example.com"])
            .await,
        code,
        "CLI registry source",
    );
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    let result = mcp
        .call(
            "upstream_servers",
            json!({"operation": "add_from_registry", "registry": "official", "id": "x"}),
        )
        .await;
    mcp_refused(&result, code, "MCP add_from_registry");
    mcp.close().await;

    // Connect: REST and the CLI; the client's file is as it was, and no backup was made.
    rest_refused(
        &api.post("/connect/cursor", &json!({})).await,
        code,
        "REST connect",
    );
    rest_refused(
        &api.delete("/connect/cursor").await,
        code,
        "REST disconnect",
    );
    cli_refused(&home.cli(&["connect", "cursor"]).await, code, "CLI connect");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), sample);
    assert_eq!(
        std::fs::read_dir(cursor.parent().unwrap()).unwrap().count(),
        1,
        "no backup"
    );

    // Prompt approvals, like tool approvals.
    rest_refused(
        &api.post("/servers/web/prompts/approve", &json!({})).await,
        code,
        "REST prompt approval",
    );

    assert_eq!(
        std::fs::read_to_string(home.config_path()).unwrap(),
        config_before
    );
    // Reading is not a change.
    api.get("/connect").await.data();
    api.get("/registries").await.data();
    api.get("/servers/web/prompts").await.data();
    home.cli(&["connect", "--list"]).await.ok();
}

#[tokio::test]
async fn allow_server_add_false_holds_import_and_registry_adds_but_not_connect() {
    let (home, proxy, api) = start(&json!({"allow_server_add": false})).await;
    let code = "SERVER_ADD_NOT_ALLOWED";
    let sample = std::fs::read_to_string(fixture("clients/cursor-mcp.json")).unwrap();
    rest_refused(
        &api.post("/servers/import/json", &json!({"content": sample}))
            .await,
        code,
        "REST import",
    );
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    let result = mcp
        .call(
            "upstream_servers",
            json!({"operation": "add_from_registry", "registry": "reference", "id": "time"}),
        )
        .await;
    mcp_refused(&result, code, "MCP add_from_registry");
    mcp.close().await;
    assert_eq!(api.get("/servers").await.data()["total"], 0);
    // Pointing a client at the proxy adds no server.
    api.post("/connect/cursor", &json!({})).await.data();
    assert!(home.path().join(".cursor/mcp.json").exists());
}
