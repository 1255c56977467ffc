//! The secrets of imported servers. The domain's one rule ([`server_candidates`]) finds the
//! env values and headers that look like secrets; with `to_keyring` each goes into the OS
//! keyring before the server is added, so the config only ever holds `${keyring:NAME}`.
//! Without it, or when no keyring answers, the values are imported as they are and the
//! report says which they are and the command that moves them.

use mcpproxy_domain::ServerConfig;
use mcpproxy_domain::plaintext::{Candidate, ValueScope, server_candidates};
use mcpproxy_domain::secret::{check_name, keyring_reference};
use serde::Serialize;

use crate::ports::{ImportSource, SecretStore, SecretStoreError};

/// A value of an imported server that looks like a secret, and where it is kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedSecret {
    #[serde(flatten)]
    pub candidate: Candidate,
    /// The keyring holds the value and the imported entry `reference` (in a dry run: would).
    pub in_keyring: bool,
    /// The keyring name it is (or would be) stored under: `suggested_name`, or with a
    /// `_2`, `_3`… when the keyring holds another value under that name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// `${keyring:<secret_name>}`, as the imported entry holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What became of the imported servers' secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyringOffer {
    /// Whether the import was asked to store them in the keyring (`--to-keyring`,
    /// `to_keyring: true`).
    pub requested: bool,
    /// Whether the keyring could take them (absent when it was not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// Why it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Values stored in the keyring (in a dry run: that would be).
    pub stored: usize,
    /// Values left in plain text in the config.
    pub plaintext: usize,
    /// The command that moves the plaintext ones into the keyring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// The secrets of one import, server by server.
pub(super) struct Keeper<'a> {
    store: &'a dyn SecretStore,
    requested: bool,
    dry_run: bool,
    /// Asked once, at the first secret: `Err` says why the keyring cannot be used.
    usable: Option<Result<(), String>>,
    found: Vec<ImportedSecret>,
}

/// Keyring names created for one server, deleted again if the server is not added.
#[derive(Debug, Default)]
pub(super) struct Created(Vec<String>);

impl<'a> Keeper<'a> {
    pub(super) fn new(store: &'a dyn SecretStore, requested: bool, dry_run: bool) -> Self {
        Self {
            store,
            requested,
            dry_run,
            usable: None,
            found: Vec::new(),
        }
    }

    async fn usable(&mut self) -> bool {
        if self.usable.is_none() {
            // Listing is the cheapest question that needs a working, unlocked keyring.
            self.usable = Some(self.store.list().await.map(drop).map_err(|e| e.to_string()));
        }
        matches!(self.usable, Some(Ok(())))
    }

    /// A keyring name for `value`: the suggested one, or the first `_<n>` form that is free
    /// or already holds this very value (a re-import reuses it).
    async fn name_for(&self, suggested: &str, value: &str) -> Result<(String, bool), String> {
        for n in 1..=99 {
            let name = if n == 1 {
                suggested.to_owned()
            } else {
                format!("{suggested}_{n}")
            };
            check_name(&name).map_err(|e| e.to_string())?;
            match self.store.get(&name).await.map_err(|e| e.to_string())? {
                None => return Ok((name, false)),
                Some(held) if held == value => return Ok((name, true)),
                Some(_) => {}
            }
        }
        Err(format!(
            "the keyring holds other values under {suggested} and {suggested}_2…_99"
        ))
    }

    /// Finds the secrets of `config` (the `index`-th server of the config once added) and,
    /// when asked and the keyring works, stores each and puts its reference in `config`.
    /// A value the keyring refuses stays in plain text, with a warning.
    pub(super) async fn take(
        &mut self,
        index: usize,
        config: &mut ServerConfig,
        warnings: &mut Vec<String>,
    ) -> Created {
        let mut created = Created::default();
        for candidate in server_candidates(index, config) {
            let map = match candidate.scope {
                ValueScope::Env => &mut config.env,
                ValueScope::Header => &mut config.headers,
            };
            let mut entry = ImportedSecret {
                candidate,
                in_keyring: false,
                secret_name: None,
                reference: None,
            };
            if self.requested && self.usable().await {
                let key = &entry.candidate.key;
                let value = map.get(key).cloned().unwrap_or_default();
                match self.store_value(&entry.candidate, &value).await {
                    Ok((name, new)) => {
                        if new {
                            created.0.push(name.clone());
                        }
                        let reference = keyring_reference(&name);
                        map.insert(key.clone(), reference.clone());
                        entry.in_keyring = true;
                        entry.secret_name = Some(name);
                        entry.reference = Some(reference);
                    }
                    Err(e) => warnings.push(format!(
                        "{} {key} of {} stays in plain text: {e}",
                        entry.candidate.scope.as_str(),
                        entry.candidate.server
                    )),
                }
            }
            self.found.push(entry);
        }
        created
    }

    /// Stores `value` (not in a dry run); the name, and whether it is new to the keyring.
    async fn store_value(&self, c: &Candidate, value: &str) -> Result<(String, bool), String> {
        let (name, held) = self.name_for(&c.suggested_name, value).await?;
        if !held && !self.dry_run {
            self.store
                .set(&name, value)
                .await
                .map_err(|e: SecretStoreError| e.to_string())?;
        }
        Ok((name, !held))
    }

    /// The server was not added after all: forget its secrets and delete the keyring
    /// entries made for it.
    pub(super) async fn undo(&mut self, server: &str, created: Created) {
        self.found.retain(|s| s.candidate.server != server);
        if self.dry_run {
            return;
        }
        for name in created.0 {
            if let Err(e) = self.store.delete(&name).await {
                tracing::warn!(secret = name, "cannot delete an unused keyring entry: {e}");
            }
        }
    }

    /// The secrets found, what became of them, and a warning for those left in plain text.
    pub(super) fn finish(
        self,
        source: &ImportSource,
        warnings: &mut Vec<String>,
    ) -> (Vec<ImportedSecret>, KeyringOffer) {
        let stored = self.found.iter().filter(|s| s.in_keyring).count();
        let plain: Vec<String> = self
            .found
            .iter()
            .filter(|s| !s.in_keyring)
            .map(|s| {
                let c = &s.candidate;
                format!("{}.{} {}", c.server, c.scope.field(), c.key)
            })
            .collect();
        let mut offer = KeyringOffer {
            requested: self.requested,
            available: self.usable.as_ref().map(Result::is_ok),
            error: self.usable.and_then(Result::err),
            stored,
            plaintext: plain.len(),
            command: None,
        };
        if plain.is_empty() {
            return (self.found, offer);
        }
        // A dry run is repeated with the option; what an import left is moved by `migrate`,
        // which asks the same rule of the whole config.
        let command = match (self.dry_run, source) {
            (true, ImportSource::Path(path)) => Some(format!(
                "mcpproxy upstream import {} --to-keyring",
                shell_word(&path.display().to_string())
            )),
            (true, ImportSource::Content { .. }) => None,
            (false, _) => Some("mcpproxy secrets migrate".to_owned()),
        };
        let (are, will) = if self.dry_run {
            ("would be", "would stay")
        } else {
            ("were", "stay")
        };
        let why = match &offer.error {
            Some(e) => format!("{e}, so they {are} imported unchanged and {will}"),
            None => format!("they {will}"),
        };
        let how = match &command {
            Some(c) if self.dry_run => format!("`{c}` stores them in the OS keyring instead"),
            Some(c) => format!("`{c}` moves them into the OS keyring"),
            None => {
                "import with to_keyring: true to store them in the OS keyring instead".to_owned()
            }
        };
        warnings.push(format!(
            "{} value(s) of the imported servers look like secrets ({}): {why} in plain text in mcp_config.json; {how}",
            plain.len(),
            plain.join(", "),
        ));
        offer.command = command;
        (self.found, offer)
    }
}

/// `word`, quoted for a POSIX shell when it needs to be.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
