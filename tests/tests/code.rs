//! Code execution with the real binary: scripts call the fixture server and the npm
//! `server-everything` through `/mcp/code`, REST and the CLI; every call inside a script
//! meets the same rule as any call (quarantine, approvals), the script's limits hold (time,
//! memory, calls) while the proxy keeps serving, nothing outside the sandbox exists, and the
//! activity log shows each script with its calls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::Duration;

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::upstream::everything_js;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

fn fixture(name: &str) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name]})
}

/// A proxy with code execution on, the fixture `fx`, `everything`, and `held` (quarantined).
async fn start(extra: Value) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let mut held = fixture("held");
    held["quarantined"] = json!(true);
    let mut config = json!({
        "api_key": "k",
        "enable_code_execution": true,
        "code_execution_memory_limit_mb": 16,
        "mcpServers": [
            fixture("fx"),
            held,
            {"name": "everything", "command": "node", "args": [everything_js(), "stdio"]},
        ],
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("fx and everything ready", || async {
        let servers = api.get("/servers").await.data();
        let ready = |name: &str| {
            servers["servers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == name && s["status"] == "Ready")
        };
        (ready("fx") && ready("everything")).then_some(())
    })
    .await;
    (home, proxy, api)
}

/// Runs a script over REST; the whole answer.
async fn exec(api: &Rest, code: &str, input: Value, options: Value) -> Value {
    let answer = api
        .post(
            "/code/exec",
            &json!({"code": code, "input": input, "options": options}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    answer.json()
}

/// The script envelope of a `code_execution` call over MCP.
async fn run(client: &Client, code: &str, input: Value) -> Value {
    let result = client
        .call("code_execution", json!({"code": code, "input": input}))
        .await;
    serde_json::from_str(&text(&result)).unwrap_or_else(|e| panic!("{e}: {result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scripts_compose_real_tools_through_the_same_rules_and_are_logged() {
    let (_home, proxy, api) = start(json!({})).await;
    let client = Client::connect(&proxy.url("/mcp/code")).await;
    let names = client.tool_names().await;
    for want in ["code_execution", "retrieve_tools", "describe_tool"] {
        assert!(names.contains(&want.to_owned()), "{want}: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("call_tool_")),
        "{names:?}"
    );
    let instructions = client.server_info()["instructions"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(instructions.contains("code_execution") && instructions.contains("call_tool("));

    // Two real upstreams, one joined answer.
    let joined = run(
        &client,
        "const a = call_tool('fx', 'echo', {message: input.word});
         const b = call_tool('everything', 'echo', {message: input.word + '!'});
         if (!a.ok || !b.ok) throw new Error(JSON.stringify([a, b]));
         return {fx: a.result.content[0].text, everything: b.result.content[0].text};",
        json!({"word": "joined"}),
    )
    .await;
    assert_eq!(joined["ok"], true, "{joined}");
    assert_eq!(joined["value"]["fx"], "joined");
    assert!(
        joined["value"]["everything"]
            .as_str()
            .unwrap()
            .contains("joined!"),
        "{joined}"
    );
    assert_eq!(joined["tool_calls"], 2);

    // call_tools: in parallel, answers in input order.
    let batch = run(
        &client,
        "call_tools([1, 2, 3, 4, 5].map(n => ({server: 'fx', tool: 'echo', args: {message: 'm' + n}})), {max_parallel: 3})
           .map(r => r.ok ? r.result.content[0].text : r.error.code)",
        json!({}),
    )
    .await;
    assert_eq!(
        batch["value"],
        json!(["m1", "m2", "m3", "m4", "m5"]),
        "{batch}"
    );

    // A quarantined server and a tool nobody approved are refused inside a script.
    let refused = run(
        &client,
        "const held = call_tool('held', 'echo', {message: 'x'});
         const added = call_tool('fx', 'add_tool', {name: 'fresh', description: 'new'});
         ({held: held.ok ? 'called' : held.error.code, added: added.ok})",
        json!({}),
    )
    .await;
    assert_eq!(
        refused["value"]["held"], "QUARANTINED_SERVER_BLOCKED",
        "{refused}"
    );
    assert_eq!(refused["value"]["added"], true, "{refused}");
    eventually_async("the new tool is pending", || async {
        let tools = api.get("/servers/fx/tools").await.data();
        let fresh = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "fresh")
            .map(|t| t["state"].clone());
        (fresh == Some(json!("pending"))).then_some(())
    })
    .await;
    let pending = run(
        &client,
        "const r = call_tool('fx', 'fresh', {}); r.ok ? 'called' : r.error.code",
        json!({}),
    )
    .await;
    assert_eq!(pending["value"], "TOOL_QUARANTINED", "{pending}");

    // The call limit ends the script and says what it had done.
    let limited = client
        .call(
            "code_execution",
            json!({"code": "for (let i = 0; i < 5; i++) call_tool('fx', 'echo', {message: 'x'}); 'done'",
                   "options": {"max_tool_calls": 2}}),
        )
        .await;
    assert_eq!(limited["isError"], true);
    let limited: Value = serde_json::from_str(&text(&limited)).unwrap();
    assert_eq!(
        limited["error"]["code"], "MAX_TOOL_CALLS_EXCEEDED",
        "{limited}"
    );
    assert!(
        limited["error"]["message"]
            .as_str()
            .unwrap()
            .contains("made 2 tool call(s)"),
        "{limited}"
    );

    // Nothing outside the sandbox: each attempt is an error, not a crash.
    for probe in [
        "require('fs')",
        "fetch('http://127.0.0.1/')",
        "process.exit(1)",
        "std.loadFile('/etc/passwd')",
        "os.open('/etc/passwd')",
    ] {
        let out = run(&client, probe, json!({})).await;
        assert_eq!(out["ok"], false, "{probe}: {out}");
        assert_eq!(out["error"]["code"], "RUNTIME_ERROR", "{probe}: {out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("ReferenceError"),
            "{probe}: {out}"
        );
    }
    let imported = run(&client, "import('fs')", json!({})).await;
    assert_eq!(imported["ok"], false, "{imported}");

    // The activity log: the script's record, and its two calls naming it as parent.
    let id = joined["execution_id"].as_str().unwrap().to_owned();
    let page = api
        .get(&format!("/activity?request_id={id}&limit=10"))
        .await
        .data();
    let records = page["activities"].as_array().unwrap();
    let parent = records.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(parent["tool_name"], "code_execution");
    assert_eq!(parent["status"], "success");
    let mut children: Vec<String> = records
        .iter()
        .filter(|r| r["metadata"]["parent_call_id"] == id.as_str())
        .map(|r| {
            format!(
                "{}:{}",
                r["server_name"].as_str().unwrap(),
                r["tool_name"].as_str().unwrap()
            )
        })
        .collect();
    children.sort();
    assert_eq!(children, ["everything:echo", "fx:echo"], "{page}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_while_the_proxy_keeps_serving() {
    let (_home, _proxy, api) = start(json!({"code_execution_pool_size": 4})).await;

    // An endless loop is stopped at its timeout while others are served.
    let looping = {
        let api = api.clone();
        tokio::spawn(async move {
            exec(
                &api,
                "let n = 0; while (true) { n++; }",
                json!({}),
                json!({"timeout_ms": 1500}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let meanwhile = exec(
        &api,
        "call_tool('fx', 'echo', {message: 'still here'}).result.content[0].text",
        json!({}),
        json!({}),
    )
    .await;
    assert_eq!(meanwhile["result"], "still here", "{meanwhile}");
    assert!(
        !looping.is_finished(),
        "the loop is still running meanwhile"
    );
    let stopped = looping.await.unwrap();
    assert_eq!(stopped["ok"], false);
    assert_eq!(stopped["error"]["code"], "TIMEOUT", "{stopped}");
    assert!(
        stopped["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms = 1500"),
        "{stopped}"
    );

    // A memory bomb is stopped at the cap (16 MiB here).
    let bomb = exec(
        &api,
        "const a = []; while (true) { a.push('x'.repeat(4096) + a.length); }",
        json!({}),
        json!({"timeout_ms": 60000}),
    )
    .await;
    assert_eq!(bomb["error"]["code"], "MEMORY_LIMIT_EXCEEDED", "{bomb}");
    assert!(
        bomb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16 MiB")
    );

    // Sixteen scripts at once on a pool of four: all complete, each with its own answer.
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                exec(
                    &api,
                    "const r = call_tool('fx', 'echo', {message: 'n' + input.i}); [input.i, r.result.content[0].text]",
                    json!({"i": i}),
                    json!({}),
                )
                .await
            })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let out = run.await.unwrap();
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["result"], json!([i, format!("n{i}")]));
    }

    // Bad requests are refused before anything runs.
    let bad = api
        .post(
            "/code/exec",
            &json!({"code": "1", "options": {"timeout_ms": 0}}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.text);
    assert_eq!(bad.json()["error"]["code"], "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_routing_mode_and_the_off_switch() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "routing_mode": "code_execution", "enable_code_execution": true,
                "mcpServers": [fixture("fx")]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    let client = Client::connect(&proxy.url("/mcp")).await;
    let names = client.tool_names().await;
    assert!(
        names.contains(&"code_execution".to_owned()),
        "routing_mode serves it on /mcp: {names:?}"
    );
    client.close().await;

    let ran = home
        .cli(&[
            "code",
            "exec",
            "-e",
            "({sum: input.a + input.b})",
            "--input",
            r#"{"a": 2, "b": 40}"#,
        ])
        .await;
    let out: Value = serde_json::from_str(ran.ok()).unwrap();
    assert_eq!(out["result"], json!({"sum": 42}));
    let script = home.path().join("script.js");
    std::fs::write(&script, "throw new Error('on purpose')").unwrap();
    let failed = home
        .cli(&["code", "exec", "-f", script.to_str().unwrap()])
        .await;
    failed.failed(1, "on purpose");

    // Switched off (config saved, hot reloaded): every surface refuses alike.
    let mut config = home.read_config();
    config["enable_code_execution"] = json!(false);
    api.post("/config/apply", &config).await.data();
    let off = api.post("/code/exec", &json!({"code": "1"})).await;
    assert_eq!(off.status.as_u16(), 403, "{}", off.text);
    assert_eq!(off.json()["error"]["code"], "FEATURE_DISABLED");
    home.cli(&["code", "exec", "-e", "1"])
        .await
        .failed(1, "enable_code_execution");
}
