//! What a stdio upstream runs with: its environment and the program file.
//!
//! A child gets only an allow-list of the proxy's variables (so tokens in the proxy's
//! environment do not leak to every server), plus `environment.custom_vars`, plus its own
//! `env` — in that order, later ones winning — with `${env:NAME}` and `${keyring:NAME}`
//! references expanded.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mcpproxy_domain::config::EnvironmentConfig;
use mcpproxy_domain::secret::{self, SecretError, SecretSource};

/// What references resolve from: the proxy's environment, and the keyring secrets the
/// connection needs, read before it starts (`Err` says why the keyring could not be read).
pub struct Resolver<'a> {
    pub env: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
    pub keyring: &'a HashMap<String, Result<Option<String>, String>>,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values.
        f.debug_struct("Resolver")
            .field("keyring", &self.keyring.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Resolver<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }
}

/// Directories where people install tools, added to `PATH` when `enhance_path` is on
/// (for a proxy started by a service manager with a minimal `PATH`).
fn extra_path_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
        "/opt/homebrew/bin",
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(home) = home {
        for d in [
            ".local/bin",
            ".npm-global/bin",
            ".npm/bin",
            ".yarn/bin",
            ".bun/bin",
            ".volta/bin",
            ".cargo/bin",
            "go/bin",
            ".deno/bin",
        ] {
            dirs.push(home.join(d));
        }
    }
    dirs
}

/// Why a stdio server cannot be started. The message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("{key}: {source_error}")]
    Secret { key: String, source_error: String },
    #[error("command {command:?} was not found on PATH ({path}); install it or give its full path")]
    NotFound { command: String, path: String },
    #[error("{0} is not an executable file")]
    NotExecutable(PathBuf),
    #[error("working_dir {0} does not exist or is not a directory")]
    WorkingDir(PathBuf),
}

/// Expands the references in `value`; `key` names the config key in errors.
pub fn expand(key: &str, value: &str, r: &Resolver<'_>) -> Result<String, LaunchError> {
    let fail = |e: SecretError| LaunchError::Secret {
        key: key.to_owned(),
        source_error: e.to_string(),
    };
    for (source, name) in secret::references(value) {
        if let (SecretSource::Keyring, Some(Err(reason))) = (source, r.keyring.get(name)) {
            return Err(fail(SecretError::Unavailable {
                name: name.to_owned(),
                reason: reason.clone(),
            }));
        }
    }
    secret::expand(value, |source, name| match source {
        SecretSource::Env => r.var(name),
        SecretSource::Keyring => r.keyring.get(name).cloned().and_then(Result::ok).flatten(),
    })
    .map_err(fail)
}

/// The child's environment.
pub fn child_env(
    global: &EnvironmentConfig,
    server_env: &BTreeMap<String, String>,
    r: &Resolver<'_>,
) -> Result<BTreeMap<String, String>, LaunchError> {
    let mut env = BTreeMap::new();
    if global.inherit_system_safe {
        for name in &global.allowed_system_vars {
            if let Some(value) = r.var(name) {
                env.insert(name.clone(), value);
            }
        }
    }
    for (k, v) in &global.custom_vars {
        env.insert(
            k.clone(),
            expand(&format!("environment.custom_vars.{k}"), v, r)?,
        );
    }
    for (k, v) in server_env {
        env.insert(k.clone(), expand(&format!("env.{k}"), v, r)?);
    }
    if global.enhance_path {
        let home = env.get("HOME").map(PathBuf::from);
        let mut parts: Vec<PathBuf> = env
            .get("PATH")
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        for dir in extra_path_dirs(home.as_deref()) {
            if dir.is_dir() && !parts.contains(&dir) {
                parts.push(dir);
            }
        }
        if let Ok(joined) = std::env::join_paths(parts) {
            env.insert("PATH".to_owned(), joined.to_string_lossy().into_owned());
        }
    }
    Ok(env)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program to run: a path as given (relative to `working_dir`), or the first match on
/// the child's `PATH`.
pub fn find_program(
    command: &str,
    path_var: Option<&str>,
    working_dir: Option<&Path>,
) -> Result<PathBuf, LaunchError> {
    if command.contains('/') {
        let p = match working_dir {
            Some(dir) if Path::new(command).is_relative() => dir.join(command),
            _ => PathBuf::from(command),
        };
        return if is_executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(LaunchError::NotExecutable(p))
        } else {
            Err(LaunchError::NotFound {
                command: command.to_owned(),
                path: p.display().to_string(),
            })
        };
    }
    let path_var = path_var.unwrap_or_default();
    std::env::split_paths(path_var)
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| LaunchError::NotFound {
            command: command.to_owned(),
            path: path_var.to_owned(),
        })
}

/// Checks `working_dir`.
pub fn check_working_dir(dir: &Path) -> Result<(), LaunchError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(LaunchError::WorkingDir(dir.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "PATH" => Some("/usr/bin:/bin".into()),
            "HOME" => Some("/home/u".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("leak".into()),
            "GH_TOKEN" => Some("ghp_x".into()),
            _ => None,
        }
    }

    fn resolver<'a>(keyring: &'a HashMap<String, Result<Option<String>, String>>) -> Resolver<'a> {
        Resolver {
            env: &lookup,
            keyring,
        }
    }

    #[test]
    fn keyring_references_resolve_from_what_was_read() {
        let keyring = HashMap::from([
            ("gh".to_owned(), Ok(Some("ghp_x".to_owned()))),
            ("gone".to_owned(), Ok(None)),
            ("locked".to_owned(), Err("the keyring is locked".to_owned())),
        ]);
        let r = resolver(&keyring);
        assert_eq!(
            expand("env.T", "Bearer ${keyring:gh}", &r).unwrap(),
            "Bearer ghp_x"
        );
        let missing = expand("env.T", "${keyring:gone}", &r)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("mcpproxy secrets set gone") && missing.starts_with("env.T: "),
            "{missing}"
        );
        let locked = expand("env.T", "${keyring:locked}", &r)
            .unwrap_err()
            .to_string();
        assert!(locked.contains("the keyring is locked"), "{locked}");
    }

    #[test]
    fn only_allowed_variables_are_inherited_and_later_layers_win() {
        let global = EnvironmentConfig {
            custom_vars: [("LANG".into(), "C".into()), ("TEAM".into(), "a".into())].into(),
            ..EnvironmentConfig::default()
        };
        let server = [
            ("TEAM".to_owned(), "b".to_owned()),
            ("GITHUB_TOKEN".to_owned(), "${env:GH_TOKEN}".to_owned()),
        ]
        .into();
        let env = child_env(&global, &server, &resolver(&HashMap::new())).unwrap();
        assert_eq!(env.get("PATH").map(String::as_str), Some("/usr/bin:/bin"));
        assert_eq!(env.get("HOME").map(String::as_str), Some("/home/u"));
        assert!(
            !env.contains_key("AWS_SECRET_ACCESS_KEY"),
            "not on the allow-list"
        );
        assert_eq!(env["TEAM"], "b");
        assert_eq!(env["LANG"], "C");
        assert_eq!(env["GITHUB_TOKEN"], "ghp_x");
    }

    #[test]
    fn missing_references_name_the_key() {
        let server = [("TOKEN".to_owned(), "${env:NOPE}".to_owned())].into();
        let none = HashMap::new();
        let err = child_env(&EnvironmentConfig::default(), &server, &resolver(&none)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("env.TOKEN: ${env:NOPE} is not set"),
            "{msg}"
        );
    }

    #[test]
    fn inheritance_can_be_turned_off() {
        let global = EnvironmentConfig {
            inherit_system_safe: false,
            ..EnvironmentConfig::default()
        };
        assert!(
            child_env(&global, &BTreeMap::new(), &resolver(&HashMap::new()))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn programs_are_found_on_the_childs_path() {
        let sh = find_program("sh", Some("/nonexistent:/bin:/usr/bin"), None).unwrap();
        assert!(sh.ends_with("sh"));
        let err = find_program("npx-surely-missing", Some("/bin"), None).unwrap_err();
        assert!(
            err.to_string().contains("not found on PATH (/bin)"),
            "{err}"
        );
        let plain = tempfile::NamedTempFile::new().unwrap();
        let plain = plain.path().display().to_string();
        assert!(matches!(
            find_program(&plain, None, None),
            Err(LaunchError::NotExecutable(_))
        ));
        assert!(find_program("./x", None, Some(Path::new("/nonexistent"))).is_err());
    }

    #[test]
    fn working_dir_must_exist() {
        assert!(check_working_dir(Path::new("/tmp")).is_ok());
        assert!(check_working_dir(Path::new("/nonexistent/dir")).is_err());
    }
}
