//! Agent tokens on PostgreSQL: the HMAC of each secret with the token's scope, never the secret.

use async_trait::async_trait;
use mcpproxy_application::ports::{AgentTokenRepository, StorageError};
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::token::AgentToken;

use super::PgDatabase;
use crate::db::storage_err;
use crate::rows;

const COLUMNS: &str = "INSERT INTO agent_tokens (name, hash, prefix, servers, tier, created_at,
    expires_at, revoked, last_used_at, profile_pin)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

impl PgDatabase {
    async fn write_token(&self, on_conflict: &str, t: &AgentToken) -> Result<u64, StorageError> {
        let servers = serde_json::to_string(&t.server_list()).map_err(storage_err)?;
        // `on_conflict` is one of the two constants below, never input.
        let done = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} {on_conflict}")))
            .bind(&t.name)
            .bind(&t.hash)
            .bind(&t.prefix)
            .bind(servers)
            .bind(t.tier.operation())
            .bind(t.created_at.millis())
            .bind(t.expires_at.millis())
            .bind(t.revoked)
            .bind(t.last_used_at.map(Timestamp::millis))
            .bind(t.profile_pin.as_deref())
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(done.rows_affected())
    }

    async fn token_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<AgentToken>, StorageError> {
        let row = sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_err)?;
        row.as_ref().map(rows::agent_token).transpose()
    }
}

/// A name or hash already taken leaves the stored token as it is.
const KEEP: &str = "ON CONFLICT DO NOTHING";
/// An update replaces the token of that name.
const REPLACE: &str = "ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash,
    prefix = EXCLUDED.prefix, servers = EXCLUDED.servers, tier = EXCLUDED.tier,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
    revoked = EXCLUDED.revoked, last_used_at = EXCLUDED.last_used_at,
    profile_pin = EXCLUDED.profile_pin";

#[async_trait]
impl AgentTokenRepository for PgDatabase {
    async fn insert(&self, token: &AgentToken) -> Result<bool, StorageError> {
        Ok(self.write_token(KEEP, token).await? == 1)
    }

    async fn update(&self, token: &AgentToken) -> Result<(), StorageError> {
        self.write_token(REPLACE, token).await.map(drop)
    }

    async fn by_name(&self, name: &str) -> Result<Option<AgentToken>, StorageError> {
        self.token_where("SELECT * FROM agent_tokens WHERE name = $1", name)
            .await
    }

    async fn by_hash(&self, hash: &str) -> Result<Option<AgentToken>, StorageError> {
        self.token_where("SELECT * FROM agent_tokens WHERE hash = $1", hash)
            .await
    }

    async fn all(&self) -> Result<Vec<AgentToken>, StorageError> {
        let rows = sqlx::query("SELECT * FROM agent_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(rows::agent_token).collect()
    }

    async fn touch(&self, name: &str, at: Timestamp) -> Result<(), StorageError> {
        sqlx::query("UPDATE agent_tokens SET last_used_at = $1 WHERE name = $2")
            .bind(at.millis())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM agent_tokens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(done.rows_affected() == 1)
    }
}
