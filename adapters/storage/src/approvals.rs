//! Tool approvals (and, in the same shape, prompt approvals: [`crate::prompt_approvals`]).

use async_trait::async_trait;
use mcpproxy_application::ports::{ApprovalRepository, StorageError};
use mcpproxy_domain::{Fingerprint, ServerName, ToolApproval};

use crate::db::{Database, storage_err};
use crate::rows::approval as from_row;

/// Writes an approval record into `table` (`tool_approvals` or `prompt_approvals`).
pub(crate) async fn save_into(
    db: &Database,
    table: &'static str,
    a: &ToolApproval,
) -> Result<(), StorageError> {
    let to_text = |v: &serde_json::Value| serde_json::to_string(v).map_err(storage_err);
    let sql = format!(
        "INSERT OR REPLACE INTO {table} (server, tool, state, current_fingerprint,
            current_description, current_schema, approved_fingerprint, approved_description,
            approved_schema, scan, disabled)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    // The table name is one of two constants, never input.
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.server.as_str())
        .bind(&a.tool)
        .bind(a.state.as_str())
        .bind(a.current_fingerprint.as_str())
        .bind(&a.current_description)
        .bind(to_text(&a.current_schema)?)
        .bind(a.approved_fingerprint.as_ref().map(Fingerprint::as_str))
        .bind(&a.approved_description)
        .bind(a.approved_schema.as_deref().map(to_text).transpose()?)
        .bind(
            a.scan
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(storage_err)?,
        )
        .bind(a.disabled)
        .execute(&db.pool)
        .await
        .map_err(storage_err)?;
    Ok(())
}

#[async_trait]
impl ApprovalRepository for Database {
    async fn get(
        &self,
        server: &ServerName,
        tool: &str,
    ) -> Result<Option<ToolApproval>, StorageError> {
        let row = sqlx::query("SELECT * FROM tool_approvals WHERE server = ? AND tool = ?")
            .bind(server.as_str())
            .bind(tool)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn for_server(&self, server: &ServerName) -> Result<Vec<ToolApproval>, StorageError> {
        let rows = sqlx::query("SELECT * FROM tool_approvals WHERE server = ? ORDER BY tool")
            .bind(server.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn save(&self, a: &ToolApproval) -> Result<(), StorageError> {
        save_into(self, "tool_approvals", a).await
    }

    async fn delete(&self, server: &ServerName, tool: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM tool_approvals WHERE server = ? AND tool = ?")
            .bind(server.as_str())
            .bind(tool)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }

    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM tool_approvals WHERE server = ?")
            .bind(server.as_str())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }
}
