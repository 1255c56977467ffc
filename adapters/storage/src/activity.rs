//! The activity log.

use async_trait::async_trait;
use mcpproxy_application::ports::{
    ActivityFilter, ActivityPage, ActivityRepository, StorageError, UsageCounts,
};
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::activity::{ActivityRecord, ActivityStatus};
use mcpproxy_domain::activity_stats::{
    CallCount, GroupBy, GroupCount, ToolUsageCounts, UsageBucket,
};
use mcpproxy_domain::sensitive::Severity;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::db::{Database, storage_err};
use crate::rows::activity as from_row;

/// Appends the `WHERE` clause of `filter` to `q`.
fn push_filter(q: &mut QueryBuilder<Sqlite>, f: &ActivityFilter) {
    q.push(" WHERE 1 = 1");
    if !f.kinds.is_empty() {
        q.push(" AND type IN (");
        let mut list = q.separated(", ");
        for kind in &f.kinds {
            list.push_bind(kind.as_str());
        }
        q.push(")");
    }
    if let Some(server) = &f.server {
        q.push(" AND server_name = ").push_bind(server.clone());
    }
    if let Some(tool) = &f.tool {
        q.push(" AND tool_name = ").push_bind(tool.clone());
    }
    if let Some(status) = f.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(session) = &f.session_id {
        q.push(" AND session_id = ").push_bind(session.clone());
    }
    if let Some(request) = &f.request_id {
        q.push(" AND request_id = ").push_bind(request.clone());
    }
    if let Some(start) = f.start_time {
        q.push(" AND timestamp >= ").push_bind(start.millis());
    }
    if let Some(end) = f.end_time {
        q.push(" AND timestamp <= ").push_bind(end.millis());
    }
    // Detections and the caller live in the record's metadata (as the Go proxy keeps them).
    if f.sensitive_data {
        q.push(" AND json_extract(metadata, '$.sensitive_data.detected') = 1");
    }
    if let Some(kind) = &f.detection_type {
        q.push(
            " AND EXISTS (SELECT 1 FROM json_each(activity.metadata, '$.sensitive_data.detections') \
             WHERE json_extract(value, '$.type') = ",
        )
        .push_bind(kind.clone())
        .push(")");
    }
    if let Some(min) = f.min_severity {
        q.push(" AND json_extract(metadata, '$.sensitive_data.highest_severity') IN (");
        let mut list = q.separated(", ");
        for s in Severity::ALL.into_iter().filter(|s| *s >= min) {
            list.push_bind(s.as_str());
        }
        q.push(")");
    }
    if let Some(agent) = &f.agent {
        q.push(" AND json_extract(metadata, '$._auth_agent') = ")
            .push_bind(agent.clone());
    }
    if let Some(auth) = &f.auth_type {
        q.push(" AND json_extract(metadata, '$._auth_type') = ")
            .push_bind(auth.clone());
    }
}

/// A count or a sum of a row, never negative.
fn count(row: &sqlx::sqlite::SqliteRow, col: &str) -> Result<u64, StorageError> {
    let n: Option<i64> = row.try_get(col).map_err(storage_err)?;
    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
}

async fn insert<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    r: &ActivityRecord,
) -> Result<(), StorageError> {
    let arguments = r
        .arguments
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(storage_err)?;
    let metadata = if r.metadata.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&r.metadata).map_err(storage_err)?)
    };
    sqlx::query(
        "INSERT INTO activity (id, type, source, server_name, tool_name, arguments, response,
            response_truncated, status, error_message, duration_ms, timestamp, session_id,
            request_id, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(r.kind.as_str())
    .bind(r.source.as_str())
    .bind(&r.server_name)
    .bind(&r.tool_name)
    .bind(arguments)
    .bind(&r.response)
    .bind(i64::from(r.response_truncated))
    .bind(r.status.as_str())
    .bind(&r.error_message)
    .bind(r.duration_ms)
    .bind(r.timestamp.millis())
    .bind(&r.session_id)
    .bind(&r.request_id)
    .bind(metadata)
    .execute(db)
    .await
    .map_err(storage_err)?;
    Ok(())
}

#[async_trait]
impl ActivityRepository for Database {
    async fn append(&self, r: &ActivityRecord) -> Result<(), StorageError> {
        insert(&self.pool, r).await
    }

    async fn append_all(&self, records: &[ActivityRecord]) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        for r in records {
            insert(&mut *tx, r).await?;
        }
        tx.commit().await.map_err(storage_err)
    }

    async fn get(&self, id: &str) -> Result<Option<ActivityRecord>, StorageError> {
        let row = sqlx::query("SELECT * FROM activity WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list(&self, filter: &ActivityFilter) -> Result<ActivityPage, StorageError> {
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM activity");
        push_filter(&mut count, filter);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(storage_err)?;

        let mut q = QueryBuilder::new("SELECT * FROM activity");
        push_filter(&mut q, filter);
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset));
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        Ok(ActivityPage {
            records: rows.iter().map(from_row).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn count_by(
        &self,
        filter: &ActivityFilter,
        by: GroupBy,
    ) -> Result<Vec<GroupCount>, StorageError> {
        let key = match by {
            GroupBy::Server => "server_name",
            GroupBy::Tool => {
                "CASE WHEN server_name IS NOT NULL AND tool_name IS NOT NULL \
                 THEN server_name || ':' || tool_name END"
            }
            GroupBy::Status => "status",
            GroupBy::Agent => "json_extract(metadata, '$._auth_agent')",
        };
        let mut q = QueryBuilder::new(format!(
            "SELECT {key} AS k, status, COUNT(*) AS n FROM activity"
        ));
        push_filter(&mut q, filter);
        q.push(" GROUP BY k, status");
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").map_err(storage_err)?;
                Ok(GroupCount {
                    key: row.try_get("k").map_err(storage_err)?,
                    status: ActivityStatus::parse(&status).ok_or_else(|| {
                        StorageError(format!("unknown activity status {status:?}"))
                    })?,
                    count: count(row, "n")?,
                })
            })
            .collect()
    }

    async fn count_calls(&self, filter: &ActivityFilter) -> Result<Vec<CallCount>, StorageError> {
        let mut q =
            QueryBuilder::new("SELECT server_name, tool_name, status, COUNT(*) AS n FROM activity");
        push_filter(&mut q, filter);
        q.push(" GROUP BY server_name, tool_name, status");
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").map_err(storage_err)?;
                Ok(CallCount {
                    server: row.try_get("server_name").map_err(storage_err)?,
                    tool: row.try_get("tool_name").map_err(storage_err)?,
                    status: ActivityStatus::parse(&status).ok_or_else(|| {
                        StorageError(format!("unknown activity status {status:?}"))
                    })?,
                    count: count(row, "n")?,
                })
            })
            .collect()
    }

    async fn tool_usage(&self, filter: &ActivityFilter) -> Result<UsageCounts, StorageError> {
        // Only calls that ran (not blocked, not rejected) have a size and a duration.
        const RAN: &str = "status IN ('success', 'error')";
        let calls = " AND type = 'tool_call' AND server_name IS NOT NULL AND tool_name IS NOT NULL";
        let mut q = QueryBuilder::new(format!(
            "SELECT server_name, tool_name,
                SUM(status = 'success') AS success, SUM(status = 'error') AS errors,
                SUM(status = 'blocked') AS blocked, SUM(status = 'rejected') AS rejected,
                SUM(CASE WHEN {RAN} THEN COALESCE(LENGTH(CAST(response AS BLOB)), 0) ELSE 0 END) AS resp_bytes,
                SUM({RAN} AND response IS NOT NULL) AS sized,
                SUM(CASE WHEN {RAN} THEN COALESCE(LENGTH(CAST(arguments AS BLOB)), 0) ELSE 0 END) AS req_bytes,
                SUM({RAN} AND arguments IS NOT NULL) AS req_sized,
                MAX(timestamp) AS last_used
             FROM activity"
        ));
        push_filter(&mut q, filter);
        q.push(calls).push(" GROUP BY server_name, tool_name");
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        let mut tools = rows
            .iter()
            .map(|row| {
                Ok(ToolUsageCounts {
                    server: row.try_get("server_name").map_err(storage_err)?,
                    tool: row.try_get("tool_name").map_err(storage_err)?,
                    success: count(row, "success")?,
                    errors: count(row, "errors")?,
                    blocked: count(row, "blocked")?,
                    rejected: count(row, "rejected")?,
                    resp_bytes: count(row, "resp_bytes")?,
                    sized_calls: count(row, "sized")?,
                    req_bytes: count(row, "req_bytes")?,
                    req_sized_calls: count(row, "req_sized")?,
                    last_used: Timestamp::from_millis(
                        row.try_get("last_used").map_err(storage_err)?,
                    ),
                    durations_ms: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;

        // The durations, sorted per tool, for the percentiles the domain computes.
        let mut q = QueryBuilder::new("SELECT server_name, tool_name, duration_ms FROM activity");
        push_filter(&mut q, filter);
        q.push(calls)
            .push(format!(" AND {RAN} AND duration_ms IS NOT NULL"))
            .push(" ORDER BY server_name, tool_name, duration_ms");
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        let mut at = std::collections::HashMap::new();
        for (i, t) in tools.iter().enumerate() {
            at.insert((t.server.clone(), t.tool.clone()), i);
        }
        for row in &rows {
            let key: (String, String) = (
                row.try_get("server_name").map_err(storage_err)?,
                row.try_get("tool_name").map_err(storage_err)?,
            );
            if let Some(&i) = at.get(&key) {
                tools[i]
                    .durations_ms
                    .push(row.try_get("duration_ms").map_err(storage_err)?);
            }
        }

        let mut q = QueryBuilder::new(
            "SELECT (timestamp / 3600000) * 3600000 AS hour, COUNT(*) AS calls,
                SUM(status = 'error') AS errors,
                SUM(COALESCE(LENGTH(CAST(response AS BLOB)), 0)) AS resp_bytes
             FROM activity",
        );
        push_filter(&mut q, filter);
        q.push(format!(" AND type = 'tool_call' AND {RAN}"))
            .push(" GROUP BY hour ORDER BY hour");
        let rows = q.build().fetch_all(&self.pool).await.map_err(storage_err)?;
        let timeline = rows
            .iter()
            .map(|row| {
                Ok(UsageBucket {
                    start: Timestamp::from_millis(row.try_get("hour").map_err(storage_err)?),
                    calls: count(row, "calls")?,
                    errors: count(row, "errors")?,
                    total_resp_bytes: count(row, "resp_bytes")?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(UsageCounts { tools, timeline })
    }

    async fn prune(&self, before: Timestamp, max_records: u64) -> Result<u64, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        let old = sqlx::query("DELETE FROM activity WHERE timestamp < ?")
            .bind(before.millis())
            .execute(&mut *tx)
            .await
            .map_err(storage_err)?
            .rows_affected();
        let excess = sqlx::query(
            "DELETE FROM activity WHERE id IN
                (SELECT id FROM activity ORDER BY id DESC LIMIT -1 OFFSET ?)",
        )
        .bind(i64::try_from(max_records).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(storage_err)?
        .rows_affected();
        tx.commit().await.map_err(storage_err)?;
        Ok(old + excess)
    }
}
