//! Summaries and usage of the activity log (`activity summary`, `GET /activity/summary`,
//! `GET /activity/usage`): storage counts, the domain folds and computes the percentiles.

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::activity_stats::{
    ActivitySummary, CallCount, GroupBy, Period, UsageReport, UsageShape, UsageSort, UsageWindow,
};

use crate::activity::{ActivityLog, ActivityQueryError};
use crate::catalog::ToolCatalog;
use crate::ports::ActivityFilter;

/// The tools a usage report lists before it folds the rest (Go's default).
pub const DEFAULT_USAGE_TOP: usize = 20;

/// What a usage report covers.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub window: UsageWindow,
    pub server: Option<String>,
    pub tool: Option<String>,
    /// Only tools with a call of this status.
    pub status: Option<ActivityStatus>,
    pub sort: UsageSort,
    pub top: usize,
}

impl Default for UsageQuery {
    fn default() -> Self {
        Self {
            window: UsageWindow::Day,
            server: None,
            tool: None,
            status: None,
            sort: UsageSort::RespBytes,
            top: DEFAULT_USAGE_TOP,
        }
    }
}

impl ActivityLog {
    /// The records of the last `period` (narrowed by `filter`; its times are the period's)
    /// counted by status, server and tool, and by `group_by` when asked.
    pub async fn summary(
        &self,
        period: Period,
        group_by: Option<GroupBy>,
        mut filter: ActivityFilter,
    ) -> Result<ActivitySummary, ActivityQueryError> {
        let end = self.clock.now();
        let start = end.plus_millis(-period.millis());
        filter.start_time = Some(start);
        filter.end_time = Some(end);
        // What was recorded before this question is counted.
        self.flush().await;
        // One pass gives the counts by status, server and tool.
        let calls = self.repo.count_calls(&filter).await?;
        let by_status = CallCount::regroup(&calls, GroupBy::Status);
        let by_server = CallCount::regroup(&calls, GroupBy::Server);
        let by_tool = CallCount::regroup(&calls, GroupBy::Tool);
        let group = match group_by {
            // Already counted.
            Some(GroupBy::Status) => Some(by_status.clone()),
            Some(GroupBy::Server) => Some(by_server.clone()),
            Some(GroupBy::Tool) => Some(by_tool.clone()),
            Some(by @ GroupBy::Agent) => Some(self.repo.count_by(&filter, by).await?),
            None => None,
        };
        Ok(ActivitySummary::new(
            period,
            (start, end),
            &by_status,
            &by_server,
            &by_tool,
            group_by.zip(group.as_deref()),
        ))
    }
}

/// The tool calls of `query.window`, per tool, with latency percentiles, response sizes, an
/// hourly timeline and the tokens searching saves (from the catalog).
pub async fn usage_report(
    log: &ActivityLog,
    catalog: &ToolCatalog,
    query: &UsageQuery,
) -> Result<UsageReport, ActivityQueryError> {
    let now = log.clock.now();
    let filter = ActivityFilter {
        kinds: vec![ActivityKind::ToolCall],
        server: query.server.clone(),
        tool: query.tool.clone(),
        start_time: query.window.millis().map(|ms| now.plus_millis(-ms)),
        end_time: Some(now),
        ..ActivityFilter::default()
    };
    log.flush().await;
    let counts = log.repo.tool_usage(&filter).await?;
    let savings = catalog.token_savings();
    Ok(UsageReport::new(
        query.window,
        now,
        (savings.saved_tokens as u64, savings.saved_tokens_percentage),
        counts.tools,
        counts.timeline,
        &UsageShape {
            status: query.status,
            sort: query.sort,
            top: query.top,
        },
    ))
}
