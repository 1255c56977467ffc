//! The PostgreSQL backend: the same ports and the same records as the SQLite one, for a team
//! whose proxies share one database. The schema comes from `migrations/postgres/`; sqlx's
//! migrator holds a PostgreSQL advisory lock while it applies them, so replicas that start
//! together apply each migration once and the others wait for it.

mod activity;
mod approvals;
mod cache;
mod oauth;
mod servers;
mod tokens;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use mcpproxy_application::ports::{ChangeFeed, StorageError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use crate::db::{OpenError, storage_err};

/// How long a query waits for a free connection (or a new one) before it fails: a database
/// that is down turns into a clear error soon, instead of a call hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The channel of `migrations/postgres/0002_change_notices.sql`.
const CHANNEL: &str = "mcpproxy_changes";

/// A PostgreSQL database. Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct PgDatabase {
    pub(crate) pool: PgPool,
    /// This replica's `application_name`: the payload of its own change notices.
    name: String,
}

impl PgDatabase {
    /// Connects to the database at `url` (`postgres://…`) with at most `pool_size`
    /// connections as the replica `replica`, and applies pending migrations.
    pub async fn open(url: &str, pool_size: u32, replica: &str) -> Result<Self, OpenError> {
        let shown = redact_url(url);
        let open_err = |reason: String| OpenError::Open {
            path: shown.clone(),
            reason,
        };
        // PostgreSQL keeps the first 63 bytes of a name; the rest could not tell replicas apart.
        let mut name = format!("mcpproxy:{replica}");
        while name.len() > 63 {
            name.pop();
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| open_err(e.to_string()))?
            .application_name(&name);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| OpenError::Migrate {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { pool, name })
    }

    /// Another replica's changes to tool approvals, as they are committed.
    pub async fn changes(&self) -> Result<PgChanges, StorageError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(storage_err)?;
        listener.listen(CHANNEL).await.map_err(storage_err)?;
        Ok(PgChanges {
            listener,
            own: self.name.clone(),
        })
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The notices of [`PgDatabase::changes`]; its own replica's are skipped.
#[derive(Debug)]
pub struct PgChanges {
    listener: PgListener,
    own: String,
}

#[async_trait]
impl ChangeFeed for PgChanges {
    async fn next(&mut self) -> Result<(), StorageError> {
        loop {
            // The listener reconnects (and listens again) on the call after a lost connection.
            let notice = self.listener.recv().await.map_err(storage_err)?;
            if notice.payload() != self.own {
                return Ok(());
            }
        }
    }
}

/// `url` without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// PostgreSQL refuses the NUL character in text, which SQLite keeps: a tool's output or
/// description that carries one is stored with U+FFFD in its place rather than lost.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) fn opt_text(s: Option<&str>) -> Option<String> {
    s.map(|s| text(s).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact_url("postgres://team:s3cret@db.example:5432/mcp?sslmode=require"),
            "postgres://team:***@db.example:5432/mcp?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://team@db/mcp"),
            "postgres://team@db/mcp"
        );
        assert_eq!(redact_url("postgres:///mcp"), "postgres:///mcp");
    }

    #[test]
    fn nul_characters_are_replaced() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
    }
}
