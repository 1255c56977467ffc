//! Isolation of stdio servers, for real: the fixture server in a Docker container (an image
//! made by `docker import` of its binary and libraries, on the daemon `scripts/test`
//! provides), and in a sandbox under bubblewrap and under Landlock. Nothing is mocked; a
//! test that needs Docker fails (with what to do) when no daemon answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use mcpproxy_tests::docker::{Docker, PrivateDaemon, fixture_image};
use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "isolation-test-key";

/// A proxy over `config` (the key is added), with `env` set for it.
async fn start(home: &Home, mut config: Value, env: &[(&str, &str)]) -> (Proxy, Rest) {
    config["api_key"] = json!(KEY);
    home.write_config(&config.to_string());
    let proxy = Proxy::start_with(home, &[], |cmd| {
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
    .await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    (proxy, api)
}

/// The server as `GET /servers` shows it, once `done` holds.
async fn server_when(api: &Rest, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually_async(&format!("{name}: {what}"), || async {
        let servers = api.get("/servers").await.data();
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .filter(|s| done(s))
            .cloned()
    })
    .await
}

async fn ready(api: &Rest, name: &str) -> Value {
    server_when(api, name, "Ready", |s| s["status"] == "Ready").await
}

/// Calls `server:tool` through the REST API; the text it answered.
async fn call(api: &Rest, tool: &str, args: Value) -> String {
    let answer = api
        .post(
            "/tools/call",
            &json!({"tool_name": tool, "arguments": args}),
        )
        .await
        .data();
    answer["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{tool} gave no text: {answer}"))
        .to_owned()
}

fn instance(home: &Home) -> String {
    std::fs::read_to_string(home.data_dir().join("instance-id"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A config with one Docker-isolated fixture server named `name`.
fn boxed(name: &str, image: &str, extra: Value) -> Value {
    let mut isolation = json!({"image": image, "network_mode": "none"});
    if let Some(more) = extra.as_object() {
        for (k, v) in more {
            isolation[k] = v.clone();
        }
    }
    json!({
        "docker_isolation": {"enabled": true, "memory_limit": "300m"},
        "mcpServers": [{"name": name, "command": "mcp-fixture", "trust_mode": "auto",
                        "env": {"BOXED_SECRET": "v4lue-only-in-the-env"},
                        "isolation": isolation}]
    })
}

/// Every process whose command line names `needle`.
fn command_lines_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(needle))
        .collect()
}

#[tokio::test]
async fn a_docker_isolated_server_is_listed_and_called_through_mcp_all_inside_its_container() {
    let image = fixture_image().await;
    let docker = Docker::from_env();
    let home = Home::new();
    let (mut proxy, api) = start(&home, boxed("boxed", &image.tag, json!({})), &[]).await;
    let server = ready(&api, "boxed").await;
    assert_eq!(
        server["isolation"],
        json!({"mode": "docker", "image": image.tag, "network_mode": "none",
               "memory_limit": "300m", "cpu_limit": "1.0"}),
        "{server}"
    );

    // Listed and called through /mcp/all, like any server.
    let client = Client::connect(&proxy.url("/mcp/all")).await;
    let names = client.tool_names().await;
    assert!(names.contains(&"boxed__echo".to_owned()), "{names:?}");
    let echoed = client
        .call("boxed__echo", json!({"message": "from the box"}))
        .await;
    assert_eq!(text(&echoed), "from the box");

    // It runs in a container of ours: its hostname is the container's id, its cgroup is
    // Docker's, and the container has the configured memory limit.
    let ids = docker.owned_by(&instance(&home));
    assert_eq!(ids.len(), 1, "{ids:?}");
    let inspected = docker.inspect(&ids[0]);
    let hostname = text(
        &client
            .call(
                "boxed__read_file",
                json!({"path": "/proc/sys/kernel/hostname"}),
            )
            .await,
    );
    assert!(
        inspected["Id"]
            .as_str()
            .unwrap()
            .starts_with(hostname.trim()),
        "hostname {hostname:?} is not the container's id {}",
        inspected["Id"]
    );
    let cgroup = text(
        &client
            .call("boxed__read_file", json!({"path": "/proc/self/cgroup"}))
            .await,
    );
    assert!(
        cgroup.contains("docker") || cgroup.trim() == "0::/",
        "cgroup: {cgroup}"
    );
    assert_eq!(inspected["HostConfig"]["Memory"], 300 * 1024 * 1024);
    let limit = text(
        &client
            .call(
                "boxed__read_file",
                json!({"path": "/sys/fs/cgroup/memory/memory.limit_in_bytes"}),
            )
            .await,
    );
    let limit = if limit.starts_with("cannot read") {
        // cgroup v2
        text(
            &client
                .call(
                    "boxed__read_file",
                    json!({"path": "/sys/fs/cgroup/memory.max"}),
                )
                .await,
        )
    } else {
        limit
    };
    assert_eq!(limit.trim(), (300 * 1024 * 1024).to_string(), "seen inside");
    let labels = &inspected["Config"]["Labels"];
    assert_eq!(labels["com.mcpproxy.managed"], "true");
    assert_eq!(labels["com.mcpproxy.server"], "boxed");
    assert_eq!(inspected["HostConfig"]["NetworkMode"], "none");

    // The env value reaches the server but no command line: not Docker's record of the
    // container, not the `docker run` process.
    let value = text(
        &client
            .call("boxed__env", json!({"name": "BOXED_SECRET"}))
            .await,
    );
    assert_eq!(value, "v4lue-only-in-the-env");
    for key in ["Path", "Args"] {
        assert!(
            !inspected[key].to_string().contains(&value),
            "{key}: {}",
            inspected[key]
        );
    }
    for key in ["Cmd", "Entrypoint"] {
        let shown = inspected["Config"][key].to_string();
        assert!(!shown.contains(&value), "Config.{key}: {shown}");
    }
    let name = inspected["Name"].as_str().unwrap().trim_start_matches('/');
    let runs = command_lines_with(name);
    assert!(!runs.is_empty(), "the docker run process of {name}");
    assert!(runs.iter().all(|l| !l.contains(&value)), "{runs:?}");
    assert!(
        runs.iter().any(|l| l.contains("-e BOXED_SECRET ")),
        "{runs:?}"
    );

    // Containers are not pinged (as in the Go proxy).
    let log = api.get("/servers/boxed/logs?tail=50").await.data();
    assert!(
        log["logs"].to_string().contains("health checks skipped"),
        "{log}"
    );

    // The command line shows the isolation too.
    let listed = home.cli(&["upstream", "list"]).await;
    assert!(
        listed.ok().contains(&format!("docker {}", image.tag)),
        "{}",
        listed.stdout
    );
    client.close().await;
    proxy.stop().await;
    docker.wait_owned(&instance(&home), 0).await;
}

#[tokio::test]
async fn restart_disable_crash_and_kill_9_of_the_proxy_leave_no_container_behind() {
    let image = fixture_image().await;
    let docker = Docker::from_env();
    let home = Home::new();
    let (mut proxy, api) = start(&home, boxed("churn", &image.tag, json!({})), &[]).await;
    ready(&api, "churn").await;
    let me = instance(&home);
    let first = docker.wait_owned(&me, 1).await;

    // Restart: a new container, the old one gone.
    api.post("/servers/churn/restart", &json!({})).await.data();
    let second = eventually_async("a new container after the restart", || async {
        let ids = docker.owned_by(&me);
        (ids.len() == 1 && ids != first).then_some(ids)
    })
    .await;
    ready(&api, "churn").await;

    // The server crashes: its container goes with it, a new one replaces it.
    // The call itself fails (the server is gone before it answers); what matters is after.
    let _ = api
        .post(
            "/tools/call",
            &json!({"tool_name": "churn:crash", "arguments": {}}),
        )
        .await;
    eventually_async("a new container after the crash", || async {
        let ids = docker.owned_by(&me);
        (ids.len() == 1 && ids != second).then_some(())
    })
    .await;
    ready(&api, "churn").await;

    // Disabled: no container.
    api.post("/servers/churn/disable", &json!({})).await.data();
    docker.wait_owned(&me, 0).await;
    api.post("/servers/churn/enable", &json!({})).await.data();
    ready(&api, "churn").await;
    docker.wait_owned(&me, 1).await;

    // The proxy is killed outright: its watchdog removes the container.
    proxy.signal("KILL");
    proxy.wait().await;
    docker.wait_owned(&me, 0).await;
    let cidfiles = || {
        std::fs::read_dir(home.data_dir().join("containers"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    eventually_async("every cidfile removed with its container", || async {
        let left: Vec<_> = cidfiles();
        left.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_server_waits_in_docker_unavailable_while_the_daemon_is_down_and_recovers() {
    let image = fixture_image().await;
    let mut daemon = PrivateDaemon::start().await;
    daemon.docker.import_fixture(&image.rootfs, &image.tag);
    let host = daemon.docker.host.clone().unwrap();
    let home = Home::new();
    let (mut proxy, api) = start(
        &home,
        boxed("patient", &image.tag, json!({})),
        &[("DOCKER_HOST", &host)],
    )
    .await;
    ready(&api, "patient").await;
    let status = api.get("/docker/status").await.data();
    assert_eq!(status["docker_available"], true, "{status}");
    assert_eq!(status["isolation_enabled"], true, "{status}");

    daemon.pause().await;
    let waiting = server_when(&api, "patient", "Docker unavailable", |s| {
        s["status"] == "Docker unavailable"
    })
    .await;
    let why = waiting["last_error"].as_str().unwrap();
    assert!(why.contains("MCPX_DOCKER_DAEMON_DOWN"), "{why}");
    assert!(why.contains("start Docker"), "says what to do: {why}");
    let status = api.get("/docker/status").await.data();
    assert_eq!(status["docker_available"], false, "{status}");
    assert_eq!(status["code"], "MCPX_DOCKER_DAEMON_DOWN", "{status}");
    // It waits: it does not burn its retries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = server_when(&api, "patient", "still waiting", |_| true).await;
    assert_eq!(still["status"], "Docker unavailable", "{still}");

    daemon.resume().await;
    ready(&api, "patient").await;
    assert_eq!(
        call(&api, "patient:echo", json!({"message": "back"})).await,
        "back"
    );
    proxy.stop().await;
    daemon.docker.wait_owned(&instance(&home), 0).await;
}

/// A home with a secret at its top and an allowed directory, a listener the server must
/// not reach, and a sandboxed fixture whose working directory is the allowed one.
struct SandboxScene {
    home: Home,
    listener: tokio::net::TcpListener,
}

impl SandboxScene {
    fn new() -> Self {
        let home = Home::new();
        std::fs::write(home.path().join("secret.txt"), "top secret").unwrap();
        std::fs::create_dir_all(home.path().join("allowed")).unwrap();
        std::fs::write(home.path().join("allowed/ok.txt"), "given").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self {
            home,
            listener: tokio::net::TcpListener::from_std(listener).unwrap(),
        }
    }

    fn config(&self, name: &str) -> Value {
        json!({"mcpServers": [{
            "name": name, "command": fixture_bin(), "args": ["--name", name],
            "working_dir": self.home.path().join("allowed"),
            "trust_mode": "auto", "isolation": {"mode": "sandbox"}
        }]})
    }

    /// Checks what the sandboxed server `name` may and may not do.
    async fn check_confined(&self, api: &Rest, name: &str) {
        let tool = |t: &str| format!("{name}:{t}");
        let path = |p: &str| self.home.path().join(p).display().to_string();
        assert_eq!(
            call(api, &tool("echo"), json!({"message": "still serving"})).await,
            "still serving"
        );
        let given = call(
            api,
            &tool("read_file"),
            json!({"path": path("allowed/ok.txt")}),
        )
        .await;
        assert_eq!(given, "given");
        let secret = call(api, &tool("read_file"), json!({"path": path("secret.txt")})).await;
        assert!(secret.starts_with("cannot read"), "{secret}");
        let config = call(
            api,
            &tool("read_file"),
            json!({"path": path(".mcpproxy/mcp_config.json")}),
        )
        .await;
        assert!(
            config.starts_with("cannot read"),
            "the proxy's data: {config}"
        );
        let address = self.listener.local_addr().unwrap().to_string();
        let connected = call(api, &tool("tcp_connect"), json!({"address": address})).await;
        assert!(connected.starts_with("cannot connect"), "{connected}");
        let accepted =
            tokio::time::timeout(Duration::from_millis(300), self.listener.accept()).await;
        assert!(accepted.is_err(), "nothing reached the listener");
    }
}

#[tokio::test]
async fn a_server_sandboxed_by_bubblewrap_sees_only_what_it_is_given_and_no_network() {
    let scene = SandboxScene::new();
    let (mut proxy, api) = start(&scene.home, scene.config("bw"), &[]).await;
    let server = ready(&api, "bw").await;
    assert_eq!(
        server["isolation"],
        json!({"mode": "sandbox", "network_mode": "none"})
    );
    let report = api.get("/isolation").await.data();
    assert_eq!(report["sandbox"]["backend"], "bubblewrap", "{report}");
    scene.check_confined(&api, "bw").await;
    // Alone in its PID namespace, under its own hostname.
    let me: Value = serde_json::from_str(&call(&api, "bw:whoami", json!({})).await).unwrap();
    assert!(me["pid"].as_u64().unwrap() < 10, "{me}");
    assert_eq!(
        call(
            &api,
            "bw:read_file",
            json!({"path": "/proc/sys/kernel/hostname"})
        )
        .await
        .trim(),
        "mcpproxy-sandbox"
    );
    proxy.stop().await;
}

/// A directory with nothing in it, as `PATH`: no `bwrap` to be found.
fn empty_path(home: &Home) -> String {
    let dir = home.path().join("empty-bin");
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

#[tokio::test]
async fn without_bubblewrap_landlock_confines_the_server_the_same_way() {
    let scene = SandboxScene::new();
    let path = empty_path(&scene.home);
    let (mut proxy, api) = start(&scene.home, scene.config("ll"), &[("PATH", &path)]).await;
    ready(&api, "ll").await;
    let report = api.get("/isolation").await.data();
    assert_eq!(report["sandbox"]["backend"], "landlock", "{report}");
    assert_eq!(report["sandbox"]["bwrap_path"], Value::Null, "{report}");
    scene.check_confined(&api, "ll").await;
    // Its temporary directory is private, and gone when the server stops.
    let tmp = call(&api, "ll:env", json!({"name": "TMPDIR"})).await;
    assert!(tmp.contains("/sandbox/"), "{tmp}");
    assert!(Path::new(&tmp).is_dir());
    proxy.stop().await;
    assert!(!Path::new(&tmp).exists(), "{tmp} is removed");
}

#[tokio::test]
async fn a_machine_without_bubblewrap_and_landlock_refuses_sandbox_mode_and_runs_nothing() {
    let scene = SandboxScene::new();
    let path = empty_path(&scene.home);
    // The switch is for tests: it hides this kernel's Landlock from the proxy.
    let (mut proxy, api) = start(
        &scene.home,
        scene.config("refused-sandbox"),
        &[("PATH", &path), ("MCPPROXY_TEST_NO_LANDLOCK", "1")],
    )
    .await;
    let server = server_when(&api, "refused-sandbox", "refused", |s| {
        s["status"] == "Error" && !s["last_error"].is_null()
    })
    .await;
    let why = server["last_error"].as_str().unwrap();
    assert!(why.contains("MCPX_SANDBOX_UNAVAILABLE"), "{why}");
    assert!(why.contains("install bubblewrap"), "says what to do: {why}");
    let report = api.get("/isolation").await.data();
    assert_eq!(report["sandbox"]["available"], false, "{report}");
    assert_eq!(report["servers"][0]["available"], false, "{report}");
    assert!(
        command_lines_with("--name refused-sandbox").is_empty(),
        "the server never ran unprotected"
    );
    proxy.stop().await;
}
