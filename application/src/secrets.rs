//! Secrets in the OS keyring: the use cases behind `mcpproxy secrets …`, `/api/v1/secrets`
//! and `POST /servers/{id}/config-to-secret`.
//!
//! A secret is stored under the keyring service `mcpproxy` and used from the config as
//! `${keyring:NAME}`, resolved only when a server connects. Values go in (set) and out only
//! to the connection that needs them and to `secrets get` on the command line; every answer
//! here carries names, references and masks. Storing or deleting a secret restarts the
//! servers that use it, so they pick up the new value at once.

use std::sync::Arc;

use mcpproxy_domain::Caller;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::plaintext::{self, Candidate, ValueScope};
use mcpproxy_domain::redact::mask;
use mcpproxy_domain::secret::{self, SecretNameError};
use mcpproxy_domain::{DomainEvent, ServerName};
use serde::Serialize;
use serde_json::json;

use crate::activity::{ActivityDraft, ActivityLog};
use crate::management::{ManagementError, ManagementService};
use crate::ports::{
    ConfigStore, EventPublisher, SecretStore, SecretStoreError, UpstreamError, UpstreamPool,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    BadName(#[from] SecretNameError),
    #[error("the value of secret {0:?} is empty; give the value to store")]
    EmptyValue(String),
    #[error("secret {0:?} is not in the keyring; `mcpproxy secrets list` shows the stored secrets")]
    NotFound(String),
    #[error("server {server:?} has no {} {key:?}", scope.field())]
    UnknownKey {
        server: String,
        scope: ValueScope,
        key: String,
    },
    #[error(
        "{} {key:?} of server {server:?} is already a reference ({value}); nothing to move",
        scope.field()
    )]
    AlreadyReference {
        server: String,
        scope: ValueScope,
        key: String,
        value: String,
    },
    #[error("{} {key:?} of server {server:?} is empty; nothing to move", scope.field())]
    EmptyField {
        server: String,
        scope: ValueScope,
        key: String,
    },
    #[error(transparent)]
    Store(#[from] SecretStoreError),
    #[error(transparent)]
    Management(#[from] ManagementError),
}

/// A secret as people see it: never its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretInfo {
    pub name: String,
    /// Always `keyring`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `${keyring:NAME}`, to use in the config.
    pub reference: String,
    /// Whether the keyring holds it (a secret the config uses but the keyring lacks is not).
    pub set: bool,
    /// `••••ab (40 chars)` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
    /// The servers whose config refers to it.
    pub referenced_by: Vec<String>,
}

/// Every stored secret and every secret the config refers to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretList {
    pub secrets: Vec<SecretInfo>,
    /// Referenced by the config but not in the keyring: those servers cannot connect.
    pub missing: usize,
    /// Which keyring answers (`secret-service`, …).
    pub store: String,
}

/// A value moved from the config into the keyring.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MovedSecret {
    pub server: String,
    pub scope: ValueScope,
    pub key: String,
    pub secret_name: String,
    pub reference: String,
    pub message: String,
}

/// What `migrate` found and, when applied, moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Migration {
    pub candidates: Vec<Candidate>,
    pub moved: Vec<MovedSecret>,
    /// Candidates that could not be moved, with why.
    pub failed: Vec<MigrationFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MigrationFailure {
    pub field: String,
    pub error: String,
}

pub struct SecretsService {
    store: Arc<dyn SecretStore>,
    config: Arc<dyn ConfigStore>,
    management: Arc<ManagementService>,
    upstream: Arc<dyn UpstreamPool>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
}

impl std::fmt::Debug for SecretsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsService").finish_non_exhaustive()
    }
}

impl SecretsService {
    pub fn new(
        store: Arc<dyn SecretStore>,
        config: Arc<dyn ConfigStore>,
        management: Arc<ManagementService>,
        upstream: Arc<dyn UpstreamPool>,
        events: Arc<dyn EventPublisher>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            store,
            config,
            management,
            upstream,
            events,
            activity,
        }
    }

    /// The servers whose config refers to `${keyring:name}`.
    fn users(&self, name: &str) -> Vec<ServerName> {
        self.config
            .current()
            .servers
            .iter()
            .filter(|s| secret::keyring_names(s).contains(name))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Reconnects the enabled servers that use the secret, so they run with its new value.
    async fn restart_users(&self, name: &str) -> Vec<ServerName> {
        let config = self.config.current();
        let mut restarted = Vec::new();
        for server in self.users(name) {
            if !config.server(&server).is_some_and(|s| s.enabled) {
                continue;
            }
            match self.upstream.restart(&server).await {
                Ok(()) => restarted.push(server),
                Err(UpstreamError::UnknownServer(_)) => {}
                Err(e) => tracing::info!(%server, secret = name, "cannot restart: {e}"),
            }
        }
        restarted
    }

    async fn changed(&self, name: &str, action: &'static str, source: Source) {
        let restarted = self.restart_users(name).await;
        let draft = ActivityDraft::new(ActivityKind::ConfigChange, source, ActivityStatus::Success)
            .meta("action", format!("secret_{action}"))
            .meta("secret", name)
            .meta(
                "restarted",
                json!(restarted.iter().map(ServerName::as_str).collect::<Vec<_>>()),
            );
        self.activity.record_or_log(draft).await;
        self.events.publish(DomainEvent::SecretChanged {
            name: name.to_owned(),
            action,
            restarted,
        });
    }

    fn info(&self, name: &str, value: Option<&str>) -> SecretInfo {
        SecretInfo {
            name: name.to_owned(),
            kind: "keyring",
            reference: secret::keyring_reference(name),
            set: value.is_some(),
            masked: value.map(mask),
            referenced_by: self.users(name).iter().map(ToString::to_string).collect(),
        }
    }

    /// Stores `value` as `name` and restarts the servers that use it.
    pub async fn set(
        &self,
        name: &str,
        value: &str,
        caller: impl Into<Caller>,
    ) -> Result<SecretInfo, SecretsError> {
        let caller = caller.into();
        secret::check_name(name)?;
        if value.is_empty() {
            return Err(SecretsError::EmptyValue(name.to_owned()));
        }
        self.management.check_config_change(&caller)?;
        self.store.set(name, value).await?;
        self.changed(name, "set", caller.source()).await;
        Ok(self.info(name, Some(value)))
    }

    /// The secret's metadata (masked), or `NotFound` when the keyring lacks it.
    pub async fn get(&self, name: &str) -> Result<SecretInfo, SecretsError> {
        secret::check_name(name)?;
        match self.store.get(name).await? {
            Some(value) => Ok(self.info(name, Some(&value))),
            None => Err(SecretsError::NotFound(name.to_owned())),
        }
    }

    /// The value itself, for `mcpproxy secrets get --masked=false` on this machine only.
    pub async fn reveal(&self, name: &str) -> Result<String, SecretsError> {
        secret::check_name(name)?;
        self.store
            .get(name)
            .await?
            .ok_or_else(|| SecretsError::NotFound(name.to_owned()))
    }

    pub async fn delete(&self, name: &str, caller: impl Into<Caller>) -> Result<(), SecretsError> {
        let caller = caller.into();
        secret::check_name(name)?;
        self.management.check_config_change(&caller)?;
        if !self.store.delete(name).await? {
            return Err(SecretsError::NotFound(name.to_owned()));
        }
        self.changed(name, "deleted", caller.source()).await;
        Ok(())
    }

    /// Stored secrets and the ones the config refers to, by name.
    pub async fn list(&self) -> Result<SecretList, SecretsError> {
        let stored = self.store.list().await?;
        let config = self.config.current();
        let mut names: std::collections::BTreeSet<String> = stored.iter().cloned().collect();
        names.extend(config.servers.iter().flat_map(secret::keyring_names));
        let secrets: Vec<SecretInfo> = names
            .iter()
            .map(|n| {
                let mut info = self.info(n, None);
                info.set = stored.contains(n);
                info
            })
            .collect();
        Ok(SecretList {
            missing: secrets.iter().filter(|s| !s.set).count(),
            secrets,
            store: self.store.describe(),
        })
    }

    /// Moves one env or header value of a server into the keyring as `secret_name` and
    /// puts `${keyring:secret_name}` in its place. The value never leaves the proxy.
    pub async fn move_to_keyring(
        &self,
        server: &str,
        scope: ValueScope,
        key: &str,
        secret_name: &str,
        caller: impl Into<Caller>,
    ) -> Result<MovedSecret, SecretsError> {
        let caller = caller.into();
        let source = caller.source();
        secret::check_name(secret_name)?;
        self.management.check_config_change(&caller)?;
        let config = self.config.current();
        let name =
            ServerName::parse(server).map_err(|_| ManagementError::NotFound(server.to_owned()))?;
        let entry = config
            .server(&name)
            .ok_or_else(|| ManagementError::NotFound(server.to_owned()))?;
        let map = match scope {
            ValueScope::Env => &entry.env,
            ValueScope::Header => &entry.headers,
        };
        let value = map.get(key).ok_or_else(|| SecretsError::UnknownKey {
            server: server.to_owned(),
            scope,
            key: key.to_owned(),
        })?;
        if secret::has_reference(value) {
            return Err(SecretsError::AlreadyReference {
                server: server.to_owned(),
                scope,
                key: key.to_owned(),
                value: value.clone(),
            });
        }
        if value.is_empty() {
            return Err(SecretsError::EmptyField {
                server: server.to_owned(),
                scope,
                key: key.to_owned(),
            });
        }
        self.store.set(secret_name, value).await?;
        let reference = secret::keyring_reference(secret_name);
        let patch = json!({ scope.field(): { key: reference } });
        self.management
            .patch_server(server, &patch, &caller)
            .await?;
        let draft = ActivityDraft::new(ActivityKind::ConfigChange, source, ActivityStatus::Success)
            .server(server)
            .meta("action", "secret_moved")
            .meta("secret", secret_name)
            .meta("field", format!("{}.{key}", scope.field()));
        self.activity.record_or_log(draft).await;
        self.events.publish(DomainEvent::SecretChanged {
            name: secret_name.to_owned(),
            action: "set",
            restarted: Vec::new(),
        });
        Ok(MovedSecret {
            message: format!(
                "{} {key:?} on {server:?} now references keyring secret {secret_name:?}",
                scope.as_str()
            ),
            server: server.to_owned(),
            scope,
            key: key.to_owned(),
            secret_name: secret_name.to_owned(),
            reference,
        })
    }

    /// The plaintext values of the config that look like secrets.
    pub fn candidates(&self) -> Vec<Candidate> {
        plaintext::candidates(&self.config.current())
    }

    /// Finds the candidates and, with `apply`, moves each under its suggested name.
    pub async fn migrate(
        &self,
        apply: bool,
        caller: impl Into<Caller>,
    ) -> Result<Migration, SecretsError> {
        let caller = caller.into();
        let candidates = self.candidates();
        let mut migration = Migration {
            candidates: candidates.clone(),
            moved: Vec::new(),
            failed: Vec::new(),
        };
        if !apply {
            return Ok(migration);
        }
        self.management.check_config_change(&caller)?;
        for c in candidates {
            match self
                .move_to_keyring(&c.server, c.scope, &c.key, &c.suggested_name, &caller)
                .await
            {
                Ok(moved) => migration.moved.push(moved),
                Err(e) => migration.failed.push(MigrationFailure {
                    field: c.field,
                    error: e.to_string(),
                }),
            }
        }
        Ok(migration)
    }
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
