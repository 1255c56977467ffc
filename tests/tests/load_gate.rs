//! The config-load admission gate (Go MCPProxy 0.2x): a server written into the config file
//! without a `quarantined` key, that the proxy has never seen, is held for review — at start
//! and on a hot reload — and stays held after a restart; a stated `"quarantined": false` is
//! obeyed; a server the proxy already knew stays usable when the key is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "load-gate-test-key";

fn server(name: &str) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name]})
}

fn trusted(name: &str) -> Value {
    let mut s = server(name);
    s["quarantined"] = json!(false);
    s
}

fn write(home: &Home, servers: &[Value]) {
    let config = json!({"api_key": KEY, "mcpServers": servers});
    home.write_config_exact(&serde_json::to_string_pretty(&config).unwrap());
}

/// `quarantined` of `name` as `GET /servers` shows it, once the server is listed.
async fn quarantined(api: &Rest, name: &str) -> bool {
    eventually_async(&format!("{name} listed"), || async {
        let servers = api.get("/servers").await.data();
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["quarantined"] == true)
    })
    .await
}

/// Calls `name:echo`; true when the server answered, false when the proxy held the call
/// because the server is quarantined (anything else fails the test).
async fn callable(client: &Client, name: &str) -> bool {
    let result = client
        .call(
            "call_tool_read",
            json!({"name": format!("{name}:echo"), "args": {"message": "hello"}}),
        )
        .await;
    if text(&result) == "hello" {
        return true;
    }
    let body: Value = serde_json::from_str(&text(&result)).unwrap_or(Value::Null);
    assert_eq!(
        body["status"], "QUARANTINED_SERVER_BLOCKED",
        "answered or held, nothing else: {result}"
    );
    false
}

/// Waits until `name:echo` answers (its tools are discovered once it is Ready).
async fn wait_callable(client: &Client, name: &str) {
    eventually_async(&format!("{name}:echo answers"), || async {
        let result = client
            .call(
                "call_tool_read",
                json!({"name": format!("{name}:echo"), "args": {"message": "hello"}}),
            )
            .await;
        (text(&result) == "hello").then_some(())
    })
    .await;
}

fn stated(home: &Home, name: &str) -> Value {
    home.read_config()["mcpServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
        .get("quarantined")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_never_seen_server_without_the_key_is_held_at_start_on_reload_and_after_restart() {
    let home = Home::new();
    write(&home, &[trusted("fx"), server("fresh")]);
    let mut proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let client = Client::connect(&proxy.url("/mcp")).await;

    assert!(!quarantined(&api, "fx").await, "a stated false is obeyed");
    wait_callable(&client, "fx").await;
    assert!(quarantined(&api, "fresh").await, "held at start");
    assert!(!callable(&client, "fresh").await);
    assert_eq!(
        stated(&home, "fresh"),
        true,
        "the decision is written into the file"
    );
    assert_eq!(stated(&home, "fx"), false);

    // Hot reload: one new server without the key, one stating false.
    let mut config = home.read_config();
    let servers = config["mcpServers"].as_array_mut().unwrap();
    servers.push(server("later"));
    servers.push(trusted("said-no"));
    home.write_config_exact(&serde_json::to_string_pretty(&config).unwrap());
    assert!(quarantined(&api, "later").await, "held on a hot reload");
    assert!(!callable(&client, "later").await);
    assert!(!quarantined(&api, "said-no").await);
    wait_callable(&client, "said-no").await;
    eventually_async("the reload's decision in the file", || async {
        (stated(&home, "later") == true).then_some(())
    })
    .await;

    client.close().await;
    proxy.stop().await;

    // A restart keeps them held: the file says so now.
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let client = Client::connect(&proxy.url("/mcp")).await;
    assert!(
        quarantined(&api, "fresh").await,
        "still held after a restart"
    );
    assert!(
        quarantined(&api, "later").await,
        "still held after a restart"
    );
    wait_callable(&client, "fx").await;
    assert!(!callable(&client, "fresh").await);
    client.close().await;
}

#[tokio::test]
async fn a_server_the_proxy_knew_stays_usable_when_the_key_is_dropped() {
    let home = Home::new();
    write(&home, &[trusted("known")]);
    let mut proxy = Proxy::start(&home, &[]).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    wait_callable(&client, "known").await;
    client.close().await;
    proxy.stop().await;

    // As after an upgrade from a version where an absent key meant "trusted".
    write(&home, &[server("known")]);
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let client = Client::connect(&proxy.url("/mcp")).await;
    assert!(
        !quarantined(&api, "known").await,
        "a known server is not re-held"
    );
    wait_callable(&client, "known").await;
    assert_eq!(
        stated(&home, "known"),
        Value::Null,
        "nothing is written for it"
    );

    // Nor is it on a hot reload of a file that still does not state the key.
    let mut config = home.read_config();
    config["mcpServers"]
        .as_array_mut()
        .unwrap()
        .push(trusted("other"));
    home.write_config_exact(&serde_json::to_string_pretty(&config).unwrap());
    wait_callable(&client, "other").await;
    assert!(!quarantined(&api, "known").await);
    assert!(callable(&client, "known").await);
    client.close().await;
}
