//! The web control panel at `/ui/`, in a real headless Chromium (Debian's, over WebDriver),
//! against the real binary and real upstream servers: signing in, live changes from
//! everywhere, approvals, calls, activity, the config editor, the gates, accessibility
//! (axe-core from npm on every page), narrow screens and the keyboard. Each test saves a
//! screenshot of its last page under `<target>/test-output/web/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::browser::{Page, page};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "web-test-key";

fn fixture(name: &str, quarantined: bool) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name], "quarantined": quarantined})
}

/// A proxy with `servers`, each `Ready` before the browser looks.
async fn start(servers: Vec<Value>, extra: &[&str]) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let names: Vec<String> = servers
        .iter()
        .filter(|s| s["enabled"] != false)
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    home.write_config(&json!({"api_key": KEY, "mcpServers": servers}).to_string());
    let proxy = Proxy::start(&home, extra).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    for name in names {
        let ready = || async {
            let servers = api.get("/servers").await.data();
            servers["servers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == name.as_str() && s["status"] == "Ready")
                .then_some(())
        };
        eventually_async(&format!("{name} ready"), ready).await;
    }
    (home, proxy, api)
}

/// Signs the browser in through the address, as `status --web-url` does, and waits for the
/// panel to be live.
async fn sign_in(page: &Page, proxy: &Proxy, path: &str) {
    page.goto(&proxy.url(&format!("/ui/{path}?apikey={KEY}")))
        .await;
    page.until(
        "the live event stream",
        "document.body.dataset.live === 'live'",
    )
    .await;
}

#[tokio::test]
async fn every_page_is_accessible_on_a_desktop_and_a_phone() {
    let (_home, proxy, _api) = start(vec![fixture("fx", false), fixture("q", true)], &[]).await;
    let page = page().await;
    sign_in(&page, &proxy, "").await;
    for (width, height, label) in [(1280, 900, "desktop"), (360, 780, "phone")] {
        page.resize(width, height).await;
        for (path, text) in [
            ("", "Tokens saved"),
            ("servers", "Add server"),
            ("servers/fx", "Configuration"),
            ("tools", "awaiting approval"),
            ("activity", "Export CSV"),
            ("settings", "mcp_config.json"),
        ] {
            page.goto(&proxy.url(&format!("/ui/{path}"))).await;
            page.until_text(text).await;
            page.until("nothing loading", "!document.querySelector('.loading')")
                .await;
            let name = if path.is_empty() { "dashboard" } else { path };
            let name = name.replace('/', "-");
            page.check_accessibility(&format!("{name} ({label})")).await;
            page.screenshot(&format!("page-{name}-{label}")).await;
        }
    }
}
