//! The tray under test: the real `mcpproxy-tray` binary with `--print-status`, its status lines
//! collected as they come, a look at which processes of a test's HOME still run, the tray on
//! a desktop of its own, and what its tests ask of the fixture and the opener.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::rest::Rest;
use crate::{Home, PATIENCE, signal_pid, workspace_bin};

/// The `mcpproxy-tray` binary of this build.
pub fn tray_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("mcpproxy", "mcpproxy-tray"))
}

/// A running `mcpproxy-tray`, stopped when dropped (and the core it launched with it).
#[derive(Debug)]
pub struct Tray {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr_path: PathBuf,
}

impl Tray {
    /// Starts `mcpproxy-tray --print-status <extra>` with `home` as HOME and `env` added.
    pub fn start(home: &Home, extra: &[&str], env: &[(&str, &str)]) -> Tray {
        // The core the tray launches must be this build's, beside the tray.
        crate::mcpproxy_bin();
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let stderr_path = home.path().join(format!("tray-{n}.log"));
        let mut cmd = Command::new(tray_bin());
        cmd.arg("--print-status")
            .args(extra)
            .env("HOME", home.path())
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        for (key, _) in std::env::vars() {
            if key.starts_with("MCPPROXY_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Tray {
            child,
            lines,
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tray's log (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Every status line so far.
    pub fn history(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a status line, at or after the `from`th, for which `matches` holds.
    pub async fn until_after(
        &self,
        from: usize,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(v) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .skip(from)
                .find(|v| matches(v))
            {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the tray never showed {what}; its status lines:\n{}\nits log:\n{}",
                self.history()
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a status line in `state` for which `matches` holds.
    pub async fn until(&self, state: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.until_after(0, state, |v| v["state"] == state && matches(v))
            .await
    }

    /// Waits for the tray to end, at most [`PATIENCE`].
    pub async fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the tray did not stop:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM (what Quit does from a terminal), then wait.
    pub async fn quit(&mut self) -> ExitStatus {
        signal_pid(self.child.id(), nix::sys::signal::Signal::SIGTERM);
        self.wait().await
    }
}

impl Drop for Tray {
    // Drop cannot await; this waits at most 15 s for a tray that did not quit in its test.
    #[allow(clippy::disallowed_methods)]
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Quit first, so the core it launched goes too; kill both if that hangs.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let core = self
                .history()
                .iter()
                .rev()
                .find_map(|v| v["core_pid"].as_u64());
            let _ = self.child.kill();
            let _ = self.child.wait();
            if let Some(pid) = core {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// The processes (pid and command line) whose HOME is `home` or whose command line names it:
/// what a test started there and may have left behind.
pub fn processes_of(home: &Path) -> Vec<(u32, String)> {
    let home_var = format!("HOME={}", home.display());
    let home_text = home.display().to_string();
    crate::processes()
        .into_iter()
        // A zombie has no command line: it has ended, only not been reaped yet.
        .filter(|p| !p.cmdline.is_empty())
        .filter(|p| {
            let environ = std::fs::read(p.dir.join("environ")).unwrap_or_default();
            environ
                .split(|b| *b == 0)
                .any(|var| var == home_var.as_bytes())
                || p.cmdline.contains(&home_text)
        })
        .map(|p| (p.pid, p.cmdline))
        .collect()
}

/// Waits until no process of `home` runs; panics with those that still do.
pub async fn assert_none_left(home: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_of(home);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {left:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tray on a desktop of its own: a private session bus, a desktop that watches items and
/// shows notifications on it, and the tray started on that bus with `env` added. Dropped in
/// this order: the tray before the bus it talks to.
pub struct OnDesktop {
    pub tray: Tray,
    pub item: crate::dbus::Item,
    pub desktop: crate::dbus::Desktop,
    pub bus: crate::dbus::Bus,
}

impl OnDesktop {
    /// Returns once the tray's item has registered.
    pub async fn start(home: &Home, env: &[(&str, &str)]) -> OnDesktop {
        let bus = crate::dbus::Bus::start();
        let desktop = crate::dbus::Desktop::join(&bus).await;
        let mut env = env.to_vec();
        env.push(("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str()));
        let tray = Tray::start(home, &[], &env);
        let item = desktop.item().await;
        OnDesktop {
            tray,
            item,
            desktop,
            bus,
        }
    }
}

impl std::fmt::Debug for OnDesktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDesktop")
            .field("tray", &self.tray)
            .field("bus", &self.bus.address)
            .finish_non_exhaustive()
    }
}

/// Makes `fx` offer a new tool, `extra_tool`, which waits for approval. Calling a tool is no
/// change to the proxy: no gate holds it.
pub async fn add_extra_tool(api: &Rest) {
    api.post(
        "/tools/call",
        &json!({"tool_name": "fx:add_tool",
                "arguments": {"name": "extra_tool", "description": "added by the test"}}),
    )
    .await
    .data();
}

/// The approval state of `extra_tool`, if `fx` offers it.
pub async fn extra_tool_state(api: &Rest) -> Option<String> {
    let tools = api.get("/servers/fx/tools").await.data();
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "extra_tool")
        .map(|t| t["state"].as_str().unwrap().to_owned())
}

/// An opener that writes what it is asked to open into `opened.txt` in `home`.
pub fn recording_opener(home: &Home) -> String {
    let path = home.path().join("opener.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\n",
            home.path().join("opened.txt").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}
