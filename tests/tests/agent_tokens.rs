//! Agent tokens end to end (issue 18), against the real binary and two real stdio servers:
//! a read token sees and calls the read tools of its server only, is refused a write call
//! and every management operation (MCP, REST), is recorded by name, and stops working when
//! revoked, regenerated or expired.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, conformance_bin, eventually_async, fixture_bin};

const KEY: &str = "tokens-test-admin-key";

async fn start() -> (Home, Proxy, Rest) {
    start_with(json!({})).await
}

/// [`start`] with more config keys.
async fn start_with(extra: Value) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let server = |name: &str| json!({"name": name, "command": fixture_bin(), "args": ["--name", name], "quarantined": false});
    let mut config = json!({
        "api_key": KEY,
        "require_mcp_auth": true,
        "mcpServers": [server("fx"), server("other")],
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    eventually_async("both servers ready with their tools indexed", || async {
        let tools = api.get("/tools").await.data();
        let enabled = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["enabled"] == true && t["name"] == "echo")
            .count();
        (enabled == 2).then_some(())
    })
    .await;
    (home, proxy, api)
}

/// `mcpproxy token <args> -o json` against the running proxy.
async fn token_cli(home: &Home, args: &[&str]) -> Value {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    home.cli(&all).await.json()
}

fn servers_of(found: &Value) -> Vec<String> {
    let mut servers: Vec<String> = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["server"].as_str().unwrap_or_default().to_owned())
        .collect();
    servers.dedup();
    servers
}

#[tokio::test]
async fn a_read_token_reaches_the_read_tools_of_its_servers_and_nothing_else() {
    let (home, _proxy, api) = start().await;
    let created = token_cli(
        &home,
        &[
            "create",
            "--name",
            "reader",
            "--servers",
            "fx",
            "--permissions",
            "read",
        ],
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("mcp_agt_") && token.len() == 72,
        "{created}"
    );
    assert_eq!(created["permissions"], json!(["read"]));
    let prefix = created["token_prefix"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&prefix));

    // Without a credential /mcp is closed (require_mcp_auth); with the token it opens.
    assert!(
        Client::connect_as(&proxy_url(&api, "/mcp/call"), "wrong")
            .await
            .is_err()
    );
    let agent = Client::connect_as(&proxy_url(&api, "/mcp/call"), &token)
        .await
        .unwrap();

    // The management tools are not offered, and refused when called anyway.
    let offered = agent.tool_names().await;
    assert!(
        offered.contains(&"retrieve_tools".to_owned()),
        "{offered:?}"
    );
    assert!(
        !offered
            .iter()
            .any(|t| t == "upstream_servers" || t == "quarantine_security")
    );
    let manage = agent
        .call("upstream_servers", json!({"operation": "list"}))
        .await;
    assert!(text(&manage).contains("ADMIN_ONLY"), "{manage}");

    // Search finds its server's read tools only; the admin finds both servers.
    let found = agent
        .call_json(
            "retrieve_tools",
            json!({"query": "echo message", "limit": 20}),
        )
        .await;
    assert_eq!(servers_of(&found), ["fx"], "{found}");
    let names: Vec<&str> = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"fx:echo"), "{names:?}");
    let admin = Client::connect_as(&proxy_url(&api, "/mcp/call"), KEY)
        .await
        .unwrap();
    let everything = admin
        .call_json(
            "retrieve_tools",
            json!({"query": "echo message", "limit": 20}),
        )
        .await;
    let mut both = servers_of(&everything);
    both.sort();
    both.dedup();
    assert_eq!(both, ["fx", "other"], "{everything}");

    // Calls: its server's read tool works, the other server and a write are refused.
    let echoed = agent
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi from reader"}}),
        )
        .await;
    assert_eq!(text(&echoed), "hi from reader", "{echoed}");
    let other = agent
        .call(
            "call_tool_read",
            json!({"name": "other:echo", "args": {"message": "x"}}),
        )
        .await;
    assert_eq!(other["isError"], true);
    assert!(text(&other).contains("not in scope"), "{other}");
    assert!(text(&other).contains("reader"), "{other}");
    let write = agent
        .call(
            "call_tool_write",
            json!({"name": "fx:add_tool", "args": {"name": "x", "description": "y"}}),
        )
        .await;
    assert_eq!(write["isError"], true);
    assert!(text(&write).contains("write"), "names the tier: {write}");
    assert!(text(&write).contains("reader"), "{write}");

    // Direct mode lists the read tools of fx only.
    let direct = Client::connect_as(&proxy_url(&api, "/mcp/all"), &token)
        .await
        .unwrap();
    let listed = direct.tool_names().await;
    assert!(listed.contains(&"fx__echo".to_owned()), "{listed:?}");
    assert!(listed.iter().all(|t| t.starts_with("fx__")), "{listed:?}");
    assert!(!listed.contains(&"fx__add_tool".to_owned()), "{listed:?}");
    assert!(
        !listed.contains(&"fx__delete_item".to_owned()),
        "{listed:?}"
    );
    let refused = direct.call("other__echo", json!({"message": "x"})).await;
    assert_eq!(refused["isError"], true, "{refused}");

    // REST: reads yes, administration and the token pages no.
    let as_agent = Rest::new(&proxy_url(&api, ""), Some(&token));
    as_agent.get("/servers").await.data();
    // The tool list shows the token its own servers' tools only, as MCP does.
    let listed = as_agent.get("/tools").await.data();
    let servers: std::collections::BTreeSet<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["server"].as_str())
        .collect();
    assert_eq!(servers, ["fx"].into(), "{listed}");
    as_agent
        .post("/servers/fx/restart", &json!({}))
        .await
        .refused(403, "admin");
    as_agent.get("/tokens").await.refused(403, "admin");
    as_agent.get("/secrets").await.refused(403, "admin");
    // /status says what this caller may do (the web panel draws its buttons from it).
    let theirs = as_agent.get("/status").await.data();
    let admins = api.get("/status").await.data();
    for what in [
        "add_servers",
        "change_config",
        "approve_tools",
        "server_actions",
    ] {
        assert_eq!(theirs["allowed"][what], false, "{what}: {theirs}");
        assert_eq!(admins["allowed"][what], true, "{what}: {admins}");
    }

    // The activity log names the agent; --agent and --auth-type find its calls.
    // (The log is written off the call path: wait for the call's record.)
    let mine = eventually_async("the agent's call in the activity log", || async {
        let mine = home
            .cli(&["activity", "list", "--agent", "reader", "-o", "json"])
            .await
            .json();
        mine["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["tool_name"] == "echo" && r["status"] == "success")
            .then_some(mine)
    })
    .await;
    let records = mine["activities"].as_array().unwrap();
    for r in records {
        assert_eq!(r["metadata"]["_auth_agent"], "reader", "{r}");
        assert_eq!(r["metadata"]["_auth_type"], "agent", "{r}");
        assert_eq!(r["metadata"]["_auth_token_prefix"], prefix.as_str(), "{r}");
    }
    let admins = home
        .cli(&[
            "activity",
            "list",
            "--auth-type",
            "admin",
            "--type",
            "tool_call",
            "-o",
            "json",
        ])
        .await
        .json();
    assert!(
        admins["activities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["metadata"]["_auth_type"] == "admin"),
        "{admins}"
    );

    // Revoked: the open session and a new one are both refused.
    let revoked = token_cli(&home, &["revoke", "reader"]).await;
    assert_eq!(revoked["status"], "revoked");
    assert!(
        agent
            .try_call(
                "call_tool_read",
                json!({"name": "fx:echo", "args": {"message": "x"}})
            )
            .await
            .is_err()
    );
    let again = Client::connect_as(&proxy_url(&api, "/mcp/call"), &token).await;
    assert!(again.is_err());
    as_agent.get("/servers").await.refused(401, "revoked");
    admin.close().await;
}

#[tokio::test]
async fn tokens_expire_regenerate_and_are_kept_only_as_hashes() {
    let (home, _proxy, api) = start().await;
    let short = api
        .post(
            "/tokens",
            &json!({"name": "brief", "allowed_servers": ["*"], "permissions": ["read", "write"], "expires_in": "2s"}),
        )
        .await
        .data();
    let token = short["token"].as_str().unwrap().to_owned();
    let agent = Rest::new(&proxy_url(&api, ""), Some(&token));
    agent.get("/servers").await.data();
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    agent.get("/servers").await.refused(401, "expired");
    let shown = token_cli(&home, &["show", "brief"]).await;
    assert_eq!(shown["status"], "expired");

    // Regenerate: a new secret works, the old one is unknown.
    let fresh = token_cli(&home, &["regenerate", "brief"]).await;
    let new_token = fresh["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    Rest::new(&proxy_url(&api, ""), Some(&new_token))
        .get("/servers")
        .await
        .data();
    agent
        .get("/servers")
        .await
        .refused(401, "unknown agent token");

    // The same name cannot be made twice; deleted, it can.
    api.post(
        "/tokens",
        &json!({"name": "brief", "allowed_servers": ["*"], "permissions": ["read"]}),
    )
    .await
    .refused(409, "exists");
    api.post(
        "/tokens",
        &json!({"name": "bad", "allowed_servers": ["nope"], "permissions": ["read"]}),
    )
    .await
    .refused(400, "nope");
    let deleted = token_cli(&home, &["delete", "brief"]).await;
    assert_eq!(deleted["deleted"], "brief");

    // Only hashes at rest: neither secret is in the database, the key file is private.
    let listed = api.get("/tokens").await;
    assert!(!listed.text.contains(&token[8..]) && !listed.text.contains(&new_token[8..]));
    let data = home.data_dir();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let hay = String::from_utf8_lossy(&bytes);
            assert!(
                !hay.contains(&new_token[8..]),
                "{} holds the token",
                path.display()
            );
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join(".token_key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn proxy_url(api: &Rest, path: &str) -> String {
    api.url(path)
}

#[tokio::test]
async fn a_tokens_scripts_call_as_the_token_and_are_recorded_by_its_name() {
    let (home, _proxy, api) = start_with(json!({"enable_code_execution": true})).await;
    let created = token_cli(
        &home,
        &[
            "create",
            "--name",
            "scripter",
            "--servers",
            "fx",
            "--permissions",
            "read",
        ],
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let agent = Client::connect_as(&proxy_url(&api, "/mcp/code"), &token)
        .await
        .unwrap();
    let result = agent
        .call(
            "code_execution",
            json!({"code": "[call_tool('fx', 'echo', {message: 'in'}), call_tool('other', 'echo', {message: 'out'}), call_tool('fx', 'delete_item', {id: 'x'})].map(r => r.ok ? r.result.content[0].text : r.error.code + ': ' + r.error.message)"}),
        )
        .await;
    let envelope: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(envelope["ok"], true, "{envelope}");
    // Its own server answers; the other is outside the token's scope.
    assert_eq!(envelope["value"][0], "in", "{envelope}");
    let refused = envelope["value"][1].as_str().unwrap();
    assert!(
        refused.contains("other") && refused.contains("scripter"),
        "{envelope}"
    );
    // A read token cannot reach a destructive tool through a script either: the rule names
    // the tier, and the fixture's tool is never called.
    let destructive = envelope["value"][2].as_str().unwrap();
    assert!(
        destructive.contains("destructive") && destructive.contains("scripter"),
        "{envelope}"
    );
    // The script's call is recorded under the token, with the script as its parent.
    let mine = eventually_async("the script's call in the activity log", || async {
        let mine = home
            .cli(&["activity", "list", "--agent", "scripter", "-o", "json"])
            .await
            .json();
        mine["activities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tool_name"] == "echo" && r["status"] == "success")
            .cloned()
    })
    .await;
    assert_eq!(mine["metadata"]["_auth_type"], "agent", "{mine}");
    assert!(mine["metadata"]["parent_call_id"].is_string(), "{mine}");
    let all = home.cli(&["activity", "list", "-o", "json"]).await.json();
    assert!(
        !all["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "tool_call"
                && r["tool_name"] == "delete_item"
                && r["status"] != "blocked"),
        "the destructive tool ran: {all}"
    );
}

#[tokio::test]
async fn a_token_is_offered_the_prompts_of_its_servers_only() {
    let home = Home::new();
    let conf =
        |name: &str| json!({"name": name, "command": conformance_bin(), "quarantined": false});
    home.write_config(
        &json!({"api_key": KEY, "require_mcp_auth": true, "aggregate_upstream_prompts": true,
            "mcpServers": [conf("mine"), conf("theirs")]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let admin = Client::connect_as(&proxy.url("/mcp"), KEY).await.unwrap();
    let all = eventually_async("both servers' prompts offered to the admin", || async {
        let names = admin.prompt_names().await;
        (names.iter().any(|n| n.starts_with("mine__"))
            && names.iter().any(|n| n.starts_with("theirs__")))
        .then_some(names)
    })
    .await;
    let created = token_cli(
        &home,
        &[
            "create",
            "--name",
            "prompter",
            "--servers",
            "mine",
            "--permissions",
            "read",
        ],
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let agent = Client::connect_as(&proxy_url(&api, "/mcp"), &token)
        .await
        .unwrap();
    let names = agent.prompt_names().await;
    assert!(
        names.iter().any(|n| n.starts_with("mine__")),
        "{names:?} of {all:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("theirs__")),
        "{names:?}"
    );
}
