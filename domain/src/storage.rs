//! `storage`: where the proxy keeps its state. Absent (or an empty `url`), the embedded SQLite
//! database in the data directory, as always; a `postgres://` URL puts the state of a team's
//! proxies in one PostgreSQL database. `MCPPROXY_DATABASE_URL` names one for a process only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ValidationError;

/// Connections a proxy opens to PostgreSQL when `pool_size` is absent.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// The most connections `pool_size` may ask for.
pub const MAX_POOL_SIZE: i64 = 1000;

/// The `storage` object of the config (mcpproxy's own key; the Go proxy has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `postgres://user:password@host:port/database`; `${env:NAME}` references are expanded.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The most connections this proxy opens to the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<i64>,
    /// Every key this proxy does not act on, kept as it was read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which database holds the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// `mcpproxy.db` in the data directory.
    Sqlite,
    /// A PostgreSQL database at this URL (secrets not yet expanded).
    Postgres { url: String, pool_size: u32 },
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl StorageConfig {
    /// The backend this config selects; `env_url` (`MCPPROXY_DATABASE_URL`) wins over `url`.
    pub fn backend(config: Option<&Self>, env_url: Option<&str>) -> StorageBackend {
        let url = env_url.filter(|u| !u.trim().is_empty()).or_else(|| {
            config
                .map(|c| c.url.as_str())
                .filter(|u| !u.trim().is_empty())
        });
        match url {
            None => StorageBackend::Sqlite,
            Some(url) => StorageBackend::Postgres {
                url: url.trim().to_owned(),
                pool_size: config
                    .and_then(|c| c.pool_size)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .unwrap_or(DEFAULT_POOL_SIZE),
            },
        }
    }

    /// Problems of `storage`, each naming its key.
    pub fn validate(&self, errors: &mut Vec<ValidationError>) {
        let url = self.url.trim();
        // A URL given through a secret reference is checked once expanded, at start.
        if !url.is_empty() && !url.starts_with("${") && !is_postgres_url(url) {
            errors.push(ValidationError::new(
                "storage.url",
                "must be a postgres:// URL (postgres://user:password@host:5432/database); \
                 leave it out to keep the embedded SQLite database in the data directory",
            ));
        }
        if let Some(n) = self.pool_size
            && !(1..=MAX_POOL_SIZE).contains(&n)
        {
            errors.push(ValidationError::new(
                "storage.pool_size",
                format!("must be between 1 and {MAX_POOL_SIZE}, got {n}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(url: &str, pool_size: Option<i64>) -> StorageConfig {
        StorageConfig {
            url: url.into(),
            pool_size,
            ..Default::default()
        }
    }

    #[test]
    fn sqlite_unless_a_url_is_given() {
        assert_eq!(StorageConfig::backend(None, None), StorageBackend::Sqlite);
        assert_eq!(
            StorageConfig::backend(Some(&storage("  ", Some(3))), Some("")),
            StorageBackend::Sqlite
        );
        assert_eq!(
            StorageConfig::backend(Some(&storage("postgres://a/b", Some(3))), None),
            StorageBackend::Postgres {
                url: "postgres://a/b".into(),
                pool_size: 3
            }
        );
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        assert_eq!(
            StorageConfig::backend(
                Some(&storage("postgres://file/db", None)),
                Some("postgresql://env/db")
            ),
            StorageBackend::Postgres {
                url: "postgresql://env/db".into(),
                pool_size: DEFAULT_POOL_SIZE
            }
        );
    }

    #[test]
    fn a_url_of_another_database_and_a_bad_pool_are_refused() {
        let mut errors = Vec::new();
        storage("mysql://x/y", Some(0)).validate(&mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["storage.url", "storage.pool_size"]);
        let mut errors = Vec::new();
        storage("${env:DATABASE_URL}", Some(20)).validate(&mut errors);
        storage("postgres://u:p@h/d", None).validate(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
