//! The registry use cases over in-memory ports and a mocked registry.

use std::sync::Arc;

use mcpproxy_domain::Config;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::registry::{Input, Package, Remote, Transport};
use serde_json::Map;

use super::*;
use crate::management::{NewRegistry, RegistryEdit, RegistrySourceError};
use crate::ports::MockRegistry;
use crate::testkit::{self, Mem};

fn npm_entry() -> RegistryServer {
    RegistryServer {
        id: "io.github.upstash/context7".into(),
        name: "io.github.upstash/context7".into(),
        description: "Up-to-date code docs for any prompt".into(),
        registry: "official".into(),
        packages: vec![Package {
            registry_type: "npm".into(),
            identifier: "@upstash/context7-mcp".into(),
            version: "1.0.26".into(),
            transport: Some(Transport {
                kind: "stdio".into(),
                ..Transport::default()
            }),
            ..Package::default()
        }],
        ..RegistryServer::default()
    }
}

fn remote_entry(url: &str) -> RegistryServer {
    RegistryServer {
        id: "com.apify/apify-mcp-server".into(),
        name: "com.apify/apify-mcp-server".into(),
        registry: "official".into(),
        remotes: vec![Remote {
            kind: "streamable-http".into(),
            url: url.into(),
            headers: vec![Input {
                name: "Authorization".into(),
                is_required: true,
                is_secret: true,
                ..Input::default()
            }],
            ..Remote::default()
        }],
        ..RegistryServer::default()
    }
}

fn source(url: &str) -> NewRegistry {
    NewRegistry {
        url: url.into(),
        ..NewRegistry::default()
    }
}

struct World {
    mem: Arc<Mem>,
    service: RegistryService,
    management: Arc<ManagementService>,
}

fn world(config: Config, registry: MockRegistry, key_set: bool) -> World {
    let mem = Arc::new(Mem::default());
    *mem.config.lock().unwrap() = config;
    let (management, _) = testkit::management(&mem, mem.clone());
    let service = RegistryService::new(
        mem.clone(),
        Arc::new(registry),
        management.clone(),
        mem.clone(),
        Arc::new(move |_: &str| key_set),
    );
    World {
        mem,
        service,
        management,
    }
}

#[tokio::test]
async fn searches_are_cached_until_refreshed() {
    let mut registry = MockRegistry::new();
    registry
        .expect_search()
        .times(2)
        .returning(|_, _, _| Ok(vec![npm_entry()]));
    let w = world(Config::default(), registry, false);
    for _ in 0..3 {
        let found = w
            .service
            .search("official", "context7", "", None)
            .await
            .unwrap();
        assert_eq!(found.total, 1);
        assert_eq!(found.servers[0].id, "io.github.upstash/context7");
    }
    assert_eq!(w.service.refresh("Official MCP Registry").await.unwrap(), 1);
    w.service
        .search("official", "context7", "", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_reference_list_needs_no_network() {
    let w = world(Config::default(), MockRegistry::new(), false);
    let found = w
        .service
        .search("reference", "time", "", None)
        .await
        .unwrap();
    assert_eq!(found.servers[0].install_cmd, "uvx mcp-server-time");
    let unknown = w.service.search("nowhere", "", "", None).await.unwrap_err();
    assert_eq!(unknown.code(), "registry_not_found");
}

#[tokio::test]
async fn a_registry_without_its_key_is_unavailable_not_an_error() {
    let mut config = Config::default();
    config.registries.push(RegistrySource {
        id: "keyed".into(),
        name: "Keyed".into(),
        description: String::new(),
        url: "https://keyed.example.com".into(),
        servers_url: String::new(),
        tags: Vec::new(),
        protocol: String::new(),
        count: None,
        requires_key: true,
        extra: Map::new(),
    });
    let w = world(config, MockRegistry::new(), false);
    let found = w.service.search("keyed", "", "", None).await.unwrap();
    assert!(found.servers.is_empty());
    assert!(
        found
            .unavailable
            .unwrap()
            .contains("MCPPROXY_REGISTRY_KEYED_API_KEY")
    );
    let listed = w.service.list();
    assert_eq!(listed[3].provenance, Provenance::Custom);
    assert!(!listed[3].trusted && listed[0].trusted);
}

#[tokio::test]
async fn a_registry_that_does_not_answer_is_named_in_the_error() {
    let mut registry = MockRegistry::new();
    registry.expect_search().returning(|source, _, _| {
        Err(RegistryError::Unreachable {
            registry: source.id.clone(),
            url: source.servers_url(),
            reason: "connection refused".into(),
        })
    });
    let w = world(Config::default(), registry, false);
    let err = w
        .service
        .search("official", "x", "", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("registry \"official\""), "{err}");
    assert_eq!(err.code(), "registry_unavailable");
}

#[tokio::test]
async fn adding_derives_the_command_and_quarantines() {
    let mut registry = MockRegistry::new();
    registry
        .expect_search()
        .returning(|_, _, _| Ok(vec![npm_entry()]));
    let w = world(Config::default(), registry, false);
    let added = w
        .service
        .add(
            "official",
            "io.github.upstash/context7",
            AddFromRegistry::default(),
            Source::Mcp,
        )
        .await
        .unwrap();
    assert!(added.server.quarantined);
    assert_eq!(added.server.command, "npx");
    assert_eq!(added.server.args, ["-y", "@upstash/context7-mcp@1.0.26"]);
    let config = w.mem.config.lock().unwrap().clone();
    let saved = &config.servers[0];
    assert_eq!(saved.extra["source_registry_provenance"], "official");
    assert!(saved.is_quarantined());
}

#[tokio::test]
async fn a_missing_header_adds_nothing_and_a_private_remote_is_refused() {
    let mut registry = MockRegistry::new();
    registry
        .expect_search()
        .returning(|_, _, _| Ok(vec![remote_entry("https://10.0.0.8/mcp")]));
    registry
        .expect_check_public()
        .returning(|what, url, allow| {
            assert!(!allow);
            Err(RegistryError::Refused {
                registry: "official".into(),
                reason: format!("{what}: {url} is private"),
            })
        });
    let w = world(Config::default(), registry, false);
    let err = w
        .service
        .add(
            "official",
            "com.apify/apify-mcp-server",
            AddFromRegistry::default(),
            Source::Mcp,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing_required_input");
    assert_eq!(err.missing_inputs(), ["Authorization"]);
    let mut request = AddFromRegistry::default();
    request
        .inputs
        .insert("Authorization".into(), "Bearer ${env:T}".into());
    let err = w
        .service
        .add(
            "official",
            "com.apify/apify-mcp-server",
            request,
            Source::Mcp,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_registry_url");
    assert!(w.mem.config.lock().unwrap().servers.is_empty());
}

#[tokio::test]
async fn registry_sources_are_checked_and_builtins_are_left_alone() {
    let w = world(Config::default(), MockRegistry::new(), false);
    let m = &w.management;
    let refused = m
        .add_registry(source("https://169.254.169.254/latest"), Source::Cli)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_registry_url");
    let plain = m
        .add_registry(source("http://registry.example.com"), Source::Cli)
        .await
        .unwrap_err();
    assert_eq!(plain.code(), "invalid_registry_url");
    let mut shadow = source("https://registry.example.com");
    shadow.id = Some("official".into());
    assert!(matches!(
        m.add_registry(shadow, Source::Cli).await,
        Err(RegistrySourceError::ShadowsBuiltin(_))
    ));
    let added = m
        .add_registry(source("https://registry.example.com"), Source::Cli)
        .await
        .unwrap();
    assert_eq!(added.id, "registry-example-com");
    assert_eq!(
        m.add_registry(source("https://registry.example.com"), Source::Cli)
            .await
            .unwrap_err()
            .code(),
        "duplicate_registry"
    );
    let edited = m
        .edit_registry(
            "registry-example-com",
            RegistryEdit {
                name: Some("Acme".into()),
                ..RegistryEdit::default()
            },
            Source::Cli,
        )
        .await
        .unwrap();
    assert_eq!(edited.name, "Acme");
    assert_eq!(
        w.service.find("acme").unwrap().source.id,
        "registry-example-com"
    );
    assert_eq!(
        m.remove_registry("reference", Source::Cli)
            .await
            .unwrap_err()
            .code(),
        "registry_shadows_builtin"
    );
    m.remove_registry("registry-example-com", Source::Cli)
        .await
        .unwrap();
    assert!(w.mem.config.lock().unwrap().registries.is_empty());
}

#[tokio::test]
async fn locked_registries_refuse_changes() {
    let config = Config {
        registries_locked: true,
        ..Config::default()
    };
    let w = world(config, MockRegistry::new(), false);
    let err = w
        .management
        .add_registry(source("https://registry.example.com"), Source::Api)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registries_locked");
}

#[tokio::test]
async fn the_gates_hold_adds_and_source_changes_before_any_fetch() {
    // No expectations: a fetch would panic.
    let read_only = Config {
        read_only_mode: true,
        ..Config::default()
    };
    let w = world(read_only, MockRegistry::new(), false);
    let err = w
        .service
        .add(
            "official",
            "io.github.upstash/context7",
            AddFromRegistry::default(),
            Source::Api,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "READ_ONLY_MODE");
    let err = w
        .management
        .add_registry(source("https://registry.example.com"), Source::Api)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "READ_ONLY_MODE");
    let no_add = Config {
        allow_server_add: false,
        ..Config::default()
    };
    let w = world(no_add, MockRegistry::new(), false);
    let err = w
        .service
        .add(
            "official",
            "io.github.upstash/context7",
            AddFromRegistry::default(),
            mcpproxy_domain::Caller::agent(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SERVER_ADD_NOT_ALLOWED");
    assert!(w.mem.config.lock().unwrap().servers.is_empty());
}
