//! The storage adapter's suite, run against both backends: every case against a real SQLite
//! file, and all of them again against a real PostgreSQL server that the test starts (initdb
//! and pg_ctl in a temp directory) and stops.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::path::PathBuf;
use std::sync::Arc;

use mcpproxy_application::ports::{
    ActivityFilter, ActivityRepository, AgentTokenRepository, ApprovalRepository, CacheRepository,
    CachedResponse, PromptApprovalRepository, ServerRepository, ServerRuntime, TokenStore,
};
use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
use mcpproxy_domain::approval::Trust;
use mcpproxy_domain::{
    ConnectionState, ServerName, Timestamp, Tool, ToolAnnotations, ToolApproval,
};
use mcpproxy_storage::{Database, Location, Store};
use mcpproxy_test_postgres::TestPostgres;
use serde_json::json;

fn name(n: &str) -> ServerName {
    ServerName::parse(n).unwrap()
}

fn tool(n: &str, desc: &str) -> Tool {
    let mut t = Tool::new(
        n,
        desc,
        json!({"type": "object", "properties": {"message": {"type": "string"}}}),
    );
    t.annotations = ToolAnnotations {
        read_only_hint: Some(true),
        ..Default::default()
    };
    t.extra.insert("_meta".into(), json!({"kept": true}));
    t
}

fn record(
    id: &str,
    ms: i64,
    kind: ActivityKind,
    server: &str,
    status: ActivityStatus,
) -> ActivityRecord {
    ActivityRecord {
        id: id.into(),
        kind,
        source: Source::Mcp,
        server_name: Some(server.into()),
        tool_name: Some("echo".into()),
        arguments: Some(json!({"message": "hi"})),
        response: Some("hi".into()),
        response_truncated: false,
        status,
        error_message: None,
        duration_ms: Some(12),
        timestamp: Timestamp::from_millis(ms),
        session_id: Some("s1".into()),
        request_id: Some(format!("r-{id}")),
        metadata: json!({"variant": "call_tool_read"})
            .as_object()
            .unwrap()
            .clone(),
    }
}

/// One test's database on one backend; [`Db::open`] again is a restart.
struct Db {
    location: Location,
    _dir: tempfile::TempDir,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            location: Location::File(dir.path().join("mcpproxy.db")),
            _dir: dir,
        }
    }

    fn postgres(pg: &TestPostgres, name: &str) -> Self {
        Self {
            location: Location::Postgres {
                url: pg.create_database(name),
                pool_size: 4,
                replica: "test".into(),
            },
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        mcpproxy_storage::open(&self.location).await.unwrap()
    }

    fn sqlite_file(&self) -> Option<&PathBuf> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Postgres { .. } => None,
        }
    }
}

async fn everything_survives_a_restart(f: &Db) {
    let gh = name("github");
    let approval = {
        let db = f.open().await;
        db.save_runtime(&ServerRuntime {
            name: gh.clone(),
            state: ConnectionState::Ready,
            last_error: Some("once failed".into()),
            tool_count: 2,
            connected_at: Some(Timestamp::from_millis(5)),
            updated_at: Timestamp::from_millis(6),
        })
        .await
        .unwrap();
        db.save_tools(&gh, &[tool("b_tool", "B"), tool("a_tool", "A")])
            .await
            .unwrap();
        let (approval, _) = ToolApproval::evaluate(
            &gh,
            None,
            &tool("a_tool", "A"),
            Trust {
                auto_approve: false,
                baseline: true,
            },
        );
        ApprovalRepository::save(&*db, &approval).await.unwrap();
        db.append(&record(
            "01A",
            1,
            ActivityKind::ToolCall,
            "github",
            ActivityStatus::Success,
        ))
        .await
        .unwrap();
        db.put(&CachedResponse {
            key: "k".into(),
            value: "full".into(),
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(10_000),
        })
        .await
        .unwrap();
        if let Some(path) = f.sqlite_file() {
            assert!(path.with_extension("db-wal").exists(), "WAL mode is on");
        }
        db.close().await;
        approval
    };

    let db = f.open().await;
    let rt = db.runtime(&gh).await.unwrap().unwrap();
    assert_eq!(rt.state, ConnectionState::Ready);
    assert_eq!(rt.last_error.as_deref(), Some("once failed"));
    assert_eq!(rt.tool_count, 2);
    let tools = db.tools(&gh).await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["b_tool", "a_tool"],
        "order as the server listed them"
    );
    assert_eq!(tools[1], tool("a_tool", "A"));
    assert_eq!(
        ApprovalRepository::get(&*db, &gh, "a_tool").await.unwrap(),
        Some(approval)
    );
    assert_eq!(
        ActivityRepository::get(&*db, "01A")
            .await
            .unwrap()
            .unwrap()
            .duration_ms,
        Some(12)
    );
    let cached = CacheRepository::get(&*db, "k", Timestamp::from_millis(1))
        .await
        .unwrap();
    assert_eq!(cached.unwrap().value, "full");
}

async fn activity_filters_pages_and_counts(f: &Db) {
    let db = f.open().await;
    let rows = [
        (
            "01A",
            100,
            ActivityKind::ToolCall,
            "github",
            ActivityStatus::Success,
        ),
        (
            "01B",
            200,
            ActivityKind::ToolCall,
            "github",
            ActivityStatus::Error,
        ),
        (
            "01C",
            300,
            ActivityKind::ServerChange,
            "memory",
            ActivityStatus::Success,
        ),
        (
            "01D",
            400,
            ActivityKind::ToolCall,
            "memory",
            ActivityStatus::Blocked,
        ),
    ];
    for (id, ms, kind, server, status) in rows {
        db.append(&record(id, ms, kind, server, status))
            .await
            .unwrap();
    }
    let ids = |page: mcpproxy_application::ports::ActivityPage| {
        page.records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let all = ActivityFilter {
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        ids(db.list(&all).await.unwrap()),
        ["01D", "01C", "01B", "01A"]
    );

    let f = ActivityFilter {
        kinds: vec![ActivityKind::ToolCall],
        limit: 50,
        ..Default::default()
    };
    assert_eq!(ids(db.list(&f).await.unwrap()), ["01D", "01B", "01A"]);
    let f = ActivityFilter {
        server: Some("github".into()),
        status: Some(ActivityStatus::Error),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(ids(db.list(&f).await.unwrap()), ["01B"]);
    let f = ActivityFilter {
        start_time: Some(Timestamp::from_millis(200)),
        end_time: Some(Timestamp::from_millis(300)),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(ids(db.list(&f).await.unwrap()), ["01C", "01B"]);
    let f = ActivityFilter {
        request_id: Some("r-01C".into()),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(ids(db.list(&f).await.unwrap()), ["01C"]);

    let page = db
        .list(&ActivityFilter {
            limit: 2,
            offset: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(ids(page), ["01C", "01B"]);

    // 01A is older than 150; of the rest, only the newest two may stay.
    let gone = db.prune(Timestamp::from_millis(150), 2).await.unwrap();
    assert_eq!(gone, 2);
    assert_eq!(ids(db.list(&all).await.unwrap()), ["01D", "01C"]);
}

async fn cache_entries_expire(f: &Db) {
    let db = f.open().await;
    for (key, expires) in [("old", 100), ("new", 10_000)] {
        db.put(&CachedResponse {
            key: key.into(),
            value: key.into(),
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(expires),
        })
        .await
        .unwrap();
    }
    let now = Timestamp::from_millis(500);
    assert!(
        CacheRepository::get(&*db, "old", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        CacheRepository::get(&*db, "new", now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(db.purge_expired(now).await.unwrap(), 1);
}

async fn deleting_a_server_forgets_it(f: &Db) {
    let db = f.open().await;
    let (a, b) = (name("a"), name("b"));
    for n in [&a, &b] {
        db.save_runtime(&ServerRuntime {
            name: n.clone(),
            state: ConnectionState::Error,
            last_error: None,
            tool_count: 0,
            connected_at: None,
            updated_at: Timestamp::from_millis(1),
        })
        .await
        .unwrap();
        db.save_tools(n, &[tool("x", "X")]).await.unwrap();
        let (ap, _) = ToolApproval::evaluate(
            n,
            None,
            &tool("x", "X"),
            Trust {
                auto_approve: true,
                baseline: false,
            },
        );
        ApprovalRepository::save(&*db, &ap).await.unwrap();
    }
    ServerRepository::delete(&*db, &a).await.unwrap();
    ApprovalRepository::delete_server(&*db, &a).await.unwrap();
    assert!(db.runtime(&a).await.unwrap().is_none());
    assert!(db.tools(&a).await.unwrap().is_empty());
    assert!(
        ApprovalRepository::for_server(&*db, &a)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.all_runtime().await.unwrap().len(), 1);
    assert_eq!(
        ApprovalRepository::for_server(&*db, &b)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_garbage_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Database::open(&path).await.unwrap_err().to_string();
    assert!(err.contains("bad.db"), "{err}");
}

async fn prompt_approvals_are_kept_apart_from_tool_approvals(f: &Db) {
    use mcpproxy_domain::prompt::Prompt;
    let gh = name("github");
    let prompt = Prompt::from_listing(&json!({"name": "echo", "description": "Review",
        "arguments": [{"name": "pr", "required": true}]}))
    .unwrap();
    let trusted = Trust {
        auto_approve: false,
        baseline: true,
    };
    let (record, _) = ToolApproval::evaluate(&gh, None, &prompt.as_approvable(), trusted);
    {
        let db = f.open().await;
        PromptApprovalRepository::save(&*db, &record).await.unwrap();
        db.close().await;
    }
    let db = f.open().await;
    assert_eq!(
        PromptApprovalRepository::for_server(&*db, &gh)
            .await
            .unwrap(),
        [record]
    );
    // A tool of the same name is another record.
    assert_eq!(
        ApprovalRepository::get(&*db, &gh, "echo").await.unwrap(),
        None
    );
    assert_eq!(
        PromptApprovalRepository::servers(&*db).await.unwrap(),
        std::slice::from_ref(&gh)
    );
    PromptApprovalRepository::delete_server(&*db, &gh)
        .await
        .unwrap();
    assert!(
        PromptApprovalRepository::servers(&*db)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tokens_credentials_scans_and_switches_are_kept(f: &Db) {
    use mcpproxy_domain::CallVariant;
    use mcpproxy_domain::poison::ToolScan;
    use mcpproxy_domain::policy::ServerSet;
    use mcpproxy_domain::token::AgentToken;
    let gh = name("github");
    let token = AgentToken {
        name: "ci".into(),
        hash: "ab".repeat(32),
        prefix: "mcp_agt_abcd".into(),
        servers: ServerSet::Only([gh.clone()].into()),
        tier: CallVariant::Write,
        created_at: Timestamp::from_millis(1_000),
        expires_at: Timestamp::from_millis(9_000),
        revoked: false,
        last_used_at: None,
        profile_pin: Some("reviewers".into()),
    };
    let (mut approval, _) = ToolApproval::evaluate(
        &gh,
        None,
        &tool("a_tool", "A"),
        Trust {
            auto_approve: false,
            baseline: true,
        },
    );
    approval.disabled = true;
    approval.scan = Some(ToolScan::clean());
    {
        let db = f.open().await;
        assert!(db.insert(&token).await.unwrap(), "a new name is taken");
        let same_name = AgentToken {
            hash: "cd".repeat(32),
            ..token.clone()
        };
        assert!(
            !db.insert(&same_name).await.unwrap(),
            "a taken name is refused, the first token stays"
        );
        db.touch("ci", Timestamp::from_millis(2_000)).await.unwrap();
        TokenStore::save(&*db, &gh, &json!({"access_token": "t1", "client_id": "c"}))
            .await
            .unwrap();
        TokenStore::save(&*db, &gh, &json!({"access_token": "t2", "client_id": "c"}))
            .await
            .unwrap();
        ApprovalRepository::save(&*db, &approval).await.unwrap();
        db.close().await;
    }
    let db = f.open().await;
    let kept = db.by_hash(&token.hash).await.unwrap().unwrap();
    assert_eq!(kept.last_used_at, Some(Timestamp::from_millis(2_000)));
    assert_eq!(
        AgentToken {
            last_used_at: None,
            ..kept.clone()
        },
        token
    );
    let revoked = AgentToken {
        revoked: true,
        ..kept
    };
    db.update(&revoked).await.unwrap();
    assert_eq!(db.by_name("ci").await.unwrap(), Some(revoked.clone()));
    assert_eq!(db.all().await.unwrap(), [revoked]);
    assert!(AgentTokenRepository::delete(&*db, "ci").await.unwrap());
    assert!(!AgentTokenRepository::delete(&*db, "ci").await.unwrap());

    assert_eq!(
        TokenStore::load(&*db, &gh).await.unwrap(),
        Some(json!({"access_token": "t2", "client_id": "c"}))
    );
    TokenStore::clear(&*db, &gh).await.unwrap();
    assert_eq!(TokenStore::load(&*db, &gh).await.unwrap(), None);

    let back = ApprovalRepository::get(&*db, &gh, "a_tool")
        .await
        .unwrap()
        .unwrap();
    assert!(back.disabled, "the switch stays off");
    assert_eq!(back, approval);
}

async fn text_with_odd_characters_round_trips(f: &Db) {
    let db = f.open().await;
    let mut r = record(
        "01Z",
        5,
        ActivityKind::ToolCall,
        "github",
        ActivityStatus::Success,
    );
    r.response = Some("line\nüñí ✓ \u{1F600}".into());
    r.error_message = Some("it's \"quoted\" and 100% done; DROP TABLE activity;--".into());
    db.append_all(std::slice::from_ref(&r)).await.unwrap();
    assert_eq!(ActivityRepository::get(&*db, "01Z").await.unwrap(), Some(r));
}

async fn many_records_in_one_batch(f: &Db) {
    let db = f.open().await;
    let batch: Vec<_> = (0..1200)
        .map(|i| {
            record(
                &format!("02{i:05}"),
                i,
                ActivityKind::ToolCall,
                "memory",
                ActivityStatus::Success,
            )
        })
        .collect();
    db.append_all(&batch).await.unwrap();
    let page = db
        .list(&ActivityFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1200);
    assert_eq!(page.records[0].id, "0201199", "the newest first");
}

async fn filters_that_look_inside_the_metadata(f: &Db) {
    use mcpproxy_domain::sensitive::Severity;
    let db = f.open().await;
    let with = |id: &str, meta: serde_json::Value| {
        let mut r = record(id, 1, ActivityKind::ToolCall, "gh", ActivityStatus::Success);
        r.metadata = meta.as_object().unwrap().clone();
        r
    };
    db.append_all(&[
        with(
            "01A",
            json!({"_auth_agent": "ci", "_auth_type": "agent_token", "sensitive_data": {
                "detected": true, "highest_severity": "critical",
                "detections": [{"type": "aws_access_key"}, {"type": "email"}]}}),
        ),
        with(
            "01B",
            json!({"_auth_type": "api_key", "sensitive_data": {
                "detected": true, "highest_severity": "low", "detections": [{"type": "email"}]}}),
        ),
        with("01C", json!({"sensitive_data": {"detected": false}})),
        with("01D", json!({})),
    ])
    .await
    .unwrap();
    let ids = |f: ActivityFilter| {
        let db = db.clone();
        async move {
            let f = ActivityFilter { limit: 50, ..f };
            let page = db.list(&f).await.unwrap();
            page.records.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let sensitive = ActivityFilter {
        sensitive_data: true,
        ..Default::default()
    };
    assert_eq!(ids(sensitive).await, ["01B", "01A"]);
    let aws = ActivityFilter {
        detection_type: Some("aws_access_key".into()),
        ..Default::default()
    };
    assert_eq!(ids(aws).await, ["01A"]);
    let email = ActivityFilter {
        detection_type: Some("email".into()),
        ..Default::default()
    };
    assert_eq!(ids(email).await, ["01B", "01A"]);
    let high = ActivityFilter {
        min_severity: Some(Severity::High),
        ..Default::default()
    };
    assert_eq!(ids(high).await, ["01A"]);
    let agent = ActivityFilter {
        agent: Some("ci".into()),
        ..Default::default()
    };
    assert_eq!(ids(agent).await, ["01A"]);
    let key = ActivityFilter {
        auth_type: Some("api_key".into()),
        ..Default::default()
    };
    assert_eq!(ids(key).await, ["01B"]);
}

/// Every case of the suite, each on a fresh database of the backend.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::Db::sqlite()).await;
                }
            )*
        }

        /// The same cases against one PostgreSQL server, one database each.
        #[tokio::test(flavor = "multi_thread")]
        async fn the_whole_suite_passes_on_postgresql() {
            let pg = TestPostgres::start();
            $(
                $case(&Db::postgres(&pg, stringify!($case))).await;
            )*
        }
    };
}

suite!(
    everything_survives_a_restart,
    activity_filters_pages_and_counts,
    cache_entries_expire,
    deleting_a_server_forgets_it,
    prompt_approvals_are_kept_apart_from_tool_approvals,
    tokens_credentials_scans_and_switches_are_kept,
    text_with_odd_characters_round_trips,
    many_records_in_one_batch,
    filters_that_look_inside_the_metadata,
    activity_counts_and_tool_usage_add_up_to_the_records,
);

#[tokio::test(flavor = "multi_thread")]
async fn replicas_starting_together_migrate_once() {
    let pg = TestPostgres::start();
    let url = pg.create_database("together");
    let opens = (0..4).map(|i| {
        let location = Location::Postgres {
            url: url.clone(),
            pool_size: 2,
            replica: format!("r{i}"),
        };
        tokio::spawn(async move { mcpproxy_storage::open(&location).await })
    });
    let mut stores = Vec::new();
    for open in opens {
        stores.push(
            open.await
                .unwrap()
                .expect("every replica opens the database"),
        );
    }
    // Each sees the others' writes: one schema, one set of tables.
    stores[0]
        .append(&record(
            "01A",
            1,
            ActivityKind::ToolCall,
            "a",
            ActivityStatus::Success,
        ))
        .await
        .unwrap();
    for store in &stores {
        assert!(
            ActivityRepository::get(&**store, "01A")
                .await
                .unwrap()
                .is_some()
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_fails_clearly_and_comes_back() {
    let mut pg = TestPostgres::start();
    let url = pg.create_database("outage");
    let db = mcpproxy_storage::open(&Location::Postgres {
        url: url.clone(),
        pool_size: 2,
        replica: "r".into(),
    })
    .await
    .unwrap();
    assert!(db.ping().await);
    pg.stop_server();
    assert!(!db.ping().await, "a stopped server does not answer");
    let err = db.all_runtime().await.unwrap_err().to_string();
    assert!(!err.is_empty());
    pg.start_server();
    assert!(db.ping().await, "the pool reconnects once it is back");
    assert!(db.all_runtime().await.unwrap().is_empty());
    db.close().await;

    // A database that cannot be reached at start is named, without its password.
    pg.stop_server();
    let err = mcpproxy_storage::open(&Location::Postgres {
        url: format!("postgres://postgres:hunter2@127.0.0.1:{}/outage", pg.port()),
        pool_size: 1,
        replica: "r".into(),
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("postgres://postgres:***@127.0.0.1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_saved_by_one_replica_is_announced_to_the_others() {
    let pg = TestPostgres::start();
    let url = pg.create_database("notices");
    let at = |replica: &str| Location::Postgres {
        url: url.clone(),
        pool_size: 2,
        replica: replica.into(),
    };
    let a = mcpproxy_storage::open(&at("a")).await.unwrap();
    let b = mcpproxy_storage::open(&at("b")).await.unwrap();
    let mut feed = a.changes().await.unwrap().expect("PostgreSQL has a feed");
    let (approval, _) = ToolApproval::evaluate(
        &name("gh"),
        None,
        &tool("t", "T"),
        Trust {
            auto_approve: true,
            baseline: false,
        },
    );
    ApprovalRepository::save(&*b, &approval).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), feed.next())
        .await
        .expect("the notice arrives")
        .unwrap();
    let sqlite = mcpproxy_storage::open(&Location::File(
        tempfile::tempdir().unwrap().path().join("y.db"),
    ))
    .await
    .unwrap();
    assert!(
        sqlite.changes().await.unwrap().is_none(),
        "one writer, no feed"
    );
}

/// The counts SQL makes are the counts of the records themselves (the domain's fold).
async fn activity_counts_and_tool_usage_add_up_to_the_records(f: &Db) {
    use mcpproxy_application::ports::every_record;
    use mcpproxy_domain::activity_stats::{
        CallCount, GroupBy, GroupCount, ToolUsageCounts, timeline_of,
    };

    let db = f.open().await;
    const HOUR: i64 = 3_600_000;
    let mut all = Vec::new();
    let statuses = [
        ActivityStatus::Success,
        ActivityStatus::Error,
        ActivityStatus::Blocked,
        ActivityStatus::Rejected,
    ];
    for i in 0..40_i64 {
        let server = ["github", "files", "db"][(i % 3) as usize];
        let mut r = record(
            &format!("01B{i:03}"),
            HOUR * 100 + i * HOUR / 7,
            ActivityKind::ToolCall,
            server,
            statuses[(i % 4) as usize],
        );
        r.tool_name = Some(["echo", "read", "write"][(i % 5 % 3) as usize].into());
        r.duration_ms = Some((i * 37) % 101);
        r.response = Some("é".repeat(i as usize)).filter(|_| i % 6 != 0);
        if i % 2 == 0 {
            r.metadata
                .insert("_auth_agent".into(), json!(format!("bot{}", i % 3)));
        }
        all.push(r);
    }
    let mut change = record(
        "01C000",
        HOUR * 101,
        ActivityKind::ServerChange,
        "db",
        ActivityStatus::Success,
    );
    change.server_name = None;
    change.tool_name = None;
    all.push(change);
    db.append_all(&all).await.unwrap();

    let sorted = |mut v: Vec<GroupCount>| {
        v.sort_by(|a, b| (&a.key, a.status.as_str()).cmp(&(&b.key, b.status.as_str())));
        v
    };
    let everything = ActivityFilter::default();
    for by in GroupBy::ALL {
        assert_eq!(
            sorted(db.count_by(&everything, by).await.unwrap()),
            sorted(GroupCount::of_records(&all, by)),
            "{by:?}"
        );
    }
    let mut calls = db.count_calls(&everything).await.unwrap();
    calls.sort_by(|a, b| {
        (&a.server, &a.tool, a.status.as_str()).cmp(&(&b.server, &b.tool, b.status.as_str()))
    });
    assert_eq!(calls, CallCount::of_records(&all));
    // A filter narrows the counts as it narrows the list.
    let github = ActivityFilter {
        server: Some("github".into()),
        start_time: Some(Timestamp::from_millis(HOUR * 102)),
        ..ActivityFilter::default()
    };
    let listed = every_record(&*db, &github).await.unwrap();
    assert!(!listed.is_empty() && listed.len() < all.len());
    assert_eq!(
        sorted(db.count_by(&github, GroupBy::Status).await.unwrap()),
        sorted(GroupCount::of_records(&listed, GroupBy::Status))
    );

    let usage = db.tool_usage(&everything).await.unwrap();
    let mut tools = usage.tools.clone();
    tools.sort_by(|a, b| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)));
    assert_eq!(tools, ToolUsageCounts::of_records(&all));
    assert_eq!(usage.timeline, timeline_of(&all));
    assert!(
        usage
            .tools
            .iter()
            .any(|t| t.resp_bytes > 0 && t.durations_ms.len() > 1)
    );
}
