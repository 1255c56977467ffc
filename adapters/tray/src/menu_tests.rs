use super::*;
use crate::model::tests::server;
use crate::model::{Model, ToolToReview};

fn model() -> Model {
    Model::new("0.1.0", "127.0.0.1:8080", "/home/u/.mcpproxy")
}

/// A connected tray with one server of every kind.
fn connected() -> Model {
    let mut m = model();
    m.state = State::Connected;
    m.owns_core = true;
    m.core_version = Some("0.1.0".into());
    m.http_base = Some("http://127.0.0.1:8080".into());
    m.autostart = Some(false);
    let mut github = server("github", "Ready");
    github.tool_count = 12;
    let mut broken = server("broken", "Error");
    broken.last_error = Some("the server exited during the handshake: boom".into());
    let mut sentry = server("sentry", "Pending Auth");
    sentry.oauth = true;
    let mut old = server("old", "Disabled");
    old.enabled = false;
    let mut fs = server("fs", "Ready");
    fs.quarantined = true;
    fs.tool_count = 4;
    fs.command = "npx".into();
    fs.args = vec![
        "-y".into(),
        "server-filesystem".into(),
        "/home/u/My Files".into(),
    ];
    m.servers = vec![broken, fs, github, old, sentry];
    m.review = vec![
        ToolToReview {
            server: "github".into(),
            tool: "create_issue".into(),
            changed: true,
        },
        ToolToReview {
            server: "github".into(),
            tool: "delete_repo".into(),
            changed: false,
        },
    ];
    m
}

fn assert_menu(m: &Model, expected: &str) {
    let got = render(&menu(m));
    assert_eq!(
        got.trim(),
        expected.trim(),
        "\n--- got ---\n{got}\n--- expected ---\n{expected}"
    );
}

#[test]
fn connected_with_servers_of_every_kind() {
    assert_menu(
        &connected(),
        "
- MCPProxy 0.1.0
- Running on 127.0.0.1:8080 · 1 of 5 servers ready · 1 failed · 1 need a login
---
Upstream servers (5, 2 need attention) >
  ✖ broken — Error >
    - Error: the server exited during the handshake: boom
    Restart
    Disable
    Quarantine
  ⛔ fs — quarantined >
    Restart
    Disable
    Approve (lift the quarantine)
  ● github — Ready, 12 tools >
    Restart
    Disable
    Quarantine
  ◌ old — Disabled >
    Enable
    Quarantine
  ⚠ sentry — Pending Auth >
    Log in
    Restart
    Disable
    Quarantine
Security quarantine (3) >
  - Quarantined servers
  fs — 4 tools not yet callable >
    - Runs: npx -y server-filesystem '/home/u/My Files'
    Approve
  ---
  - Tools waiting for approval
  github:create_issue — changed >
    Approve
  github:delete_repo — new >
    Approve
---
Open web control panel
Open logs folder
Open config folder
[ ] Start at login
---
Quit (stops mcpproxy)
",
    );
}

#[test]
fn a_port_conflict_offers_the_next_free_port() {
    let mut m = model();
    m.state = State::CoreErrorPortConflict;
    m.detail = Some(
        "cannot listen on 127.0.0.1:8080: Address already in use (os error 98); another program is listening there"
            .into(),
    );
    m.next_port = Some("127.0.0.1:8081".into());
    m.autostart = Some(true);
    assert_menu(
        &m,
        "
- MCPProxy 0.1.0
- Port conflict: 127.0.0.1:8080 is already in use by another program
- cannot listen on 127.0.0.1:8080: Address already in use (os error 98); another program is…
Use the next free port (127.0.0.1:8081)
Retry
---
Upstream servers (0) (off) >
  - Not connected
Security quarantine (off) >
  - Nothing waits for review
---
Open web control panel (off)
Open logs folder
Open config folder
[x] Start at login
---
Quit
",
    );
    let item = menu(&m)
        .into_iter()
        .find(|i| matches!(i, Item::Button { label, .. } if label.starts_with("Use the next")))
        .unwrap();
    assert!(matches!(
        item,
        Item::Button { action: Action::UseNextPort(ref p), .. } if p == "127.0.0.1:8081"
    ));
}

#[test]
fn a_config_error_names_the_key_in_the_status() {
    let mut m = model();
    m.state = State::CoreErrorConfig;
    m.detail =
        Some("/home/u/.mcpproxy/mcp_config.json: tools_limit: must be between 1 and 1000".into());
    let items = menu(&m);
    assert_eq!(
        items[1],
        Item::Label(
            "Configuration error: /home/u/.mcpproxy/mcp_config.json: tools_limit: must be between 1 an…"
                .into()
        ),
        "the status line carries the core's reason, cut for the menu"
    );
    assert_eq!(
        items[2],
        Item::Button {
            label: "Retry".into(),
            action: Action::RetryNow,
            enabled: true
        }
    );
}

#[test]
fn while_reconnecting_the_last_servers_stay_greyed() {
    let mut m = connected();
    m.state = State::Reconnecting;
    m.reconnects = 2;
    m.autostart = None;
    m.owns_core = false;
    let text = render(&menu(&m));
    assert!(
        text.starts_with(
            "- MCPProxy 0.1.0\n- Connection lost; reconnecting (attempt 2 of 10)…\nReconnect now\n---\nUpstream servers (5, 2 need attention) (off) >\n"
        ),
        "{text}"
    );
    assert!(text.contains("Open web control panel (off)"), "{text}");
    assert!(!text.contains("Start at login"), "no such setting here");
    assert!(text.trim_end().ends_with("\nQuit"), "{text}");
}

#[test]
fn starting_up_with_nothing_known() {
    assert_menu(
        &model(),
        "
- MCPProxy 0.1.0
- Looking for a running mcpproxy…
---
Upstream servers (0) (off) >
  - Not connected
Security quarantine (off) >
  - Nothing waits for review
---
Open web control panel (off)
Open logs folder
Open config folder
---
Quit
",
    );
}

#[test]
fn quitting_cannot_be_clicked_twice() {
    let mut m = model();
    m.state = State::ShuttingDown;
    let text = render(&menu(&m));
    assert!(text.contains("- Shutting down…"), "{text}");
    assert!(text.trim_end().ends_with("Quit (off)"), "{text}");
}

#[test]
fn long_or_multi_line_texts_are_cut() {
    assert_eq!(clip("short"), "short");
    assert_eq!(clip("first line\nsecond"), "first line…");
    let long = "x".repeat(200);
    let cut = clip(&long);
    assert_eq!(cut.chars().count(), 90);
    assert!(cut.ends_with('…'));
}

#[test]
fn a_quarantined_server_shows_what_approving_it_lets_run() {
    let mut m = connected();
    let mut notes = server("notes", "Disconnected");
    notes.quarantined = true;
    notes.added_by = Some("mcp".into());
    notes.not_started = Some("server notes was added or changed by an agent".into());
    notes.url = "https://notes.example.com/mcp".into();
    let mut off = server("off", "Disabled");
    off.enabled = false;
    off.quarantined = true;
    off.command = "off-server".into();
    off.not_started = Some("server off is disabled; enable it to start it".into());
    m.servers = vec![notes, off];
    m.review.clear();
    let text = render(&menu(&m));
    let expected = "
Security quarantine (2) >
  - Quarantined servers
  notes — not started >
    - Added by an AI agent: not started until you approve it
    - Connects to: https://notes.example.com/mcp
    Approve
  off — not started >
    - Not started: server off is disabled; enable it to start it
    - Runs: off-server
    Approve
";
    assert!(text.contains(expected.trim_start()), "{text}");
}
