//! The API key and agent tokens: `X-API-Key: <key>`, `Authorization: Bearer <key>` or
//! `?apikey=<key>`.
//!
//! An agent token (`mcp_agt_…`) is checked by the application's [`TokenService`] and the
//! [`Authenticated`] agent is put in the request's extensions, where the MCP handlers and
//! the REST caller extractor take the caller from; what it may reach is the admission
//! rule's business. Where tokens are not accepted, one is refused, never taken for the key.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mcpproxy_application::gates::Gate;
use mcpproxy_application::ports::ConfigStore;
use mcpproxy_application::tokens::{Authenticated, TokenRefusal, TokenService};
use mcpproxy_domain::Config;
use mcpproxy_domain::token::is_agent_token;

/// When a key is needed, and which key.
#[derive(Clone)]
pub struct KeyPolicy {
    pub config: Arc<dyn ConfigStore>,
    /// Whether the routes behind this layer need the key under `config`.
    pub required: fn(&Config) -> bool,
    /// Which requests an agent token may make here; `None`: tokens are refused.
    pub tokens: Option<(Arc<TokenService>, TokenRoutes)>,
}

/// What an agent token may reach behind a [`KeyPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRoutes {
    /// The MCP endpoints: everything (the admission rule limits what it sees and calls).
    Mcp,
    /// The REST API: reads only, and not the secrets, the config or the tokens (an agent
    /// never administers; the gates refuse it too, this keeps it off the admin pages).
    RestReads,
}

impl TokenRoutes {
    fn allows(self, method: &axum::http::Method, path: &str) -> bool {
        match self {
            Self::Mcp => true,
            Self::RestReads => {
                let admin = ["/api/v1/secrets", "/api/v1/config", "/api/v1/tokens"]
                    .iter()
                    .any(|p| path == *p || path.starts_with(&format!("{p}/")));
                (method == axum::http::Method::GET || method == axum::http::Method::HEAD) && !admin
            }
        }
    }
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

/// Refuses requests without the right key, with 401 and the API's error envelope; lets an
/// agent token through where [`KeyPolicy::tokens`] says, with the agent in the extensions.
pub async fn require_key(
    State(policy): State<KeyPolicy>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = policy.config.current();
    let presented = presented_key(request.headers(), request.uri().query()).map(str::to_owned);
    if let Some(token) = presented.as_deref().filter(|k| is_agent_token(k)) {
        let Some((tokens, routes)) = &policy.tokens else {
            return crate::api::envelope::ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "agent tokens are not accepted here; use the API key",
            )
            .into_response();
        };
        let agent = match tokens.authenticate(token).await {
            Ok(agent) => agent,
            Err(refusal) => return refused(&refusal),
        };
        if !routes.allows(request.method(), request.uri().path()) {
            return crate::api::envelope::ApiError::gate(Gate::AdminOnly).into_response();
        }
        request.extensions_mut().insert::<Authenticated>(agent);
        return next.run(request).await;
    }
    if !(policy.required)(&config) {
        return next.run(request).await;
    }
    let ok = presented
        .as_deref()
        .is_some_and(|k| mcpproxy_domain::secret::key_matches(k, &config.api_key));
    if ok {
        return next.run(request).await;
    }
    crate::api::envelope::unauthorized()
}

fn refused(refusal: &TokenRefusal) -> Response {
    let status = match refusal {
        TokenRefusal::Unavailable(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
        _ => axum::http::StatusCode::UNAUTHORIZED,
    };
    crate::api::envelope::ApiError::new(status, refusal.to_string()).into_response()
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
    }

    #[test]
    fn tokens_read_the_rest_api_but_never_its_admin_pages() {
        use axum::http::Method;
        let rest = TokenRoutes::RestReads;
        assert!(rest.allows(&Method::GET, "/api/v1/servers"));
        assert!(rest.allows(&Method::GET, "/api/v1/tools"));
        assert!(!rest.allows(&Method::POST, "/api/v1/servers/x/restart"));
        assert!(!rest.allows(&Method::DELETE, "/api/v1/servers/x"));
        for admin in ["/api/v1/tokens", "/api/v1/secrets/A", "/api/v1/config"] {
            assert!(!rest.allows(&Method::GET, admin), "{admin}");
        }
        assert!(rest.allows(&Method::GET, "/api/v1/configs-are-not-config"));
        assert!(TokenRoutes::Mcp.allows(&Method::POST, "/mcp"));
    }
}
