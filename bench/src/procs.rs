//! The processes a benchmark runs — mcpproxy in a fresh home, the fast upstream, peers —
//! and what is measured of them from outside: readiness, resident memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The API key of the benchmark proxies.
pub const KEY: &str = "bench";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A binary next to this one (the same `target/<profile>`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test executables live one level deeper (`deps/`).
    let direct = dir.join(name);
    if direct.exists() {
        return direct;
    }
    dir.parent().map_or(direct, |p| p.join(name))
}

/// A child that is stopped (SIGTERM, then SIGKILL) when dropped or stopped.
#[derive(Debug)]
pub struct Running {
    pub child: Child,
    pub name: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGTERM, then SIGKILL after 3 s.
    pub async fn stop(mut self) {
        let pid = self.pid();
        if let Ok(pid) = i32::try_from(pid)
            && pid > 1
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

pub fn spawn(name: &str, command: &mut Command) -> Result<Running, String> {
    spawn_with_stderr(name, command, Stdio::null())
}

/// [`spawn`], its stderr going to `stderr`.
pub fn spawn_with_stderr(
    name: &str,
    command: &mut Command,
    stderr: impl Into<Stdio>,
) -> Result<Running, String> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    Ok(Running {
        child,
        name: name.to_owned(),
    })
}

/// Waits until `url` answers 2xx (at most `within`); the time it took.
pub async fn until_ok(url: &str, within: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(format!("{url} did not answer within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One `kB` field of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The CPU time (user + system) `pid` has used so far, from `/proc/<pid>/stat` (in clock
/// ticks of 10 ms: measure over runs of seconds).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident memory of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmRSS:")
}

/// Resident memory of `pid` for a table: all of it, and the anonymous part (heap and
/// stacks; the rest is file-backed, mostly the binary's code pages, clean and shared).
pub fn memory_text(pid: u32) -> String {
    match (rss_mib(pid), status_mib(pid, "RssAnon:")) {
        (Some(rss), Some(anon)) => format!("{rss:.1} MiB ({anon:.1} MiB anonymous)"),
        (Some(rss), None) => format!("{rss:.1} MiB"),
        _ => "unknown (no /proc)".to_owned(),
    }
}

/// A running mcpproxy with its own home.
#[derive(Debug)]
pub struct Proxy {
    pub process: Running,
    pub base: String,
    _home: tempfile::TempDir,
}

impl Proxy {
    /// Starts `mcpproxy serve` with `servers`; returns once `/readyz` answers, with the
    /// time that took.
    pub async fn start(mcpproxy: &Path, servers: Value) -> Result<(Self, Duration), String> {
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = home.path().join(".mcpproxy");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        #[allow(clippy::permissions_set_readonly_false)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| e.to_string())?;
        }
        let config = json!({"api_key": KEY, "mcpServers": servers,
            "logging": {"level": "warn", "enable_file": false}});
        std::fs::write(data.join("mcp_config.json"), config.to_string())
            .map_err(|e| e.to_string())?;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let process = spawn(
            "mcpproxy",
            Command::new(mcpproxy)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .env("HOME", home.path())
                .env("NO_BROWSER", "1")
                .env_remove("RUST_LOG"),
        )?;
        until_ok(&format!("{base}/readyz"), Duration::from_secs(30)).await?;
        let ready = started.elapsed();
        Ok((
            Self {
                process,
                base,
                _home: home,
            },
            ready,
        ))
    }

    /// Waits until every server is Ready with at least `tools` tools in all.
    pub async fn until_servers_ready(
        &self,
        tools: usize,
        within: Duration,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            let status: Option<Value> = async {
                http.get(format!("{}/api/v1/status", self.base))
                    .header("X-API-Key", KEY)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            if let Some(s) = status {
                let servers = &s["data"]["servers"];
                let callable = s["data"]["tools"]["enabled"].as_u64().unwrap_or(0);
                if servers["connected"] == servers["total"] && callable as usize >= tools {
                    return Ok(started.elapsed());
                }
            }
            if started.elapsed() > within {
                return Err(format!("the servers were not ready within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn mcp(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
