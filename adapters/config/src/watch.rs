//! Watching the config file so edits take effect without a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcpproxy_application::ports::EventPublisher;
use mcpproxy_domain::DomainEvent;
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::file::ConfigError;
use crate::store::FileConfigStore;

/// Editors write a file in bursts (truncate, write, rename); one reload per burst.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Reloads the config when its file changes, until dropped.
pub struct ConfigWatcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatcher").finish_non_exhaustive()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConfigWatcher {
    /// Starts watching `store`'s file. Valid edits go into force and are announced as
    /// `config.reloaded`; invalid ones are logged and the running config stays.
    ///
    /// The directory is watched rather than the file, because editors and our own atomic
    /// save replace the file with a new one, which a watch on the old file would miss.
    pub fn start(
        store: Arc<FileConfigStore>,
        events: Arc<dyn EventPublisher>,
    ) -> Result<Self, ConfigError> {
        let path = store.path().to_owned();
        let watch_err = |e: notify_debouncer_full::notify::Error| ConfigError::Read {
            path: path.clone(),
            reason: format!("cannot watch for changes: {e}"),
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => Path::new(".").to_owned(),
        };
        let file_name = path.file_name().map(ToOwned::to_owned);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let relevant = match result {
                Ok(events) => events.iter().any(|e| {
                    !matches!(e.kind, EventKind::Access(_))
                        && e.paths
                            .iter()
                            .any(|p| p.file_name() == file_name.as_deref())
                }),
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "config watcher");
                    }
                    false
                }
            };
            if relevant {
                let _ = tx.send(());
            }
        })
        .map_err(watch_err)?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(watch_err)?;

        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // A burst may have queued several signals; one reload covers them all.
                while rx.try_recv().is_ok() {}
                reload(&store, events.as_ref()).await;
            }
        });
        Ok(Self {
            _debouncer: debouncer,
            task,
        })
    }
}

async fn reload(store: &FileConfigStore, events: &dyn EventPublisher) {
    match store.reload().await {
        Ok(None) => {}
        Ok(Some((diff, notes))) => {
            for note in notes {
                tracing::warn!(path = %store.path().display(), "{note}");
            }
            if !diff.needs_restart.is_empty() {
                tracing::warn!(
                    keys = ?diff.needs_restart,
                    "config changed keys that take effect only after mcpproxy restarts"
                );
            }
            tracing::info!(
                added = ?names(&diff.added),
                removed = ?names(&diff.removed),
                updated = ?names(&diff.updated),
                "config reloaded"
            );
            events.publish(DomainEvent::ConfigReloaded {
                added: diff.added,
                removed: diff.removed,
                updated: diff.updated,
            });
        }
        Err(ConfigError::Missing { path }) => {
            tracing::warn!(path = %path.display(), "config file removed; keeping the running config");
        }
        Err(e) => {
            tracing::error!("config not reloaded, keeping the running config: {e}");
        }
    }
}

fn names(list: &[mcpproxy_domain::ServerName]) -> Vec<&str> {
    list.iter().map(|n| n.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_application::EventBus;
    use mcpproxy_application::ports::ConfigStore;
    use mcpproxy_domain::Config;
    use tokio::time::timeout;

    #[tokio::test]
    async fn edits_reload_and_broken_edits_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        let store = Arc::new(FileConfigStore::with_config(&path, Config::default()));
        store.save(Config::default()).await.unwrap();
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        let _watcher = ConfigWatcher::start(store.clone(), Arc::new(bus.clone())).unwrap();

        std::fs::write(&path, "{ \"mcpServers\": [ {").unwrap();
        // Then a valid edit: only it may produce an event.
        tokio::time::sleep(DEBOUNCE * 3).await;
        assert!(rx.try_recv().is_err(), "a broken edit must not reload");
        assert!(store.current().servers.is_empty());

        std::fs::write(
            &path,
            r#"{"mcpServers": [{"name": "everything", "command": "npx"}]}"#,
        )
        .unwrap();
        let event = timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no reload within 10 s")
            .unwrap();
        let DomainEvent::ConfigReloaded { added, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(added[0].as_str(), "everything");
        assert_eq!(store.current().servers.len(), 1);
    }

    #[tokio::test]
    async fn our_own_saves_do_not_announce_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp_config.json");
        let store = Arc::new(FileConfigStore::with_config(&path, Config::default()));
        store.save(Config::default()).await.unwrap();
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        let _watcher = ConfigWatcher::start(store.clone(), Arc::new(bus.clone())).unwrap();
        let next = Config {
            tools_limit: 20,
            ..Config::default()
        };
        store.save(next).await.unwrap();
        tokio::time::sleep(DEBOUNCE * 3).await;
        assert!(rx.try_recv().is_err());
        assert_eq!(store.current().tools_limit, 20);
    }
}
