use std::sync::Arc;

use mcpproxy_domain::{Config, ServerConfig, ServerName};

use super::*;
use crate::management::Gate;
use crate::ports::MockUpstreamPool;
use crate::testkit::{Keyring, Mem};

fn server(name: &str, env: &[(&str, &str)]) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
    s.command = "x".into();
    s.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s
}

struct World {
    mem: Arc<Mem>,
    keyring: Arc<Keyring>,
    secrets: SecretsService,
}

fn world(servers: Vec<ServerConfig>, upstream: MockUpstreamPool) -> World {
    let mem = Arc::new(Mem::default());
    *mem.config.lock().unwrap() = Config {
        servers,
        ..Config::default()
    };
    let upstream: Arc<dyn UpstreamPool> = Arc::new(upstream);
    let (management, activity) = crate::testkit::management(&mem, upstream.clone());
    let keyring = Arc::new(Keyring::default());
    let secrets = SecretsService::new(
        keyring.clone(),
        mem.clone(),
        management,
        upstream,
        mem.clone(),
        activity,
    );
    World {
        mem,
        keyring,
        secrets,
    }
}

#[tokio::test]
async fn setting_a_secret_restarts_only_the_servers_that_use_it() {
    let mut upstream = MockUpstreamPool::new();
    upstream
        .expect_restart()
        .withf(|s| s.as_str() == "gh")
        .times(1)
        .returning(|_| Ok(()));
    let w = world(
        vec![
            server("gh", &[("GITHUB_TOKEN", "${keyring:gh-token}")]),
            server("other", &[("X", "plain")]),
        ],
        upstream,
    );
    let info = w
        .secrets
        .set("gh-token", "ghp_secretvalue123", Source::Cli)
        .await
        .unwrap();
    assert_eq!(info.reference, "${keyring:gh-token}");
    assert_eq!(info.referenced_by, ["gh"]);
    assert_eq!(info.masked.as_deref(), Some("••••23 (18 chars)"));
    let events = w.mem.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| e.name() == "secrets.changed"));
    let records = w.mem.activity.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    let text = serde_json::to_string(&records).unwrap() + &format!("{events:?}");
    assert!(!text.contains("ghp_secretvalue123"), "{text}");
}

#[tokio::test]
async fn a_secret_the_config_uses_but_the_keyring_lacks_is_listed_as_missing() {
    let w = world(
        vec![server("gh", &[("T", "${keyring:absent}")])],
        MockUpstreamPool::new(),
    );
    w.keyring
        .0
        .lock()
        .unwrap()
        .insert("stored".into(), "v".into());
    let list = w.secrets.list().await.unwrap();
    let names: Vec<(&str, bool)> = list
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.set))
        .collect();
    assert_eq!(names, [("absent", false), ("stored", true)]);
    assert_eq!(list.missing, 1);
    assert!(matches!(
        w.secrets.get("absent").await,
        Err(SecretsError::NotFound(_))
    ));
    assert!(matches!(
        w.secrets.delete("absent", Source::Api).await,
        Err(SecretsError::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_names_and_empty_values_are_refused() {
    let w = world(vec![], MockUpstreamPool::new());
    assert!(matches!(
        w.secrets.set("a}b", "v", Source::Api).await,
        Err(SecretsError::BadName(_))
    ));
    assert!(matches!(
        w.secrets.set("ok", "", Source::Api).await,
        Err(SecretsError::EmptyValue(_))
    ));
}

#[tokio::test]
async fn read_only_mode_keeps_the_keyring_as_it_is() {
    let w = world(vec![], MockUpstreamPool::new());
    w.mem.config.lock().unwrap().read_only_mode = true;
    let err = w.secrets.set("x", "v", Source::Api).await.unwrap_err();
    assert_eq!(
        err,
        SecretsError::Management(ManagementError::Forbidden(Gate::ReadOnly))
    );
    assert!(w.keyring.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn moving_a_value_stores_it_and_leaves_a_reference() {
    let w = world(
        vec![server("gh", &[("GITHUB_TOKEN", "ghp_plaintextvalue0001")])],
        MockUpstreamPool::new(),
    );
    let moved = w
        .secrets
        .move_to_keyring("gh", ValueScope::Env, "GITHUB_TOKEN", "gh-pat", Source::Api)
        .await
        .unwrap();
    assert_eq!(moved.reference, "${keyring:gh-pat}");
    assert_eq!(
        w.keyring
            .0
            .lock()
            .unwrap()
            .get("gh-pat")
            .map(String::as_str),
        Some("ghp_plaintextvalue0001")
    );
    let config = w.mem.config.lock().unwrap().clone();
    assert_eq!(config.servers[0].env["GITHUB_TOKEN"], "${keyring:gh-pat}");
    // Moving it again finds a reference, not a value.
    let again = w
        .secrets
        .move_to_keyring("gh", ValueScope::Env, "GITHUB_TOKEN", "gh-pat", Source::Api)
        .await;
    assert!(matches!(again, Err(SecretsError::AlreadyReference { .. })));
    let missing = w
        .secrets
        .move_to_keyring("gh", ValueScope::Header, "Authorization", "x", Source::Api)
        .await;
    assert!(matches!(missing, Err(SecretsError::UnknownKey { .. })));
    let unknown = w
        .secrets
        .move_to_keyring("nope", ValueScope::Env, "K", "x", Source::Api)
        .await;
    assert!(matches!(
        unknown,
        Err(SecretsError::Management(ManagementError::NotFound(_)))
    ));
}

#[tokio::test]
async fn migrate_finds_plaintext_and_moves_it_when_asked() {
    let w = world(
        vec![server(
            "gh",
            &[
                ("GITHUB_TOKEN", "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"),
                ("DEBUG", "true"),
            ],
        )],
        MockUpstreamPool::new(),
    );
    let dry = w.secrets.migrate(false, Source::Cli).await.unwrap();
    assert_eq!(dry.candidates.len(), 1);
    assert!(dry.moved.is_empty());
    assert!(w.keyring.0.lock().unwrap().is_empty());
    let done = w.secrets.migrate(true, Source::Cli).await.unwrap();
    assert_eq!(done.moved.len(), 1, "{done:?}");
    let config = w.mem.config.lock().unwrap().clone();
    assert_eq!(
        config.servers[0].env["GITHUB_TOKEN"],
        "${keyring:gh_github_token}"
    );
    assert_eq!(config.servers[0].env["DEBUG"], "true");
    assert!(
        w.secrets
            .migrate(false, Source::Cli)
            .await
            .unwrap()
            .candidates
            .is_empty()
    );
}
