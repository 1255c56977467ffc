//! The HTTP adapter: the axum routes people, scripts and probes use. For now the health
//! endpoints (`/healthz`, `/livez`, `/readyz`), which answer without authentication so that
//! supervisors and load balancers can probe the proxy.
#![forbid(unsafe_code)]

mod health;

pub use health::{Check, Readiness, health_routes};
