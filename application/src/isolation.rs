//! How each stdio server is isolated, and what this machine offers to isolate them: the
//! facts the REST API, the command line and the doctor show. The rules (which mode a server
//! gets) are the domain's; the machine is looked at through the [`IsolationProbe`] port.

use std::sync::Arc;

use mcpproxy_domain::{Config, IsolationMode, IsolationView, ServerConfig, ServerName, Transport};
use serde::Serialize;

use crate::ports::{ConfigStore, DockerFacts, IsolationProbe, SandboxFacts};

/// A stdio server's isolation as shown; remote servers have none of ours.
pub fn isolation_view(config: &Config, server: &ServerConfig) -> Option<IsolationView> {
    (server.transport() == Ok(Transport::Stdio)).then(|| config.isolation(server).view())
}

/// One server's isolation and whether the machine can give it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerIsolation {
    pub name: ServerName,
    pub isolation: IsolationView,
    /// False when the server asks for Docker or a sandbox this machine cannot give: it is
    /// not started (never run unprotected) until that changes.
    pub available: bool,
}

/// Everything about isolation at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IsolationReport {
    /// The mode of stdio servers that do not set their own (`docker_isolation`).
    pub default_mode: IsolationMode,
    pub docker: DockerFacts,
    pub sandbox: SandboxFacts,
    /// Every stdio server.
    pub servers: Vec<ServerIsolation>,
}

/// `GET /api/v1/docker/status`, in the Go proxy's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DockerStatus {
    pub docker_available: bool,
    /// Docker is the default mode of stdio servers.
    pub isolation_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The `MCPX_DOCKER_*` code of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

pub struct IsolationService {
    config: Arc<dyn ConfigStore>,
    probe: Arc<dyn IsolationProbe>,
}

impl std::fmt::Debug for IsolationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolationService").finish_non_exhaustive()
    }
}

fn default_mode(config: &Config) -> IsolationMode {
    config
        .docker_isolation
        .as_ref()
        .and_then(|d| d.mode())
        .unwrap_or(IsolationMode::None)
}

impl IsolationService {
    pub fn new(config: Arc<dyn ConfigStore>, probe: Arc<dyn IsolationProbe>) -> Self {
        Self { config, probe }
    }

    pub async fn report(&self) -> IsolationReport {
        let config = self.config.current();
        let facts = self.probe.facts().await;
        let servers = config
            .servers
            .iter()
            .filter_map(|s| {
                let isolation = isolation_view(&config, s)?;
                let available = match isolation.mode {
                    IsolationMode::None => true,
                    IsolationMode::Docker => facts.docker.available,
                    IsolationMode::Sandbox if isolation.network_mode.as_deref() == Some("host") => {
                        facts.sandbox.backend_with_network.is_some()
                    }
                    IsolationMode::Sandbox => facts.sandbox.available,
                };
                Some(ServerIsolation {
                    name: s.name.clone(),
                    isolation,
                    available,
                })
            })
            .collect();
        IsolationReport {
            default_mode: default_mode(&config),
            docker: facts.docker,
            sandbox: facts.sandbox,
            servers,
        }
    }

    pub async fn docker_status(&self) -> DockerStatus {
        let config = self.config.current();
        let docker = self.probe.facts().await.docker;
        DockerStatus {
            docker_available: docker.available,
            isolation_enabled: default_mode(&config) == IsolationMode::Docker,
            version: docker.server_version,
            last_error: docker.problem.as_ref().map(|p| p.reason.clone()),
            code: docker.problem.map(|p| p.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{IsolationFacts, IsolationProblem, MockIsolationProbe};
    use crate::testkit::Mem;
    use serde_json::json;

    fn facts(docker: bool) -> IsolationFacts {
        IsolationFacts {
            docker: DockerFacts {
                available: docker,
                cli_path: Some("/usr/bin/docker".into()),
                server_version: docker.then(|| "28.0".into()),
                docker_host: None,
                problem: (!docker).then(|| IsolationProblem {
                    code: "MCPX_DOCKER_DAEMON_DOWN".into(),
                    reason: "Cannot connect to the Docker daemon".into(),
                    fix: "start it".into(),
                }),
            },
            sandbox: SandboxFacts {
                available: false,
                backend: None,
                backend_with_network: Some("landlock".into()),
                bwrap_path: None,
                bwrap_error: None,
                landlock_abi: Some(3),
                landlock_error: None,
                problem: None,
            },
        }
    }

    #[tokio::test]
    async fn the_report_says_which_servers_the_machine_can_isolate() {
        let mem = Arc::new(Mem::default());
        *mem.config.lock().unwrap() = serde_json::from_value(json!({
            "docker_isolation": {"enabled": true},
            "mcpServers": [
                {"name": "boxed", "command": "npx"},
                {"name": "sandboxed", "command": "x", "isolation": {"mode": "sandbox"}},
                {"name": "online", "command": "x", "isolation": {"mode": "sandbox", "network_mode": "host"}},
                {"name": "trusted", "command": "x", "isolation": {"mode": "none"}},
                {"name": "remote", "url": "https://example.com/mcp"}
            ]
        }))
        .unwrap();
        let mut probe = MockIsolationProbe::new();
        probe.expect_facts().returning(|| facts(false));
        let service = IsolationService::new(mem.clone(), Arc::new(probe));
        let report = service.report().await;
        assert_eq!(report.default_mode, IsolationMode::Docker);
        let available: Vec<(&str, bool)> = report
            .servers
            .iter()
            .map(|s| (s.name.as_str(), s.available))
            .collect();
        assert_eq!(
            available,
            [
                ("boxed", false),
                ("sandboxed", false),
                ("online", true),
                ("trusted", true)
            ],
            "remote servers are not listed"
        );
        let status = service.docker_status().await;
        assert!(!status.docker_available && status.isolation_enabled);
        assert_eq!(status.code.as_deref(), Some("MCPX_DOCKER_DAEMON_DOWN"));
    }
}
