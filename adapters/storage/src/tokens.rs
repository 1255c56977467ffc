//! Agent tokens: the HMAC of each secret with the token's scope, never the secret.

use async_trait::async_trait;
use mcpproxy_application::ports::{AgentTokenRepository, StorageError};
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::token::AgentToken;

use crate::db::{Database, storage_err};
use crate::rows::agent_token as from_row;

const INSERT: &str = "INSERT OR IGNORE INTO agent_tokens (name, hash, prefix, servers, tier,
    created_at, expires_at, revoked, last_used_at, profile_pin)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const REPLACE: &str = "INSERT OR REPLACE INTO agent_tokens (name, hash, prefix, servers, tier,
    created_at, expires_at, revoked, last_used_at, profile_pin)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

impl Database {
    async fn write_token(&self, sql: &'static str, t: &AgentToken) -> Result<u64, StorageError> {
        let servers = serde_json::to_string(&t.server_list()).map_err(storage_err)?;
        let done = sqlx::query(sql)
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
        row.as_ref().map(from_row).transpose()
    }
}

#[async_trait]
impl AgentTokenRepository for Database {
    async fn insert(&self, token: &AgentToken) -> Result<bool, StorageError> {
        Ok(self.write_token(INSERT, token).await? == 1)
    }

    async fn update(&self, token: &AgentToken) -> Result<(), StorageError> {
        self.write_token(REPLACE, token).await.map(drop)
    }

    async fn by_name(&self, name: &str) -> Result<Option<AgentToken>, StorageError> {
        self.token_where("SELECT * FROM agent_tokens WHERE name = ?", name)
            .await
    }

    async fn by_hash(&self, hash: &str) -> Result<Option<AgentToken>, StorageError> {
        self.token_where("SELECT * FROM agent_tokens WHERE hash = ?", hash)
            .await
    }

    async fn all(&self) -> Result<Vec<AgentToken>, StorageError> {
        let rows = sqlx::query("SELECT * FROM agent_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(storage_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn touch(&self, name: &str, at: Timestamp) -> Result<(), StorageError> {
        sqlx::query("UPDATE agent_tokens SET last_used_at = ? WHERE name = ?")
            .bind(at.millis())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM agent_tokens WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(storage_err)?;
        Ok(done.rows_affected() == 1)
    }
}
