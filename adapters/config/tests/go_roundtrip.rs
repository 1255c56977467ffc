//! A config written by the Go MCPProxy loads, and saving it back loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::path::PathBuf;

use mcpproxy_config::{load, save};
use mcpproxy_domain::{GoDuration, Transport, TrustMode};
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/go_mcp_config.json")
}

/// Every non-null leaf of `original` is in `saved` with the same value. Durations may be
/// written in another Go form (`2m0s` → `2m`); they must mean the same time.
fn assert_kept(original: &Value, saved: &Value, path: &str) {
    match (original, saved) {
        (Value::Null, _) => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let Some(w) = b.get(k) else {
                    panic!("{path}.{k} was lost");
                };
                assert_kept(v, w, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length changed");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_kept(v, w, &format!("{path}[{i}]"));
            }
        }
        (Value::String(a), Value::String(b)) if a != b => {
            let (x, y) = (GoDuration::parse(a), GoDuration::parse(b));
            assert!(
                x.is_ok() && x == y,
                "{path}: {a:?} became {b:?}, which is not the same"
            );
        }
        (a, b) => assert_eq!(a, b, "{path} changed"),
    }
}

#[test]
fn go_config_loads_with_its_meaning() {
    let (config, notes) = load(&fixture()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(config.servers.len(), 3);
    let gh = &config.servers[0];
    assert_eq!(gh.transport(), Ok(Transport::StreamableHttp));
    assert_eq!(gh.headers["Authorization"], "Bearer ${env:GITHUB_TOKEN}");
    let oauth = gh.oauth.as_ref().unwrap();
    assert_eq!(oauth.scopes, ["repo", "read:org"]);
    assert_eq!(
        oauth.extra_params["resource"],
        "https://api.githubcopilot.com"
    );
    assert_eq!(gh.health_check_interval, Some(GoDuration::from_secs(60)));
    let fs = &config.servers[1];
    assert_eq!(fs.transport(), Ok(Transport::Stdio));
    assert!(fs.is_quarantined());
    assert_eq!(
        fs.effective_trust_mode(),
        TrustMode::Auto,
        "skip_quarantine is honoured"
    );
    assert_eq!(fs.env["DEBUG"], "mcp:*");
    assert!(!fs.allows_tool("write_file"));
    let sse = &config.servers[2];
    assert_eq!(sse.transport(), Ok(Transport::Sse));
    assert!(!sse.enabled);
    assert_eq!(config.call_tool_timeout, GoDuration::from_secs(120));
    assert_eq!(config.trusted_hosts, ["mcp.example.com"]);
    assert!(!config.logging.enable_file);
}

#[test]
fn saving_a_go_config_back_loses_nothing() {
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let (config, _) = load(&fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcp_config.json");
    save(&path, &config).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_kept(&original, &saved, "$");
    let (again, _) = load(&path).unwrap();
    assert_eq!(again, config, "a second load must give the same config");
}
