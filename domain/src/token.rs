//! Agent tokens: scoped, revocable credentials an AI agent presents instead of the API key.
//!
//! A token is `mcp_agt_` and 64 hex characters, shown once; the proxy keeps only its HMAC
//! (the key and the hashing are the adapters'; the application compares). What a token may
//! do is not decided here: [`AgentToken::grant`] turns its allowed servers and permission
//! tier into the [`Grant`] of the admission rule (`crate::policy`), and that rule, with the
//! config gates, decides every listing, search and call. The Go MCPProxy's shapes are kept:
//! permissions are the cumulative list `read[,write[,destructive]]`, servers a list or `*`,
//! expiry a duration such as `30d` (default 30 days).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::call::CallVariant;
use crate::name::ServerName;
use crate::policy::{Caller, Grant, GrantOrigin, ServerSet};
use crate::time::Timestamp;

/// What every agent token starts with.
pub const PREFIX: &str = "mcp_agt_";
/// How many hex characters follow the prefix.
pub const SECRET_HEX_LEN: usize = 64;
/// How much of a token is kept in clear to recognise it: `mcp_agt_` and four hex digits.
pub const SHOWN_LEN: usize = PREFIX.len() + 4;
/// A token lives 30 days unless asked otherwise.
pub const DEFAULT_EXPIRY_DAYS: i64 = 30;
/// The longest expiry accepted.
pub const MAX_EXPIRY_DAYS: i64 = 365;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether `text` has the shape of an agent token (it may still be unknown or revoked).
pub fn is_agent_token(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|hex| {
        hex.len() == SECRET_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The part of a token shown in listings and activity records.
pub fn shown_prefix(token: &str) -> String {
    token.chars().take(SHOWN_LEN).collect()
}

/// Why a token request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSpecError {
    #[error(
        "token name {0:?} is not valid: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    BadName(String),
    #[error("permissions must include \"read\"; give e.g. --permissions read,write")]
    NoRead,
    #[error(
        "unknown permission {0:?}; the permissions are read, write and destructive (cumulative: write needs read, destructive needs write)"
    )]
    UnknownPermission(String),
    #[error(
        "permission {0:?} needs {1:?} too; permissions are cumulative (read < write < destructive)"
    )]
    NotCumulative(String, String),
    #[error("allowed servers are empty; name the servers (e.g. github,gitlab) or \"*\" for all")]
    NoServers,
    #[error("{0:?} is not a server name")]
    BadServer(String),
    #[error("\"*\" stands for every server and cannot be combined with names")]
    MixedWildcard,
    #[error(
        "expiry {0:?} is not valid; give a number of days or hours such as 30d, 7d or 12h (at most 365d)"
    )]
    BadExpiry(String),
}

/// The servers of a token as written: names, or every server.
pub fn parse_servers<S: AsRef<str>>(items: &[S]) -> Result<ServerSet, TokenSpecError> {
    let items: Vec<&str> = items
        .iter()
        .flat_map(|i| i.as_ref().split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(TokenSpecError::NoServers);
    }
    if items.contains(&"*") {
        return if items.len() == 1 {
            Ok(ServerSet::All)
        } else {
            Err(TokenSpecError::MixedWildcard)
        };
    }
    items
        .iter()
        .map(|s| ServerName::parse(*s).map_err(|_| TokenSpecError::BadServer((*s).to_owned())))
        .collect::<Result<BTreeSet<_>, _>>()
        .map(ServerSet::Only)
}

/// The permission tier of a cumulative list such as `read,write`.
pub fn parse_permissions<S: AsRef<str>>(items: &[S]) -> Result<CallVariant, TokenSpecError> {
    let mut given = BTreeSet::new();
    for item in items.iter().flat_map(|i| i.as_ref().split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let tier = CallVariant::ALL
            .into_iter()
            .find(|v| v.operation() == item)
            .ok_or_else(|| TokenSpecError::UnknownPermission(item.to_owned()))?;
        given.insert(tier);
    }
    let top = *given.iter().next_back().ok_or(TokenSpecError::NoRead)?;
    if !given.contains(&CallVariant::Read) {
        return Err(TokenSpecError::NoRead);
    }
    for v in CallVariant::ALL.into_iter().filter(|v| *v < top) {
        if !given.contains(&v) {
            return Err(TokenSpecError::NotCumulative(
                top.operation().to_owned(),
                v.operation().to_owned(),
            ));
        }
    }
    Ok(top)
}

/// The permissions a tier stands for, as the Go proxy lists them.
pub fn permissions(tier: CallVariant) -> Vec<&'static str> {
    CallVariant::ALL
        .into_iter()
        .filter(|v| *v <= tier)
        .map(CallVariant::operation)
        .collect()
}

/// How long a token lives: `30d`, `12h`, or a Go duration; `None` gives the default.
pub fn parse_expiry(text: Option<&str>) -> Result<i64, TokenSpecError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_EXPIRY_DAYS * DAY_MS);
    };
    let bad = || TokenSpecError::BadExpiry(text.to_owned());
    let ms = if let Some(days) = text.strip_suffix('d') {
        days.parse::<i64>()
            .map_err(|_| bad())?
            .checked_mul(DAY_MS)
            .ok_or_else(bad)?
    } else {
        let d = crate::duration::GoDuration::parse(text).map_err(|_| bad())?;
        d.nanos() / 1_000_000
    };
    if ms <= 0 || ms > MAX_EXPIRY_DAYS * DAY_MS {
        return Err(bad());
    }
    Ok(ms)
}

/// Checks a token name: what people type and what the refusals name.
pub fn check_name(name: &str) -> Result<(), TokenSpecError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(TokenSpecError::BadName(name.to_owned()))
    }
}

/// Whether a token can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Revoked,
    Expired,
}

/// A stored agent token: everything but the secret, which only its HMAC stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentToken {
    pub name: String,
    /// HMAC-SHA256 of the whole token, hex.
    pub hash: String,
    /// `mcp_agt_` and the first hex digits, to recognise it.
    pub prefix: String,
    pub servers: ServerSet,
    /// The highest call variant it may use.
    pub tier: CallVariant,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked: bool,
    pub last_used_at: Option<Timestamp>,
    /// The profile the token is pinned to: it never reaches beyond it, whatever URL or
    /// `set_profile` it uses (see `crate::profile::resolve`).
    pub profile_pin: Option<String>,
}

impl AgentToken {
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// The token's limits as the admission rule takes them.
    pub fn grant(&self) -> Grant {
        Grant {
            origin: GrantOrigin::Token(self.name.clone()),
            servers: self.servers.clone(),
            tier: self.tier,
        }
    }

    /// The caller an agent presenting this token is: an agent under the token's grant (a
    /// pin needs the profiles in force: [`AgentToken::pin_grant`]).
    pub fn caller(&self) -> Caller {
        Caller::agent().within(self.grant())
    }

    /// The grant of the pinned profile among `profiles`: a pin to a profile that no longer
    /// exists reaches nothing.
    pub fn pin_grant(&self, profiles: &crate::profile::Profiles) -> Option<Grant> {
        self.profile_pin.as_deref().and_then(|pin| {
            crate::profile::resolve(
                profiles,
                crate::profile::Selection {
                    pin: Some(pin),
                    ..Default::default()
                },
            )
        })
    }

    /// The servers as the Go proxy writes them: `*` or the names.
    pub fn server_list(&self) -> Vec<String> {
        match &self.servers {
            ServerSet::All => vec!["*".to_owned()],
            ServerSet::Only(set) => set.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Who made a request, for the activity record: `admin` (the API key or a person), or an
/// agent by its token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthIdentity {
    Admin,
    Agent { name: String, prefix: String },
}

impl AuthIdentity {
    /// `admin` or `agent`, as recorded in `_auth_type` and filtered by `--auth-type`.
    pub fn auth_type(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent { .. } => "agent",
        }
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
