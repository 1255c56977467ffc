//! Which database holds this proxy's state, and this process's name among the replicas that
//! share one: SQLite in the data directory unless `MCPPROXY_DATABASE_URL` or `storage.url`
//! names a PostgreSQL database.

use std::sync::Arc;

use mcpproxy_config::resolve_secrets;
use mcpproxy_domain::storage::{StorageBackend, StorageConfig, is_postgres_url};
use mcpproxy_storage::{Location, Store};

use crate::exit::{Exit, Failure};
use crate::locate::Located;

/// Where this run keeps its state, with `${env:…}` references in the URL expanded; `replica`
/// names this process to the other replicas.
pub fn location(located: &Located, replica: &str) -> Result<Location, Failure> {
    let backend = StorageConfig::backend(
        located.config.storage.as_ref(),
        located.env.database_url.as_deref(),
    );
    match backend {
        StorageBackend::Sqlite => Ok(Location::File(located.data_dir.join("mcpproxy.db"))),
        StorageBackend::Postgres { url, pool_size } => {
            let from = if located.env.database_url.is_some() {
                "MCPPROXY_DATABASE_URL".to_owned()
            } else {
                format!("{}: storage.url", located.config_path.display())
            };
            let url = resolve_secrets(&url)
                .map_err(|e| Failure::new(Exit::Config, format!("{from}: {e}")))?;
            if !is_postgres_url(&url) {
                return Err(Failure::new(
                    Exit::Config,
                    format!(
                        "{from}: {:?} is not a postgres:// URL; use postgres://user:password@host:5432/database, or unset it for the embedded SQLite database",
                        mcpproxy_storage::redact_url(&url)
                    ),
                ));
            }
            Ok(Location::Postgres {
                url,
                pool_size,
                replica: replica.to_owned(),
            })
        }
    }
}

/// Opens the database at `location` (applying its migrations).
pub async fn open(location: &Location) -> Result<Arc<dyn Store>, Failure> {
    mcpproxy_storage::open(location)
        .await
        .map_err(|e| Failure::new(Exit::General, e.to_string()))
}

/// This process's name among replicas: `MCPPROXY_REPLICA_ID` (`configured`), else
/// `host:port` of its `listen` address (unique on one machine, and across machines by their
/// names).
pub fn replica_id(configured: Option<&str>, listen: &str) -> String {
    if let Some(id) = configured {
        return id.to_owned();
    }
    let port = listen.rsplit_once(':').map_or(listen, |(_, port)| port);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{port}")
}
