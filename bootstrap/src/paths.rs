//! Where mcpproxy keeps its files, and the permission rule for them.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::exit::{Exit, Failure};

/// The user's home directory, from `$HOME`.
pub fn home() -> Result<PathBuf, Failure> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h)),
        _ => Err(Failure::new(
            Exit::General,
            "HOME is not set; set it, or give the data directory with --data-dir",
        )),
    }
}

/// `~/x` → `<home>/x`; other paths as they are.
pub fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if path == "~" => home.to_owned(),
        None => PathBuf::from(path),
    }
}

/// Creates `dir` (mode 0700) if it is missing; refuses one that the group or others can
/// access, because it holds the API key, tokens and the activity log.
pub fn ensure_private_dir(dir: &Path) -> Result<(), Failure> {
    match fs::metadata(dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(Failure::new(
                    Exit::General,
                    format!("{} is not a directory", dir.display()),
                ));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Failure::new(
                    Exit::Permission,
                    format!(
                        "the data directory {dir} is accessible by other users (mode {mode:o}); \
                         it holds secrets, so run `chmod 700 {dir}` and start again",
                        dir = dir.display()
                    ),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                let exit = if e.kind() == ErrorKind::PermissionDenied {
                    Exit::Permission
                } else {
                    Exit::General
                };
                Failure::new(exit, format!("cannot create {}: {e}", dir.display()))
            }),
        Err(e) => {
            let exit = if e.kind() == ErrorKind::PermissionDenied {
                Exit::Permission
            } else {
                Exit::General
            };
            Err(Failure::new(
                exit,
                format!("cannot use {}: {e}", dir.display()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_and_refuses_shared() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert_eq!(err.exit, Exit::Permission);
        assert!(err.message.contains("chmod 700"), "{}", err.message);
    }

    #[test]
    fn home_expansion() {
        let home = Path::new("/home/u");
        assert_eq!(
            expand_home("~/.mcpproxy", home),
            PathBuf::from("/home/u/.mcpproxy")
        );
        assert_eq!(expand_home("/data", home), PathBuf::from("/data"));
    }
}
