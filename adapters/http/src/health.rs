//! Liveness and readiness.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

/// One readiness check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What `/readyz` asks: is every part the proxy needs to serve open?
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn checks(&self) -> Vec<Check>;
}

async fn alive() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(readiness): State<Arc<dyn Readiness>>) -> (StatusCode, Json<Value>) {
    let checks = readiness.checks().await;
    let ok = checks.iter().all(|c| c.ok);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ok { "ready" } else { "not_ready" }, "checks": checks});
    (status, Json(body))
}

/// The Go MCPProxy's readiness body, which its tray and scripts read: `{"ready": bool}`.
async fn ready_go(State(readiness): State<Arc<dyn Readiness>>) -> (StatusCode, Json<Value>) {
    let ok = readiness.checks().await.iter().all(|c| c.ok);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({"ready": ok})))
}

/// `/healthz`, `/livez` (and Go's `/health`) answer while the process serves; `/readyz`
/// answers 200 only when every readiness check passes, else 503 with the failing checks;
/// Go's `/ready` answers the same with Go's body.
pub fn health_routes(readiness: Arc<dyn Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(alive))
        .route("/livez", get(alive))
        .route("/health", get(alive))
        .route("/readyz", get(ready))
        .route("/ready", get(ready_go))
        .with_state(readiness)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Fixed(bool);

    #[async_trait]
    impl Readiness for Fixed {
        async fn checks(&self) -> Vec<Check> {
            vec![Check {
                name: "storage",
                ok: self.0,
                detail: (!self.0).then(|| "database closed".to_owned()),
            }]
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, Value) {
        let resp = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn liveness_is_always_ok() {
        let r = health_routes(Arc::new(Fixed(false)));
        assert_eq!(
            get(r.clone(), "/healthz").await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
        assert_eq!(get(r, "/livez").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn readiness_follows_the_checks() {
        let (status, body) = get(health_routes(Arc::new(Fixed(true))), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
        let (status, body) = get(health_routes(Arc::new(Fixed(false))), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"][0]["detail"], "database closed");
    }

    #[tokio::test]
    async fn the_go_aliases_answer_with_gos_bodies() {
        let up = health_routes(Arc::new(Fixed(true)));
        assert_eq!(
            get(up.clone(), "/health").await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
        assert_eq!(
            get(up, "/ready").await,
            (StatusCode::OK, json!({"ready": true}))
        );
        assert_eq!(
            get(health_routes(Arc::new(Fixed(false))), "/ready").await,
            (StatusCode::SERVICE_UNAVAILABLE, json!({"ready": false}))
        );
    }
}
