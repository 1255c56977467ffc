//! The API key: `X-API-Key: <key>`, `Authorization: Bearer <key>` or `?apikey=<key>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use mcpproxy_application::ports::ConfigStore;
use mcpproxy_domain::Config;

/// When a key is needed, and which key.
#[derive(Clone)]
pub struct KeyPolicy {
    pub config: Arc<dyn ConfigStore>,
    /// Whether the routes behind this layer need the key under `config`.
    pub required: fn(&Config) -> bool,
}

impl std::fmt::Debug for KeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPolicy").finish_non_exhaustive()
    }
}

/// The key a request presents, if any.
pub fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k);
    }
    // The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` alike.
    if let Some(k) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
    {
        return Some(k);
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("apikey="))
}

/// Compares without stopping at the first difference, so timing does not leak the key.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Refuses requests without the right key, with 401 and the API's error envelope.
pub async fn require_key(
    State(policy): State<KeyPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let config = policy.config.current();
    if !(policy.required)(&config) {
        return next.run(request).await;
    }
    let ok = presented_key(request.headers(), request.uri().query())
        .is_some_and(|k| !config.api_key.is_empty() && same(k, &config.api_key));
    if ok {
        return next.run(request).await;
    }
    crate::api::envelope::unauthorized()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_header_bearer_or_query() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h, Some("a=1&apikey=k1")), Some("k1"));
        h.insert("authorization", "Bearer k2".parse().unwrap());
        assert_eq!(presented_key(&h, None), Some("k2"));
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            h.insert("authorization", format!("{scheme}  k2 ").parse().unwrap());
            assert_eq!(presented_key(&h, None), Some("k2"), "{scheme}");
        }
        h.insert("authorization", "Basic k2".parse().unwrap());
        assert_eq!(presented_key(&h, None), None);
        h.insert("authorization", "Bearer k2".parse().unwrap());
        h.insert("x-api-key", "k3".parse().unwrap());
        assert_eq!(presented_key(&h, None), Some("k3"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
