//! OAuth 2.1 for upstream MCP servers, built on rmcp's auth support
//! (`rmcp::transport::auth`) rather than on the bare `oauth2` crate: rmcp already follows
//! the MCP authorization spec closely — discovery from the server's `WWW-Authenticate`
//! challenge through RFC 9728 resource metadata (path, then root) to RFC 8414 and OIDC
//! server metadata, scope selection (challenge → resource metadata → server metadata) with
//! step-up, the RFC 8707 `resource` parameter, client ID metadata documents, RFC 7591
//! registration, PKCE S256, the token endpoint's auth methods, refresh — and its
//! maintainers keep it in step with the spec. Redoing that would be thousands of lines of
//! our own to get wrong. This crate adds what a proxy needs around it: the state in the
//! database (through the application's `TokenStore` port) so logins survive restarts, one
//! login at a time per server (a second request joins the first), the callback on the
//! proxy's own loopback listener, the browser (or the printed URL when `HEADLESS`,
//! `NO_BROWSER` or `CI` is set), and refreshing at 75 % of a token's lifetime with
//! `oauth.token_refreshed` / `oauth.refresh_failed` events, so tokens never silently lapse.
#![forbid(unsafe_code)]

mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use mcpproxy_application::ports::{
    EventPublisher, LoginStarted, OAuthError, OAuthProvider, OAuthStatus, TokenStore,
};
use mcpproxy_domain::{DomainEvent, ServerConfig, ServerName, Timestamp};
use rmcp::transport::auth::{
    AuthClient, AuthError, AuthorizationManager, OAuthClientConfig, WWWAuthenticateParams,
};
use tokio::sync::Mutex as AsyncMutex;

pub use store::{Document, RegisteredClient, ServerDocument};

/// The name the proxy registers under.
const CLIENT_NAME: &str = "mcpproxy";
/// How long an unfinished login stays joinable.
const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How often the refresher looks at the tokens.
const REFRESH_TICK: Duration = Duration::from_secs(1);

/// A login under way.
#[derive(Debug, Clone)]
struct Pending {
    url: String,
    csrf: String,
    started: std::time::Instant,
}

/// What the proxy holds for one server.
struct Entry {
    url: String,
    /// The transport's client; its manager holds the tokens.
    client: AuthClient<reqwest::Client>,
    manager: Arc<AsyncMutex<AuthorizationManager>>,
    document: ServerDocument,
    /// Serialises logins: a second one joins the first.
    login: AsyncMutex<Option<Pending>>,
    last_error: Mutex<Option<String>>,
    /// The refresher's next try after a transient failure.
    retry_at: Mutex<Option<u64>>,
}

impl Entry {
    fn set_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }
}

/// The OAuth side of the proxy: one per process.
pub struct OAuth {
    store: Arc<dyn TokenStore>,
    events: Arc<dyn EventPublisher>,
    /// `http://127.0.0.1:<port>`: where the proxy listens, for the redirect URI.
    callback_base: Mutex<String>,
    entries: Mutex<HashMap<ServerName, Arc<Entry>>>,
    /// csrf state → server, for the callback.
    pending: Mutex<HashMap<String, ServerName>>,
    headless: bool,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth").finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn oauth_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError(e.to_string())
}

/// Whether to print the login URL instead of opening a browser.
pub fn headless_from_env() -> bool {
    ["HEADLESS", "NO_BROWSER", "CI"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0" && v != "false"))
}

/// Opens `url` in the user's browser; false when no opener could be started.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        // The opener exits at once; reap it in the background.
        .map(|mut child| {
            std::thread::spawn(move || child.wait());
        })
        .is_ok()
}

/// `extra_params` of the config appended to the authorization URL, except the ones the
/// flow sets itself.
fn with_extra_params(url: &str, server: &ServerConfig) -> String {
    let Some(oauth) = &server.oauth else {
        return url.to_owned();
    };
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let reserved = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
    ];
    {
        let mut query = parsed.query_pairs_mut();
        for (k, v) in &oauth.extra_params {
            if !reserved.contains(&k.as_str()) {
                query.append_pair(k, v);
            }
        }
    }
    parsed.to_string()
}

/// The `state` parameter of an authorization URL.
fn state_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
}

impl OAuth {
    pub fn new(
        store: Arc<dyn TokenStore>,
        events: Arc<dyn EventPublisher>,
        headless: bool,
    ) -> Self {
        Self {
            store,
            events,
            callback_base: Mutex::new("http://127.0.0.1:8080".to_owned()),
            entries: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            headless,
        }
    }

    /// Where the proxy listens (`http://127.0.0.1:<port>`); the redirect URI is
    /// `<base>/oauth/callback` unless a server's config names its own.
    pub fn set_callback_base(&self, base: &str) {
        *self
            .callback_base
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = base.to_owned();
    }

    fn redirect_uri(&self, server: &ServerConfig) -> String {
        match server.oauth.as_ref().filter(|o| !o.redirect_uri.is_empty()) {
            Some(o) => o.redirect_uri.clone(),
            None => format!(
                "{}/oauth/callback",
                self.callback_base
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            ),
        }
    }

    fn cached(&self, server: &ServerName) -> Option<Arc<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(server)
            .cloned()
    }

    /// The server's entry for `url`, made (and loaded from the database) on first use.
    async fn entry(&self, server: &ServerName, url: &str) -> Result<Arc<Entry>, AuthError> {
        if let Some(entry) = self.cached(server).filter(|e| e.url == url) {
            return Ok(entry);
        }
        let document = ServerDocument {
            server: server.clone(),
            store: self.store.clone(),
        };
        // Servers at private addresses (a company's, a test's) are legitimate upstreams.
        let mut manager = AuthorizationManager::new_allowing_private_addresses(url).await?;
        manager.set_credential_store(document.clone());
        let stored = document.read().await?;
        if stored.credentials.is_some() {
            // Discovery again (the endpoints are not stored); a failure here only delays
            // refreshing until the next try.
            match manager.initialize_from_store().await {
                Ok(true) => {
                    if let Some(client) = stored.client {
                        let mut config =
                            OAuthClientConfig::new(client.client_id, client.redirect_uri);
                        config.client_secret = client.client_secret;
                        manager.configure_client(config)?;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(%server, "cannot load the stored login yet: {e}"),
            }
        }
        let client = AuthClient::new(reqwest::Client::new(), manager);
        let entry = Arc::new(Entry {
            url: url.to_owned(),
            manager: client.auth_manager.clone(),
            client,
            document,
            login: AsyncMutex::new(None),
            last_error: Mutex::new(None),
            retry_at: Mutex::new(None),
        });
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(server.clone(), entry.clone());
        Ok(entry)
    }

    /// The HTTP client of `server`'s transport: it adds the token to each request and
    /// refreshes it once when the server refuses it.
    pub async fn client(
        &self,
        server: &ServerName,
        url: &str,
    ) -> Option<AuthClient<reqwest::Client>> {
        match self.entry(server, url).await {
            Ok(entry) => Some(entry.client.clone()),
            Err(e) => {
                tracing::warn!(%server, "OAuth is not available for this server: {e}");
                None
            }
        }
    }

    /// The client to use: the configured one, else the one registered before for this
    /// redirect URI, else a client ID metadata document, else a new registration.
    async fn oauth_client(
        &self,
        server: &ServerConfig,
        manager: &mut AuthorizationManager,
        document: &ServerDocument,
        redirect_uri: &str,
        scopes: &[String],
        metadata_documents: bool,
    ) -> Result<OAuthClientConfig, AuthError> {
        let oauth = server.oauth.as_ref();
        let mut config = if let Some(o) = oauth.filter(|o| !o.client_id.is_empty()) {
            let mut config = OAuthClientConfig::new(o.client_id.clone(), redirect_uri);
            config.client_secret = Some(o.client_secret.clone()).filter(|s| !s.is_empty());
            config
        } else if let Some(client) = document
            .read()
            .await?
            .client
            .filter(|c| c.redirect_uri == redirect_uri)
        {
            let mut config = OAuthClientConfig::new(client.client_id, redirect_uri);
            config.client_secret = client.client_secret;
            config
        } else if let Some(url) = oauth
            // `oauth.client_metadata_url`: the HTTPS URL of the proxy's client ID metadata
            // document, where the deployment publishes one.
            .and_then(|o| o.extra.get("client_metadata_url"))
            .and_then(|v| v.as_str())
            .filter(|_| metadata_documents)
        {
            OAuthClientConfig::new(url, redirect_uri)
        } else {
            let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let registered = manager
                .register_client(CLIENT_NAME, redirect_uri, &refs)
                .await?;
            let record = RegisteredClient {
                client_id: registered.client_id.clone(),
                client_secret: registered.client_secret.clone(),
                redirect_uri: redirect_uri.to_owned(),
            };
            document.update(|d| d.client = Some(record)).await?;
            registered
        };
        config.scopes = scopes.to_vec();
        Ok(config)
    }

    async fn begin(
        &self,
        server: &ServerConfig,
        entry: &Entry,
        challenge: Option<&str>,
    ) -> Result<Pending, AuthError> {
        let mut manager = entry.manager.lock().await;
        let resolution = manager.resolve_metadata_from_challenge(challenge).await?;
        // Client ID metadata documents (SEP-991), when the server takes them.
        let metadata_documents = resolution
            .metadata
            .additional_fields
            .get("client_id_metadata_document_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        manager.set_metadata(resolution.metadata);
        let configured: Vec<&str> = server
            .oauth
            .as_ref()
            .map(|o| o.scopes.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let step_up = challenge.is_some_and(|c| {
            url::Url::parse(&entry.url)
                .map(|base| WWWAuthenticateParams::parse(c, &base).is_insufficient_scope())
                .unwrap_or(false)
        });
        // A missing scope adds to what was asked before; a first login starts from what
        // the server says it wants.
        let scopes = if step_up {
            manager.select_scopes(None, &configured)
        } else {
            manager.select_initial_scopes(&configured).await
        };
        let redirect_uri = self.redirect_uri(server);
        let client = self
            .oauth_client(
                server,
                &mut manager,
                &entry.document,
                &redirect_uri,
                &scopes,
                metadata_documents,
            )
            .await?;
        manager.configure_client(client)?;
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let url = with_extra_params(&manager.get_authorization_url(&refs).await?, server);
        let csrf = state_of(&url)
            .ok_or_else(|| AuthError::InternalError("the authorization URL has no state".into()))?;
        Ok(Pending {
            url,
            csrf,
            started: std::time::Instant::now(),
        })
    }

    fn entry_error(&self, server: &ServerName, error: &str) {
        if let Some(entry) = self.cached(server) {
            entry.set_error(Some(error.to_owned()));
        }
    }

    /// Refreshes every token past 75 % of its lifetime; runs until the proxy stops.
    pub async fn refresh_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REFRESH_TICK).await;
            let entries: Vec<(ServerName, Arc<Entry>)> = self
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (server, entry) in entries {
                self.refresh_if_due(&server, &entry).await;
            }
        }
    }

    async fn refresh_if_due(&self, server: &ServerName, entry: &Entry) {
        let Ok(document) = entry.document.read().await else {
            return;
        };
        let Some(due) = document.credentials.as_ref().and_then(refresh_due) else {
            return;
        };
        let now = now_secs();
        let retry_at = *entry
            .retry_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now < due || retry_at.is_some_and(|at| now < at) {
            return;
        }
        let refreshed = entry.manager.lock().await.refresh_token().await;
        match refreshed {
            Ok(_) => {
                *entry
                    .retry_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                entry.set_error(None);
                let expires_at = entry
                    .document
                    .read()
                    .await
                    .ok()
                    .and_then(|d| d.credentials)
                    .and_then(|c| expiry(&c))
                    .map(|secs| {
                        Timestamp::from_millis(i64::try_from(secs).unwrap_or(i64::MAX) * 1000)
                    });
                tracing::info!(%server, "refreshed the access token");
                self.events.publish(DomainEvent::TokenRefreshed {
                    server: server.clone(),
                    expires_at,
                });
            }
            Err(e) => {
                let expired = document
                    .credentials
                    .as_ref()
                    .and_then(expiry)
                    .is_some_and(|at| now >= at);
                let definitive = matches!(
                    e,
                    AuthError::TokenRefreshRejected(_) | AuthError::AuthorizationRequired
                ) || (matches!(e, AuthError::InternalError(_)) && expired);
                if definitive || expired {
                    let reason = format!("refreshing the token failed: {e}; log in again");
                    tracing::warn!(%server, "{reason}");
                    entry.set_error(Some(reason.clone()));
                    // No more tries on these credentials: they wait for a new login.
                    let _ = entry.document.update(|d| d.credentials = None).await;
                    self.events.publish(DomainEvent::RefreshFailed {
                        server: server.clone(),
                        reason,
                    });
                } else {
                    // Transient (network, a 5xx): try again soon, before the token lapses.
                    let backoff = 2 + (now % 3);
                    *entry
                        .retry_at
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(now + backoff);
                    tracing::warn!(%server, "refreshing the token failed, trying again: {e}");
                    entry.set_error(Some(format!("refresh failed, retrying: {e}")));
                }
            }
        }
    }
}

/// When a token ends: its receipt plus its lifetime (seconds since the epoch).
fn expiry(credentials: &rmcp::transport::auth::StoredCredentials) -> Option<u64> {
    use oauth2::TokenResponse;
    let lifetime = credentials.token_response.as_ref()?.expires_in()?.as_secs();
    Some(credentials.token_received_at? + lifetime)
}

/// When a token is due for a refresh: at 75 % of its lifetime, if it can be refreshed.
fn refresh_due(credentials: &rmcp::transport::auth::StoredCredentials) -> Option<u64> {
    use oauth2::TokenResponse;
    let token = credentials.token_response.as_ref()?;
    token.refresh_token()?;
    let lifetime = token.expires_in()?.as_secs();
    Some(credentials.token_received_at? + lifetime * 3 / 4)
}

#[async_trait]
impl OAuthProvider for OAuth {
    async fn start_login(
        &self,
        server: &ServerConfig,
        challenge: Option<String>,
    ) -> Result<LoginStarted, OAuthError> {
        let entry = self
            .entry(&server.name, &server.url)
            .await
            .map_err(oauth_error)?;
        let mut login = entry.login.lock().await;
        if let Some(pending) = login.as_ref().filter(|p| p.started.elapsed() < LOGIN_TTL) {
            return Ok(LoginStarted {
                url: pending.url.clone(),
                browser_opened: false,
                joined: true,
            });
        }
        let pending = match self.begin(server, &entry, challenge.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("cannot start the login: {e}");
                entry.set_error(Some(reason.clone()));
                return Err(OAuthError(reason));
            }
        };
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pending.csrf.clone(), server.name.clone());
        let browser_opened = !self.headless && open_browser(&pending.url);
        if !browser_opened {
            tracing::warn!(server = %server.name, "log in to the server by opening {}", pending.url);
        }
        *login = Some(pending.clone());
        Ok(LoginStarted {
            url: pending.url,
            browser_opened,
            joined: false,
        })
    }

    async fn complete_login(&self, state: &str, code: &str) -> Result<ServerName, OAuthError> {
        let server = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(state)
            .ok_or_else(|| {
                OAuthError("no login is waiting for this answer (it expired, or was used already); start the login again".into())
            })?;
        let entry = self.cached(&server).ok_or_else(|| {
            OAuthError(format!(
                "the login of {server} was forgotten; start it again"
            ))
        })?;
        let exchanged = entry
            .manager
            .lock()
            .await
            .exchange_code_for_token(code, state)
            .await;
        *entry.login.lock().await = None;
        match exchanged {
            Ok(_) => {
                entry.set_error(None);
                *entry
                    .retry_at
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                Ok(server)
            }
            Err(e) => {
                let reason = format!("the authorization server refused the code: {e}");
                self.entry_error(&server, &reason);
                Err(OAuthError(reason))
            }
        }
    }

    async fn logout(&self, server: &ServerName) -> Result<(), OAuthError> {
        let entry = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(server);
        if let Some(entry) = entry
            && let Some(p) = entry.login.lock().await.take()
        {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&p.csrf);
        }
        self.store.clear(server).await.map_err(oauth_error)
    }

    async fn status(&self, server: &ServerName) -> OAuthStatus {
        let document = ServerDocument {
            server: server.clone(),
            store: self.store.clone(),
        };
        let credentials = document.read().await.ok().and_then(|d| d.credentials);
        let entry = self.cached(server);
        let pending_url = match &entry {
            Some(e) => e
                .login
                .lock()
                .await
                .as_ref()
                .filter(|p| p.started.elapsed() < LOGIN_TTL)
                .map(|p| p.url.clone()),
            None => None,
        };
        OAuthStatus {
            logged_in: credentials
                .as_ref()
                .is_some_and(|c| c.token_response.is_some()),
            expires_at: credentials
                .as_ref()
                .and_then(expiry)
                .map(|s| Timestamp::from_millis(i64::try_from(s).unwrap_or(i64::MAX) * 1000)),
            scopes: credentials.map(|c| c.granted_scopes).unwrap_or_default(),
            pending_url,
            last_error: entry.and_then(|e| {
                e.last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_read_from_the_authorization_url() {
        assert_eq!(
            state_of("https://as/authorize?client_id=a&state=xyz&scope=s").as_deref(),
            Some("xyz")
        );
        assert_eq!(state_of("https://as/authorize"), None);
    }
}
