//! Secret references in config values: `${env:NAME}` (and `${keyring:NAME}`, resolved by
//! whoever has a keyring). The config file keeps the reference; it is expanded only where the
//! value is used, so a secret never gets written back into the file.

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
    #[error("${{{prefix}:{name}}} is not set; set it before starting mcpproxy or remove the reference", prefix = kind.prefix())]
    Missing { kind: SecretSource, name: String },
    #[error("unterminated secret reference in {0:?}; references look like ${{env:NAME}}")]
    Unterminated(String),
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
    fn detects_references() {
        assert!(has_reference("a ${env:X}"));
        assert!(has_reference("${keyring:gh}"));
        assert!(!has_reference("${X}"));
    }
}
