//! A config written by the Go MCPProxy loads with its meaning. (That saving it back loses
//! nothing is tested, through the binary too, in the workspace's `tests/` crate.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::path::PathBuf;

use mcpproxy_config::load;
use mcpproxy_domain::{GoDuration, Transport, TrustMode};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/go_mcp_config.json")
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
    let settings = mcpproxy_domain::Settings::from_config(&config);
    let fs_settings = settings.server(&fs.name).unwrap();
    assert!(!fs_settings.tools.allows("write_file"));
    let sse = &config.servers[2];
    assert_eq!(sse.transport(), Ok(Transport::Sse));
    assert!(!sse.enabled);
    assert_eq!(config.call_tool_timeout, GoDuration::from_secs(120));
    assert_eq!(config.trusted_hosts, ["mcp.example.com"]);
    assert!(!config.logging.enable_file);
}
