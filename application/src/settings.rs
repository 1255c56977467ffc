//! The settings in force: the config document turned into [`Settings`] once per change.
//!
//! The config store hands out the same `Arc<Config>` until the config changes, so the
//! settings built from it are kept beside it and rebuilt only when another document comes:
//! reading them costs two atomic loads and a pointer comparison.

use std::sync::Arc;

use arc_swap::ArcSwap;
use mcpproxy_domain::{Config, Settings};

use crate::ports::ConfigStore;

/// The document and the settings built from it.
type Built = (Arc<Config>, Arc<Settings>);

pub struct LiveSettings {
    store: Arc<dyn ConfigStore>,
    built: ArcSwap<Built>,
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSettings").finish_non_exhaustive()
    }
}

impl LiveSettings {
    pub fn new(store: Arc<dyn ConfigStore>) -> Self {
        let config = store.current();
        let settings = Arc::new(Settings::from_config(&config));
        Self {
            store,
            built: ArcSwap::from_pointee((config, settings)),
        }
    }

    /// The settings of the config in force.
    pub fn current(&self) -> Arc<Settings> {
        let config = self.store.current();
        let built = self.built.load();
        if Arc::ptr_eq(&built.0, &config) {
            return built.1.clone();
        }
        let settings = Arc::new(Settings::from_config(&config));
        self.built.store(Arc::new((config, settings.clone())));
        settings
    }

    /// The config document in force (for what only the document has: saving, showing it).
    pub fn document(&self) -> Arc<Config> {
        self.store.current()
    }

    pub fn store(&self) -> &Arc<dyn ConfigStore> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Mem;

    #[tokio::test]
    async fn settings_are_built_once_per_change() {
        let mem = Arc::new(Mem::default());
        let live = LiveSettings::new(mem.clone());
        let first = live.current();
        assert!(
            Arc::ptr_eq(&first, &live.current()),
            "same config, same settings"
        );
        let mut next = (*live.document()).clone();
        next.read_only_mode = true;
        mem.save(next).await.unwrap();
        let second = live.current();
        assert!(second.gates.read_only);
        assert!(Arc::ptr_eq(&second, &live.current()));
    }
}
