//! The storage adapter against a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use mcpproxy_application::ports::{
    ActivityFilter, ActivityRepository, ApprovalRepository, CacheRepository, CachedResponse,
    ServerRepository, ServerRuntime,
};
use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
use mcpproxy_domain::approval::Trust;
use mcpproxy_domain::{
    ConnectionState, ServerName, Timestamp, Tool, ToolAnnotations, ToolApproval,
};
use mcpproxy_storage::Database;
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

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcpproxy.db");
    let gh = name("github");
    let approval = {
        let db = Database::open(&path).await.unwrap();
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
        db.save(&approval).await.unwrap();
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
        assert!(
            dir.path().join("mcpproxy.db-wal").exists(),
            "WAL mode is on"
        );
        db.close().await;
        approval
    };

    let db = Database::open(&path).await.unwrap();
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
        ApprovalRepository::get(&db, &gh, "a_tool").await.unwrap(),
        Some(approval)
    );
    assert_eq!(
        ActivityRepository::get(&db, "01A")
            .await
            .unwrap()
            .unwrap()
            .duration_ms,
        Some(12)
    );
    let cached = CacheRepository::get(&db, "k", Timestamp::from_millis(1))
        .await
        .unwrap();
    assert_eq!(cached.unwrap().value, "full");
}

#[tokio::test]
async fn activity_filters_pages_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("a.db")).await.unwrap();
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

#[tokio::test]
async fn cache_entries_expire() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("c.db")).await.unwrap();
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
        CacheRepository::get(&db, "old", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        CacheRepository::get(&db, "new", now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(db.purge_expired(now).await.unwrap(), 1);
}

#[tokio::test]
async fn deleting_a_server_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("d.db")).await.unwrap();
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
        db.save(&ap).await.unwrap();
    }
    ServerRepository::delete(&db, &a).await.unwrap();
    db.delete_server(&a).await.unwrap();
    assert!(db.runtime(&a).await.unwrap().is_none());
    assert!(db.tools(&a).await.unwrap().is_empty());
    assert!(db.for_server(&a).await.unwrap().is_empty());
    assert_eq!(db.all_runtime().await.unwrap().len(), 1);
    assert_eq!(db.for_server(&b).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_garbage_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Database::open(&path).await.unwrap_err().to_string();
    assert!(err.contains("bad.db"), "{err}");
}

#[tokio::test]
async fn prompt_approvals_are_kept_apart_from_tool_approvals() {
    use mcpproxy_application::ports::PromptApprovalRepository;
    use mcpproxy_domain::prompt::Prompt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcpproxy.db");
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
        let db = Database::open(&path).await.unwrap();
        PromptApprovalRepository::save(&db, &record).await.unwrap();
        db.close().await;
    }
    let db = Database::open(&path).await.unwrap();
    assert_eq!(
        PromptApprovalRepository::for_server(&db, &gh)
            .await
            .unwrap(),
        [record]
    );
    // A tool of the same name is another record.
    assert_eq!(
        ApprovalRepository::get(&db, &gh, "echo").await.unwrap(),
        None
    );
    assert_eq!(
        PromptApprovalRepository::servers(&db).await.unwrap(),
        std::slice::from_ref(&gh)
    );
    PromptApprovalRepository::delete_server(&db, &gh)
        .await
        .unwrap();
    assert!(
        PromptApprovalRepository::servers(&db)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The counts SQL makes are the counts of the records themselves (the domain's fold).
#[tokio::test]
async fn activity_counts_and_tool_usage_add_up_to_the_records() {
    use mcpproxy_application::ports::every_record;
    use mcpproxy_domain::activity_stats::{
        CallCount, GroupBy, GroupCount, ToolUsageCounts, timeline_of,
    };

    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("mcpproxy.db"))
        .await
        .unwrap();
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
    let listed = every_record(&db, &github).await.unwrap();
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
