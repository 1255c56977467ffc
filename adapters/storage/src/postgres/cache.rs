//! The response cache behind `read_cache`, on PostgreSQL.

use async_trait::async_trait;
use mcpproxy_application::ports::{CacheRepository, CachedResponse, StorageError};
use mcpproxy_domain::Timestamp;

use super::{PgDatabase, text};
use crate::db::storage_err;
use crate::rows;

#[async_trait]
impl CacheRepository for PgDatabase {
    async fn put(&self, e: &CachedResponse) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO response_cache (key, value, created_at, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,
                created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(&e.key)
        .bind(text(&e.value).into_owned())
        .bind(e.created_at.millis())
        .bind(e.expires_at.millis())
        .execute(&self.pool)
        .await
        .map_err(storage_err)?;
        Ok(())
    }

    async fn get(&self, key: &str, now: Timestamp) -> Result<Option<CachedResponse>, StorageError> {
        let row = sqlx::query("SELECT * FROM response_cache WHERE key = $1 AND expires_at > $2")
            .bind(key)
            .bind(now.millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(rows::cached).transpose()
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM response_cache WHERE expires_at <= $1")
            .bind(now.millis())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(done.rows_affected())
    }
}
