//! `/auth`: where each remote server's login stands; and `/oauth/callback`, where the
//! authorization server sends the browser back (outside `/api/v1`, open: it is a browser
//! redirect, and only a login under way — its `state` — is completed by it).

use std::sync::Arc;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use mcpproxy_application::ServerAuth;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::{ApiResult, Envelope, ErrorEnvelope, ok};
use super::{Api, State};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthList {
    pub servers: Vec<ServerAuth>,
}

/// The login state of every remote server: logged in, token expiry and scopes, a login
/// under way (its URL), the last refresh or login error.
#[utoipa::path(get, operation_id = "auth_status", path = "/auth", tag = "servers",
    responses((status = 200, description = "Done", body = Envelope<AuthList>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn status(state: State) -> ApiResult<AuthList> {
    Ok(ok(AuthList {
        servers: state.0.auth.status().await,
    }))
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcpproxy: {t}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    (status, Html(body)).into_response()
}

/// The end of a login: exchanges the code and reconnects the server.
pub async fn callback(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
    Query(answer): Query<Callback>,
) -> Response {
    if let Some(error) = answer.error {
        let detail = answer.error_description.unwrap_or_default();
        return page(
            StatusCode::BAD_REQUEST,
            "Login refused",
            &format!("The authorization server said {error}: {detail}. Start the login again."),
        );
    }
    let (Some(code), Some(state)) = (answer.code, answer.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not a login answer",
            "This page takes the authorization server's answer (code and state).",
        );
    };
    match api.auth.complete(&state, &code).await {
        Ok(server) => page(
            StatusCode::OK,
            "Logged in",
            &format!(
                "mcpproxy is logged in to {server} and connects to it now. You can close this window."
            ),
        ),
        Err(e) => page(StatusCode::BAD_REQUEST, "Login failed", &e.to_string()),
    }
}
