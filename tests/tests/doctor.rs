//! `mcpproxy doctor`, against the real binary: each situation is made for real (a command
//! that is not on PATH, a runtime missing, a secret reference without a value, a server that
//! dies at start with words on stderr, a quarantined server, a data directory open to
//! everyone, a taken port, a config that does not parse) and the doctor must name it with its
//! code, over REST and the command line; `doctor fix` fixes what it says it can.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

fn server(name: &str, command: &str, args: &[&str]) -> Value {
    json!({"name": name, "command": command, "args": args, "quarantined": false})
}

/// The findings of `report` as (server, code) pairs.
fn codes(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report}"))
        .iter()
        .map(|f| {
            (
                f["server"].as_str().unwrap_or("").to_owned(),
                f["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn finding<'a>(report: &'a Value, server: &str, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["server"].as_str().unwrap_or("") == server && f["code"] == code)
        })
        .unwrap_or_else(|| panic!("no {code} for {server} in {report:#}"))
}

#[tokio::test]
async fn doctor_names_each_broken_server_with_its_code_and_fixes_what_it_can() {
    let home = Home::new();
    let empty_bin = home.path().join("empty-bin");
    std::fs::create_dir_all(&empty_bin).unwrap();
    let late = home.path().join("bin/late-server");
    let fx = fixture_bin().display().to_string();
    let mut secret = server("secret", &fx, &["--name", "secret"]);
    secret["env"] = json!({"API_TOKEN": "${env:MCPX_DOCTOR_UNSET_VAR}"});
    let mut held = server("held", &fx, &["--name", "held"]);
    held["quarantined"] = json!(true);
    home.write_config(
        &json!({
            "api_key": "k",
            // The servers' PATH is one empty directory: npx and friends are "not installed".
            "environment": {"custom_vars": {"PATH": empty_bin}, "enhance_path": false},
            "mcpServers": [
                server("missing", "mcpx-no-such-command", &[]),
                server("node", "npx", &["-y", "@modelcontextprotocol/server-everything"]),
                secret,
                server("crash", "/bin/sh", &["-c", "echo 'fatal: DOCTOR_KEY is not set' >&2; exit 3"]),
                server("late", late.to_str().unwrap(), &["--name", "late"]),
                server("fine", &fx, &["--name", "fine"]),
                held,
            ]
        })
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let rest = Rest::new(&proxy.url(""), Some("k"));

    // The crash is seen once the server was tried.
    let crash = eventually_async("the crash diagnosed", || async {
        let report = rest.get("/servers/crash/diagnostics").await.data();
        codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_STDIO_EXIT_BEFORE_INITIALIZE")
            .then_some(report)
    })
    .await;
    let f = finding(&crash, "crash", "MCPX_STDIO_EXIT_BEFORE_INITIALIZE");
    assert_eq!(f["severity"], "error");
    assert!(
        f["stderr"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l == "fatal: DOCTOR_KEY is not set")),
        "{f:#}"
    );
    assert_eq!(f["fixable"], true);

    let report = rest.get("/diagnostics").await.data();
    assert_eq!(report["proxy_running"], true);
    assert_eq!(report["servers_checked"], 7);
    let missing = finding(&report, "missing", "MCPX_STDIO_SPAWN_ENOENT");
    let detail = missing["detail"].as_str().unwrap();
    assert!(detail.contains("mcpx-no-such-command"), "{detail}");
    assert!(
        detail.contains(empty_bin.to_str().unwrap()),
        "the PATH used: {detail}"
    );
    let node = finding(&report, "node", "MCPX_STDIO_SPAWN_ENOENT");
    assert!(
        node["cause"].as_str().unwrap().contains("Node.js"),
        "{node:#}"
    );
    let secret = finding(&report, "secret", "MCPX_CONFIG_MISSING_SECRET");
    assert!(
        secret["detail"]
            .as_str()
            .unwrap()
            .contains("MCPX_DOCTOR_UNSET_VAR"),
        "{secret:#}"
    );
    finding(&report, "late", "MCPX_STDIO_SPAWN_ENOENT");
    finding(&report, "held", "MCPX_QUARANTINE_PENDING_APPROVAL");
    assert!(
        !codes(&report).iter().any(|(s, _)| s == "fine"),
        "a healthy server has no findings: {report:#}"
    );
    assert!(report["errors"].as_u64().unwrap() >= 5, "{report:#}");
    // Go's name for the same report.
    let doctor = rest.get("/doctor").await.data();
    assert_eq!(codes(&doctor), codes(&report));
    rest.get("/servers/nope/diagnostics")
        .await
        .refused(404, "nope");

    // The command line shows the same, through the running proxy.
    let cli = home.cli(&["doctor", "-o", "json"]).await.json();
    assert_eq!(cli["proxy_running"], true);
    assert_eq!(codes(&cli), codes(&report));
    let table = home.cli(&["doctor"]).await;
    let text = table.ok();
    assert!(
        text.contains("MCPX_STDIO_SPAWN_ENOENT  (server missing)"),
        "{text}"
    );
    assert!(
        text.contains("mcpproxy doctor fix MCPX_STDIO_SPAWN_ENOENT --server late"),
        "{text}"
    );
    assert!(
        text.contains("stderr| fatal: DOCTOR_KEY is not set"),
        "{text}"
    );
    let one = home
        .cli(&["doctor", "--server", "secret", "-o", "json"])
        .await
        .json();
    assert_eq!(
        codes(&one),
        [("secret".to_owned(), "MCPX_CONFIG_MISSING_SECRET".to_owned())]
    );

    // A restart is refused while the command is still missing; once it is there, the fix
    // restarts the server and it connects.
    home.cli(&[
        "doctor",
        "fix",
        "MCPX_STDIO_SPAWN_ENOENT",
        "--server",
        "late",
    ])
    .await
    .failed(1, "still there");
    std::fs::create_dir_all(late.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(fixture_bin(), &late).unwrap();
    let fixed = home
        .cli(&[
            "doctor",
            "fix",
            "MCPX_STDIO_SPAWN_ENOENT",
            "--server",
            "late",
        ])
        .await;
    assert!(fixed.ok().contains("restarting"), "{}", fixed.stdout);
    eventually_async("late ready", || async {
        let servers = rest.get("/servers").await.data();
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "late" && s["status"] == "Ready")
            .then_some(())
    })
    .await;
    let late_report = rest.get("/servers/late/diagnostics").await.data();
    assert_eq!(late_report["errors"], 0, "{late_report:#}");

    // Codes that are fixed by hand say how, and are refused by `fix`.
    home.cli(&[
        "doctor",
        "fix",
        "MCPX_QUARANTINE_PENDING_APPROVAL",
        "--server",
        "held",
    ])
    .await
    .failed(1, "unquarantine");
    home.cli(&["doctor", "fix", "MCPX_NOT_A_CODE"])
        .await
        .failed(1, "list-codes");
    rest.post(
        "/diagnostics/fix",
        &json!({"code": "MCPX_STDIO_SPAWN_ENOENT"}),
    )
    .await
    .refused(400, "--server");

    // A data directory open to everyone is found and made private again.
    let data_dir = home.data_dir();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = rest.get("/diagnostics").await.data();
    let open = finding(&report, "", "MCPX_SYSTEM_DATA_DIR_PERMISSIONS");
    assert!(
        open["detail"].as_str().unwrap().contains("0777"),
        "{open:#}"
    );
    assert_eq!(open["fixable"], true);
    let fixed = home
        .cli(&["doctor", "fix", "MCPX_SYSTEM_DATA_DIR_PERMISSIONS"])
        .await;
    assert!(fixed.ok().contains("private"), "{}", fixed.stdout);
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let report = rest.get("/diagnostics").await.data();
    assert!(
        !codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_SYSTEM_DATA_DIR_PERMISSIONS"),
        "{report:#}"
    );
}

#[tokio::test]
async fn fixes_are_held_by_the_read_only_gate() {
    let home = Home::new();
    home.write_config(&json!({"api_key": "k", "mcpServers": []}).to_string());
    let proxy = Proxy::start(&home, &["--read-only"]).await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    std::fs::set_permissions(home.data_dir(), std::fs::Permissions::from_mode(0o757)).unwrap();
    let answer = rest
        .post(
            "/diagnostics/fix",
            &json!({"code": "MCPX_SYSTEM_DATA_DIR_PERMISSIONS"}),
        )
        .await;
    answer.refused(403, "read-only");
    assert_eq!(answer.json()["code"], "READ_ONLY_MODE");
    let mode = std::fs::metadata(home.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o757, "nothing changed");
    std::fs::set_permissions(home.data_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn without_a_proxy_the_doctor_says_so_and_checks_the_port_commands_and_config() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    home.write_config(
        &json!({"listen": addr, "mcpServers": [server("missing", "/nonexistent/mcpx-server", &[])]})
            .to_string(),
    );
    let report = home.cli(&["doctor", "-o", "json"]).await.json();
    assert_eq!(report["proxy_running"], false);
    let port = finding(&report, "", "MCPX_NETWORK_PORT_IN_USE");
    assert!(port["detail"].as_str().unwrap().contains(&addr), "{port:#}");
    assert_eq!(port["fixable"], false);
    finding(&report, "missing", "MCPX_STDIO_SPAWN_ENOENT");
    let table = home.cli(&["doctor"]).await;
    assert!(table.ok().contains("no mcpproxy runs"), "{}", table.stdout);
    // A restart needs the proxy; the doctor says so.
    home.cli(&[
        "doctor",
        "fix",
        "MCPX_STDIO_SPAWN_ENOENT",
        "--server",
        "missing",
    ])
    .await
    .failed(1, "mcpproxy serve");
    drop(taken);

    // A config that does not parse is a finding, not the end of the command.
    std::fs::write(home.config_path(), "{\"mcpServers\": [,]}").unwrap();
    let report = home.cli(&["doctor", "-o", "json"]).await.json();
    let parse = finding(&report, "", "MCPX_CONFIG_PARSE_ERROR");
    assert!(
        parse["detail"]
            .as_str()
            .unwrap()
            .contains("mcp_config.json"),
        "{parse:#}"
    );
}

#[tokio::test]
async fn list_codes_lists_every_code_with_its_cause_and_fix() {
    let home = Home::new();
    let codes = home
        .cli(&["doctor", "list-codes", "-o", "json"])
        .await
        .json();
    let codes = codes.as_array().unwrap();
    for code in [
        "MCPX_STDIO_SPAWN_ENOENT",
        "MCPX_STDIO_SPAWN_EACCES",
        "MCPX_STDIO_EXIT_BEFORE_INITIALIZE",
        "MCPX_STDIO_HANDSHAKE_TIMEOUT",
        "MCPX_OAUTH_LOGIN_REQUIRED",
        "MCPX_OAUTH_REFRESH_403",
        "MCPX_OAUTH_CLOCK_SKEW",
        "MCPX_CONFIG_MISSING_SECRET",
        "MCPX_CONFIG_PARSE_ERROR",
        "MCPX_DOCKER_DAEMON_DOWN",
        "MCPX_NETWORK_PORT_IN_USE",
        "MCPX_SYSTEM_DATA_DIR_PERMISSIONS",
        "MCPX_QUARANTINE_PENDING_APPROVAL",
    ] {
        let c = codes
            .iter()
            .find(|c| c["code"] == code)
            .unwrap_or_else(|| panic!("{code} not listed"));
        assert!(!c["cause"].as_str().unwrap().is_empty(), "{c}");
        assert!(!c["fix"].as_str().unwrap().is_empty(), "{c}");
    }
    let table = home.cli(&["doctor", "list-codes"]).await;
    assert!(table.ok().contains("MCPX_STDIO_SPAWN_ENOENT"));
    assert!(table.stdout.contains("doctor fix") && table.stdout.contains("by hand"));
}

#[tokio::test]
async fn a_login_the_server_needs_is_found_and_fix_gives_its_url() {
    let auth = mcpproxy_tests::oauth::start(3600, true).await;
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [
            {"name": "secure", "url": auth.mcp_url(), "protocol": "streamable-http", "quarantined": false}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start_with(&home, &[], |cmd| {
        cmd.env("NO_BROWSER", "1");
    })
    .await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    let report = eventually_async("the login diagnosed", || async {
        let report = rest.get("/servers/secure/diagnostics").await.data();
        codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_OAUTH_LOGIN_REQUIRED")
            .then_some(report)
    })
    .await;
    let f = finding(&report, "secure", "MCPX_OAUTH_LOGIN_REQUIRED");
    assert_eq!(f["fix_action"], "login", "{f:#}");
    let fixed = home
        .cli(&[
            "doctor",
            "fix",
            "MCPX_OAUTH_LOGIN_REQUIRED",
            "--server",
            "secure",
            "-o",
            "json",
        ])
        .await
        .json();
    let url = fixed["login_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{fixed}"));
    let page = mcpproxy_tests::oauth::browse(url).await;
    assert!(page.contains("Logged in"), "{page}");
    eventually_async("secure healthy", || async {
        let report = rest.get("/servers/secure/diagnostics").await.data();
        (report["errors"] == 0 && report["warnings"] == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_is_refresh_expired() {
    let auth = mcpproxy_tests::oauth::start(3, false).await;
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [
            {"name": "secure", "url": auth.mcp_url(), "protocol": "streamable-http", "quarantined": false}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start_with(&home, &[], |cmd| {
        cmd.env("NO_BROWSER", "1");
    })
    .await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    let url = eventually_async("a login under way", || async {
        rest.get("/auth").await.data()["servers"][0]["pending_url"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    mcpproxy_tests::oauth::browse(&url).await;
    // The 3 s token's refresh is refused: the doctor says so, with a code of its own.
    let report = eventually_async("the refused refresh diagnosed", || async {
        let report = rest.get("/servers/secure/diagnostics").await.data();
        codes(&report)
            .iter()
            .any(|(_, c)| c.starts_with("MCPX_OAUTH_REFRESH_"))
            .then_some(report)
    })
    .await;
    let f = finding(&report, "secure", "MCPX_OAUTH_REFRESH_EXPIRED");
    assert!(
        f["detail"].as_str().unwrap().contains("invalid_grant"),
        "{f:#}"
    );
    assert!(f["detail"].as_str().unwrap().contains("refresh"), "{f:#}");
    assert_eq!(f["fixable"], true, "{f:#}");
}

#[tokio::test]
async fn docker_isolation_without_a_docker_daemon_is_docker_daemon_down() {
    let home = Home::new();
    let nowhere = format!("unix://{}", home.path().join("no-docker.sock").display());
    home.write_config(
        &json!({"api_key": "k", "docker_isolation": {"enabled": true},
            "mcpServers": [{"name": "boxed", "command": "mcp-fixture", "quarantined": false,
                            "isolation": {"image": "mcpproxy-fixture:none"}}]})
        .to_string(),
    );
    let proxy = Proxy::start_with(&home, &[], |cmd| {
        cmd.env("DOCKER_HOST", &nowhere);
    })
    .await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    let report = eventually_async("Docker diagnosed", || async {
        let report = rest.get("/diagnostics").await.data();
        codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_DOCKER_DAEMON_DOWN")
            .then_some(report)
    })
    .await;
    let f = finding(&report, "boxed", "MCPX_DOCKER_DAEMON_DOWN");
    assert!(f["fix"].as_str().unwrap().contains("start Docker"), "{f:#}");
    // The command lives in the image: nothing is looked up on this machine's PATH.
    assert!(
        !codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_STDIO_SPAWN_ENOENT"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_command_that_is_not_executable_or_never_answers_gets_its_code() {
    let home = Home::new();
    let script = home.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexec true\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut silent = server("silent", "/bin/sh", &["-c", "exec sleep 60"]);
    silent["init_timeout"] = json!("1s");
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [
            server("noexec", script.to_str().unwrap(), &[]),
            silent,
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let rest = Rest::new(&proxy.url(""), Some("k"));
    let report = eventually_async("the silent server timed out", || async {
        let report = rest.get("/diagnostics").await.data();
        codes(&report)
            .iter()
            .any(|(_, c)| c == "MCPX_STDIO_HANDSHAKE_TIMEOUT")
            .then_some(report)
    })
    .await;
    let noexec = finding(&report, "noexec", "MCPX_STDIO_SPAWN_EACCES");
    assert!(
        noexec["detail"]
            .as_str()
            .unwrap()
            .contains("not-executable.sh"),
        "{noexec:#}"
    );
    let silent = finding(&report, "silent", "MCPX_STDIO_HANDSHAKE_TIMEOUT");
    assert!(
        silent["detail"].as_str().unwrap().contains("init_timeout"),
        "{silent:#}"
    );
}
