//! The response cache behind `read_cache`.

use async_trait::async_trait;
use mcpproxy_application::ports::{CacheRepository, CachedResponse, StorageError};
use mcpproxy_domain::Timestamp;

use crate::db::{Database, storage_err};

#[async_trait]
impl CacheRepository for Database {
    async fn put(&self, e: &CachedResponse) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT OR REPLACE INTO response_cache (key, value, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&e.key)
        .bind(&e.value)
        .bind(e.created_at.millis())
        .bind(e.expires_at.millis())
        .execute(&self.pool)
        .await
        .map_err(storage_err)?;
        Ok(())
    }

    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<CachedResponse>, StorageError> {
        let row = sqlx::query("SELECT * FROM response_cache WHERE key = ? AND expires_at > ?")
            .bind(key)
            .bind(now.millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(crate::rows::cached).transpose()
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM response_cache WHERE expires_at <= ?")
            .bind(now.millis())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(done.rows_affected())
    }
}
