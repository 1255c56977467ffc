//! Summaries of the activity log: the periods people ask about, counts by status and by a
//! chosen key (server, tool, status, agent), and per-tool usage with latency percentiles.
//!
//! Storage counts (in SQL where it can); the functions here fold those counts and do the
//! arithmetic, so every surface (REST, CLI, web panel) shows the same numbers, and the same
//! fold over plain records ([`GroupCount::of_records`], [`ToolUsageCounts::of_records`])
//! gives what any store without aggregation answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::activity::{ActivityKind, ActivityRecord, ActivityStatus};
use crate::time::Timestamp;

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How many servers and tools a summary names (the Go MCPProxy's five).
pub const TOP_N: usize = 5;

/// The span an activity summary covers, back from now (`1h`, `24h`, `7d`, `30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Period {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Period {
    pub const ALL: [Period; 4] = [Self::Hour, Self::Day, Self::Week, Self::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn millis(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::Day => DAY_MS,
            Self::Week => 7 * DAY_MS,
            Self::Month => 30 * DAY_MS,
        }
    }
}

/// The span of a usage report (`24h`, `7d`, or `all` that is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UsageWindow {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "all")]
    All,
}

impl UsageWindow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::All => "all",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Day, Self::Week, Self::All]
            .into_iter()
            .find(|w| w.as_str() == raw)
    }

    /// The span in milliseconds; `None` for everything kept.
    pub fn millis(self) -> Option<i64> {
        match self {
            Self::Day => Some(DAY_MS),
            Self::Week => Some(7 * DAY_MS),
            Self::All => None,
        }
    }
}

/// What a summary's groups are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The server's name.
    Server,
    /// `server:tool`.
    Tool,
    /// `success`, `error`, `blocked`, `rejected`.
    Status,
    /// The agent token a call came with (none for the API key, the socket, and records
    /// that are not calls).
    Agent,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [Self::Server, Self::Tool, Self::Status, Self::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Tool => "tool",
            Self::Status => "status",
            Self::Agent => "agent",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }

    /// The key of `record` in this grouping (`None`: the record has none).
    pub fn key_of(self, record: &ActivityRecord) -> Option<String> {
        match self {
            Self::Server => record.server_name.clone(),
            Self::Tool => match (&record.server_name, &record.tool_name) {
                (Some(s), Some(t)) => Some(format!("{s}:{t}")),
                _ => None,
            },
            Self::Status => Some(record.status.as_str().to_owned()),
            Self::Agent => record
                .metadata
                .get(AGENT_KEY)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// The metadata key a call's agent token name is kept under (the Go proxy's name).
pub const AGENT_KEY: &str = "_auth_agent";

/// Records of one key and one status, as storage counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    pub key: Option<String>,
    pub status: ActivityStatus,
    pub count: u64,
}

impl GroupCount {
    /// The counts of `records` grouped by `by` and status: what a store without
    /// aggregation answers, and the reference the SQL counts are held to.
    pub fn of_records<'a>(
        records: impl IntoIterator<Item = &'a ActivityRecord>,
        by: GroupBy,
    ) -> Vec<GroupCount> {
        let mut counts: BTreeMap<(Option<String>, &'static str), (ActivityStatus, u64)> =
            BTreeMap::new();
        for r in records {
            counts
                .entry((by.key_of(r), r.status.as_str()))
                .or_insert((r.status, 0))
                .1 += 1;
        }
        counts
            .into_iter()
            .map(|((key, _), (status, count))| GroupCount { key, status, count })
            .collect()
    }
}

/// Records of one server, tool and status, as storage counts them: one pass gives the
/// counts by status, by server and by tool ([`CallCount::regroup`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCount {
    pub server: Option<String>,
    pub tool: Option<String>,
    pub status: ActivityStatus,
    pub count: u64,
}

impl CallCount {
    /// The counts of `records` by server, tool and status.
    pub fn of_records<'a>(records: impl IntoIterator<Item = &'a ActivityRecord>) -> Vec<Self> {
        // Keyed by server, tool and status name; the status itself rides along.
        type Key<'r> = (Option<&'r str>, Option<&'r str>, &'static str);
        let mut counts: BTreeMap<Key<'_>, (ActivityStatus, u64)> = BTreeMap::new();
        for r in records {
            counts
                .entry((
                    r.server_name.as_deref(),
                    r.tool_name.as_deref(),
                    r.status.as_str(),
                ))
                .or_insert((r.status, 0))
                .1 += 1;
        }
        counts
            .into_iter()
            .map(|((server, tool, _), (status, count))| CallCount {
                server: server.map(str::to_owned),
                tool: tool.map(str::to_owned),
                status,
                count,
            })
            .collect()
    }

    /// These counts grouped by `by` (`server`, `tool` or `status`; `agent` is not among
    /// what they count, and gives one group without a key).
    pub fn regroup(counts: &[CallCount], by: GroupBy) -> Vec<GroupCount> {
        let mut out: BTreeMap<(Option<String>, &'static str), (ActivityStatus, u64)> =
            BTreeMap::new();
        for c in counts {
            let key = match by {
                GroupBy::Server => c.server.clone(),
                GroupBy::Tool => match (&c.server, &c.tool) {
                    (Some(s), Some(t)) => Some(format!("{s}:{t}")),
                    _ => None,
                },
                GroupBy::Status => Some(c.status.as_str().to_owned()),
                GroupBy::Agent => None,
            };
            out.entry((key, c.status.as_str()))
                .or_insert((c.status, 0))
                .1 += c.count;
        }
        out.into_iter()
            .map(|((key, _), (status, count))| GroupCount { key, status, count })
            .collect()
    }
}

/// Records by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub count: u64,
    pub success_count: u64,
    pub error_count: u64,
    pub blocked_count: u64,
    pub rejected_count: u64,
}

impl StatusCounts {
    fn add(&mut self, status: ActivityStatus, n: u64) {
        self.count += n;
        match status {
            ActivityStatus::Success => self.success_count += n,
            ActivityStatus::Error => self.error_count += n,
            ActivityStatus::Blocked => self.blocked_count += n,
            ActivityStatus::Rejected => self.rejected_count += n,
        }
    }
}

/// One group of a summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SummaryGroup {
    /// The server, `server:tool`, status or agent; `null` for records without one.
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: StatusCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopServer {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopTool {
    pub server: String,
    pub tool: String,
    pub count: u64,
}

/// Counts of the records of a period (the Go MCPProxy's `GET /activity/summary` shape, with
/// `groups` when asked to group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivitySummary {
    pub period: Period,
    pub total_count: u64,
    pub success_count: u64,
    pub error_count: u64,
    pub blocked_count: u64,
    pub rejected_count: u64,
    /// success / total, 0 when there is nothing.
    pub success_rate: f64,
    /// The five servers with the most records.
    pub top_servers: Vec<TopServer>,
    /// The five `server:tool` with the most records.
    pub top_tools: Vec<TopTool>,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// Every group, most records first; their counts add up to the totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<SummaryGroup>>,
}

/// Folds `counts` into groups, most records first, then by name.
pub fn fold_groups(counts: &[GroupCount]) -> Vec<SummaryGroup> {
    let mut by_key: BTreeMap<Option<&str>, StatusCounts> = BTreeMap::new();
    for c in counts {
        by_key
            .entry(c.key.as_deref())
            .or_default()
            .add(c.status, c.count);
    }
    let mut groups: Vec<SummaryGroup> = by_key
        .into_iter()
        .map(|(name, counts)| SummaryGroup {
            name: name.map(str::to_owned),
            counts,
        })
        .collect();
    groups.sort_by(|a, b| {
        b.counts
            .count
            .cmp(&a.counts.count)
            .then(a.name.cmp(&b.name))
    });
    groups
}

impl ActivitySummary {
    /// The summary of the records counted by status (`by_status`), by server and by tool
    /// (`server:tool` keys), and, when asked, by `group`.
    pub fn new(
        period: Period,
        (start_time, end_time): (Timestamp, Timestamp),
        by_status: &[GroupCount],
        by_server: &[GroupCount],
        by_tool: &[GroupCount],
        group: Option<(GroupBy, &[GroupCount])>,
    ) -> Self {
        let mut totals = StatusCounts::default();
        for c in by_status {
            totals.add(c.status, c.count);
        }
        let top = |counts: &[GroupCount]| -> Vec<(String, u64)> {
            fold_groups(counts)
                .into_iter()
                .filter_map(|g| Some((g.name?, g.counts.count)))
                .take(TOP_N)
                .collect()
        };
        let success_rate = if totals.count == 0 {
            0.0
        } else {
            totals.success_count as f64 / totals.count as f64
        };
        Self {
            period,
            total_count: totals.count,
            success_count: totals.success_count,
            error_count: totals.error_count,
            blocked_count: totals.blocked_count,
            rejected_count: totals.rejected_count,
            success_rate,
            top_servers: top(by_server)
                .into_iter()
                .map(|(name, count)| TopServer { name, count })
                .collect(),
            top_tools: top(by_tool)
                .into_iter()
                .filter_map(|(key, count)| {
                    // Server names never hold a ':', so the first one splits the id.
                    let (server, tool) = key.split_once(':')?;
                    Some(TopTool {
                        server: server.to_owned(),
                        tool: tool.to_owned(),
                        count,
                    })
                })
                .collect(),
            start_time,
            end_time,
            group_by: group.map(|(by, _)| by),
            groups: group.map(|(_, counts)| fold_groups(counts)),
        }
    }
}

/// The value below which `p` (0–1) of the sorted `values` fall (nearest rank); 0 for none.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What storage counts of one tool's calls in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUsageCounts {
    pub server: String,
    pub tool: String,
    pub success: u64,
    pub errors: u64,
    pub blocked: u64,
    pub rejected: u64,
    /// Bytes of the recorded responses of executed calls (a record keeps at most 64 KiB).
    pub resp_bytes: u64,
    /// Executed calls with a recorded response.
    pub sized_calls: u64,
    /// Bytes of the arguments of executed calls, as JSON.
    pub req_bytes: u64,
    /// Executed calls with arguments.
    pub req_sized_calls: u64,
    pub last_used: Timestamp,
    /// The durations of executed calls (success or error), in milliseconds, sorted.
    pub durations_ms: Vec<i64>,
}

/// Whether a call reached the upstream (blocked and rejected calls never ran).
fn executed(status: ActivityStatus) -> bool {
    matches!(status, ActivityStatus::Success | ActivityStatus::Error)
}

impl ToolUsageCounts {
    /// The usage of the `tool_call` records among `records`, per `server:tool`.
    pub fn of_records<'a>(
        records: impl IntoIterator<Item = &'a ActivityRecord>,
    ) -> Vec<ToolUsageCounts> {
        let mut tools: BTreeMap<(String, String), ToolUsageCounts> = BTreeMap::new();
        for r in records {
            let (ActivityKind::ToolCall, Some(server), Some(tool)) =
                (r.kind, &r.server_name, &r.tool_name)
            else {
                continue;
            };
            let t = tools
                .entry((server.clone(), tool.clone()))
                .or_insert_with(|| ToolUsageCounts {
                    server: server.clone(),
                    tool: tool.clone(),
                    ..Default::default()
                });
            match r.status {
                ActivityStatus::Success => t.success += 1,
                ActivityStatus::Error => t.errors += 1,
                ActivityStatus::Blocked => t.blocked += 1,
                ActivityStatus::Rejected => t.rejected += 1,
            }
            t.last_used = t.last_used.max(r.timestamp);
            if !executed(r.status) {
                continue;
            }
            if let Some(response) = &r.response {
                t.resp_bytes += response.len() as u64;
                t.sized_calls += 1;
            }
            if let Some(args) = &r.arguments {
                t.req_bytes += args.to_string().len() as u64;
                t.req_sized_calls += 1;
            }
            if let Some(ms) = r.duration_ms {
                t.durations_ms.push(ms);
            }
        }
        let mut out: Vec<ToolUsageCounts> = tools.into_values().collect();
        for t in &mut out {
            t.durations_ms.sort_unstable();
        }
        out
    }
}

/// One tool's usage in a report (the Go MCPProxy's `UsageToolStat`, with `p99_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageToolStat {
    pub server: String,
    pub tool: String,
    /// Calls that ran (success or error); blocked and rejected ones did not.
    pub calls: u64,
    pub errors: u64,
    /// errors / calls.
    pub error_rate: f64,
    pub blocked: u64,
    pub rejected: u64,
    pub total_resp_bytes: u64,
    /// `null` when no call has a recorded response.
    pub avg_resp_bytes: Option<u64>,
    pub total_req_bytes: u64,
    pub avg_req_bytes: Option<u64>,
    /// Calls with a recorded response (what `avg_resp_bytes` divides by).
    pub sized_calls: u64,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
    pub last_used: Timestamp,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn average(total: u64, n: u64) -> Option<u64> {
    (n > 0).then(|| total / n)
}

impl From<&ToolUsageCounts> for UsageToolStat {
    fn from(t: &ToolUsageCounts) -> Self {
        let calls = t.success + t.errors;
        Self {
            server: t.server.clone(),
            tool: t.tool.clone(),
            calls,
            errors: t.errors,
            error_rate: ratio(t.errors, calls),
            blocked: t.blocked,
            rejected: t.rejected,
            total_resp_bytes: t.resp_bytes,
            avg_resp_bytes: average(t.resp_bytes, t.sized_calls),
            total_req_bytes: t.req_bytes,
            avg_req_bytes: average(t.req_bytes, t.req_sized_calls),
            sized_calls: t.sized_calls,
            p50_ms: percentile(&t.durations_ms, 0.50),
            p95_ms: percentile(&t.durations_ms, 0.95),
            p99_ms: percentile(&t.durations_ms, 0.99),
            last_used: t.last_used,
        }
    }
}

/// The tools beyond the report's `top`, folded into one line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageOther {
    pub tools_folded: u64,
    pub calls: u64,
    pub total_resp_bytes: u64,
}

/// One hour of calls that ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageBucket {
    pub start: Timestamp,
    pub calls: u64,
    pub errors: u64,
    pub total_resp_bytes: u64,
}

/// The hour `at` falls in, as its first millisecond.
pub fn hour_of(at: Timestamp) -> Timestamp {
    Timestamp::from_millis(at.millis().div_euclid(HOUR_MS) * HOUR_MS)
}

/// All tools together, over the whole window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageTotals {
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub blocked: u64,
    pub rejected: u64,
    pub total_resp_bytes: u64,
    pub avg_resp_bytes: Option<u64>,
    pub total_req_bytes: u64,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
}

/// How the report's tools are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSort {
    Calls,
    RespBytes,
    ErrorRate,
    P95,
}

impl UsageSort {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "calls" => Some(Self::Calls),
            "resp_bytes" => Some(Self::RespBytes),
            "error_rate" => Some(Self::ErrorRate),
            "p95" => Some(Self::P95),
            _ => None,
        }
    }
}

/// Tool usage over a window (the Go MCPProxy's `GET /activity/usage` shape, with `totals`
/// and `p99_ms`). Unlike Go's, whose per-tool numbers are lifetime totals, every number
/// here counts the window only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub window: UsageWindow,
    pub generated_at: Timestamp,
    /// Always 0: the numbers are counted from the log when asked, never cached.
    pub freshness_ms: i64,
    /// `bytes`: tokens are estimated from sizes.
    pub token_source: String,
    /// Tokens a `retrieve_tools` search saves over loading every tool definition.
    pub tokens_saved: u64,
    pub tokens_saved_percentage: f64,
    pub totals: UsageTotals,
    pub tools: Vec<UsageToolStat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<UsageOther>,
    /// Hour by hour, oldest first; only hours with calls.
    pub timeline: Vec<UsageBucket>,
}

/// How to cut the tool list of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageShape {
    /// Only tools with a record of this status.
    pub status: Option<ActivityStatus>,
    pub sort: UsageSort,
    /// Tools listed before the rest is folded into `other`.
    pub top: usize,
}

impl UsageTotals {
    fn of(tools: &[ToolUsageCounts]) -> Self {
        let mut all: Vec<i64> = tools
            .iter()
            .flat_map(|t| t.durations_ms.iter().copied())
            .collect();
        all.sort_unstable();
        let sum = |f: fn(&ToolUsageCounts) -> u64| tools.iter().map(f).sum::<u64>();
        let calls = sum(|t| t.success + t.errors);
        let errors = sum(|t| t.errors);
        let resp = sum(|t| t.resp_bytes);
        Self {
            calls,
            errors,
            error_rate: ratio(errors, calls),
            blocked: sum(|t| t.blocked),
            rejected: sum(|t| t.rejected),
            total_resp_bytes: resp,
            avg_resp_bytes: average(resp, sum(|t| t.sized_calls)),
            total_req_bytes: sum(|t| t.req_bytes),
            p50_ms: percentile(&all, 0.50),
            p95_ms: percentile(&all, 0.95),
            p99_ms: percentile(&all, 0.99),
        }
    }
}

fn has_status(t: &ToolUsageCounts, status: ActivityStatus) -> bool {
    match status {
        ActivityStatus::Success => t.success > 0,
        ActivityStatus::Error => t.errors > 0,
        ActivityStatus::Blocked => t.blocked > 0,
        ActivityStatus::Rejected => t.rejected > 0,
    }
}

impl UsageReport {
    /// The report of `tools` (counted over `window`) and the hourly `timeline`; the totals
    /// count every tool the status filter keeps, listed or folded.
    pub fn new(
        window: UsageWindow,
        generated_at: Timestamp,
        (tokens_saved, tokens_saved_percentage): (u64, f64),
        mut tools: Vec<ToolUsageCounts>,
        timeline: Vec<UsageBucket>,
        shape: &UsageShape,
    ) -> Self {
        if let Some(status) = shape.status {
            tools.retain(|t| has_status(t, status));
        }
        let totals = UsageTotals::of(&tools);
        let mut rows: Vec<UsageToolStat> = tools.iter().map(UsageToolStat::from).collect();
        rows.sort_by(|a, b| {
            let key = match shape.sort {
                UsageSort::Calls => b.calls.cmp(&a.calls),
                UsageSort::RespBytes => b.total_resp_bytes.cmp(&a.total_resp_bytes),
                UsageSort::ErrorRate => b.error_rate.total_cmp(&a.error_rate),
                UsageSort::P95 => b.p95_ms.cmp(&a.p95_ms),
            };
            key.then_with(|| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)))
        });
        let other = (rows.len() > shape.top).then(|| {
            let rest = rows.split_off(shape.top);
            UsageOther {
                tools_folded: rest.len() as u64,
                calls: rest.iter().map(|r| r.calls).sum(),
                total_resp_bytes: rest.iter().map(|r| r.total_resp_bytes).sum(),
            }
        });
        Self {
            window,
            generated_at,
            freshness_ms: 0,
            token_source: "bytes".to_owned(),
            tokens_saved,
            tokens_saved_percentage,
            totals,
            tools: rows,
            other,
            timeline,
        }
    }
}

/// The hourly timeline of the executed `tool_call` records among `records`.
pub fn timeline_of<'a>(records: impl IntoIterator<Item = &'a ActivityRecord>) -> Vec<UsageBucket> {
    let mut hours: BTreeMap<Timestamp, UsageBucket> = BTreeMap::new();
    for r in records {
        if r.kind != ActivityKind::ToolCall || !executed(r.status) {
            continue;
        }
        let start = hour_of(r.timestamp);
        let b = hours.entry(start).or_insert_with(|| UsageBucket {
            start,
            ..Default::default()
        });
        b.calls += 1;
        if r.status == ActivityStatus::Error {
            b.errors += 1;
        }
        b.total_resp_bytes += r.response.as_ref().map_or(0, |s| s.len() as u64);
    }
    hours.into_values().collect()
}

#[cfg(test)]
#[path = "activity_stats_tests.rs"]
mod tests;
