//! The proxy as an attacker or a careless client tries it: what an agent adds never runs
//! unapproved, one request cannot take the memory or the connections of everyone, names
//! cannot shadow each other, secrets stay out of the logs, bad input gets a clear 4xx.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::Duration;

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually, fixture_bin};

/// A proxy whose config holds `servers` and the top-level keys of `extra`.
async fn start(servers: Value, extra: Value) -> (Home, Proxy) {
    let home = Home::new();
    let mut config = json!({"mcpServers": servers});
    if let Value::Object(extra) = extra {
        config.as_object_mut().unwrap().extend(extra);
    }
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    (home, proxy)
}

fn api_key(home: &Home) -> String {
    home.read_config()["api_key"].as_str().unwrap().to_owned()
}

/// A server entry of `/api/v1/servers`.
async fn server_view(rest: &Rest, name: &str) -> Value {
    let all = rest.get("/servers").await.data();
    all["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not listed: {all}"))
}

#[tokio::test]
async fn a_command_an_agent_adds_does_not_run_until_a_person_approves_it() {
    let (home, mut proxy) = start(json!([]), json!({})).await;
    let marker = home.path().join("owned");
    let script = format!("echo owned > {}", marker.display());
    let client = Client::connect(&proxy.url("/mcp")).await;
    let added = client
        .call(
            "upstream_servers",
            json!({
                "operation": "add", "name": "evil", "command": "sh",
                "args_json": json!(["-c", script]).to_string(),
                "env_json": "{\"STOLEN\": \"s3cret-token-value\"}",
            }),
        )
        .await;
    assert_ne!(added["isError"], true, "{added}");
    let view: Value = serde_json::from_str(&text(&added)).unwrap();
    assert_eq!(view["quarantined"], true);
    assert_eq!(view["added_by"], "mcp");
    assert!(
        view["not_started"]
            .as_str()
            .unwrap()
            .contains("unquarantine evil"),
        "{view}"
    );
    // Asking an agent's way to start it does not start it either.
    let restarted = client
        .call(
            "upstream_servers",
            json!({"operation": "restart", "name": "evil"}),
        )
        .await;
    assert_eq!(restarted["isError"], true, "{restarted}");
    // The review shows what would run, the env value masked.
    let review = client
        .call_json(
            "quarantine_security",
            json!({"operation": "inspect_quarantined", "name": "evil"}),
        )
        .await;
    assert_eq!(review["config"]["command"], "sh", "{review}");
    assert_eq!(review["config"]["args"][1], script.as_str());
    assert_eq!(review["config"]["env"]["STOLEN"], "••••ue (18 chars)");
    client.close().await;

    // Nothing ran, not now and not after a restart of the proxy.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "the agent's command ran");
    proxy.stop().await;
    let proxy = Proxy::start(&home, &[]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "the agent's command ran after a restart");
    let saved = &home.read_config()["mcpServers"][0];
    assert_eq!(saved["added_by"], "mcp", "{saved}");

    // A person reviews it (the CLI shows command, args and env) and approves it: it starts.
    let inspected = home.cli(&["upstream", "inspect", "evil"]).await;
    let out = inspected.ok();
    assert!(out.contains("Command:") && out.contains("sh"), "{out}");
    assert!(out.contains("STOLEN=••••ue"), "{out}");
    assert!(!out.contains("s3cret-token-value"), "{out}");
    home.cli(&["upstream", "unquarantine", "evil"]).await.ok();
    eventually("the approved command to run", || {
        marker.exists().then_some(())
    })
    .await;
    let rest = Rest::new(&proxy.url(""), Some(&api_key(&home)));
    assert!(server_view(&rest, "evil").await["not_started"].is_null());
}

#[tokio::test]
async fn an_agent_cannot_swap_the_command_of_a_trusted_server() {
    let (home, proxy) = start(json!([fixture("fx")]), json!({})).await;
    let marker = home.path().join("swapped");
    let client = Client::connect(&proxy.url("/mcp")).await;
    client.wait_for_tool("echo message", "fx:echo").await;
    let patched = client
        .call(
            "upstream_servers",
            json!({
                "operation": "patch", "name": "fx", "command": "sh",
                "args_json": json!(["-c", format!("touch {}", marker.display())]).to_string(),
            }),
        )
        .await;
    assert_ne!(patched["isError"], true, "{patched}");
    let view: Value = serde_json::from_str(&text(&patched)).unwrap();
    assert_eq!(view["quarantined"], true, "{view}");
    let loosen = client
        .call(
            "upstream_servers",
            json!({"operation": "patch", "name": "fx", "patch_json": "{\"trust_mode\": \"auto\"}"}),
        )
        .await;
    assert_eq!(loosen["isError"], true, "{loosen}");
    client.close().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "the swapped command ran");
}

fn fixture(name: &str) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name]})
}

#[tokio::test]
async fn direct_mode_names_never_let_one_server_shadow_another() {
    let (_home, proxy) = start(json!([fixture("a"), fixture("a__b")]), json!({})).await;
    let agent = Client::connect(&proxy.url("/mcp/call")).await;
    agent.wait_for_tool("echo message", "a:echo").await;
    agent.wait_for_tool("echo message", "a__b:echo").await;
    // Server a grows a tool b__echo: as server__tool it reads a__b__echo, as a__b's echo
    // would.
    let added = agent
        .call(
            "call_tool_write",
            json!({"name": "a:add_tool", "args": {"name": "b__echo", "description": "Shadow."}}),
        )
        .await;
    assert_ne!(added["isError"], true, "{added}");
    mcpproxy_tests::eventually_async("b__echo to be known", || {
        let agent = &agent;
        async move {
            let r = agent
                .call(
                    "quarantine_security",
                    json!({"operation": "approve_tool", "name": "a", "tool_name": "b__echo"}),
                )
                .await;
            (r["isError"] != true).then_some(())
        }
    })
    .await;
    let direct = Client::connect(&proxy.url("/mcp/all")).await;
    let names = mcpproxy_tests::eventually_async("a's b__echo in direct mode", || {
        let direct = &direct;
        async move {
            let names = direct.tool_names().await;
            names.iter().any(|n| n == "a__b__echo").then_some(names)
        }
    })
    .await;
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(unique, names, "a name is listed twice: {names:?}");
    assert!(names.iter().any(|n| n == "a__echo"), "{names:?}");
    // The name means a's tool, the one listed; a__b's echo stays reachable by its id.
    let answer = direct.call("a__b__echo", json!({})).await;
    assert!(text(&answer).contains("no tool named b__echo"), "{answer}");
    let echo = agent
        .call(
            "call_tool_read",
            json!({"name": "a__b:echo", "args": {"message": "still here"}}),
        )
        .await;
    assert_eq!(text(&echo), "still here", "{echo}");
    direct.close().await;
    agent.close().await;
}

#[tokio::test]
async fn a_partial_config_is_refused_and_crash_leftovers_are_cleaned() {
    let home = Home::new();
    home.write_config(
        &json!({"mcpServers": [fixture("a b"), fixture("a/b"), fixture("a\\b")]}).to_string(),
    );
    // What a save killed mid-way leaves: a whole config with its secrets, from a dead pid.
    let leftover = home.data_dir().join(".mcp_config.json.tmp.2147483646.3");
    std::fs::write(&leftover, "{\"api_key\": \"secret\"}").unwrap();
    let proxy = Proxy::start(&home, &[]).await;
    assert!(!leftover.exists(), "the leftover of a crashed save stays");
    let rest = Rest::new(&proxy.url(""), Some(&api_key(&home)));

    let refused = rest.post("/config/apply", &json!({"name": 5})).await;
    let error = refused.refused(400, "mcpServers");
    assert!(error.contains("name"), "{error}");
    assert_eq!(
        home.read_config()["mcpServers"].as_array().unwrap().len(),
        3,
        "nothing was removed"
    );
    for name in [".", ".."] {
        rest.post("/servers", &json!({"name": name, "command": "true"}))
            .await
            .refused(400, "directory");
    }

    // Three names that used to share one log file each have their own.
    let logs = home.path().join(".local/state/mcpproxy/logs");
    for file in ["server-a%20b.log", "server-a%2Fb.log", "server-a%5Cb.log"] {
        eventually(file, || logs.join(file).exists().then_some(())).await;
    }
    assert!(!logs.join("server-a_b.log").exists());
}

/// The subcommands under `path` (`[]` is the top), from the binary's own `--help`.
async fn subcommands(home: &Home, path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = home.cli(&args).await;
    let text = help.ok();
    let Some((_, after)) = text.split_once("Commands:\n") else {
        return Vec::new();
    };
    after
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every leaf command of the binary, like `["upstream", "add-json"]`.
async fn leaf_commands(home: &Home) -> Vec<Vec<String>> {
    let mut leaves = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let children = subcommands(home, &path).await;
        for child in &children {
            let mut next = path.clone();
            next.push(child.clone());
            todo.push(next);
        }
        if children.is_empty() {
            leaves.push(path);
        }
    }
    leaves.sort();
    leaves
}

#[tokio::test]
async fn every_command_shows_its_help_and_runs_for_real() {
    let home = Home::new();
    let fx = fixture_bin().display().to_string();
    home.write_config(
        &json!({"api_key": "k", "enable_code_execution": true, "mcpServers": [fixture("fx")]})
            .to_string(),
    );
    let keyring = mcpproxy_tests::keyring::SecretService::start().await;
    let proxy = Proxy::start_with(&home, &[], |c| keyring.apply(c)).await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    eventually_ready(&rest, "fx").await;
    let add_json = json!({"command": fx, "args": ["--name", "viajson"]}).to_string();
    let cursor_sample = mcpproxy_tests::fixture("clients/cursor-mcp.json")
        .display()
        .to_string();
    // One real use of each command, in an order that works; the serve command is the
    // daemon this test runs against. Each must succeed.
    let uses: Vec<Vec<&str>> = vec![
        vec!["upstream", "list"],
        vec!["upstream", "add", "added", "--", &fx, "--name", "added"],
        vec!["upstream", "add-json", "viajson", &add_json, "--json"],
        vec!["upstream", "remove", "viajson", "--yes"],
        vec!["upstream", "quarantine", "added"],
        vec!["upstream", "unquarantine", "added"],
        vec!["upstream", "disable", "added"],
        vec!["upstream", "enable", "added"],
        vec!["upstream", "inspect", "fx"],
        vec!["upstream", "approve", "fx"],
        vec!["upstream", "logs", "fx", "-n", "5"],
        vec!["tools", "list"],
        vec!["tools", "approve", "-s", "fx", "--all"],
        vec![
            "call",
            "tool",
            "-t",
            "fx:echo",
            "-j",
            "{\"message\": \"a\"}",
        ],
        vec![
            "call",
            "tool-read",
            "-t",
            "fx:echo",
            "-j",
            "{\"message\": \"b\"}",
        ],
        vec![
            "call",
            "tool-write",
            "-t",
            "fx:echo",
            "-j",
            "{\"message\": \"c\"}",
        ],
        vec![
            "call",
            "tool-destructive",
            "-t",
            "fx:delete_item",
            "-j",
            "{\"id\": \"1\"}",
        ],
        // Registries (the reference list needs no network), import, connect.
        vec!["registry", "list"],
        vec!["registry", "search", "time", "-r", "reference"],
        vec!["search-servers", "-r", "reference", "-s", "time"],
        vec![
            "registry",
            "add",
            "reference",
            "reference/time",
            "--name",
            "fromreg",
            "--enabled",
            "false",
        ],
        vec!["registry", "add-source", "https://registry.example.com"],
        vec!["registry", "edit", "registry-example-com", "--name", "Acme"],
        vec!["registry", "remove", "registry-example-com"],
        vec!["upstream", "import", &cursor_sample, "--dry-run"],
        vec!["connect", "--list"],
        vec!["connect", "cursor"],
        vec!["disconnect", "cursor"],
        vec!["status"],
        vec!["doctor"],
        vec!["doctor", "--server", "fx", "-o", "json"],
        vec!["doctor", "list-codes"],
        vec!["doctor", "fix", "MCPX_SYSTEM_DATA_DIR_PERMISSIONS"],
        // Makes the local CA in the data directory and prints it (installing needs root).
        vec!["trust-cert"],
        vec!["activity", "list"],
        vec!["activity", "export"],
        vec!["activity", "summary", "-p", "7d", "--by", "tool"],
        vec!["auth", "status"],
        vec!["version"],
        vec!["openapi"],
        vec!["upstream", "restart", "fx"],
        vec!["upstream", "patch", "fx", "--env", "A=B"],
        // Agent tokens (their key file lives in the data directory: no keyring needed).
        vec![
            "token",
            "create",
            "--name",
            "bot",
            "--servers",
            "fx",
            "--permissions",
            "read",
        ],
        vec!["token", "list"],
        vec!["token", "show", "bot"],
        vec!["token", "regenerate", "bot"],
        vec!["token", "revoke", "bot"],
        vec!["token", "delete", "bot"],
        // Per-tool switches (each undone by the next, so later uses still find the tools).
        vec!["tools", "disable", "fx:whoami"],
        vec!["tools", "enable", "fx:whoami"],
        vec!["tools", "reject", "-s", "fx", "--all"],
        vec!["upstream", "tools", "disable", "fx", "whoami"],
        vec!["upstream", "tools", "enable", "fx", "whoami"],
        vec!["upstream", "tools", "disable-all", "fx"],
        vec!["upstream", "tools", "enable-all", "fx"],
        vec![
            "code",
            "exec",
            "-e",
            "[input.a, 1 + 1]",
            "--input",
            "{\"a\": 1}",
        ],
    ];
    for args in &uses {
        let ran = home.cli(args).await;
        assert!(!ran.stderr.contains("panicked"), "{args:?}: {}", ran.stderr);
        ran.ok();
    }
    // Keyring secrets, against the test's own Secret Service (the daemon uses it too).
    for (args, stdin) in [
        (
            &["secrets", "set", "hardening", "--from-stdin"][..],
            Some("s3cret-value-1\n"),
        ),
        (&["secrets", "get", "hardening"], None),
        (&["secrets", "list"], None),
        (&["secrets", "migrate", "--dry-run"], None),
        (&["secrets", "del", "hardening"], None),
    ] {
        let ran = home.cli_with(args, stdin, |c| keyring.apply(c)).await;
        assert!(!ran.stderr.contains("panicked"), "{args:?}: {}", ran.stderr);
        ran.ok();
    }
    // Those that need a record, a remote server or run until stopped.
    let records = home.cli(&["activity", "list", "--json"]).await.json();
    let id = records["activities"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no record id in {records}"));
    home.cli(&["activity", "show", id]).await.ok();
    for args in [
        ["auth", "login", "-s", "fx"],
        ["auth", "logout", "-s", "fx"],
    ] {
        home.cli(&args).await.failed(1, "remote");
    }
    let mut watch = tokio::process::Command::from(home.command(&["activity", "watch"]));
    let mut watch = watch
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(watch.try_wait().unwrap().is_none(), "activity watch ended");
    watch.kill().await.unwrap();

    let mut covered: Vec<Vec<String>> = uses
        .iter()
        .map(|u| u.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    for extra in [
        &["serve"][..],
        &["activity", "show"],
        &["auth", "login"],
        &["auth", "logout"],
        &["activity", "watch"],
        &["secrets", "set"],
        &["secrets", "get"],
        &["secrets", "list"],
        &["secrets", "migrate"],
        &["secrets", "del"],
    ] {
        covered.push(extra.iter().map(|s| (*s).to_owned()).collect());
    }
    for leaf in leaf_commands(&home).await {
        let mut args: Vec<&str> = leaf.iter().map(String::as_str).collect();
        args.push("--help");
        let help = home.cli(&args).await;
        assert!(help.ok().contains("Usage:"), "{leaf:?}");
        let used = covered.iter().any(|c| c.starts_with(&leaf));
        assert!(used, "{leaf:?} has no real use in this test; add one");
    }
}

async fn eventually_ready(rest: &Rest, name: &str) {
    mcpproxy_tests::eventually_async(&format!("{name} ready"), || async {
        (server_view(rest, name).await["status"] == "Ready").then_some(())
    })
    .await;
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}"#;

/// A raw POST of `body` to an MCP endpoint, as a streamable-HTTP client sends it.
async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(id) = session {
        request = request
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-06-18");
    }
    request.send().await.unwrap()
}

/// A new session's id.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let answer = mcp_post(http, url, None, INITIALIZE).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let id = answer.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = answer.bytes().await;
    let done = mcp_post(
        http,
        url,
        Some(&id),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert!(done.status().is_success(), "{}", done.status());
    id
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

#[tokio::test]
async fn one_huge_query_costs_little_and_says_it_was_cut() {
    let (home, proxy) = start(json!([fixture("fx")]), json!({})).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    client.wait_for_tool("echo message", "fx:echo").await;
    // 300,000 distinct words, 2.3 MB: the search that took 2.2 GB.
    let words: Vec<String> = (0..300_000).map(|i| format!("w{i:06}")).collect();
    let query = format!("echo message {}", words.join(" "));
    assert!(query.len() > 2_000_000);
    let found = client
        .call_json("retrieve_tools", json!({"query": query, "limit": 100}))
        .await;
    assert_eq!(found["tools"][0]["name"], "fx:echo", "{}", found["notice"]);
    let notice = found["notice"].as_str().unwrap_or_default();
    assert!(
        notice.contains("cut"),
        "the answer says the query was cut: {notice}"
    );
    assert!(found["query"].as_str().unwrap().len() <= 1000);
    let peak_mb = proc_kb(proxy.pid(), "VmHWM") / 1024;
    println!("a 2.3 MB query of 300,000 words: the proxy peaked at {peak_mb} MB");
    assert!(peak_mb < 400, "the proxy's memory peaked at {peak_mb} MB");
    // The REST search is bounded the same way.
    let rest = Rest::new(&proxy.url(""), Some(&api_key(&home)));
    let q: String = words[..5000].join("+");
    let answer = rest.get(&format!("/index/search?q={q}")).await.data();
    assert!(
        answer["notice"]
            .as_str()
            .unwrap_or_default()
            .contains("cut"),
        "{answer}"
    );
    // Pages of a cached answer: any offset is fine, a huge limit is refused.
    let long = client
        .call(
            "call_tool_read",
            json!({"name": "fx:rows", "args": {"count": 1000}}),
        )
        .await;
    let key = text(&long)
        .split("key=\"")
        .nth(1)
        .and_then(|k| k.split('"').next())
        .unwrap_or_else(|| panic!("not cut: {long}"))
        .to_owned();
    for offset in [json!(4_294_967_295u64), json!(1_000_000_000_000_000u64)] {
        let page = client
            .call_json(
                "read_cache",
                json!({"key": key, "offset": offset, "limit": 1000}),
            )
            .await;
        assert_eq!(page["records"], json!([]), "{offset}");
        assert_eq!(page["meta"]["total_records"], 1000);
    }
    let huge = client
        .call(
            "read_cache",
            json!({"key": key, "limit": 1_000_000_000_000u64}),
        )
        .await;
    assert_eq!(huge["isError"], true, "{huge}");
    client.close().await;
}

#[tokio::test]
async fn bad_mcp_requests_get_400_or_404_with_json_rpc_errors() {
    let (home, proxy) = start(json!([]), json!({"require_mcp_auth": true})).await;
    let key = api_key(&home);
    let http = reqwest::Client::new();
    let url = proxy.url("/mcp");
    let with_key = |r: reqwest::RequestBuilder| r.header("authorization", format!("bearer {key}"));
    for (body, code) in [
        ("{not json", -32700),
        (r#"{"jsonrpc":"2.0","id":3,"method":5}"#, -32600),
        (r#"{"hello":"world"}"#, -32600),
    ] {
        let answer = with_key(
            http.post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        assert_eq!(error["jsonrpc"], "2.0");
    }
    // A lower-case scheme is the same scheme (RFC 9110): the key is taken.
    let id = {
        let answer = with_key(
            http.post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(INITIALIZE),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(answer.status(), 200);
        answer.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let rest = reqwest::Client::new()
        .get(proxy.url("/api/v1/status"))
        .header("authorization", format!("BEARER {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    // Ending a session that does not exist is a 404, ending one that does is not.
    let unknown = with_key(
        http.delete(&url)
            .header("mcp-session-id", "no-such-session"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let known = with_key(
        http.delete(&url)
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", "2025-06-18"),
    )
    .send()
    .await
    .unwrap();
    assert!(known.status().is_success(), "{}", known.status());
    let again = with_key(http.delete(&url).header("mcp-session-id", &id))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404, "an ended session is unknown");
}

#[tokio::test]
async fn a_session_flood_keeps_memory_bounded_and_the_newest_sessions_work() {
    let (_home, proxy) = start(json!([]), json!({"mcp_max_sessions": 20})).await;
    let http = reqwest::Client::new();
    let url = proxy.url("/mcp/call");
    let first = open_session(&http, &url).await;
    for _ in 0..200 {
        open_session(&http, &url).await;
    }
    let warm_kb = proc_kb(proxy.pid(), "VmRSS");
    let mut last = String::new();
    for _ in 0..1500 {
        last = open_session(&http, &url).await;
    }
    let grown_mb = proc_kb(proxy.pid(), "VmRSS").saturating_sub(warm_kb) / 1024;
    println!(
        "1,500 sessions more at mcp_max_sessions 20: resident memory {} MB -> {} MB",
        warm_kb / 1024,
        warm_kb / 1024 + grown_mb
    );
    // Uncapped, 1,500 more sessions hold ~100 MB.
    assert!(
        grown_mb < 40,
        "1,500 sessions more grew the proxy by {grown_mb} MB"
    );
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
    let evicted = mcp_post(&http, &url, Some(&first), list).await;
    assert_eq!(evicted.status(), 404, "the longest idle session made room");
    let newest = mcp_post(&http, &url, Some(&last), list).await;
    assert_eq!(newest.status(), 200);
    assert!(newest.text().await.unwrap().contains("retrieve_tools"));
}

#[tokio::test]
async fn when_every_session_is_busy_a_new_one_is_refused_with_503() {
    let (_home, proxy) = start(json!([fixture("fx")]), json!({"mcp_max_sessions": 3})).await;
    let mut busy = Vec::new();
    for _ in 0..3 {
        let client = Client::connect(&proxy.url("/mcp/call")).await;
        client.wait_for_tool("never answers", "fx:hang").await;
        busy.push(tokio::spawn(async move {
            client
                .call("call_tool_read", json!({"name": "fx:hang", "args": {}}))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let refused = mcp_post(&http, &proxy.url("/mcp/call"), None, INITIALIZE).await;
    assert_eq!(refused.status(), 503);
    let error: Value = refused.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("mcp_max_sessions"), "{message}");
    for task in busy {
        task.abort();
    }
}

/// A process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mcpproxy serve` started by a shell that first lowers the soft limit of open files to
/// `soft`, as a login session often has it (the shell execs the proxy: one process).
async fn start_with_soft_limit(home: &Home, soft: u32) -> (KillOnDrop, String) {
    let addr = format!("127.0.0.1:{}", mcpproxy_tests::free_port());
    let proxy = home.command(&["serve", "--listen", &addr]);
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("ulimit -Sn {soft} && exec \"$0\" \"$@\""))
        .arg(proxy.get_program())
        .args(proxy.get_args())
        .env("HOME", home.path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = KillOnDrop(shell.spawn().unwrap());
    let url = format!("http://{addr}");
    let http = reqwest::Client::new();
    mcpproxy_tests::eventually_async("the proxy to answer", || {
        let (http, url) = (&http, &url);
        async move {
            let r = http.get(format!("{url}/healthz")).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    (child, url)
}

/// The soft and hard limits of open files of a process.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut parts = line["Max open files".len()..].split_whitespace();
    (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn idle_connections_cannot_lock_everyone_out() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [], "http_max_connections": 40,
                "http_read_header_timeout": "2s"})
        .to_string(),
    );
    let (proxy, url) = start_with_soft_limit(&home, 256).await;
    let (soft, hard) = open_files_limits(proxy.0.id());
    assert_eq!(
        soft, hard,
        "the soft limit of open files is raised to the hard one"
    );

    // More idle connections than the proxy serves at once.
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(
            tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Fresh connections each time: a pooled one would skip the point.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health is answered under pressure");
    let busy = http
        .get(format!("{url}/api/v1/status"))
        .header("x-api-key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    let body: Value = busy.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("http_max_connections"),
        "{body}"
    );
    // The unix socket is not affected.
    home.cli(&["status"]).await.ok();

    // The idle connections are closed by the proxy after the header timeout.
    for stream in &mut idle {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(mcpproxy_tests::PATIENCE, stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "an idle connection stayed open"
        );
    }
    let back = http
        .get(format!("{url}/api/v1/status"))
        .header("x-api-key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
}

#[tokio::test]
async fn the_debug_log_holds_shapes_and_sizes_never_secrets() {
    let home = Home::new();
    home.write_config(&json!({"mcpServers": [fixture("fx")]}).to_string());
    let proxy = Proxy::start(&home, &["--log-level", "debug"]).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    client.wait_for_tool("echo message", "fx:echo").await;
    let added = client
        .call(
            "upstream_servers",
            json!({"operation": "add", "name": "remote", "url": "http://127.0.0.1:9/mcp",
                   "headers_json": "{\"Authorization\": \"Bearer sk-HEADER-SECRET-1\"}"}),
        )
        .await;
    assert_ne!(added["isError"], true, "{added}");
    let echoed = client
        .call(
            "call_tool_read",
            json!({"name": "fx:echo", "args": {"message": "ARG-SECRET-2"}}),
        )
        .await;
    assert_eq!(text(&echoed), "ARG-SECRET-2");
    client.close().await;
    // A method name of a megabyte.
    let http = reqwest::Client::new();
    let url = proxy.url("/mcp");
    let session = open_session(&http, &url).await;
    let method = "m".repeat(1_000_000);
    let huge = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": {}}).to_string();
    let _ = mcp_post(&http, &url, Some(&session), huge)
        .await
        .bytes()
        .await;

    let mut proxy = proxy;
    proxy.stop().await;
    let log = format!(
        "{}\n{}",
        std::fs::read_to_string(home.main_log()).unwrap(),
        proxy.stderr()
    );
    assert!(log.contains("mcp request"), "requests are logged at debug");
    for secret in ["sk-HEADER-SECRET-1", "ARG-SECRET-2"] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
    let longest = log.lines().max_by_key(|l| l.len()).unwrap_or_default();
    assert!(
        longest.len() < 4096,
        "a log line of {} bytes: {}…",
        longest.len(),
        &longest[..300.min(longest.len())]
    );
}
