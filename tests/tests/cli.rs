//! The command line against a real daemon (and without one): every change it makes is seen
//! in the daemon's state through the REST API, its JSON is the REST API's, and each of its
//! exit codes comes from a real situation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use mcpproxy_tests::rest::{Rest, venv_bin};
use mcpproxy_tests::upstream::everything_js;
use mcpproxy_tests::{Home, PATIENCE, Proxy, eventually_async, fixture_bin, signal_pid};

const KEY: &str = "cli-test-key";

fn fixture_str() -> String {
    fixture_bin().display().to_string()
}

async fn daemon(servers: Value) -> (Home, Proxy, Rest) {
    let home = Home::new();
    home.write_config(&json!({"api_key": KEY, "mcpServers": servers}).to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    (home, proxy, api)
}

async fn state_of(api: &Rest, name: &str) -> Option<Value> {
    let servers = api.get("/servers").await.data();
    servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

async fn wait_ready(api: &Rest, name: &str) -> Value {
    eventually_async(&format!("{name} ready"), || async {
        state_of(api, name).await.filter(|s| s["status"] == "Ready")
    })
    .await
}

#[tokio::test]
async fn servers_round_trip_through_the_daemon() {
    let (home, _proxy, api) = daemon(json!([])).await;
    let fx = fixture_str();
    let added = home
        .cli(&[
            "upstream",
            "add",
            "fx",
            "--no-quarantine",
            "--json",
            "--",
            &fx,
            "--name",
            "fx",
        ])
        .await
        .json();
    assert_eq!(added["name"], "fx");
    assert_eq!(added["quarantined"], false);
    wait_ready(&api, "fx").await;

    // --json is the REST API's data.
    let listed = home.cli(&["upstream", "list", "--json"]).await.json();
    assert_eq!(listed, api.get("/servers").await.data());
    let table = home.cli(&["upstream", "list"]).await;
    let header = table.ok().lines().next().unwrap().to_owned();
    assert!(
        header.starts_with("NAME") && header.contains("STATE"),
        "{header}"
    );
    assert!(
        table.stdout.contains("fx") && table.stdout.contains("Ready"),
        "{}",
        table.stdout
    );

    let pid = |v: Value| v["content"][0]["text"].as_str().unwrap().to_owned();
    let whoami = || home.cli(&["call", "tool", "-t", "fx:whoami", "--json"]);
    let before = pid(whoami().await.json());

    home.cli(&["upstream", "disable", "fx"]).await.ok();
    assert_eq!(state_of(&api, "fx").await.unwrap()["enabled"], false);
    assert_eq!(
        home.read_config()["mcpServers"][0]["enabled"],
        false,
        "saved"
    );
    let enabled = home.cli(&["upstream", "enable", "fx", "--wait"]).await;
    assert!(enabled.ok().contains("Ready"), "{}", enabled.stdout);
    assert_eq!(state_of(&api, "fx").await.unwrap()["status"], "Ready");

    let restarted = home
        .cli(&["upstream", "restart", "-s", "fx", "--wait"])
        .await;
    assert!(
        restarted.ok().contains("Restarted server 'fx'"),
        "{}",
        restarted.stdout
    );
    let after = pid(whoami().await.json());
    assert_ne!(before, after, "a restart starts a new process");

    let bulk = home
        .cli(&["upstream", "restart", "--all", "--json"])
        .await
        .json();
    assert_eq!(bulk["total"], 1);
    assert_eq!(bulk["failed"], 0);

    // What the CLI did is in the activity log as the CLI's, the same through both doors.
    let cli_log = home
        .cli(&["activity", "list", "--type", "server_change", "--json"])
        .await
        .json();
    assert_eq!(
        cli_log,
        api.get("/activity?type=server_change").await.data()
    );
    let actions: Vec<&str> = cli_log["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["source"], "cli", "{r}");
            r["metadata"]["action"].as_str().unwrap()
        })
        .collect();
    for want in ["add", "disable", "enable", "restart"] {
        assert!(actions.contains(&want), "{want} missing: {actions:?}");
    }

    home.cli(&["upstream", "remove", "fx", "--yes"]).await.ok();
    assert!(state_of(&api, "fx").await.is_none());
    assert_eq!(home.read_config()["mcpServers"], json!([]));
    home.cli(&["upstream", "remove", "fx", "--yes"])
        .await
        .failed(1, "not found");
    home.cli(&["upstream", "remove", "fx", "--yes", "--if-exists"])
        .await
        .ok();
}

#[tokio::test]
async fn calls_reach_a_real_upstream_with_their_intent() {
    let (home, _proxy, api) = daemon(json!([
        {"name": "everything", "command": "node", "args": [everything_js(), "stdio"], "quarantined": false},
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
    ]))
    .await;
    wait_ready(&api, "everything").await;
    wait_ready(&api, "fx").await;

    let echoed = home
        .cli(&[
            "call",
            "tool",
            "-t",
            "everything:echo",
            "-j",
            r#"{"message": "from the cli"}"#,
        ])
        .await;
    assert!(echoed.ok().contains("from the cli"), "{}", echoed.stdout);
    let result = home
        .cli(&[
            "call",
            "tool-read",
            "-t",
            "everything:echo",
            "-j",
            r#"{"message": "read"}"#,
            "--reason",
            "checking the echo",
            "--sensitivity",
            "public",
            "--json",
        ])
        .await
        .json();
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(result["content"][0]["text"], "Echo: read");

    // The intent is checked: a destructive tool is refused to a read call, with the way out.
    home.cli(&[
        "call",
        "tool-read",
        "-t",
        "fx:delete_item",
        "-j",
        r#"{"id": "1"}"#,
    ])
    .await
    .failed(1, "call_tool_destructive");
    let deleted = home
        .cli(&[
            "call",
            "tool-destructive",
            "-t",
            "fx:delete_item",
            "-j",
            r#"{"id": "1"}"#,
            "--reason",
            "cleanup",
        ])
        .await;
    deleted.ok();
    home.cli(&["call", "tool", "-t", "everything:echo", "-j", "[1]"])
        .await
        .failed(1, "JSON object");
    home.cli(&["call", "tool", "-t", "nowhere:echo"])
        .await
        .failed(1, "nowhere");

    // The record keeps who called, with which intent.
    let page = home
        .cli(&[
            "activity",
            "list",
            "--type",
            "tool_call",
            "--tool",
            "echo",
            "--json",
        ])
        .await
        .json();
    let read = page["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metadata"]["variant"] == "call_tool_read")
        .unwrap_or_else(|| panic!("the read call is recorded: {page}"))
        .clone();
    assert_eq!(read["source"], "cli");
    let id = read["id"].as_str().unwrap();
    let shown = home.cli(&["activity", "show", id, "--json"]).await.json();
    assert_eq!(
        shown,
        api.get(&format!("/activity/{id}"))
            .await
            .data()
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("response");
                Value::Object(o)
            })
            .unwrap()
    );
    let text = home.cli(&["activity", "show", id]).await;
    assert!(text.ok().contains("checking the echo"), "{}", text.stdout);
}

#[tokio::test]
async fn standalone_edits_reach_a_daemon_by_hot_reload() {
    // Two data directories share one config file: the CLI of the second finds no daemon,
    // edits the file alone, and the daemon of the first picks the edit up.
    let (home, _proxy, api) = daemon(json!([])).await;
    let shared = home.config_path().display().to_string();
    let other = home.path().join("other-data");
    let other = other.display().to_string();
    let fx = fixture_str();
    let alone = home
        .cli(&[
            "-c",
            &shared,
            "-d",
            &other,
            "upstream",
            "add",
            "fx",
            "--no-quarantine",
            "--",
            &fx,
            "--name",
            "fx",
        ])
        .await;
    assert!(alone.ok().contains("Added server 'fx'"), "{}", alone.stdout);
    wait_ready(&api, "fx").await;
    let listed = home
        .cli(&["-c", &shared, "-d", &other, "upstream", "list"])
        .await;
    assert!(listed.ok().contains("Not running"), "{}", listed.stdout);
    assert!(listed.stderr.contains("not running"), "{}", listed.stderr);
    home.cli(&[
        "-c", &shared, "-d", &other, "upstream", "remove", "fx", "--yes",
    ])
    .await
    .ok();
    eventually_async("fx gone from the daemon", || async {
        state_of(&api, "fx").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn without_a_daemon_list_add_remove_and_tools_list_work_alone() {
    let home = Home::new();
    let everything = everything_js();
    home.cli(&[
        "upstream",
        "add",
        "everything",
        "--",
        "node",
        &everything,
        "stdio",
    ])
    .await
    .ok();
    let saved = home.read_config();
    assert_eq!(saved["mcpServers"][0]["name"], "everything");
    assert_eq!(
        saved["mcpServers"][0]["quarantined"], true,
        "quarantined by default"
    );
    let mode = std::fs::metadata(home.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let listed = home.cli(&["upstream", "list", "--json"]).await.json();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["servers"][0]["connected"], false);

    let tools = home
        .cli(&["tools", "list", "-s", "everything", "--json"])
        .await
        .json();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    let table = home.cli(&["tools", "list", "-s", "everything"]).await;
    assert!(table.ok().starts_with("NAME"), "{}", table.stdout);
    let traced = home
        .cli(&["tools", "list", "-s", "everything", "--trace-transport"])
        .await;
    traced.ok();
    assert!(
        traced.stderr.contains("ListToolsRequest"),
        "the transport's traffic is traced:\n{}",
        traced.stderr
    );
    home.cli(&["tools", "list", "-s", "ghost"])
        .await
        .failed(1, "configured: everything");

    home.cli(&["upstream", "remove", "everything", "-y"])
        .await
        .ok();
    assert_eq!(home.read_config()["mcpServers"], json!([]));
}

#[tokio::test]
async fn yaml_and_the_environment_choose_the_output() {
    let home = Home::new();
    let fx = fixture_str();
    home.cli(&[
        "upstream",
        "add",
        "fx",
        "--header",
        "X-Team: core",
        "--",
        &fx,
    ])
    .await
    .ok();
    let json_out = home.cli(&["upstream", "list", "-o", "json"]).await.json();
    let yaml_out = home.cli(&["upstream", "list", "-o", "yaml"]).await;
    // A YAML parser from PyPI reads back the same document.
    let mut parse = tokio::process::Command::new(venv_bin("python"));
    parse
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = parse.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(yaml_out.ok().as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    let from_yaml: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_yaml, json_out);

    let mut cmd = tokio::process::Command::from(home.command(&["upstream", "list"]));
    let out = cmd.env("MCPPROXY_OUTPUT", "json").output().await.unwrap();
    let from_env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_env, json_out);
    home.cli(&["upstream", "list", "-o", "xml"])
        .await
        .failed(1, "-o json");
}

#[tokio::test]
async fn each_exit_code_comes_from_a_real_situation() {
    // 1: bad input, and a command that needs the daemon when none runs.
    let home = Home::new();
    home.cli(&["upstream", "add", "x"])
        .await
        .failed(1, "-- npx");
    home.cli(&["upstream", "enable", "x"])
        .await
        .failed(1, "mcpproxy serve");
    home.cli(&["upstream", "frobnicate"])
        .await
        .failed(1, "frobnicate");
    home.cli(&["upstream", "remove", "x"])
        .await
        .failed(1, "--yes");

    // 4: a config file that is not JSON, with where.
    let broken = Home::new();
    broken.write_config("{\"mcpServers\": [}");
    broken
        .cli(&["upstream", "list"])
        .await
        .failed(4, "mcp_config.json:1:17");

    // 5: a data directory others can read.
    let open = Home::new();
    open.write_config(r#"{"mcpServers": []}"#);
    std::fs::set_permissions(open.data_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    open.cli(&["upstream", "list"]).await.failed(5, "chmod 700");

    // 3: a daemon that holds the data directory but does not answer.
    let (home, proxy, _api) = daemon(json!([])).await;
    signal_pid(proxy.pid(), nix::sys::signal::Signal::SIGSTOP);
    let stuck = home.cli(&["upstream", "list"]).await;
    signal_pid(proxy.pid(), nix::sys::signal::Signal::SIGCONT);
    stuck.failed(3, "cannot be reached");
    home.cli(&["upstream", "list"]).await.ok();
}

#[tokio::test]
async fn status_shows_the_daemon_and_resets_the_key() {
    let home = Home::new();
    let down = home.cli(&["status", "--json"]).await.json();
    assert_eq!(down["state"], "not running");

    let (home, proxy, api) = daemon(json!([])).await;
    let up = home.cli(&["status", "--json"]).await.json();
    assert_eq!(up["state"], "running");
    assert_eq!(up["listen_addr"], proxy.addr);
    assert_eq!(up["api_key"], "cli-****-key", "masked");
    assert_eq!(up["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        up["via"].as_str().unwrap().starts_with("unix://"),
        "the socket first: {up}"
    );
    let shown = home.cli(&["status", "--show-key", "--json"]).await.json();
    assert_eq!(shown["api_key"], KEY);

    let reset = home.cli(&["status", "--reset-key", "--json"]).await.json();
    let new_key = reset["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, KEY);
    assert_eq!(home.read_config()["api_key"], new_key.as_str());
    let fresh = Rest::new(&proxy.url(""), Some(&new_key));
    eventually_async("the daemon takes the new key", || async {
        fresh.get("/status").await.status.is_success().then_some(())
    })
    .await;
    assert_eq!(
        api.get("/status").await.status,
        401,
        "the old key is refused"
    );
}

/// Starts `mcpproxy <args>` in the background with its stdout as lines.
fn background(
    home: &Home,
    args: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut cmd = tokio::process::Command::from(home.command(args));
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

async fn line_with(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    words: &str,
) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the output ended");
            if line.contains(words) {
                return line;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {words:?}"))
}

async fn interrupt(mut child: tokio::process::Child) {
    signal_pid(child.id().unwrap(), nix::sys::signal::Signal::SIGINT);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends it quietly");
}

#[tokio::test]
async fn logs_follow_and_activity_watch_print_what_happens() {
    let (home, _proxy, api) = daemon(json!([
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
    ]))
    .await;
    wait_ready(&api, "fx").await;
    let (logs, mut log_lines) = background(&home, &["upstream", "logs", "fx", "-f", "-n", "5"]);
    // It prints the tail first, then follows.
    tokio::time::timeout(PATIENCE, log_lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let (watch, mut watched) = background(&home, &["activity", "watch", "--json", "-s", "fx"]);
    // The watcher sees calls once it is connected: call until it shows one.
    let echo = json!({"tool_name": "fx:echo", "arguments": {"message": "warm-up"}});
    let mut connected = false;
    for _ in 0..60 {
        api.post("/tools/call", &echo).await.data();
        let next =
            tokio::time::timeout(std::time::Duration::from_millis(500), watched.next_line()).await;
        if let Ok(Ok(Some(_))) = next {
            connected = true;
            break;
        }
    }
    assert!(connected, "activity watch never showed a call");
    home.cli(&[
        "call",
        "tool",
        "-t",
        "fx:stderr",
        "-j",
        r#"{"text": "follow-marker-42"}"#,
    ])
    .await
    .ok();
    line_with(&mut log_lines, "follow-marker-42").await;
    let event: Value =
        serde_json::from_str(&line_with(&mut watched, r#""tool_name":"stderr""#).await).unwrap();
    assert_eq!(event["type"], "tool_call");
    assert_eq!(event["tool_name"], "stderr");
    assert_eq!(event["source"], "cli");
    // Keep reading both outputs: a follower blocked on a full pipe cannot see its Ctrl-C.
    tokio::spawn(async move { while let Ok(Some(_)) = log_lines.next_line().await {} });
    tokio::spawn(async move { while let Ok(Some(_)) = watched.next_line().await {} });
    interrupt(logs).await;
    interrupt(watch).await;
}
