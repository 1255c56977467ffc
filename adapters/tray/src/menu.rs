//! The tray's menu as a pure function of the [`Model`]: every desktop surface shows the same
//! items, and tests read it as text.

use std::fmt::Write as _;

use crate::machine::State;
use crate::model::{Health, Model, Server};

/// What a server's action does; its name is the REST route's (`POST /servers/{id}/{op}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerOp {
    Enable,
    Disable,
    Restart,
    Login,
    Quarantine,
    Unquarantine,
}

impl ServerOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::Restart => "restart",
            Self::Login => "login",
            Self::Quarantine => "quarantine",
            Self::Unquarantine => "unquarantine",
        }
    }
}

/// What a click asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Server { server: String, op: ServerOp },
    ApproveTool { server: String, tool: String },
    OpenWebPanel,
    OpenLogs,
    OpenConfig,
    ToggleAutostart,
    RetryNow,
    UseNextPort(String),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Text that cannot be clicked.
    Label(String),
    Button {
        label: String,
        action: Action,
        enabled: bool,
    },
    Check {
        label: String,
        checked: bool,
        action: Action,
    },
    Submenu {
        label: String,
        enabled: bool,
        items: Vec<Item>,
    },
    Separator,
}

fn button(label: impl Into<String>, action: Action) -> Item {
    Item::Button {
        label: label.into(),
        action,
        enabled: true,
    }
}

/// Long texts (errors) are cut for the menu; the tooltip keeps them whole.
const MAX_LABEL: usize = 90;

pub fn clip(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= MAX_LABEL && line.len() == text.len() {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX_LABEL - 1).collect();
    format!("{}…", cut.trim_end())
}

fn server_symbol(health: Health) -> &'static str {
    match health {
        Health::Ready => "●",
        Health::Starting => "◐",
        Health::NeedsLogin => "⚠",
        Health::Failed => "✖",
        Health::Offline => "○",
        Health::Disabled => "◌",
        Health::Quarantined => "⛔",
    }
}

fn server_item(s: &Server, live: bool) -> Item {
    let health = s.health();
    let mut label = format!("{} {} — {}", server_symbol(health), s.name, s.status);
    if health == Health::Quarantined {
        label = format!("{} {} — quarantined", server_symbol(health), s.name);
    } else if s.tool_count > 0 && health == Health::Ready {
        label.push_str(&format!(", {} tools", s.tool_count));
    }
    let act = |label: &str, op: ServerOp| button(label, server_action(s, op));
    let mut items = Vec::new();
    if let Some(e) = s.last_error.as_deref().filter(|e| !e.is_empty()) {
        items.push(Item::Label(clip(&format!("Error: {e}"))));
    }
    if s.enabled {
        if s.oauth || health == Health::NeedsLogin {
            items.push(act("Log in", ServerOp::Login));
        }
        items.push(act("Restart", ServerOp::Restart));
        items.push(act("Disable", ServerOp::Disable));
    } else {
        items.push(act("Enable", ServerOp::Enable));
    }
    if s.quarantined {
        items.push(act("Approve (lift the quarantine)", ServerOp::Unquarantine));
    } else {
        items.push(act("Quarantine", ServerOp::Quarantine));
    }
    Item::Submenu {
        label,
        enabled: live,
        items,
    }
}

fn server_action(s: &Server, op: ServerOp) -> Action {
    Action::Server {
        server: s.name.clone(),
        op,
    }
}

fn quarantine_menu(model: &Model, live: bool) -> Item {
    let servers: Vec<&Server> = model.servers.iter().filter(|s| s.quarantined).collect();
    let mut items = Vec::new();
    if !servers.is_empty() {
        items.push(Item::Label("Quarantined servers".to_owned()));
        for s in &servers {
            items.push(Item::Submenu {
                label: match s.not_started {
                    Some(_) => format!("{} — not started", s.name),
                    None => format!("{} — {} tools not yet callable", s.name, s.tool_count),
                },
                enabled: live,
                items: review_of(s),
            });
        }
    }
    if !model.review.is_empty() {
        if !items.is_empty() {
            items.push(Item::Separator);
        }
        items.push(Item::Label("Tools waiting for approval".to_owned()));
        for t in &model.review {
            let why = if t.changed { "changed" } else { "new" };
            items.push(Item::Submenu {
                label: format!("{}:{} — {why}", t.server, t.tool),
                enabled: live,
                items: vec![button(
                    "Approve",
                    Action::ApproveTool {
                        server: t.server.clone(),
                        tool: t.tool.clone(),
                    },
                )],
            });
        }
    }
    let waiting = servers.len() + model.review.len();
    if items.is_empty() {
        items.push(Item::Label("Nothing waits for review".to_owned()));
    }
    Item::Submenu {
        label: if waiting == 0 {
            "Security quarantine".to_owned()
        } else {
            format!("Security quarantine ({waiting})")
        },
        enabled: live,
        items,
    }
}

/// What a person needs to decide on a quarantined server, then "Approve". The whole review
/// (env and header names, the working directory) is in `mcpproxy upstream inspect` and the
/// web panel.
fn review_of(s: &Server) -> Vec<Item> {
    let mut items = Vec::new();
    match (s.added_by.as_deref() == Some("mcp"), &s.not_started) {
        (true, Some(_)) => items.push(Item::Label(
            "Added by an AI agent: not started until you approve it".to_owned(),
        )),
        (true, None) => items.push(Item::Label("Added by an AI agent".to_owned())),
        (false, Some(why)) => items.push(Item::Label(clip(&format!("Not started: {why}")))),
        (false, None) => {}
    }
    if let Some(what) = s.what_runs() {
        items.push(Item::Label(clip(&what)));
    }
    items.push(button("Approve", server_action(s, ServerOp::Unquarantine)));
    items
}

/// The items that fix the current error, right under the status.
fn recovery(model: &Model) -> Vec<Item> {
    let mut items = Vec::new();
    if let Some(d) = model.detail.as_deref()
        && model.state.is_error()
        && !model.status_line().contains(d)
    {
        items.push(Item::Label(clip(d)));
    }
    match model.state {
        State::CoreErrorPortConflict => {
            if let Some(next) = &model.next_port {
                items.push(button(
                    format!("Use the next free port ({next})"),
                    Action::UseNextPort(next.clone()),
                ));
            }
            items.push(button("Retry", Action::RetryNow));
        }
        State::Reconnecting => items.push(button("Reconnect now", Action::RetryNow)),
        s if s.is_error() => items.push(button("Retry", Action::RetryNow)),
        _ => {}
    }
    items
}

/// The menu for `model`.
pub fn menu(model: &Model) -> Vec<Item> {
    let live = model.connected();
    let version = model.core_version.as_deref().unwrap_or(&model.tray_version);
    let mut items = vec![
        Item::Label(format!("MCPProxy {version}")),
        Item::Label(clip(&model.status_line())),
    ];
    items.extend(recovery(model));
    items.push(Item::Separator);

    let mut servers: Vec<Item> = model.servers.iter().map(|s| server_item(s, live)).collect();
    if servers.is_empty() {
        servers.push(Item::Label(if live {
            "No servers yet: add one with `mcpproxy upstream add`".to_owned()
        } else {
            "Not connected".to_owned()
        }));
    }
    let attention = model.servers.iter().filter(|s| s.needs_attention()).count();
    items.push(Item::Submenu {
        label: if attention > 0 {
            format!(
                "Upstream servers ({}, {attention} need attention)",
                model.servers.len()
            )
        } else {
            format!("Upstream servers ({})", model.servers.len())
        },
        enabled: live,
        items: servers,
    });
    items.push(quarantine_menu(model, live));
    items.push(Item::Separator);
    items.push(Item::Button {
        label: "Open web control panel".to_owned(),
        action: Action::OpenWebPanel,
        enabled: live && model.web_url().is_some(),
    });
    items.push(button("Open logs folder", Action::OpenLogs));
    items.push(button("Open config folder", Action::OpenConfig));
    if let Some(checked) = model.autostart {
        items.push(Item::Check {
            label: "Start at login".to_owned(),
            checked,
            action: Action::ToggleAutostart,
        });
    }
    items.push(Item::Separator);
    items.push(Item::Button {
        label: if model.owns_core {
            "Quit (stops mcpproxy)".to_owned()
        } else {
            "Quit".to_owned()
        },
        action: Action::Quit,
        enabled: model.state != State::ShuttingDown,
    });
    items
}

/// The menu as indented text: `>` opens a submenu, `[x]`/`[ ]` are checkmarks, `(off)` marks
/// what cannot be clicked now, `-` is a label.
pub fn render(items: &[Item]) -> String {
    let mut out = String::new();
    render_into(&mut out, items, 0);
    out
}

fn render_into(out: &mut String, items: &[Item], depth: usize) {
    let pad = "  ".repeat(depth);
    for item in items {
        let _ = match item {
            Item::Label(text) => writeln!(out, "{pad}- {text}"),
            Item::Button { label, enabled, .. } => {
                writeln!(out, "{pad}{label}{}", if *enabled { "" } else { " (off)" })
            }
            Item::Check { label, checked, .. } => {
                writeln!(out, "{pad}[{}] {label}", if *checked { "x" } else { " " })
            }
            Item::Separator => writeln!(out, "{pad}---"),
            Item::Submenu {
                label,
                enabled,
                items,
            } => {
                let _ = writeln!(
                    out,
                    "{pad}{label}{} >",
                    if *enabled { "" } else { " (off)" }
                );
                render_into(out, items, depth + 1);
                Ok(())
            }
        };
    }
}

#[cfg(test)]
#[path = "menu_tests.rs"]
mod tests;
