//! `mcpproxy serve` as a user meets it: first start, a second instance, a taken port, a
//! broken config, a shared data dir, stopping, a config from the Go MCPProxy, hot reload.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use mcpproxy_application::ports::{ActivityFilter, ActivityRepository};
use mcpproxy_domain::activity::ActivityKind;
use mcpproxy_storage::Database;
use mcpproxy_tests::{Home, Proxy, assert_kept, eventually, fixture, free_port, trusted_servers};
use serde_json::{Value, json};

#[tokio::test]
async fn first_start_creates_the_config_with_a_key_and_serves_health() {
    let home = Home::new();
    let mut proxy = Proxy::start(&home, &[]).await;

    let config = home.read_config();
    let key = config["api_key"].as_str().unwrap();
    assert_eq!(key.len(), 64, "a 32-byte hex key: {key}");
    assert_eq!(
        config["listen"], "127.0.0.1:8080",
        "the flag is not written into the file"
    );
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.data_dir()), 0o700);
    assert_eq!(mode(&home.config_path()), 0o600);

    let health: Value = reqwest::get(proxy.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let live = reqwest::get(proxy.url("/livez")).await.unwrap();
    assert!(live.status().is_success());
    let ready = reqwest::get(proxy.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    assert!(proxy.stop().await.success());
    assert!(home.main_log().exists(), "main.log is written");
    // The key stays the same on the next start.
    let mut again = Proxy::start(&home, &[]).await;
    assert_eq!(home.read_config()["api_key"], key);
    again.stop().await;
}

#[tokio::test]
async fn a_second_instance_on_the_same_data_dir_exits_3_and_names_the_first() {
    let home = Home::new();
    let proxy = Proxy::start(&home, &[]).await;
    let other = format!("127.0.0.1:{}", free_port());
    let (code, stderr) = home.run_to_end(&["serve", "--listen", &other]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", proxy.pid())), "{stderr}");
    assert!(stderr.contains(&proxy.addr), "{stderr}");
}

#[tokio::test]
async fn a_taken_port_exits_2() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = home.run_to_end(&["serve", "--listen", &addr]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_broken_config_exits_4_and_says_where() {
    let home = Home::new();
    home.write_config("{\n  \"listen\": \"127.0.0.1:8080\",\n  \"mcpServers\": [\n    {\"name\": \"x\",}\n  ]\n}\n");
    let (code, stderr) = home.run_to_end(&["serve"]).await;
    assert_eq!(code, Some(4), "{stderr}");
    let where_ = format!("{}:4:", home.config_path().display());
    assert!(stderr.contains(&where_), "expected {where_} in: {stderr}");

    home.write_config(r#"{"mcpServers": [{"name": "gh", "protocol": "sse"}]}"#);
    let (code, stderr) = home.run_to_end(&["serve"]).await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("mcpServers[0].url"), "{stderr}");
}

#[tokio::test]
async fn a_data_dir_others_can_read_exits_5() {
    let home = Home::new();
    fs::create_dir(home.data_dir()).unwrap();
    fs::set_permissions(home.data_dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let (code, stderr) = home.run_to_end(&["serve", "--listen", "127.0.0.1:0"]).await;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
}

#[tokio::test]
async fn sigterm_and_sigint_stop_cleanly_and_are_recorded() {
    for signal in ["TERM", "INT"] {
        let home = Home::new();
        let mut proxy = Proxy::start(&home, &[]).await;
        // An idle keep-alive connection must not hold the shutdown up.
        let client = reqwest::Client::new();
        client.get(proxy.url("/healthz")).send().await.unwrap();
        proxy.signal(signal);
        let status = proxy.wait().await;
        assert_eq!(status.code(), Some(0), "SIG{signal}: {}", proxy.stderr());

        let db = Database::open(&home.data_dir().join("mcpproxy.db"))
            .await
            .unwrap();
        let page = db
            .list(&ActivityFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let kinds: Vec<ActivityKind> = page.records.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ActivityKind::SystemStop, ActivityKind::SystemStart]);
    }
}

#[tokio::test]
async fn a_go_config_serves_and_is_not_rewritten() {
    let home = Home::new();
    // As a user who trusts its servers writes it (see `Home::write_config`).
    let text = trusted_servers(&fs::read_to_string(fixture("go_mcp_config.json")).unwrap());
    home.write_config_exact(&text);
    let mut proxy = Proxy::start(&home, &[]).await;
    proxy.stop().await;
    assert_eq!(
        fs::read_to_string(home.config_path()).unwrap(),
        text,
        "nothing needed saving, so the file is untouched"
    );
}

#[tokio::test]
async fn saving_a_go_config_back_loses_nothing() {
    let home = Home::new();
    let mut original: Value =
        serde_json::from_str(&fs::read_to_string(fixture("go_mcp_config.json")).unwrap()).unwrap();
    // Without a key the first start must save one, which rewrites the file.
    original.as_object_mut().unwrap().remove("api_key");
    home.write_config(&serde_json::to_string_pretty(&original).unwrap());
    let mut proxy = Proxy::start(&home, &[]).await;
    proxy.stop().await;
    let saved = home.read_config();
    assert_eq!(saved["api_key"].as_str().unwrap().len(), 64);
    assert_kept(&original, &saved, "$");

    // And through the library's own load → save, twice.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let (config, _) = mcpproxy_config::load(&fixture("go_mcp_config.json")).unwrap();
    mcpproxy_config::save(&path, &config).unwrap();
    let first: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let (again, _) = mcpproxy_config::load(&path).unwrap();
    assert_eq!(again, config);
    let original: Value =
        serde_json::from_str(&fs::read_to_string(fixture("go_mcp_config.json")).unwrap()).unwrap();
    assert_kept(&original, &first, "$");
}

#[tokio::test]
async fn environment_overrides_listen_and_data_dir_without_touching_the_file() {
    let home = Home::new();
    let data = home.path().join("elsewhere");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = home
        .command(&[])
        .env("MCPPROXY_LISTEN", &addr)
        .env("MCPPROXY_DATA", &data)
        .env("MCPPROXY_API_KEY", "from-the-environment")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/healthz");
    let mut ok = false;
    for _ in 0..600 {
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config: Value =
        serde_json::from_str(&fs::read_to_string(data.join("mcp_config.json")).unwrap()).unwrap();
    mcpproxy_tests::signal_pid(child.id(), nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    assert!(ok, "no answer on MCPPROXY_LISTEN");
    assert!(status.success());
    assert_eq!(config["listen"], "127.0.0.1:8080");
    assert!(
        config.get("api_key").is_none(),
        "an env key is never written: {config}"
    );
}

#[tokio::test]
async fn config_edits_reload_live_and_broken_edits_keep_the_running_config() {
    let home = Home::new();
    let proxy = Proxy::start(&home, &["--log-level", "info"]).await;
    let log = || fs::read_to_string(home.main_log()).unwrap_or_default();

    let mut config = home.read_config();
    config["mcpServers"] = json!([{"name": "everything", "command": "npx", "args": ["-y", "x"]}]);
    fs::write(
        home.config_path(),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    eventually("config reloaded in main.log", || {
        log().contains("config reloaded").then_some(())
    })
    .await;
    assert!(log().contains("everything"));

    fs::write(home.config_path(), "{ \"mcpServers\": [").unwrap();
    eventually("the refusal in main.log", || {
        log().contains("config not reloaded").then_some(())
    })
    .await;
    assert!(log().contains("keeping the running config"));
    let health = reqwest::get(proxy.url("/healthz")).await.unwrap();
    assert!(health.status().is_success(), "still serving");
}
