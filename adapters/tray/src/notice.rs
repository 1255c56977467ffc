//! The desktop notifications: the core stopped or came back (from the machine's states), a
//! server waits for a login, a tool is new or changed and waits for approval. Each condition
//! is told once, whether the tray saw it happen (an event) or found it when it connected (the
//! lists): [`Told`] remembers what was said. Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::machine::State;
use crate::model::{Health, Model, Server, ToolToReview};

/// A desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub summary: String,
    pub body: String,
}

impl Notice {
    fn new(summary: String, body: &str) -> Self {
        Self {
            summary,
            body: body.to_owned(),
        }
    }
}

/// The notification a change of state deserves: the core stopped and cannot come back by
/// itself — once per kind of failure (`alerted`: the last one told), so retries that fail the
/// same way stay quiet — or it is back.
pub fn notice_for_state(before: &Model, after: &Model, alerted: Option<State>) -> Option<Notice> {
    if before.state == after.state {
        return None;
    }
    if after.state.is_error() && alerted != Some(after.state) {
        return Some(Notice::new(
            "mcpproxy is not running".to_owned(),
            &after.status_line(),
        ));
    }
    if after.state == State::Connected && (before.state == State::Reconnecting || alerted.is_some())
    {
        return Some(Notice::new(
            "mcpproxy is back".to_owned(),
            &after.status_line(),
        ));
    }
    None
}

/// More new tools than this at once (a new server's) are told in one notice.
const TOOLS_ONE_BY_ONE: usize = 3;

fn login(server: &str) -> Notice {
    Notice::new(
        format!("{server} needs you to log in"),
        "Choose Log in under Upstream servers in the mcpproxy menu.",
    )
}

/// What the person has been told about logins and tools to review.
#[derive(Debug, Default)]
pub struct Told {
    logins: BTreeSet<String>,
    /// Quarantined servers an agent added.
    from_agents: BTreeSet<String>,
    /// (server, tool, changed).
    tools: BTreeSet<(String, String, bool)>,
}

impl Told {
    /// An event from `/events`: a login the core asks for is told at once.
    pub fn event(&mut self, name: &str, payload: &Value) -> Option<Notice> {
        if !matches!(name, "oauth.login_required" | "oauth.refresh_failed") {
            return None;
        }
        let server = payload.get("server")?.as_str()?;
        self.logins.insert(server.to_owned()).then(|| login(server))
    }

    /// The servers as listed now: one waiting for a login nobody was told about (it waited
    /// before the tray connected) is told; one that is ready, disabled or gone is forgotten,
    /// so its next login is told again. A server an agent added waits in quarantine for the
    /// person: told once, until it is approved or gone.
    pub fn servers(&mut self, servers: &[Server]) -> Vec<Notice> {
        self.logins.retain(|name| {
            servers
                .iter()
                .any(|s| s.name == *name && !matches!(s.health(), Health::Ready | Health::Disabled))
        });
        let from_agent = |s: &Server| s.quarantined && s.added_by.as_deref() == Some("mcp");
        self.from_agents
            .retain(|name| servers.iter().any(|s| s.name == *name && from_agent(s)));
        let mut notices: Vec<Notice> = servers
            .iter()
            .filter(|s| s.health() == Health::NeedsLogin && self.logins.insert(s.name.clone()))
            .map(|s| login(&s.name))
            .collect();
        notices.extend(
            servers
                .iter()
                .filter(|s| from_agent(s) && self.from_agents.insert(s.name.clone()))
                .map(|s| {
                    Notice::new(
                        format!("An AI agent added the server {}", s.name),
                        "It does not run until you approve it: see Security quarantine in the mcpproxy menu.",
                    )
                }),
        );
        notices
    }

    /// The tools waiting for review now: those not told yet are told (one notice for many);
    /// those approved are forgotten.
    pub fn review(&mut self, review: &[ToolToReview]) -> Vec<Notice> {
        let now: BTreeSet<_> = review
            .iter()
            .map(|t| (t.server.clone(), t.tool.clone(), t.changed))
            .collect();
        let new: Vec<_> = now.difference(&self.tools).cloned().collect();
        self.tools = now;
        if new.len() > TOOLS_ONE_BY_ONE {
            return vec![Notice::new(
                format!("{} tools wait for approval", new.len()),
                "They are blocked until you approve them: see Security quarantine in the mcpproxy menu.",
            )];
        }
        new.into_iter()
            .map(|(server, tool, changed)| {
                if changed {
                    Notice::new(
                        format!("Tool {tool} of {server} changed"),
                        "It is blocked until you approve it: see Security quarantine in the mcpproxy menu.",
                    )
                } else {
                    Notice::new(
                        format!("New tool {tool} of {server} waits for approval"),
                        "Approve it under Security quarantine in the mcpproxy menu.",
                    )
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::server;
    use serde_json::json;

    fn summaries(notices: &[Notice]) -> Vec<&str> {
        notices.iter().map(|n| n.summary.as_str()).collect()
    }

    fn tool(server: &str, tool: &str, changed: bool) -> ToolToReview {
        ToolToReview {
            server: server.into(),
            tool: tool.into(),
            changed,
        }
    }

    #[test]
    fn a_login_is_told_once_whether_seen_as_an_event_or_found_in_the_list() {
        let mut told = Told::default();
        let n = told.event("oauth.login_required", &json!({"server": "gh"}));
        assert_eq!(n.unwrap().summary, "gh needs you to log in");
        // The list read before the event still says connecting, then the login waits.
        assert!(told.servers(&[server("gh", "Connecting")]).is_empty());
        assert!(told.servers(&[server("gh", "Pending Auth")]).is_empty());
        assert_eq!(
            told.event("oauth.refresh_failed", &json!({"server": "gh"})),
            None
        );
        // Logged in: forgotten, so the next login is told again.
        assert!(told.servers(&[server("gh", "Ready")]).is_empty());
        let n = told.servers(&[server("gh", "Pending Auth"), server("fx", "Ready")]);
        assert_eq!(summaries(&n), ["gh needs you to log in"]);
        assert!(told.event("servers.changed", &json!({})).is_none());
        assert!(told.event("oauth.login_required", &json!({})).is_none());
    }

    #[test]
    fn a_login_that_waited_before_the_tray_connected_is_told() {
        let mut told = Told::default();
        let n = told.servers(&[server("a", "Authenticating"), server("b", "Error")]);
        assert_eq!(summaries(&n), ["a needs you to log in"]);
        assert!(told.servers(&[server("a", "Authenticating")]).is_empty());
    }

    #[test]
    fn a_server_an_agent_added_is_told_once_until_approved() {
        let mut told = Told::default();
        let mut notes = server("notes", "Disconnected");
        notes.quarantined = true;
        notes.added_by = Some("mcp".into());
        let mut mine = server("mine", "Ready");
        mine.quarantined = true;
        mine.added_by = Some("cli".into());
        let n = told.servers(&[notes.clone(), mine]);
        assert_eq!(summaries(&n), ["An AI agent added the server notes"]);
        assert!(told.servers(&[notes.clone()]).is_empty());
        let mut approved = notes.clone();
        approved.quarantined = false;
        assert!(told.servers(&[approved]).is_empty());
        let n = told.servers(&[notes]);
        assert_eq!(
            summaries(&n),
            ["An AI agent added the server notes"],
            "changed again"
        );
    }

    #[test]
    fn tools_to_review_are_told_once_and_many_in_one_notice() {
        let mut told = Told::default();
        let n = told.review(&[tool("fx", "extra", false), tool("fx", "echo", true)]);
        assert_eq!(
            summaries(&n),
            [
                "Tool echo of fx changed",
                "New tool extra of fx waits for approval"
            ]
        );
        assert!(told.review(&[tool("fx", "extra", false)]).is_empty());
        // Approved, then changed again: told again.
        assert!(told.review(&[]).is_empty());
        let n = told.review(&[tool("fx", "extra", true)]);
        assert_eq!(summaries(&n), ["Tool extra of fx changed"]);
        let many: Vec<_> = (0..5)
            .map(|i| tool("new", &format!("t{i}"), false))
            .collect();
        let n = told.review(&many);
        assert_eq!(summaries(&n), ["5 tools wait for approval"]);
    }

    #[test]
    fn state_notices_for_errors_and_recovery() {
        let before = Model::new("0.1.0", "127.0.0.1:8080", "/d");
        let mut after = before.clone();
        after.state = State::CoreErrorPortConflict;
        let n = notice_for_state(&before, &after, None).unwrap();
        assert_eq!(n.summary, "mcpproxy is not running");
        assert!(n.body.contains("127.0.0.1:8080"));
        assert_eq!(
            notice_for_state(&before, &after, Some(State::CoreErrorPortConflict)),
            None,
            "a retry that fails the same way stays quiet"
        );
        let mut back = after.clone();
        back.state = State::Connected;
        let mut lost = after.clone();
        lost.state = State::Reconnecting;
        assert_eq!(
            notice_for_state(&lost, &back, None).unwrap().summary,
            "mcpproxy is back"
        );
        let mut connecting = after.clone();
        connecting.state = State::ConnectingApi;
        assert_eq!(
            notice_for_state(&connecting, &back, Some(State::CoreErrorConfig))
                .unwrap()
                .summary,
            "mcpproxy is back",
            "after a told failure"
        );
        assert_eq!(
            notice_for_state(&connecting, &back, None),
            None,
            "a plain start"
        );
        assert_eq!(notice_for_state(&back, &back, None), None);
    }
}
