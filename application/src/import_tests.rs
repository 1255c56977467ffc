use std::sync::Arc;

use mcpproxy_domain::activity::Source;
use mcpproxy_domain::{Config, ServerConfig, ServerName};
use serde_json::Value;

use super::*;
use crate::ports::{ForeignConfig, ForeignServer, MockClientConfigs};
use crate::testkit::{self, Keyring, Mem};

const TOKEN: &str = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z";

fn server(name: &str, env: &[(&str, &str)]) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
    s.command = "npx".into();
    s.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s
}

/// An import service whose "file" holds `servers`, over a config holding `existing`.
fn service(
    existing: Vec<ServerConfig>,
    servers: Vec<ServerConfig>,
    keyring: Arc<Keyring>,
) -> (Arc<Mem>, ImportService) {
    let mem = Arc::new(Mem::default());
    *mem.config.lock().unwrap() = Config {
        servers: existing,
        ..Config::default()
    };
    let mut clients = MockClientConfigs::new();
    clients.expect_read_servers().returning(move |_, _| {
        Ok(ForeignConfig {
            format: "claude-desktop".into(),
            format_name: "Claude Desktop".into(),
            servers: servers
                .iter()
                .map(|s| ForeignServer {
                    original_name: s.name.to_string(),
                    config: Ok(s.clone()),
                    original: Value::Null,
                })
                .collect(),
            warnings: Vec::new(),
        })
    });
    let (management, _) = testkit::management(&mem, mem.clone());
    let imports = ImportService::new(mem.clone(), Arc::new(clients), management, keyring);
    (mem, imports)
}

fn request(dry_run: bool, to_keyring: bool) -> ImportRequest {
    ImportRequest {
        source: ImportSource::Path("/home/me/.config/Claude/claude_desktop_config.json".into()),
        format: None,
        only: Vec::new(),
        dry_run,
        skip_quarantine: false,
        to_keyring,
    }
}

fn env_of(mem: &Mem, server: &str, key: &str) -> String {
    let config = mem.config.lock().unwrap();
    let name = ServerName::parse(server).unwrap();
    config.server(&name).unwrap().env[key].clone()
}

#[tokio::test]
async fn to_keyring_stores_the_secrets_and_imports_references() {
    let keyring = Arc::new(Keyring::default());
    // Another value already holds gh's suggested name: the new one gets `_2`, never overwrites.
    keyring
        .0
        .lock()
        .unwrap()
        .insert("gh_github_token".into(), "someone-elses-token-value".into());
    let (mem, imports) = service(
        vec![server("other", &[])],
        vec![server("gh", &[("GITHUB_TOKEN", TOKEN), ("DEBUG", "true")])],
        keyring.clone(),
    );
    let report = imports
        .import(request(false, true), Source::Cli)
        .await
        .unwrap();
    assert_eq!(report.summary.imported, 1);
    assert_eq!(report.secrets.len(), 1, "{report:?}");
    let secret = &report.secrets[0];
    assert!(secret.in_keyring);
    assert_eq!(secret.secret_name.as_deref(), Some("gh_github_token_2"));
    assert_eq!(secret.candidate.field, "mcpServers[1].env.GITHUB_TOKEN");
    assert_eq!(
        env_of(&mem, "gh", "GITHUB_TOKEN"),
        "${keyring:gh_github_token_2}"
    );
    assert_eq!(env_of(&mem, "gh", "DEBUG"), "true");
    assert_eq!(keyring.0.lock().unwrap()["gh_github_token_2"], TOKEN);
    assert_eq!(report.keyring.available, Some(true));
    assert_eq!((report.keyring.stored, report.keyring.plaintext), (1, 0));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let shown = serde_json::to_string(&report).unwrap();
    assert!(!shown.contains("ghp_aB3"), "the value never shows: {shown}");
}

#[tokio::test]
async fn a_dry_run_names_the_keyring_entries_and_stores_nothing() {
    let keyring = Arc::new(Keyring::default());
    let (mem, imports) = service(
        Vec::new(),
        vec![server("gh", &[("GITHUB_TOKEN", TOKEN)])],
        keyring.clone(),
    );
    let report = imports
        .import(request(true, true), Source::Cli)
        .await
        .unwrap();
    assert!(report.secrets[0].in_keyring);
    assert_eq!(
        report.secrets[0].reference.as_deref(),
        Some("${keyring:gh_github_token}")
    );
    assert!(keyring.0.lock().unwrap().is_empty());
    assert!(mem.config.lock().unwrap().servers.is_empty());

    // Without the option: listed, with the command that would move them.
    let report = imports
        .import(request(true, false), Source::Cli)
        .await
        .unwrap();
    assert!(!report.secrets[0].in_keyring);
    assert_eq!(report.keyring.available, None, "not asked, not probed");
    assert_eq!(
        report.keyring.command.as_deref(),
        Some(
            "mcpproxy upstream import /home/me/.config/Claude/claude_desktop_config.json --to-keyring"
        )
    );
    assert!(
        report.warnings[0].contains("gh.env GITHUB_TOKEN")
            && report.warnings[0].contains("would stay"),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn without_a_keyring_the_servers_are_imported_unchanged_and_the_report_says_why() {
    let (mem, imports) = service(
        Vec::new(),
        vec![server("gh", &[("GITHUB_TOKEN", TOKEN)])],
        Arc::new(Keyring::unavailable()),
    );
    let report = imports
        .import(request(false, true), Source::Cli)
        .await
        .unwrap();
    assert_eq!(report.summary.imported, 1);
    assert_eq!(env_of(&mem, "gh", "GITHUB_TOKEN"), TOKEN);
    assert_eq!(report.keyring.available, Some(false));
    assert_eq!(report.keyring.plaintext, 1);
    assert_eq!(
        report.keyring.command.as_deref(),
        Some("mcpproxy secrets migrate")
    );
    let warning = &report.warnings[0];
    assert!(
        warning.contains("keyring is not available") && warning.contains("imported unchanged"),
        "{warning}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_added_leaves_nothing_in_the_keyring() {
    let keyring = Arc::new(Keyring::default());
    // Neither a command nor a URL: the management service refuses it.
    let mut broken = server("broken", &[("API_TOKEN", "s3cret-value-0123456789")]);
    broken.command.clear();
    let (_mem, imports) = service(Vec::new(), vec![broken], keyring.clone());
    let report = imports
        .import(request(false, true), Source::Cli)
        .await
        .unwrap();
    assert_eq!(report.summary.failed, 1, "{report:?}");
    assert!(report.secrets.is_empty());
    assert!(keyring.0.lock().unwrap().is_empty());
}
