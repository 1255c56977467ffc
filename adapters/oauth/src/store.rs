//! A server's OAuth state in the database, through the application's [`TokenStore`] port:
//! one JSON document holding rmcp's stored credentials (tokens, granted scopes, issuer) and
//! the client the proxy registered (with its secret, which rmcp's record lacks but a refresh
//! after a restart needs).

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_application::ports::TokenStore;
use mcpproxy_domain::ServerName;
use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The client the proxy uses with a server's authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub redirect_uri: String,
}

/// The stored document of one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Document {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StoredCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<RegisteredClient>,
}

/// Reads and writes the document of one server.
#[derive(Clone)]
pub struct ServerDocument {
    pub server: ServerName,
    pub store: Arc<dyn TokenStore>,
}

impl std::fmt::Debug for ServerDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDocument")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn store_error(e: impl std::fmt::Display) -> AuthError {
    AuthError::CredentialStoreError(e.to_string())
}

impl ServerDocument {
    pub async fn read(&self) -> Result<Document, AuthError> {
        match self.store.load(&self.server).await.map_err(store_error)? {
            Some(value) => serde_json::from_value(value).map_err(store_error),
            None => Ok(Document::default()),
        }
    }

    pub async fn write(&self, document: &Document) -> Result<(), AuthError> {
        let value: Value = serde_json::to_value(document).map_err(store_error)?;
        self.store
            .save(&self.server, &value)
            .await
            .map_err(store_error)
    }

    pub async fn update(&self, change: impl FnOnce(&mut Document)) -> Result<(), AuthError> {
        let mut document = self.read().await?;
        change(&mut document);
        self.write(&document).await
    }
}

/// rmcp's credential store over the document.
#[async_trait]
impl CredentialStore for ServerDocument {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        Ok(self.read().await?.credentials)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.update(|d| d.credentials = Some(credentials)).await
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.update(|d| d.credentials = None).await
    }
}
