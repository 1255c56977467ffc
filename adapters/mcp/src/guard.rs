//! What stands in front of every MCP endpoint, before rmcp sees a request:
//!
//! - a new session is admitted only within `mcp_max_sessions` ([`SessionBook`]), else 503
//!   with a JSON-RPC error saying so;
//! - a body that is not JSON gets 400 with a JSON-RPC parse error (-32700), and JSON that
//!   is not a JSON-RPC message gets 400 with an invalid-request error (-32600) — rmcp alone
//!   answers both with a 415 in plain text;
//! - DELETE of a session that does not exist gets 404, as for any other request with an
//!   unknown `Mcp-Session-Id` (rmcp alone answers 202);
//! - each request is logged (at debug) by its shape and size only: method (cut), session,
//!   bytes — never arguments, headers or secrets.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::sessions::SessionBook;

/// rmcp's own limit on a POST body, kept: bigger bodies get 413.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The longest method name written to the log.
const LOGGED_METHOD: usize = 64;

const SESSION_HEADER: &str = "mcp-session-id";

/// A JSON-RPC error as an HTTP answer.
fn rpc_error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// `s` cut to `max` characters, with how long it was.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()),
        None => s.to_owned(),
    }
}

/// The method and id of a JSON-RPC body, read without keeping its params.
fn peek(body: &[u8]) -> Option<(String, Value)> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        id: Value,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    Some((head.method.unwrap_or_default(), head.id))
}

/// Why a body rmcp refused is not a JSON-RPC message: not JSON at all, or the wrong shape.
fn not_a_message(body: &[u8]) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32700,
            format!("Parse error: the body is not JSON ({e})"),
        ),
        Ok(value) => {
            let id = value.get("id").cloned().unwrap_or(Value::Null);
            rpc_error(
                StatusCode::BAD_REQUEST,
                id,
                -32600,
                "Invalid Request: the body is JSON but not a JSON-RPC 2.0 request, notification or response ({\"jsonrpc\": \"2.0\", \"method\": …, \"id\": …})".to_owned(),
            )
        }
    }
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        })
}

pub async fn guard(State(book): State<Arc<SessionBook>>, request: Request, next: Next) -> Response {
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if request.method() == Method::DELETE {
        if let Some(id) = &session
            && !book.contains(id)
        {
            return rpc_error(
                StatusCode::NOT_FOUND,
                Value::Null,
                -32600,
                format!(
                    "no session {}: it ended or never existed",
                    cut(id, LOGGED_METHOD)
                ),
            );
        }
        return next.run(request).await;
    }
    if request.method() != Method::POST || !is_json(&request) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                -32600,
                format!("the request body is over {MAX_BODY} bytes"),
            );
        }
    };
    // Only new sessions and the debug log need the method; other requests skip the look.
    let head = if session.is_none() || tracing::enabled!(tracing::Level::DEBUG) {
        peek(&bytes)
    } else {
        None
    };
    if let Some((method, _)) = &head {
        tracing::debug!(
            method = %cut(method, LOGGED_METHOD),
            session = session.as_deref().map(|s| cut(s, LOGGED_METHOD)).unwrap_or_default(),
            bytes = bytes.len(),
            path = %parts.uri.path(),
            "mcp request"
        );
        if session.is_none()
            && method == "initialize"
            && let Err(full) = book.make_room().await
        {
            let id = head.map(|(_, id)| id).unwrap_or(Value::Null);
            let mut response = rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                id,
                -32000,
                full.to_string(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return response;
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    // rmcp answers a body it cannot read as a message with 415 (the content type was
    // right, so the body is what is wrong).
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return not_a_message(&bytes);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_short_text_and_says_how_long_the_rest_was() {
        assert_eq!(cut("tools/call", 64), "tools/call");
        let long = "m".repeat(1_000_000);
        let c = cut(&long, 64);
        assert!(c.len() < 100 && c.ends_with("(1000000 bytes)"), "{c}");
    }

    #[test]
    fn bad_bodies_get_json_rpc_errors() {
        let r = not_a_message(b"{not json");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = not_a_message(b"{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": 5}");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            peek(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{}}"),
            Some(("tools/list".to_owned(), json!(7)))
        );
    }
}
