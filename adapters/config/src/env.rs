//! What the environment adds to the config: overrides, secrets and the generated API key.

use std::path::PathBuf;

use mcpproxy_domain::Config;
use mcpproxy_domain::secret::{self, SecretError, SecretSource};
use mcpproxy_domain::tls::TlsConfig;

/// Values from the environment that win over the config file for this process only; they
/// are never written into the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    /// `MCPPROXY_LISTEN`
    pub listen: Option<String>,
    /// `MCPPROXY_API_KEY`. An empty value counts as unset: the API is never left open.
    pub api_key: Option<String>,
    /// `MCPPROXY_DATA`
    pub data_dir: Option<PathBuf>,
    /// `MCPPROXY_DATABASE_URL`: a `postgres://` database for the state instead of SQLite.
    pub database_url: Option<String>,
    /// `MCPPROXY_REPLICA_ID`: this process's name among the replicas sharing a database.
    pub replica_id: Option<String>,
    /// `MCPPROXY_TLS_ENABLED` (Go's name): `true`/`1` or `false`/`0`.
    pub tls_enabled: Option<bool>,
    /// `MCPPROXY_TLS_REQUIRE_CLIENT_CERT`
    pub tls_require_client_cert: Option<bool>,
    /// `MCPPROXY_CERTS_DIR`
    pub certs_dir: Option<String>,
    /// `MCPPROXY_TRUSTED_HOSTS`: a comma list that replaces `trusted_hosts`.
    pub trusted_hosts: Option<Vec<String>>,
}

impl EnvOverrides {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Self {
            listen: non_empty("MCPPROXY_LISTEN"),
            api_key: non_empty("MCPPROXY_API_KEY"),
            data_dir: non_empty("MCPPROXY_DATA").map(PathBuf::from),
            database_url: non_empty("MCPPROXY_DATABASE_URL"),
            replica_id: non_empty("MCPPROXY_REPLICA_ID"),
            tls_enabled: non_empty("MCPPROXY_TLS_ENABLED").and_then(|v| flag(&v)),
            tls_require_client_cert: non_empty("MCPPROXY_TLS_REQUIRE_CLIENT_CERT")
                .and_then(|v| flag(&v)),
            certs_dir: non_empty("MCPPROXY_CERTS_DIR"),
            trusted_hosts: non_empty("MCPPROXY_TRUSTED_HOSTS").map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
        }
    }

    /// The `tls` settings in force: the config's, with the environment's values on top.
    pub fn tls(&self, config: &Config) -> TlsConfig {
        let mut tls = config.tls_settings();
        if let Some(on) = self.tls_enabled {
            tls.enabled = on;
        }
        if let Some(on) = self.tls_require_client_cert {
            tls.require_client_cert = on;
        }
        if let Some(dir) = &self.certs_dir {
            tls.certs_dir.clone_from(dir);
        }
        tls
    }
}

/// A boolean as Go's environment parsing reads it; anything else is ignored (the config's
/// value stays), rather than guessed.
fn flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A new API key: 32 random bytes as 64 hex characters (the application's rule).
pub use mcpproxy_application::management::generate_api_key;

/// Expands `${env:NAME}` references from the process environment. `${keyring:NAME}` is not
/// supported yet and is reported as not set.
pub fn resolve_secrets(value: &str) -> Result<String, SecretError> {
    secret::expand(value, |source, name| match source {
        SecretSource::Env => std::env::var(name).ok(),
        SecretSource::Keyring => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_ignore_empty_values() {
        let o = EnvOverrides::from_lookup(|n| match n {
            "MCPPROXY_LISTEN" => Some("127.0.0.1:9".into()),
            "MCPPROXY_API_KEY" => Some(String::new()),
            "MCPPROXY_DATABASE_URL" => Some("postgres://db/mcp".into()),
            _ => None,
        });
        assert_eq!(o.database_url.as_deref(), Some("postgres://db/mcp"));
        assert_eq!(o.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(o.api_key, None);
        assert_eq!(o.data_dir, None);
    }

    #[test]
    fn tls_and_trusted_hosts_come_from_go_s_variables() {
        let o = EnvOverrides::from_lookup(|n| match n {
            "MCPPROXY_TLS_ENABLED" => Some("true".into()),
            "MCPPROXY_TLS_REQUIRE_CLIENT_CERT" => Some("maybe".into()),
            "MCPPROXY_CERTS_DIR" => Some("/c".into()),
            "MCPPROXY_TRUSTED_HOSTS" => Some(" a.example, ,b.example".into()),
            _ => None,
        });
        let config = Config {
            tls: Some(TlsConfig {
                require_client_cert: true,
                ..TlsConfig::default()
            }),
            ..Config::default()
        };
        let tls = o.tls(&config);
        assert!(tls.enabled, "the variable turns TLS on");
        assert!(
            tls.require_client_cert,
            "an unreadable value keeps the config's"
        );
        assert_eq!(tls.certs_dir, "/c");
        assert_eq!(
            o.trusted_hosts.as_deref(),
            Some(&["a.example".to_owned(), "b.example".to_owned()][..])
        );
    }

    #[test]
    fn api_keys_are_64_hex_and_differ() {
        let a = generate_api_key();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_api_key());
    }

    #[test]
    fn secrets_come_from_the_environment() {
        // PATH is set in every test environment; no need to modify the environment.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            resolve_secrets("p=${env:PATH}").unwrap(),
            format!("p={path}")
        );
        assert!(resolve_secrets("${env:MCPPROXY_SURELY_UNSET_42}").is_err());
    }
}
