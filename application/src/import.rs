//! Importing the servers another AI client already has (Claude Desktop, Claude Code, Cursor,
//! Codex, Gemini CLI): `mcpproxy upstream import` and `POST /api/v1/servers/import…`.
//!
//! Each server goes through the management service like any other addition (the gates,
//! quarantine unless the person asked otherwise). A name the proxy has already is reported,
//! never overwritten; a dry run reports what would happen and changes nothing. Secrets the
//! file holds in plain text go to the OS keyring when asked (`to_keyring`), else are
//! reported with the command that moves them ([`keyring`]).

use std::sync::Arc;

use mcpproxy_domain::{Caller, CallerKind};
use mcpproxy_domain::{ServerConfig, ServerName};
use serde::Serialize;
use serde_json::Value;

use crate::gates::Action;
use crate::management::{AddServer, ManagementError, ManagementService, starts_quarantined};
use crate::ports::{
    ClientConfigs, ClientError, ConfigStore, ForeignConfigPath, ImportSource, SecretStore,
};

#[path = "import_keyring.rs"]
mod keyring;
pub use keyring::{ImportedSecret, KeyringOffer};

/// What to import and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    pub source: ImportSource,
    /// The file's format; told from the file when `None`.
    pub format: Option<String>,
    /// Only these servers (by their name in the file); all when empty.
    pub only: Vec<String>,
    /// Report what would be imported; change nothing.
    pub dry_run: bool,
    /// Add the servers trusted (not quarantined).
    pub skip_quarantine: bool,
    /// Store the values that look like secrets in the OS keyring and import
    /// `${keyring:NAME}` references instead.
    pub to_keyring: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub total: usize,
    pub imported: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// A server that was (or, in a dry run, would be) imported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedServer {
    pub name: String,
    pub protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub source_format: String,
    pub original_name: String,
    /// Whether it starts quarantined (in a dry run: would).
    pub quarantined: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedServer {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailedServer {
    pub name: String,
    pub reason: String,
    /// The entry as the file had it (null when the server is not in the file).
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub original_config: Value,
}

/// What an import did, in the Go proxy's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub format: String,
    pub format_name: String,
    pub dry_run: bool,
    pub summary: ImportSummary,
    pub imported: Vec<ImportedServer>,
    pub skipped: Vec<SkippedServer>,
    pub failed: Vec<FailedServer>,
    pub warnings: Vec<String>,
    /// The imported servers' values that look like secrets, and where each is kept.
    pub secrets: Vec<ImportedSecret>,
    /// What became of them: stored in the keyring, or left in plain text (and why).
    pub keyring: KeyringOffer,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Management(#[from] ManagementError),
}

pub struct ImportService {
    config: Arc<dyn ConfigStore>,
    clients: Arc<dyn ClientConfigs>,
    management: Arc<ManagementService>,
    secrets: Arc<dyn SecretStore>,
}

impl std::fmt::Debug for ImportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportService").finish_non_exhaustive()
    }
}

fn view(config: &ServerConfig, format: &str, original: &str, quarantined: bool) -> ImportedServer {
    ImportedServer {
        name: config.name.to_string(),
        protocol: config
            .transport()
            .map_or_else(|_| config.protocol.clone(), |t| t.as_str().to_owned()),
        command: config.command.clone(),
        args: config.args.clone(),
        url: mcpproxy_domain::redact::url(&config.url),
        source_format: format.to_owned(),
        original_name: original.to_owned(),
        quarantined,
    }
}

impl ImportService {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        clients: Arc<dyn ClientConfigs>,
        management: Arc<ManagementService>,
        secrets: Arc<dyn SecretStore>,
    ) -> Self {
        Self {
            config,
            clients,
            management,
            secrets,
        }
    }

    /// The well-known config files of this machine's clients.
    pub fn paths(&self) -> Vec<ForeignConfigPath> {
        self.clients.import_paths()
    }

    pub async fn import(
        &self,
        request: ImportRequest,
        caller: impl Into<Caller>,
    ) -> Result<ImportReport, ImportError> {
        let caller = caller.into();
        // Refused as a whole, before the file is read: a preview of what the gates would
        // refuse anyway helps nobody.
        self.management.gate(Action::AddServer, &caller)?;
        let foreign = self
            .clients
            .read_servers(&request.source, request.format.clone())
            .await?;
        let mut report = ImportReport {
            format: foreign.format.clone(),
            format_name: foreign.format_name.clone(),
            dry_run: request.dry_run,
            summary: ImportSummary::default(),
            imported: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            warnings: foreign.warnings,
            secrets: Vec::new(),
            keyring: KeyringOffer::default(),
        };
        let wanted = |name: &str| request.only.is_empty() || request.only.iter().any(|o| o == name);
        for missing in request
            .only
            .iter()
            .filter(|o| !foreign.servers.iter().any(|s| &s.original_name == *o))
        {
            report.failed.push(FailedServer {
                name: missing.clone(),
                reason: "no server of this name in the file".to_owned(),
                original_config: Value::Null,
            });
        }
        let current = self.config.current();
        let agent = caller.kind() == CallerKind::Agent;
        let mut keeper =
            keyring::Keeper::new(self.secrets.as_ref(), request.to_keyring, request.dry_run);
        let mut added = 0;
        for server in foreign
            .servers
            .into_iter()
            .filter(|s| wanted(&s.original_name))
        {
            let mut config = match server.config {
                Ok(c) => c,
                Err(reason) => {
                    report.failed.push(FailedServer {
                        name: server.original_name,
                        reason,
                        original_config: server.original,
                    });
                    continue;
                }
            };
            let name = config.name.to_string();
            let exists =
                ServerName::parse(name.clone()).is_ok_and(|n| current.server(&n).is_some());
            if exists {
                report.skipped.push(SkippedServer {
                    name,
                    reason: "a server with this name already exists; it was left as it is"
                        .to_owned(),
                });
                continue;
            }
            let index = current.servers.len() + added;
            if request.dry_run {
                let errors = config.validate("server");
                if errors.is_empty() {
                    keeper.take(index, &mut config, &mut report.warnings).await;
                    report.imported.push(view(
                        &config,
                        &foreign.format,
                        &server.original_name,
                        starts_quarantined(&current, &config, request.skip_quarantine, agent),
                    ));
                    added += 1;
                } else {
                    report.failed.push(FailedServer {
                        name,
                        reason: crate::ports::join(&errors),
                        original_config: server.original,
                    });
                }
                continue;
            }
            // Into the keyring first: the config file never holds the values.
            let created = keeper.take(index, &mut config, &mut report.warnings).await;
            let add = AddServer {
                config: config.clone(),
                skip_quarantine: request.skip_quarantine,
            };
            let result = self.management.add_server(add, caller.clone()).await;
            if result.is_err() {
                keeper.undo(&name, created).await;
            }
            match result {
                Ok(v) => {
                    report.imported.push(view(
                        &config,
                        &foreign.format,
                        &server.original_name,
                        v.quarantined,
                    ));
                    added += 1;
                }
                Err(ManagementError::AlreadyExists(_)) => report.skipped.push(SkippedServer {
                    name,
                    reason: "a server with this name already exists; it was left as it is"
                        .to_owned(),
                }),
                // A gate refuses every addition alike: say so once.
                Err(e @ ManagementError::Forbidden(_)) if report.imported.is_empty() => {
                    return Err(e.into());
                }
                Err(e) => report.failed.push(FailedServer {
                    name,
                    reason: e.to_string(),
                    original_config: server.original,
                }),
            }
        }
        (report.secrets, report.keyring) = keeper.finish(&request.source, &mut report.warnings);
        report.summary = ImportSummary {
            total: report.imported.len() + report.skipped.len() + report.failed.len(),
            imported: report.imported.len(),
            skipped: report.skipped.len(),
            failed: report.failed.len(),
        };
        Ok(report)
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
