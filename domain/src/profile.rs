//! Profiles: named subsets of the upstream servers (`profiles` in the config), served at
//! `/mcp/p/<slug>`, chosen per session with `set_profile`, or pinned to an agent token.
//!
//! A profile decides nothing itself: it becomes one more [`Grant`] of the admission rule
//! (`crate::policy`, origin [`GrantOrigin::Profile`], tier `destructive`), so listings,
//! search and calls under a profile are exactly those the rule admits, and a profile and a
//! token intersect. What lives here is the Go MCPProxy's contract around that grant: the slug
//! syntax and reserved names, which config problems are fatal (bad, reserved or duplicate
//! slug) and which only warn (an unknown server is skipped, an empty list denies everything),
//! and which source wins when several could pick a profile ([`resolve`]).

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::call::CallVariant;
use crate::config::ValidationError;
use crate::name::ServerName;
use crate::policy::{Grant, GrantOrigin, ServerSet};

/// Slugs that would collide with the MCP routes (`/mcp/all`, `/mcp/code`, `/mcp/call`) or the
/// `/mcp/p` prefix itself.
pub const RESERVED: [&str; 4] = ["all", "code", "call", "p"];
/// The longest slug.
pub const MAX_SLUG: usize = 63;

/// One entry of `profiles`, as written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileConfig {
    /// The URL slug: `^[a-z0-9][a-z0-9_-]{0,62}$`, not `all`, `code`, `call` or `p`.
    pub name: String,
    /// Names from `mcpServers`; unknown names are skipped (with a warning).
    #[serde(default)]
    pub servers: Vec<String>,
}

/// Whether `name` has the slug syntax: a lowercase letter or digit, then up to 62 more of
/// lowercase letters, digits, `-` and `_` (also safe as a file or path segment).
pub fn is_valid_slug(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() <= MAX_SLUG
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The fatal problems of `profiles`: a bad, reserved or duplicate slug. Each names its key.
pub fn validate(profiles: &[ProfileConfig]) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in profiles.iter().enumerate() {
        let field = format!("profiles[{i}].name");
        if !is_valid_slug(&p.name) {
            errors.push(ValidationError::new(
                field,
                format!(
                    "invalid profile name {:?}: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (it is the URL /mcp/p/<name>)",
                    p.name
                ),
            ));
        } else if RESERVED.contains(&p.name.as_str()) {
            errors.push(ValidationError::new(
                field,
                format!(
                    "profile name {:?} is reserved ({} are MCP routes); pick another name",
                    p.name,
                    RESERVED.join(", ")
                ),
            ));
        } else if !seen.insert(p.name.as_str()) {
            errors.push(ValidationError::new(
                field,
                format!(
                    "duplicate profile name {:?}; each profile needs its own name",
                    p.name
                ),
            ));
        }
    }
    errors
}

/// The harmless problems of `profiles`, said when the config is read: a profile with no
/// servers (it exposes nothing), a server name that is not configured (skipped).
pub fn warnings(profiles: &[ProfileConfig], servers: &[ServerName]) -> Vec<String> {
    let known: HashSet<&str> = servers.iter().map(ServerName::as_str).collect();
    let mut notes = Vec::new();
    for p in profiles {
        if p.servers.is_empty() {
            notes.push(format!(
                "profile {:?} has no servers; it exposes no tools (deny-all)",
                p.name
            ));
        }
        for s in p.servers.iter().filter(|s| !known.contains(s.as_str())) {
            notes.push(format!(
                "profile {:?} names server {s:?}, which is not configured; it is skipped",
                p.name
            ));
        }
    }
    notes
}

/// A profile as the running proxy uses it: its slug and the configured servers it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// The servers it names that are configured, in the config's order of the profile.
    pub servers: Vec<ServerName>,
}

impl Profile {
    /// The grant the admission rule applies under this profile.
    pub fn grant(&self) -> Grant {
        Grant {
            origin: GrantOrigin::Profile(self.name.clone()),
            servers: ServerSet::Only(self.servers.iter().cloned().collect()),
            tier: CallVariant::Destructive,
        }
    }
}

/// The grant of a profile that no longer exists: it reaches nothing (a token pinned to a
/// removed profile must never see more than it did).
pub fn deny_all(name: &str) -> Grant {
    Grant {
        origin: GrantOrigin::Profile(name.to_owned()),
        servers: ServerSet::Only(BTreeSet::new()),
        tier: CallVariant::Destructive,
    }
}

/// Every profile of a config, with unknown servers skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    list: Vec<Profile>,
}

impl Profiles {
    /// The profiles of `profiles`, keeping only the servers in `servers`; a profile whose
    /// slug is invalid or a repeat (the config did not validate) is left out.
    pub fn new(profiles: &[ProfileConfig], servers: &[ServerName]) -> Self {
        let known: HashSet<&str> = servers.iter().map(ServerName::as_str).collect();
        let mut seen = HashSet::new();
        let list = profiles
            .iter()
            .filter(|p| {
                is_valid_slug(&p.name)
                    && !RESERVED.contains(&p.name.as_str())
                    && seen.insert(p.name.as_str())
            })
            .map(|p| {
                let mut names = HashSet::new();
                Profile {
                    name: p.name.clone(),
                    servers: p
                        .servers
                        .iter()
                        .filter(|s| known.contains(s.as_str()) && names.insert(s.as_str()))
                        .filter_map(|s| ServerName::parse(s).ok())
                        .collect(),
                }
            })
            .collect();
        Self { list }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn all(&self) -> &[Profile] {
        &self.list
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The slugs, in config order (what a refusal lists as available).
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|p| p.name.clone()).collect()
    }
}

/// Where a request could take a profile from, highest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection<'a> {
    /// The agent token's `profile_pin`.
    pub pin: Option<&'a str>,
    /// The `/mcp/p/<slug>` the request came to.
    pub url: Option<&'a str>,
    /// The session's `set_profile` choice.
    pub session: Option<&'a str>,
}

/// The profile grant a request is under, highest source wins: the token's pin (a removed
/// pinned profile denies everything), then the URL, then the session's choice (a choice of
/// a profile that no longer exists is dropped); none: no profile limit.
pub fn resolve(profiles: &Profiles, selection: Selection<'_>) -> Option<Grant> {
    if let Some(pin) = selection.pin {
        return Some(
            profiles
                .get(pin)
                .map_or_else(|| deny_all(pin), Profile::grant),
        );
    }
    if let Some(url) = selection.url {
        // The endpoint refuses an unknown slug before a request gets here; should the
        // profile go in between, the request reaches nothing rather than everything.
        return Some(
            profiles
                .get(url)
                .map_or_else(|| deny_all(url), Profile::grant),
        );
    }
    selection
        .session
        .and_then(|s| profiles.get(s))
        .map(Profile::grant)
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
