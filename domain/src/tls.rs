//! `tls`: HTTPS on the listener with a local certificate authority, in the Go MCPProxy's keys
//! and defaults (off; HSTS on when TLS is; client certificates not required).
//!
//! The certificates themselves are the HTTP adapter's business; here are only the settings and
//! the names of the files.

use serde::{Deserialize, Serialize};

/// The files of the local CA under the certificates directory (Go's names, so a directory
/// made by either proxy serves the other).
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVER_CERT_FILE: &str = "localhost.pem";
pub const SERVER_KEY_FILE: &str = "localhost.key";
/// The directory under the data directory when `certs_dir` is empty.
pub const DEFAULT_CERTS_SUBDIR: &str = "certs";
/// The `Strict-Transport-Security` value sent when `hsts` is on (a year, as Go sends it).
pub const HSTS_VALUE: &str = "max-age=31536000; includeSubDomains; preload";

/// `tls` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Serve HTTPS instead of HTTP on `listen`. Needs a restart.
    pub enabled: bool,
    /// Refuse clients without a certificate signed by the local CA (mutual TLS).
    pub require_client_cert: bool,
    /// Where the CA and the server certificate live; empty: `<data_dir>/certs`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub certs_dir: String,
    /// Send `Strict-Transport-Security` on every HTTPS answer.
    pub hsts: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            require_client_cert: false,
            certs_dir: String::new(),
            hsts: true,
        }
    }
}

impl crate::Config {
    /// `tls` as written, or its defaults when absent.
    pub fn tls_settings(&self) -> TlsConfig {
        self.tls.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_go_proxys() {
        let tls: TlsConfig = serde_json::from_str("{}").unwrap();
        assert!(!tls.enabled && !tls.require_client_cert && tls.hsts);
        let off: TlsConfig = serde_json::from_str(r#"{"enabled":true,"hsts":false}"#).unwrap();
        assert!(off.enabled && !off.hsts);
    }
}
