//! One handle over either backend, for the composition root: it opens the database the
//! config names and hands it out as every storage port.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_application::ports::{
    ActivityRepository, AgentTokenRepository, ApprovalRepository, CacheRepository, ChangeFeed,
    PromptApprovalRepository, ServerRepository, StorageError, TokenStore,
};

use crate::db::{Database, OpenError};
use crate::postgres::PgDatabase;

/// Every storage port at once, with the database's life cycle. An `Arc<dyn Store>` turns into
/// any one port (`Arc<dyn ApprovalRepository>`, …) by coercion.
#[async_trait]
pub trait Store:
    ServerRepository
    + ApprovalRepository
    + PromptApprovalRepository
    + ActivityRepository
    + CacheRepository
    + TokenStore
    + AgentTokenRepository
    + std::fmt::Debug
    + Send
    + Sync
{
    /// Whether the database answers a query.
    async fn ping(&self) -> bool;
    /// Closes every connection, waiting for queries in flight.
    async fn close(&self);
    /// Which database this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The feed of other replicas' changes, on a database that replicas share.
    async fn changes(&self) -> Result<Option<Box<dyn ChangeFeed>>, StorageError>;
}

/// Where the state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite file (one proxy).
    File(PathBuf),
    /// A PostgreSQL database (`postgres://…`) shared by the proxies of a team, with the most
    /// connections this proxy opens and the name of this replica.
    Postgres {
        url: String,
        pool_size: u32,
        replica: String,
    },
}

/// Opens the database at `location` and applies its pending migrations.
pub async fn open(location: &Location) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match location {
        Location::File(path) => Arc::new(Database::open(path).await?),
        Location::Postgres {
            url,
            pool_size,
            replica,
        } => Arc::new(PgDatabase::open(url, *pool_size, replica).await?),
    })
}

#[async_trait]
impl Store for Database {
    async fn ping(&self) -> bool {
        Database::ping(self).await
    }
    async fn close(&self) {
        Database::close(self).await;
    }
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn changes(&self) -> Result<Option<Box<dyn ChangeFeed>>, StorageError> {
        Ok(None)
    }
}

#[async_trait]
impl Store for PgDatabase {
    async fn ping(&self) -> bool {
        PgDatabase::ping(self).await
    }
    async fn close(&self) {
        PgDatabase::close(self).await;
    }
    fn backend(&self) -> &'static str {
        "postgres"
    }
    async fn changes(&self) -> Result<Option<Box<dyn ChangeFeed>>, StorageError> {
        Ok(Some(Box::new(PgDatabase::changes(self).await?)))
    }
}
