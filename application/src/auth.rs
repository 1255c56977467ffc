//! Logging in to upstream servers: the use cases behind `mcpproxy auth …`, the REST
//! `login` / `logout` actions and the OAuth callback. The OAuth work itself (discovery,
//! registration, PKCE, tokens) is the [`OAuthProvider`]'s; here are the rules around it:
//! only remote servers log in, a finished login reconnects the server, a logout disconnects
//! it and it stays so (no reconnect) until the next login.

use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::{Caller, DomainEvent, ServerConfig, ServerName};
use serde::Serialize;

use crate::activity::{ActivityDraft, ActivityLog};
use crate::gates::{self, Action, Gate};
use crate::ports::{
    ConfigStore, EventPublisher, LoginStarted, OAuthError, OAuthProvider, OAuthStatus, UpstreamPool,
};
use crate::settings::LiveSettings;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthRefusal {
    #[error("server {0:?} is not configured; `mcpproxy upstream list` shows the servers")]
    UnknownServer(String),
    #[error("server {0} is a local (stdio) server; only remote servers log in")]
    Local(ServerName),
    #[error("server {0} is disabled; enable it first")]
    Disabled(ServerName),
    /// Added by an agent and not reviewed yet: the proxy contacts it for nothing.
    #[error("{}", crate::launch::Hold::AwaitingReview.explain(.0.as_str()))]
    AwaitingReview(ServerName),
    #[error("{0}")]
    Forbidden(Gate),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

/// A server's login state, for `auth status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerAuth {
    pub server: String,
    pub url: String,
    /// Configured with an `oauth` block (else OAuth starts when the server asks for it).
    pub oauth_configured: bool,
    #[serde(flatten)]
    pub status: OAuthStatus,
}

pub struct AuthService {
    /// Servers logged out by someone: no login starts for them on its own.
    logged_out: std::sync::Mutex<std::collections::HashSet<ServerName>>,
    config: Arc<dyn ConfigStore>,
    settings: LiveSettings,
    provider: Arc<dyn OAuthProvider>,
    upstream: Arc<dyn UpstreamPool>,
    events: Arc<dyn EventPublisher>,
    activity: Arc<ActivityLog>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl AuthService {
    pub fn new(
        config: Arc<dyn ConfigStore>,
        provider: Arc<dyn OAuthProvider>,
        upstream: Arc<dyn UpstreamPool>,
        events: Arc<dyn EventPublisher>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            logged_out: std::sync::Mutex::default(),
            settings: LiveSettings::new(config.clone()),
            config,
            provider,
            upstream,
            events,
            activity,
        }
    }

    /// The remote server `name`, enabled.
    fn remote(&self, name: &str) -> Result<ServerConfig, AuthRefusal> {
        let config = self.config.current();
        let server = config
            .servers
            .iter()
            .find(|s| s.name.as_str() == name)
            .ok_or_else(|| AuthRefusal::UnknownServer(name.to_owned()))?;
        if server.url.is_empty() {
            return Err(AuthRefusal::Local(server.name.clone()));
        }
        match crate::launch::hold(server) {
            Some(crate::launch::Hold::Disabled) => {
                return Err(AuthRefusal::Disabled(server.name.clone()));
            }
            Some(crate::launch::Hold::AwaitingReview) => {
                return Err(AuthRefusal::AwaitingReview(server.name.clone()));
            }
            None => {}
        }
        Ok(server.clone())
    }

    async fn audit(
        &self,
        server: &ServerName,
        source: Source,
        action: &str,
        status: ActivityStatus,
    ) {
        let draft = ActivityDraft::new(ActivityKind::ServerChange, source, status)
            .server(server.as_str())
            .meta("action", action);
        self.activity.record_or_log(draft).await;
    }

    fn logged_out(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<ServerName>> {
        self.logged_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the gates let `caller` log a server in or out.
    fn gate(&self, caller: &Caller) -> Result<(), AuthRefusal> {
        gates::check(&self.settings.current(), Action::Authenticate, caller)
            .map_err(AuthRefusal::Forbidden)
    }

    /// Starts a login to `name` (or joins the one under way).
    pub async fn login(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<LoginStarted, AuthRefusal> {
        let caller = caller.into();
        self.gate(&caller)?;
        self.login_with(name, None, caller.source()).await
    }

    /// The login the proxy starts itself when a server asks for authorization — unless
    /// someone logged the server out, which holds until they log in again.
    pub async fn login_when_asked(
        &self,
        server: &ServerName,
        challenge: Option<String>,
    ) -> Option<LoginStarted> {
        if self.logged_out().contains(server) {
            return None;
        }
        match self
            .login_with(server.as_str(), challenge, Source::Internal)
            .await
        {
            Ok(started) => Some(started),
            Err(e) => {
                tracing::warn!(%server, "cannot start the login the server asks for: {e}");
                None
            }
        }
    }

    /// Starts a login seeded with the server's `WWW-Authenticate` challenge: what it asked
    /// for when it refused the proxy.
    async fn login_with(
        &self,
        name: &str,
        challenge: Option<String>,
        source: Source,
    ) -> Result<LoginStarted, AuthRefusal> {
        let server = self.remote(name)?;
        if source != Source::Internal {
            self.logged_out().remove(&server.name);
        }
        let started = self.provider.start_login(&server, challenge).await?;
        self.upstream.auth_started(&server.name).await;
        if !started.joined {
            self.events.publish(DomainEvent::LoginStarted {
                server: server.name.clone(),
                url: started.url.clone(),
            });
            self.audit(
                &server.name,
                source,
                "login_started",
                ActivityStatus::Success,
            )
            .await;
        }
        Ok(started)
    }

    /// Finishes the login the authorization server redirected back for, and connects the
    /// server with its new token.
    pub async fn complete(&self, state: &str, code: &str) -> Result<ServerName, AuthRefusal> {
        let server = self.provider.complete_login(state, code).await?;
        self.audit(
            &server,
            Source::Internal,
            "login_completed",
            ActivityStatus::Success,
        )
        .await;
        if let Err(e) = self.upstream.restart(&server).await {
            tracing::warn!(%server, "logged in, but reconnecting failed: {e}");
        }
        Ok(server)
    }

    /// Forgets the server's tokens and drops its connection; it waits for the next login.
    pub async fn logout(&self, name: &str, caller: impl Into<Caller>) -> Result<(), AuthRefusal> {
        let caller = caller.into();
        let source = caller.source();
        self.gate(&caller)?;
        let server = self.remote(name)?;
        self.logged_out().insert(server.name.clone());
        self.provider.logout(&server.name).await?;
        self.audit(&server.name, source, "logout", ActivityStatus::Success)
            .await;
        if let Err(e) = self.upstream.restart(&server.name).await {
            tracing::warn!(server = %server.name, "logged out, but disconnecting failed: {e}");
        }
        Ok(())
    }

    /// The login state of every remote server.
    pub async fn status(&self) -> Vec<ServerAuth> {
        let config = self.config.current();
        let mut out = Vec::new();
        for server in config.servers.iter().filter(|s| !s.url.is_empty()) {
            out.push(ServerAuth {
                server: server.name.to_string(),
                url: server.url.clone(),
                oauth_configured: server.oauth.is_some(),
                status: self.provider.status(&server.name).await,
            });
        }
        out
    }
}
