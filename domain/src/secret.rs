//! Secret references in config values: `${env:NAME}` (the proxy's environment) and
//! `${keyring:NAME}` (the OS keyring, service `mcpproxy`). The config file keeps the
//! reference; it is expanded only where the value is used (when a server connects), so a
//! secret never gets written back into the file. Also: what a secret may be called, and which
//! plaintext values in a config look like secrets that belong in the keyring.

use std::collections::BTreeSet;

use crate::config::ServerConfig;

/// The keyring service every secret is stored under, as the Go MCPProxy does.
pub const KEYRING_SERVICE: &str = "mcpproxy";

/// Where a reference points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    Keyring,
}

impl SecretSource {
    fn prefix(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Keyring => "keyring",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{}", missing_message(*kind, name))]
    Missing { kind: SecretSource, name: String },
    /// The keyring could not be asked at all (no Secret Service running, locked, …).
    #[error("${{keyring:{name}}} cannot be read: {reason}")]
    Unavailable { name: String, reason: String },
    #[error("unterminated secret reference in {0:?}; references look like ${{env:NAME}}")]
    Unterminated(String),
}

fn missing_message(kind: SecretSource, name: &str) -> String {
    match kind {
        SecretSource::Env => format!(
            "${{env:{name}}} is not set; set it before starting mcpproxy or remove the reference"
        ),
        SecretSource::Keyring => format!(
            "secret {name:?} (${{keyring:{name}}}) is not in the keyring; set it with `mcpproxy secrets set {name}`"
        ),
    }
}

/// The reference to a keyring secret, as written in the config.
pub fn keyring_reference(name: &str) -> String {
    format!("${{keyring:{name}}}")
}

/// Why a name cannot name a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a secret name: use 1 to 128 letters, digits, '.', '_' or '-' (like github-token)"
)]
pub struct SecretNameError(pub String);

/// A secret name: letters, digits, `.`, `_`, `-`; it must fit inside `${keyring:…}`.
pub fn check_name(name: &str) -> Result<(), SecretNameError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SecretNameError(name.to_owned()))
    }
}

/// Every complete reference in `value`, in order.
pub fn references(value: &str) -> Vec<(SecretSource, &str)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let source = [SecretSource::Env, SecretSource::Keyring]
            .into_iter()
            .find(|s| after.starts_with(s.prefix()) && after[s.prefix().len()..].starts_with(':'));
        let Some(source) = source else {
            rest = after;
            continue;
        };
        let body = &after[source.prefix().len() + 1..];
        let Some(end) = body.find('}') else {
            break;
        };
        found.push((source, &body[..end]));
        rest = &body[end + 1..];
    }
    found
}

/// The values of a server entry that may hold references: env, headers, args and the URL.
fn server_values(server: &ServerConfig) -> impl Iterator<Item = &str> {
    server
        .env
        .values()
        .chain(server.headers.values())
        .chain(server.args.iter())
        .map(String::as_str)
        .chain(std::iter::once(server.url.as_str()))
}

/// The keyring secrets a server's entry refers to.
pub fn keyring_names(server: &ServerConfig) -> BTreeSet<String> {
    server_values(server)
        .flat_map(references)
        .filter(|(source, _)| *source == SecretSource::Keyring)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// Whether `presented` is `expected` (the API key), compared without stopping at the first
/// difference so that timing does not leak the key. An empty key matches nothing.
pub fn key_matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty()
        && presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// True when the value holds at least one `${env:…}` or `${keyring:…}` reference.
pub fn has_reference(value: &str) -> bool {
    value.contains("${env:") || value.contains("${keyring:")
}

/// Replaces every reference with what `lookup` finds for it. Text that is not a reference,
/// including other `${...}` forms, is left as it is.
pub fn expand(
    value: &str,
    mut lookup: impl FnMut(SecretSource, &str) -> Option<String>,
) -> Result<String, SecretError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let source = [SecretSource::Env, SecretSource::Keyring]
            .into_iter()
            .find(|s| after.starts_with(s.prefix()) && after[s.prefix().len()..].starts_with(':'));
        let Some(source) = source else {
            out.push_str("${");
            rest = after;
            continue;
        };
        let body = &after[source.prefix().len() + 1..];
        let end = body
            .find('}')
            .ok_or_else(|| SecretError::Unterminated(value.to_owned()))?;
        let name = &body[..end];
        let resolved = lookup(source, name).ok_or_else(|| SecretError::Missing {
            kind: source,
            name: name.to_owned(),
        })?;
        out.push_str(&resolved);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_themselves() {
        assert!(key_matches("abc", "abc"));
        assert!(!key_matches("abd", "abc") && !key_matches("ab", "abc"));
        assert!(!key_matches("", ""), "an empty key opens nothing");
    }

    fn env(_: SecretSource, name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_in_place() {
        assert_eq!(expand("Bearer ${env:TOKEN}", env).unwrap(), "Bearer s3cret");
        assert_eq!(
            expand("${env:TOKEN}-${env:EMPTY}-${env:TOKEN}", env).unwrap(),
            "s3cret--s3cret"
        );
        assert_eq!(expand("plain", env).unwrap(), "plain");
        assert_eq!(expand("${HOME}/x", env).unwrap(), "${HOME}/x");
    }

    #[test]
    fn missing_variables_are_named() {
        let err = expand("${env:NOPE}", env).unwrap_err();
        assert_eq!(
            err,
            SecretError::Missing {
                kind: SecretSource::Env,
                name: "NOPE".into()
            }
        );
        assert!(err.to_string().contains("${env:NOPE} is not set"), "{err}");
    }

    #[test]
    fn unterminated_is_an_error() {
        assert!(matches!(
            expand("${env:TOKEN", env),
            Err(SecretError::Unterminated(_))
        ));
    }

    #[test]
    fn keyring_misses_name_the_command() {
        let err = expand("${keyring:gh-token}", |_, _| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret \"gh-token\" (${keyring:gh-token}) is not in the keyring; set it with `mcpproxy secrets set gh-token`"
        );
    }

    #[test]
    fn references_are_listed_in_order() {
        assert_eq!(
            references("Bearer ${keyring:a}-${env:B}${x}${keyring:c"),
            vec![(SecretSource::Keyring, "a"), (SecretSource::Env, "B")]
        );
        let mut s = ServerConfig::new(crate::ServerName::parse("s").unwrap());
        s.env.insert("T".into(), "${keyring:tok}".into());
        s.headers.insert("A".into(), "Bearer ${keyring:hdr}".into());
        s.args.push("--key=${keyring:arg}".into());
        let names: Vec<String> = keyring_names(&s).into_iter().collect();
        assert_eq!(names, ["arg", "hdr", "tok"]);
    }

    #[test]
    fn names_fit_in_a_reference() {
        for ok in ["github-token", "a", "my_api.key-2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a}b", "with space", "x/y", &"n".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detects_references() {
        assert!(has_reference("a ${env:X}"));
        assert!(has_reference("${keyring:gh}"));
        assert!(!has_reference("${X}"));
    }
}
