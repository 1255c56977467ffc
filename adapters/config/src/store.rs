//! The config in force, backed by the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use mcpproxy_application::ports::{ConfigAdmission, ConfigStore, ConfigStoreError};
use mcpproxy_domain::config::ConfigDiff;
use mcpproxy_domain::{Config, ServerName};
use tokio::sync::Mutex;

use crate::file::{self, ConfigError};

/// Values set for this process only (command-line flags, environment) that win over the
/// file but must never be written into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOverrides {
    pub listen: Option<String>,
    pub api_key: Option<String>,
    pub read_only_mode: Option<bool>,
    pub disable_management: Option<bool>,
    pub require_mcp_auth: Option<bool>,
    /// `MCPPROXY_TRUSTED_HOSTS`
    pub trusted_hosts: Option<Vec<String>>,
}

impl ProcessOverrides {
    fn apply(&self, config: &mut Config) {
        if let Some(v) = &self.listen {
            config.listen.clone_from(v);
        }
        if let Some(v) = &self.api_key {
            config.api_key.clone_from(v);
        }
        if let Some(v) = self.read_only_mode {
            config.read_only_mode = v;
        }
        if let Some(v) = self.disable_management {
            config.disable_management = v;
        }
        if let Some(v) = self.require_mcp_auth {
            config.require_mcp_auth = v;
        }
        if let Some(v) = &self.trusted_hosts {
            config.trusted_hosts.clone_from(v);
        }
    }

    /// Puts back, for each overridden key, the value the file holds.
    fn restore(&self, config: &mut Config, file: &Config) {
        if self.listen.is_some() {
            config.listen.clone_from(&file.listen);
        }
        if self.api_key.is_some() {
            config.api_key.clone_from(&file.api_key);
        }
        if self.read_only_mode.is_some() {
            config.read_only_mode = file.read_only_mode;
        }
        if self.disable_management.is_some() {
            config.disable_management = file.disable_management;
        }
        if self.require_mcp_auth.is_some() {
            config.require_mcp_auth = file.require_mcp_auth;
        }
        if self.trusted_hosts.is_some() {
            config.trusted_hosts.clone_from(&file.trusted_hosts);
        }
    }
}

/// The config file, and the version in force: the file's content with the process overrides
/// applied.
pub struct FileConfigStore {
    path: PathBuf,
    overrides: ProcessOverrides,
    /// What the file holds.
    file: RwLock<Arc<Config>>,
    /// What is in force.
    current: RwLock<Arc<Config>>,
    /// Keeps "write the file" and "put it in force" together when saves race.
    write: Mutex<()>,
    /// The config-load admission gate, asked about each config read from the file.
    admission: Option<Arc<dyn ConfigAdmission>>,
}

impl std::fmt::Debug for FileConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfigStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    // A poisoned lock only means a panic elsewhere while swapping an Arc; the value inside
    // is still whole.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn replace<T>(lock: &RwLock<T>, value: T) {
    *lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
}

impl FileConfigStore {
    /// Loads the file; returns the store and what `normalize` repaired.
    pub fn open(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let (config, notes) = file::load(path)?;
        Ok((Self::with_config(path, config), notes))
    }

    /// A store whose file holds `config` (it is not written here).
    pub fn with_config(path: &Path, config: Config) -> Self {
        Self {
            path: path.to_owned(),
            overrides: ProcessOverrides::default(),
            current: RwLock::new(Arc::new(config.clone())),
            file: RwLock::new(Arc::new(config)),
            write: Mutex::new(()),
            admission: None,
        }
    }

    /// Asks `admission` about every config read from the file from now on (hot reloads, and
    /// [`Self::admit`] at start).
    pub fn with_admission(mut self, admission: Arc<dyn ConfigAdmission>) -> Self {
        self.admission = Some(admission);
        self
    }

    async fn admitted(&self, config: Config) -> (Config, Vec<ServerName>) {
        match &self.admission {
            Some(gate) => gate.admit(config).await,
            None => (config, Vec::new()),
        }
    }

    /// Saves the file. Holding a server for review is written into the file as
    /// `"quarantined": true`, the way `POST /servers/{id}/quarantine` records it: the file is
    /// where quarantine lives, so the decision survives restarts (by then the server is known
    /// and the gate would no longer hold it) and the user sees it where they wrote the server.
    async fn save_file(&self, config: &Config) -> Result<(), ConfigError> {
        let path = self.path.clone();
        let to_write = config.clone();
        tokio::task::spawn_blocking(move || file::save(&path, &to_write))
            .await
            .map_err(|e| ConfigError::Write {
                path: self.path.clone(),
                reason: e.to_string(),
            })?
    }

    /// Runs the admission gate over what the file holds (at start, before any server starts);
    /// returns the servers it held, already saved and in force.
    pub async fn admit(&self) -> Result<Vec<ServerName>, ConfigError> {
        let _guard = self.write.lock().await;
        let (config, held) = self.admitted((*read(&self.file)).clone()).await;
        if !held.is_empty() {
            self.save_file(&config).await?;
            self.set(Arc::new(config));
        }
        Ok(held)
    }

    /// Applies `overrides` to the config in force from now on.
    pub fn with_overrides(mut self, overrides: ProcessOverrides) -> Self {
        self.overrides = overrides;
        let file = read(&self.file);
        self.set(file);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds, without the process overrides.
    pub fn file_config(&self) -> Arc<Config> {
        read(&self.file)
    }

    fn set(&self, file: Arc<Config>) {
        let mut current = (*file).clone();
        self.overrides.apply(&mut current);
        replace(&self.file, file);
        replace(&self.current, Arc::new(current));
    }

    /// Writes `config` (minus the process overrides, which stay out of the file) and puts it
    /// in force.
    pub async fn write(&self, mut config: Config) -> Result<(), ConfigError> {
        let _guard = self.write.lock().await;
        let on_disk = read(&self.file);
        self.overrides.restore(&mut config, &on_disk);
        self.save_file(&config).await?;
        self.set(Arc::new(config));
        Ok(())
    }

    /// Reads the file again. When it parses, validates and differs from the config in force,
    /// it goes into force and the difference is returned; `Ok(None)` means nothing changed
    /// (our own saves land here). On error the config in force stays.
    pub async fn reload(&self) -> Result<Option<(ConfigDiff, Vec<String>)>, ConfigError> {
        let _guard = self.write.lock().await;
        let path = self.path.clone();
        let (config, notes) = tokio::task::spawn_blocking(move || file::load(&path))
            .await
            .map_err(|e| ConfigError::Read {
                path: self.path.clone(),
                reason: e.to_string(),
            })??;
        let (config, held) = self.admitted(config).await;
        if *read(&self.file) == config {
            return Ok(None);
        }
        if !held.is_empty() {
            self.save_file(&config).await?;
        }
        let old = self.current();
        self.set(Arc::new(config));
        let diff = ConfigDiff::between(&old, &self.current());
        Ok(Some((diff, notes)))
    }
}

#[async_trait]
impl ConfigStore for FileConfigStore {
    fn current(&self) -> Arc<Config> {
        read(&self.current)
    }

    async fn save(&self, config: Config) -> Result<(), ConfigStoreError> {
        self.write(config).await.map_err(|e| match e {
            ConfigError::Invalid { errors, .. } => ConfigStoreError::Invalid(errors),
            other => ConfigStoreError::Write {
                path: self.path.display().to_string(),
                reason: other.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_domain::{ServerConfig, ServerName};

    fn server(name: &str, command: &str) -> ServerConfig {
        let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
        s.command = command.into();
        s
    }

    #[tokio::test]
    async fn save_puts_in_force_and_reload_sees_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        let store = FileConfigStore::with_config(&path, Config::default());
        let next = Config {
            servers: vec![server("a", "x")],
            ..Config::default()
        };
        store.save(next.clone()).await.unwrap();
        assert_eq!(*store.current(), next);
        assert_eq!(store.reload().await.unwrap(), None);
    }

    #[tokio::test]
    async fn reload_keeps_the_running_config_when_the_file_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        let store = FileConfigStore::with_config(&path, Config::default());
        store.save(Config::default()).await.unwrap();
        std::fs::write(&path, "{ broken").unwrap();
        let err = store.reload().await.unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
        assert_eq!(*store.current(), Config::default());

        std::fs::write(&path, r#"{"mcpServers": [{"name": "n", "command": "x"}]}"#).unwrap();
        let (diff, _) = store.reload().await.unwrap().unwrap();
        assert_eq!(diff.added.len(), 1);
        assert_eq!(store.current().servers.len(), 1);
    }

    #[tokio::test]
    async fn process_overrides_are_in_force_but_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        let file = Config {
            api_key: "from-file".into(),
            ..Config::default()
        };
        let store = FileConfigStore::with_config(&path, file).with_overrides(ProcessOverrides {
            api_key: Some("from-env".into()),
            require_mcp_auth: Some(true),
            ..Default::default()
        });
        assert_eq!(store.current().api_key, "from-env");
        assert!(store.current().require_mcp_auth);
        let mut next = (*store.current()).clone();
        next.tools_limit = 30;
        store.save(next).await.unwrap();
        let (on_disk, _) = file::load(&path).unwrap();
        assert_eq!(on_disk.api_key, "from-file");
        assert!(!on_disk.require_mcp_auth);
        assert_eq!(on_disk.tools_limit, 30);
        assert_eq!(store.current().api_key, "from-env");
        assert_eq!(store.current().tools_limit, 30);
    }

    #[tokio::test]
    async fn invalid_configs_are_refused_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileConfigStore::with_config(&dir.path().join("c.json"), Config::default());
        let bad = Config {
            tools_limit: 5000,
            ..Config::default()
        };
        let err = store.save(bad).await.unwrap_err();
        let ConfigStoreError::Invalid(errors) = err else {
            panic!("{err:?}")
        };
        assert_eq!(errors[0].field, "tools_limit");
        assert_eq!(*store.current(), Config::default());
    }
}
