//! The admission rule under load: 64 agents call a tool while its server changes it under
//! them (a rug pull, then a person's approval, three times over). Once the proxy has seen the
//! change no call is admitted against the withdrawn approval; once the new version is approved
//! every call goes through; every admitted call reaches the server exactly once and every
//! refused call never does; no call is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const CLIENTS: usize = 64;
const ROUNDS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The server answered the call.
    Answered,
    /// The proxy refused it: `TOOL_QUARANTINED`.
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    started: Instant,
    ended: Instant,
    kind: Kind,
}

/// What every agent's calls got, as they end.
type Log = Arc<Mutex<Vec<Outcome>>>;

/// Calls `fx__echo` until told to stop, noting what each call got; how many calls it made.
async fn agent(url: String, me: usize, stop: Arc<AtomicBool>, log: Log) -> usize {
    let client = Client::connect(&url).await;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let message = format!("agent {me} call {n}");
        let started = Instant::now();
        let result = client.call("fx__echo", json!({"message": message})).await;
        let ended = Instant::now();
        let kind = if result["isError"] != true && text(&result) == message {
            Kind::Answered
        } else {
            let body: Value = serde_json::from_str(&text(&result)).unwrap_or(Value::Null);
            assert_eq!(
                body["status"], "TOOL_QUARANTINED",
                "a call is answered or refused for the change, nothing else: {result}"
            );
            Kind::Refused
        };
        log.lock().unwrap().push(Outcome {
            started,
            ended,
            kind,
        });
    }
    client.close().await;
    n
}

/// Waits until `count` calls that started at `since` or later have ended: a window holds
/// calls however slow the machine is.
async fn calls_since(log: &Log, since: Instant, count: usize) {
    eventually_async("calls in the window", || async {
        let done = log
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started >= since)
            .count();
        (done >= count).then_some(())
    })
    .await;
}

async fn echo_state(api: &Rest) -> Option<String> {
    let tools = api.get("/servers/fx/tools").await.data();
    tools["tools"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "echo")
        .map(|t| t["state"].as_str().unwrap().to_owned())
}

/// When the proxy was seen to refuse (from `seen` to `approving`) and to admit again (from
/// `approved` to the next change).
#[derive(Debug, Clone, Copy)]
struct Round {
    changing: Instant,
    seen: Instant,
    approving: Instant,
    approved: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_agents_calling_while_the_tool_changes_never_pass_a_withdrawn_approval() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [
            {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"]}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("fx ready", || async {
        (echo_state_ready(&api).await).then_some(())
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Log::default();
    let agents: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(agent(proxy.url("/mcp/all"), i, stop.clone(), log.clone())))
        .collect();
    let control = Client::connect(&proxy.url("/mcp/all")).await;
    calls_since(&log, Instant::now(), CLIENTS).await;
    let mut rounds = Vec::new();
    for r in 0..ROUNDS {
        let changing = Instant::now();
        // The server changes its tool (and says so): a rug pull.
        let changed = control
            .call(
                "fx__set_description",
                json!({"name": "echo", "description": format!("Echo, version {r}")}),
            )
            .await;
        assert_ne!(changed["isError"], true, "{changed}");
        eventually_async("the change seen", || async {
            (echo_state(&api).await.as_deref() == Some("changed")).then_some(())
        })
        .await;
        let seen = Instant::now();
        calls_since(&log, seen, CLIENTS).await;
        let approving = Instant::now();
        let approved = api
            .post("/servers/fx/tools/approve", &json!({"tools": ["echo"]}))
            .await
            .data();
        assert_eq!(approved["approved"], json!(["echo"]));
        let approved = Instant::now();
        rounds.push(Round {
            changing,
            seen,
            approving,
            approved,
        });
        calls_since(&log, approved, CLIENTS).await;
    }
    let end = Instant::now();
    stop.store(true, Ordering::Relaxed);

    for agent in agents {
        let calls = tokio::time::timeout(Duration::from_secs(60), agent)
            .await
            .expect("an agent's call never ended")
            .expect("an agent failed");
        assert!(calls > 0, "every agent got calls through");
    }
    let outcomes = log.lock().unwrap().clone();

    let within = |o: &Outcome, from: Instant, to: Instant| o.started >= from && o.ended <= to;
    let (mut refused_checked, mut answered_checked) = (0, 0);
    for (r, round) in rounds.iter().enumerate() {
        for o in outcomes
            .iter()
            .filter(|o| within(o, round.seen, round.approving))
        {
            assert_eq!(
                o.kind,
                Kind::Refused,
                "round {r}: admitted after the change was seen"
            );
            refused_checked += 1;
        }
        let next = rounds.get(r + 1).map_or(end, |n| n.changing);
        for o in outcomes.iter().filter(|o| within(o, round.approved, next)) {
            assert_eq!(
                o.kind,
                Kind::Answered,
                "round {r}: refused after the approval"
            );
            answered_checked += 1;
        }
    }
    assert!(
        refused_checked > 0 && answered_checked > 0,
        "the windows held calls: {refused_checked} refused, {answered_checked} answered"
    );

    println!(
        "{} calls by {CLIENTS} agents: {} answered, {} refused; {refused_checked} made after a change was seen were refused, {answered_checked} made after its approval were answered",
        outcomes.len(),
        outcomes.iter().filter(|o| o.kind == Kind::Answered).count(),
        outcomes.iter().filter(|o| o.kind == Kind::Refused).count(),
    );

    // The server received exactly the admitted calls: the agents' answered ones, the
    // changes, and this count itself.
    let answered = outcomes.iter().filter(|o| o.kind == Kind::Answered).count();
    let counted: usize = text(&control.call("fx__call_count", json!({})).await)
        .parse()
        .unwrap();
    assert_eq!(counted, answered + ROUNDS + 1, "no call lost or doubled");
    control.close().await;
}

async fn echo_state_ready(api: &Rest) -> bool {
    let servers = api.get("/servers").await.data();
    servers["servers"][0]["status"] == "Ready"
        && echo_state(api).await.as_deref() == Some("approved")
}
