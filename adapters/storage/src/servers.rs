//! Run-time state and tool lists of upstream servers.

use async_trait::async_trait;
use mcpproxy_application::ports::{ServerRepository, ServerRuntime, StorageError};
use mcpproxy_domain::{ServerName, Timestamp, Tool};
use sqlx::Row;

use crate::db::{Database, storage_err};
use crate::rows::runtime as runtime_from_row;

#[async_trait]
impl ServerRepository for Database {
    async fn save_runtime(&self, r: &ServerRuntime) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO server_runtime (name, state, last_error, tool_count, connected_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                last_error = excluded.last_error, tool_count = excluded.tool_count,
                connected_at = excluded.connected_at, updated_at = excluded.updated_at",
        )
        .bind(r.name.as_str())
        .bind(r.state.label())
        .bind(&r.last_error)
        .bind(i64::try_from(r.tool_count).unwrap_or(i64::MAX))
        .bind(r.connected_at.map(Timestamp::millis))
        .bind(r.updated_at.millis())
        .execute(&self.pool)
        .await
        .map_err(storage_err)?;
        Ok(())
    }

    async fn runtime(&self, name: &ServerName) -> Result<Option<ServerRuntime>, StorageError> {
        let row = sqlx::query("SELECT * FROM server_runtime WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(runtime_from_row).transpose()
    }

    async fn all_runtime(&self) -> Result<Vec<ServerRuntime>, StorageError> {
        let rows = sqlx::query("SELECT * FROM server_runtime ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(runtime_from_row).collect()
    }

    async fn save_tools(&self, name: &ServerName, tools: &[Tool]) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_err)?;
        sqlx::query("DELETE FROM server_tools WHERE server = ?")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(storage_err)?;
        for (position, tool) in tools.iter().enumerate() {
            let json = serde_json::to_string(tool).map_err(storage_err)?;
            sqlx::query(
                "INSERT OR REPLACE INTO server_tools (server, name, position, tool) VALUES (?, ?, ?, ?)",
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
        let rows = sqlx::query("SELECT tool FROM server_tools WHERE server = ? ORDER BY position")
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
            "DELETE FROM server_runtime WHERE name = ?",
            "DELETE FROM server_tools WHERE server = ?",
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
