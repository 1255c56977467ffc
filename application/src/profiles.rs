//! Profiles at run time: which profile a request is under, the `set_profile` choice of each
//! MCP session, the default profile of the UI surfaces, and the listing REST and the web
//! panel show.
//!
//! Nothing here filters a tool: [`ProfileService::scoped`] adds the profile's grant to the
//! caller (`mcpproxy_domain::profile::resolve` picks it: token pin, then the
//! `/mcp/p/<slug>` URL, then the session's choice) and every listing, search and call asks
//! the domain's admission rule with that caller, as for any other grant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use mcpproxy_domain::policy::Purpose;
use mcpproxy_domain::profile::{self, Profiles, Selection};
use mcpproxy_domain::{Caller, DomainEvent};
use serde::Serialize;

use crate::ToolCatalog;
use crate::ports::EventPublisher;

/// Why a profile request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("no profiles configured; add `profiles` to the config (see the README, \"Profiles\")")]
    NoProfiles,
    #[error("unknown profile '{slug}' (available: {})", available.join(", "))]
    Unknown {
        slug: String,
        available: Vec<String>,
    },
    #[error("agent token is pinned to profile '{pin}' and cannot switch to '{wanted}'")]
    Pinned { pin: String, wanted: String },
    #[error(
        "set_profile needs an MCP session; connect with a client that keeps the Mcp-Session-Id"
    )]
    NoSession,
}

/// One profile as listed (the Go proxy's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileSummary {
    pub name: String,
    /// The configured servers it names, in its order.
    pub servers: Vec<String>,
    /// The tools an agent under this profile is offered now.
    pub tool_count: usize,
}

/// What `set_profile` answers: the profile in force for the session and the servers it
/// can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileChoice {
    /// `""`: none (all servers the caller may reach).
    pub active_profile: String,
    pub servers: Vec<String>,
}

pub struct ProfileService {
    catalog: Arc<ToolCatalog>,
    events: Arc<dyn EventPublisher>,
    /// The `set_profile` choice of each MCP session, by session id.
    sessions: Mutex<HashMap<String, String>>,
    /// The default profile of the UI surfaces (`""`: none); not kept across restarts.
    active: Mutex<String>,
}

impl std::fmt::Debug for ProfileService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileService").finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProfileService {
    pub fn new(catalog: Arc<ToolCatalog>, events: Arc<dyn EventPublisher>) -> Self {
        Self {
            catalog,
            events,
            sessions: Mutex::default(),
            active: Mutex::default(),
        }
    }

    fn profiles(&self) -> Profiles {
        self.catalog.view().settings().profiles.clone()
    }

    fn unknown(slug: &str, profiles: &Profiles) -> ProfileError {
        ProfileError::Unknown {
            slug: slug.to_owned(),
            available: profiles.names(),
        }
    }

    /// Whether `/mcp/p/<slug>` may be served to a request whose token is pinned to `pin`.
    pub fn check_endpoint(&self, slug: &str, pin: Option<&str>) -> Result<(), ProfileError> {
        let profiles = self.profiles();
        if profiles.is_empty() {
            return Err(ProfileError::NoProfiles);
        }
        if profiles.get(slug).is_none() {
            return Err(Self::unknown(slug, &profiles));
        }
        match pin {
            Some(pin) if pin != slug => Err(ProfileError::Pinned {
                pin: pin.to_owned(),
                wanted: slug.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// `caller` under the profile this request is in: the pin (already in a pinned token's
    /// caller), else the endpoint's `url` profile, else the session's choice.
    pub fn scoped(
        &self,
        caller: Caller,
        pinned: bool,
        url: Option<&str>,
        session: Option<&str>,
    ) -> Caller {
        if pinned {
            return caller;
        }
        let chosen = session.and_then(|id| locked(&self.sessions).get(id).cloned());
        if url.is_none() && chosen.is_none() {
            // The common case: no profile at all, nothing to look up.
            return caller;
        }
        let selection = Selection {
            pin: None,
            url,
            session: chosen.as_deref(),
        };
        match profile::resolve(&self.catalog.view().settings().profiles, selection) {
            Some(grant) => caller.within(grant),
            None => caller,
        }
    }

    /// Whether `set_profile` is offered: only where profiles are configured.
    pub fn any(&self) -> bool {
        !self.profiles().is_empty()
    }

    /// `set_profile`: the session's profile from now on (`""` clears it). A token pinned to
    /// a profile may choose only that one (or clear, which leaves the pin in force).
    pub fn choose(
        &self,
        session: Option<&str>,
        slug: &str,
        pin: Option<&str>,
    ) -> Result<ProfileChoice, ProfileError> {
        let session = session.ok_or(ProfileError::NoSession)?;
        let slug = slug.trim();
        let view = self.catalog.view();
        let settings = view.settings();
        let profiles = &settings.profiles;
        if let Some(pin) = pin
            && !slug.is_empty()
            && slug != pin
        {
            return Err(ProfileError::Pinned {
                pin: pin.to_owned(),
                wanted: slug.to_owned(),
            });
        }
        let names = |p: &profile::Profile| p.servers.iter().map(ToString::to_string).collect();
        let choice = if slug.is_empty() {
            locked(&self.sessions).remove(session);
            match pin {
                // What the session can still reach: the pin's servers (none if it is gone).
                Some(pin) => ProfileChoice {
                    active_profile: pin.to_owned(),
                    servers: profiles.get(pin).map(names).unwrap_or_default(),
                },
                None => ProfileChoice {
                    active_profile: String::new(),
                    servers: settings
                        .servers()
                        .iter()
                        .map(|s| s.name.to_string())
                        .collect(),
                },
            }
        } else {
            let chosen = profiles
                .get(slug)
                .ok_or_else(|| Self::unknown(slug, profiles))?;
            locked(&self.sessions).insert(session.to_owned(), slug.to_owned());
            ProfileChoice {
                active_profile: slug.to_owned(),
                servers: names(chosen),
            }
        };
        tracing::info!(session = %session, profile = %choice.active_profile, "set_profile");
        Ok(choice)
    }

    /// The session ended: its choice goes with it.
    pub fn forget(&self, session: &str) {
        locked(&self.sessions).remove(session);
    }

    /// Every profile, with the tools an agent under it is offered now.
    pub fn list(&self, caller: &Caller) -> Vec<ProfileSummary> {
        let view = self.catalog.view();
        view.settings()
            .profiles
            .all()
            .iter()
            .map(|p| {
                let under = caller.clone().within(p.grant());
                let tool_count = view
                    .tools()
                    .filter(|(_, entry)| {
                        view.admit(&under, Purpose::Discover, &entry.id, None)
                            .1
                            .is_ok()
                    })
                    .count();
                ProfileSummary {
                    name: p.name.clone(),
                    servers: p.servers.iter().map(ToString::to_string).collect(),
                    tool_count,
                }
            })
            .collect()
    }

    /// The default profile of the UI surfaces (`""`: none). A profile removed from the
    /// config since it was chosen reads as none.
    pub fn active(&self) -> String {
        let active = locked(&self.active).clone();
        if active.is_empty() || self.profiles().get(&active).is_some() {
            active
        } else {
            String::new()
        }
    }

    /// Sets the default profile of the UI surfaces (`""` clears it); it does not change a
    /// live MCP session's choice.
    pub fn set_active(&self, slug: &str) -> Result<String, ProfileError> {
        let slug = slug.trim();
        if !slug.is_empty() {
            let profiles = self.profiles();
            if profiles.get(slug).is_none() {
                return Err(Self::unknown(slug, &profiles));
            }
        }
        let changed = {
            let mut active = locked(&self.active);
            let changed = *active != slug;
            slug.clone_into(&mut active);
            changed
        };
        if changed {
            self.events.publish(DomainEvent::ActiveProfileChanged {
                active_profile: slug.to_owned(),
            });
        }
        Ok(slug.to_owned())
    }
}

#[cfg(test)]
#[path = "profiles_tests.rs"]
mod tests;
