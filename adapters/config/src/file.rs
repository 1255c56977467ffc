//! Reading and writing the config file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mcpproxy_domain::{Config, ValidationError};

/// Why a config could not be loaded or saved. Every variant names the file, and where it can,
/// the key and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path} does not exist")]
    Missing { path: PathBuf },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}:{line}:{column}: {message} (the file is not valid JSON; fix it there)")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Value {
        path: PathBuf,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {}", list(.errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<ValidationError>,
    },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

fn list(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// serde_json appends " at line L column C"; we print the position our own way.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Parses and validates a config document. Returns the config and the notes of what
/// `normalize` repaired.
pub fn parse(path: &Path, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut config: Config = match serde_path_to_error::deserialize(&mut de) {
        Ok(c) => c,
        Err(e) => {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = (inner.line(), inner.column());
            let message = without_position(&inner.to_string());
            return Err(if inner.is_syntax() || inner.is_eof() || key == "." {
                ConfigError::Syntax {
                    path: path.to_owned(),
                    line,
                    column,
                    message,
                }
            } else {
                ConfigError::Value {
                    path: path.to_owned(),
                    key,
                    line,
                    column,
                    message,
                }
            });
        }
    };
    // Trailing garbage after the document is a syntax error too.
    if let Err(e) = de.end() {
        return Err(ConfigError::Syntax {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: without_position(&e.to_string()),
        });
    }
    let notes = config.normalize();
    let errors = config.validate();
    if !errors.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            errors,
        });
    }
    Ok((config, notes))
}

/// Reads, parses and validates the config file.
pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ConfigError::Missing {
                path: path.to_owned(),
            }
        } else {
            ConfigError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        }
    })?;
    parse(path, &text)
}

/// Writes the config atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over the old one. Readers see the old file or the new one, never a mix, and
/// a crash mid-save leaves the old file intact. The file is private to the user (0600)
/// because it holds the API key and often upstream secrets.
pub fn save(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let write_err = |reason: String| ConfigError::Write {
        path: path.to_owned(),
        reason,
    };
    let errors = config.validate();
    if !errors.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            errors,
        });
    }
    let mut text = serde_json::to_string_pretty(config).map_err(|e| write_err(e.to_string()))?;
    text.push('\n');

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mcp_config.json".to_owned());
    let tmp = dir.join(format!(
        ".{file_name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // The rename is durable only once the directory entry is on disk.
        fs::File::open(&dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(e.to_string()));
    }
    Ok(())
}

/// The temporary file names of saves to `path`: `.<file name>.tmp.<pid>.<n>`, and the pid.
fn temp_files(path: &Path) -> Vec<(PathBuf, Option<u32>)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let prefix = format!(".{file_name}.tmp.");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&prefix)?;
            let pid = rest.split('.').next().and_then(|p| p.parse().ok());
            Some((e.path(), pid))
        })
        .collect()
}

/// Whether the process `pid` runs; `None` when this system cannot tell (no `/proc`).
fn process_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Removes what saves cut short by a crash (`kill -9`) left beside the config: temporary
/// files that each hold a whole config, secrets included, and would pile up. A file is
/// stale when the process that wrote it is gone (where that cannot be told: when it is
/// over a minute old), or when it is over an hour old (its pid was reused); a save under
/// way in another process is left alone. Returns the files removed.
pub fn remove_stale_temp_files(path: &Path) -> Vec<PathBuf> {
    use std::time::Duration;
    let mut removed = Vec::new();
    for (file, pid) in temp_files(path) {
        let age = fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        let stale = age > Duration::from_secs(3600)
            || match pid.map(|p| (p, process_alive(p))) {
                Some((p, _)) if p == std::process::id() => false,
                Some((_, Some(alive))) => !alive,
                _ => age > Duration::from_secs(60),
            };
        if stale && fs::remove_file(&file).is_ok() {
            removed.push(file);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p() -> PathBuf {
        PathBuf::from("/etc/mcp_config.json")
    }

    #[test]
    fn broken_json_says_where() {
        let text = "{\n  \"listen\": \"127.0.0.1:8080\",\n  \"tools_limit\": 15\n  \"x\": 1\n}";
        let err = parse(&p(), text).unwrap_err();
        let ConfigError::Syntax { line, column, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column), (4, 3));
        let msg = err.to_string();
        assert!(
            msg.starts_with("/etc/mcp_config.json:4:3: expected"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_file_is_a_syntax_error() {
        let err = parse(&p(), "{\"listen\": \"127.0").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        let err = parse(&p(), "{} {}").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let text =
            r#"{"mcpServers": [{"name": "a", "command": "x"}, {"name": "b", "args": "oops"}]}"#;
        let err = parse(&p(), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mcpServers[1].args"), "{msg}");
        assert!(msg.contains("invalid type"), "{msg}");

        let err = parse(&p(), r#"{"tools_limit": "many"}"#).unwrap_err();
        assert!(err.to_string().contains("tools_limit"), "{err}");

        let err = parse(&p(), r#"{"call_tool_timeout": "soon"}"#).unwrap_err();
        assert!(err.to_string().contains("call_tool_timeout"), "{err}");
        assert!(err.to_string().contains("\"2m\""), "{err}");

        let err = parse(&p(), r#"{"mcpServers": [{"name": "a:b", "command": "x"}]}"#).unwrap_err();
        assert!(err.to_string().contains("mcpServers[0].name"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let text = json!({"mcpServers": [{"name": "a", "protocol": "sse"}]}).to_string();
        let err = parse(&p(), &text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/mcp_config.json: mcpServers[0].url: url is required for the sse protocol"
        );
    }

    #[test]
    fn save_is_atomic_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        fs::write(&path, "{\"listen\": \":1\"}").unwrap();
        let config = Config {
            listen: "127.0.0.1:9999".into(),
            ..Config::default()
        };
        save(&path, &config).unwrap();
        let (back, _) = load(&path).unwrap();
        assert_eq!(back, config);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file may remain");
    }

    #[test]
    fn an_invalid_config_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        fs::write(&path, "{}").unwrap();
        let bad = Config {
            tools_limit: 0,
            ..Config::default()
        };
        assert!(matches!(
            save(&path, &bad),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}");
    }

    #[test]
    fn a_failed_write_leaves_no_trace() {
        // Renaming a file over a non-empty directory fails, even for root.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let err = save(&path, &Config::default()).unwrap_err();
        assert!(err.to_string().starts_with("cannot write"), "{err}");
        assert_eq!(fs::read_to_string(path.join("keep")).unwrap(), "x");
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "the temporary file must be removed");
    }

    #[test]
    fn missing_file_is_its_own_error() {
        let err = load(Path::new("/nonexistent/mcp_config.json")).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }));
    }

    #[test]
    fn stale_temp_files_of_dead_savers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        save(&path, &Config::default()).unwrap();
        // A saver that died (no process has pid 0x7ffffffe), one that runs (us), and an
        // unrelated file.
        let dead = dir.path().join(".mcp_config.json.tmp.2147483646.0");
        let live = dir
            .path()
            .join(format!(".mcp_config.json.tmp.{}.9", std::process::id()));
        let other = dir.path().join("notes.txt");
        for f in [&dead, &live, &other] {
            fs::write(f, "{}").unwrap();
        }
        let removed = remove_stale_temp_files(&path);
        assert_eq!(removed, std::slice::from_ref(&dead));
        assert!(!dead.exists() && live.exists() && other.exists() && path.exists());
    }
}
