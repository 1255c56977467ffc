//! The user's registry sources (`registries` in the config): add, edit, remove. Like every
//! config change they pass the management gates and the write lock; `registries_locked`
//! refuses them all, and the built-in registries are never replaced through here.

use mcpproxy_domain::Caller;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::netguard::check_url;
use mcpproxy_domain::registry::{
    PROTOCOL_DOCKER, PROTOCOL_OFFICIAL, RegistrySource, id_from_url, is_builtin,
};
use serde_json::Map;

use super::{ManagementError, ManagementService};
use crate::activity::ActivityDraft;
use crate::gates::Action;

/// A registry source to add: only the URL is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRegistry {
    pub url: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub servers_url: Option<String>,
}

/// Changes to a registry source; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEdit {
    pub name: Option<String>,
    pub url: Option<String>,
    pub servers_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistrySourceError {
    #[error("registries are locked (registries_locked); change the config file to edit them")]
    Locked,
    #[error("invalid registry URL: {0}")]
    InvalidUrl(String),
    #[error("{0:?} is a built-in registry; built-ins cannot be added, edited or removed")]
    ShadowsBuiltin(String),
    #[error("a registry with the id {0:?} exists already; choose another --id")]
    Duplicate(String),
    #[error("no registry {0:?} among the ones you added; `mcpproxy registry list` shows them")]
    NotFound(String),
    #[error("unknown protocol {0:?}; use modelcontextprotocol/registry or custom/docker")]
    BadProtocol(String),
    #[error(transparent)]
    Management(#[from] ManagementError),
}

impl RegistrySourceError {
    /// The stable code shared with the Go proxy's surfaces.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Locked => "registries_locked",
            Self::InvalidUrl(_) | Self::BadProtocol(_) => "invalid_registry_url",
            Self::ShadowsBuiltin(_) => "registry_shadows_builtin",
            Self::Duplicate(_) => "duplicate_registry",
            Self::NotFound(_) => "registry_not_found",
            Self::Management(ManagementError::Forbidden(gate)) => gate.code(),
            Self::Management(_) => "config_error",
        }
    }
}

/// A source URL must be https and public; a trusted local registry needs
/// `allow_private_registry_fetch`, which also lets it be plain http.
fn check_source_url(url: &str, allow_private: bool) -> Result<(), RegistrySourceError> {
    check_url(url, !allow_private, allow_private)
        .map_err(|e| RegistrySourceError::InvalidUrl(e.to_string()))
}

impl ManagementService {
    /// Applies `change` to the registry list under the write lock and saves, after the
    /// gates of any config change and `registries_locked`.
    async fn change_registries<T>(
        &self,
        caller: Caller,
        what: &str,
        id: &str,
        change: impl FnOnce(&mut Vec<RegistrySource>, bool) -> Result<T, RegistrySourceError>,
    ) -> Result<T, RegistrySourceError> {
        let value = {
            let _guard = self.write.lock().await;
            self.gate(Action::ChangeConfig, &caller)?;
            let mut config = (*self.config.current()).clone();
            if config.registries_locked {
                return Err(RegistrySourceError::Locked);
            }
            let allow_private = config.allow_private_registry_fetch;
            let value = change(&mut config.registries, allow_private)?;
            self.config
                .save(config)
                .await
                .map_err(ManagementError::from)?;
            value
        };
        let draft = ActivityDraft::new(
            ActivityKind::ConfigChange,
            caller.source(),
            ActivityStatus::Success,
        )
        .meta("action", what)
        .meta("registry", id);
        self.activity.record_or_log(draft).await;
        Ok(value)
    }

    /// Adds a registry source the user trusts; its id comes from the host when not given.
    pub async fn add_registry(
        &self,
        new: NewRegistry,
        caller: impl Into<Caller>,
    ) -> Result<RegistrySource, RegistrySourceError> {
        let url = new.url.trim().to_owned();
        let id = new
            .id
            .filter(|i| !i.trim().is_empty())
            .unwrap_or_else(|| id_from_url(&url));
        let protocol = new.protocol.unwrap_or_default();
        if !protocol.is_empty() && protocol != PROTOCOL_OFFICIAL && protocol != PROTOCOL_DOCKER {
            return Err(RegistrySourceError::BadProtocol(protocol));
        }
        if id.is_empty() {
            return Err(RegistrySourceError::InvalidUrl(format!(
                "{url:?} has no host to name the registry by"
            )));
        }
        if is_builtin(&id) {
            return Err(RegistrySourceError::ShadowsBuiltin(id));
        }
        let entry = RegistrySource {
            name: new
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.clone()),
            id: id.clone(),
            description: String::new(),
            url,
            servers_url: new.servers_url.unwrap_or_default(),
            tags: Vec::new(),
            protocol,
            count: None,
            requires_key: false,
            extra: Map::new(),
        };
        self.change_registries(caller.into(), "add_registry", &id, |list, allow_private| {
            check_source_url(&entry.url, allow_private)?;
            if !entry.servers_url.is_empty() {
                check_source_url(&entry.servers_url, allow_private)?;
            }
            if list.iter().any(|r| r.id == entry.id) {
                return Err(RegistrySourceError::Duplicate(entry.id.clone()));
            }
            list.push(entry.clone());
            Ok(entry)
        })
        .await
    }

    /// Changes a registry source the user added. A new URL re-derives the servers URL
    /// unless one is given.
    pub async fn edit_registry(
        &self,
        id: &str,
        edit: RegistryEdit,
        caller: impl Into<Caller>,
    ) -> Result<RegistrySource, RegistrySourceError> {
        if is_builtin(id) {
            return Err(RegistrySourceError::ShadowsBuiltin(id.to_owned()));
        }
        self.change_registries(caller.into(), "edit_registry", id, |list, allow_private| {
            let entry = list
                .iter_mut()
                .find(|r| r.id == id)
                .ok_or_else(|| RegistrySourceError::NotFound(id.to_owned()))?;
            if let Some(url) = edit.url.filter(|u| !u.trim().is_empty()) {
                check_source_url(url.trim(), allow_private)?;
                entry.url = url.trim().to_owned();
                entry.servers_url.clear();
            }
            if let Some(servers_url) = edit.servers_url.filter(|u| !u.trim().is_empty()) {
                check_source_url(servers_url.trim(), allow_private)?;
                entry.servers_url = servers_url.trim().to_owned();
            }
            if let Some(name) = edit.name.filter(|n| !n.trim().is_empty()) {
                entry.name = name.trim().to_owned();
            }
            Ok(entry.clone())
        })
        .await
    }

    /// Removes a registry source the user added; servers added from it stay.
    pub async fn remove_registry(
        &self,
        id: &str,
        caller: impl Into<Caller>,
    ) -> Result<RegistrySource, RegistrySourceError> {
        if is_builtin(id) {
            return Err(RegistrySourceError::ShadowsBuiltin(id.to_owned()));
        }
        self.change_registries(caller.into(), "remove_registry", id, |list, _| {
            let at = list
                .iter()
                .position(|r| r.id == id)
                .ok_or_else(|| RegistrySourceError::NotFound(id.to_owned()))?;
            Ok(list.remove(at))
        })
        .await
    }
}
