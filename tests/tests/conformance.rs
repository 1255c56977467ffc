//! The MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in
//! `tests/node22`) in server mode: every scenario against our conformance server directly,
//! then through the proxy's `/mcp/server/<name>` with that server as a stdio upstream and as
//! a streamable HTTP upstream. The first run shows the fixture is right, so a failure in
//! the others is the proxy's. Then in client mode: the proxy's upstream adapter is the
//! client under test (`mcp-conformance-client` starts it with the suite's server as its
//! only upstream and calls the tools through it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::process::Stdio;
use std::time::Instant;

use serde_json::json;

use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::upstream::{node22, node22_module};
use mcpproxy_tests::{
    Home, PATIENCE, Proxy, conformance_bin, conformance_client_bin, eventually_async, free_port,
    mcpproxy_bin,
};

/// The scenarios of `server --suite all` in the pinned version.
const SCENARIOS: usize = 32;

/// Runs the whole server suite against `url`; asserts every scenario passed and prints
/// the summary.
async fn suite(url: &str, what: &str) {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(node22());
    cmd.arg(node22_module(
        "@modelcontextprotocol/conformance/dist/index.js",
    ))
    .args(["server", "--suite", "all", "--url", url])
    // Its results directory stays out of the clone.
    .current_dir(work.path())
    .kill_on_drop(true);
    let out = tokio::time::timeout(PATIENCE * 10, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the conformance suite did not finish against {what}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .find("=== SUMMARY ===")
        .map_or(stdout.as_ref(), |at| &stdout[at..]);
    println!(
        "MCP conformance, {what} ({url}), {:.1}s:\n{summary}",
        started.elapsed().as_secs_f64()
    );
    let passed = summary.lines().filter(|l| l.starts_with('✓')).count();
    let failed: Vec<&str> = summary.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(
        failed.is_empty(),
        "{what}: failed scenarios {failed:?}\n{stdout}"
    );
    assert_eq!(
        passed, SCENARIOS,
        "{what}: {passed} of {SCENARIOS} scenarios passed\n{stdout}"
    );
    assert!(summary.contains(", 0 failed"), "{summary}");
    assert!(
        out.status.success(),
        "{what}: the suite exited {}",
        out.status
    );
}

/// Starts the conformance server over HTTP; returns it and its port.
async fn conformance_http() -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new(conformance_bin())
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually_async("the conformance server listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    (child, port)
}

#[tokio::test]
async fn the_conformance_server_itself_passes_every_scenario() {
    let (_server, port) = conformance_http().await;
    suite(
        &format!("http://localhost:{port}/mcp"),
        "the fixture directly",
    )
    .await;
}

/// A proxy with `server` as its only upstream, named `conf`, ready.
async fn proxy_with(server: serde_json::Value) -> (Home, Proxy) {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k", "mcpServers": [server]}).to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("conf ready", || async {
        let servers = api.get("/servers").await.data();
        (servers["servers"][0]["status"] == "Ready").then_some(())
    })
    .await;
    (home, proxy)
}

#[tokio::test]
async fn every_scenario_passes_through_the_proxy_from_a_stdio_upstream() {
    let (_home, proxy) = proxy_with(json!({
        "name": "conf", "command": conformance_bin(), "quarantined": false
    }))
    .await;
    let url = proxy
        .url("/mcp/server/conf")
        .replace("127.0.0.1", "localhost");
    suite(&url, "through the proxy, stdio upstream").await;
}

#[tokio::test]
async fn every_scenario_passes_through_the_proxy_from_an_http_upstream() {
    let (_server, port) = conformance_http().await;
    let (_home, proxy) = proxy_with(json!({
        "name": "conf", "url": format!("http://127.0.0.1:{port}/mcp"), "quarantined": false
    }))
    .await;
    let url = proxy
        .url("/mcp/server/conf")
        .replace("127.0.0.1", "localhost");
    suite(&url, "through the proxy, HTTP upstream").await;
}

#[tokio::test]
async fn the_proxy_passes_the_client_scenarios_including_every_oauth_one() {
    let work = tempfile::tempdir().unwrap();
    let baseline =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/client-baseline.yml");
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(node22());
    cmd.arg(node22_module(
        "@modelcontextprotocol/conformance/dist/index.js",
    ))
    .args(["client", "--suite", "all", "--command"])
    .arg(conformance_client_bin())
    .arg("--expected-failures")
    .arg(&baseline)
    .env("MCPPROXY_BIN", mcpproxy_bin())
    .current_dir(work.path())
    .kill_on_drop(true);
    let out = tokio::time::timeout(PATIENCE * 10, cmd.output())
        .await
        .expect("the client suite did not finish")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .find("=== SUITE SUMMARY ===")
        .map_or(stdout.as_ref(), |at| &stdout[at..]);
    println!(
        "MCP conformance, client mode (the proxy's upstream adapter), {:.1}s:\n{summary}",
        started.elapsed().as_secs_f64()
    );
    // Judged here, scenario by scenario, rather than by the tool's exit status: the tool
    // counts a WARNING as a failure, and `sse-retry` warns when the reconnection comes more
    // than 200 ms after the 500 ms the server asked for ("acceptable", in its own words) —
    // which happens when other suites share the 2 cores. A failed check still fails it.
    let baseline = std::fs::read_to_string(&baseline).unwrap();
    let expected_failures: Vec<&str> = baseline
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    let results = scenario_results(summary);
    assert!(results.len() >= 20, "no suite summary:\n{stdout}");
    for scenario in [
        "initialize",
        "tools_call",
        "elicitation-sep1034-client-defaults",
        "sse-retry",
    ] {
        assert!(
            results.iter().any(|r| r.name == scenario),
            "{scenario} did not run:\n{stdout}"
        );
    }
    for r in &results {
        if expected_failures.contains(&r.name) {
            assert!(
                !r.passed,
                "{} passes now: take it out of the baseline\n{stdout}",
                r.name
            );
        } else {
            let warned_on_timing = r.name == "sse-retry" && r.failed == 0;
            assert!(
                r.passed || warned_on_timing,
                "{} failed:\n{stdout}\n{}",
                r.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    for name in &expected_failures {
        assert!(
            results.iter().any(|r| r.name == *name),
            "baseline entry {name} did not run:\n{stdout}"
        );
    }
}

/// One line of the suite summary: `✓ name: 5 passed, 0 failed` or `✗ name: 2 passed, 0
/// failed, 1 warnings`.
struct ScenarioResult<'a> {
    name: &'a str,
    passed: bool,
    failed: u32,
}

fn scenario_results(summary: &str) -> Vec<ScenarioResult<'_>> {
    summary
        .lines()
        .filter_map(|line| {
            let (passed, rest) = if let Some(rest) = line.strip_prefix("✓ ") {
                (true, rest)
            } else {
                (false, line.strip_prefix("✗ ")?)
            };
            let (name, counts) = rest.split_once(": ")?;
            let failed = counts
                .split(", ")
                .find_map(|c| c.strip_suffix(" failed"))?
                .parse()
                .ok()?;
            Some(ScenarioResult {
                name,
                passed,
                failed,
            })
        })
        .collect()
}
