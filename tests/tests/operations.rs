//! Operating the proxy day to day (issue 21), against the real binary, a real fixture server,
//! the real config file and the real database: a person's per-tool switches and blocks, and
//! the small differences scripts written for the Go MCPProxy trip on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "operations-test-key";

struct Rig {
    home: Home,
    proxy: Proxy,
    api: Rest,
}

/// A proxy with the trusted fixture `fx` (and `hidden`, whose config hides `echo`), both
/// ready.
async fn rig() -> Rig {
    let home = Home::new();
    let config = json!({"api_key": KEY, "mcpServers": [
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"]},
        {"name": "hidden", "command": fixture_bin(), "args": ["--name", "hidden"], "disabled_tools": ["echo"]},
    ]});
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    wait_ready(&api).await;
    Rig { home, proxy, api }
}

async fn wait_ready(api: &Rest) {
    eventually_async("the servers ready with their tools", || async {
        let servers = api.get("/servers").await.data();
        let all = servers["servers"].as_array().unwrap();
        all.iter()
            .all(|s| s["status"] == "Ready" && s["tool_count"].as_u64() > Some(0))
            .then_some(())
    })
    .await;
}

/// `GET /tools`' row of `id`.
async fn row(api: &Rest, id: &str) -> Value {
    let tools = api.get("/tools").await.data();
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in /tools: {tools}"))
}

async fn found(mcp: &Client, query: &str, include_disabled: bool) -> Vec<String> {
    let answer = mcp
        .call_json(
            "retrieve_tools",
            json!({"query": query, "include_disabled": include_disabled}),
        )
        .await;
    answer["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn direct_names(proxy: &Proxy) -> Vec<String> {
    let direct = Client::connect(&proxy.url("/mcp/all")).await;
    let names = direct.tool_names().await;
    direct.close().await;
    names
}

#[tokio::test]
async fn a_tool_switched_off_is_neither_listed_searched_nor_callable_and_stays_off_after_a_restart()
{
    let Rig {
        home,
        mut proxy,
        api,
    } = rig().await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    mcp.wait_for_tool("echo back the message", "fx:echo").await;
    assert!(direct_names(&proxy).await.contains(&"fx__echo".to_owned()));

    let off = home.cli(&["tools", "disable", "fx:echo", "nope"]).await;
    assert_eq!(off.code, Some(1), "one target failed: {off:?}");
    assert!(
        off.stdout.contains("OK fx:echo: disabled"),
        "{}",
        off.stdout
    );
    assert!(off.stdout.contains("FAILED nope:"), "{}", off.stdout);

    // Every surface asks the same rule.
    let echo = row(&api, "fx:echo").await;
    assert_eq!(echo["enabled"], false, "{echo}");
    assert_eq!(echo["disabled"], true, "{echo}");
    assert_eq!(row(&api, "fx:add_tool").await["enabled"], true);
    assert!(
        !found(&mcp, "echo back the message", false)
            .await
            .contains(&"fx:echo".to_owned())
    );
    assert!(
        found(&mcp, "echo back the message", true)
            .await
            .contains(&"fx:echo".to_owned()),
        "include_disabled shows it, marked"
    );
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(call["isError"], true, "{call}");
    assert!(text(&call).contains("switched off"), "{call}");
    assert!(!direct_names(&proxy).await.contains(&"fx__echo".to_owned()));
    let rest_call = api
        .post(
            "/tools/call",
            &json!({"tool_name": "fx:echo", "arguments": {"message": "hi"}}),
        )
        .await;
    rest_call.refused(403, "switched off");
    assert_eq!(rest_call.json()["code"], "TOOL_DISABLED");

    // Kept across a restart.
    mcp.close().await;
    let addr = proxy.addr.clone();
    proxy.stop().await;
    let proxy = Proxy::start_on(&home, &addr, &[], |_| {}).await;
    wait_ready(&api).await;
    assert_eq!(row(&api, "fx:echo").await["enabled"], false);
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(call["isError"], true, "still off after the restart: {call}");

    // On again, by the Go-style upstream command; the REST switch says whether it moved.
    let on = home
        .cli(&["upstream", "tools", "enable", "fx", "echo"])
        .await;
    assert!(
        on.ok().contains("Tool 'echo' enabled on server 'fx'"),
        "{on:?}"
    );
    let again = api
        .post("/servers/fx/tools/echo/enabled", &json!({"enabled": true}))
        .await
        .data();
    assert_eq!(again["changed"], false, "{again}");
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(text(&call), "hi", "{call}");

    // Every tool at once, both ways.
    let all_off = home.cli(&["upstream", "tools", "disable-all", "fx"]).await;
    assert!(
        all_off.ok().contains("tool(s) of 'fx' disabled"),
        "{all_off:?}"
    );
    let listing = api.get("/tools?server=fx").await.data();
    assert!(
        listing["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["enabled"] == false),
        "{listing}"
    );
    let all_on = api
        .post("/servers/fx/tools/enable_all", &json!({}))
        .await
        .data();
    assert!(all_on["changed"].as_u64().unwrap() >= 2, "{all_on}");
    assert_eq!(row(&api, "fx:echo").await["enabled"], true);

    // A tool the server's config hides is not switched on by hand.
    let denied = api
        .post(
            "/servers/hidden/tools/echo/enabled",
            &json!({"enabled": true}),
        )
        .await;
    denied.refused(409, "disabled_tools");
    assert_eq!(denied.json()["code"], "TOOL_CONFIG_DENIED");
    // Unknown names say so.
    api.post("/servers/fx/tools/nope/enabled", &json!({"enabled": false}))
        .await
        .refused(404, "no tool named");
    mcp.close().await;
}

#[tokio::test]
async fn blocking_approves_and_switches_off_at_once_and_reviewers_see_diffs_and_exports() {
    let Rig { home, proxy, api } = rig().await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    mcp.wait_for_tool("echo back the message", "fx:echo").await;
    let state = |tool: &'static str| {
        let api = api.clone();
        async move {
            let tools = api.get("/servers/fx/tools").await.data();
            tools["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == tool)
                .cloned()
                .unwrap_or(Value::Null)
        }
    };
    // A new tool waits for review; an approved one changes (a rug pull).
    for (op, args) in [
        ("add_tool", json!({"name": "fresh", "description": "new"})),
        (
            "set_description",
            json!({"name": "echo", "description": "Echo, and more"}),
        ),
    ] {
        let r = mcp
            .call(
                "call_tool_write",
                json!({"name": format!("fx:{op}"), "args": args}),
            )
            .await;
        assert_ne!(r["isError"], true, "{r}");
    }
    eventually_async("fresh pending, echo changed", || async {
        (state("fresh").await["state"] == "pending" && state("echo").await["state"] == "changed")
            .then_some(())
    })
    .await;

    let diff = api.get("/servers/fx/tools/echo/diff").await.data();
    assert_eq!(diff["status"], "changed", "{diff}");
    assert_eq!(diff["current_description"], "Echo, and more");
    assert_ne!(diff["previous_description"], diff["current_description"]);
    assert_ne!(diff["approved_hash"], diff["current_hash"]);
    api.get("/servers/fx/tools/fresh/diff")
        .await
        .refused(404, "No changes detected");

    api.post("/servers/fx/tools/block", &json!({}))
        .await
        .refused(400, "block_all");
    let blocked = api
        .post("/servers/fx/tools/block", &json!({"tools": ["fresh"]}))
        .await
        .data();
    assert_eq!(blocked["blocked"], 1, "{blocked}");
    assert_eq!(blocked["message"], "Blocked 1 tools for server fx");
    let fresh = state("fresh").await;
    assert_eq!(fresh["state"], "approved", "{fresh}");
    assert_eq!(fresh["disabled"], true, "{fresh}");
    assert_eq!(row(&api, "fx:fresh").await["enabled"], false);

    // `tools reject -s fx --all` blocks what still waits: the changed echo.
    let rejected = home.cli(&["tools", "reject", "-s", "fx", "--all"]).await;
    assert!(
        rejected.ok().contains("OK fx: blocked 1 tool(s)"),
        "{rejected:?}"
    );
    let echo = state("echo").await;
    assert_eq!(
        (echo["state"].clone(), echo["disabled"].clone()),
        (json!("approved"), json!(true))
    );
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(
        call["isError"], true,
        "a blocked tool is not callable: {call}"
    );

    // The export: every tool, its approval and switch; as JSON and as text.
    let export = api.get("/servers/fx/tools/export").await.data();
    let tools = export["tools"].as_array().unwrap();
    assert_eq!(export["count"].as_u64().unwrap() as usize, tools.len());
    let fresh = tools.iter().find(|t| t["tool_name"] == "fresh").unwrap();
    assert_eq!(
        (fresh["enabled"].clone(), fresh["disabled"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(fresh["status"], "approved");
    let add = tools.iter().find(|t| t["tool_name"] == "add_tool").unwrap();
    assert_eq!(add["enabled"], true);
    assert!(add["hash"].as_str().unwrap().len() >= 16, "{add}");
    let as_text = api.get("/servers/fx/tools/export?format=text").await;
    assert!(
        as_text.content_type.starts_with("text/plain"),
        "{}",
        as_text.content_type
    );
    assert!(
        as_text
            .text
            .contains("=== fx:fresh ===\nStatus: approved\nEnabled: false"),
        "{}",
        as_text.text
    );
    api.get("/servers/fx/tools/export?format=xml")
        .await
        .refused(400, "unknown format");
    mcp.close().await;
}

#[tokio::test]
async fn the_go_health_routes_answer_with_gos_bodies_without_a_key() {
    let Rig { proxy, .. } = rig().await;
    let health = reqwest::get(proxy.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let ready = reqwest::get(proxy.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap(), json!({"ready": true}));
}

#[tokio::test]
async fn a_recorded_call_is_announced_under_our_event_name_and_gos() {
    let Rig { proxy, api, .. } = rig().await;
    let mut events = mcpproxy_tests::rest::EventStream::open(&api).await;
    assert_eq!(events.next().await.unwrap().name, "status");
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(text(&call), "hi");
    let ours = events
        .until("activity.tool_call", |d| {
            d["payload"]["tool_name"] == "echo"
        })
        .await;
    let go = events
        .until("activity.tool_call.completed", |d| {
            d["payload"]["tool_name"] == "echo"
        })
        .await;
    assert_eq!(ours.data["payload"], go.data["payload"], "the same record");
    assert!(go.data["timestamp"].is_string());
    mcp.close().await;
}

#[tokio::test]
async fn activity_takes_a_comma_list_of_types_and_exports_to_the_file_output_names() {
    let Rig { home, proxy, api } = rig().await;
    let mcp = Client::connect(&proxy.url("/mcp")).await;
    let call = mcp
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "hi"}}),
        )
        .await;
    assert_eq!(text(&call), "hi");
    api.post("/servers/fx/tools/echo/enabled", &json!({"enabled": false}))
        .await
        .data();
    let types = |list: &Value| -> std::collections::BTreeSet<String> {
        list["activities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let both = ["tool_call", "tool_quarantine_change"];
    eventually_async("both records", || async {
        let list = api
            .get("/activity?type=tool_call,tool_quarantine_change")
            .await
            .data();
        (types(&list).len() == 2).then_some(())
    })
    .await;
    let listed = home
        .cli(&[
            "activity",
            "list",
            "-t",
            "tool_call,tool_quarantine_change",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(
        types(&listed),
        both.iter().map(|s| (*s).to_owned()).collect()
    );
    let one = home
        .cli(&["activity", "list", "-t", "tool_call", "-o", "json"])
        .await
        .json();
    assert_eq!(types(&one), ["tool_call".to_owned()].into());
    home.cli(&["activity", "list", "-t", "tool_call,nope"])
        .await
        .failed(1, "\"nope\" is not an activity type");

    // `--output FILE` names the file, as in Go; `-o FORMAT` stays the format flag.
    let file = home.path().join("export.json");
    let exported = home
        .cli(&[
            "activity",
            "export",
            "-t",
            "tool_call",
            "--output",
            file.to_str().unwrap(),
        ])
        .await;
    exported.ok();
    let written = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = serde_json::from_str(&written).unwrap();
    assert!(!records.is_empty(), "{written}");
    assert!(
        records.iter().all(|r| r["type"] == "tool_call"),
        "{written}"
    );
    mcp.close().await;
}

#[tokio::test]
async fn call_tool_takes_its_own_timeout() {
    let Rig {
        home,
        api,
        proxy: _running,
    } = rig().await;
    let slow = home
        .cli(&[
            "call",
            "tool",
            "-t",
            "fx:slow",
            "-j",
            r#"{"ms": 5000}"#,
            "--timeout",
            "300ms",
        ])
        .await;
    assert_eq!(slow.code, Some(1), "{slow:?}");
    assert!(
        slow.stderr.contains("300ms"),
        "the refusal names the deadline: {slow:?}"
    );
    let quick = home
        .cli(&[
            "call",
            "tool",
            "-t",
            "fx:slow",
            "-j",
            r#"{"ms": 10}"#,
            "--timeout",
            "30s",
        ])
        .await;
    assert!(quick.ok().contains("slept 10 ms"), "{quick:?}");
    api.post(
        "/tools/call",
        &json!({"tool_name": "fx:slow", "arguments": {"ms": 10}, "timeout": "soon"}),
    )
    .await
    .refused(400, "not a duration");
    let timed_out = api
        .post(
            "/tools/call",
            &json!({"tool_name": "fx:slow", "arguments": {"ms": 5000}, "timeout": "300ms"}),
        )
        .await;
    timed_out.refused(504, "300ms");
}
