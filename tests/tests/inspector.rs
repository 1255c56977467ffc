//! An external client: the MCP Inspector CLI (npm, run on Node 22 from npm) lists the tools
//! of `/mcp` and calls `retrieve_tools` and `call_tool_read` through the proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use mcpproxy_tests::mcp::Client;
use mcpproxy_tests::upstream::{node22, node22_module};
use mcpproxy_tests::{Home, PATIENCE, Proxy, fixture_bin};
use serde_json::{Value, json};

/// Runs the Inspector CLI against `url` with `args`; returns its JSON output.
async fn inspector(url: &str, args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::new(node22());
    cmd.arg(node22_module(
        "@modelcontextprotocol/inspector/clients/launcher/build/index.js",
    ))
    .args(["--cli", url, "--transport", "http"])
    .args(args)
    .kill_on_drop(true);
    let out = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("the inspector hung")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inspector {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn the_mcp_inspector_lists_retrieves_and_calls() {
    let home = Home::new();
    home.write_config(
        &json!({"mcpServers": [{"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"]}]}).to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let url = proxy.url("/mcp");
    Client::connect(&url)
        .await
        .wait_for_tool("echo message", "fx:echo")
        .await;

    let listed = inspector(&url, &["--method", "tools/list"]).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"retrieve_tools") && names.contains(&"call_tool_read"),
        "{names:?}"
    );

    let found = inspector(
        &url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "retrieve_tools",
            "--tool-arg",
            "query=echo",
        ],
    )
    .await;
    let text = found["content"][0]["text"].as_str().unwrap();
    let found: Value = serde_json::from_str(text).unwrap();
    assert_eq!(found["tools"][0]["name"], "fx:echo");

    let called = inspector(
        &url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "call_tool_read",
            "--tool-arg",
            "name=fx:echo",
            "--tool-arg",
            r#"args={"message":"from the inspector"}"#,
        ],
    )
    .await;
    assert_eq!(called["content"][0]["text"], "from the inspector");
    assert_eq!(called["isError"], false);
}
