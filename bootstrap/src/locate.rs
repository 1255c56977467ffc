//! Where this run's files are: the config file, the data directory and the log directory,
//! from the flags, the environment and the config, in that order. Shared by `serve` and the
//! commands that talk to it, so both agree on which proxy they mean.

use std::path::{Path, PathBuf};

use mcpproxy_config::{ConfigError, EnvOverrides, resolve_secrets};
use mcpproxy_domain::Config;
use mcpproxy_domain::tls::{DEFAULT_CERTS_SUBDIR, TlsConfig};

use crate::cli::Cli;
use crate::exit::{Exit, Failure};
use crate::paths::{self, expand_home};

/// The files of one proxy, and its config as the file says (nothing written yet).
#[derive(Debug)]
pub struct Located {
    pub home: PathBuf,
    pub env: EnvOverrides,
    pub config_path: PathBuf,
    /// The config file's content, or the defaults when there is no file.
    pub config: Config,
    /// What loading repaired, to be logged.
    pub notes: Vec<String>,
    /// Whether the file does not exist yet.
    pub missing: bool,
    pub data_dir: PathBuf,
}

impl Located {
    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join("mcpproxy.sock")
    }

    /// The listen address in force: `MCPPROXY_LISTEN`, else the config's.
    pub fn listen(&self) -> String {
        self.env
            .listen
            .clone()
            .unwrap_or_else(|| self.config.listen.clone())
    }

    /// The API key in force: `MCPPROXY_API_KEY`, else the config's.
    pub fn api_key(&self) -> &str {
        self.env.api_key.as_deref().unwrap_or(&self.config.api_key)
    }

    /// The `tls` settings in force: the config's, with `MCPPROXY_TLS_*` on top.
    pub fn tls(&self) -> TlsConfig {
        self.env.tls(&self.config)
    }

    /// Where the local CA and the server certificate live: `tls.certs_dir`
    /// (`MCPPROXY_CERTS_DIR`), else `<data_dir>/certs`.
    pub fn certs_dir(&self) -> PathBuf {
        match self.tls().certs_dir.trim() {
            "" => self.data_dir.join(DEFAULT_CERTS_SUBDIR),
            dir => expand_home(dir, &self.home),
        }
    }

    /// The directory of `main.log` and the server logs.
    pub fn log_dir(&self, cli: &Cli) -> PathBuf {
        self.log_dir_with(cli.log_dir.as_deref())
    }

    /// The log directory, `flag` first.
    pub fn log_dir_with(&self, flag: Option<&Path>) -> PathBuf {
        match (flag, self.config.logging.log_dir.as_str()) {
            (Some(d), _) => d.to_owned(),
            (None, "") => mcpproxy_logs::default_log_dir(
                &self.home,
                std::env::var("XDG_STATE_HOME").ok().as_deref(),
            ),
            (None, configured) => expand_home(configured, &self.home),
        }
    }
}

/// Reads the flags, the environment and the config file (absent is fine: the defaults).
pub fn locate(cli: &Cli) -> Result<Located, Failure> {
    locate_with(cli.config.as_deref(), cli.data_dir.as_deref())
}

/// [`locate`] for the `--config` and `--data-dir` flags of any command line (the tray's too).
pub fn locate_with(config: Option<&Path>, data_dir: Option<&Path>) -> Result<Located, Failure> {
    let env = EnvOverrides::from_env();
    let home = paths::home()?;
    let default_dir = data_dir
        .map(Path::to_owned)
        .or_else(|| env.data_dir.clone())
        .unwrap_or_else(|| home.join(".mcpproxy"));
    let config_path = config
        .map(Path::to_owned)
        .unwrap_or_else(|| default_dir.join("mcp_config.json"));
    let (config, notes, missing) = match mcpproxy_config::load(&config_path) {
        Ok((config, notes)) => (config, notes, false),
        Err(ConfigError::Missing { .. }) => (Config::default(), Vec::new(), true),
        Err(e) => return Err(Failure::new(Exit::Config, e.to_string())),
    };
    let data_dir = match (data_dir, &env.data_dir, config.data_dir.as_str()) {
        (Some(d), _, _) => d.to_owned(),
        (None, Some(d), _) => d.clone(),
        (None, None, "") => default_dir,
        (None, None, configured) => {
            let resolved = resolve_secrets(configured).map_err(|e| {
                Failure::new(
                    Exit::Config,
                    format!("{}: data_dir: {e}", config_path.display()),
                )
            })?;
            expand_home(&resolved, &home)
        }
    };
    Ok(Located {
        home,
        env,
        config_path,
        config,
        notes,
        missing,
        data_dir,
    })
}

/// Creates the directory of `config_path` (mode 0700) when it is missing.
pub fn ensure_config_dir(config_path: &Path) -> Result<(), Failure> {
    match config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => paths::ensure_private_dir(dir),
        _ => Ok(()),
    }
}
