//! The config document as the REST API shows, checks and applies it.

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::config::ConfigDiff;
use mcpproxy_domain::redact::mask;
use mcpproxy_domain::{Caller, Config, DomainEvent, ValidationError};
use serde::Serialize;
use serde_json::Value;

use super::{ManagementError, ManagementService};
use crate::activity::ActivityDraft;
use crate::gates::Action;

/// A new API key: 32 random bytes, hex (what the Go MCPProxy generates).
pub fn generate_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// What applying a config did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedConfig {
    pub applied: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub updated: Vec<String>,
    /// Keys that changed but take effect only after mcpproxy restarts.
    pub needs_restart: Vec<String>,
}

fn mask_map(map: &mut std::collections::BTreeMap<String, String>) {
    for v in map.values_mut() {
        *v = mask(v);
    }
}

/// Values a person sent back masked (as `GET /config` showed them) keep their real value.
fn unmask(value: &mut String, current: &str) {
    if value.is_empty() || *value == mask(current) {
        *value = current.to_owned();
    }
}

/// Keys of a server entry: at the top of a config document they say a server (or part of
/// one) was sent where the whole config belongs.
const SERVER_ENTRY_KEYS: &[&str] = &[
    "name",
    "command",
    "args",
    "url",
    "env",
    "headers",
    "protocol",
    "working_dir",
    "oauth",
];

/// Why `doc` is not a whole config document, each problem with its key.
fn whole_document_problems(doc: &Value) -> Vec<ValidationError> {
    let hint = "config/apply replaces the whole config: send the whole document (GET /api/v1/config shows it), or change one server with PATCH /api/v1/servers/{name}";
    let Some(map) = doc.as_object() else {
        return vec![ValidationError::new(
            "config",
            format!("must be a JSON object; {hint}"),
        )];
    };
    let mut problems: Vec<ValidationError> = map
        .keys()
        .filter(|k| SERVER_ENTRY_KEYS.contains(&k.as_str()))
        .map(|k| {
            ValidationError::new(
                k.clone(),
                format!("is a key of a server entry, not of the config; {hint}"),
            )
        })
        .collect();
    if !map.contains_key("mcpServers") {
        problems.push(ValidationError::new(
            "mcpServers",
            format!("is missing, which would remove every server; send \"mcpServers\": [] to mean none. {hint}"),
        ));
    }
    problems
}

impl ManagementService {
    /// The config in force with its secrets masked: the API key, env and header values,
    /// OAuth client secrets.
    pub fn config_view(&self) -> Value {
        let mut config = (*self.config.current()).clone();
        config.api_key = mask(&config.api_key);
        for server in &mut config.servers {
            mask_map(&mut server.env);
            mask_map(&mut server.headers);
            if let Some(oauth) = &mut server.oauth
                && !oauth.client_secret.is_empty()
            {
                oauth.client_secret = mask(&oauth.client_secret);
            }
        }
        serde_json::to_value(config).unwrap_or(Value::Null)
    }

    /// Parses and checks a config document; every problem names its key.
    ///
    /// The document replaces the whole config, so it must be one: a document without
    /// `mcpServers` (a partial one, or a server entry sent by mistake) would remove every
    /// server, and is refused instead.
    pub fn validate_config(&self, doc: &Value) -> Result<Config, Vec<ValidationError>> {
        let shape = whole_document_problems(doc);
        if !shape.is_empty() {
            return Err(shape);
        }
        let mut config: Config = serde_path_to_error::deserialize(doc).map_err(|e| {
            let field = e.path().to_string();
            vec![ValidationError::new(
                if field == "." {
                    "config".to_owned()
                } else {
                    field
                },
                e.into_inner().to_string(),
            )]
        })?;
        config.normalize();
        let errors = config.validate();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Replaces the config with `doc`. Masked secrets sent back as they were shown keep
    /// their values.
    pub async fn apply_config(
        &self,
        doc: &Value,
        caller: impl Into<Caller>,
    ) -> Result<AppliedConfig, ManagementError> {
        let caller = caller.into();
        let mut next = self
            .validate_config(doc)
            .map_err(ManagementError::Invalid)?;
        let diff = self
            .modify(Action::ChangeConfig, &caller, |current| {
                unmask(&mut next.api_key, &current.api_key);
                for server in &mut next.servers {
                    let Some(old) = current.server(&server.name) else {
                        continue;
                    };
                    for (k, v) in &mut server.env {
                        if let Some(c) = old.env.get(k) {
                            unmask(v, c);
                        }
                    }
                    for (k, v) in &mut server.headers {
                        if let Some(c) = old.headers.get(k) {
                            unmask(v, c);
                        }
                    }
                    if let (Some(o), Some(c)) = (&mut server.oauth, &old.oauth)
                        && !o.client_secret.is_empty()
                    {
                        unmask(&mut o.client_secret, &c.client_secret);
                    }
                }
                let diff = ConfigDiff::between(current, &next);
                *current = next;
                Ok(diff)
            })
            .await?;
        self.events.publish(DomainEvent::ConfigReloaded {
            added: diff.added.clone(),
            removed: diff.removed.clone(),
            updated: diff.updated.clone(),
        });
        let names = |v: &[mcpproxy_domain::ServerName]| v.iter().map(ToString::to_string).collect();
        let applied = AppliedConfig {
            applied: true,
            added: names(&diff.added),
            removed: names(&diff.removed),
            updated: names(&diff.updated),
            needs_restart: diff.needs_restart.iter().map(|k| (*k).to_owned()).collect(),
        };
        let draft = ActivityDraft::new(
            ActivityKind::ConfigChange,
            caller.source(),
            ActivityStatus::Success,
        )
        .meta("added", applied.added.clone())
        .meta("removed", applied.removed.clone())
        .meta("updated", applied.updated.clone());
        self.activity.record_or_log(draft).await;
        Ok(applied)
    }

    /// Replaces the API key with a new one and returns it (clients using the old key are
    /// refused from then on; the unix socket needs none).
    pub async fn reset_api_key(
        &self,
        caller: impl Into<Caller>,
    ) -> Result<String, ManagementError> {
        let caller = caller.into();
        let key = generate_api_key();
        self.modify(Action::ResetApiKey, &caller, |config| {
            config.api_key.clone_from(&key);
            Ok(())
        })
        .await?;
        let draft = ActivityDraft::new(
            ActivityKind::ConfigChange,
            caller.source(),
            ActivityStatus::Success,
        )
        .meta("action", "reset_api_key");
        self.activity.record_or_log(draft).await;
        Ok(key)
    }
}
