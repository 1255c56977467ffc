//! The OS keyring as mcpproxy's [`SecretStore`]: the Secret Service on Linux (GNOME Keyring,
//! KWallet, KeePassXC… over the session D-Bus), the Keychain on macOS and the Credential
//! Manager on Windows, through `keyring-core` and one store crate per platform.
//!
//! Every secret is an item of the service `mcpproxy` whose user is the secret's name — the
//! same items the Go MCPProxy reads and writes, so secrets stored by either are found by the
//! other. The Go proxy also keeps the list of its names in an item of its own
//! (`_mcpproxy_secret_registry`); it is kept up to date here too, and never listed.
//!
//! The keyring is reached lazily: a proxy started before the user's keyring (or without one)
//! still runs, and a `${keyring:…}` reference then fails with the reason. Every call runs on a
//! blocking thread with a time limit, since a locked keyring may wait for a person.
//!
//! The key agent tokens are hashed under lives here too ([`TokenKeyFile`]).
#![forbid(unsafe_code)]

mod token_key;
pub use token_key::TokenKeyFile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use keyring_core::api::CredentialStore;
use keyring_core::{Entry, Error};
use mcpproxy_application::ports::{SecretStore, SecretStoreError};
use mcpproxy_domain::secret::KEYRING_SERVICE;

/// The Go MCPProxy's item holding the names of its secrets, one a line.
const REGISTRY: &str = "_mcpproxy_secret_registry";

/// How long one keyring operation may take; a locked keyring waiting for a person to unlock
/// it would otherwise hold a connection attempt forever.
const LIMIT: Duration = Duration::from_secs(15);

/// Opens the platform's store.
fn open_native() -> Result<Arc<CredentialStore>, Error> {
    #[cfg(target_os = "linux")]
    {
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        Ok(store)
    }
    #[cfg(target_os = "macos")]
    {
        let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        Ok(store)
    }
    #[cfg(target_os = "windows")]
    {
        let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(store)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        Err(Error::NotSupportedByStore(
            "no OS keyring is supported on this platform".to_owned(),
        ))
    }
}

/// The name of the platform's keyring, for messages.
const NATIVE: &str = if cfg!(target_os = "macos") {
    "keychain"
} else if cfg!(target_os = "windows") {
    "credential-manager"
} else {
    "secret-service"
};

/// The OS keyring.
#[derive(Clone, Default)]
pub struct Keyring {
    /// The open store, once a call reached it.
    store: Arc<Slot>,
}

/// Where the open store is kept. Closing the Secret Service connection blocks on its own
/// runtime, which panics on a tokio worker ("Cannot start a runtime from within a runtime"):
/// the last owner dropped in async code (`secrets get` did) closes it on a plain thread.
#[derive(Default)]
struct Slot(Mutex<Option<Arc<CredentialStore>>>);

impl Drop for Slot {
    fn drop(&mut self) {
        let store = self
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(store) = store {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(store));
            } else {
                drop(store);
            }
        }
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("store", &NATIVE).finish()
    }
}

fn unavailable(e: &Error) -> SecretStoreError {
    let hint = if cfg!(target_os = "linux") {
        " (is a Secret Service such as gnome-keyring-daemon running and unlocked on the session bus? \
         ${env:NAME} references work without one)"
    } else {
        ""
    };
    SecretStoreError::Unavailable(format!("{e}{hint}"))
}

fn failed(e: &Error) -> SecretStoreError {
    match e {
        Error::NoStorageAccess(_) | Error::PlatformFailure(_) => unavailable(e),
        _ => SecretStoreError::Failed(e.to_string()),
    }
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }

    /// The open store, opening it on first use (and again after it failed).
    fn store(&self) -> Result<Arc<CredentialStore>, SecretStoreError> {
        let mut slot = self
            .store
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = open_native().map_err(|e| unavailable(&e))?;
        *slot = Some(store.clone());
        Ok(store)
    }

    /// Forgets the store after a platform failure, so the next call connects anew (the
    /// keyring daemon may have been restarted).
    fn reset(&self) {
        *self
            .store
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn entry(&self, name: &str) -> Result<Entry, SecretStoreError> {
        Entry::new_in_store(&self.store()?, KEYRING_SERVICE, name).map_err(|e| failed(&e))
    }

    /// Runs `op` on a blocking thread within [`LIMIT`]; a platform failure resets the store.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Keyring) -> Result<T, SecretStoreError> + Send + 'static,
    ) -> Result<T, SecretStoreError> {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let out = op(&this);
            if matches!(out, Err(SecretStoreError::Unavailable(_))) {
                this.reset();
            }
            out
        });
        match tokio::time::timeout(LIMIT, task).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => Err(SecretStoreError::Failed(format!(
                "the keyring call failed: {e}"
            ))),
            Err(_) => Err(SecretStoreError::Unavailable(format!(
                "the keyring did not answer within {LIMIT:?}; it may be locked and waiting to be unlocked"
            ))),
        }
    }

    fn read(&self, name: &str) -> Result<Option<String>, SecretStoreError> {
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoEntry) => Ok(None),
            // Two items for one name (written by different tools): any holds the value.
            Err(Error::Ambiguous(entries)) => entries
                .first()
                .map(Entry::get_password)
                .transpose()
                .map_err(|e| failed(&e)),
            Err(e) => Err(failed(&e)),
        }
    }

    fn write(&self, name: &str, value: &str) -> Result<(), SecretStoreError> {
        self.entry(name)?
            .set_password(value)
            .map_err(|e| failed(&e))
    }

    fn remove(&self, name: &str) -> Result<bool, SecretStoreError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(Error::Ambiguous(entries)) => {
                for e in &entries {
                    e.delete_credential().map_err(|e| failed(&e))?;
                }
                Ok(true)
            }
            Err(e) => Err(failed(&e)),
        }
    }

    /// The names the Go proxy's registry item lists.
    fn registry(&self) -> Result<Vec<String>, SecretStoreError> {
        Ok(self
            .read(REGISTRY)?
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Adds or removes `name` in the Go proxy's registry item. A failure here loses nothing
    /// of ours (the item only helps the Go proxy list), so it is logged, not returned.
    fn update_registry(&self, name: &str, present: bool) {
        let result = self.registry().and_then(|mut names| {
            let had = names.iter().any(|n| n == name);
            if had == present {
                return Ok(());
            }
            if present {
                names.push(name.to_owned());
            } else {
                names.retain(|n| n != name);
            }
            self.write(REGISTRY, &names.join("\n"))
        });
        if let Err(e) = result {
            tracing::debug!("cannot update the keyring's name registry: {e}");
        }
    }

    fn names(&self) -> Result<Vec<String>, SecretStoreError> {
        let spec = HashMap::from([("service", KEYRING_SERVICE)]);
        let found = Entry::search_in_store(&self.store()?, &spec).map_err(|e| failed(&e))?;
        let mut names: Vec<String> = found
            .iter()
            .filter_map(|e| {
                e.get_attributes()
                    .ok()
                    .and_then(|mut a| a.remove("username"))
                    .or_else(|| e.get_specifiers().map(|(_, user)| user))
            })
            .collect();
        // Stores that cannot search (or items the search misses) still show through the
        // registry, when they exist.
        for name in self.registry()? {
            if !names.contains(&name) && self.read(&name)?.is_some() {
                names.push(name);
            }
        }
        names.retain(|n| n != REGISTRY);
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[async_trait]
impl SecretStore for Keyring {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretStoreError> {
        let name = name.to_owned();
        self.blocking(move |k| k.read(&name)).await
    }

    async fn set(&self, name: &str, value: &str) -> Result<(), SecretStoreError> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.blocking(move |k| {
            k.write(&name, &value)?;
            k.update_registry(&name, true);
            Ok(())
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<bool, SecretStoreError> {
        let name = name.to_owned();
        self.blocking(move |k| {
            let removed = k.remove(&name)?;
            k.update_registry(&name, false);
            Ok(removed)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<String>, SecretStoreError> {
        self.blocking(Keyring::names).await
    }

    fn describe(&self) -> String {
        NATIVE.to_owned()
    }
}
