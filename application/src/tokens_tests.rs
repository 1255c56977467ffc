use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::policy::GrantOrigin;
use mcpproxy_domain::{Config, ServerName};

use super::*;
use crate::testkit::Mem;

#[derive(Default)]
struct Repo(Mutex<HashMap<String, AgentToken>>);

#[async_trait]
impl AgentTokenRepository for Repo {
    async fn insert(&self, t: &AgentToken) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        if all.contains_key(&t.name) {
            return Ok(false);
        }
        all.insert(t.name.clone(), t.clone());
        Ok(true)
    }
    async fn update(&self, t: &AgentToken) -> Result<(), StorageError> {
        self.0.lock().unwrap().insert(t.name.clone(), t.clone());
        Ok(())
    }
    async fn by_name(&self, name: &str) -> Result<Option<AgentToken>, StorageError> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }
    async fn by_hash(&self, hash: &str) -> Result<Option<AgentToken>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .find(|t| t.hash == hash)
            .cloned())
    }
    async fn all(&self) -> Result<Vec<AgentToken>, StorageError> {
        Ok(self.0.lock().unwrap().values().cloned().collect())
    }
    async fn touch(&self, name: &str, at: Timestamp) -> Result<(), StorageError> {
        if let Some(t) = self.0.lock().unwrap().get_mut(name) {
            t.last_used_at = Some(at);
        }
        Ok(())
    }
    async fn delete(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self.0.lock().unwrap().remove(name).is_some())
    }
}

/// Counts up for secrets; "hashes" by reversing (enough to tell the stored form apart).
#[derive(Default)]
struct Keys(AtomicI64);

impl TokenKeys for Keys {
    fn generate(&self) -> Result<String, StorageError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!(
            "mcp_agt_{}",
            format!("{:016x}", 0x1234_5678_9abc_def0 + n).repeat(4)
        ))
    }
    fn hash(&self, token: &str) -> Result<String, StorageError> {
        Ok(format!("h:{}", token.chars().rev().collect::<String>()))
    }
}

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

struct World {
    tokens: TokenService,
    repo: Arc<Repo>,
    clock: Arc<TestClock>,
}

fn world() -> World {
    let mem = Arc::new(Mem::default());
    let config: Config = serde_json::from_value(serde_json::json!({"mcpServers": [
        {"name": "github", "command": "x"}, {"name": "slack", "command": "x"}
    ]}))
    .unwrap();
    *mem.config.lock().unwrap() = config;
    let repo = Arc::new(Repo::default());
    let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    let tokens = TokenService::new(
        repo.clone(),
        Arc::new(Keys::default()),
        clock.clone(),
        mem,
        activity,
    );
    World {
        tokens,
        repo,
        clock,
    }
}

fn request(name: &str, servers: &[&str], permissions: &[&str]) -> CreateToken {
    CreateToken {
        name: name.into(),
        allowed_servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        permissions: permissions.iter().map(|s| (*s).to_owned()).collect(),
        expires_in: None,
        profile_pin: None,
    }
}

#[tokio::test]
async fn a_new_token_is_shown_once_stored_hashed_and_becomes_a_scoped_caller() {
    let w = world();
    let made = w
        .tokens
        .create(&request("bot", &["github"], &["read"]), Source::Cli)
        .await
        .unwrap();
    assert!(token::is_agent_token(&made.token));
    assert_eq!(made.info.token_prefix, token::shown_prefix(&made.token));
    assert_eq!(made.info.permissions, ["read"]);
    assert_eq!(made.info.allowed_servers, ["github"]);
    assert_eq!(
        made.info.expires_at.millis() - made.info.created_at.millis(),
        30 * 24 * 3_600_000
    );
    let stored = w.repo.by_name("bot").await.unwrap().unwrap();
    assert_ne!(stored.hash, made.token);
    assert!(!format!("{stored:?}").contains(&made.token[8..]));
    let listed = serde_json::to_string(&w.tokens.list(Source::Cli).await.unwrap()).unwrap();
    assert!(!listed.contains(&made.token[8..]));

    let who = w.tokens.authenticate(&made.token).await.unwrap();
    let caller = who.caller(Source::Mcp);
    let grants = caller.scope().grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].origin, GrantOrigin::Token("bot".into()));
    assert!(
        grants[0]
            .servers
            .contains(&ServerName::parse("github").unwrap())
    );
    assert!(
        !grants[0]
            .servers
            .contains(&ServerName::parse("slack").unwrap())
    );
    assert_eq!(grants[0].tier, CallVariant::Read);
    assert_eq!(who.identity.auth_type(), "agent");
    assert!(
        w.repo
            .by_name("bot")
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let w = world();
    let cli = || Source::Cli;
    let e = |r: Result<CreatedToken, TokenError>| r.unwrap_err().to_string();
    assert!(
        e(w.tokens
            .create(&request("b", &["nope"], &["read"]), cli())
            .await)
        .contains("nope")
    );
    assert!(
        e(w.tokens
            .create(&request("b", &["*"], &["write"]), cli())
            .await)
        .contains("read")
    );
    w.tokens
        .create(&request("b", &["*"], &["read"]), cli())
        .await
        .unwrap();
    assert!(matches!(
        w.tokens
            .create(&request("b", &["*"], &["read"]), cli())
            .await,
        Err(TokenError::Exists(_))
    ));
}

#[tokio::test]
async fn revoked_expired_regenerated_and_deleted_tokens_stop_working() {
    let w = world();
    let cli = Source::Cli;
    let a = w
        .tokens
        .create(&request("a", &["*"], &["read", "write"]), cli)
        .await
        .unwrap();
    w.tokens.revoke("a", cli).await.unwrap();
    assert_eq!(
        w.tokens.authenticate(&a.token).await,
        Err(TokenRefusal::Revoked("a".into()))
    );
    assert_eq!(
        w.tokens.show("a", cli).await.unwrap().status,
        TokenStatus::Revoked
    );

    let mut short = request("b", &["*"], &["read"]);
    short.expires_in = Some("1h".into());
    let b = w.tokens.create(&short, cli).await.unwrap();
    assert!(w.tokens.authenticate(&b.token).await.is_ok());
    w.clock.0.fetch_add(3_600_000, Ordering::SeqCst);
    assert_eq!(
        w.tokens.authenticate(&b.token).await,
        Err(TokenRefusal::Expired("b".into()))
    );

    let again = w.tokens.regenerate("b", cli).await.unwrap();
    assert_ne!(again.token, b.token);
    assert_eq!(again.info.status, TokenStatus::Active);
    assert!(w.tokens.authenticate(&again.token).await.is_ok());
    assert_eq!(
        w.tokens.authenticate(&b.token).await,
        Err(TokenRefusal::Unknown)
    );

    w.tokens.delete("b", cli).await.unwrap();
    assert_eq!(
        w.tokens.authenticate(&again.token).await,
        Err(TokenRefusal::Unknown)
    );
    assert!(
        w.tokens.create(&short, cli).await.is_ok(),
        "the name is free"
    );
    assert_eq!(
        w.tokens.authenticate("mcp_agt_short").await,
        Err(TokenRefusal::Unknown)
    );
}

#[tokio::test]
async fn a_token_may_not_manage_tokens() {
    let w = world();
    let made = w
        .tokens
        .create(
            &request("bot", &["*"], &["read", "write", "destructive"]),
            Source::Cli,
        )
        .await
        .unwrap();
    let bot = w
        .tokens
        .authenticate(&made.token)
        .await
        .unwrap()
        .caller(Source::Api);
    assert_eq!(
        w.tokens.list(&bot).await,
        Err(TokenError::Forbidden(Gate::AdminOnly))
    );
    assert!(matches!(
        w.tokens
            .create(&request("x", &["*"], &["read"]), &bot)
            .await,
        Err(TokenError::Forbidden(Gate::AdminOnly))
    ));
    assert!(w.tokens.revoke("bot", &bot).await.is_err());
}

#[tokio::test]
async fn a_pinned_token_is_under_its_profile_and_under_nothing_once_the_profile_goes() {
    let mem = Arc::new(Mem::default());
    let config = |profiles: serde_json::Value| -> Config {
        serde_json::from_value(serde_json::json!({"mcpServers": [
            {"name": "github", "command": "x"}, {"name": "slack", "command": "x"}
        ], "profiles": profiles}))
        .unwrap()
    };
    *mem.config.lock().unwrap() =
        config(serde_json::json!([{"name": "dev", "servers": ["github"]}]));
    let tokens = TokenService::new(
        Arc::new(Repo::default()),
        Arc::new(Keys::default()),
        Arc::new(TestClock(AtomicI64::new(1_000_000))),
        mem.clone(),
        Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone())),
    );
    let mut pinned = request("bot", &["*"], &["read"]);
    pinned.profile_pin = Some("nope".into());
    assert_eq!(
        tokens.create(&pinned, Source::Cli).await.unwrap_err(),
        TokenError::UnknownProfile("nope".into(), "dev".into())
    );
    pinned.profile_pin = Some("dev".into());
    let made = tokens.create(&pinned, Source::Cli).await.unwrap();
    assert_eq!(made.info.profile_pin.as_deref(), Some("dev"));
    let github = ServerName::parse("github").unwrap();
    let slack = ServerName::parse("slack").unwrap();
    let who = tokens.authenticate(&made.token).await.unwrap();
    assert_eq!(who.profile_pin(), Some("dev"));
    let caller = who.caller(Source::Mcp);
    let origins: Vec<_> = caller
        .scope()
        .grants()
        .iter()
        .map(|g| g.origin.clone())
        .collect();
    assert_eq!(
        origins,
        [
            GrantOrigin::Token("bot".into()),
            GrantOrigin::Profile("dev".into())
        ]
    );
    assert!(caller.scope().grants()[1].servers.contains(&github));
    assert!(!caller.scope().grants()[1].servers.contains(&slack));
    // The profile is removed: the pin now reaches nothing, never everything.
    *mem.config.lock().unwrap() = config(serde_json::json!([]));
    let who = tokens.authenticate(&made.token).await.unwrap();
    let caller = who.caller(Source::Mcp);
    let pin = &caller.scope().grants()[1];
    assert!(!pin.servers.contains(&github) && !pin.servers.contains(&slack));
    // Regenerating keeps the pin.
    let again = tokens.regenerate("bot", Source::Cli).await.unwrap();
    assert_eq!(again.info.profile_pin.as_deref(), Some("dev"));
}
