//! The HTTP adapter: the axum routes people, scripts and probes use — for now the health
//! endpoints (`/healthz`, `/livez`, `/readyz`, open so supervisors can probe the proxy) — and
//! the API key check other routes are put behind.
#![forbid(unsafe_code)]

mod auth;
mod health;

pub use auth::{KeyPolicy, presented_key, require_key};
pub use health::{Check, Readiness, health_routes};
