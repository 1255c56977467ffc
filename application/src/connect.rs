//! Pointing AI clients at the proxy: `mcpproxy connect|disconnect` and `/api/v1/connect`.
//!
//! The service decides what the clients are pointed at — the proxy's MCP endpoint at the
//! address it listens on, with the API key only when the endpoint asks for one — and records
//! every change; the client adapter knows each client's file and format.

use std::sync::Arc;

use mcpproxy_domain::Caller;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use serde::Serialize;

use crate::activity::{ActivityDraft, ActivityLog};
use crate::gates::{self, Action, Gate};
use crate::ports::{
    ClientChange, ClientConfigs, ClientError, ClientStatus, ConfigStore, ProxyEndpoint,
};
use crate::settings::LiveSettings;

/// Why a client was not connected or disconnected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Forbidden(Gate),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The name of the proxy's entry in a client's config unless another is asked for.
pub const DEFAULT_ENTRY_NAME: &str = "mcpproxy";

/// Where this machine reaches a listen address: `:8080` or `0.0.0.0:8080` (every
/// interface) is `127.0.0.1:8080`.
pub fn reachable(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host.trim_matches(['[', ']']) {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "[::1]",
        _ => host,
    };
    format!("{host}:{port}")
}

/// One client's outcome of `connect --all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientOutcome {
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ClientChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct ClientService {
    settings: LiveSettings,
    clients: Arc<dyn ClientConfigs>,
    activity: Arc<ActivityLog>,
}

impl std::fmt::Debug for ClientService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientService").finish_non_exhaustive()
    }
}

fn entry_name(name: Option<&str>) -> &str {
    name.map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_ENTRY_NAME)
}

impl ClientService {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        clients: Arc<dyn ClientConfigs>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            settings: LiveSettings::new(config),
            clients,
            activity,
        }
    }

    /// What a client's entry points at.
    pub fn endpoint(&self) -> ProxyEndpoint {
        let config = self.settings.document();
        ProxyEndpoint {
            url: format!("http://{}/mcp", reachable(&config.listen)),
            api_key: (config.require_mcp_auth && !config.api_key.is_empty())
                .then(|| config.api_key.clone()),
        }
    }

    /// Every client with its file and whether it is connected (its file read now; a file
    /// that cannot be read says why).
    pub async fn list(&self, name: Option<&str>) -> Vec<ClientStatus> {
        let mut out = Vec::new();
        for client in self.clients.clients() {
            out.push(
                match self.clients.status(&client.id, entry_name(name)).await {
                    Ok(status) => status,
                    Err(e) => ClientStatus {
                        error: Some(e.to_string()),
                        ..client
                    },
                },
            );
        }
        out
    }

    pub async fn status(
        &self,
        client: &str,
        name: Option<&str>,
    ) -> Result<ClientStatus, ClientError> {
        self.clients.status(client, entry_name(name)).await
    }

    async fn audit(&self, source: Source, change: &ClientChange) {
        let draft = ActivityDraft::new(ActivityKind::ConfigChange, source, ActivityStatus::Success)
            .meta("action", change.action.clone())
            .meta("client", change.client.clone())
            .meta("path", change.config_path.clone());
        self.activity.record_or_log(draft).await;
    }

    fn gate(&self, caller: &Caller) -> Result<(), ConnectError> {
        gates::check(&self.settings.current(), Action::ConnectClients, caller)
            .map_err(ConnectError::Forbidden)
    }

    /// Writes the proxy's entry into a client's config; an entry of that name that points
    /// elsewhere is replaced only with `force`.
    pub async fn connect(
        &self,
        client: &str,
        name: Option<&str>,
        force: bool,
        caller: impl Into<Caller>,
    ) -> Result<ClientChange, ConnectError> {
        let caller = caller.into();
        self.gate(&caller)?;
        let source = caller.source();
        let change = self
            .clients
            .connect(client, entry_name(name), &self.endpoint(), force)
            .await?;
        if change.backup_path.is_some() || change.action == "connected" {
            self.audit(source, &change).await;
        }
        Ok(change)
    }

    /// Connects every client whose config file exists.
    pub async fn connect_all(
        &self,
        name: Option<&str>,
        force: bool,
        caller: impl Into<Caller>,
    ) -> Result<Vec<ClientOutcome>, ConnectError> {
        let caller = caller.into();
        self.gate(&caller)?;
        let mut out = Vec::new();
        for client in self.clients.clients() {
            // Only clients that are set up on this machine: no config is made for an app
            // that is not there.
            if !client.exists {
                out.push(ClientOutcome {
                    error: Some(format!(
                        "skipped: no config at {}; `mcpproxy connect {}` creates one",
                        client.config_path, client.id
                    )),
                    client: client.id,
                    result: None,
                });
                continue;
            }
            let outcome = match self.connect(&client.id, name, force, caller.clone()).await {
                Ok(change) => ClientOutcome {
                    client: client.id,
                    result: Some(change),
                    error: None,
                },
                Err(e) => ClientOutcome {
                    client: client.id,
                    result: None,
                    error: Some(e.to_string()),
                },
            };
            out.push(outcome);
        }
        Ok(out)
    }

    /// Removes the proxy's entry from a client's config.
    pub async fn disconnect(
        &self,
        client: &str,
        name: Option<&str>,
        caller: impl Into<Caller>,
    ) -> Result<ClientChange, ConnectError> {
        let caller = caller.into();
        self.gate(&caller)?;
        let source = caller.source();
        let change = self.clients.disconnect(client, entry_name(name)).await?;
        if change.backup_path.is_some() {
            self.audit(source, &change).await;
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_is_reached_on_loopback() {
        assert_eq!(reachable(":8080"), "127.0.0.1:8080");
        assert_eq!(reachable("0.0.0.0:9"), "127.0.0.1:9");
        assert_eq!(reachable("[::]:9"), "[::1]:9");
        assert_eq!(reachable("127.0.0.1:9"), "127.0.0.1:9");
    }
}
