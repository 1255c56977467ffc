//! Child processes of stdio upstreams: spawned in their own process group, their stderr kept,
//! and stopped without leaving anything behind.
//!
//! Each server runs in a process group of its own, so stopping it reaches the processes it
//! started too (`npx` starts `node`, which may start more). A small watchdog process, the
//! [`Reaper`], knows every group; if the proxy dies without stopping them (even by SIGKILL),
//! the reaper sees its input pipe close and kills them.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpproxy_application::ports::ServerLogs;
use mcpproxy_domain::ServerName;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
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

fn signal_group(pgid: u32, signal: Signal) {
    // killpg(0) would hit our own group and killpg(1) every process we may signal: a group
    // id below 2 can only be a bug, and is refused rather than obeyed.
    if let Ok(raw) = i32::try_from(pgid)
        && raw > 1
    {
        // ESRCH (nobody left in the group) is the expected end state.
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// A running stdio server. Dropping it without [`ChildProcess::stop`] kills its whole
/// group at once, so no path (a cancelled connect, a panic) can leave it running.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    pgid: Option<u32>,
    reaper: Option<Reaper>,
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, Signal::SIGKILL);
            if let Some(reaper) = &self.reaper {
                reaper.unregister(pgid);
            }
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

/// What to start.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub env: &'a std::collections::BTreeMap<String, String>,
    pub working_dir: Option<&'a Path>,
}

/// Starts the server in its own process group with exactly `env`; its stderr goes to the
/// server log and to the returned tail.
pub fn spawn(
    name: &ServerName,
    launch: &Launch<'_>,
    logs: Arc<dyn ServerLogs>,
    reaper: Option<&Reaper>,
) -> std::io::Result<Spawned> {
    let mut cmd = Command::new(launch.program);
    cmd.args(launch.args)
        .env_clear()
        .envs(launch.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = launch.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let pgid = child.id();
    if let (Some(reaper), Some(pgid)) = (reaper, pgid) {
        reaper.register(pgid);
    }
    let missing = || std::io::Error::other("the child's pipes were not set up");
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stderr_pipe = child.stderr.take().ok_or_else(missing)?;
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
        process: ChildProcess {
            child,
            pgid,
            reaper: reaper.cloned(),
        },
        stdout,
        stdin,
        stderr,
    })
}

/// The watchdog that kills the process groups of upstream servers if the proxy dies.
#[derive(Debug, Clone)]
pub struct Reaper {
    input: Arc<Mutex<std::process::ChildStdin>>,
}

impl Reaper {
    /// Starts the watchdog: `program args…` must run [`run_reaper`]. It gets a process group
    /// of its own so a signal to the proxy's group does not take it down first.
    pub fn spawn(program: &Path, args: &[&str]) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let input = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the reaper's stdin was not set up"))?;
        // The reaper outlives us by design; nobody waits for it.
        drop(child);
        Ok(Self {
            input: Arc::new(Mutex::new(input)),
        })
    }

    fn send(&self, line: &str) {
        let mut input = self
            .input
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = writeln!(input, "{line}").and_then(|()| input.flush()) {
            tracing::warn!(error = %e, "the process reaper is gone; children may outlive a crash");
        }
    }

    pub fn register(&self, pgid: u32) {
        self.send(&format!("+{pgid}"));
    }

    pub fn unregister(&self, pgid: u32) {
        self.send(&format!("-{pgid}"));
    }
}

/// The watchdog's main loop: remember groups until the input ends, then stop them all
/// (SIGTERM, 2 s, SIGKILL). Returns the exit code.
pub fn run_reaper(input: impl BufRead) -> i32 {
    let mut groups = BTreeSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (sign, number) = line.split_at(line.len().min(1));
        match (sign, number.trim().parse::<u32>()) {
            ("+", Ok(g)) => {
                groups.insert(g);
            }
            ("-", Ok(g)) => {
                groups.remove(&g);
            }
            _ => {}
        }
    }
    if groups.is_empty() {
        return 0;
    }
    for g in &groups {
        signal_group(*g, Signal::SIGTERM);
    }
    let alive = |g: u32| {
        i32::try_from(g).is_ok_and(|raw| raw > 1 && killpg(Pid::from_raw(raw), None).is_ok())
    };
    for _ in 0..40 {
        if !groups.iter().any(|g| alive(*g)) {
            return 0;
        }
        #[allow(clippy::disallowed_methods)] // The reaper is a plain process, not a runtime.
        std::thread::sleep(Duration::from_millis(50));
    }
    for g in &groups {
        signal_group(*g, Signal::SIGKILL);
    }
    0
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

    #[test]
    fn the_reaper_kills_the_groups_left_when_its_input_ends() {
        use std::os::unix::process::CommandExt;
        let mut doomed = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut released = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let input = format!("+{}\n+{}\n-{}\n", doomed.id(), released.id(), released.id());
        assert_eq!(run_reaper(input.as_bytes()), 0);
        let status = doomed.wait().unwrap();
        assert!(!status.success(), "killed by a signal");
        assert!(
            released.try_wait().unwrap().is_none(),
            "unregistered groups are left alone"
        );
        released.kill().unwrap();
        released.wait().unwrap();
    }
}
