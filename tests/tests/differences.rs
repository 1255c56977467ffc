//! The small differences scripts written for the Go MCPProxy trip on (issue 21, item 6), each
//! with its own assertion, against the real binary and the real fixture server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::Client;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "differences-test-key";

fn fx(name: &str) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name]})
}

async fn start(home: &Home, extra: Value) -> Proxy {
    let mut held = fx("held");
    held["quarantined"] = json!(true);
    let mut config = json!({"api_key": KEY, "mcpServers": [fx("fx"), held]});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    home.write_config(&config.to_string());
    Proxy::start(home, &[]).await
}

async fn retrieved(mcp: &Client, query: &str, filters: Value) -> Vec<String> {
    let mut args = json!({"query": query, "limit": 50});
    for (k, v) in filters.as_object().unwrap() {
        args[k] = v.clone();
    }
    let answer = mcp.call_json("retrieve_tools", args).await;
    answer["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn describe_tool_errors_carry_go_s_fixed_codes() {
    let home = Home::new();
    let proxy = start(&home, json!({})).await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    mcp.wait_for_tool("echo back the message", "fx:echo").await;
    let described = mcp
        .call_json(
            "describe_tool",
            json!({"tool_ids": ["fx:echo", "fx:nope", "held:echo", "garbage"]}),
        )
        .await;
    assert_eq!(
        described["definitions"][0]["name"], "fx:echo",
        "{described}"
    );
    let codes: Vec<(&str, &str)> = described["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["error"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("fx:nope", "not_found"),
            ("held:echo", "quarantined"),
            ("garbage", "not_found"),
        ],
        "{described}"
    );
    assert_eq!(
        described["errors"][0]["remediation"],
        "Tool not found or no longer available; re-run retrieve_tools."
    );
    mcp.close().await;
}

#[tokio::test]
async fn a_missing_destructive_or_open_world_hint_counts_as_unsafe_in_the_filters() {
    let home = Home::new();
    let proxy = start(&home, json!({})).await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    // `add_tool` says readOnlyHint: false and nothing of destructiveHint.
    mcp.wait_for_tool("add a tool", "fx:add_tool").await;
    let all = retrieved(&mcp, "add a tool", json!({})).await;
    assert!(all.contains(&"fx:add_tool".to_owned()), "{all:?}");
    let safe = retrieved(&mcp, "add a tool", json!({"exclude_destructive": true})).await;
    assert!(
        !safe.contains(&"fx:add_tool".to_owned()),
        "a missing destructiveHint is the MCP default (destructive): {safe:?}"
    );
    // `echo` is read-only: never destructive.
    let echo = retrieved(
        &mcp,
        "echo back the message",
        json!({"exclude_destructive": true}),
    )
    .await;
    assert!(echo.contains(&"fx:echo".to_owned()), "{echo:?}");
    // No fixture tool says openWorldHint: false, so none passes that filter.
    let closed = retrieved(
        &mcp,
        "echo back the message",
        json!({"exclude_open_world": true}),
    )
    .await;
    assert!(
        closed.is_empty(),
        "a missing openWorldHint is open-world: {closed:?}"
    );
    mcp.close().await;
}

fn size_hints(tools: &[Value]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| t["_meta"]["anthropic/maxResultSizeChars"].clone())
        .collect()
}

#[tokio::test]
async fn tools_carry_the_max_result_size_hint_from_the_config() {
    let home = Home::new();
    let proxy = start(&home, json!({})).await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    mcp.wait_for_tool("echo back the message", "fx:echo").await;
    // Go's default: Claude Code's own ceiling, on the built-in tools and the relayed ones.
    let hints = size_hints(&mcp.tools().await);
    assert!(
        !hints.is_empty() && hints.iter().all(|h| h == 500_000),
        "{hints:?}"
    );
    let direct = Client::connect(&proxy.url("/mcp/all")).await;
    let hints = size_hints(&direct.tools().await);
    assert!(
        !hints.is_empty() && hints.iter().all(|h| h == 500_000),
        "{hints:?}"
    );
    direct.close().await;
    mcp.close().await;

    let home = Home::new();
    let proxy = start(&home, json!({"max_result_size_chars": 1234})).await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    assert!(size_hints(&mcp.tools().await).iter().all(|h| h == 1234));
    mcp.close().await;

    let home = Home::new();
    let proxy = start(&home, json!({"max_result_size_chars": 0})).await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    assert!(
        size_hints(&mcp.tools().await).iter().all(Value::is_null),
        "0 turns the hint off"
    );
    mcp.close().await;
}

async fn initialize_as(proxy: &Proxy, host: &str) -> u16 {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    reqwest::Client::new()
        .post(proxy.url("/mcp"))
        .header("Host", host)
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn trusted_hosts_are_reloaded_live_and_read_from_the_environment() {
    let home = Home::new();
    let proxy = start(&home, json!({})).await;
    assert_eq!(initialize_as(&proxy, "mcp.example.com").await, 403);

    // An edit of the file lets the reverse proxy's name in, without a restart.
    let mut config = home.read_config();
    config["trusted_hosts"] = json!(["mcp.example.com"]);
    home.write_config(&config.to_string());
    eventually_async("the new trusted_hosts in force", || async {
        (initialize_as(&proxy, "mcp.example.com:443").await == 200).then_some(())
    })
    .await;
    assert_eq!(initialize_as(&proxy, "evil.example").await, 403);

    // MCPPROXY_TRUSTED_HOSTS replaces the list for this process.
    let home = Home::new();
    home.write_config(&json!({"api_key": KEY, "mcpServers": []}).to_string());
    let proxy = Proxy::start_with(&home, &[], |cmd| {
        cmd.env("MCPPROXY_TRUSTED_HOSTS", "a.example, b.example");
    })
    .await;
    assert_eq!(initialize_as(&proxy, "b.example").await, 200);
    assert_eq!(initialize_as(&proxy, "mcp.example.com").await, 403);
    // It is never written into the file.
    assert!(home.read_config().get("trusted_hosts").is_none());
}

#[tokio::test]
async fn call_tool_works_without_a_running_proxy_through_the_same_checks() {
    let home = Home::new();
    let mut held = fx("held");
    held["quarantined"] = json!(true);
    home.write_config(&json!({"api_key": KEY, "mcpServers": [fx("fx"), held]}).to_string());

    // No proxy runs: the command connects to the tool's server itself.
    let called = home
        .cli(&[
            "call",
            "tool",
            "-t",
            "fx:echo",
            "-j",
            r#"{"message": "hi alone"}"#,
            "--timeout",
            "20s",
        ])
        .await;
    assert!(called.ok().contains("hi alone"), "{called:?}");
    let read = home
        .cli(&[
            "call",
            "tool-read",
            "-t",
            "fx:echo",
            "-j",
            r#"{"message": "read alone"}"#,
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(read["content"][0]["text"], "read alone", "{read}");

    // The admission rule still decides: a quarantined server's tools are refused.
    let refused = home
        .cli(&[
            "call",
            "tool",
            "-t",
            "held:echo",
            "-j",
            r#"{"message": "no"}"#,
        ])
        .await;
    refused.failed(1, "QUARANTINED_SERVER_BLOCKED");
    let bad = home
        .cli(&["call", "tool", "-t", "fx:echo", "--timeout", "soon"])
        .await;
    bad.failed(1, "not a duration");

    // And the calls are in the activity log, as the daemon would have recorded them.
    let proxy = Proxy::start(&home, &[]).await;
    let api = mcpproxy_tests::rest::Rest::new(&proxy.url(""), Some(KEY));
    let log = api.get("/activity?type=tool_call&limit=100").await.data();
    let records = log["activities"].as_array().unwrap();
    let echo = records
        .iter()
        .filter(|r| r["server_name"] == "fx" && r["tool_name"] == "echo")
        .count();
    assert_eq!(echo, 2, "{log}");
}
