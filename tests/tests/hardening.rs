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
    home.write_config(&json!({"api_key": "k", "mcpServers": [fixture("fx")]}).to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    eventually_ready(&rest, "fx").await;
    let add_json = json!({"command": fx, "args": ["--name", "viajson"]}).to_string();
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
        vec!["status"],
        vec!["activity", "list"],
        vec!["activity", "export"],
        vec!["auth", "status"],
        vec!["version"],
        vec!["openapi"],
        vec!["upstream", "restart", "fx"],
        vec!["upstream", "patch", "fx", "--env", "A=B"],
    ];
    for args in &uses {
        let ran = home.cli(args).await;
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
