//! Child processes of stdio upstreams: spawned in their own process group, their stderr kept,
//! and stopped without leaving anything behind.
//!
//! Each server runs in a process group of its own, so stopping it reaches the processes it
//! started too (`npx` starts `node`, which may start more). A small watchdog process, the
//! [`Reaper`], knows every group; if the proxy dies without stopping them (even by SIGKILL),
//! the reaper sees its input pipe close and kills them. What an isolated server leaves beside
//! its processes — a Docker container, private directories — is [`Leftovers`]: removed when
//! the server stops, and known to the reaper too.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpproxy_application::ports::ServerLogs;
use mcpproxy_domain::ServerName;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

pub use crate::reaper::{Reaper, run_reaper};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Lines of stderr kept to quote in errors.
const STDERR_LINES: usize = 20;

/// The last lines a server wrote on stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    closed: Arc<tokio::sync::Notify>,
    is_closed: Arc<std::sync::atomic::AtomicBool>,
}

impl StderrTail {
    fn close(&self) {
        self.is_closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.closed.notify_waiters();
    }

    /// Waits until the server closed stderr (it exited), at most `max`.
    pub async fn wait_closed(&self, max: Duration) {
        let notified = self.closed.notified();
        tokio::pin!(notified);
        // Registered before the check, so a close in between is not missed.
        notified.as_mut().enable();
        if self.is_closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let _ = tokio::time::timeout(max, notified).await;
    }

    fn push(&self, line: String) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// `; stderr: <last lines>` for an error message, or nothing.
    pub fn quote(&self) -> String {
        let lines = self.lines();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", lines.join(" | "))
        }
    }
}

/// How long a stopping server gets: first to exit after its input closes, then after
/// SIGTERM; then SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace {
    pub close: Duration,
    pub term: Duration,
}

impl Grace {
    /// Removing, disabling or restarting one server: 10 s, then SIGTERM and 9 s.
    pub const RUNTIME: Grace = Grace {
        close: Duration::from_secs(10),
        term: Duration::from_secs(9),
    };
    /// The proxy itself stops: it has promised to be gone within 2 s.
    pub const SHUTDOWN: Grace = Grace {
        close: Duration::from_millis(500),
        term: Duration::from_millis(700),
    };
}

pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    // killpg(0) would hit our own group and killpg(1) every process we may signal: a group
    // id below 2 can only be a bug, and is refused rather than obeyed.
    if let Ok(raw) = i32::try_from(pgid)
        && raw > 1
    {
        // ESRCH (nobody left in the group) is the expected end state.
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// A Docker container a server runs in, named by us and recorded in its cidfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub docker: PathBuf,
    pub name: String,
    pub cidfile: PathBuf,
    /// The Docker client's environment (`DOCKER_HOST`, …).
    pub env: BTreeMap<String, String>,
}

/// How long `docker rm -f` may take before we give up on it (the reaper still knows it).
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(15);
/// A container Docker could not remove (the daemon is down) is tried again this often, this
/// many times (ten minutes).
const RETRY_EVERY: Duration = Duration::from_secs(2);
const RETRIES: u32 = 300;

/// What an isolated server leaves besides its processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub container: Option<Container>,
    /// Directories private to this run (a sandbox's temporary directory).
    pub dirs: Vec<PathBuf>,
}

impl Leftovers {
    fn is_empty(&self) -> bool {
        self.container.is_none() && self.dirs.is_empty()
    }

    fn docker_rm(container: &Container) -> std::process::Command {
        let mut cmd = std::process::Command::new(&container.docker);
        cmd.args(["rm", "-f", container.name.as_str()])
            .env_clear()
            .envs(&container.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Removes the container (whatever state it is in) and the directories; `Err` says why
    /// the container is still there.
    pub async fn remove(&self) -> Result<(), String> {
        for dir in &self.dirs {
            let _ = tokio::fs::remove_dir_all(dir).await;
        }
        let Some(container) = &self.container else {
            return Ok(());
        };
        let rm = Command::from(Self::docker_rm(container))
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(REMOVE_TIMEOUT, rm).await {
            Ok(Ok(out)) if out.status.success() || no_such_container(&out.stderr) => {
                let _ = std::fs::remove_file(&container.cidfile);
                Ok(())
            }
            Ok(Ok(out)) => Err(format!(
                "docker rm -f failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(Err(e)) => Err(format!("cannot run docker rm: {e}")),
            Err(_) => Err(format!(
                "docker rm -f did not finish within {REMOVE_TIMEOUT:?}"
            )),
        }
    }

    /// Removes them now or, when Docker cannot (it is down), keeps trying every few seconds
    /// for a while in the background. The reaper forgets them once they are gone; until
    /// then it would remove them if the proxy ended.
    async fn remove_until_gone(self, reaper: Option<Reaper>) {
        let Err(why) = self.remove().await else {
            if let Some(reaper) = &reaper {
                reaper.forget(&self);
            }
            return;
        };
        let name = self
            .container
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        tracing::warn!(container = %name, "{why}; trying again while the proxy runs");
        tokio::spawn(async move {
            for _ in 0..RETRIES {
                tokio::time::sleep(RETRY_EVERY).await;
                if self.remove().await.is_ok() {
                    tracing::info!(container = %name, "removed");
                    if let Some(reaper) = &reaper {
                        reaper.forget(&self);
                    }
                    return;
                }
            }
            tracing::warn!(container = %name, "could not be removed; remove it with `docker rm -f {name}`");
        });
    }

    /// The same, from a plain thread (a drop has no runtime to wait on).
    fn remove_in_background(self) {
        if self.is_empty() {
            return;
        }
        std::thread::spawn(move || {
            if let Some(container) = &self.container
                && let Ok(out) = Self::docker_rm(container).output()
                && (out.status.success() || no_such_container(&out.stderr))
            {
                let _ = std::fs::remove_file(&container.cidfile);
            }
            for dir in &self.dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
}

/// Docker's answer when the container is already gone (removed by `--rm`, or never made).
fn no_such_container(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("No such container") || text.contains("is already in progress")
}

/// A running stdio server. Dropping it without [`ChildProcess::stop`] kills its whole
/// group at once, so no path (a cancelled connect, a panic) can leave it running.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    pgid: Option<u32>,
    reaper: Option<Reaper>,
    leftovers: Leftovers,
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, Signal::SIGKILL);
            if let Some(reaper) = &self.reaper {
                reaper.unregister(pgid);
            }
            // The reaper keeps the leftovers registered: if this removal does not finish
            // before the proxy ends, it finishes it.
            std::mem::take(&mut self.leftovers).remove_in_background();
        }
    }
}

impl ChildProcess {
    pub fn pid(&self) -> Option<u32> {
        self.pgid
    }

    /// Waits for the child to exit, then SIGTERMs its group, then SIGKILLs it; in the end
    /// no process of the group is left.
    pub async fn stop(mut self, grace: Grace) {
        let Some(pgid) = self.pgid.take() else { return };
        if tokio::time::timeout(grace.close, self.child.wait())
            .await
            .is_err()
        {
            signal_group(pgid, Signal::SIGTERM);
            if tokio::time::timeout(grace.term, self.child.wait())
                .await
                .is_err()
            {
                signal_group(pgid, Signal::SIGKILL);
                let _ = self.child.wait().await;
            }
        }
        // The leader is gone; processes it started may not be.
        signal_group(pgid, Signal::SIGKILL);
        if let Some(reaper) = &self.reaper {
            reaper.unregister(pgid);
        }
        std::mem::take(&mut self.leftovers)
            .remove_until_gone(self.reaper.clone())
            .await;
    }

    /// The container this server runs in, if any.
    pub fn container(&self) -> Option<&Container> {
        self.leftovers.container.as_ref()
    }
}

/// A freshly started stdio server: the process, its pipes and its stderr.
#[derive(Debug)]
pub struct Spawned {
    pub process: ChildProcess,
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
    pub stderr: StderrTail,
}

/// What to start: the server's own command, or the same wrapped in Docker or a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<PathBuf>,
    pub leftovers: Leftovers,
}

/// Starts the server in its own process group with exactly `env`; its stderr goes to the
/// server log and to the returned tail. The reaper learns of its leftovers before it starts.
pub fn spawn(
    name: &ServerName,
    launch: Launch,
    logs: Arc<dyn ServerLogs>,
    reaper: Option<&Reaper>,
) -> std::io::Result<Spawned> {
    if let Some(reaper) = reaper {
        reaper.remember(&launch.leftovers);
    }
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(&launch.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &launch.working_dir {
        cmd.current_dir(dir);
    }
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            // Nothing ran, so no container exists; only prepared directories are left.
            for dir in &launch.leftovers.dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
            if let Some(reaper) = reaper {
                reaper.forget(&launch.leftovers);
            }
            return Err(e);
        }
    };
    let pgid = child.id();
    if let (Some(reaper), Some(pgid)) = (reaper, pgid) {
        reaper.register(pgid);
    }
    // From here on, dropping `process` stops the group and removes the leftovers.
    let mut process = ChildProcess {
        child,
        pgid,
        reaper: reaper.cloned(),
        leftovers: launch.leftovers,
    };
    let missing = || std::io::Error::other("the child's pipes were not set up");
    let stdout = process.child.stdout.take().ok_or_else(missing)?;
    let stdin = process.child.stdin.take().ok_or_else(missing)?;
    let stderr_pipe = process.child.stderr.take().ok_or_else(missing)?;
    let stderr = StderrTail::default();
    let tail = stderr.clone();
    let server = name.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr_pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.append(&server, &line);
            tail.push(line);
        }
        tail.close();
    });
    Ok(Spawned {
        process,
        stdout,
        stdin,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let tail = StderrTail::default();
        assert_eq!(tail.quote(), "");
        for i in 0..30 {
            tail.push(format!("line {i}"));
        }
        let lines = tail.lines();
        assert_eq!(lines.len(), STDERR_LINES);
        assert_eq!(lines[0], "line 10");
        assert!(tail.quote().ends_with("line 29"));
    }
}
