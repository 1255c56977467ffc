//! The HTTP adapter: the REST API (`/api/v1`, with its generated OpenAPI document and
//! interactive docs at `/swagger/`), the live event stream (`/events`), the health endpoints,
//! the API key check, and the unix socket that serves the same routes without a key.
#![forbid(unsafe_code)]

pub mod api;
mod auth;
mod events;
mod health;
mod serve;
mod socket;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use utoipa_swagger_ui::SwaggerUi;

pub use api::{Api, Endpoints, Replica, openapi_json};
pub use auth::{KeyPolicy, TokenRoutes, presented_key, require_key};
pub use health::{Check, Readiness, health_routes};
pub use serve::{OVERFLOW, ServeLimits, serve};
pub use socket::SameUserListener;

/// The management routes — `/api/v1` and `/events` — behind the API key when `key` is given
/// (TCP), open without (the unix socket). The request id is given first, so that a refusal
/// for a missing key carries one too.
pub fn management_routes(api: Arc<Api>, key: Option<KeyPolicy>) -> Router {
    let (rest, _) = api::routes().split_for_parts();
    let mut routes = Router::new()
        .nest("/api/v1", rest)
        .route("/events", get(events::events))
        .with_state(api);
    if let Some(policy) = key {
        routes = routes.layer(axum::middleware::from_fn_with_state(policy, require_key));
    }
    routes.layer(axum::middleware::from_fn(api::envelope::request_id))
}

/// `/oauth/callback`: where an authorization server sends the browser back after a login.
/// Open (no key): a browser redirect cannot carry one, and it only completes a login under
/// way, named by its unguessable `state`.
pub fn oauth_routes(api: Arc<Api>) -> Router {
    Router::new()
        .route("/oauth/callback", get(api::auth::callback))
        .with_state(api)
}

/// The interactive API docs at `/swagger/` and the document at `/openapi.json`. They hold no
/// secrets and stay open; the calls made from them need the key like any other.
pub fn docs_routes() -> Router {
    let (_, doc) = api::routes().split_for_parts();
    Router::new().merge(SwaggerUi::new("/swagger").url("/openapi.json", doc))
}
