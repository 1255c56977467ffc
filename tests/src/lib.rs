//! The whole-program test harness: a fresh HOME per test, the real `mcpproxy` binary on a
//! free loopback port, and helpers to wait for it and to stop it. Every process a test
//! starts is stopped when its handle drops.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is the report

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod browser;
pub mod dbus;
pub mod docker;
pub mod keyring;
pub mod mcp;
pub mod oauth;
pub mod registry;
pub mod rest;
pub mod tray;
pub mod upstream;

/// Long enough for a loaded CI machine; only a hang ever reaches it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A binary of this workspace, next to the test executables. `scripts/test` builds every
/// binary first; a test run of this crate alone builds the one it needs.
fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", package, "--bin", bin])
            .status()
            .unwrap()
            .success();
        assert!(ok && path.exists(), "could not build {}", path.display());
    }
    path
}

/// The `mcpproxy` binary of this build.
pub fn mcpproxy_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcpproxy", "mcpproxy"))
}

/// Our server with everything the MCP conformance suite calls (`tests/fixture`).
pub fn conformance_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcp-fixture", "mcp-conformance"))
}

/// The adapter that plays the client of the conformance suite with the proxy.
pub fn conformance_client_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcp-fixture", "mcp-conformance-client"))
}

/// Our fixture MCP server (`tests/fixture`).
pub fn fixture_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcp-fixture", "mcp-fixture"))
}

/// The benchmark harness's fast upstream; `--replay FILE` serves a recorded tool list.
pub fn bench_upstream_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcpproxy-bench", "bench-upstream"))
}

/// A free TCP port on 127.0.0.1 (free when asked; the proxy binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh home directory: `~/.mcpproxy` and `~/.local/state` live in it.
#[derive(Debug)]
pub struct Home {
    dir: tempfile::TempDir,
}

/// `text` with `"quarantined": false` on each server that does not state the key (see
/// [`Home::write_config`]); unchanged when it is not a JSON object.
pub fn trusted_servers(text: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    let Some(servers) = doc.get_mut("mcpServers") else {
        return text.to_owned();
    };
    let entries: Vec<&mut Value> = match servers {
        Value::Array(list) => list.iter_mut().collect(),
        Value::Object(map) => map.values_mut().collect(),
        _ => Vec::new(),
    };
    let mut changed = false;
    for entry in entries {
        if let Some(obj) = entry.as_object_mut()
            && !obj.contains_key("quarantined")
        {
            obj.insert("quarantined".into(), Value::Bool(false));
            changed = true;
        }
    }
    if changed {
        serde_json::to_string_pretty(&doc).unwrap()
    } else {
        text.to_owned()
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join(".mcpproxy")
    }

    pub fn config_path(&self) -> PathBuf {
        self.data_dir().join("mcp_config.json")
    }

    pub fn main_log(&self) -> PathBuf {
        self.path().join(".local/state/mcpproxy/logs/main.log")
    }

    /// Writes `text` as the config, creating a private data dir. The servers in it are ones the
    /// test trusts: each entry that does not state `quarantined` gets `"quarantined": false`,
    /// since the proxy holds a never-seen server written without the key for review (the
    /// config-load gate). Text that is not a JSON object is written as it is.
    /// [`Self::write_config_exact`] writes it untouched.
    pub fn write_config(&self, text: &str) {
        self.write_config_exact(&trusted_servers(text));
    }

    /// Writes `text` as the config, byte for byte, creating a private data dir.
    pub fn write_config_exact(&self, text: &str) {
        fs::create_dir_all(self.data_dir()).unwrap();
        fs::set_permissions(self.data_dir(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(self.config_path(), text).unwrap();
    }

    pub fn read_config(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.config_path()).unwrap()).unwrap()
    }

    /// `mcpproxy <args>` with this HOME and none of the caller's MCPPROXY_* settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(mcpproxy_bin());
        cmd.args(args)
            .env("HOME", self.path())
            .env_remove("XDG_STATE_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (key, _) in std::env::vars() {
            if key.starts_with("MCPPROXY_") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// Runs `mcpproxy <args>` to completion (it is expected to end on its own); returns the
    /// exit code and stderr.
    pub async fn run_to_end(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(PATIENCE, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("mcpproxy {args:?} did not exit"))
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Asserts exit 0; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// stdout as JSON (after asserting exit 0).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts exit `code` and that stderr says `words`.
    pub fn failed(&self, code: i32, words: &str) {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(words),
            "stderr should say {words:?}:\n{}",
            self.stderr
        );
    }
}

impl Home {
    /// Runs the command line `mcpproxy <args>` to its end, at most [`PATIENCE`].
    pub async fn cli(&self, args: &[&str]) -> Ran {
        self.cli_with(args, None, |_| {}).await
    }

    /// [`Home::cli`] with `input` on its stdin and `tweak` applied to the command.
    pub async fn cli_with(
        &self,
        args: &[&str],
        input: Option<&str>,
        tweak: impl FnOnce(&mut Command),
    ) -> Ran {
        let mut std_cmd = self.command(args);
        tweak(&mut std_cmd);
        let mut cmd = tokio::process::Command::from(std_cmd);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = input {
            use tokio::io::AsyncWriteExt;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).await.unwrap();
        }
        let out = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("mcpproxy {args:?} did not end"))
            .unwrap();
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A running `mcpproxy serve`, stopped (SIGKILL) when dropped if still running.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    pub addr: String,
    stderr_path: PathBuf,
    /// The local CA of a proxy that serves HTTPS (`tls.enabled`).
    tls: Option<TlsFiles>,
}

/// The certificates of a proxy that serves HTTPS, in Go's file names.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
}

impl TlsFiles {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("localhost.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("localhost.key")
    }

    /// A client that trusts the local CA only, presenting the local certificate when
    /// `identity` (mutual TLS).
    pub fn client(&self, identity: bool) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&fs::read(self.ca()).unwrap()).unwrap();
        let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
        if identity {
            let mut pem = fs::read(self.cert()).unwrap();
            pem.extend(fs::read(self.key()).unwrap());
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }
}

impl Proxy {
    /// Starts `mcpproxy serve --listen 127.0.0.1:<free port> <extra>` and waits until
    /// `/healthz` answers.
    pub async fn start(home: &Home, extra: &[&str]) -> Proxy {
        Self::start_with(home, extra, |_| {}).await
    }

    pub async fn start_with(
        home: &Home,
        extra: &[&str],
        tweak: impl FnOnce(&mut Command),
    ) -> Proxy {
        Self::start_on(home, &format!("127.0.0.1:{}", free_port()), extra, tweak).await
    }

    /// Starts on `addr` (to start again where a stopped proxy listened).
    pub async fn start_on(
        home: &Home,
        addr: &str,
        extra: &[&str],
        tweak: impl FnOnce(&mut Command),
    ) -> Proxy {
        let addr = addr.to_owned();
        let mut args = vec!["serve", "--listen", addr.as_str()];
        args.extend_from_slice(extra);
        let stderr_path = home
            .path()
            .join(format!("stderr-{}.log", addr.replace(':', "_")));
        let mut cmd = home.command(&args);
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap());
        tweak(&mut cmd);
        let child = cmd.spawn().unwrap();
        let mut proxy = Proxy {
            child,
            addr,
            stderr_path,
            tls: None,
        };
        proxy.wait_healthy().await;
        proxy
    }

    /// Starts a proxy whose config turns HTTPS on, with its certificates in `certs_dir`
    /// (`<data_dir>/certs` unless the config says otherwise), and waits until `/healthz`
    /// answers over HTTPS.
    pub async fn start_https(home: &Home, certs_dir: &Path, extra: &[&str]) -> Proxy {
        let addr = format!("127.0.0.1:{}", free_port());
        Self::start_https_on(home, certs_dir, &addr, extra, |_| {}).await
    }

    /// [`Proxy::start_https`] on `addr` (to start again where a stopped proxy listened).
    pub async fn start_https_on(
        home: &Home,
        certs_dir: &Path,
        addr: &str,
        extra: &[&str],
        tweak: impl FnOnce(&mut Command),
    ) -> Proxy {
        let mut args = vec!["serve", "--listen", addr];
        args.extend_from_slice(extra);
        let stderr_path = home
            .path()
            .join(format!("stderr-{}.log", addr.replace(':', "_")));
        let mut cmd = home.command(&args);
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap());
        tweak(&mut cmd);
        let mut proxy = Proxy {
            child: cmd.spawn().unwrap(),
            addr: addr.to_owned(),
            stderr_path,
            tls: Some(TlsFiles {
                dir: certs_dir.to_owned(),
            }),
        };
        proxy.wait_healthy().await;
        proxy
    }

    /// The certificates of an HTTPS proxy.
    pub fn tls(&self) -> &TlsFiles {
        self.tls.as_ref().expect("this proxy serves plain HTTP")
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        let mut client = reqwest::Client::new();
        loop {
            // An HTTPS proxy makes its CA as it starts: trust it once it is there (and show
            // the local certificate, in case client certificates are required). The
            // certificate is the last file written.
            if let Some(tls) = &self.tls
                && tls.cert().exists()
            {
                client = tls.client(true);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "mcpproxy exited with {status} before serving:\n{}",
                    self.stderr()
                );
            }
            if let Ok(resp) = client.get(self.url("/healthz")).send().await
                && resp.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mcpproxy did not answer /healthz:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends `signal` (TERM, INT, KILL) to the process.
    pub fn signal(&self, signal: &str) {
        let sig: nix::sys::signal::Signal = format!("SIG{signal}").parse().unwrap();
        signal_pid(self.child.id(), sig);
    }

    /// Waits for the process to end, at most [`PATIENCE`].
    pub async fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "mcpproxy did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then wait.
    pub async fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait().await
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` to one process.
pub fn signal_pid(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = i32::try_from(pid).unwrap();
    assert!(pid > 1, "refusing to signal pid {pid}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
}

/// Sends `signal` to a process group; refuses the groups 0 and 1, which would mean "us" and
/// "everyone".
pub fn signal_group(pgid: u32, signal: nix::sys::signal::Signal) {
    let pgid = i32::try_from(pgid).unwrap();
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal);
}

/// A process of this machine, as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    pub pid: u32,
    /// Its arguments joined by spaces (empty for a zombie).
    pub cmdline: String,
    /// Its `/proc/<pid>` directory.
    pub dir: PathBuf,
}

/// Every process of this machine but the test's own.
pub fn processes() -> Vec<ProcessInfo> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            Some(ProcessInfo {
                pid,
                cmdline: String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .trim()
                    .to_owned(),
                dir: entry.path(),
            })
        })
        .filter(|p| p.pid != std::process::id())
        .collect()
}

/// Polls `check` until it returns `Some`, at most [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the async `check` until it returns `Some`, at most [`PATIENCE`].
pub async fn eventually_async<T, F>(what: &str, mut check: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workspace's `tests/fixtures` directory.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Asserts every non-null leaf of `original` is in `saved` with the same value. Durations may
/// be written in another Go form (`2m0s` → `2m`) but must mean the same time.
pub fn assert_kept(original: &Value, saved: &Value, path: &str) {
    match (original, saved) {
        (Value::Null, _) => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a.iter().filter(|(_, v)| !v.is_null()) {
                let w = b.get(k).unwrap_or_else(|| panic!("{path}.{k} was lost"));
                assert_kept(v, w, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length changed");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_kept(v, w, &format!("{path}[{i}]"));
            }
        }
        (Value::String(a), Value::String(b)) if a != b => {
            let (x, y) = (
                mcpproxy_domain::GoDuration::parse(a),
                mcpproxy_domain::GoDuration::parse(b),
            );
            assert!(x.is_ok() && x == y, "{path}: {a:?} became {b:?}");
        }
        (a, b) => assert_eq!(a, b, "{path} changed"),
    }
}
