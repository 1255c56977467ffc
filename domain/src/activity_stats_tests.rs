use serde_json::{Map, Value, json};

use super::*;
use crate::activity::Source;

fn record(
    server: &str,
    tool: &str,
    status: ActivityStatus,
    ms: i64,
    agent: Option<&str>,
) -> ActivityRecord {
    let mut metadata = Map::new();
    if let Some(a) = agent {
        metadata.insert(AGENT_KEY.into(), Value::from(a));
    }
    ActivityRecord {
        id: String::new(),
        kind: ActivityKind::ToolCall,
        source: Source::Mcp,
        server_name: Some(server.into()),
        tool_name: Some(tool.into()),
        arguments: Some(json!({"x": 1})),
        response: executed(status).then(|| "0123456789".to_owned()),
        response_truncated: false,
        status,
        error_message: None,
        duration_ms: Some(ms),
        timestamp: Timestamp::from_millis(HOUR_MS * 10 + ms),
        session_id: None,
        request_id: None,
        metadata,
    }
}

fn sample() -> Vec<ActivityRecord> {
    use ActivityStatus::*;
    let mut records = vec![
        record("gh", "issues", Success, 10, Some("bot")),
        record("gh", "issues", Success, 20, Some("bot")),
        record("gh", "issues", Error, 30, None),
        record("gh", "pulls", Blocked, 0, None),
        record("fs", "read", Success, 5, Some("other")),
        record("fs", "read", Rejected, 0, None),
    ];
    let mut start = record("x", "y", Success, 1, None);
    start.kind = ActivityKind::SystemStart;
    start.server_name = None;
    start.tool_name = None;
    records.push(start);
    records
}

#[test]
fn periods_and_windows_parse_their_go_names_only() {
    for p in Period::ALL {
        assert_eq!(Period::parse(p.as_str()), Some(p));
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert_eq!(Period::Week.millis(), 7 * DAY_MS);
    assert_eq!(Period::parse("2h"), None);
    assert_eq!(UsageWindow::parse("all"), Some(UsageWindow::All));
    assert_eq!(UsageWindow::All.millis(), None);
    assert_eq!(UsageWindow::parse("1h"), None);
    assert_eq!(GroupBy::parse("agent"), Some(GroupBy::Agent));
    assert_eq!(GroupBy::parse("session"), None);
}

#[test]
fn percentiles_are_nearest_rank() {
    let values: Vec<i64> = (1..=100).collect();
    assert_eq!(percentile(&values, 0.50), 50);
    assert_eq!(percentile(&values, 0.95), 95);
    assert_eq!(percentile(&values, 0.99), 99);
    assert_eq!(percentile(&[7], 0.99), 7);
    assert_eq!(percentile(&[1, 2, 3], 0.5), 2);
    assert_eq!(percentile(&[], 0.5), 0);
}

#[test]
fn a_summary_adds_up_to_its_records_in_every_grouping() {
    let records = sample();
    let counts = |by| GroupCount::of_records(&records, by);
    for by in GroupBy::ALL {
        let summary = ActivitySummary::new(
            Period::Day,
            (Timestamp::from_millis(0), Timestamp::from_millis(1)),
            &counts(GroupBy::Status),
            &counts(GroupBy::Server),
            &counts(GroupBy::Tool),
            Some((by, &counts(by))),
        );
        assert_eq!(summary.total_count, records.len() as u64);
        assert_eq!(
            summary.success_count
                + summary.error_count
                + summary.blocked_count
                + summary.rejected_count,
            summary.total_count
        );
        let groups = summary.groups.unwrap();
        assert_eq!(
            groups.iter().map(|g| g.counts.count).sum::<u64>(),
            summary.total_count,
            "{by:?}"
        );
        assert_eq!(
            groups.iter().map(|g| g.counts.error_count).sum::<u64>(),
            summary.error_count
        );
    }
    let summary = ActivitySummary::new(
        Period::Day,
        (Timestamp::from_millis(0), Timestamp::from_millis(1)),
        &counts(GroupBy::Status),
        &counts(GroupBy::Server),
        &counts(GroupBy::Tool),
        Some((GroupBy::Agent, &counts(GroupBy::Agent))),
    );
    assert_eq!(summary.success_count, 4);
    assert_eq!(
        summary.top_servers,
        [
            TopServer {
                name: "gh".into(),
                count: 4
            },
            TopServer {
                name: "fs".into(),
                count: 2
            }
        ]
    );
    assert_eq!(summary.top_tools[0].tool, "issues");
    assert_eq!(summary.top_tools[0].count, 3);
    assert!((summary.success_rate - 4.0 / 7.0).abs() < 1e-9);
    let groups = summary.groups.unwrap();
    let names: Vec<_> = groups.iter().map(|g| g.name.as_deref()).collect();
    assert_eq!(names, [None, Some("bot"), Some("other")]);
    assert_eq!(groups[1].counts.success_count, 2);
}

#[test]
fn usage_counts_executed_calls_and_their_latency_per_tool() {
    let tools = ToolUsageCounts::of_records(&sample());
    let report = UsageReport::new(
        UsageWindow::Day,
        Timestamp::from_millis(0),
        (1000, 90.0),
        tools,
        timeline_of(&sample()),
        &UsageShape {
            status: None,
            sort: UsageSort::Calls,
            top: 2,
        },
    );
    assert_eq!(report.tools.len(), 2);
    let issues = &report.tools[0];
    assert_eq!(
        (issues.server.as_str(), issues.tool.as_str()),
        ("gh", "issues")
    );
    assert_eq!((issues.calls, issues.errors), (3, 1));
    assert_eq!((issues.p50_ms, issues.p95_ms, issues.p99_ms), (20, 30, 30));
    assert_eq!(issues.total_resp_bytes, 30);
    assert_eq!(issues.avg_resp_bytes, Some(10));
    assert_eq!(issues.sized_calls, 3);
    let read = &report.tools[1];
    assert_eq!((read.calls, read.rejected), (1, 1));
    let other = report.other.unwrap();
    assert_eq!(other.tools_folded, 1, "gh:pulls is folded");
    assert_eq!(other.calls, 0);
    let totals = &report.totals;
    assert_eq!(
        (totals.calls, totals.errors, totals.blocked, totals.rejected),
        (4, 1, 1, 1)
    );
    assert_eq!(totals.p50_ms, 10);
    assert_eq!(totals.p99_ms, 30);
    assert_eq!(report.timeline.len(), 1);
    assert_eq!(report.timeline[0].calls, 4);
    assert_eq!(report.timeline[0].start.millis(), HOUR_MS * 10);
    assert_eq!(report.tokens_saved, 1000);

    let blocked_only = UsageReport::new(
        UsageWindow::Day,
        Timestamp::from_millis(0),
        (0, 0.0),
        ToolUsageCounts::of_records(&sample()),
        Vec::new(),
        &UsageShape {
            status: Some(ActivityStatus::Blocked),
            sort: UsageSort::RespBytes,
            top: 20,
        },
    );
    assert_eq!(blocked_only.tools.len(), 1);
    assert_eq!(blocked_only.tools[0].tool, "pulls");
    assert_eq!(blocked_only.tools[0].avg_resp_bytes, None);
}

#[test]
fn one_count_by_server_tool_and_status_regroups_as_the_records_do() {
    let records = sample();
    let counts = CallCount::of_records(&records);
    for by in [GroupBy::Server, GroupBy::Tool, GroupBy::Status] {
        assert_eq!(
            CallCount::regroup(&counts, by),
            GroupCount::of_records(&records, by),
            "{by:?}"
        );
    }
}
