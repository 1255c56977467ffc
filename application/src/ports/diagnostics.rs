//! The port the doctor looks at the machine through: whether a stdio server could be
//! started now (its command on PATH, its secrets, its working directory), the data
//! directory's permissions, and whether the proxy's address is free.

use async_trait::async_trait;
use mcpproxy_domain::{Config, ServerConfig};
use serde::Serialize;

/// Whether a stdio server could be started now, checked without starting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LaunchCheck {
    /// Everything it needs is there; this is the program it would run.
    Ready { program: String },
    /// It would fail to start, for this reason, worded as a start would fail (with the PATH
    /// used when the command is missing).
    Problem { reason: String },
    /// Nothing to check here: a remote server, or one whose command lives in its container.
    NotApplicable,
}

/// The data directory as the doctor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataDirCheck {
    pub path: String,
    /// Its permission bits (e.g. 0o700), when it could be read.
    pub mode: Option<u32>,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

/// Looks at this machine for the doctor.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HostProbe: Send + Sync {
    /// Whether `server` could be started now, the way the upstream layer would start it.
    async fn launch_check(&self, config: &Config, server: &ServerConfig) -> LaunchCheck;
    /// The data directory: private to its owner and writable, or what is wrong.
    fn data_dir(&self) -> DataDirCheck;
    /// Makes the data directory private to its owner again (mode 0700).
    fn tighten_data_dir(&self) -> Result<(), String>;
    /// Why `listen` (host:port) cannot be listened on, when another program holds it.
    fn address_taken(&self, listen: &str) -> Option<String>;
}
