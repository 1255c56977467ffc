//! Upstream connections against real servers: our fixture (stdio and HTTP) and the npm
//! servers `server-everything` (stdio, streamable HTTP, SSE) and `server-memory` (stdio).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::{Duration, Instant};

use mcpproxy_application::ports::{UpstreamError, UpstreamPool};
use mcpproxy_domain::{ConnectionState, GoDuration};
use mcpproxy_tests::upstream::{
    Background, TestPool, alive, config, everything_js, fixture, http, memory_js, name,
    processes_with, stdio,
};
use mcpproxy_tests::{PATIENCE, eventually};
use serde_json::{Value, json};

const CALL: Duration = Duration::from_secs(20);

fn args(v: Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

/// The text of the first content block of a CallToolResult.
fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn stdio_fixture_lists_every_page_and_calls() {
    let t = TestPool::new();
    t.pool
        .reconcile(&config(vec![fixture(
            "paged",
            &["--tools", "30", "--page-size", "7"],
        )]))
        .await;
    let status = t.ready("paged").await;
    assert_eq!(status.tools.len(), 16 + 30, "all pages of tools/list");
    assert_eq!(t.recorder.tool_names("paged").len(), 46);
    let result = t
        .pool
        .call_tool(
            &name("paged"),
            "echo",
            args(json!({"message": "hi"})),
            CALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(text(&result), "hi");
    assert_eq!(result["isError"], false);
    assert_eq!(
        t.recorder.states_of("paged"),
        [
            ConnectionState::Connecting,
            ConnectionState::Discovering,
            ConnectionState::Ready
        ]
    );
    let log = t.log("paged").await.join("\n");
    assert!(log.contains("ready: 46 tools"), "{log}");
    t.pool.shutdown().await;
}

#[tokio::test]
async fn server_everything_over_stdio_http_and_sse() {
    let http_server = Background::everything("streamableHttp");
    let sse_server = Background::everything("sse");
    let t = TestPool::new();
    t.pool
        .reconcile(&config(vec![
            stdio("ev-stdio", "node", &[&everything_js(), "stdio"]),
            http("ev-http", &http_server.url("/mcp"), ""),
            http("ev-sse", &sse_server.url("/sse"), "sse"),
        ]))
        .await;
    for server in ["ev-stdio", "ev-http", "ev-sse"] {
        let status = t.ready(server).await;
        let names: Vec<&str> = status.tools.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"echo"), "{server}: {names:?}");
        let result = t
            .pool
            .call_tool(
                &name(server),
                "echo",
                args(json!({"message": "hello"})),
                CALL,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{server}: {e}"));
        assert!(text(&result).contains("hello"), "{server}: {result}");
    }
    t.pool.shutdown().await;
}

#[tokio::test]
async fn server_memory_over_stdio() {
    let t = TestPool::new();
    t.pool
        .reconcile(&config(vec![stdio("memory", "node", &[&memory_js()])]))
        .await;
    let status = t.ready("memory").await;
    assert!(status.tools.iter().any(|t| t.name == "create_entities"));
    let result = t
        .pool
        .call_tool(&name("memory"), "read_graph", args(json!({})), CALL, None)
        .await
        .unwrap();
    assert_ne!(result["isError"], true, "{result}");
    assert!(text(&result).contains("entities"), "{result}");
    t.pool.shutdown().await;
}

#[tokio::test]
async fn fixture_over_http_with_headers_from_the_environment() {
    let server = Background::fixture_http("hdr", &["--require-header", "X-Token=s3cret"]);
    let t = TestPool::with(mcpproxy_tests::upstream::FAST_BACKOFF, |c| {
        c.with_env_lookup(|n| (n == "FIXTURE_TOKEN").then(|| "s3cret".to_owned()))
    });
    let mut with = http("with", &server.url("/mcp"), "http");
    with.headers = [("X-Token".to_owned(), "${env:FIXTURE_TOKEN}".to_owned())].into();
    let without = http("without", &server.url("/mcp"), "streamable-http");
    t.pool.reconcile(&config(vec![with, without])).await;
    t.ready("with").await;
    let refused = t
        .wait_for("without", "refused", |s| s.state == ConnectionState::Error)
        .await;
    let error = refused.last_error.unwrap();
    assert!(
        error.contains("authorization") || error.contains("401"),
        "{error}"
    );
    t.pool.shutdown().await;
}

#[tokio::test]
async fn a_crash_fails_calls_fast_then_the_server_comes_back() {
    let t = TestPool::new();
    t.pool
        .reconcile(&config(vec![fixture("crashy", &[])]))
        .await;
    let first = t.ready("crashy").await;
    let lost = t
        .pool
        .call_tool(&name("crashy"), "crash", None, CALL, None)
        .await
        .unwrap_err();
    assert!(
        matches!(lost, UpstreamError::ConnectionLost { .. }),
        "{lost}"
    );

    let down = t
        .wait_for("crashy", "Error", |s| s.state == ConnectionState::Error)
        .await;
    let error = down.last_error.unwrap();
    assert!(
        error.contains("crashing on purpose"),
        "stderr is quoted: {error}"
    );
    // During the outage a call fails at once and says why.
    let started = Instant::now();
    match t
        .pool
        .call_tool(&name("crashy"), "echo", None, CALL, None)
        .await
    {
        Err(UpstreamError::Unavailable {
            state, last_error, ..
        }) => {
            assert!(!state.is_connected());
            assert!(last_error.is_some());
        }
        // The backoff may already have brought it back.
        Ok(_) => {}
        Err(e) => panic!("unexpected {e}"),
    }
    println!(
        "a call during the outage returned in {:?}",
        started.elapsed()
    );

    let back = t.ready("crashy").await;
    assert_ne!(back.pid, first.pid, "a new process");
    let result = t
        .pool
        .call_tool(
            &name("crashy"),
            "echo",
            args(json!({"message": "again"})),
            CALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(text(&result), "again");
    let states = t.recorder.states_of("crashy");
    let error_at = states
        .iter()
        .position(|s| *s == ConnectionState::Error)
        .unwrap();
    assert_eq!(states.last(), Some(&ConnectionState::Ready));
    assert!(states[error_at..].contains(&ConnectionState::Connecting));
    t.pool.shutdown().await;
}

#[tokio::test]
async fn list_changed_makes_a_new_tool_visible_without_a_sweep() {
    let t = TestPool::new();
    // tool_discovery_interval is 0 in these configs: only the notification can do it.
    t.pool
        .reconcile(&config(vec![fixture("notify", &[])]))
        .await;
    t.ready("notify").await;
    let started = Instant::now();
    t.pool
        .call_tool(
            &name("notify"),
            "add_tool",
            args(json!({"name": "brand_new", "description": "New."})),
            CALL,
            None,
        )
        .await
        .unwrap();
    t.wait_for("notify", "showing brand_new", |s| {
        s.state == ConnectionState::Ready && s.tools.iter().any(|t| t.name == "brand_new")
    })
    .await;
    println!(
        "the new tool was visible {:?} after the call",
        started.elapsed()
    );
    assert!(
        t.recorder
            .tool_names("notify")
            .contains(&"brand_new".to_owned())
    );
    t.pool.shutdown().await;
}

#[tokio::test]
async fn a_hanging_call_times_out_alone() {
    let t = TestPool::new();
    t.pool.reconcile(&config(vec![fixture("hangs", &[])])).await;
    t.ready("hangs").await;
    let pool = &t.pool;
    let server = name("hangs");
    let hang = pool.call_tool(&server, "hang", None, Duration::from_millis(800), None);
    let others = async {
        let mut texts = Vec::new();
        for i in 0..5 {
            let r = pool
                .call_tool(
                    &server,
                    "echo",
                    args(json!({"message": format!("m{i}")})),
                    CALL,
                    None,
                )
                .await
                .unwrap();
            texts.push(text(&r));
        }
        texts
    };
    let (hung, texts) = tokio::join!(hang, others);
    assert!(
        matches!(hung, Err(UpstreamError::Timeout { .. })),
        "{hung:?}"
    );
    assert!(hung.unwrap_err().to_string().contains("call_tool_timeout"));
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
    // The connection was not torn down by the timeout.
    assert_eq!(t.status("hangs").await.state, ConnectionState::Ready);
    let after = pool
        .call_tool(
            &server,
            "echo",
            args(json!({"message": "still here"})),
            CALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(text(&after), "still here");
    assert_eq!(
        t.recorder
            .states_of("hangs")
            .iter()
            .filter(|s| **s == ConnectionState::Error)
            .count(),
        0
    );
    t.pool.shutdown().await;
}

#[tokio::test]
async fn a_hundred_concurrent_calls_on_one_stdio_server() {
    let t = TestPool::new();
    t.pool.reconcile(&config(vec![fixture("busy", &[])])).await;
    t.ready("busy").await;
    let server = name("busy");
    let calls = (0..100).map(|i| {
        let pool = &t.pool;
        let server = server.clone();
        async move {
            pool.call_tool(
                &server,
                "slow",
                args(json!({"ms": 50 + (i % 7) * 10})),
                CALL,
                None,
            )
            .await
            .map(|r| text(&r))
        }
    });
    let results = futures_join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|t| t.starts_with("slept")))
        .count();
    assert_eq!(ok, 100, "{:?}", results.iter().find(|r| r.is_err()));
    t.pool.shutdown().await;
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(f);
    }
    let mut out = Vec::with_capacity(set.len());
    let joined = futures_lite_join(set).await;
    out.extend(joined);
    out
}

/// Polls every future concurrently on this task.
async fn futures_lite_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn a_server_that_cannot_start_says_why() {
    let t = TestPool::new();
    t.pool
        .reconcile(&config(vec![
            fixture("wrapper", &["--fail-handshake", "npx: command not found"]),
            stdio("missing", "definitely-not-an-installed-command", &[]),
            {
                let mut s = fixture("nowhere", &[]);
                s.working_dir = "/nonexistent/dir".into();
                s
            },
        ]))
        .await;
    let quoted = t
        .wait_for("wrapper", "Error", |s| s.state == ConnectionState::Error)
        .await
        .last_error
        .unwrap();
    assert!(quoted.contains("npx: command not found"), "{quoted}");
    let missing = t
        .wait_for("missing", "Error", |s| s.state == ConnectionState::Error)
        .await
        .last_error
        .unwrap();
    assert!(missing.contains("not found on PATH"), "{missing}");
    let nowhere = t
        .wait_for("nowhere", "Error", |s| s.state == ConnectionState::Error)
        .await
        .last_error
        .unwrap();
    assert!(
        nowhere.contains("working_dir /nonexistent/dir"),
        "{nowhere}"
    );
    t.pool.shutdown().await;
}

#[tokio::test]
async fn the_child_environment_is_an_allow_list_plus_the_servers_own() {
    let t = TestPool::with(mcpproxy_tests::upstream::FAST_BACKOFF, |c| {
        c.with_env_lookup(|n| match n {
            "PATH" => std::env::var("PATH").ok(),
            "HOME" => Some("/home/tester".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("must-not-leak".into()),
            "GH" => Some("ghp_from_env".into()),
            _ => None,
        })
    });
    let mut s = fixture("envy", &[]);
    s.env = [("GITHUB_TOKEN".to_owned(), "${env:GH}".to_owned())].into();
    t.pool.reconcile(&config(vec![s])).await;
    t.ready("envy").await;
    let get = |var: &'static str| {
        let pool = &t.pool;
        async move {
            let r = pool
                .call_tool(&name("envy"), "env", args(json!({"name": var})), CALL, None)
                .await
                .unwrap();
            text(&r)
        }
    };
    assert_eq!(get("GITHUB_TOKEN").await, "ghp_from_env");
    assert_eq!(get("HOME").await, "/home/tester");
    assert_eq!(get("AWS_SECRET_ACCESS_KEY").await, "<unset>");
    t.pool.shutdown().await;
}

#[tokio::test]
async fn removing_or_disabling_a_server_stops_its_processes() {
    let t = TestPool::new();
    let marker = format!("gone-{}", std::process::id());
    let mut cfg = config(vec![fixture(&marker, &[]), fixture("stays", &[])]);
    t.pool.reconcile(&cfg).await;
    let pid = t.ready(&marker).await.pid.unwrap();
    let grandchild: u32 = text(
        &t.pool
            .call_tool(&name(&marker), "spawn_grandchild", None, CALL, None)
            .await
            .unwrap(),
    )
    .parse()
    .unwrap();
    assert!(alive(pid) && alive(grandchild));
    cfg.servers.retain(|s| s.name.as_str() != marker);
    t.pool.reconcile(&cfg).await;
    eventually("the server and its grandchild to exit", || {
        (!alive(pid) && !alive(grandchild)).then_some(())
    })
    .await;
    assert!(processes_with(&marker).is_empty());
    assert_eq!(t.status("stays").await.state, ConnectionState::Ready);
    t.pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_a_server_that_ignores_sigterm() {
    let t = TestPool::new();
    let marker = format!("stubborn-{}", std::process::id());
    t.pool
        .reconcile(&config(vec![fixture(&marker, &["--stubborn"])]))
        .await;
    let pid = t.ready(&marker).await.pid.unwrap();
    t.pool.shutdown().await;
    eventually("the stubborn server to be killed", || {
        (!alive(pid)).then_some(())
    })
    .await;
    let log = t.log(&marker).await.join("\n");
    assert!(
        log.contains("ignoring SIGTERM"),
        "it got SIGTERM first: {log}"
    );
}

#[tokio::test]
async fn failed_health_checks_reconnect() {
    let t = TestPool::new();
    let mut cfg = config(vec![fixture("frozen", &[])]);
    cfg.health_check_interval = Some(GoDuration::from_millis(300));
    t.pool.reconcile(&cfg).await;
    let first = t.ready("frozen").await.pid.unwrap();
    // A stopped process keeps its pipes open but answers nothing.
    mcpproxy_tests::signal_pid(first, nix::sys::signal::Signal::SIGSTOP);
    let back = t
        .wait_for("frozen", "reconnected", |s| {
            s.state == ConnectionState::Ready && s.pid.is_some_and(|p| p != first)
        })
        .await;
    assert!(back.pid.is_some());
    let log = t.log("frozen").await.join("\n");
    assert!(log.contains("3 health checks in a row failed"), "{log}");
    t.pool.shutdown().await;
    eventually("the frozen process to be killed", || {
        (!alive(first)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn restart_reconnects_and_reconnect_on_use_revives_a_server_that_gave_up() {
    let flag = tempfile::NamedTempFile::new().unwrap();
    let flag_path = flag.path().display().to_string();
    drop(flag); // the file does not exist until the test creates it
    let script = format!(
        "test -f {flag_path} || {{ echo 'not ready yet' >&2; exit 1; }}; exec {} --name lazy",
        mcpproxy_tests::fixture_bin().display()
    );
    let t = TestPool::with(
        mcpproxy_domain::BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(50),
            max_attempts: 2,
        },
        |c| c,
    );
    let mut lazy = stdio("lazy", "sh", &["-c", &script]);
    lazy.reconnect_on_use = true;
    t.pool
        .reconcile(&config(vec![lazy, fixture("plain", &[])]))
        .await;
    let gave_up = t
        .wait_for("lazy", "given up", |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("gave up after 2 tries"))
        })
        .await;
    assert_eq!(gave_up.state, ConnectionState::Error);
    assert!(gave_up.last_error.unwrap().contains("not ready yet"));

    std::fs::write(&flag_path, "").unwrap();
    let result = t
        .pool
        .call_tool(
            &name("lazy"),
            "echo",
            args(json!({"message": "woke up"})),
            CALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(text(&result), "woke up");

    let before = t.ready("plain").await.pid;
    t.pool.restart(&name("plain")).await.unwrap();
    let after = t
        .wait_for("plain", "restarted", |s| {
            s.state == ConnectionState::Ready && s.pid != before
        })
        .await;
    assert!(after.pid.is_some());
    t.pool.shutdown().await;
    let _ = std::fs::remove_file(&flag_path);
}

#[tokio::test]
async fn the_proxy_killed_with_sigkill_leaves_no_child() {
    use mcpproxy_tests::{Home, Proxy};
    let home = Home::new();
    let marker = format!("orphan-check-{}", std::process::id());
    let cfg = json!({"mcpServers": [
        {"name": "a", "command": mcpproxy_tests::fixture_bin(), "args": ["--name", format!("{marker}-a")]},
        {"name": "b", "command": mcpproxy_tests::fixture_bin(), "args": ["--name", format!("{marker}-b"), "--stubborn"]},
        {"name": "c", "command": "node", "args": [everything_js(), "stdio", &marker]}
    ]});
    home.write_config(&cfg.to_string());
    let mut proxy = Proxy::start(&home, &[]).await;
    eventually("three upstream processes", || {
        (processes_with(&marker).len() >= 3).then_some(())
    })
    .await;
    let children = processes_with(&marker);
    proxy.signal("KILL");
    proxy.wait().await;
    let deadline = Instant::now() + PATIENCE;
    while children.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "children survived the proxy: {children:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(processes_with(&marker).is_empty());
}

#[tokio::test]
async fn the_proxy_stopped_with_sigterm_leaves_no_child() {
    use mcpproxy_tests::{Home, Proxy};
    let home = Home::new();
    let marker = format!("term-check-{}", std::process::id());
    let cfg = json!({"mcpServers": [
        {"name": "a", "command": mcpproxy_tests::fixture_bin(), "args": ["--name", format!("{marker}-a"), "--stubborn"]},
        {"name": "c", "command": "node", "args": [memory_js(), &marker]}
    ]});
    home.write_config(&cfg.to_string());
    let mut proxy = Proxy::start(&home, &[]).await;
    eventually("two upstream processes", || {
        (processes_with(&marker).len() >= 2).then_some(())
    })
    .await;
    let status = proxy.stop().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        processes_with(&marker).is_empty(),
        "{:?}",
        processes_with(&marker)
    );
}

#[tokio::test]
async fn the_one_shot_layer_lists_and_calls_without_a_pool() {
    use mcpproxy_upstream::{ConnectSpec, Connector, oneshot};
    let dir = tempfile::tempdir().unwrap();
    let logs = std::sync::Arc::new(mcpproxy_logs::ServerLogFiles::new(
        dir.path(),
        mcpproxy_logs::Rotation::from_config(1, 1, 0),
    ));
    let connector = Connector::new(logs, None);
    let cfg = config(vec![
        fixture("once", &["--tools", "9", "--page-size", "4"]),
        stdio("nope", "definitely-not-an-installed-command", &[]),
    ]);
    let spec = ConnectSpec::new(&cfg, &cfg.servers[0]).unwrap();
    let listing = oneshot::list_tools(&connector, &spec).await.unwrap();
    assert_eq!(listing.server_info.name, "once");
    assert_eq!(listing.tools.len(), 25);
    let result = oneshot::call_tool(
        &connector,
        &spec,
        "echo",
        args(json!({"message": "one shot"})),
        CALL,
    )
    .await
    .unwrap();
    assert_eq!(text(&result), "one shot");
    let spec = ConnectSpec::new(&cfg, &cfg.servers[1]).unwrap();
    let err = oneshot::list_tools(&connector, &spec).await.unwrap_err();
    assert!(err.to_string().contains("not found on PATH"), "{err}");
    assert!(
        processes_with("--name once").is_empty(),
        "the one-shot server is gone"
    );
}
