use std::sync::{Arc, Mutex};

use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, Source};
use mcpproxy_domain::{Config, DomainEvent, ServerChange, ServerConfig, ServerName, Timestamp};
use serde_json::json;

use super::*;
use crate::activity::ActivityLog;
use crate::ports::{
    MockActivityRepository, MockApprovalRepository, MockClock, MockConfigStore, MockEventPublisher,
    MockServerRepository, MockUpstreamPool,
};

/// The mocks, wired so the tests can read what the service did.
struct World {
    config: Arc<Mutex<Config>>,
    saves: Arc<Mutex<usize>>,
    events: Arc<Mutex<Vec<DomainEvent>>>,
    activity: Arc<Mutex<Vec<ActivityRecord>>>,
    servers: MockServerRepository,
    approvals: MockApprovalRepository,
    upstream: MockUpstreamPool,
}

fn name(n: &str) -> ServerName {
    ServerName::parse(n).unwrap()
}

fn stdio(n: &str) -> ServerConfig {
    let mut s = ServerConfig::new(name(n));
    s.command = "npx".into();
    s.args = vec![
        "-y".into(),
        "@modelcontextprotocol/server-everything".into(),
    ];
    s
}

fn world(config: Config) -> World {
    let mut servers = MockServerRepository::new();
    servers.expect_all_runtime().returning(|| Ok(vec![]));
    servers.expect_runtime().returning(|_| Ok(None));
    World {
        config: Arc::new(Mutex::new(config)),
        saves: Arc::new(Mutex::new(0)),
        events: Arc::default(),
        activity: Arc::default(),
        servers,
        approvals: MockApprovalRepository::new(),
        upstream: MockUpstreamPool::new(),
    }
}

impl World {
    fn service(self) -> (ManagementService, Handles) {
        let handles = Handles {
            config: self.config.clone(),
            saves: self.saves.clone(),
            events: self.events.clone(),
            activity: self.activity.clone(),
        };
        let mut store = MockConfigStore::new();
        let cfg = self.config.clone();
        store
            .expect_current()
            .returning(move || Arc::new(cfg.lock().unwrap().clone()));
        let (cfg, saves) = (self.config.clone(), self.saves.clone());
        store.expect_save().returning(move |c| {
            *cfg.lock().unwrap() = c;
            *saves.lock().unwrap() += 1;
            Ok(())
        });
        let mut events = MockEventPublisher::new();
        let sink = self.events.clone();
        events
            .expect_publish()
            .returning(move |e| sink.lock().unwrap().push(e));
        let events: Arc<dyn EventPublisher> = Arc::new(events);
        let mut repo = MockActivityRepository::new();
        let records = self.activity.clone();
        repo.expect_append().returning(move |r| {
            records.lock().unwrap().push(r.clone());
            Ok(())
        });
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(Timestamp::from_millis(1_795_609_755_000));
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let activity = Arc::new(ActivityLog::new(
            Arc::new(repo),
            events.clone(),
            clock.clone(),
        ));
        let service = ManagementService::new(
            Arc::new(store),
            Arc::new(self.servers),
            Arc::new(self.approvals),
            Arc::new(self.upstream),
            events,
            activity,
            clock,
        );
        (service, handles)
    }
}

struct Handles {
    config: Arc<Mutex<Config>>,
    saves: Arc<Mutex<usize>>,
    events: Arc<Mutex<Vec<DomainEvent>>>,
    activity: Arc<Mutex<Vec<ActivityRecord>>>,
}

impl Handles {
    fn server(&self, n: &str) -> Option<ServerConfig> {
        self.config.lock().unwrap().server(&name(n)).cloned()
    }
    fn saves(&self) -> usize {
        *self.saves.lock().unwrap()
    }
    fn changes(&self) -> Vec<(String, ServerChange)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                DomainEvent::ServerChanged { server, change } => {
                    Some((server.to_string(), *change))
                }
                _ => None,
            })
            .collect()
    }
    fn activity_kinds(&self) -> Vec<ActivityKind> {
        self.activity
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.kind)
            .collect()
    }
}

fn config_with(servers: Vec<ServerConfig>) -> Config {
    Config {
        servers,
        ..Config::default()
    }
}

fn add(config: ServerConfig) -> AddServer {
    AddServer {
        config,
        skip_quarantine: false,
    }
}

#[tokio::test]
async fn added_servers_start_quarantined_and_are_announced() {
    let (svc, h) = world(Config::default()).service();
    let view = svc
        .add_server(add(stdio("everything")), Source::Api)
        .await
        .unwrap();
    assert!(view.quarantined);
    let saved = h.server("everything").unwrap();
    assert_eq!(saved.quarantined, Some(true));
    assert_eq!(saved.created.as_deref(), Some("2026-11-25T12:29:15.000Z"));
    assert_eq!(
        h.changes(),
        vec![("everything".into(), ServerChange::Added)]
    );
    assert_eq!(
        h.activity_kinds(),
        vec![ActivityKind::ServerChange, ActivityKind::QuarantineChange]
    );
}

#[tokio::test]
async fn quarantine_can_be_skipped_by_people_but_not_by_agents() {
    let (svc, h) = world(Config::default()).service();
    let mut req = add(stdio("cli"));
    req.skip_quarantine = true;
    svc.add_server(req, Source::Cli).await.unwrap();
    assert_eq!(h.server("cli").unwrap().quarantined, Some(false));

    let mut req = add(stdio("agent"));
    req.skip_quarantine = true;
    req.config.trust_mode = Some("auto".into());
    svc.add_server(req, Source::Mcp).await.unwrap();
    assert_eq!(h.server("agent").unwrap().quarantined, Some(true));
}

#[tokio::test]
async fn trust_mode_auto_or_quarantine_off_admit_directly() {
    let (svc, h) = world(Config::default()).service();
    let mut s = stdio("auto");
    s.trust_mode = Some("auto".into());
    svc.add_server(add(s), Source::Api).await.unwrap();
    assert_eq!(h.server("auto").unwrap().quarantined, Some(false));

    let cfg = Config {
        quarantine_enabled: Some(false),
        ..Config::default()
    };
    let (svc, h) = world(cfg).service();
    svc.add_server(add(stdio("x")), Source::Api).await.unwrap();
    assert_eq!(h.server("x").unwrap().quarantined, Some(false));
    // Not what an agent adds: that always waits for a person.
    svc.add_server(add(stdio("y")), Source::Mcp).await.unwrap();
    assert_eq!(h.server("y").unwrap().quarantined, Some(true));
}

#[tokio::test]
async fn an_agents_server_is_not_started_until_a_person_approves_it() {
    // The mock pool has no expectations: any restart or discovery would panic.
    let (svc, h) = world(Config::default()).service();
    let mut evil = stdio("evil");
    evil.command = "sh".into();
    evil.args = vec!["-c".into(), "id > /tmp/owned".into()];
    evil.env.insert("TOKEN".into(), "secret-value".into());
    let view = svc.add_server(add(evil), Source::Mcp).await.unwrap();
    let saved = h.server("evil").unwrap();
    assert_eq!(
        saved.added_by.as_deref(),
        Some("mcp"),
        "recorded in the file"
    );
    assert!(saved.is_quarantined());
    assert!(
        crate::launch::runnable(&h.config.lock().unwrap())
            .servers
            .is_empty()
    );
    let why = view.not_started.expect("held");
    assert!(why.contains("unquarantine evil"), "{why}");
    // The review shows what would run, secrets masked.
    assert_eq!(view.command, "sh");
    assert_eq!(view.args, ["-c", "id > /tmp/owned"]);
    assert_eq!(view.env["TOKEN"], "••••ue (12 chars)");

    let err = svc.restart_server("evil", Source::Api).await.unwrap_err();
    assert!(matches!(err, ManagementError::Held { .. }), "{err}");
    assert!(
        err.to_string().contains("mcpproxy upstream inspect evil"),
        "{err}"
    );
    assert!(matches!(
        svc.discover_tools("evil", Source::Api).await.unwrap_err(),
        ManagementError::Held { .. }
    ));
    assert!(matches!(
        svc.restart_all(Source::Api).await.unwrap().total,
        0
    ));

    svc.unquarantine_server("evil", Source::Cli).await.unwrap();
    let after = svc.get_server("evil").await.unwrap();
    assert_eq!(after.not_started, None);
    assert_eq!(after.added_by.as_deref(), Some("mcp"), "the record stays");
    assert_eq!(
        crate::launch::runnable(&h.config.lock().unwrap())
            .servers
            .len(),
        1
    );
}

#[tokio::test]
async fn people_add_servers_that_run_and_are_recorded_as_theirs() {
    let (svc, h) = world(Config::default()).service();
    for (n, source) in [("c", Source::Cli), ("a", Source::Api)] {
        let view = svc.add_server(add(stdio(n)), source).await.unwrap();
        assert!(view.quarantined && view.not_started.is_none(), "{view:?}");
        assert_eq!(
            h.server(n).unwrap().added_by.as_deref(),
            Some(source.as_str())
        );
    }
    assert_eq!(
        crate::launch::runnable(&h.config.lock().unwrap())
            .servers
            .len(),
        2
    );
}

#[tokio::test]
async fn an_agent_changing_what_a_server_runs_puts_it_back_under_review() {
    let (svc, h) = world(config_with(vec![stdio("fs")])).service();
    // Harmless keys change nothing about trust.
    svc.patch_server("fs", &json!({"disabled_tools": ["x"]}), Source::Mcp)
        .await
        .unwrap();
    assert!(!h.server("fs").unwrap().is_quarantined());
    let view = svc
        .patch_server(
            "fs",
            &json!({"command": "sh", "args": ["-c", "id"]}),
            Source::Mcp,
        )
        .await
        .unwrap();
    let saved = h.server("fs").unwrap();
    assert!(
        saved.is_quarantined() && saved.added_by_agent(),
        "{saved:?}"
    );
    assert!(view.not_started.is_some());
    assert!(h.activity_kinds().contains(&ActivityKind::QuarantineChange));
    // A person's change leaves it as it was: only lifting the quarantine approves it.
    svc.patch_server("fs", &json!({"args": ["-c", "true"]}), Source::Api)
        .await
        .unwrap();
    assert!(h.server("fs").unwrap().added_by_agent());
}

#[tokio::test]
async fn agents_cannot_loosen_trust_through_a_patch() {
    let (svc, h) = world(config_with(vec![stdio("fs")])).service();
    for patch in [
        json!({"trust_mode": "auto"}),
        json!({"auto_approve_tool_changes": true}),
        json!({"skip_quarantine": true}),
        json!({"added_by": "cli"}),
    ] {
        let err = svc
            .patch_server("fs", &patch, Source::Mcp)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ManagementError::Forbidden(Gate::TrustOverMcp),
            "{patch}"
        );
    }
    assert_eq!(h.saves(), 0);
    svc.patch_server("fs", &json!({"quarantined": true}), Source::Mcp)
        .await
        .unwrap();
    assert!(
        h.server("fs").unwrap().is_quarantined(),
        "trusting less is fine"
    );
}

#[tokio::test]
async fn add_refuses_duplicates_and_invalid_entries_without_saving() {
    let (svc, h) = world(config_with(vec![stdio("a")])).service();
    let err = svc
        .add_server(add(stdio("a")), Source::Api)
        .await
        .unwrap_err();
    assert_eq!(err, ManagementError::AlreadyExists("a".into()));

    let mut bad = ServerConfig::new(name("b"));
    bad.protocol = "sse".into();
    let err = svc.add_server(add(bad), Source::Api).await.unwrap_err();
    assert!(err.to_string().contains("server.url"), "{err}");
    for bad in [".", "..", "a__b"] {
        let err = svc
            .add_server(add(stdio(bad)), Source::Api)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("server.name"), "{bad}: {err}");
    }
    assert_eq!(h.saves(), 0);
    assert!(h.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn gates_are_enforced_in_one_place() {
    let ro = Config {
        read_only_mode: true,
        ..config_with(vec![stdio("a")])
    };
    let mut w = world(ro);
    w.upstream.expect_restart().never();
    w.upstream.expect_rediscover().never();
    let (svc, h) = w.service();
    for result in [
        svc.add_server(add(stdio("b")), Source::Api).await.err(),
        svc.remove_server("a", Source::Api).await.err(),
        svc.enable_server("a", Source::Api).await.err(),
        svc.quarantine_server("a", Source::Api).await.err(),
        svc.patch_server("a", &json!({"args": []}), Source::Api)
            .await
            .err(),
        svc.enable_all(Source::Api).await.err(),
        // Acting on connections and keys is a change too (the Go proxy's write gates).
        svc.restart_server("a", Source::Api).await.err(),
        svc.restart_all(Source::Cli).await.err(),
        svc.discover_tools("a", Source::Api).await.err(),
        svc.reset_api_key(Source::Cli).await.err(),
    ] {
        assert_eq!(result, Some(ManagementError::Forbidden(Gate::ReadOnly)));
    }
    assert_eq!(h.saves(), 0);

    let off = Config {
        disable_management: true,
        ..config_with(vec![stdio("a")])
    };
    let (svc, _) = world(off).service();
    assert_eq!(
        svc.restart_server("a", Source::Api).await.err(),
        Some(ManagementError::Forbidden(Gate::ManagementDisabled))
    );
    assert_eq!(
        svc.disable_server("a", Source::Cli).await.err(),
        Some(ManagementError::Forbidden(Gate::ManagementDisabled))
    );

    let no_add = Config {
        allow_server_add: false,
        allow_server_remove: false,
        ..config_with(vec![stdio("a")])
    };
    let (svc, _) = world(no_add).service();
    assert_eq!(
        svc.add_server(add(stdio("b")), Source::Api).await.err(),
        Some(ManagementError::Forbidden(Gate::AddNotAllowed))
    );
    let err = svc.remove_server("a", Source::Api).await.unwrap_err();
    assert_eq!(err, ManagementError::Forbidden(Gate::RemoveNotAllowed));
    assert!(err.to_string().contains("allow_server_remove"));
}

#[tokio::test]
async fn allowed_says_what_the_gates_would_let_through() {
    let cases = [
        (Config::default(), [true, true, true, true]),
        (
            Config {
                read_only_mode: true,
                ..Config::default()
            },
            [false, false, false, false],
        ),
        (
            Config {
                disable_management: true,
                ..Config::default()
            },
            [false, false, false, false],
        ),
        (
            Config {
                allow_server_add: false,
                ..Config::default()
            },
            [false, true, true, true],
        ),
        (
            Config {
                allow_server_remove: false,
                ..Config::default()
            },
            [true, false, true, true],
        ),
    ];
    for (config, [may_add, remove, change, actions]) in cases {
        let what = format!(
            "read_only {} disabled {} add {} remove {}",
            config.read_only_mode,
            config.disable_management,
            config.allow_server_add,
            config.allow_server_remove
        );
        let (config_read_only, config_disabled) =
            (config.read_only_mode, config.disable_management);
        let with_a = Config {
            servers: vec![stdio("a")],
            ..config
        };
        let mut w = world(with_a);
        w.upstream.expect_restart().returning(|_| Ok(()));
        w.servers.expect_delete().returning(|_| Ok(()));
        w.approvals.expect_delete_server().returning(|_| Ok(()));
        let (svc, _) = w.service();
        let person = mcpproxy_domain::Caller::from(Source::Api);
        let allowed = svc.allowed(&person);
        assert_eq!(
            (
                allowed.add_servers,
                allowed.remove_servers,
                allowed.change_config,
                allowed.server_actions
            ),
            (may_add, remove, change, actions),
            "{what}"
        );
        assert_eq!(
            allowed.refusal.as_ref().map(|r| r.code.as_str()),
            if config_read_only {
                Some("READ_ONLY_MODE")
            } else if config_disabled {
                Some("MANAGEMENT_DISABLED")
            } else {
                None
            },
            "{what}"
        );
        assert_eq!(allowed.approve_tools, change, "{what}");
        assert_eq!(allowed.unquarantine, change, "{what}");
        assert!(
            !svc.allowed(&mcpproxy_domain::Caller::agent()).unquarantine,
            "agents may not lift a quarantine"
        );
        // Each answer agrees with what the use case does.
        assert_eq!(
            svc.restart_server("a", Source::Api).await.is_ok(),
            actions,
            "{what}"
        );
        assert_eq!(
            svc.disable_server("a", Source::Api).await.is_ok(),
            change,
            "{what}"
        );
        assert_eq!(
            svc.add_server(add(stdio("b")), Source::Api).await.is_ok(),
            may_add,
            "{what}"
        );
        assert_eq!(
            svc.remove_server("a", Source::Api).await.is_ok(),
            remove,
            "{what}"
        );
    }
}

#[tokio::test]
async fn remove_forgets_state_and_approvals() {
    let mut w = world(config_with(vec![stdio("a"), stdio("b")]));
    w.servers
        .expect_delete()
        .withf(|n| n.as_str() == "a")
        .times(1)
        .returning(|_| Ok(()));
    w.approvals
        .expect_delete_server()
        .withf(|n| n.as_str() == "a")
        .times(1)
        .returning(|_| Ok(()));
    let (svc, h) = w.service();
    svc.remove_server("a", Source::Cli).await.unwrap();
    assert!(h.server("a").is_none() && h.server("b").is_some());
    assert_eq!(h.changes(), vec![("a".into(), ServerChange::Removed)]);
    assert_eq!(
        svc.remove_server("a", Source::Cli).await.unwrap_err(),
        ManagementError::NotFound("a".into())
    );
}

#[tokio::test]
async fn patch_merges_maps_replaces_arrays_and_null_removes() {
    let mut s = stdio("a");
    s.env = [("A".into(), "1".into()), ("B".into(), "2".into())].into();
    s.working_dir = "/tmp".into();
    let (svc, h) = world(config_with(vec![s])).service();
    svc.patch_server(
        "a",
        &json!({"env": {"B": null, "C": "3"}, "args": ["x"], "working_dir": null}),
        Source::Api,
    )
    .await
    .unwrap();
    let s = h.server("a").unwrap();
    assert_eq!(
        s.env,
        [
            ("A".to_owned(), "1".to_owned()),
            ("C".to_owned(), "3".to_owned())
        ]
        .into()
    );
    assert_eq!(s.args, vec!["x"]);
    assert_eq!(s.working_dir, "");
    assert!(s.updated.is_some());
    assert_eq!(h.changes(), vec![("a".into(), ServerChange::Updated)]);
}

#[tokio::test]
async fn patch_refuses_renames_bad_values_and_agent_unquarantine() {
    let mut q = stdio("q");
    q.quarantined = Some(true);
    let (svc, h) = world(config_with(vec![stdio("a"), q])).service();
    let err = svc
        .patch_server("a", &json!({"name": "b"}), Source::Api)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be renamed"), "{err}");
    let err = svc
        .patch_server("a", &json!({"protocol": "carrier-pigeon"}), Source::Api)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("carrier-pigeon"), "{err}");
    let err = svc
        .patch_server("a", &json!({"args": "not-a-list"}), Source::Api)
        .await
        .unwrap_err();
    assert!(matches!(err, ManagementError::Invalid(_)), "{err}");
    assert_eq!(
        svc.patch_server("q", &json!({"quarantined": false}), Source::Mcp)
            .await
            .unwrap_err(),
        ManagementError::Forbidden(Gate::UnquarantineOverMcp)
    );
    assert_eq!(
        svc.patch_server("a", &json!({"trust_mode": "auto"}), Source::Mcp)
            .await
            .unwrap_err(),
        ManagementError::Forbidden(Gate::TrustOverMcp)
    );
    assert_eq!(h.saves(), 0);
    svc.patch_server("q", &json!({"quarantined": false}), Source::Api)
        .await
        .unwrap();
    assert!(!h.server("q").unwrap().is_quarantined());
    assert!(h.activity_kinds().contains(&ActivityKind::QuarantineChange));
}

#[tokio::test]
async fn enable_disable_are_idempotent_and_announced_once() {
    let (svc, h) = world(config_with(vec![stdio("a")])).service();
    svc.enable_server("a", Source::Api).await.unwrap();
    assert!(
        h.changes().is_empty(),
        "already enabled: nothing to announce"
    );
    svc.disable_server("a", Source::Api).await.unwrap();
    svc.disable_server("a", Source::Api).await.unwrap();
    assert!(!h.server("a").unwrap().enabled);
    assert_eq!(h.changes(), vec![("a".into(), ServerChange::Disabled)]);
    assert_eq!(
        svc.enable_server("nope", Source::Api).await.unwrap_err(),
        ManagementError::NotFound("nope".into())
    );
    assert_eq!(
        svc.enable_server("bad:name", Source::Api)
            .await
            .unwrap_err(),
        ManagementError::NotFound("bad:name".into())
    );
}

#[tokio::test]
async fn agents_cannot_unquarantine_people_can() {
    let mut q = stdio("q");
    q.quarantined = Some(true);
    let (svc, h) = world(config_with(vec![q])).service();
    let err = svc.unquarantine_server("q", Source::Mcp).await.unwrap_err();
    assert_eq!(err, ManagementError::Forbidden(Gate::UnquarantineOverMcp));
    assert!(err.to_string().contains("person"), "{err}");
    svc.unquarantine_server("q", Source::Api).await.unwrap();
    assert!(!h.server("q").unwrap().is_quarantined());
    svc.quarantine_server("q", Source::Mcp).await.unwrap();
    assert!(h.server("q").unwrap().is_quarantined());
    assert_eq!(
        h.changes(),
        vec![
            ("q".into(), ServerChange::Unquarantined),
            ("q".into(), ServerChange::Quarantined)
        ]
    );
}

#[tokio::test]
async fn restart_all_reports_each_failure() {
    let mut off = stdio("off");
    off.enabled = false;
    let mut w = world(config_with(vec![stdio("a"), stdio("b"), off]));
    w.upstream.expect_restart().returning(|n| {
        if n.as_str() == "b" {
            Err(UpstreamError::Failed("npx: command not found".into()))
        } else {
            Ok(())
        }
    });
    let (svc, _) = w.service();
    let r = svc.restart_all(Source::Api).await.unwrap();
    assert_eq!((r.total, r.successful, r.failed), (2, 1, 1));
    assert_eq!(r.errors[0].server, "b");
    assert!(r.errors[0].error.contains("command not found"));
}

#[tokio::test]
async fn enable_all_saves_once() {
    let mut a = stdio("a");
    a.enabled = false;
    let mut b = stdio("b");
    b.enabled = false;
    let (svc, h) = world(config_with(vec![a, b, stdio("c")])).service();
    let r = svc.enable_all(Source::Api).await.unwrap();
    assert_eq!((r.total, r.successful, r.failed), (3, 3, 0));
    assert_eq!(h.saves(), 1);
    assert_eq!(h.changes().len(), 2);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json,
        json!({"total": 3, "successful": 3, "failed": 0, "errors": []})
    );
}

#[tokio::test]
async fn views_mask_secrets() {
    let mut s = ServerConfig::new(name("gh"));
    s.url = "https://user:pw@api.example.com/mcp?key=abc".into();
    s.headers = [("Authorization".into(), "Bearer ghp_1234567890".into())].into();
    s.env = [("TOKEN".into(), "${env:GH_TOKEN}".into())].into();
    let (svc, _) = world(config_with(vec![s])).service();
    let v = svc.get_server("gh").await.unwrap();
    assert_eq!(v.url, "https://api.example.com/mcp?key=***");
    assert_eq!(v.headers["Authorization"], "••••90 (21 chars)");
    assert_eq!(v.env["TOKEN"], "${env:GH_TOKEN}");
    assert_eq!(v.status, "Disconnected");
    let list = svc.list_servers().await.unwrap();
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn a_failed_save_changes_nothing_and_says_why() {
    let mut store = MockConfigStore::new();
    store
        .expect_current()
        .returning(|| Arc::new(config_with(vec![stdio("a")])));
    store.expect_save().returning(|_| {
        Err(crate::ports::ConfigStoreError::Write {
            path: "/x/mcp_config.json".into(),
            reason: "No space left on device".into(),
        })
    });
    let mut events = MockEventPublisher::new();
    events.expect_publish().never();
    let svc = ManagementService::new(
        Arc::new(store),
        Arc::new(MockServerRepository::new()),
        Arc::new(MockApprovalRepository::new()),
        Arc::new(MockUpstreamPool::new()),
        Arc::new(events),
        Arc::new(ActivityLog::new(
            Arc::new(MockActivityRepository::new()),
            Arc::new(MockEventPublisher::new()),
            Arc::new(crate::ports::SystemClock),
        )),
        Arc::new(crate::ports::SystemClock),
    );
    let err = svc.disable_server("a", Source::Api).await.unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
}

#[tokio::test]
async fn the_config_is_shown_masked_and_masked_values_survive_an_apply() {
    let mut s = stdio("gh");
    s.env = [("TOKEN".into(), "ghp_0123456789".into())].into();
    let config = Config {
        api_key: "k".repeat(64),
        ..config_with(vec![s])
    };
    let (svc, h) = world(config).service();
    let shown = svc.config_view();
    assert_ne!(shown["api_key"], "k".repeat(64));
    assert_eq!(shown["mcpServers"][0]["env"]["TOKEN"], "••••89 (14 chars)");

    let mut edited = shown.clone();
    edited["tools_limit"] = json!(30);
    edited["mcpServers"][0]["args"] = json!(["--verbose"]);
    let applied = svc.apply_config(&edited, Source::Api).await.unwrap();
    assert_eq!(applied.updated, ["gh"]);
    let now = h.config.lock().unwrap().clone();
    assert_eq!(now.tools_limit, 30);
    assert_eq!(
        now.api_key,
        "k".repeat(64),
        "the masked key was not written"
    );
    assert_eq!(now.servers[0].env["TOKEN"], "ghp_0123456789");
    assert!(h.activity_kinds().contains(&ActivityKind::ConfigChange));
}

#[tokio::test]
async fn a_bad_config_is_refused_with_its_keys() {
    let (svc, h) = world(Config::default()).service();
    let errors = svc
        .validate_config(&json!({"tools_limit": "many", "mcpServers": []}))
        .unwrap_err();
    assert_eq!(errors[0].field, "tools_limit");
    let errors = svc
        .validate_config(&json!({"mcpServers": [{"name": "x", "protocol": "sse"}]}))
        .unwrap_err();
    assert_eq!(errors[0].field, "mcpServers[0].url");
    let err = svc
        .apply_config(&json!({"listen": "nowhere"}), Source::Api)
        .await
        .unwrap_err();
    assert!(matches!(err, ManagementError::Invalid(_)));
    assert_eq!(h.saves(), 0);
    let ro = Config {
        read_only_mode: true,
        ..Config::default()
    };
    let (svc, _) = world(ro).service();
    assert_eq!(
        svc.apply_config(&json!({"mcpServers": []}), Source::Api)
            .await
            .unwrap_err(),
        ManagementError::Forbidden(Gate::ReadOnly)
    );
}

#[tokio::test]
async fn a_partial_document_is_refused_never_applied_as_empty() {
    let (svc, h) = world(config_with(vec![stdio("a"), stdio("b")])).service();
    for (doc, keys) in [
        (json!({"name": 5}), vec!["name", "mcpServers"]),
        (json!({}), vec!["mcpServers"]),
        (json!({"listen": "127.0.0.1:9"}), vec!["mcpServers"]),
        (json!([1]), vec!["config"]),
        (json!({"mcpServers": null}), vec!["mcpServers"]),
    ] {
        let err = svc.apply_config(&doc, Source::Api).await.unwrap_err();
        let ManagementError::Invalid(errors) = &err else {
            panic!("{doc}: {err}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, keys, "{doc}: {err}");
    }
    assert_eq!(h.saves(), 0);
    assert_eq!(h.config.lock().unwrap().servers.len(), 2);
    // An empty list says so on purpose.
    svc.apply_config(&json!({"mcpServers": []}), Source::Api)
        .await
        .unwrap();
    assert!(h.config.lock().unwrap().servers.is_empty());
}
