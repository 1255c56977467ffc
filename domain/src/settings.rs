//! The configuration as the running proxy uses it.
//!
//! [`Config`] is the document in the Go MCPProxy's format: strings where the file has
//! strings, servers in a list, unknown keys kept, and it is what is loaded and saved. The
//! running proxy asks a question of it on every call ("is this server quarantined?", "which
//! routing mode?"), so once per change it becomes [`Settings`]: enums for the routing mode,
//! the protocol and the trust mode, defaults and per-server overrides resolved, servers in a
//! map by name, and each server's tool filter ready to answer in O(1).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, RoutingMode, SearchConfig, ServerConfig, Transport, TrustMode};
use crate::name::ServerName;

/// The config switches that gate what people and agents may do (enforced by the
/// application's gates, never by an adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSwitches {
    pub read_only: bool,
    pub disable_management: bool,
    pub allow_server_add: bool,
    pub allow_server_remove: bool,
    pub enable_prompts: bool,
}

/// Which of a server's tools its config lets through (`enabled_tools` / `disabled_tools`).
///
/// This is the one place the filter is decided; per-tool switches (a person turning one
/// tool off without editing the lists) become another field consulted in [`Self::allows`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// `enabled_tools`: when set, only these.
    only: Option<HashSet<String>>,
    /// `disabled_tools`: never these.
    except: HashSet<String>,
}

impl ToolFilter {
    pub fn new(enabled_tools: &[String], disabled_tools: &[String]) -> Self {
        Self {
            only: (!enabled_tools.is_empty()).then(|| enabled_tools.iter().cloned().collect()),
            except: disabled_tools.iter().cloned().collect(),
        }
    }

    /// Whether the config lets this tool through. `enabled_tools` wins when both are set
    /// (validation refuses that anyway).
    pub fn allows(&self, tool: &str) -> bool {
        match &self.only {
            Some(only) => only.contains(tool),
            None => !self.except.contains(tool),
        }
    }
}

/// One server as the running proxy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub name: ServerName,
    /// `None` only for an entry that fails validation, which a config in force never has.
    pub transport: Option<Transport>,
    /// Reached over a URL (it may log in with OAuth).
    pub remote: bool,
    pub enabled: bool,
    pub quarantined: bool,
    pub trust: TrustMode,
    /// Tool changes are approved as they come: `trust_mode: auto`, or quarantine off.
    pub auto_approve: bool,
    pub tools: ToolFilter,
    pub reconnect_on_use: bool,
    pub init_timeout: Duration,
    /// Zero: no health checks.
    pub health_check_interval: Duration,
    /// Zero: no periodic discovery.
    pub tool_discovery_interval: Duration,
}

impl ServerSettings {
    fn new(config: &Config, server: &ServerConfig) -> Self {
        let trust = server.effective_trust_mode();
        Self {
            name: server.name.clone(),
            transport: server.transport().ok(),
            remote: !server.url.is_empty(),
            enabled: server.enabled,
            quarantined: server.is_quarantined(),
            trust,
            auto_approve: !config.quarantine_enabled() || trust == TrustMode::Auto,
            tools: ToolFilter::new(&server.enabled_tools, &server.disabled_tools),
            reconnect_on_use: server.reconnect_on_use,
            init_timeout: config.init_timeout(server).to_std(),
            health_check_interval: config.health_check_interval(server).to_std(),
            tool_discovery_interval: config.tool_discovery_interval(server).to_std(),
        }
    }
}

/// The whole configuration as the running proxy uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub routing: RoutingMode,
    /// `retrieve_tools`' default limit.
    pub tools_limit: u32,
    /// Characters of text a tool answer may have before it is cut; 0: no limit.
    pub tool_response_limit: usize,
    pub call_tool_timeout: Duration,
    pub quarantine_enabled: bool,
    /// `intent_declaration.strict_server_validation`: a read or write call on a destructive
    /// tool is refused (else it only warns).
    pub strict_intent: bool,
    pub require_mcp_auth: bool,
    pub gates: GateSwitches,
    /// `search`: aliases and synonyms the search index reads.
    pub search: SearchConfig,
    /// `enable_code_execution` and the `code_execution_*` limits.
    pub code: crate::code::CodeSettings,
    /// `profiles`, unknown servers skipped.
    pub profiles: crate::profile::Profiles,
    /// In config order.
    servers: Vec<Arc<ServerSettings>>,
    by_name: HashMap<ServerName, Arc<ServerSettings>>,
}

impl Settings {
    /// Builds the settings of a config document (normally one that validated).
    pub fn from_config(config: &Config) -> Self {
        let servers: Vec<Arc<ServerSettings>> = config
            .servers
            .iter()
            .map(|s| Arc::new(ServerSettings::new(config, s)))
            .collect();
        let mut by_name = HashMap::with_capacity(servers.len());
        for s in &servers {
            // A duplicate name fails validation; should one slip through, the first wins,
            // as `Config::server` finds it.
            by_name.entry(s.name.clone()).or_insert_with(|| s.clone());
        }
        Self {
            routing: config.routing_mode(),
            tools_limit: u32::try_from(config.tools_limit.clamp(1, 1000)).unwrap_or(15),
            tool_response_limit: usize::try_from(config.tool_response_limit).unwrap_or(0),
            call_tool_timeout: config.call_tool_timeout.to_std(),
            quarantine_enabled: config.quarantine_enabled(),
            strict_intent: config.strict_server_validation(),
            require_mcp_auth: config.require_mcp_auth,
            gates: GateSwitches {
                read_only: config.read_only_mode,
                disable_management: config.disable_management,
                allow_server_add: config.allow_server_add,
                allow_server_remove: config.allow_server_remove,
                enable_prompts: config.enable_prompts,
            },
            search: config.search.clone(),
            code: config.code_execution.settings(),
            profiles: crate::profile::Profiles::new(
                &config.profiles,
                &servers.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            ),
            servers,
            by_name,
        }
    }

    /// The server of that name, if configured.
    pub fn server<Q>(&self, name: &Q) -> Option<&Arc<ServerSettings>>
    where
        ServerName: Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.by_name.get(name)
    }

    /// Every server, in config order.
    pub fn servers(&self) -> &[Arc<ServerSettings>] {
        &self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(doc: serde_json::Value) -> Settings {
        Settings::from_config(&serde_json::from_value(doc).unwrap())
    }

    #[test]
    fn strings_become_enums_and_defaults_resolve() {
        let s = settings(json!({
            "routing_mode": "direct",
            "tool_response_limit": 0,
            "read_only_mode": true,
            "health_check_interval": "10s",
            "intent_declaration": {"strict_server_validation": false},
            "mcpServers": [
                {"name": "a", "url": "http://h/mcp", "trust_mode": "auto", "quarantined": true},
                {"name": "b", "command": "x", "protocol": "stdio", "enabled": false,
                 "health_check_interval": "0s"}
            ]
        }));
        assert_eq!(s.routing, RoutingMode::Direct);
        assert_eq!(s.tool_response_limit, 0);
        assert!(s.gates.read_only && !s.gates.disable_management && s.gates.enable_prompts);
        assert!(!s.strict_intent);
        let a = s.server("a").unwrap();
        assert_eq!(a.transport, Some(Transport::StreamableHttp));
        assert!(a.remote && a.quarantined && a.enabled && a.auto_approve);
        assert_eq!(a.trust, TrustMode::Auto);
        assert_eq!(a.health_check_interval, Duration::from_secs(10));
        let b = s.server(&ServerName::parse("b").unwrap()).unwrap();
        assert_eq!(b.transport, Some(Transport::Stdio));
        assert!(!b.enabled && !b.remote && !b.auto_approve);
        assert_eq!(b.health_check_interval, Duration::ZERO);
        assert_eq!(
            s.servers()
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"],
            "config order"
        );
        assert!(s.server("c").is_none());
    }

    #[test]
    fn quarantine_off_approves_every_change() {
        let s = settings(json!({
            "quarantine_enabled": false,
            "mcpServers": [{"name": "a", "command": "x"}]
        }));
        assert!(s.server("a").unwrap().auto_approve);
    }

    #[test]
    fn tool_filters() {
        let all = ToolFilter::new(&[], &[]);
        assert!(all.allows("x"));
        let except = ToolFilter::new(&[], &["x".into()]);
        assert!(!except.allows("x") && except.allows("y"));
        let only = ToolFilter::new(&["y".into()], &[]);
        assert!(!only.allows("x") && only.allows("y"));
    }
}
