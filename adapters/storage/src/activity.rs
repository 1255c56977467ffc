//! The activity log.

use async_trait::async_trait;
use mcpproxy_application::ports::{ActivityFilter, ActivityPage, ActivityRepository, StorageError};
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::activity::ActivityRecord;
use mcpproxy_domain::sensitive::Severity;
use sqlx::{QueryBuilder, Sqlite};

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
