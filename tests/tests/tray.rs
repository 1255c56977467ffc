//! `mcpproxy-tray` against the real core, with real processes: launching, attaching, crashes,
//! start-up failures, Quit; and its D-Bus surface on a private session bus, read and clicked
//! the way a desktop does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::tray::{
    OnDesktop, Tray, add_extra_tool, assert_none_left, extra_tool_state, processes_of,
    recording_opener,
};
use mcpproxy_tests::{Home, Proxy, fixture_bin, free_port, signal_pid};
use mcpproxy_tray::model::IconKind;

const KEY: &str = "tray-test-key";

/// A home whose config listens on a free port and runs the fixture server `fx`.
fn home_with_fixture() -> (Home, String) {
    home_with_fixture_and(json!({}))
}

/// The same, with the top-level keys of `extra` too.
fn home_with_fixture_and(extra: Value) -> (Home, String) {
    let home = Home::new();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut config = json!({"listen": listen, "api_key": KEY, "mcpServers": [
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
    ]});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    home.write_config(&config.to_string());
    (home, listen)
}

fn connected_with(text: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["status"].as_str().unwrap_or_default().contains(text)
}

#[tokio::test]
async fn the_tray_launches_the_core_restarts_it_after_a_kill_and_stops_it_on_quit() {
    let (home, listen) = home_with_fixture();
    let mut tray = Tray::start(&home, &["--headless"], &[]);
    let first = tray
        .until("connected", connected_with("1 of 1 servers ready"))
        .await;
    assert_eq!(first["icon"], "ready");
    assert!(
        first["status"].as_str().unwrap().contains(&listen),
        "{first}"
    );
    let core = first["core_pid"]
        .as_u64()
        .expect("the tray launched the core") as u32;
    let api = Rest::new(&format!("http://{listen}"), Some(KEY));
    assert_eq!(api.get("/servers").await.data()["servers"][0]["name"], "fx");

    signal_pid(core, nix::sys::signal::Signal::SIGKILL);
    let seen = tray.history().len();
    tray.until_after(seen, "reconnecting", |v| v["state"] == "reconnecting")
        .await;
    let again = tray
        .until_after(seen, "connected with a new core", |v| {
            v["state"] == "connected"
                && v["core_pid"].as_u64().is_some_and(|p| p != u64::from(core))
                && connected_with("1 of 1 servers ready")(v)
        })
        .await;
    println!("after kill -9: {again}");
    assert_eq!(api.get("/status").await.data()["running"], true);

    let status = tray.quit().await;
    assert_eq!(status.code(), Some(0), "{}", tray.log());
    let last = tray.history().last().cloned().unwrap();
    assert_eq!(last["state"], "shutting_down");
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn a_taken_port_is_a_port_conflict_that_names_the_address() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    home.write_config(&json!({"listen": listen, "api_key": KEY}).to_string());
    let mut tray = Tray::start(&home, &["--headless"], &[]);
    let conflict = tray.until("core_error_port_conflict", |_| true).await;
    let status = conflict["status"].as_str().unwrap();
    assert!(
        status.contains(&listen),
        "the status names {listen}: {status}"
    );
    assert_eq!(conflict["icon"], "error");
    assert_eq!(conflict["core_pid"], Value::Null, "the core exited");
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn a_broken_config_is_a_config_error_naming_the_key_until_the_file_is_fixed() {
    let home = Home::new();
    let listen = format!("127.0.0.1:{}", free_port());
    home.write_config(
        &json!({"listen": listen, "api_key": KEY, "mcpServers": [
            {"name": "fx", "command": "x", "protocol": "carrier-pigeon"}
        ]})
        .to_string(),
    );
    let mut tray = Tray::start(&home, &["--headless"], &[]);
    let error = tray.until("core_error_config", |_| true).await;
    let status = error["status"].as_str().unwrap();
    assert!(
        status.contains("mcpServers[0].protocol"),
        "the status names the key: {status}"
    );
    // Fixing the file is enough: the tray starts the core again by itself.
    home.write_config(&json!({"listen": listen, "api_key": KEY}).to_string());
    tray.until("connected", |_| true).await;
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn a_running_core_is_attached_to_not_doubled_and_left_running_on_quit() {
    let (home, _) = home_with_fixture();
    let mut proxy = Proxy::start(&home, &[]).await;
    let mut tray = Tray::start(&home, &["--headless"], &[]);
    let attached = tray
        .until("connected", connected_with("1 of 1 servers ready"))
        .await;
    assert_eq!(
        attached["core_pid"],
        Value::Null,
        "not launched by the tray"
    );
    let cores: Vec<_> = processes_of(home.path())
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("mcpproxy serve"))
        .collect();
    assert_eq!(cores.len(), 1, "one core only: {cores:#?}");
    assert_eq!(cores[0].0, proxy.pid());
    assert!(
        tray.history()
            .iter()
            .all(|v| v["state"] != "launching_core"),
        "{:?}",
        tray.history()
    );

    assert_eq!(tray.quit().await.code(), Some(0));
    let api = Rest::new(&proxy.url(""), Some(KEY));
    assert_eq!(
        api.get("/status").await.data()["running"],
        true,
        "the core the tray found still runs"
    );
    proxy.stop().await;
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn a_core_without_its_socket_is_reached_over_tcp_with_the_key() {
    let home = Home::new();
    home.write_config(&json!({"api_key": KEY, "enable_socket": false}).to_string());
    let mut proxy = Proxy::start(&home, &[]).await;
    assert!(!home.data_dir().join("mcpproxy.sock").exists());
    let mut tray = Tray::start(&home, &["--headless"], &[]);
    let attached = tray.until("connected", |_| true).await;
    assert_eq!(attached["core_pid"], Value::Null, "attached, not launched");
    assert!(
        attached["status"].as_str().unwrap().contains(&proxy.addr),
        "{attached}"
    );
    assert_eq!(tray.quit().await.code(), Some(0));
    proxy.stop().await;
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn the_tray_on_d_bus_shows_its_menu_and_does_what_is_clicked() {
    let (home, listen) = home_with_fixture();
    let opener = recording_opener(&home);
    let config_home = home.path().join(".config");
    let OnDesktop {
        mut tray,
        desktop,
        item,
        bus: _bus,
    } = OnDesktop::start(
        &home,
        &[
            ("MCPPROXY_TRAY_OPENER", opener.as_str()),
            ("XDG_CONFIG_HOME", config_home.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(item.property::<String>("Title").await, "MCPProxy");
    tray.until("connected", connected_with("1 of 1 servers ready"))
        .await;
    let ready = mcpproxy_tray::sni::pixmap(IconKind::Ready);
    let degraded = mcpproxy_tray::sni::pixmap(IconKind::Degraded);
    assert_eq!(item.pixmap().await, (64, 64, ready.data.clone()));

    let menu = item.menu().await;
    println!("the menu over D-Bus:\n{}", menu.outline());
    assert!(
        menu.children[0].label.starts_with("MCPProxy "),
        "{}",
        menu.outline()
    );
    assert!(!menu.children[0].enabled, "the version is not clickable");
    assert!(menu.children[1].label.contains("1 of 1 servers ready"));
    let api = Rest::new(&format!("http://{listen}"), Some(KEY));

    // A new tool waits for approval: a notification, then Approve in the menu.
    add_extra_tool(&api).await;
    desktop
        .notice("New tool extra_tool of fx waits for approval")
        .await;
    item.press(&["Security quarantine", "fx:extra_tool", "Approve"], |e| {
        e.enabled
    })
    .await;
    mcpproxy_tests::eventually_async("the tool approved", || async {
        (extra_tool_state(&api).await.as_deref() == Some("approved")).then_some(())
    })
    .await;

    // Disable from the server's submenu: the REST API sees it disabled.
    item.press(&["Upstream servers", "fx", "Disable"], |e| e.enabled)
        .await;
    mcpproxy_tests::eventually_async("fx disabled", || async {
        (api.get("/servers").await.data()["servers"][0]["enabled"] == false).then_some(())
    })
    .await;
    item.press(&["Upstream servers", "fx", "Enable"], |e| e.enabled)
        .await;
    let fx_ready = || async {
        let fx = api.get("/servers").await.data()["servers"][0].clone();
        (fx["enabled"] == true && fx["status"] == "Ready").then_some(())
    };
    mcpproxy_tests::eventually_async("fx enabled and ready", fx_ready).await;

    // Restart: the fixture's process is replaced by a new one.
    let fixture_pid = || {
        processes_of(home.path())
            .into_iter()
            .find(|(_, cmd)| cmd.contains("--name fx"))
            .map(|(pid, _)| pid)
    };
    let before = mcpproxy_tests::eventually("the fixture's process", fixture_pid).await;
    item.press(&["Upstream servers", "fx", "Restart"], |e| e.enabled)
        .await;
    mcpproxy_tests::eventually("a new fixture process", || {
        fixture_pid().filter(|pid| *pid != before)
    })
    .await;
    mcpproxy_tests::eventually_async("fx ready after the restart", fx_ready).await;

    // Quarantine, then lift it from "Security quarantine".
    item.press(&["Upstream servers", "fx", "Quarantine"], |e| e.enabled)
        .await;
    let quarantined = |q: bool| {
        let api = &api;
        move || async move {
            (api.get("/servers").await.data()["servers"][0]["quarantined"] == q).then_some(())
        }
    };
    mcpproxy_tests::eventually_async("fx quarantined", quarantined(true)).await;
    item.press(&["Security quarantine", "fx", "Approve"], |e| e.enabled)
        .await;
    mcpproxy_tests::eventually_async("fx out of quarantine", quarantined(false)).await;

    // A server that fails turns the icon to degraded.
    api.post(
        "/servers",
        &json!({"name": "broken", "command": fixture_bin(),
                "args": ["--fail-handshake", "boom"], "quarantined": false}),
    )
    .await
    .data();
    mcpproxy_tests::eventually_async("the degraded icon", || async {
        (item.pixmap().await.2 == degraded.data).then_some(())
    })
    .await;

    // Start at login writes the XDG autostart entry.
    let autostart = config_home.join("autostart/mcpproxy-tray.desktop");
    let toggle = item.press(&["Start at login"], |_| true).await;
    assert_eq!(toggle.kind, "standard");
    assert_eq!(toggle.toggle_state, Some(0));
    mcpproxy_tests::eventually("the autostart entry", || autostart.exists().then_some(())).await;
    let entry = std::fs::read_to_string(&autostart).unwrap();
    assert!(entry.contains("mcpproxy-tray"), "{entry}");
    item.until_entry(&["Start at login"], |e| e.toggle_state == Some(1))
        .await;

    // The web control panel opens at /ui/ with the key.
    item.press(&["Open web control panel"], |e| e.enabled).await;
    let opened = home.path().join("opened.txt");
    let url = mcpproxy_tests::eventually("the opener", || {
        std::fs::read_to_string(&opened)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .await;
    assert_eq!(url.trim(), format!("http://{listen}/ui/?apikey={KEY}"));

    // The logs folder (where the tray writes tray.log) and the config folder.
    let opened_line = |n: usize| {
        let opened = &opened;
        move || {
            let text = std::fs::read_to_string(opened).ok()?;
            text.lines().nth(n).map(str::to_owned)
        }
    };
    item.press(&["Open logs folder"], |e| e.enabled).await;
    let logs = mcpproxy_tests::eventually("the logs folder opened", opened_line(1)).await;
    assert!(
        std::path::Path::new(&logs).join("tray.log").is_file(),
        "{logs} holds tray.log"
    );
    item.press(&["Open config folder"], |e| e.enabled).await;
    let folder = mcpproxy_tests::eventually("the config folder opened", opened_line(2)).await;
    assert_eq!(std::path::PathBuf::from(folder), home.data_dir());

    // Quit stops the core it launched; nothing is left.
    item.press(&["Quit"], |e| e.enabled).await;
    assert_eq!(tray.wait().await.code(), Some(0), "{}", tray.log());
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn a_server_that_needs_a_login_is_told_and_logged_in_from_the_menu() {
    let server = mcpproxy_tests::oauth::start(3600, true).await;
    let home = Home::new();
    let listen = format!("127.0.0.1:{}", free_port());
    home.write_config(
        &json!({"listen": listen, "api_key": KEY, "mcpServers": [
            {"name": "secure", "url": server.mcp_url(), "protocol": "streamable-http",
             "quarantined": false}
        ]})
        .to_string(),
    );
    let opener = recording_opener(&home);
    let OnDesktop {
        mut tray,
        desktop,
        item,
        bus: _bus,
    } = OnDesktop::start(
        &home,
        &[
            ("MCPPROXY_TRAY_OPENER", opener.as_str()),
            // The core the tray launches inherits it: the tray opens the login page instead.
            ("NO_BROWSER", "1"),
        ],
    )
    .await;
    desktop.notice("secure needs you to log in").await;
    tray.until("connected", connected_with("1 need a login"))
        .await;
    assert_eq!(
        item.pixmap().await.2,
        mcpproxy_tray::sni::pixmap(IconKind::Degraded).data,
        "a server waiting for a login is worth a look"
    );
    item.press(&["Upstream servers", "secure", "Log in"], |e| e.enabled)
        .await;
    let opened = home.path().join("opened.txt");
    let url = mcpproxy_tests::eventually("the login page opened", || {
        std::fs::read_to_string(&opened)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .await;
    assert!(url.starts_with(&server.base), "{url}");
    let page = mcpproxy_tests::oauth::browse(url.trim()).await;
    assert!(page.contains("Logged in"), "{page}");
    tray.until("connected", connected_with("1 of 1 servers ready"))
        .await;
    mcpproxy_tests::eventually_async("the ready icon", || async {
        (item.pixmap().await.2 == mcpproxy_tray::sni::pixmap(IconKind::Ready).data).then_some(())
    })
    .await;
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}

#[tokio::test]
async fn after_a_port_conflict_the_next_free_port_is_one_click_away() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    home.write_config(&json!({"listen": listen, "api_key": KEY}).to_string());
    let OnDesktop {
        mut tray,
        desktop,
        item,
        bus: _bus,
    } = OnDesktop::start(&home, &[]).await;
    tray.until("core_error_port_conflict", |_| true).await;
    let (summary, body) = desktop.notice("mcpproxy is not running").await;
    assert!(body.contains(&listen), "{summary}: {body}");
    item.until_entry(&["Use the next free port"], |e| e.enabled)
        .await;
    assert_eq!(
        item.pixmap().await.2,
        mcpproxy_tray::sni::pixmap(IconKind::Error).data
    );
    item.press(&["Use the next free port"], |e| e.enabled).await;
    let connected = tray.until("connected", |_| true).await;
    let status = connected["status"].as_str().unwrap();
    assert!(!status.contains(&listen), "another port: {status}");
    let now = status
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap();
    let api = Rest::new(&format!("http://{now}"), Some(KEY));
    assert_eq!(api.get("/status").await.data()["listen_addr"], now);
    drop(taken);
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}

/// The tray asks the core, which asks its config gates: under `read_only_mode` a click on
/// Disable or Approve is refused with the code every surface shows, told in a notification,
/// and nothing changes.
#[tokio::test]
async fn in_read_only_mode_the_core_refuses_the_trays_clicks_and_the_tray_says_why() {
    let (home, listen) = home_with_fixture_and(json!({"read_only_mode": true}));
    let config_before = std::fs::read_to_string(home.config_path()).unwrap();
    let OnDesktop {
        mut tray,
        desktop,
        item,
        bus: _bus,
    } = OnDesktop::start(&home, &[]).await;
    tray.until("connected", connected_with("1 of 1 servers ready"))
        .await;
    let api = Rest::new(&format!("http://{listen}"), Some(KEY));
    add_extra_tool(&api).await;

    item.press(&["Upstream servers", "fx", "Disable"], |e| e.enabled)
        .await;
    let (_, body) = desktop.notice("Cannot disable fx").await;
    assert!(body.contains("[READ_ONLY_MODE]"), "{body}");
    assert!(
        body.contains("read_only_mode"),
        "says what to change: {body}"
    );

    item.press(&["Security quarantine", "fx:extra_tool", "Approve"], |e| {
        e.enabled
    })
    .await;
    let (_, body) = desktop.notice("Cannot approve fx:extra_tool").await;
    assert!(body.contains("[READ_ONLY_MODE]"), "{body}");

    let servers = api.get("/servers").await.data();
    assert_eq!(servers["servers"][0]["enabled"], true, "{servers}");
    assert_eq!(extra_tool_state(&api).await.as_deref(), Some("pending"));
    assert_eq!(
        std::fs::read_to_string(home.config_path()).unwrap(),
        config_before
    );
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}

/// A login that already waited when the tray came (the proxy ran before it) is told too, not
/// only one the tray sees being asked for.
#[tokio::test]
async fn a_login_that_waited_before_the_tray_came_is_told() {
    let server = mcpproxy_tests::oauth::start(3600, true).await;
    let home = Home::new();
    home.write_config(
        &json!({"api_key": KEY, "mcpServers": [
            {"name": "secure", "url": server.mcp_url(), "protocol": "streamable-http",
             "quarantined": false}
        ]})
        .to_string(),
    );
    let mut proxy = Proxy::start_with(&home, &[], |cmd| {
        cmd.env("NO_BROWSER", "1");
    })
    .await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    mcpproxy_tests::eventually_async("secure waits for a login", || async {
        let status = api.get("/servers").await.data()["servers"][0]["status"].clone();
        (status == "Pending Auth" || status == "Authenticating").then_some(())
    })
    .await;
    let OnDesktop {
        mut tray,
        desktop,
        bus: _bus,
        ..
    } = OnDesktop::start(&home, &[]).await;
    tray.until("connected", connected_with("1 need a login"))
        .await;
    let (_, body) = desktop.notice("secure needs you to log in").await;
    assert!(body.contains("Log in"), "{body}");
    assert_eq!(tray.quit().await.code(), Some(0));
    proxy.stop().await;
    assert_none_left(home.path()).await;
}

/// A server an agent adds waits for the person: the tray tells, shows what would run, and
/// starts it only when Approve is clicked.
#[tokio::test]
async fn a_server_an_agent_added_is_told_shown_and_started_only_when_approved() {
    let (home, listen) = home_with_fixture();
    let OnDesktop {
        mut tray,
        desktop,
        item,
        bus: _bus,
    } = OnDesktop::start(&home, &[]).await;
    tray.until("connected", connected_with("1 of 1 servers ready"))
        .await;
    let mcp = mcpproxy_tests::mcp::Client::connect(&format!("http://{listen}/mcp")).await;
    let added = mcp
        .call(
            "upstream_servers",
            json!({"operation": "add", "name": "agentfx", "command": fixture_bin(),
                   "args_json": json!(["--name", "agentfx"]).to_string()}),
        )
        .await;
    assert_ne!(added["isError"], true, "{added}");
    desktop.notice("An AI agent added the server agentfx").await;
    let said = item
        .until_entry(&["Security quarantine", "agentfx"], |e| {
            e.children.len() == 3
        })
        .await;
    let labels: Vec<&str> = said.children.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Added by an AI agent: not started until you approve it",
            // Long lines are cut for the menu.
            &mcpproxy_tray::menu::clip(&format!(
                "Runs: {} --name agentfx",
                fixture_bin().display()
            )),
            "Approve",
        ],
        "{}",
        item.menu().await.outline()
    );
    assert!(
        !processes_of(home.path())
            .iter()
            .any(|(_, cmd)| cmd.contains("--name agentfx")),
        "not started before the approval"
    );
    let api = Rest::new(&format!("http://{listen}"), Some(KEY));
    item.press(&["Security quarantine", "agentfx", "Approve"], |e| {
        e.enabled
    })
    .await;
    mcpproxy_tests::eventually_async("agentfx approved and ready", || async {
        let servers = api.get("/servers").await.data();
        let agentfx = servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "agentfx")
            .cloned()?;
        (agentfx["quarantined"] == false && agentfx["status"] == "Ready").then_some(())
    })
    .await;
    assert_eq!(tray.quit().await.code(), Some(0));
    assert_none_left(home.path()).await;
}
