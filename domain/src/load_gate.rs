//! The admission gate on the config-load path (as Go MCPProxy 0.2x does it).
//!
//! A server added through the proxy (REST, CLI, MCP tool) is admitted by the add rule and
//! always gets an explicit `quarantined` value. A server written straight into the config file
//! passes no add rule, so without this gate it would be admitted unreviewed, its tools served to
//! agents at once, although the default (`quarantine_enabled` on, trust mode `manual`) says
//! "held for human review". So when the config is loaded (at start and on each hot reload) a
//! server is held — `quarantined: true` — when ALL of these hold:
//!
//! - quarantine is on and the server's trust mode is not `auto` (the add rule's own default),
//! - the document never stated `quarantined` (whoever wrote the key, either way, is obeyed),
//! - the proxy has never seen the server (no record of it in storage).
//!
//! The last condition is the upgrade boundary: every server an existing user runs already has a
//! record, so upgrading quarantines nothing the user has been using. When storage cannot be read
//! the gate is not asked at all (see the application's use case): unknown is not new.
//!
//! The gate only ever adds quarantine; taking it away stays a person's action.

use crate::{Config, ServerConfig, ServerName, TrustMode};

/// Whether a server in a freshly loaded config is held for review; `known` says whether the
/// proxy has a record of it.
pub fn holds(config: &Config, server: &ServerConfig, known: bool) -> bool {
    server.quarantined.is_none()
        && !known
        && config.quarantine_enabled()
        && server.effective_trust_mode() != TrustMode::Auto
}

/// Applies [`holds`] to every server of `config`: marks the held ones `quarantined: true` and
/// returns their names (empty when nothing changed).
pub fn apply(config: &mut Config, known: impl Fn(&ServerName) -> bool) -> Vec<ServerName> {
    let held: Vec<ServerName> = config
        .servers
        .iter()
        .filter(|s| holds(config, s, known(&s.name)))
        .map(|s| s.name.clone())
        .collect();
    for server in &mut config.servers {
        if held.contains(&server.name) {
            server.quarantined = Some(true);
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> ServerConfig {
        let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
        s.command = "echo".into();
        s
    }

    fn config(servers: Vec<ServerConfig>) -> Config {
        Config {
            servers,
            ..Config::default()
        }
    }

    #[test]
    fn a_new_server_without_the_key_is_held() {
        let mut c = config(vec![server("new")]);
        assert_eq!(apply(&mut c, |_| false), vec![c.servers[0].name.clone()]);
        assert_eq!(c.servers[0].quarantined, Some(true));
    }

    #[test]
    fn a_stated_key_is_obeyed_either_way() {
        let mut trusted = server("trusted");
        trusted.quarantined = Some(false);
        let mut held = server("held");
        held.quarantined = Some(true);
        let mut c = config(vec![trusted, held]);
        assert!(apply(&mut c, |_| false).is_empty());
        assert_eq!(c.servers[0].quarantined, Some(false));
        assert_eq!(c.servers[1].quarantined, Some(true));
    }

    #[test]
    fn a_known_server_is_never_held_on_upgrade() {
        let mut c = config(vec![server("old"), server("new")]);
        let held = apply(&mut c, |n| n.as_str() == "old");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].as_str(), "new");
        assert_eq!(c.servers[0].quarantined, None);
    }

    #[test]
    fn quarantine_off_or_trust_mode_auto_admits() {
        let mut auto = server("auto");
        auto.trust_mode = Some("auto".into());
        let mut c = config(vec![auto, server("plain")]);
        c.quarantine_enabled = Some(false);
        assert!(apply(&mut c.clone(), |_| false).is_empty());
        c.quarantine_enabled = Some(true);
        let held = apply(&mut c, |_| false);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].as_str(), "plain");
    }

    #[test]
    fn trust_mode_scan_is_held_like_manual() {
        let mut scan = server("scan");
        scan.trust_mode = Some("scan".into());
        let c = config(vec![scan]);
        assert!(holds(&c, &c.servers[0], false));
    }
}
