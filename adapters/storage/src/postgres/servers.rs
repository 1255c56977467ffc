//! Run-time state and tool lists of upstream servers, on PostgreSQL.

use async_trait::async_trait;
use mcpproxy_application::ports::{ServerRepository, ServerRuntime, StorageError};
use mcpproxy_domain::{ServerName, Timestamp, Tool};
use sqlx::Row;

use super::{PgDatabase, opt_text};
use crate::db::storage_err;
use crate::rows;

#[async_trait]
impl ServerRepository for PgDatabase {
    async fn save_runtime(&self, r: &ServerRuntime) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO server_runtime (name, state, last_error, tool_count, connected_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state,
                last_error = EXCLUDED.last_error, tool_count = EXCLUDED.tool_count,
                connected_at = EXCLUDED.connected_at, updated_at = EXCLUDED.updated_at",
        )
        .bind(r.name.as_str())
        .bind(r.state.label())
        .bind(opt_text(r.last_error.as_deref()))
        .bind(i64::try_from(r.tool_count).unwrap_or(i64::MAX))
        .bind(r.connected_at.map(Timestamp::millis))
        .bind(r.updated_at.millis())
        .execute(&self.pool)
        .await
        .map_err(storage_err)?;
        Ok(())
    }

    async fn runtime(&self, name: &ServerName) -> Result<Option<ServerRuntime>, StorageError> {
        let row = sqlx::query("SELECT * FROM server_runtime WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(rows::runtime).transpose()
    }

    async fn all_runtime(&self) -> Result<Vec<ServerRuntime>, StorageError> {
        let rows = sqlx::query("SELECT * FROM server_runtime ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(rows::runtime).collect()
    }

    async fn save_tools(&self, name: &ServerName, tools: &[Tool]) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        sqlx::query("DELETE FROM server_tools WHERE server = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(storage_err)?;
        for (position, tool) in tools.iter().enumerate() {
            // serde_json escapes control characters, NUL included: the text is safe as is.
            let json = serde_json::to_string(tool).map_err(storage_err)?;
            sqlx::query(
                "INSERT INTO server_tools (server, name, \"position\", tool) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (server, name) DO UPDATE SET \"position\" = EXCLUDED.\"position\",
                    tool = EXCLUDED.tool",
            )
            .bind(name.as_str())
            .bind(&tool.name)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(storage_err)?;
        }
        tx.commit().await.map_err(storage_err)
    }

    async fn tools(&self, name: &ServerName) -> Result<Vec<Tool>, StorageError> {
        let rows =
            sqlx::query("SELECT tool FROM server_tools WHERE server = $1 ORDER BY \"position\"")
                .bind(name.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(storage_err)?;
        rows.iter()
            .map(|row| {
                let json: String = row.try_get("tool").map_err(storage_err)?;
                serde_json::from_str(&json).map_err(storage_err)
            })
            .collect()
    }

    async fn delete(&self, name: &ServerName) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        for table in [
            "DELETE FROM server_runtime WHERE name = $1",
            "DELETE FROM server_tools WHERE server = $1",
        ] {
            sqlx::query(table)
                .bind(name.as_str())
                .execute(&mut *tx)
                .await
                .map_err(storage_err)?;
        }
        tx.commit().await.map_err(storage_err)
    }
}
