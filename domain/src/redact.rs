//! Masking of secrets in what the proxy shows: env and header values, URL credentials.

use crate::secret::has_reference;

/// A secret value as people see it: `••••<last 2> (<N> chars)`. Secret references such as
/// `${env:TOKEN}` are labels, not secrets, and are shown as they are.
pub fn mask(value: &str) -> String {
    if has_reference(value) {
        return value.to_owned();
    }
    let n = value.chars().count();
    if n <= 4 {
        return format!("•••• ({n} chars)");
    }
    let tail: String = value.chars().skip(n - 2).collect();
    format!("••••{tail} ({n} chars)")
}

/// The URL without user info and with every query value masked.
pub fn url(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, raw),
    };
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match authority_and_path.find('/') {
        Some(i) => authority_and_path.split_at(i),
        None => (authority_and_path, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut out = String::new();
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    out.push_str(host);
    out.push_str(path);
    if let Some(q) = query {
        out.push('?');
        let masked: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None => pair.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_hint() {
        assert_eq!(mask("ghp_abcdef123456"), "••••56 (16 chars)");
        assert_eq!(mask("abc"), "•••• (3 chars)");
        assert_eq!(mask("${env:GITHUB_TOKEN}"), "${env:GITHUB_TOKEN}");
    }

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(
            url("https://user:pw@api.example.com/mcp?token=abc&x=1"),
            "https://api.example.com/mcp?token=***&x=***"
        );
        assert_eq!(url("http://h:8080/mcp"), "http://h:8080/mcp");
        assert_eq!(url("ftp://u:p@x"), "ftp://x");
    }
}
