//! The key agent tokens are hashed under: 32 random bytes in `<data dir>/.token_key` (0600),
//! made on first use. Only HMAC-SHA256(key, token) reaches the database, so a copy of the
//! database alone cannot be used to check guesses against the stored hashes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use mcpproxy_application::ports::{StorageError, TokenKeys};
use mcpproxy_domain::token::{PREFIX, SECRET_HEX_LEN};
use rand::RngCore;
use sha2::Sha256;

const KEY_LEN: usize = 32;

/// [`TokenKeys`] with the key in a file of the data directory.
#[derive(Debug)]
pub struct TokenKeyFile {
    path: PathBuf,
    key: OnceLock<Vec<u8>>,
}

fn err(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> StorageError {
    StorageError(format!(
        "cannot {what} the token key {}: {e}",
        path.display()
    ))
}

impl TokenKeyFile {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            path: data_dir.into().join(".token_key"),
            key: OnceLock::new(),
        }
    }

    /// Reads the key, or writes a new one when there is none. Two processes racing to make
    /// it both end with the one that won: the file is created exclusively.
    fn key(&self) -> Result<&[u8], StorageError> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let key = match std::fs::read(&self.path) {
            Ok(bytes) => parse(&bytes).ok_or_else(|| {
                err(
                    "use",
                    &self.path,
                    "it is not 64 hex characters; delete it to make a new one (every agent token then stops working)",
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.create()?,
            Err(e) => return Err(err("read", &self.path, e)),
        };
        Ok(self.key.get_or_init(|| key))
    }

    fn create(&self) -> Result<Vec<u8>, StorageError> {
        let mut key = vec![0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&self.path) {
            Ok(mut file) => {
                file.write_all(hex::encode(&key).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err("write", &self.path, e))?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(&self.path).map_err(|e| err("read", &self.path, e))?;
                parse(&bytes).ok_or_else(|| err("use", &self.path, "it is being written"))
            }
            Err(e) => Err(err("create", &self.path, e)),
        }
    }
}

fn parse(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    hex::decode(text).ok().filter(|k| k.len() == KEY_LEN)
}

impl TokenKeys for TokenKeyFile {
    fn generate(&self) -> Result<String, StorageError> {
        let mut secret = [0u8; SECRET_HEX_LEN / 2];
        rand::rng().fill_bytes(&mut secret);
        Ok(format!("{PREFIX}{}", hex::encode(secret)))
    }

    fn hash(&self, token: &str) -> Result<String, StorageError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key()?).map_err(|e| err("use", &self.path, e))?;
        mac.update(token.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeyFile::new(dir.path());
        let token = keys.generate().unwrap();
        assert!(mcpproxy_domain::token::is_agent_token(&token));
        assert_ne!(token, keys.generate().unwrap());
        let h = keys.hash(&token).unwrap();
        assert_eq!(h.len(), 64);
        assert_ne!(h, keys.hash("mcp_agt_other").unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(".token_key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another process (a new instance) reads the same key.
        assert_eq!(TokenKeyFile::new(dir.path()).hash(&token).unwrap(), h);
        // Another key, another hash: the database alone does not verify tokens.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(TokenKeyFile::new(other.path()).hash(&token).unwrap(), h);
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_damaged_key_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".token_key"), "nope").unwrap();
        let e = TokenKeyFile::new(dir.path()).hash("x").unwrap_err();
        assert!(e.0.contains("delete it"), "{e}");
    }
}
