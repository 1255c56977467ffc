//! Who may reach the MCP endpoints, as `Host` and `Origin` say, on a loopback listener: only
//! loopback names, plus the config's `trusted_hosts` (`MCPPROXY_TRUSTED_HOSTS`), read on
//! every request so an edit of the file takes effect at once. A web page that rebinds its
//! own name to 127.0.0.1 is refused; a reverse proxy named in `trusted_hosts` is let in;
//! `*` turns the check off.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use mcpproxy_application::ports::ConfigStore;

const LOOPBACK: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

/// What the check needs: whether the listener is on loopback, and the config in force.
#[derive(Clone)]
pub struct HostCheck {
    pub loopback: bool,
    pub config: Arc<dyn ConfigStore>,
}

impl std::fmt::Debug for HostCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCheck")
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

/// `host[:port]` → `host` (an IPv6 literal keeps its brackets off: `[::1]:80` → `::1`).
fn host_name(value: &str) -> &str {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match value.rsplit_once(':') {
        // One colon: a port. More: a bare IPv6 address.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => value,
    }
}

/// Whether `host` (from `Host` or an `Origin`) is loopback or one of `trusted`.
fn allowed(host: &str, trusted: &[String]) -> bool {
    let host = host_name(host);
    LOOPBACK
        .iter()
        .any(|l| host.eq_ignore_ascii_case(host_name(l)))
        || trusted
            .iter()
            .any(|t| host.eq_ignore_ascii_case(host_name(t)))
}

/// The host of an `Origin` value (`scheme://host[:port]`); `None` for `null` and the like.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn refused(what: &str, value: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": format!(
            "{what} {value:?} is not allowed on this loopback listener; add its host to \
             trusted_hosts (or MCPPROXY_TRUSTED_HOSTS) if a reverse proxy or a page you trust \
             uses that name"
        )},
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// Refuses with 403 a request whose `Host` or `Origin` is neither loopback nor trusted.
pub async fn check(State(check): State<HostCheck>, request: Request, next: Next) -> Response {
    if !check.loopback {
        return next.run(request).await;
    }
    let config = check.config.current();
    let trusted = &config.trusted_hosts;
    if trusted.iter().any(|h| h.trim() == "*") {
        return next.run(request).await;
    }
    let headers = request.headers();
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !allowed(host, trusted) {
            return refused("Host", host);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_host(origin).is_some_and(|h| allowed(h, trusted)) {
            return refused("Origin", origin);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_their_ports() {
        let trusted = vec!["mcp.example.com".to_owned()];
        for ok in [
            "localhost:8080",
            "127.0.0.1",
            "[::1]:9",
            "MCP.example.com:443",
        ] {
            assert!(allowed(ok, &trusted), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1.evil.example:80",
            "mcp.example.com.evil",
        ] {
            assert!(!allowed(bad, &trusted), "{bad}");
        }
    }

    #[test]
    fn origins_are_read_for_their_host() {
        assert_eq!(origin_host("http://127.0.0.1:3000"), Some("127.0.0.1:3000"));
        assert_eq!(origin_host("https://[::1]:1/x"), Some("[::1]:1"));
        assert_eq!(origin_host("null"), None);
    }
}
