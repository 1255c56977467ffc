//! One proxy per data directory: the database and the socket belong to one process.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::exit::{Exit, Failure};

/// An exclusive lock on `<data_dir>/mcpproxy.lock`, held while this value lives. The kernel
/// drops it when the process ends, however it ends, so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
}

/// The process that holds a data directory, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<String>,
    /// The address it listens on (`cli` for a command line editing the files).
    pub listen: Option<String>,
}

impl Holder {
    fn parse(content: &str) -> Self {
        let field = |key: &str| {
            content
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            pid: field("pid="),
            listen: field("listen="),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.listen) {
            (Some(pid), Some(listen)) => write!(f, "pid {pid}, listening on {listen}"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            _ => f.write_str("pid unknown"),
        }
    }
}

/// Who holds the data directory's lock right now, if anyone.
pub fn holder(data_dir: &Path) -> Option<Holder> {
    let mut file = File::open(data_dir.join("mcpproxy.lock")).ok()?;
    match file.try_lock_shared() {
        // Free: nobody holds it (ours drops with `file`).
        Ok(()) => None,
        Err(_) => {
            let mut content = String::new();
            let _ = file.read_to_string(&mut content);
            Some(Holder::parse(&content))
        }
    }
}

impl InstanceLock {
    pub fn acquire(data_dir: &Path, listen: &str) -> Result<Self, Failure> {
        let path = data_dir.join("mcpproxy.lock");
        let fail = |e: std::io::Error| {
            Failure::new(
                Exit::General,
                format!("cannot open the lock file {}: {e}", path.display()),
            )
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let owner = Holder::parse(&owner);
                return Err(Failure::new(
                    Exit::Locked,
                    format!(
                        "another mcpproxy ({owner}) is using the data directory {}; stop it, \
                         or start this one with another --data-dir",
                        data_dir.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(fail(e)),
        }
        let mut lock = Self { file };
        lock.note_address(listen).map_err(fail)?;
        Ok(lock)
    }

    /// Writes the address this process listens on into the lock file, where the command
    /// line looks for it (the bound address once known: `:0` becomes a real port).
    pub fn note_address(&mut self, listen: &str) -> std::io::Result<()> {
        let note = format!("pid={}\nlisten={listen}\n", std::process::id());
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(note.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_owner() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path(), "127.0.0.1:8080").unwrap();
        let err = InstanceLock::acquire(dir.path(), "127.0.0.1:9090").unwrap_err();
        assert_eq!(err.exit, Exit::Locked);
        let pid = std::process::id();
        assert!(
            err.message
                .contains(&format!("pid {pid}, listening on 127.0.0.1:8080")),
            "{}",
            err.message
        );
        let held = holder(dir.path()).unwrap();
        assert_eq!(held.pid, Some(pid.to_string()));
        assert_eq!(held.listen.as_deref(), Some("127.0.0.1:8080"));
        drop(first);
        assert_eq!(holder(dir.path()), None, "free once dropped");
        InstanceLock::acquire(dir.path(), "127.0.0.1:9090").unwrap();
    }
}
