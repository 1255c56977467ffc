//! Prompt approvals: the records of the tools' approval model, kept in their own table.

use async_trait::async_trait;
use mcpproxy_application::ports::{PromptApprovalRepository, StorageError};
use mcpproxy_domain::{ServerName, ToolApproval};
use sqlx::Row;

use crate::approvals::save_into;
use crate::db::{Database, storage_err};
use crate::rows::approval as from_row;

#[async_trait]
impl PromptApprovalRepository for Database {
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
        let rows = sqlx::query("SELECT * FROM prompt_approvals WHERE server = ? ORDER BY tool")
            .bind(server.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn save(&self, approval: &ToolApproval) -> Result<(), StorageError> {
        save_into(self, "prompt_approvals", approval).await
    }

    async fn delete_server(&self, server: &ServerName) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM prompt_approvals WHERE server = ?")
            .bind(server.as_str())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }
}
