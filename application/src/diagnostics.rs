//! The doctor: what is wrong with the proxy and its servers now, each finding with a stable
//! `MCPX_*` code (the domain's catalog), its cause, the server it concerns and what to do —
//! and the fixes `doctor fix CODE` can really make (restart a server whose cause is gone,
//! start a login, make the data directory private again). The same report serves the CLI,
//! REST and the web panel.
//!
//! It reads the running state (each server's connection and last error, its login, its
//! tool approvals, Docker and the sandbox) and checks on the machine what a start would need
//! (the command on PATH, the secrets, the working directory), through ports. Without a
//! running proxy (`doctor` on the command line alone) it checks what can be checked: the
//! config, the commands, the secrets, the data directory and the listen address.

use std::sync::Arc;

use mcpproxy_domain::diagnostics::{self as catalog, CodeInfo, FixAction, Severity};
use mcpproxy_domain::{
    ApprovalState, Caller, ConnectionState, IsolationMode, ServerConfig, ServerName,
};
use serde::{Deserialize, Serialize};

use crate::AuthService;
use crate::auth::AuthRefusal;
use crate::gates::{self, Action, Gate};
use crate::isolation::isolation_view;
use crate::management::{ManagementError, ManagementService};
use crate::ports::{
    ApprovalRepository, ConfigStore, HostProbe, IsolationProbe, LaunchCheck, OAuthProvider,
    UpstreamPool,
};
use crate::settings::LiveSettings;

/// One thing that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Named apart from the tool scanner's `Finding` in the OpenAPI spec.
#[cfg_attr(feature = "openapi", schema(as = DiagnosticFinding))]
pub struct Finding {
    /// The stable `MCPX_*` code.
    pub code: String,
    pub severity: Severity,
    /// The server it concerns; none for the proxy itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The cause, in one line (the catalog's).
    pub cause: String,
    /// What exactly was seen (the error, the PATH used, the secret's name …).
    pub detail: String,
    /// What to do.
    pub fix: String,
    /// `mcpproxy doctor fix CODE` can fix it.
    pub fixable: bool,
    /// What `doctor fix` does (restart, login, tighten_data_dir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_action: Option<FixAction>,
    /// The server's last stderr lines, for a server that failed to start.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stderr: Vec<String>,
    pub docs_url: String,
}

/// What the doctor found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiagnosticsReport {
    /// The report comes from a running proxy (else: the command line's own checks).
    pub proxy_running: bool,
    /// How many servers were looked at.
    pub servers_checked: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl DiagnosticsReport {
    fn new(proxy_running: bool, servers_checked: usize, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.server.cmp(&b.server))
                .then_with(|| a.code.cmp(&b.code))
        });
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        Self {
            proxy_running,
            servers_checked,
            errors: count(Severity::Error),
            warnings: count(Severity::Warn),
            findings,
        }
    }

    /// The report of a config file that cannot be read: nothing else can be checked.
    pub fn config_unreadable(reason: &str) -> Self {
        Self::new(
            false,
            0,
            vec![finding(
                catalog::CONFIG_PARSE_ERROR,
                None,
                reason.to_owned(),
            )],
        )
    }
}

/// What a fix did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FixOutcome {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub action: FixAction,
    /// What was done, for people.
    pub message: String,
    /// The login to open, for a login fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
}

/// Why a fix was not made. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiagnosticsError {
    #[error("{0:?} is not a doctor code; `mcpproxy doctor list-codes` lists them")]
    UnknownCode(String),
    #[error("server {0:?} not found; `mcpproxy upstream list` shows the configured servers")]
    UnknownServer(String),
    #[error("{code} cannot be fixed automatically; fix it by hand: {fix}")]
    NotFixable { code: String, fix: &'static str },
    #[error("{0} concerns a server: name it (--server NAME, or \"server\" in the request)")]
    NeedsServer(String),
    #[error("{code} is still there for server {server}: {detail}; {fix}")]
    StillBroken {
        code: &'static str,
        server: String,
        detail: String,
        fix: &'static str,
    },
    #[error("{0}")]
    Forbidden(Gate),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Management(#[from] ManagementError),
    #[error(transparent)]
    Auth(#[from] AuthRefusal),
}

fn finding(code: &'static str, server: Option<&ServerName>, detail: String) -> Finding {
    // Every code used here is in the catalog (a unit test walks them); an unknown one would
    // still be reported, as unclassified.
    let info: &CodeInfo = catalog::info(code)
        .or_else(|| catalog::info(catalog::UNKNOWN_UNCLASSIFIED))
        .unwrap_or(&catalog::CATALOG[0]);
    Finding {
        code: code.to_owned(),
        severity: info.severity,
        server: server.map(ToString::to_string),
        cause: info.cause.to_owned(),
        detail,
        fix: info
            .fix
            .replace("<server>", server.map_or("<server>", ServerName::as_str)),
        fixable: info.fix_action.is_some(),
        fix_action: info.fix_action,
        stderr: Vec::new(),
        docs_url: catalog::docs_url(code),
    }
}

/// A missing `npx`, `uvx`, `python` … is a missing runtime: say which and how to get it.
fn name_the_runtime(f: &mut Finding, server: &ServerConfig) {
    if f.code != catalog::STDIO_SPAWN_ENOENT {
        return;
    }
    if let Some((runtime, install)) = catalog::runtime_of(&server.command) {
        f.cause = format!("{}: the {runtime} runtime is missing", f.cause);
        f.fix = format!(
            "{install}; then `mcpproxy doctor fix {} --server {}` restarts the server",
            f.code, server.name
        );
    }
}

/// The running proxy's parts the doctor reads.
pub struct Running {
    pub upstream: Arc<dyn UpstreamPool>,
    pub oauth: Arc<dyn OAuthProvider>,
    pub isolation: Arc<dyn IsolationProbe>,
    pub approvals: Arc<dyn ApprovalRepository>,
    pub management: Arc<ManagementService>,
    pub auth: Arc<AuthService>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

pub struct DiagnosticsService {
    config: Arc<dyn ConfigStore>,
    settings: LiveSettings,
    host: Arc<dyn HostProbe>,
    running: Option<Running>,
}

impl std::fmt::Debug for DiagnosticsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagnosticsService").finish_non_exhaustive()
    }
}

/// The catalog as `doctor list-codes` shows it.
pub fn codes() -> &'static [CodeInfo] {
    catalog::CATALOG
}

impl DiagnosticsService {
    /// The doctor of a running proxy.
    pub fn new(config: Arc<dyn ConfigStore>, host: Arc<dyn HostProbe>, running: Running) -> Self {
        Self {
            settings: LiveSettings::new(config.clone()),
            config,
            host,
            running: Some(running),
        }
    }

    /// The command line's doctor when no proxy runs: the config, the machine, no state.
    pub fn offline(config: Arc<dyn ConfigStore>, host: Arc<dyn HostProbe>) -> Self {
        Self {
            settings: LiveSettings::new(config.clone()),
            config,
            host,
            running: None,
        }
    }

    /// Everything wrong now; `server` narrows it to one server (and leaves out the proxy's
    /// own findings).
    pub async fn diagnose(
        &self,
        server: Option<&str>,
    ) -> Result<DiagnosticsReport, DiagnosticsError> {
        let config = self.config.current();
        let servers: Vec<&ServerConfig> = match server {
            Some(name) => vec![
                config
                    .servers
                    .iter()
                    .find(|s| s.name.as_str() == name)
                    .ok_or_else(|| DiagnosticsError::UnknownServer(name.to_owned()))?,
            ],
            None => config.servers.iter().collect(),
        };
        let mut findings = Vec::new();
        if server.is_none() {
            let dir = self.host.data_dir();
            if let Some(problem) = dir.problem {
                findings.push(finding(
                    catalog::SYSTEM_DATA_DIR_PERMISSIONS,
                    None,
                    format!("{}: {problem}", dir.path),
                ));
            }
            if self.running.is_none()
                && let Some(reason) = self.host.address_taken(&config.listen)
            {
                findings.push(finding(catalog::NETWORK_PORT_IN_USE, None, reason));
            }
        }
        let facts = match &self.running {
            Some(r) => Some(r.isolation.facts().await),
            None => None,
        };
        for s in &servers {
            findings.extend(self.server_findings(&config, s, facts.as_ref()).await);
        }
        Ok(DiagnosticsReport::new(
            self.running.is_some(),
            servers.len(),
            findings,
        ))
    }

    async fn server_findings(
        &self,
        config: &mcpproxy_domain::Config,
        server: &ServerConfig,
        facts: Option<&crate::ports::IsolationFacts>,
    ) -> Vec<Finding> {
        let name = &server.name;
        let mut out: Vec<Finding> = Vec::new();
        let mut add = |f: Finding| {
            if !out.iter().any(|o| o.code == f.code) {
                out.push(f);
            }
        };
        if server.is_quarantined() {
            add(finding(
                catalog::QUARANTINE_PENDING_APPROVAL,
                Some(name),
                format!("server {name} is quarantined"),
            ));
        }
        if !server.enabled {
            return out;
        }
        if let (Some(facts), Some(view)) = (facts, isolation_view(config, server)) {
            let problem = match view.mode {
                IsolationMode::Docker if !facts.docker.available => facts.docker.problem.as_ref(),
                IsolationMode::Sandbox if !facts.sandbox.available => {
                    facts.sandbox.problem.as_ref()
                }
                _ => None,
            };
            if let Some(p) = problem {
                let code = catalog::info(&p.code).map_or(catalog::UNKNOWN_UNCLASSIFIED, |c| c.code);
                add(finding(code, Some(name), p.reason.clone()));
            }
        }
        // What a start needs, checked on the machine now: a missing command shows even
        // while the server waits for its next retry.
        if let LaunchCheck::Problem { reason } = self.host.launch_check(config, server).await {
            add(finding(catalog::classify(&reason), Some(name), reason));
        }
        if let Some(running) = &self.running {
            self.running_findings(running, server)
                .await
                .into_iter()
                .for_each(&mut add);
        }
        for f in &mut out {
            name_the_runtime(f, server);
        }
        out
    }

    async fn running_findings(&self, running: &Running, server: &ServerConfig) -> Vec<Finding> {
        let name = &server.name;
        let mut out = Vec::new();
        let runtime = running.upstream.status(name);
        let state = runtime.as_ref().map(|r| r.state);
        let last_error = runtime.and_then(|r| r.last_error);
        match state {
            // Waiting for a login, or with one under way (the proxy starts one itself when
            // a server asks): why, from the OAuth layer when it knows.
            Some(ConnectionState::PendingAuth | ConnectionState::Authenticating) => {
                let login = running.oauth.status(name).await;
                let (code, mut detail) = match &login.last_error {
                    Some(e) => match catalog::classify(e) {
                        code if code.starts_with("MCPX_OAUTH_") => (code, e.clone()),
                        _ => (catalog::OAUTH_REAUTH_REQUIRED, e.clone()),
                    },
                    None => (
                        catalog::OAUTH_LOGIN_REQUIRED,
                        last_error
                            .clone()
                            .unwrap_or_else(|| format!("server {name} waits for a login")),
                    ),
                };
                if let Some(url) = &login.pending_url {
                    detail = format!("{detail}; a login is under way: {url}");
                }
                out.push(finding(code, Some(name), detail));
            }
            Some(ConnectionState::DockerUnavailable) => out.push(finding(
                catalog::DOCKER_DAEMON_DOWN,
                Some(name),
                last_error
                    .clone()
                    .unwrap_or_else(|| "Docker does not answer".to_owned()),
            )),
            Some(s) if !s.is_connected() => {
                if let Some(error) = &last_error {
                    let mut f = finding(catalog::classify(error), Some(name), error.clone());
                    f.stderr = catalog::quoted_stderr(error);
                    out.push(f);
                }
            }
            _ => {}
        }
        let waits_for_login = matches!(
            state,
            Some(ConnectionState::PendingAuth | ConnectionState::Authenticating)
        );
        if !server.url.is_empty() && !waits_for_login {
            let login = running.oauth.status(name).await;
            if let Some(e) = &login.last_error {
                let code = catalog::classify(e);
                if code.starts_with("MCPX_OAUTH_") {
                    out.push(finding(code, Some(name), e.clone()));
                }
            }
        }
        match running.approvals.for_server(name).await {
            Ok(approvals) => {
                let count = |s| approvals.iter().filter(|a| a.state == s).count();
                let (pending, changed) =
                    (count(ApprovalState::Pending), count(ApprovalState::Changed));
                if changed > 0 {
                    out.push(finding(
                        catalog::QUARANTINE_TOOL_CHANGED,
                        Some(name),
                        format!("{changed} tool(s) of {name} changed since they were approved"),
                    ));
                }
                if pending > 0 && !server.is_quarantined() {
                    out.push(finding(
                        catalog::QUARANTINE_PENDING_APPROVAL,
                        Some(name),
                        format!("{pending} tool(s) of {name} wait for approval"),
                    ));
                }
            }
            Err(e) => tracing::warn!(server = %name, "the doctor cannot read tool approvals: {e}"),
        }
        out
    }

    /// Makes the fix `code` names, for `server` when it concerns one.
    pub async fn fix(
        &self,
        code: &str,
        server: Option<&str>,
        caller: impl Into<Caller>,
    ) -> Result<FixOutcome, DiagnosticsError> {
        let caller = caller.into();
        let info =
            catalog::info(code).ok_or_else(|| DiagnosticsError::UnknownCode(code.to_owned()))?;
        let Some(action) = info.fix_action else {
            return Err(DiagnosticsError::NotFixable {
                code: info.code.to_owned(),
                fix: info.fix,
            });
        };
        let outcome = |server: Option<&str>, message: String, login_url| FixOutcome {
            code: info.code.to_owned(),
            server: server.map(str::to_owned),
            action,
            message,
            login_url,
        };
        if action == FixAction::TightenDataDir {
            gates::check(&self.settings.current(), Action::ChangeConfig, &caller)
                .map_err(DiagnosticsError::Forbidden)?;
            let dir = self.host.data_dir();
            if dir.problem.is_none() {
                return Ok(outcome(
                    None,
                    format!(
                        "{} is already private to its owner; nothing to do",
                        dir.path
                    ),
                    None,
                ));
            }
            self.host
                .tighten_data_dir()
                .map_err(DiagnosticsError::Failed)?;
            let after = self.host.data_dir();
            if let Some(problem) = after.problem {
                return Err(DiagnosticsError::Failed(format!(
                    "{}: {problem}",
                    after.path
                )));
            }
            return Ok(outcome(
                None,
                format!("{} is private to its owner again (mode 0700)", after.path),
                None,
            ));
        }
        let name = server.ok_or_else(|| DiagnosticsError::NeedsServer(info.code.to_owned()))?;
        let config = self.config.current();
        let server_config = config
            .servers
            .iter()
            .find(|s| s.name.as_str() == name)
            .ok_or_else(|| DiagnosticsError::UnknownServer(name.to_owned()))?;
        let Some(running) = &self.running else {
            return Err(DiagnosticsError::Failed(format!(
                "{} needs the running proxy to {}; start it with `mcpproxy serve`",
                info.code,
                if action == FixAction::Login {
                    "log in"
                } else {
                    "restart the server"
                }
            )));
        };
        match action {
            FixAction::Login => {
                let started = running.auth.login(name, caller).await?;
                let how = if started.browser_opened {
                    "opened in the browser"
                } else {
                    "open it in a browser"
                };
                Ok(outcome(
                    Some(name),
                    format!("login of {name} started: {how}"),
                    Some(started.url),
                ))
            }
            _ => {
                // A restart while the cause is still there would only fail again.
                if let LaunchCheck::Problem { reason } =
                    self.host.launch_check(&config, server_config).await
                {
                    let code = catalog::classify(&reason);
                    return Err(DiagnosticsError::StillBroken {
                        code,
                        server: name.to_owned(),
                        detail: reason,
                        fix: catalog::info(code).map_or(info.fix, |c| c.fix),
                    });
                }
                running.management.restart_server(name, caller).await?;
                Ok(outcome(
                    Some(name),
                    format!("server {name} is restarting"),
                    None,
                ))
            }
        }
    }
}

#[cfg(test)]
#[path = "diagnostics_tests.rs"]
mod tests;
