//! Plaintext secrets in a config: the env and header values that look like tokens or
//! passwords and belong in the keyring. One rule scores a value by its key and its shape
//! ([`secret_confidence`]); `mcpproxy secrets migrate` asks it of the whole config
//! ([`candidates`]), the import of another client's servers of each one it brings in
//! ([`server_candidates`]). References, flags, numbers, URLs and paths never are secrets.

use serde::Serialize;

use crate::config::{Config, ServerConfig};
use crate::entropy::shannon;
use crate::redact::mask;
use crate::secret::has_reference;

/// Where in a server entry a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValueScope {
    /// `env.<KEY>`
    Env,
    /// `headers.<Key>`
    Header,
}

impl ValueScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Header => "header",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "env" => Some(Self::Env),
            "header" | "headers" => Some(Self::Header),
            _ => None,
        }
    }

    /// The key of the server entry's map: `env` or `headers`.
    pub fn field(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Header => "headers",
        }
    }
}

/// A plaintext value that looks like a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub server: String,
    pub scope: ValueScope,
    pub key: String,
    /// `mcpServers[<i>].env.<KEY>`
    pub field: String,
    /// The value as people may see it (`••••ab (40 chars)`).
    pub masked: String,
    /// A keyring name for it: `<server>_<key>`, lower case.
    pub suggested_name: String,
    /// The reference that would replace it.
    pub suggested_ref: String,
    /// 0–1: how sure the guess is.
    pub confidence: f64,
}

/// Words in a key that say its value is a secret.
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "credential",
    "private",
    "session",
    "cookie",
    "pat",
    "key",
];

/// Prefixes of well-known tokens.
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "xoxb-",
    "xoxp-",
    "xapp-",
    "AKIA",
    "ASIA",
    "AIza",
    "SG.",
    "npm_",
    "pypi-",
    "eyJ",
    "Bearer ",
    "Basic ",
    "Token ",
];

/// Values that are never secrets.
fn plainly_not_secret(value: &str) -> bool {
    let v = value.trim();
    v.len() < 8
        || has_reference(v)
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "none" | "localhost"
        )
        || v.parse::<f64>().is_ok()
        || v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("~/")
        || ((v.starts_with("http://") || v.starts_with("https://")) && !v.contains('@'))
}

/// How sure we are that `value` under `key` is a secret (0 when it plainly is not).
pub fn secret_confidence(key: &str, value: &str) -> f64 {
    if plainly_not_secret(value) {
        return 0.0;
    }
    let lower_key = key.to_ascii_lowercase();
    let key_says = SECRET_KEY_WORDS.iter().any(|w| {
        // "key" and "pat" only as whole parts of the name (not "keyboard", "path").
        if matches!(*w, "key" | "pat") {
            lower_key
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|part| part == *w)
        } else {
            lower_key.contains(w)
        }
    });
    let v = value.trim();
    let known = TOKEN_PREFIXES.iter().any(|p| v.starts_with(p));
    let token = v.rsplit(' ').next().unwrap_or(v);
    let random = token.len() >= 16 && !token.contains(char::is_whitespace) && shannon(token) >= 3.5;
    let mut score: f64 = 0.0;
    if key_says {
        score += 0.5;
    }
    if known {
        score += 0.45;
    }
    if random {
        score += 0.35;
    }
    score.min(0.99)
}

/// Candidates at or above this confidence are offered.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// The keyring name suggested for a value: `<server>_<key>`, lower case, other characters `_`.
pub fn suggested_name(server: &str, key: &str) -> String {
    format!("{server}_{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The plaintext env and header values of `server` that look like secrets, env first, each
/// map in key order. `index` is the server's place in the config's `mcpServers` (for
/// [`Candidate::field`]). The one rule for "is this a secret?": `secrets migrate` asks it of
/// the config, the import of each server it brings in.
pub fn server_candidates(index: usize, server: &ServerConfig) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (scope, map) in [
        (ValueScope::Env, &server.env),
        (ValueScope::Header, &server.headers),
    ] {
        for (key, value) in map {
            let confidence = secret_confidence(key, value);
            if confidence < MIN_CONFIDENCE {
                continue;
            }
            let name = suggested_name(server.name.as_str(), key);
            out.push(Candidate {
                server: server.name.to_string(),
                scope,
                key: key.clone(),
                field: format!("mcpServers[{index}].{}.{key}", scope.field()),
                masked: mask(value),
                suggested_ref: crate::secret::keyring_reference(&name),
                suggested_name: name,
                confidence: (confidence * 100.0).round() / 100.0,
            });
        }
    }
    out
}

/// Every plaintext env and header value of the config's servers that looks like a secret.
pub fn candidates(config: &Config) -> Vec<Candidate> {
    config
        .servers
        .iter()
        .enumerate()
        .flat_map(|(i, server)| server_candidates(i, server))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_and_passwords_are_candidates() {
        assert!(secret_confidence("GITHUB_TOKEN", "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z") > 0.9);
        assert!(secret_confidence("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x") > 0.9);
        assert!(secret_confidence("DB_PASSWORD", "hunter2hunter2") >= MIN_CONFIDENCE);
        assert!(secret_confidence("SIGNING_SECRET", "a8f5f167f44f4964e6c998dee827110c") > 0.8);
        // Random alone (a commit hash, an id) is not enough.
        assert!(secret_confidence("COMMIT", "a8f5f167f44f4964e6c998dee827110c") < MIN_CONFIDENCE);
    }

    #[test]
    fn ordinary_values_are_not() {
        for (k, v) in [
            ("GITHUB_TOKEN", "${keyring:gh}"),
            ("API_KEY", "${env:API_KEY}"),
            ("DEBUG", "true"),
            ("PORT", "8080"),
            ("KEYBOARD_LAYOUT", "us-international"),
            ("PATH", "/usr/local/bin:/usr/bin"),
            ("BASE_URL", "https://api.example.com/v1"),
            ("LOG_LEVEL", "debug"),
            ("NODE_ENV", "production"),
        ] {
            assert!(secret_confidence(k, v) < MIN_CONFIDENCE, "{k}={v}");
        }
    }

    #[test]
    fn candidates_name_the_field_and_never_show_the_value() {
        let config: Config = serde_json::from_value(json!({"mcpServers": [
            {"name": "gh", "command": "x", "env": {"GITHUB_TOKEN": "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", "DEBUG": "1"}},
            {"name": "api", "url": "https://x", "headers": {"Authorization": "Bearer s3cr3t-t0ken-value-123456"}}
        ]}))
        .unwrap();
        let found = candidates(&config);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].field, "mcpServers[0].env.GITHUB_TOKEN");
        assert_eq!(found[0].suggested_name, "gh_github_token");
        assert_eq!(found[0].suggested_ref, "${keyring:gh_github_token}");
        assert_eq!(found[1].scope, ValueScope::Header);
        let text = serde_json::to_string(&found).unwrap();
        assert!(
            !text.contains("ghp_aB3") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    use crate::name::ServerName;

    #[test]
    fn a_servers_candidates_skip_references_empty_and_ordinary_values() {
        let mut s = ServerConfig::new(ServerName::parse("gh").unwrap());
        s.env.insert(
            "GITHUB_PERSONAL_ACCESS_TOKEN".into(),
            "ghp_exampletoken0123456789".into(),
        );
        s.env
            .insert("OPENAI_API_KEY".into(), "${env:OPENAI_API_KEY}".into());
        s.env.insert("LOG_LEVEL".into(), "debug".into());
        s.env.insert("DB_PASSWORD".into(), String::new());
        s.headers
            .insert("Authorization".into(), "Bearer x-token-1".into());
        let found: Vec<(ValueScope, String, String)> = server_candidates(3, &s)
            .into_iter()
            .map(|c| (c.scope, c.key, c.field))
            .collect();
        assert_eq!(
            found,
            [
                (
                    ValueScope::Env,
                    "GITHUB_PERSONAL_ACCESS_TOKEN".to_owned(),
                    "mcpServers[3].env.GITHUB_PERSONAL_ACCESS_TOKEN".to_owned()
                ),
                (
                    ValueScope::Header,
                    "Authorization".to_owned(),
                    "mcpServers[3].headers.Authorization".to_owned()
                )
            ]
        );
    }
}
