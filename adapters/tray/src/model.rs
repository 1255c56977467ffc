//! What the tray knows: the machine's state, the core's address and version, its servers and
//! the tools waiting for review. The menu, the icon, the status line and the notifications
//! ([`crate::notice`]) are functions of it. Pure: the runner fills it from the API's answers
//! and events.

use mcpproxy_domain::ConnectionState;
use serde::Deserialize;
use serde_json::Value;

use crate::machine::{Core, Machine, State};

/// An upstream server as `GET /api/v1/servers` shows it (the fields the tray uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Server {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub quarantined: bool,
    #[serde(default)]
    pub connected: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tool_count: usize,
    #[serde(default)]
    pub last_error: Option<String>,
    /// It logs in with OAuth.
    #[serde(default)]
    pub oauth: bool,
    /// What would run or be contacted, shown for the review of a quarantine.
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub url: String,
    /// `mcp` when an agent added it (or changed how it starts).
    #[serde(default)]
    pub added_by: Option<String>,
    /// Why the core holds it back (an agent's server waiting for review).
    #[serde(default)]
    pub not_started: Option<String>,
}

/// How a server is doing, from the tray's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ready,
    Starting,
    NeedsLogin,
    Failed,
    Offline,
    Disabled,
    Quarantined,
}

impl Server {
    pub fn health(&self) -> Health {
        if !self.enabled {
            return Health::Disabled;
        }
        if self.quarantined {
            return Health::Quarantined;
        }
        match ConnectionState::from_label(&self.status) {
            Some(ConnectionState::Ready) => Health::Ready,
            Some(ConnectionState::Connecting | ConnectionState::Discovering) => Health::Starting,
            // A login waits for the person, whether or not its page is open yet.
            Some(ConnectionState::PendingAuth | ConnectionState::Authenticating) => {
                Health::NeedsLogin
            }
            // Isolation waits for Docker: it will not run until someone starts Docker.
            Some(ConnectionState::Error | ConnectionState::DockerUnavailable) => Health::Failed,
            Some(ConnectionState::Disconnected) | None => Health::Offline,
        }
    }

    /// What approving it lets run: its command line, or the URL it is reached at.
    pub fn what_runs(&self) -> Option<String> {
        if !self.command.is_empty() {
            let words = std::iter::once(&self.command).chain(&self.args);
            let quoted: Vec<String> = words
                .map(|w| {
                    if w.is_empty() || w.contains(char::is_whitespace) {
                        format!("'{w}'")
                    } else {
                        w.clone()
                    }
                })
                .collect();
            return Some(format!("Runs: {}", quoted.join(" ")));
        }
        (!self.url.is_empty()).then(|| format!("Connects to: {}", self.url))
    }

    /// It needs the person: it failed or waits for a login.
    pub fn needs_attention(&self) -> bool {
        matches!(self.health(), Health::Failed | Health::NeedsLogin)
    }
}

/// A tool that is refused until someone approves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolToReview {
    pub server: String,
    pub tool: String,
    /// Approved once, changed since (rather than new).
    pub changed: bool,
}

/// Parses `data.servers` of `GET /api/v1/servers`.
pub fn servers_from(data: &Value) -> Result<Vec<Server>, String> {
    let list = data.get("servers").cloned().unwrap_or(Value::Null);
    let mut servers: Vec<Server> =
        serde_json::from_value(list).map_err(|e| format!("unexpected server list: {e}"))?;
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(servers)
}

/// The tools of `data.tools` (`GET /api/v1/tools`) that wait for an approval.
pub fn review_from(data: &Value) -> Vec<ToolToReview> {
    let mut tools: Vec<ToolToReview> = data
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let changed = match t.get("approval")?.as_str()? {
                "changed" => true,
                "pending" => false,
                _ => return None,
            };
            Some(ToolToReview {
                server: t.get("server")?.as_str()?.to_owned(),
                tool: t.get("name")?.as_str()?.to_owned(),
                changed,
            })
        })
        .collect();
    tools.sort_by(|a, b| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)));
    tools
}

/// Everything the menu, the icon and the status line are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub tray_version: String,
    pub state: State,
    /// Why the tray is in its state (the core's failure, the lost connection).
    pub detail: Option<String>,
    /// The tray launched the core it is with (and stops it on Quit).
    pub owns_core: bool,
    /// Reconnection attempts since the core last settled.
    pub reconnects: u32,
    /// Where the core listens, or will: `/info`'s address once known, else the configured one.
    pub listen: String,
    pub data_dir: String,
    pub core_version: Option<String>,
    /// The core's HTTP base URL (`/info`'s `endpoints.http`).
    pub http_base: Option<String>,
    pub servers: Vec<Server>,
    pub review: Vec<ToolToReview>,
    /// After a port conflict: the next free address, to offer.
    pub next_port: Option<String>,
    /// Whether the tray starts at login; `None` where the platform has no such setting here.
    pub autostart: Option<bool>,
}

impl Model {
    pub fn new(tray_version: &str, listen: &str, data_dir: &str) -> Self {
        Self {
            tray_version: tray_version.to_owned(),
            state: State::Initializing,
            detail: None,
            owns_core: false,
            reconnects: 0,
            listen: listen.to_owned(),
            data_dir: data_dir.to_owned(),
            core_version: None,
            http_base: None,
            servers: Vec::new(),
            review: Vec::new(),
            next_port: None,
            autostart: None,
        }
    }

    /// Takes the machine's state. Leaving `connected` keeps the last known servers (shown
    /// greyed) until the next connection replaces them.
    pub fn follow(&mut self, machine: &Machine) {
        self.state = machine.state();
        self.detail = machine.detail().map(str::to_owned);
        self.owns_core = matches!(machine.core(), Core::Launched { .. });
        self.reconnects = machine.spent(State::Reconnecting);
        if let Some(listen) = machine.listen_override() {
            listen.clone_into(&mut self.listen);
        }
    }

    /// Takes `GET /api/v1/info`'s data.
    pub fn set_info(&mut self, info: &Value) {
        if let Some(v) = info.get("version").and_then(Value::as_str) {
            self.core_version = Some(v.to_owned());
        }
        if let Some(l) = info.get("listen_addr").and_then(Value::as_str) {
            l.clone_into(&mut self.listen);
        }
        self.http_base = info
            .pointer("/endpoints/http")
            .and_then(Value::as_str)
            .map(|s| s.trim_end_matches('/').to_owned());
    }

    pub fn connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The web control panel's URL, when the core's address is known.
    pub fn web_url(&self) -> Option<String> {
        self.http_base.as_ref().map(|base| format!("{base}/ui/"))
    }

    /// The line that says how things are: the menu's second line, the tooltip's title.
    pub fn status_line(&self) -> String {
        let detail = self.detail.as_deref().unwrap_or("no reason given");
        match self.state {
            State::Initializing => "Looking for a running mcpproxy…".to_owned(),
            State::LaunchingCore => "Starting mcpproxy…".to_owned(),
            State::WaitingForCore => "Waiting for mcpproxy to answer…".to_owned(),
            State::ConnectingApi => "Connecting to mcpproxy…".to_owned(),
            State::Connected => self.servers_summary(),
            State::Reconnecting => format!(
                "Connection lost; reconnecting (attempt {} of {})…",
                self.reconnects.max(1),
                State::Reconnecting.policy().retries
            ),
            State::CoreErrorPortConflict => format!(
                "Port conflict: {} is already in use by another program",
                self.listen
            ),
            State::CoreErrorDbLocked => format!(
                "Another mcpproxy is using the data directory {}",
                self.data_dir
            ),
            State::CoreErrorConfig => format!("Configuration error: {detail}"),
            State::CoreErrorPermission => format!("Permission error: {detail}"),
            State::CoreErrorGeneral => format!("mcpproxy stopped: {detail}"),
            State::ShuttingDown => "Shutting down…".to_owned(),
            State::Failed => format!("mcpproxy keeps failing; gave up reconnecting: {detail}"),
        }
    }

    fn servers_summary(&self) -> String {
        let total = self.servers.len();
        let count = |h: Health| self.servers.iter().filter(|s| s.health() == h).count();
        let mut line = format!("Running on {}", self.listen);
        if total == 0 {
            line.push_str(" · no servers yet");
            return line;
        }
        line.push_str(&format!(
            " · {} of {total} servers ready",
            count(Health::Ready)
        ));
        for (health, words) in [
            (Health::Failed, "failed"),
            (Health::NeedsLogin, "need a login"),
        ] {
            let n = count(health);
            if n > 0 {
                line.push_str(&format!(" · {n} {words}"));
            }
        }
        line
    }

    /// Which of the four icons to show.
    pub fn icon(&self) -> IconKind {
        if self.state.is_error() {
            IconKind::Error
        } else if self.state != State::Connected {
            IconKind::Stopped
        } else if self.servers.iter().any(Server::needs_attention) {
            IconKind::Degraded
        } else {
            IconKind::Ready
        }
    }
}

/// The tray's icons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconKind {
    /// Connected; every server that should run does.
    Ready,
    /// Connected; some server failed or needs a login.
    Degraded,
    /// The core cannot run until something is fixed.
    Error,
    /// The core is not (yet, or any more) serving.
    Stopped,
}

impl IconKind {
    pub const ALL: [IconKind; 4] = [Self::Ready, Self::Degraded, Self::Error, Self::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Degraded => "degraded",
            Self::Error => "error",
            Self::Stopped => "stopped",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// An enabled, trusted server in `status`, with no tools.
    pub(crate) fn server(name: &str, status: &str) -> Server {
        Server {
            name: name.into(),
            enabled: true,
            quarantined: false,
            connected: status == "Ready",
            status: status.into(),
            tool_count: 0,
            last_error: None,
            oauth: false,
            command: String::new(),
            args: Vec::new(),
            url: String::new(),
            added_by: None,
            not_started: None,
        }
    }

    #[test]
    fn server_health_follows_the_api_status() {
        assert_eq!(server("a", "Ready").health(), Health::Ready);
        assert_eq!(server("a", "Discovering").health(), Health::Starting);
        assert_eq!(server("a", "Pending Auth").health(), Health::NeedsLogin);
        assert_eq!(server("a", "Authenticating").health(), Health::NeedsLogin);
        assert_eq!(server("a", "Error").health(), Health::Failed);
        assert_eq!(server("a", "Docker unavailable").health(), Health::Failed);
        assert_eq!(server("a", "Disconnected").health(), Health::Offline);
        let mut s = server("a", "Disabled");
        s.enabled = false;
        assert_eq!(s.health(), Health::Disabled);
        let mut s = server("a", "Ready");
        s.quarantined = true;
        assert_eq!(s.health(), Health::Quarantined);
    }

    #[test]
    fn the_api_lists_parse() {
        let data = json!({"servers": [
            {"name": "zeta", "enabled": true, "quarantined": false, "connected": true,
             "status": "Ready", "tool_count": 2, "last_error": null, "oauth": false,
             "protocol": "stdio", "trust_mode": "manual"},
            {"name": "alpha", "enabled": false, "status": "Disabled"}
        ], "total": 2});
        let servers = servers_from(&data).unwrap();
        assert_eq!(
            servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["alpha", "zeta"]
        );
        assert!(servers_from(&json!({"servers": 3})).is_err());
        let tools = json!({"tools": [
            {"server": "fx", "name": "b", "approval": "approved"},
            {"server": "fx", "name": "c", "approval": "changed"},
            {"server": "fx", "name": "a", "approval": "pending"}
        ]});
        assert_eq!(
            review_from(&tools),
            vec![
                ToolToReview {
                    server: "fx".into(),
                    tool: "a".into(),
                    changed: false
                },
                ToolToReview {
                    server: "fx".into(),
                    tool: "c".into(),
                    changed: true
                },
            ]
        );
    }

    #[test]
    fn the_icon_follows_state_and_servers() {
        let mut m = Model::new("0.1.0", "127.0.0.1:8080", "/home/u/.mcpproxy");
        assert_eq!(m.icon(), IconKind::Stopped);
        m.state = State::Connected;
        m.servers = vec![server("a", "Ready")];
        assert_eq!(m.icon(), IconKind::Ready);
        m.servers.push(server("b", "Error"));
        assert_eq!(m.icon(), IconKind::Degraded);
        m.servers[1].enabled = false;
        assert_eq!(m.icon(), IconKind::Ready, "a disabled server is no problem");
        m.state = State::CoreErrorConfig;
        assert_eq!(m.icon(), IconKind::Error);
        m.state = State::Reconnecting;
        assert_eq!(m.icon(), IconKind::Stopped);
    }

    #[test]
    fn status_lines_name_what_is_wrong() {
        let mut m = Model::new("0.1.0", "127.0.0.1:8080", "/home/u/.mcpproxy");
        m.state = State::CoreErrorPortConflict;
        assert_eq!(
            m.status_line(),
            "Port conflict: 127.0.0.1:8080 is already in use by another program"
        );
        m.state = State::CoreErrorConfig;
        m.detail = Some("mcp_config.json: mcpServers[0].name: must not be empty".into());
        assert_eq!(
            m.status_line(),
            "Configuration error: mcp_config.json: mcpServers[0].name: must not be empty"
        );
        m.state = State::Connected;
        m.servers = vec![
            server("a", "Ready"),
            server("b", "Error"),
            server("c", "Pending Auth"),
        ];
        assert_eq!(
            m.status_line(),
            "Running on 127.0.0.1:8080 · 1 of 3 servers ready · 1 failed · 1 need a login"
        );
    }
}
