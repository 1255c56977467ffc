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
    _file: File,
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
                let owner = describe(&owner);
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
        let note = format!("pid={}\nlisten={listen}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(fail)?;
        Ok(Self { _file: file })
    }
}

/// "pid 1234, listening on 127.0.0.1:8080" from the lock file's content.
fn describe(content: &str) -> String {
    let field = |key: &str| {
        content
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (field("pid="), field("listen=")) {
        (Some(pid), Some(listen)) => format!("pid {pid}, listening on {listen}"),
        (Some(pid), None) => format!("pid {pid}"),
        _ => "pid unknown".to_owned(),
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
        drop(first);
        InstanceLock::acquire(dir.path(), "127.0.0.1:9090").unwrap();
    }
}
