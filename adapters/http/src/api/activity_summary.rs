//! `/activity/summary` and `/activity/usage`: what the activity log adds up to.

use axum::extract::Query;
use mcpproxy_application::activity_stats::{DEFAULT_USAGE_TOP, UsageQuery, usage_report};
use mcpproxy_application::ports::ActivityFilter;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::activity_stats::{
    ActivitySummary, GroupBy, Period, UsageReport, UsageSort, UsageWindow,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::State;
use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SummaryQuery {
    /// 1h, 24h (default), 7d or 30d back from now
    pub period: Option<String>,
    /// server, tool, status or agent: adds `groups`, every group with its counts
    pub group_by: Option<String>,
    /// Only these types (comma-separated), like tool_call
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub server: Option<String>,
    pub tool: Option<String>,
    /// Only calls made with the agent token of this name
    pub agent: Option<String>,
}

fn text(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.trim().is_empty())
}

/// The activity types of a comma-separated list.
pub(crate) fn kinds(raw: Option<&str>) -> Result<Vec<ActivityKind>, ApiError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|k| {
            ActivityKind::parse(k)
                .ok_or_else(|| ApiError::bad_request(format!("type {k:?} is not an activity type")))
        })
        .collect()
}

/// Counts of the records of a period: by status, the top servers and tools, and every group
/// of `group_by`. The counts add up to what `GET /activity` lists for the same times.
#[utoipa::path(get, operation_id = "activity_summary", path = "/activity/summary", tag = "activity", params(SummaryQuery),
    responses((status = 200, description = "Done", body = Envelope<ActivitySummary>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn summary(state: State, Query(q): Query<SummaryQuery>) -> ApiResult<ActivitySummary> {
    let period = match text(&q.period) {
        None => Period::Day,
        Some(p) => Period::parse(&p).ok_or_else(|| {
            ApiError::bad_request(format!("period {p:?} is not 1h, 24h, 7d or 30d"))
        })?,
    };
    let group_by = text(&q.group_by)
        .map(|g| {
            GroupBy::parse(&g).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "group_by {g:?} is not server, tool, status or agent"
                ))
            })
        })
        .transpose()?;
    let filter = ActivityFilter {
        kinds: kinds(q.kind.as_deref())?,
        server: text(&q.server),
        tool: text(&q.tool),
        agent: text(&q.agent),
        ..ActivityFilter::default()
    };
    Ok(ok(state
        .0
        .activity
        .summary(period, group_by, filter)
        .await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct UsageParams {
    /// 24h (default), 7d or all
    pub window: Option<String>,
    /// Only this server's tools
    pub server: Option<String>,
    /// Only tools of this name
    pub tool: Option<String>,
    /// Only tools with a call of this status: success, error, blocked or rejected
    pub status: Option<String>,
    /// How many tools to list before the rest is folded into `other` (default 20)
    #[param(minimum = 1)]
    pub top: Option<u32>,
    /// calls, resp_bytes (default), error_rate or p95
    pub sort: Option<String>,
}

/// Tool calls per tool over a window: calls, errors, latency percentiles (p50, p95, p99),
/// response and request sizes, an hourly timeline, and the tokens searching saves.
#[utoipa::path(get, operation_id = "activity_usage", path = "/activity/usage", tag = "activity", params(UsageParams),
    responses((status = 200, description = "Done", body = Envelope<UsageReport>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn usage(state: State, Query(q): Query<UsageParams>) -> ApiResult<UsageReport> {
    let bad = |what: &str, v: &str, expected: &str| {
        ApiError::bad_request(format!("{what} {v:?} is not {expected}"))
    };
    let mut query = UsageQuery {
        server: text(&q.server),
        tool: text(&q.tool),
        ..UsageQuery::default()
    };
    if let Some(w) = text(&q.window) {
        query.window = UsageWindow::parse(&w).ok_or_else(|| bad("window", &w, "24h, 7d or all"))?;
    }
    if let Some(s) = text(&q.sort) {
        query.sort = UsageSort::parse(&s)
            .ok_or_else(|| bad("sort", &s, "calls, resp_bytes, error_rate or p95"))?;
    }
    if let Some(s) = text(&q.status) {
        query.status = Some(
            ActivityStatus::parse(&s)
                .ok_or_else(|| bad("status", &s, "success, error, blocked or rejected"))?,
        );
    }
    query.top = match q.top {
        None => DEFAULT_USAGE_TOP,
        Some(0) => return Err(bad("top", "0", "a positive number")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Ok(ok(usage_report(
        &state.0.activity,
        &state.0.catalog,
        &query,
    )
    .await?))
}
