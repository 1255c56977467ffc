//! Agent tokens: creating, listing, revoking, regenerating and deleting them, and telling
//! who presents one.
//!
//! Nothing here decides what a token may reach: [`TokenService::authenticate`] turns a
//! presented token into its [`Caller`] (an agent under the token's
//! [`mcpproxy_domain::policy::Grant`]) and every listing, search and call asks the domain's
//! admission rule with that caller, as for any other. Managing tokens is an
//! [`Action::ManageTokens`] of the config gates (never for a caller under a scope).

use std::sync::Arc;

use mcpproxy_domain::activity::Source;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::policy::{Grant, ServerSet};
use mcpproxy_domain::token::{self, AgentToken, AuthIdentity, TokenSpecError, TokenStatus};
use mcpproxy_domain::{CallVariant, Caller, CallerKind, Timestamp};
use serde::{Deserialize, Serialize};

use crate::activity::{ActivityDraft, ActivityLog};
use crate::gates::{self, Action, Gate};
use crate::ports::{AgentTokenRepository, Clock, StorageError, TokenKeys};
use crate::settings::LiveSettings;

/// `last_used_at` is written at most this often per token, so a busy agent does not write
/// on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Spec(#[from] TokenSpecError),
    #[error("server {0:?} is not configured; `mcpproxy upstream list` shows the servers")]
    UnknownServer(String),
    #[error("profile {0:?} is not configured; the profiles are: {1}")]
    UnknownProfile(String, String),
    #[error(
        "a token named {0:?} exists already; pick another name, or `mcpproxy token delete {0}` first"
    )]
    Exists(String),
    #[error("no agent token named {0:?}; `mcpproxy token list` shows them")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(Gate),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a presented token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("unknown agent token; create one with `mcpproxy token create`")]
    Unknown,
    #[error("agent token {0:?} was revoked")]
    Revoked(String),
    #[error("agent token {0:?} has expired; `mcpproxy token regenerate {0}` issues a new one")]
    Expired(String),
    #[error("agent tokens cannot be checked now: {0}")]
    Unavailable(String),
}

/// What a new token is asked to be (the Go proxy's fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateToken {
    pub name: String,
    /// Server names, or `["*"]` for every server.
    pub allowed_servers: Vec<String>,
    /// Cumulative: `["read"]`, `["read","write"]` or `["read","write","destructive"]`.
    pub permissions: Vec<String>,
    /// `30d` (the default), `7d`, `12h`, … at most `365d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// Pins the token to one profile (a name from `profiles`): it never reaches beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_pin: Option<String>,
}

/// A token as people see it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub name: String,
    /// `mcp_agt_` and the first hex digits, to recognise the token.
    pub token_prefix: String,
    pub allowed_servers: Vec<String>,
    pub permissions: Vec<&'static str>,
    pub status: TokenStatus,
    pub revoked: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// The profile the token is pinned to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_pin: Option<String>,
}

/// A token just made: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// An agent that presented a valid token: its limits and who it is, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub grant: Grant,
    /// The profile the token is pinned to, and that profile's grant as the config has it
    /// now (a removed profile's reaches nothing).
    pub pin: Option<(String, Grant)>,
    pub identity: AuthIdentity,
}

impl Authenticated {
    /// The caller the rules see: an agent, through `source`, under the token's grant and
    /// its pinned profile's.
    pub fn caller(&self, source: Source) -> Caller {
        let caller = Caller::new(CallerKind::Agent, source).within(self.grant.clone());
        match &self.pin {
            Some((_, grant)) => caller.within(grant.clone()),
            None => caller,
        }
    }

    /// The profile the token is pinned to.
    pub fn profile_pin(&self) -> Option<&str> {
        self.pin.as_ref().map(|(name, _)| name.as_str())
    }
}

pub struct TokenService {
    repo: Arc<dyn AgentTokenRepository>,
    keys: Arc<dyn TokenKeys>,
    clock: Arc<dyn Clock>,
    settings: LiveSettings,
    activity: Arc<ActivityLog>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(
        repo: Arc<dyn AgentTokenRepository>,
        keys: Arc<dyn TokenKeys>,
        clock: Arc<dyn Clock>,
        config: Arc<dyn crate::ports::ConfigStore>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            repo,
            keys,
            clock,
            settings: LiveSettings::new(config),
            activity,
        }
    }

    fn gate(&self, caller: &Caller) -> Result<(), TokenError> {
        gates::check(&self.settings.current(), Action::ManageTokens, caller)
            .map_err(TokenError::Forbidden)
    }

    fn info(&self, t: &AgentToken) -> TokenInfo {
        TokenInfo {
            name: t.name.clone(),
            token_prefix: t.prefix.clone(),
            allowed_servers: t.server_list(),
            permissions: token::permissions(t.tier),
            status: t.status(self.clock.now()),
            revoked: t.revoked,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            profile_pin: t.profile_pin.clone(),
        }
    }

    async fn record(&self, caller: &Caller, name: &str, action: &'static str) {
        let draft = ActivityDraft::new(
            ActivityKind::ConfigChange,
            caller.source(),
            ActivityStatus::Success,
        )
        .meta("action", action)
        .meta("token", name);
        self.activity.record_or_log(draft).await;
    }

    /// A fresh secret and the record that stands for it.
    fn mint(
        &self,
        name: &str,
        servers: ServerSet,
        tier: CallVariant,
        lifetime_ms: i64,
        profile_pin: Option<String>,
    ) -> Result<(String, AgentToken), TokenError> {
        let secret = self.keys.generate()?;
        let now = self.clock.now();
        let record = AgentToken {
            name: name.to_owned(),
            hash: self.keys.hash(&secret)?,
            prefix: token::shown_prefix(&secret),
            servers,
            tier,
            created_at: now,
            expires_at: now.plus_millis(lifetime_ms),
            revoked: false,
            last_used_at: None,
            profile_pin,
        };
        Ok((secret, record))
    }

    pub async fn create(
        &self,
        request: &CreateToken,
        caller: impl Into<Caller>,
    ) -> Result<CreatedToken, TokenError> {
        let caller = caller.into();
        self.gate(&caller)?;
        token::check_name(&request.name)?;
        let servers = token::parse_servers(&request.allowed_servers)?;
        let tier = token::parse_permissions(&request.permissions)?;
        let lifetime = token::parse_expiry(request.expires_in.as_deref())?;
        if let ServerSet::Only(names) = &servers {
            let settings = self.settings.current();
            if let Some(missing) = names.iter().find(|n| settings.server(n.as_str()).is_none()) {
                return Err(TokenError::UnknownServer(missing.to_string()));
            }
        }
        let pin = self.check_pin(request.profile_pin.as_deref())?;
        let (secret, record) = self.mint(&request.name, servers, tier, lifetime, pin)?;
        if !self.repo.insert(&record).await? {
            return Err(TokenError::Exists(request.name.clone()));
        }
        self.record(&caller, &record.name, "token_created").await;
        Ok(CreatedToken {
            token: secret,
            info: self.info(&record),
        })
    }

    /// A pin must name a profile configured now (it may go later: the pin then denies all).
    fn check_pin(&self, pin: Option<&str>) -> Result<Option<String>, TokenError> {
        let Some(pin) = pin.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let settings = self.settings.current();
        if settings.profiles.get(pin).is_none() {
            let names = settings.profiles.names();
            let listed = if names.is_empty() {
                "none (add `profiles` to the config first)".to_owned()
            } else {
                names.join(", ")
            };
            return Err(TokenError::UnknownProfile(pin.to_owned(), listed));
        }
        Ok(Some(pin.to_owned()))
    }

    async fn find(&self, name: &str) -> Result<AgentToken, TokenError> {
        self.repo
            .by_name(name)
            .await?
            .ok_or_else(|| TokenError::NotFound(name.to_owned()))
    }

    pub async fn list(&self, caller: impl Into<Caller>) -> Result<Vec<TokenInfo>, TokenError> {
        self.gate(&caller.into())?;
        Ok(self
            .repo
            .all()
            .await?
            .iter()
            .map(|t| self.info(t))
            .collect())
    }

    pub async fn show(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<TokenInfo, TokenError> {
        self.gate(&caller.into())?;
        Ok(self.info(&self.find(name).await?))
    }

    /// Stops the token working now; the record (and the name) stays.
    pub async fn revoke(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<TokenInfo, TokenError> {
        let caller = caller.into();
        self.gate(&caller)?;
        let mut record = self.find(name).await?;
        if !record.revoked {
            record.revoked = true;
            self.repo.update(&record).await?;
            self.record(&caller, name, "token_revoked").await;
        }
        Ok(self.info(&record))
    }

    /// A new secret for the same name and scope, with a fresh lifetime as long as the old
    /// one was; the old secret stops working.
    pub async fn regenerate(
        &self,
        name: &str,
        caller: impl Into<Caller>,
    ) -> Result<CreatedToken, TokenError> {
        let caller = caller.into();
        self.gate(&caller)?;
        let old = self.find(name).await?;
        let lifetime = (old.expires_at.millis() - old.created_at.millis()).max(1);
        let (secret, record) = self.mint(
            name,
            old.servers.clone(),
            old.tier,
            lifetime,
            old.profile_pin.clone(),
        )?;
        self.repo.update(&record).await?;
        self.record(&caller, name, "token_regenerated").await;
        Ok(CreatedToken {
            token: secret,
            info: self.info(&record),
        })
    }

    /// Removes the record: the name is free again.
    pub async fn delete(&self, name: &str, caller: impl Into<Caller>) -> Result<(), TokenError> {
        let caller = caller.into();
        self.gate(&caller)?;
        if !self.repo.delete(name).await? {
            return Err(TokenError::NotFound(name.to_owned()));
        }
        self.record(&caller, name, "token_deleted").await;
        Ok(())
    }

    /// The caller a presented agent token stands for, or why it is refused.
    pub async fn authenticate(&self, presented: &str) -> Result<Authenticated, TokenRefusal> {
        if !token::is_agent_token(presented) {
            return Err(TokenRefusal::Unknown);
        }
        let unavailable = |e: StorageError| TokenRefusal::Unavailable(e.to_string());
        let hash = self.keys.hash(presented).map_err(unavailable)?;
        let record = self
            .repo
            .by_hash(&hash)
            .await
            .map_err(unavailable)?
            .ok_or(TokenRefusal::Unknown)?;
        let now = self.clock.now();
        match record.status(now) {
            TokenStatus::Revoked => return Err(TokenRefusal::Revoked(record.name)),
            TokenStatus::Expired => return Err(TokenRefusal::Expired(record.name)),
            TokenStatus::Active => {}
        }
        let stale = record
            .last_used_at
            .is_none_or(|t| now.millis() - t.millis() >= TOUCH_EVERY_MS);
        if stale && let Err(e) = self.repo.touch(&record.name, now).await {
            tracing::warn!(token = %record.name, error = %e, "cannot note the token's last use");
        }
        let pin = record.profile_pin.clone().and_then(|name| {
            let grant = record.pin_grant(&self.settings.current().profiles)?;
            Some((name, grant))
        });
        Ok(Authenticated {
            grant: record.grant(),
            pin,
            identity: AuthIdentity::Agent {
                name: record.name.clone(),
                prefix: record.prefix.clone(),
            },
        })
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
