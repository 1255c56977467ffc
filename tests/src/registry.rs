//! A registry for tests on a loopback port: the recorded pages of `tests/fixtures/registry`
//! served the way the official registry serves them (`GET /v0.1/servers` with `cursor`
//! pages and a `search` on names) and Docker Hub serves its `mcp/` namespace (`GET
//! /v2/repositories/mcp/` with `page`). It counts the requests it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::fixture;

fn page(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("registry/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[derive(Debug)]
struct Pages {
    base: String,
    official: [Value; 2],
    docker: [Value; 2],
    requests: AtomicUsize,
}

/// The running registry; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FixtureRegistry {
    pub base: String,
    pages: Arc<Pages>,
}

impl FixtureRegistry {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let pages = Arc::new(Pages {
            base: base.clone(),
            official: [
                page("official-v0.1-page-1.json"),
                page("official-v0.1-page-2.json"),
            ],
            docker: [
                page("docker-hub-mcp-page-1.json"),
                page("docker-hub-mcp-page-2.json"),
            ],
            requests: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/v0.1/servers", axum::routing::get(official))
            .route("/v2/repositories/mcp/", axum::routing::get(docker))
            .with_state(pages.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, pages }
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.pages.requests.load(Ordering::SeqCst)
    }
}

type Params = Query<std::collections::HashMap<String, String>>;

async fn official(State(p): State<Arc<Pages>>, Query(q): Params) -> axum::Json<Value> {
    p.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(search) = q.get("search").filter(|s| !s.is_empty()) {
        // The registry searches names across every page and answers in one.
        let found: Vec<Value> = p
            .official
            .iter()
            .flat_map(|page| page["servers"].as_array().unwrap().clone())
            .filter(|s| {
                s["server"]["name"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains(&search.to_lowercase())
            })
            .collect();
        return axum::Json(json!({"servers": found, "metadata": {"count": found.len()}}));
    }
    let first = &p.official[0];
    let page = match q.get("cursor") {
        Some(c) if Some(c.as_str()) == first["metadata"]["nextCursor"].as_str() => &p.official[1],
        _ => first,
    };
    axum::Json(page.clone())
}

async fn docker(State(p): State<Arc<Pages>>, Query(q): Params) -> axum::Json<Value> {
    p.requests.fetch_add(1, Ordering::SeqCst);
    let page = if q.get("page").map(String::as_str) == Some("2") {
        &p.docker[1]
    } else {
        &p.docker[0]
    };
    let text = page.to_string().replace("{base}", &p.base);
    axum::Json(serde_json::from_str(&text).unwrap())
}
