//! The config gates hold on every surface: each gate refuses each action it covers over MCP,
//! the REST API and the command line alike, with the same reason code, and nothing changes —
//! against the real binary, a real fixture server and the real config file.
//!
//! The surfaces: MCP is the management tools (`upstream_servers`, `quarantine_security`) and
//! the prompts of every endpoint; REST is `/api/v1`; the CLI talks to the daemon (and to the
//! files when none runs). Prompts have no REST or CLI surface yet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::{Answer, Rest};
use mcpproxy_tests::{Home, Proxy, Ran, conformance_bin, eventually_async, fixture_bin};

const KEY: &str = "gates-test-key";

struct Rig {
    home: Home,
    proxy: Proxy,
    api: Rest,
}

/// A proxy with the trusted fixture `fx`, a remote server `web` (disabled: nobody listens
/// there) and the top-level keys of `extra`; `fx` ready.
async fn rig(extra: Value) -> Rig {
    let home = Home::new();
    let mut config = json!({"api_key": KEY, "mcpServers": [
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"]},
        {"name": "web", "url": "http://127.0.0.1:9/mcp", "enabled": false},
    ]});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    eventually_async("fx ready", || async {
        let servers = api.get("/servers").await.data();
        (servers["servers"][0]["status"] == "Ready").then_some(())
    })
    .await;
    Rig { home, proxy, api }
}

impl Rig {
    async fn cli(&self, args: &[&str]) -> Ran {
        self.home.cli(args).await
    }

    async fn tool_state(&self, tool: &str) -> Option<String> {
        let tools = self.api.get("/servers/fx/tools").await.data();
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tool)
            .map(|t| t["state"].as_str().unwrap().to_owned())
    }

    /// Makes the fixture offer a new tool, which waits for approval.
    async fn pending_tool(&self, mcp: &Client, tool: &str) {
        let added = mcp
            .call(
                "call_tool_write",
                json!({"name": "fx:add_tool", "args": {"name": tool, "description": "new"}}),
            )
            .await;
        assert_ne!(added["isError"], true, "{added}");
        eventually_async("the new tool pending", || async {
            (self.tool_state(tool).await.as_deref() == Some("pending")).then_some(())
        })
        .await;
    }
}

fn rest_refused(answer: &Answer, code: &str, what: &str) {
    let body = answer.json();
    assert_eq!(answer.status.as_u16(), 403, "{what}: {}", answer.text);
    assert_eq!(body["success"], false, "{what}");
    assert_eq!(body["code"], code, "{what}: {body}");
}

fn cli_refused(ran: &Ran, code: &str, what: &str) {
    assert_eq!(
        ran.code,
        Some(1),
        "{what}: stdout {} stderr {}",
        ran.stdout,
        ran.stderr
    );
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

/// Every change `read_only_mode` and `disable_management` hold, on every surface that has
/// it; afterwards the config file, the approvals and the key are as they were.
async fn every_change_is_refused(rig: &Rig, code: &str) {
    let mcp = Client::connect(&rig.proxy.url("/mcp")).await;
    rig.pending_tool(&mcp, "fresh").await;
    let before = std::fs::read_to_string(rig.home.config_path()).unwrap();

    // MCP: the management tools are not offered, and calling them anyway is refused.
    let names = mcp.tool_names().await;
    assert!(
        !names
            .iter()
            .any(|n| n == "upstream_servers" || n == "quarantine_security"),
        "{names:?}"
    );
    for (tool, args) in [
        (
            "upstream_servers",
            json!({"operation": "add", "name": "new", "command": "x"}),
        ),
        (
            "upstream_servers",
            json!({"operation": "remove", "name": "fx"}),
        ),
        (
            "upstream_servers",
            json!({"operation": "patch", "name": "fx", "enabled": false}),
        ),
        (
            "upstream_servers",
            json!({"operation": "disable", "name": "fx"}),
        ),
        (
            "upstream_servers",
            json!({"operation": "restart", "name": "fx"}),
        ),
        (
            "quarantine_security",
            json!({"operation": "quarantine_server", "name": "fx"}),
        ),
        (
            "quarantine_security",
            json!({"operation": "approve_tool", "name": "fx", "tool_name": "fresh"}),
        ),
        (
            "quarantine_security",
            json!({"operation": "block_tool", "name": "fx", "tool_name": "echo"}),
        ),
    ] {
        let what = format!("MCP {tool} {}", args["operation"]);
        mcp_refused(&mcp.call(tool, args).await, code, &what);
    }

    // REST.
    let api = &rig.api;
    let new_server = json!({"name": "new", "command": fixture_bin(), "quarantined": false});
    rest_refused(&api.post("/servers", &new_server).await, code, "add");
    rest_refused(&api.delete("/servers/fx").await, code, "remove");
    rest_refused(
        &api.patch("/servers/fx", &json!({"enabled": false})).await,
        code,
        "patch",
    );
    for action in [
        "enable",
        "disable",
        "restart",
        "quarantine",
        "unquarantine",
        "discover-tools",
    ] {
        let answer = api.post(&format!("/servers/fx/{action}"), &json!({})).await;
        rest_refused(&answer, code, action);
    }
    for action in ["login", "logout"] {
        let answer = api
            .post(&format!("/servers/web/{action}"), &json!({}))
            .await;
        rest_refused(&answer, code, action);
    }
    for bulk in ["restart_all", "enable_all", "disable_all"] {
        rest_refused(
            &api.post(&format!("/servers/{bulk}"), &json!({})).await,
            code,
            bulk,
        );
    }
    let approve = json!({"tools": ["fresh"]});
    rest_refused(
        &api.post("/servers/fx/tools/approve", &approve).await,
        code,
        "tools/approve",
    );
    let config = api.get("/config").await.data();
    rest_refused(
        &api.post("/config/apply", &config).await,
        code,
        "config/apply",
    );
    rest_refused(
        &api.post("/config/reset-key", &json!({})).await,
        code,
        "reset-key",
    );

    // The command line, through the daemon.
    let fx = fixture_bin().display().to_string();
    for args in [
        vec![
            "upstream",
            "add",
            "new",
            "--no-quarantine",
            "--",
            fx.as_str(),
        ],
        vec!["upstream", "remove", "fx", "--yes"],
        vec!["upstream", "disable", "fx"],
        vec!["upstream", "enable", "fx"],
        vec!["upstream", "restart", "fx"],
        vec!["upstream", "restart", "--all"],
        vec!["upstream", "disable", "--all", "--force"],
        vec!["upstream", "quarantine", "fx"],
        vec!["upstream", "unquarantine", "fx"],
        vec!["upstream", "patch", "fx", "--env", "A=B"],
        vec!["upstream", "approve", "fx", "fresh"],
        vec!["tools", "approve", "fx:fresh"],
        vec!["auth", "logout", "-s", "web"],
        vec!["status", "--reset-key"],
    ] {
        cli_refused(&rig.cli(&args).await, code, &args.join(" "));
    }

    // Nothing changed.
    assert_eq!(
        std::fs::read_to_string(rig.home.config_path()).unwrap(),
        before,
        "the config file is as it was"
    );
    assert_eq!(rig.tool_state("fresh").await.as_deref(), Some("pending"));
    assert_eq!(rig.tool_state("echo").await.as_deref(), Some("approved"));
    let servers = api.get("/servers").await.data();
    assert_eq!(servers["total"], 2);
    assert_eq!(servers["servers"][0]["enabled"], true);
    assert_eq!(servers["servers"][0]["quarantined"], false);
    // Reading and calling still work.
    let echoed = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "still here"}}),
        )
        .await;
    assert_eq!(text(&echoed), "still here");
    mcp.close().await;
}

#[tokio::test]
async fn read_only_mode_refuses_every_change_on_every_surface_with_one_code() {
    let mut rig = rig(json!({"read_only_mode": true})).await;
    every_change_is_refused(&rig, "READ_ONLY_MODE").await;

    // With no daemon, the command line works on the files through the same gates.
    rig.proxy.stop().await;
    let before = std::fs::read_to_string(rig.home.config_path()).unwrap();
    let fx = fixture_bin().display().to_string();
    for args in [
        vec!["status", "--reset-key"],
        vec!["upstream", "add", "new", "--", fx.as_str()],
        vec!["upstream", "remove", "fx", "--yes"],
    ] {
        cli_refused(
            &rig.cli(&args).await,
            "READ_ONLY_MODE",
            &format!("alone: {}", args.join(" ")),
        );
    }
    assert_eq!(
        std::fs::read_to_string(rig.home.config_path()).unwrap(),
        before
    );
}

#[tokio::test]
async fn disabled_management_refuses_every_change_on_every_surface_with_one_code() {
    let rig = rig(json!({"disable_management": true})).await;
    every_change_is_refused(&rig, "MANAGEMENT_DISABLED").await;
}

#[tokio::test]
async fn adding_and_removing_servers_have_their_own_gates_everywhere() {
    let rig = rig(json!({"allow_server_add": false, "allow_server_remove": false})).await;
    let mcp = Client::connect(&rig.proxy.url("/mcp")).await;
    let fx = fixture_bin().display().to_string();

    let added = mcp
        .call(
            "upstream_servers",
            json!({"operation": "add", "name": "new", "command": fx}),
        )
        .await;
    mcp_refused(&added, "SERVER_ADD_NOT_ALLOWED", "MCP add");
    let body = json!({"name": "new", "command": fx});
    rest_refused(
        &rig.api.post("/servers", &body).await,
        "SERVER_ADD_NOT_ALLOWED",
        "REST add",
    );
    cli_refused(
        &rig.cli(&["upstream", "add", "new", "--", &fx]).await,
        "SERVER_ADD_NOT_ALLOWED",
        "CLI add",
    );

    let removed = mcp
        .call(
            "upstream_servers",
            json!({"operation": "remove", "name": "web"}),
        )
        .await;
    mcp_refused(&removed, "SERVER_REMOVE_NOT_ALLOWED", "MCP remove");
    rest_refused(
        &rig.api.delete("/servers/web").await,
        "SERVER_REMOVE_NOT_ALLOWED",
        "REST remove",
    );
    cli_refused(
        &rig.cli(&["upstream", "remove", "web", "--yes"]).await,
        "SERVER_REMOVE_NOT_ALLOWED",
        "CLI remove",
    );
    assert_eq!(rig.api.get("/servers").await.data()["total"], 2);

    // Other changes pass these two gates.
    rig.cli(&["upstream", "enable", "web"]).await.ok();
    let servers = rig.api.get("/servers").await.data();
    assert_eq!(servers["servers"][1]["enabled"], true);
    // And the key can be reset; the new one works, the old one no longer does.
    let ran = rig.cli(&["status", "--reset-key", "--json"]).await;
    let key = ran.json()["api_key"].as_str().unwrap().to_owned();
    assert_ne!(key, KEY);
    assert_eq!(rig.home.read_config()["api_key"], key.as_str());
    let new = Rest::new(&rig.proxy.url(""), Some(&key));
    assert_eq!(new.get("/status").await.status, 200);
    assert_eq!(rig.api.get("/status").await.status, 401);
    mcp.close().await;
}

/// `prompts/get` of `name` on the session; the JSON-RPC error's data when refused.
async fn prompt_refusal(client: &Client, name: &str) -> Value {
    let request = rmcp::model::GetPromptRequestParams::new(name);
    match client.peer().get_prompt(request).await {
        Err(rmcp::ServiceError::McpError(e)) => e.data.unwrap_or(Value::Null),
        other => panic!("prompts/get {name} should be refused: {other:?}"),
    }
}

#[tokio::test]
async fn prompts_are_off_on_every_endpoint_when_enable_prompts_is_false() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": KEY, "enable_prompts": false, "mcpServers": [
            {"name": "conf", "command": conformance_bin(), "quarantined": false}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    eventually_async("conf ready", || async {
        let servers = api.get("/servers").await.data();
        (servers["servers"][0]["status"] == "Ready").then_some(())
    })
    .await;

    for path in ["/mcp", "/mcp/all"] {
        let client = Client::connect(&proxy.url(path)).await;
        let info = client.server_info();
        assert!(info["capabilities"]["prompts"].is_null(), "{path}: {info}");
        let listed = client.peer().list_all_prompts().await.unwrap();
        assert!(listed.is_empty(), "{path}: {listed:?}");
        let data = prompt_refusal(&client, "conf__test_simple_prompt").await;
        assert_eq!(data["code"], "PROMPTS_DISABLED", "{path}");
        client.close().await;
    }

    let own = Client::connect(&proxy.url("/mcp/server/conf")).await;
    let info = own.server_info();
    assert!(info["capabilities"]["prompts"].is_null(), "{info}");
    assert!(info["capabilities"]["tools"].is_object(), "{info}");
    let data = prompt_refusal(&own, "test_simple_prompt").await;
    assert_eq!(data["code"], "PROMPTS_DISABLED");
    match own.peer().list_prompts(None).await {
        Err(rmcp::ServiceError::McpError(e)) => {
            assert_eq!(e.data.unwrap()["code"], "PROMPTS_DISABLED");
        }
        other => panic!("prompts/list should be refused: {other:?}"),
    }
    // Tools are not prompts: they still work.
    let names = own.tool_names().await;
    assert!(names.iter().any(|n| n == "test_simple_text"), "{names:?}");
    own.close().await;
}
