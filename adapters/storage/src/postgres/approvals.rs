//! Tool and prompt approvals on PostgreSQL (one record shape, two tables).

use async_trait::async_trait;
use mcpproxy_application::ports::{ApprovalRepository, PromptApprovalRepository, StorageError};
use mcpproxy_domain::{Fingerprint, ServerName, ToolApproval};
use sqlx::Row;

use super::{PgDatabase, opt_text, text};
use crate::db::storage_err;
use crate::rows::{self, json_text};

/// Writes an approval record into `table` (`tool_approvals` or `prompt_approvals`).
async fn save_into(
    db: &PgDatabase,
    table: &'static str,
    a: &ToolApproval,
) -> Result<(), StorageError> {
    let sql = format!(
        "INSERT INTO {table} (server, tool, state, current_fingerprint, current_description,
            \"current_schema\", approved_fingerprint, approved_description, approved_schema, scan,
            disabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (server, tool) DO UPDATE SET state = EXCLUDED.state,
            current_fingerprint = EXCLUDED.current_fingerprint,
            current_description = EXCLUDED.current_description,
            \"current_schema\" = EXCLUDED.\"current_schema\",
            approved_fingerprint = EXCLUDED.approved_fingerprint,
            approved_description = EXCLUDED.approved_description,
            approved_schema = EXCLUDED.approved_schema, scan = EXCLUDED.scan,
            disabled = EXCLUDED.disabled"
    );
    // The table name is one of two constants, never input. `current_schema` is a word of
    // PostgreSQL's own, so that column is quoted.
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.server.as_str())
        .bind(&a.tool)
        .bind(a.state.as_str())
        .bind(a.current_fingerprint.as_str())
        .bind(text(&a.current_description).into_owned())
        .bind(json_text(Some(&*a.current_schema))?)
        .bind(a.approved_fingerprint.as_ref().map(Fingerprint::as_str))
        .bind(opt_text(a.approved_description.as_deref()))
        .bind(json_text(a.approved_schema.as_deref())?)
        .bind(json_text(a.scan.as_ref())?)
        .bind(a.disabled)
        .execute(&db.pool)
        .await
        .map_err(storage_err)?;
    Ok(())
}

async fn for_server_in(
    db: &PgDatabase,
    table: &'static str,
    server: &ServerName,
) -> Result<Vec<ToolApproval>, StorageError> {
    let sql = format!("SELECT * FROM {table} WHERE server = $1 ORDER BY tool");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(server.as_str())
        .fetch_all(&db.pool)
        .await
        .map_err(storage_err)?;
    rows.iter().map(rows::approval).collect()
}

async fn delete_server_in(
    db: &PgDatabase,
    table: &'static str,
    server: &ServerName,
) -> Result<(), StorageError> {
    let sql = format!("DELETE FROM {table} WHERE server = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(server.as_str())
        .execute(&db.pool)
        .await
        .map_err(storage_err)?;
    Ok(())
}

#[async_trait]
impl ApprovalRepository for PgDatabase {
    async fn get(
        &self,
        server: &ServerName,
        tool: &str,
    ) -> Result<Option<ToolApproval>, StorageError> {
        let row = sqlx::query("SELECT * FROM tool_approvals WHERE server = $1 AND tool = $2")
            .bind(server.as_str())
            .bind(tool)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(rows::approval).transpose()
    }

    async fn for_server(&self, server: &ServerName) -> Result<Vec<ToolApproval>, StorageError> {
        for_server_in(self, "tool_approvals", server).await
    }

    async fn save(&self, a: &ToolApproval) -> Result<(), StorageError> {
        save_into(self, "tool_approvals", a).await
    }

    async fn delete(&self, server: &ServerName, tool: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM tool_approvals WHERE server = $1 AND tool = $2")
            .bind(server.as_str())
            .bind(tool)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }

    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError> {
        delete_server_in(self, "tool_approvals", server).await
    }
}

#[async_trait]
impl PromptApprovalRepository for PgDatabase {
    async fn servers(&self) -> Result<Vec<ServerName>, StorageError> {
        let rows = sqlx::query("SELECT DISTINCT server FROM prompt_approvals ORDER BY server")
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("server").map_err(storage_err)?;
                ServerName::parse(name).map_err(storage_err)
            })
            .collect()
    }

    async fn for_server(&self, server: &ServerName) -> Result<Vec<ToolApproval>, StorageError> {
        for_server_in(self, "prompt_approvals", server).await
    }

    async fn save(&self, approval: &ToolApproval) -> Result<(), StorageError> {
        save_into(self, "prompt_approvals", approval).await
    }

    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError> {
        delete_server_in(self, "prompt_approvals", server).await
    }
}
