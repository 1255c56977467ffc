//! The OAuth state of upstream servers on PostgreSQL, one JSON document each.

use async_trait::async_trait;
use mcpproxy_application::ports::{StorageError, TokenStore};
use mcpproxy_domain::ServerName;
use serde_json::Value;
use sqlx::Row;

use super::PgDatabase;
use crate::db::{now_millis, storage_err};

#[async_trait]
impl TokenStore for PgDatabase {
    async fn load(&self, server: &ServerName) -> Result<Option<Value>, StorageError> {
        let row = sqlx::query("SELECT data FROM oauth_credentials WHERE server = $1")
            .bind(server.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.map(|r| {
            let data: String = r.try_get("data").map_err(storage_err)?;
            serde_json::from_str(&data).map_err(storage_err)
        })
        .transpose()
    }

    async fn save(&self, server: &ServerName, data: &Value) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO oauth_credentials (server, data, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (server) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at",
        )
        .bind(server.as_str())
        .bind(data.to_string())
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(storage_err)?;
        Ok(())
    }

    async fn clear(&self, server: &ServerName) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM oauth_credentials WHERE server = $1")
            .bind(server.as_str())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }
}
