//! The doctor's look at this machine ([`HostProbe`]): a stdio server's start checked by the
//! upstream layer without starting it, the data directory's permissions, the listen address.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_application::ports::{DataDirCheck, HostProbe, LaunchCheck};
use mcpproxy_domain::{Config, ServerConfig};
use mcpproxy_upstream::{ConnectSpec, Connector};

pub struct HostChecks {
    connector: Arc<Connector>,
    data_dir: PathBuf,
}

impl std::fmt::Debug for HostChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostChecks")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl HostChecks {
    pub fn new(connector: Arc<Connector>, data_dir: PathBuf) -> Self {
        Self {
            connector,
            data_dir,
        }
    }
}

#[async_trait]
impl HostProbe for HostChecks {
    async fn launch_check(&self, config: &Config, server: &ServerConfig) -> LaunchCheck {
        let spec = match ConnectSpec::new(config, server) {
            Ok(spec) => spec,
            Err(e) => {
                return LaunchCheck::Problem {
                    reason: e.to_string(),
                };
            }
        };
        match self.connector.preflight(&spec).await {
            Ok(Some(program)) => LaunchCheck::Ready {
                program: program.display().to_string(),
            },
            Ok(None) => LaunchCheck::NotApplicable,
            Err(e) => LaunchCheck::Problem {
                reason: e.to_string(),
            },
        }
    }

    fn data_dir(&self) -> DataDirCheck {
        let path = self.data_dir.display().to_string();
        let meta = match std::fs::metadata(&self.data_dir) {
            Ok(m) => m,
            Err(e) => {
                return DataDirCheck {
                    path,
                    mode: None,
                    problem: Some(format!("cannot be read: {e}")),
                };
            }
        };
        let mode = meta.permissions().mode() & 0o7777;
        let problem = if !meta.is_dir() {
            Some("is not a directory".to_owned())
        } else if mode & 0o700 != 0o700 {
            Some(format!(
                "its owner cannot read, write or enter it (mode {mode:04o})"
            ))
        } else if mode & 0o077 != 0 {
            // It holds the database, the API key's config, token keys and OAuth tokens.
            Some(format!(
                "other users can read or change it (mode {mode:04o}); it holds tokens and the activity log"
            ))
        } else {
            None
        };
        DataDirCheck {
            path,
            mode: Some(mode),
            problem,
        }
    }

    fn tighten_data_dir(&self) -> Result<(), String> {
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot change the mode of {}: {e}", self.data_dir.display()))
    }

    fn address_taken(&self, listen: &str) -> Option<String> {
        let address = crate::serve::bind_address(listen);
        match std::net::TcpListener::bind(&address) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Some(format!(
                "{address} is in use by another program (`ss -ltnp 'sport = :{}'` shows which)",
                address.rsplit(':').next().unwrap_or_default()
            )),
            _ => None,
        }
    }
}
