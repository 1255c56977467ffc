//! Finding and wiring servers and clients, against the real binary: registries and
//! `search_servers` (a local registry serving recorded pages of the official API and of
//! Docker Hub), import of other clients' configs (samples in their documented formats),
//! `connect`/`disconnect` against a fake home directory, and prompts (the built-ins, and a
//! changed upstream prompt held until approved). One test binary for all of it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

mod connect;
mod gates;
mod import;
mod prompts;
mod registry;

use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy};
use serde_json::Value;

pub const KEY: &str = "k";

/// A proxy over `config` (the API key set), and its REST client.
pub async fn start(config: &Value) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let mut config = config.clone();
    config["api_key"] = Value::String(KEY.to_owned());
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    (home, proxy, api)
}
