//! Lanes: one upstream never holds up another.
//!
//! - Head of line, through the real binary: while calls hang on one server (a tool that
//!   never answers) and another server's process is frozen (SIGSTOP: it reads nothing and
//!   answers nothing), agents — on the very sessions that wait for those calls, and on
//!   others — call a third server over stdio and a fourth over HTTP, and every one of those
//!   calls is answered while the hung ones are still waiting.
//! - Start-up under load, on the real pool: forty fixture servers that each burn CPU before
//!   they answer `initialize` start a few at a time; all reach Ready and none passes
//!   through Error, even with an `init_timeout` far shorter than starting all of them at
//!   once would take.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::{Duration, Instant};

use mcpproxy_domain::{ConnectionState, GoDuration};
use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::upstream::{Background, TestPool, config, fixture, processes_with};
use mcpproxy_tests::{Home, PATIENCE, Proxy, eventually_async, fixture_bin, signal_pid};
use nix::sys::signal::Signal;
use serde_json::json;

/// Calls to the healthy servers made by each agent while the others hang.
const CALLS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_call_or_a_frozen_server_never_holds_another_servers_calls() {
    let http = Background::fixture_http("web", &[]);
    let home = Home::new();
    let fx = fixture_bin();
    // The frozen server's process is found by this name (and only ours is).
    let frozen_name = format!("frozen{}", std::process::id());
    home.write_config(
        &json!({"api_key": "k", "call_tool_timeout": "10m", "mcpServers": [
            {"name": "slow", "command": fx, "args": ["--name", "slow"]},
            {"name": "frozen", "command": fx, "args": ["--name", frozen_name]},
            {"name": "fast", "command": fx, "args": ["--name", "fast"]},
            {"name": "web", "url": http.url("/mcp"), "protocol": "streamable-http"},
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("every server ready", || async {
        let servers = api.get("/servers").await.data();
        let all = servers["servers"].as_array()?;
        (all.len() == 4 && all.iter().all(|s| s["status"] == "Ready")).then_some(())
    })
    .await;

    let url = proxy.url("/mcp/all");
    let agents: Vec<Client> =
        futures::future::join_all((0..4).map(|_| Client::connect(&url))).await;
    // Every agent first starts calls that will not come back: one that hangs on `slow`,
    // one to `frozen`, which is then stopped dead.
    let frozen: Vec<u32> = processes_with(&format!("--name {frozen_name}"));
    assert!(!frozen.is_empty(), "the frozen server's process is found");
    for pid in &frozen {
        signal_pid(*pid, Signal::SIGSTOP);
    }
    let mut stuck = Vec::new();
    for agent in &agents {
        let peer = agent.peer().clone();
        for tool in ["slow__hang", "frozen__echo"] {
            let peer = peer.clone();
            stuck.push(tokio::spawn(async move {
                let mut params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
                params.arguments = json!({"message": "never"}).as_object().cloned();
                peer.call_tool(params).await
            }));
        }
    }
    // Both kinds of stuck call reached their server (the slow one says so on its stderr)
    // before the healthy calls start.
    eventually_async("the hanging calls arrived", || async {
        let log = api.get("/servers/slow/logs?tail=200").await.data();
        let hanging = log.to_string().matches("hang: never answering").count();
        (hanging >= agents.len()).then_some(())
    })
    .await;

    let started = Instant::now();
    let healthy = agents.iter().enumerate().map(|(a, agent)| async move {
        let mut took = Vec::new();
        for i in 0..CALLS {
            for server in ["fast", "web"] {
                let message = format!("{server} {a} {i}");
                let t = Instant::now();
                let result = agent
                    .call(&format!("{server}__echo"), json!({"message": message}))
                    .await;
                took.push(t.elapsed());
                assert_eq!(text(&result), message, "{result}");
            }
        }
        took
    });
    let mut took: Vec<Duration> = futures::future::join_all(healthy)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    // The proof: all of them answered while every stuck call still waits.
    for call in &stuck {
        assert!(
            !call.is_finished(),
            "a stuck call ended before the healthy ones were done"
        );
    }
    took.sort();
    println!(
        "{} calls to healthy servers answered in {elapsed:?} beside {} stuck calls (p50 {:?}, max {:?})",
        took.len(),
        stuck.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );

    for pid in &frozen {
        signal_pid(*pid, Signal::SIGCONT);
    }
    for call in stuck {
        call.abort();
    }
    for agent in agents {
        agent.close().await;
    }
}

/// Servers in the start-up test, and the CPU each burns before answering `initialize`.
const STARTERS: usize = 40;
const BURN_MS: u64 = 400;

#[tokio::test]
async fn forty_slow_starting_servers_all_reach_ready_without_passing_through_error() {
    let t = TestPool::new();
    let burn = BURN_MS.to_string();
    let servers = (0..STARTERS)
        .map(|i| fixture(&format!("starter{i:02}"), &["--burn-ms", &burn]))
        .collect();
    let mut config = config(servers);
    // All forty at once need 40 × 0.4 s of CPU: 8 s on two cores before any of them
    // answers. One at a time, each needs its 0.4 s, far within this.
    config.init_timeout = Some(GoDuration::from_secs(6));
    config.max_concurrent_starts = Some(2);
    let started = Instant::now();
    t.pool.reconcile(&config).await;
    let deadline = started + PATIENCE.max(Duration::from_secs(240));
    loop {
        let statuses = t.pool.statuses().await;
        let ready = statuses
            .iter()
            .filter(|(_, s)| s.state == ConnectionState::Ready)
            .count();
        if ready == STARTERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready} of {STARTERS} Ready: {:?}",
            statuses
                .iter()
                .filter(|(_, s)| s.state != ConnectionState::Ready)
                .map(|(n, s)| (n.to_string(), s.state, s.last_error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    for i in 0..STARTERS {
        let server = format!("starter{i:02}");
        let states = t.recorder.states_of(&server);
        assert!(
            !states.contains(&ConnectionState::Error),
            "{server} passed through Error: {states:?} {:?}",
            t.log(&server).await
        );
        assert_eq!(
            states,
            [
                ConnectionState::Connecting,
                ConnectionState::Discovering,
                ConnectionState::Ready
            ],
            "{server}"
        );
    }
    // Servers that waited say so in their log. Which ones waited depends on how fast the
    // first starts finish (on a loaded machine a late one may find a free slot), so ask
    // all of them.
    let mut waited = 0;
    for i in 0..STARTERS {
        let log = t.log(&format!("starter{i:02}")).await.join("\n");
        if log.contains("waiting for a start slot") {
            waited += 1;
        }
    }
    assert!(
        waited > 0,
        "no server's log says it waited for a start slot"
    );
    println!(
        "{STARTERS} servers burning {BURN_MS} ms of CPU each: all Ready in {elapsed:?} ({} ms of CPU in all)",
        STARTERS as u64 * BURN_MS
    );
    t.pool.shutdown().await;
}
