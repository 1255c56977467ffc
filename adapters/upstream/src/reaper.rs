//! The watchdog: a small process (`mcpproxy __reaper`) that outlives the proxy. It learns
//! every upstream's process group, container and private directory as they start, forgets
//! them as they are cleaned up, and when its input closes — the proxy ended, even by
//! SIGKILL — stops the groups (SIGTERM, 2 s, SIGKILL), removes the containers
//! (`docker rm -f`) and the directories.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::process::{Leftovers, REMOVE_TIMEOUT, signal_group};

/// The handle on the watchdog that kills the process groups of upstream servers if the proxy dies, and
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
    use crate::process::Container;

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
