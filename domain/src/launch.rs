//! Who set how a server is started, and what an agent may change about it.
//!
//! An agent (a client of the MCP endpoint, which needs no key by default) can add servers and
//! change them through `upstream_servers`. A command an agent wrote must never run, nor a URL
//! it wrote be contacted, before a person has looked at it. So the proxy records in the entry
//! who added it (`added_by`), and the application holds a quarantined server an agent added:
//! it is not started until a person lifts the quarantine. These are the pure parts of that
//! rule: the record, and which changes of an entry are about starting it or trusting it.

use crate::activity::Source;
use crate::config::ServerConfig;

/// The `added_by` of what an agent added, or whose start settings an agent changed.
pub const ADDED_BY_AGENT: &str = "mcp";

/// The `added_by` value recorded for a change made through `source`.
pub fn added_by(source: Source) -> &'static str {
    source.as_str()
}

impl ServerConfig {
    /// An agent added this server, or changed how it is started, through MCP.
    pub fn added_by_agent(&self) -> bool {
        self.added_by.as_deref() == Some(ADDED_BY_AGENT)
    }

    /// The entry without the keys that do not change what is started or contacted (state,
    /// trust, tool filters, timers, bookkeeping). Everything else — command, args, env,
    /// working directory, URL, headers, OAuth, protocol, isolation and every key this proxy
    /// does not know — decides what runs, so a change to any of it counts.
    fn start_settings(&self) -> ServerConfig {
        let mut s = self.clone();
        s.enabled = true;
        s.quarantined = None;
        s.trust_mode = None;
        s.auto_approve_tool_changes = None;
        s.skip_quarantine = false;
        s.enabled_tools.clear();
        s.disabled_tools.clear();
        s.reconnect_on_use = false;
        s.init_timeout = None;
        s.health_check_interval = None;
        s.tool_discovery_interval = None;
        s.created = None;
        s.updated = None;
        s.added_by = None;
        s
    }

    /// Whether `other` would start or contact something else than `self`.
    pub fn start_settings_differ(&self, other: &ServerConfig) -> bool {
        self.start_settings() != other.start_settings()
    }

    /// The keys of the entry that say how far the server is trusted and that an agent may
    /// not change, each named; empty when they are the same. (Quarantining is allowed: it
    /// only trusts less.)
    pub fn trust_changes(&self, other: &ServerConfig) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.is_quarantined() && !other.is_quarantined() {
            changed.push("quarantined");
        }
        if self.trust_mode != other.trust_mode {
            changed.push("trust_mode");
        }
        if self.auto_approve_tool_changes != other.auto_approve_tool_changes {
            changed.push("auto_approve_tool_changes");
        }
        if self.skip_quarantine != other.skip_quarantine {
            changed.push("skip_quarantine");
        }
        if self.added_by != other.added_by {
            changed.push("added_by");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::ServerName;

    fn server() -> ServerConfig {
        let mut s = ServerConfig::new(ServerName::parse("fs").unwrap());
        s.command = "npx".into();
        s.args = vec!["-y".into(), "server-filesystem".into()];
        s
    }

    #[test]
    fn what_is_started_is_every_key_but_state_trust_and_timers() {
        let a = server();
        let mut b = a.clone();
        b.enabled = false;
        b.quarantined = Some(true);
        b.trust_mode = Some("auto".into());
        b.disabled_tools = vec!["x".into()];
        b.init_timeout = Some(crate::GoDuration::from_secs(5));
        b.updated = Some("now".into());
        assert!(!a.start_settings_differ(&b));
        let changes: [fn(&mut ServerConfig); 8] = [
            |s: &mut ServerConfig| s.command = "sh".into(),
            |s: &mut ServerConfig| s.args.push("-c".into()),
            |s: &mut ServerConfig| {
                s.env.insert("LD_PRELOAD".into(), "/tmp/x.so".into());
            },
            |s: &mut ServerConfig| s.working_dir = "/tmp".into(),
            |s: &mut ServerConfig| s.url = "http://evil.example/mcp".into(),
            |s: &mut ServerConfig| {
                s.headers.insert("X".into(), "y".into());
            },
            |s: &mut ServerConfig| s.protocol = "sse".into(),
            |s: &mut ServerConfig| {
                s.extra.insert(
                    "a_key_of_the_future".into(),
                    serde_json::json!({"image": "evil"}),
                );
            },
        ];
        for change in changes {
            let mut c = a.clone();
            change(&mut c);
            assert!(a.start_settings_differ(&c), "{c:?}");
        }
    }

    #[test]
    fn trust_changes_are_named_and_quarantining_is_not_one() {
        let a = server();
        let mut b = a.clone();
        b.quarantined = Some(true);
        assert!(a.trust_changes(&b).is_empty(), "quarantining trusts less");
        assert_eq!(b.trust_changes(&a), ["quarantined"]);
        let mut c = a.clone();
        c.trust_mode = Some("auto".into());
        c.added_by = Some("cli".into());
        assert_eq!(a.trust_changes(&c), ["trust_mode", "added_by"]);
    }

    #[test]
    fn agents_are_recorded_as_mcp() {
        let mut s = server();
        assert!(!s.added_by_agent(), "written in the file");
        s.added_by = Some(added_by(Source::Cli).into());
        assert!(!s.added_by_agent());
        s.added_by = Some(added_by(Source::Mcp).into());
        assert!(s.added_by_agent());
    }
}
