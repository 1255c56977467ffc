//! Logging in to a protected upstream, against our own loopback authorization server: the
//! first login, a refresh at three quarters of the token's life, a refresh the server
//! refuses (the server turns to "login required", with the reason, never a silent stop),
//! a login that survives a restart of the proxy, a logout that stops reconnects, and two
//! logins at once that are one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use mcpproxy_tests::oauth::{AuthServer, browse, start};
use mcpproxy_tests::rest::{EventStream, Rest};
use mcpproxy_tests::{Home, Proxy, eventually_async};

const KEY: &str = "oauth-test-key";

fn config(server: &AuthServer) -> String {
    json!({"api_key": KEY, "mcpServers": [
        {"name": "secure", "url": server.mcp_url(), "protocol": "streamable-http", "quarantined": false}
    ]})
    .to_string()
}

async fn proxy(home: &Home) -> (Proxy, Rest) {
    let proxy = Proxy::start_with(home, &[], |cmd| {
        cmd.env("NO_BROWSER", "1");
    })
    .await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    (proxy, api)
}

async fn status(api: &Rest) -> Value {
    api.get("/servers").await.data()["servers"][0].clone()
}

async fn wait_state(api: &Rest, state: &str) -> Value {
    eventually_async(&format!("secure {state}"), || async {
        let s = status(api).await;
        (s["status"] == state).then_some(s)
    })
    .await
}

async fn auth(api: &Rest) -> Value {
    api.get("/auth").await.data()["servers"][0].clone()
}

/// Waits for the login the proxy started, and does the user's part.
async fn log_in(api: &Rest) {
    let url = eventually_async("a login under way", || async {
        auth(api).await["pending_url"].as_str().map(str::to_owned)
    })
    .await;
    let page = browse(&url).await;
    assert!(page.contains("Logged in"), "{page}");
    wait_state(api, "Ready").await;
}

async fn echo(api: &Rest) -> Value {
    api.post(
        "/tools/call",
        &json!({"tool_name": "secure:echo", "arguments": {"message": "hi"}}),
    )
    .await
    .data()
}

#[tokio::test]
async fn a_login_is_refreshed_at_three_quarters_and_survives_a_restart() {
    let server = start(4, true).await;
    let home = Home::new();
    home.write_config(&config(&server));
    let (mut first, api) = proxy(&home).await;

    let waiting = wait_state(&api, "Authenticating").await;
    assert!(
        waiting["last_error"]
            .as_str()
            .unwrap()
            .contains("login required"),
        "{waiting}"
    );
    log_in(&api).await;
    assert_eq!(echo(&api).await["content"][0]["text"], "protected: \"hi\"");
    let logged = auth(&api).await;
    assert_eq!(logged["logged_in"], true, "{logged}");
    assert!(logged["expires_at"].is_string(), "{logged}");

    let mut events = EventStream::open(&api).await;
    let issued = Instant::now();
    let refreshed = events
        .until("oauth.token_refreshed", |d| {
            d["payload"]["server"] == "secure"
        })
        .await;
    println!(
        "the 4 s token was refreshed {:?} after the login (due at 3 s)",
        issued.elapsed()
    );
    assert!(refreshed.data["payload"]["expires_at"].is_string());
    assert!(server.ledger().refreshes >= 1);
    // The refreshed token is the one the proxy uses now.
    assert_eq!(echo(&api).await["content"][0]["text"], "protected: \"hi\"");

    first.stop().await;
    let authorizations = server.ledger().authorizations;
    let (_second, api) = proxy(&home).await;
    wait_state(&api, "Ready").await;
    assert_eq!(echo(&api).await["content"][0]["text"], "protected: \"hi\"");
    assert_eq!(
        server.ledger().authorizations,
        authorizations,
        "no new login after the restart"
    );
}

#[tokio::test]
async fn a_refused_refresh_turns_the_server_to_login_required_with_the_reason() {
    let server = start(3, false).await;
    let home = Home::new();
    home.write_config(&config(&server));
    let (_proxy, api) = proxy(&home).await;
    log_in(&api).await;

    let mut events = EventStream::open(&api).await;
    let failed = events
        .until("oauth.refresh_failed", |d| {
            d["payload"]["server"] == "secure"
        })
        .await;
    let reason = failed.data["payload"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("log in again"), "{reason}");
    // The server asks for a login again, and a new one waits for the user.
    eventually_async("secure waiting for a login", || async {
        let s = status(&api).await["status"].clone();
        (s == "Pending Auth" || s == "Authenticating").then_some(())
    })
    .await;
    let state = auth(&api).await;
    assert_eq!(state["logged_in"], false, "{state}");
    assert!(
        state["pending_url"].is_string() || state["last_error"].is_string(),
        "{state}"
    );
    log_in(&api).await;
    assert_eq!(echo(&api).await["content"][0]["text"], "protected: \"hi\"");
}

#[tokio::test]
async fn a_logout_disconnects_and_stops_reconnects() {
    let server = start(3600, true).await;
    let home = Home::new();
    home.write_config(&config(&server));
    let (_proxy, api) = proxy(&home).await;
    log_in(&api).await;

    api.post("/servers/secure/logout", &json!({})).await.data();
    let after = wait_state(&api, "Pending Auth").await;
    assert!(
        after["last_error"]
            .as_str()
            .unwrap()
            .contains("login required")
    );
    let state = auth(&api).await;
    assert_eq!(state["logged_in"], false);
    assert!(
        state["pending_url"].is_null(),
        "no login starts on its own after a logout"
    );

    // The proxy does not keep knocking: the requests to the server stop growing.
    let before = server.ledger().mcp_requests;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = server.ledger().mcp_requests;
    println!(
        "requests to the server in 3 s after the logout settled: {}",
        later - before
    );
    assert_eq!(later, before, "no reconnect attempts after a logout");
    let refused = api
        .post(
            "/tools/call",
            &json!({"tool_name": "secure:echo", "arguments": {}}),
        )
        .await;
    refused.refused(503, "");

    // Logging in again works.
    let started = api.post("/servers/secure/login", &json!({})).await.data();
    assert!(started["auth_url"].is_string(), "{started}");
    assert_eq!(started["browser_opened"], false, "NO_BROWSER is set");
    log_in(&api).await;
}

#[tokio::test]
async fn two_logins_at_once_are_one() {
    let server = start(3600, true).await;
    let home = Home::new();
    home.write_config(&config(&server));
    let (_proxy, api) = proxy(&home).await;
    let url = eventually_async("the login the proxy started", || async {
        auth(&api).await["pending_url"].as_str().map(str::to_owned)
    })
    .await;
    let empty = json!({});
    let (a, b) = tokio::join!(
        api.post("/servers/secure/login", &empty),
        api.post("/servers/secure/login", &empty)
    );
    assert_eq!(a.data()["auth_url"], url.as_str());
    assert_eq!(b.data()["auth_url"], url.as_str());
    assert_eq!(server.ledger().authorizations, 0, "nobody opened it yet");
    browse(&url).await;
    wait_state(&api, "Ready").await;
    assert_eq!(server.ledger().authorizations, 1);
}

#[tokio::test]
async fn the_command_line_logs_in_shows_and_logs_out() {
    let server = start(3600, true).await;
    let home = Home::new();
    home.write_config(&config(&server));
    let (_proxy, api) = proxy(&home).await;
    wait_state(&api, "Authenticating").await;

    let printed = home.cli(&["auth", "login", "-s", "secure"]).await;
    let url = printed
        .ok()
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("http")
                .map(|rest| format!("http{rest}"))
        })
        .unwrap_or_else(|| {
            panic!(
                "the URL is printed when no browser opens:\n{}",
                printed.stdout
            )
        });
    assert!(url.contains("/authorize?"), "{url}");
    let before = home.cli(&["auth", "status", "--json"]).await.json();
    assert_eq!(before["servers"][0]["logged_in"], false);
    assert_eq!(before["servers"][0]["pending_url"], url.as_str());
    browse(&url).await;
    wait_state(&api, "Ready").await;
    let table = home.cli(&["auth", "status"]).await;
    assert!(
        table.ok().contains("secure") && table.stdout.contains("yes"),
        "{}",
        table.stdout
    );

    home.cli(&["auth", "logout", "-s", "secure"]).await.ok();
    wait_state(&api, "Pending Auth").await;
    home.cli(&["auth", "login", "-s", "nowhere"])
        .await
        .failed(1, "nowhere");
}
