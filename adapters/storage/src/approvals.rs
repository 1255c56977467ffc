//! Tool approvals (and, in the same shape, prompt approvals: [`crate::prompt_approvals`]).

use async_trait::async_trait;
use mcpproxy_application::ports::{ApprovalRepository, StorageError};
use mcpproxy_domain::{ApprovalState, Fingerprint, ServerName, ToolApproval};
use sqlx::Row;

use crate::db::{Database, storage_err};

fn json_col(
    row: &sqlx::sqlite::SqliteRow,
    col: &str,
) -> Result<Option<serde_json::Value>, StorageError> {
    let text: Option<String> = row.try_get(col).map_err(storage_err)?;
    text.map(|t| serde_json::from_str(&t).map_err(storage_err))
        .transpose()
}

pub(crate) fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ToolApproval, StorageError> {
    let server: String = row.try_get("server").map_err(storage_err)?;
    let state: String = row.try_get("state").map_err(storage_err)?;
    let current_fingerprint = Fingerprint::from_hex(
        row.try_get::<String, _>("current_fingerprint")
            .map_err(storage_err)?,
    );
    let approved_fingerprint = row
        .try_get::<Option<String>, _>("approved_fingerprint")
        .map_err(storage_err)?
        .map(Fingerprint::from_hex);
    let current_schema: std::sync::Arc<serde_json::Value> =
        json_col(row, "current_schema")?.unwrap_or_default().into();
    // An approved tool that has not changed has one schema: read it once.
    let approved_schema = if approved_fingerprint.as_ref() == Some(&current_fingerprint) {
        Some(current_schema.clone())
    } else {
        json_col(row, "approved_schema")?.map(Into::into)
    };
    Ok(ToolApproval {
        server: ServerName::parse(server).map_err(storage_err)?,
        tool: row.try_get("tool").map_err(storage_err)?,
        state: ApprovalState::parse(&state)
            .ok_or_else(|| StorageError(format!("unknown approval state {state:?}")))?,
        current_fingerprint,
        current_description: row.try_get("current_description").map_err(storage_err)?,
        current_schema,
        approved_fingerprint,
        approved_description: row.try_get("approved_description").map_err(storage_err)?,
        approved_schema,
        scan: json_col(row, "scan")?
            .map(|v| serde_json::from_value(v).map_err(storage_err))
            .transpose()?,
    })
}

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
            approved_schema, scan)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
