//! Child processes of stdio upstreams: spawned in their own process group, their stderr kept,
//! and stopped without leaving anything behind.
//!
//! Each server runs in a process group of its own, so stopping it reaches the processes it
//! started too (`npx` starts `node`, which may start more). A small watchdog process, the
//! [`Reaper`], knows every group; if the proxy dies without stopping them (even by SIGKILL),
//! the reaper sees its input pipe close and kills them. What an isolated server leaves beside
//! its processes — a Docker container, private directories — is [`Leftovers`]: removed when
//! the server stops, and known to the reaper too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
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
const REMOVE_TIMEOUT: Duration = Duration::from_secs(15);
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

/// The watchdog that kills the process groups of upstream servers if the proxy dies, and
/// removes the containers and directories they leave.
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

    /// Learns what a server will leave behind, before it starts.
    pub fn remember(&self, leftovers: &Leftovers) {
        for line in reaper_lines(leftovers, true) {
            self.send(&line);
        }
    }

    /// Forgets leftovers that are gone.
    pub fn forget(&self, leftovers: &Leftovers) {
        for line in reaper_lines(leftovers, false) {
            self.send(&line);
        }
    }
}

/// The reaper's protocol: `+PGID` / `-PGID` for process groups; `c+`/`c-` with the
/// container's name, cidfile and Docker client; `d+`/`d-` with a directory. Fields are
/// tab-separated (paths may hold spaces, never tabs or newlines that we write).
fn reaper_lines(leftovers: &Leftovers, add: bool) -> Vec<String> {
    let sign = if add { '+' } else { '-' };
    let mut lines = Vec::new();
    if let Some(c) = &leftovers.container {
        lines.push(format!(
            "c{sign}\t{}\t{}\t{}",
            c.name,
            c.cidfile.display(),
            c.docker.display()
        ));
    }
    for dir in &leftovers.dirs {
        lines.push(format!("d{sign}\t{}", dir.display()));
    }
    lines
}

/// What the reaper has to clean up when the proxy is gone.
#[derive(Debug, Default)]
struct Watch {
    groups: BTreeSet<u32>,
    /// Container name → (cidfile, docker program).
    containers: BTreeMap<String, (PathBuf, PathBuf)>,
    dirs: BTreeSet<PathBuf>,
}

impl Watch {
    fn take(&mut self, line: &str) {
        let mut fields = line.split('\t');
        match (fields.next().unwrap_or_default(), fields.next()) {
            ("c+", Some(name)) => {
                if let (Some(cidfile), Some(docker)) = (fields.next(), fields.next()) {
                    self.containers
                        .insert(name.to_owned(), (cidfile.into(), docker.into()));
                }
            }
            ("c-", Some(name)) => {
                self.containers.remove(name);
            }
            ("d+", Some(dir)) => {
                self.dirs.insert(dir.into());
            }
            ("d-", Some(dir)) => {
                self.dirs.remove(Path::new(dir));
            }
            (group, None) => {
                let (sign, number) = group.split_at(group.len().min(1));
                match (sign, number.trim().parse::<u32>()) {
                    ("+", Ok(g)) => {
                        self.groups.insert(g);
                    }
                    ("-", Ok(g)) => {
                        self.groups.remove(&g);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// Stops the groups: SIGTERM, up to 2 s, SIGKILL.
fn stop_groups(groups: &BTreeSet<u32>) {
    if groups.is_empty() {
        return;
    }
    for g in groups {
        signal_group(*g, Signal::SIGTERM);
    }
    let alive = |g: u32| {
        i32::try_from(g).is_ok_and(|raw| raw > 1 && killpg(Pid::from_raw(raw), None).is_ok())
    };
    for _ in 0..40 {
        if !groups.iter().any(|g| alive(*g)) {
            return;
        }
        #[allow(clippy::disallowed_methods)] // The reaper is a plain process, not a runtime.
        std::thread::sleep(Duration::from_millis(50));
    }
    for g in groups {
        signal_group(*g, Signal::SIGKILL);
    }
}

/// Removes the containers, one `docker rm -f` per Docker client, each bounded in time. The
/// reaper inherited the proxy's environment, so `DOCKER_HOST` and friends are the proxy's.
fn remove_containers(containers: &BTreeMap<String, (PathBuf, PathBuf)>) {
    let mut by_docker: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    for (name, (_, docker)) in containers {
        by_docker.entry(docker).or_default().push(name);
    }
    for (docker, names) in by_docker {
        let Ok(mut rm) = std::process::Command::new(docker)
            .args(["rm", "-f"])
            .args(&names)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let deadline = std::time::Instant::now() + REMOVE_TIMEOUT;
        while matches!(rm.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            #[allow(clippy::disallowed_methods)] // The reaper is a plain process, not a runtime.
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = rm.kill();
        let _ = rm.wait();
    }
    for (cidfile, _) in containers.values() {
        let _ = std::fs::remove_file(cidfile);
    }
}

/// The watchdog's main loop: remember groups, containers and directories until the input
/// ends, then stop the groups (SIGTERM, 2 s, SIGKILL), remove the containers and the
/// directories. Returns the exit code.
pub fn run_reaper(input: impl BufRead) -> i32 {
    let mut watch = Watch::default();
    for line in input.lines() {
        let Ok(line) = line else { break };
        watch.take(&line);
    }
    stop_groups(&watch.groups);
    remove_containers(&watch.containers);
    for dir in &watch.dirs {
        let _ = std::fs::remove_dir_all(dir);
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

    #[test]
    fn the_reaper_learns_containers_and_directories_and_forgets_what_is_gone() {
        let kept = tempfile::tempdir().unwrap();
        let doomed = tempfile::tempdir().unwrap();
        let doomed_path = doomed.keep();
        let leftovers = Leftovers {
            container: Some(Container {
                docker: "/usr/bin/docker".into(),
                name: "mcpproxy-a-1".into(),
                cidfile: "/d/containers/mcpproxy-a-1.cid".into(),
                env: BTreeMap::new(),
            }),
            dirs: vec![kept.path().to_owned()],
        };
        let mut watch = Watch::default();
        for line in reaper_lines(&leftovers, true) {
            watch.take(&line);
        }
        watch.take(&format!("d+\t{}", doomed_path.display()));
        watch.take("+4242");
        assert_eq!(
            watch.containers.get("mcpproxy-a-1"),
            Some(&(
                PathBuf::from("/d/containers/mcpproxy-a-1.cid"),
                PathBuf::from("/usr/bin/docker")
            ))
        );
        assert!(watch.groups.contains(&4242));
        for line in reaper_lines(&leftovers, false) {
            watch.take(&line);
        }
        assert!(watch.containers.is_empty());
        assert_eq!(watch.dirs.iter().collect::<Vec<_>>(), [&doomed_path]);

        let input = format!("d+\t{}\n", doomed_path.display());
        assert_eq!(run_reaper(input.as_bytes()), 0);
        assert!(
            !doomed_path.exists(),
            "directories are removed when the proxy is gone"
        );
        assert!(kept.path().exists());
    }
}
