//! The activity log on PostgreSQL. The metadata stays JSON text (as in SQLite); the filters
//! that look inside it read it as `jsonb`.

use async_trait::async_trait;
use mcpproxy_application::ports::{ActivityFilter, ActivityPage, ActivityRepository, StorageError};
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::activity::ActivityRecord;
use mcpproxy_domain::sensitive::Severity;
use sqlx::{Postgres, QueryBuilder};

use super::{PgDatabase, opt_text};
use crate::db::storage_err;
use crate::rows::{self, json_text};

/// Appends the `WHERE` clause of `filter` to `q`.
fn push_filter(q: &mut QueryBuilder<Postgres>, f: &ActivityFilter) {
    q.push(" WHERE TRUE");
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
        q.push(" AND \"timestamp\" >= ").push_bind(start.millis());
    }
    if let Some(end) = f.end_time {
        q.push(" AND \"timestamp\" <= ").push_bind(end.millis());
    }
    // Detections and the caller live in the record's metadata (as the Go proxy keeps them).
    if f.sensitive_data {
        q.push(" AND (metadata::jsonb #> '{sensitive_data,detected}') = 'true'::jsonb");
    }
    if let Some(kind) = &f.detection_type {
        q.push(
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(metadata::jsonb #> '{sensitive_data,detections}') = 'array'
                THEN metadata::jsonb #> '{sensitive_data,detections}' ELSE '[]'::jsonb END) AS d
              WHERE d ->> 'type' = ",
        )
        .push_bind(kind.clone())
        .push(")");
    }
    if let Some(min) = f.min_severity {
        q.push(" AND (metadata::jsonb #>> '{sensitive_data,highest_severity}') IN (");
        let mut list = q.separated(", ");
        for s in Severity::ALL.into_iter().filter(|s| *s >= min) {
            list.push_bind(s.as_str());
        }
        q.push(")");
    }
    if let Some(agent) = &f.agent {
        q.push(" AND (metadata::jsonb ->> '_auth_agent') = ")
            .push_bind(agent.clone());
    }
    if let Some(auth) = &f.auth_type {
        q.push(" AND (metadata::jsonb ->> '_auth_type') = ")
            .push_bind(auth.clone());
    }
}

/// The columns of a record, in the order of the `INSERT`.
const COLUMNS: &str = "INSERT INTO activity (id, type, source, server_name, tool_name, arguments,
    response, response_truncated, status, error_message, duration_ms, \"timestamp\",
    session_id, request_id, metadata) ";

/// One record's values, ready to bind.
struct Values<'a> {
    r: &'a ActivityRecord,
    arguments: Option<String>,
    metadata: Option<String>,
}

impl<'a> Values<'a> {
    fn of(r: &'a ActivityRecord) -> Result<Self, StorageError> {
        Ok(Self {
            r,
            arguments: json_text(r.arguments.as_ref())?,
            metadata: if r.metadata.is_empty() {
                None
            } else {
                json_text(Some(&r.metadata))?
            },
        })
    }
}

#[async_trait]
impl ActivityRepository for PgDatabase {
    async fn append(&self, r: &ActivityRecord) -> Result<(), StorageError> {
        self.append_all(std::slice::from_ref(r)).await
    }

    /// One `INSERT` of many rows: one round trip per batch of the activity writer.
    async fn append_all(&self, records: &[ActivityRecord]) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let values = records
            .iter()
            .map(Values::of)
            .collect::<Result<Vec<_>, _>>()?;
        // 15 binds a row; PostgreSQL takes at most 65,535 binds in one statement.
        for chunk in values.chunks(4000) {
            let mut q = QueryBuilder::<Postgres>::new(COLUMNS);
            q.push_values(chunk, |mut row, v| {
                let r = v.r;
                row.push_bind(r.id.clone())
                    .push_bind(r.kind.as_str())
                    .push_bind(r.source.as_str())
                    .push_bind(opt_text(r.server_name.as_deref()))
                    .push_bind(opt_text(r.tool_name.as_deref()))
                    .push_bind(v.arguments.clone())
                    .push_bind(opt_text(r.response.as_deref()))
                    .push_bind(r.response_truncated)
                    .push_bind(r.status.as_str())
                    .push_bind(opt_text(r.error_message.as_deref()))
                    .push_bind(r.duration_ms)
                    .push_bind(r.timestamp.millis())
                    .push_bind(opt_text(r.session_id.as_deref()))
                    .push_bind(opt_text(r.request_id.as_deref()))
                    .push_bind(v.metadata.clone());
            });
            q.build().execute(&self.pool).await.map_err(storage_err)?;
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<ActivityRecord>, StorageError> {
        let row = sqlx::query("SELECT * FROM activity WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(rows::activity).transpose()
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
            records: rows.iter().map(rows::activity).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn prune(&self, before: Timestamp, max_records: u64) -> Result<u64, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        let old = sqlx::query("DELETE FROM activity WHERE \"timestamp\" < $1")
            .bind(before.millis())
            .execute(&mut *tx)
            .await
            .map_err(storage_err)?
            .rows_affected();
        let excess = sqlx::query(
            "DELETE FROM activity WHERE id IN
                (SELECT id FROM activity ORDER BY id DESC OFFSET $1)",
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
