//! Reading and replacing another program's config file without ever leaving it half
//! written: a timestamped backup first (`<file>.bak.<YYYYMMDD-HHMMSS>`, never overwriting an
//! earlier one), then a temporary file in the same directory, flushed and renamed over the
//! original with its permissions.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mcpproxy_application::ports::ClientError;
use mcpproxy_domain::Timestamp;

pub fn io_error(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The largest config file read: Claude Code's `~/.claude.json` grows with its history,
/// but not this far.
const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The file's text, or `None` when there is no file. Only regular files of a sane size are
/// read: a path someone else gave may name `/dev/zero` or a FIFO.
pub fn read(path: &Path) -> Result<Option<String>, ClientError> {
    use std::io::Read;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    if !meta.is_file() {
        return Err(io_error(path, "is not a regular file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(io_error(
            path,
            format!("is larger than {MAX_BYTES} bytes; not a config file"),
        ));
    }
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES).read_to_string(&mut text))
        .map_err(|e| io_error(path, e))?;
    Ok(Some(text))
}

/// `20261125-122915` for a time.
fn stamp(now: Timestamp) -> String {
    let text = now.to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 14 {
        format!("{}-{}", &digits[..8], &digits[8..14])
    } else {
        digits
    }
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// Copies `path` next to itself; returns the copy's path.
pub fn backup(path: &Path) -> Result<PathBuf, ClientError> {
    let base = format!("{}.bak.{}", path.display(), stamp(now()));
    let mut candidate = PathBuf::from(&base);
    let mut n = 0;
    while candidate.exists() {
        n += 1;
        candidate = PathBuf::from(format!("{base}-{n}"));
    }
    fs::copy(path, &candidate).map_err(|e| io_error(path, format!("cannot back up: {e}")))?;
    Ok(candidate)
}

/// Replaces (or creates) `path` with `text` atomically. A new file is private (0600): these
/// files may hold keys.
pub fn replace(path: &Path, text: &str) -> Result<(), ClientError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_error(path, "has no directory"))?;
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mode = fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.mcpproxy-{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, format!("cannot write: {e}")));
    }
    Ok(())
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_never_overwrite_each_other_and_writes_keep_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let a = backup(&path).unwrap();
        let b = backup(&path).unwrap();
        assert_ne!(a, b);
        assert!(a.to_string_lossy().contains("settings.json.bak."));
        replace(&path, "{\"a\": 1}\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let fresh = dir.path().join("new/dir/mcp.json");
        replace(&fresh, "{}").unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn only_regular_files_are_read() {
        assert!(read(Path::new("/dev/zero")).is_err());
        assert!(read(Path::new("/")).is_err());
        assert_eq!(read(Path::new("/nonexistent/x.json")).unwrap(), None);
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        assert_eq!(line_col("ab\ncd\nef", 4), (2, 2));
        assert_eq!(line_col("x", 0), (1, 1));
        assert_eq!(stamp(Timestamp::from_millis(1_795_609_755_000)).len(), 15);
    }
}
