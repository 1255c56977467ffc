//! Secrets written in plain text into a server entry: what an import finds in another
//! client's config (`"GITHUB_TOKEN": "ghp_…"`) and offers to move into the keyring.
//!
//! A value counts as a secret by its name (tokens, keys, passwords, `Authorization`, …);
//! a value that is already a reference (`${env:…}`, `${keyring:…}`) or empty is not one.

use serde::Serialize;

use crate::config::ServerConfig;
use crate::secret::has_reference;

/// Parts of names that mark a secret, upper-case.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
];

/// Whether a variable or header called `name` holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace('-', "_");
    SECRET_WORDS.iter().any(|w| upper.contains(w)) || upper.ends_with("_KEY") || upper == "KEY"
}

/// One secret found in plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaintextSecret {
    pub server: String,
    /// `env` or `header`.
    pub kind: String,
    pub name: String,
}

/// The secrets of `server` written in plain text, env first, each list in name order.
pub fn plaintext_secrets(server: &ServerConfig) -> Vec<PlaintextSecret> {
    let found = |kind: &str, map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .filter(|(k, v)| is_secret_name(k) && !v.trim().is_empty() && !has_reference(v))
            .map(|(k, _)| PlaintextSecret {
                server: server.name.to_string(),
                kind: kind.to_owned(),
                name: k.clone(),
            })
            .collect::<Vec<_>>()
    };
    let mut out = found("env", &server.env);
    out.extend(found("header", &server.headers));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::ServerName;

    #[test]
    fn secrets_are_found_by_name_and_references_are_not_secrets() {
        let mut s = ServerConfig::new(ServerName::parse("gh").unwrap());
        s.env
            .insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), "ghp_abc".into());
        s.env
            .insert("OPENAI_API_KEY".into(), "${env:OPENAI_API_KEY}".into());
        s.env.insert("LOG_LEVEL".into(), "debug".into());
        s.env.insert("DB_PASSWORD".into(), String::new());
        s.headers.insert("Authorization".into(), "Bearer x".into());
        let names: Vec<(String, String)> = plaintext_secrets(&s)
            .into_iter()
            .map(|f| (f.kind, f.name))
            .collect();
        assert_eq!(
            names,
            [
                ("env".to_owned(), "GITHUB_PERSONAL_ACCESS_TOKEN".to_owned()),
                ("header".to_owned(), "Authorization".to_owned())
            ]
        );
        assert!(is_secret_name("x-api-key"));
        assert!(!is_secret_name("MONKEY_MODE"));
        assert!(!is_secret_name("PATH"));
    }
}
