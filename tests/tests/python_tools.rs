//! The REST API seen by third-party tools from PyPI (installed by `scripts/test` into the
//! test virtualenv): a client generated from `openapi/openapi.json` by openapi-python-client,
//! and the schemathesis fuzzer, both against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::process::Command;

use serde_json::{Value, json};

use mcpproxy_tests::keyring::SecretService;
use mcpproxy_tests::rest::{venv_bin, workspace_root};
use mcpproxy_tests::{Home, PATIENCE, Proxy, fixture_bin};

const KEY: &str = "python-tools-key";

/// A proxy with the fixture `fx`, and a keyring of its own (the `/secrets` routes store
/// there, never in the machine's keyring).
async fn start() -> (Home, Proxy, SecretService) {
    let home = Home::new();
    let config = json!({"api_key": KEY, "mcpServers": [
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
    ]});
    home.write_config(&config.to_string());
    let keyring = SecretService::start().await;
    let proxy = Proxy::start_with(&home, &[], |c| keyring.apply(c)).await;
    (home, proxy, keyring)
}

/// Runs `cmd` to its end, at most `patience`; returns its stdout, panicking with both streams
/// when it fails. The bound only catches a hang: the tools' speed is not what is tested.
async fn run(cmd: Command, what: &str, patience: std::time::Duration) -> String {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(patience, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn a_generated_client_adds_enables_and_reads_a_server() {
    let root = workspace_root();
    let out = tempfile::tempdir().unwrap();
    let mut generate = Command::new(venv_bin("openapi-python-client"));
    generate
        .arg("generate")
        .arg("--path")
        .arg(root.join("openapi/openapi.json"))
        .args(["--meta", "none", "--output-path"])
        .arg(out.path().join("mcpproxy_client"))
        .arg("--config")
        .arg(root.join("tests/python/openapi-client.yaml"))
        .current_dir(out.path());
    run(generate, "openapi-python-client", PATIENCE * 2).await;

    let (_home, proxy, _keyring) = start().await;
    let mut script = Command::new(venv_bin("python"));
    script
        .arg(root.join("tests/python/generated_client.py"))
        .arg(proxy.url(""))
        .arg(KEY)
        .arg(fixture_bin())
        .env("PYTHONPATH", out.path());
    let seen: Value = serde_json::from_str(
        run(script, "the generated client", PATIENCE * 2)
            .await
            .trim(),
    )
    .unwrap();
    println!("the generated client saw: {seen}");
    assert_eq!(seen["servers_before"], json!(["fx"]));
    assert_eq!(seen["added"], "generated");
    assert_eq!(seen["added_enabled"], false);
    assert_eq!(
        seen["added_quarantined"], true,
        "added servers start quarantined"
    );
    assert_eq!(seen["enable_action"], "enable");
    let tools = seen["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("echo")), "{seen}");
    assert_eq!(
        seen["tool_states"],
        json!(["pending"]),
        "unreviewed while quarantined"
    );
    assert_eq!(seen["approved"], json!(["echo"]));
    assert_eq!(
        seen["call_result"]["content"][0]["text"],
        "from a generated client"
    );
    assert_eq!(seen["servers_after"], json!(["fx", "generated"]));
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_break() {
    let root = workspace_root();
    let (_home, proxy, _keyring) = start().await;
    let work = tempfile::tempdir().unwrap();
    let mut fuzz = Command::new(venv_bin("schemathesis"));
    fuzz.arg("--config-file")
        .arg(root.join("tests/python/schemathesis.toml"))
        .arg("run")
        .arg(root.join("openapi/openapi.json"))
        .arg("--url")
        .arg(proxy.url("/api/v1"))
        .args(["-H", &format!("X-API-Key: {KEY}")])
        // Resetting the key would lock the fuzzer out of every later case (401s only);
        // tests/tests/gates.rs covers that route.
        .args(["--exclude-operation-id", "reset_api_key"])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "30",
            "--no-color",
        ])
        .env("NO_COLOR", "1")
        // Its example database and reports stay out of the clone.
        .current_dir(work.path());
    // ~45 s alone on 2 cores; several times that when other suites share the machine.
    let report = run(fuzz, "schemathesis", PATIENCE * 10).await;
    let summary = report
        .find("SUMMARY")
        .map_or(report.as_str(), |at| &report[at..]);
    println!("schemathesis:\n{summary}");
    let counts = summary
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or_else(|| panic!("no test case count in:\n{report}"));
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(numbers[0] >= 500, "too few cases to mean much: {counts}");
    assert_eq!(numbers[0], numbers[1], "every case passed: {counts}");
    assert!(!summary.contains("failed"), "{summary}");
}
