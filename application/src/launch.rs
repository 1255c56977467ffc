//! Which servers may be started: the one answer the upstream pool, restarts, tool discovery
//! and logins all follow.
//!
//! A disabled server is not started. Neither is a quarantined server an agent added (or
//! whose command, URL or env an agent changed) through MCP: the MCP endpoint needs no key by
//! default, so anything that reaches it could otherwise run a command as the proxy's user.
//! Such a server waits, stopped, until a person lifts the quarantine (CLI, REST API with
//! the key, the unix socket, the web UI) after reviewing its command, arguments and env.
//! Servers written into the config file or added by a person are started while
//! quarantined, as before: their tools are listed for review but not offered to agents.

use mcpproxy_domain::{Config, ServerConfig, ServerName};

/// Why a server is not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Disabled,
    /// Added or changed by an agent and still quarantined: waits for a person.
    AwaitingReview,
}

impl Hold {
    /// What a person reads about it, with what to do.
    pub fn explain(self, server: &str) -> String {
        match self {
            Self::Disabled => format!("server {server} is disabled; enable it to start it"),
            Self::AwaitingReview => format!(
                "server {server} was added or changed by an agent and is not started until a person reviews it: check its command, args and env with `mcpproxy upstream inspect {server}`, then `mcpproxy upstream unquarantine {server}`"
            ),
        }
    }
}

/// Why `server` may not be started now, if it may not.
pub fn hold(server: &ServerConfig) -> Option<Hold> {
    if !server.enabled {
        Some(Hold::Disabled)
    } else if server.is_quarantined() && server.added_by_agent() {
        Some(Hold::AwaitingReview)
    } else {
        None
    }
}

/// `config` with only the servers that may run: what the upstream pool is told to keep
/// connected.
pub fn runnable(config: &Config) -> Config {
    let mut out = config.clone();
    out.servers.retain(|s| hold(s).is_none());
    out
}

/// `config` with its servers in the order they should start: first those with tools in the
/// index (`known`: what agents already find and call), then the rest, each group in config
/// order. On a cold start of many servers, those an agent needs are Ready first.
pub fn start_order(mut config: Config, known: impl Fn(&ServerName) -> bool) -> Config {
    config.servers.sort_by_key(|s| !known(&s.name));
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_domain::launch::ADDED_BY_AGENT;

    fn server(name: &str, added_by: Option<&str>, quarantined: bool) -> ServerConfig {
        let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
        s.command = "sh".into();
        s.added_by = added_by.map(str::to_owned);
        s.quarantined = Some(quarantined);
        s
    }

    #[test]
    fn only_an_agents_quarantined_server_and_disabled_ones_are_held() {
        let mut disabled = server("off", None, false);
        disabled.enabled = false;
        let config = Config {
            servers: vec![
                server("agent", Some(ADDED_BY_AGENT), true),
                server("approved", Some(ADDED_BY_AGENT), false),
                server("person", Some("cli"), true),
                server("file", None, true),
                disabled,
            ],
            ..Config::default()
        };
        let names: Vec<String> = runnable(&config)
            .servers
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(names, ["approved", "person", "file"]);
        assert_eq!(hold(&config.servers[0]), Some(Hold::AwaitingReview));
        assert_eq!(hold(&config.servers[4]), Some(Hold::Disabled));
        assert!(Hold::AwaitingReview.explain("x").contains("unquarantine x"));
    }

    #[test]
    fn servers_with_indexed_tools_start_first_each_group_in_config_order() {
        let config = Config {
            servers: ["a", "b", "c", "d"]
                .into_iter()
                .map(|n| server(n, None, false))
                .collect(),
            ..Config::default()
        };
        let ordered = start_order(config, |n| matches!(n.as_str(), "b" | "d"));
        let names: Vec<&str> = ordered.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "d", "a", "c"]);
    }
}
