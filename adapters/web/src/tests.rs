//! The panel's routes on their own: sign-in, the cookie, headers, assets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mcpproxy_application::ports::MockConfigStore;
use mcpproxy_domain::Config;
use tower::ServiceExt;

use super::*;

const KEY: &str = "the-key";

fn web() -> Web {
    let mut store = MockConfigStore::new();
    store.expect_current().returning(|| {
        Arc::new(Config {
            api_key: KEY.to_owned(),
            ..Config::default()
        })
    });
    Web::new(Arc::new(store), 8123)
}

async fn send(web: &Web, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = web.routes().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_page_without_a_key_is_the_sign_in_form() {
    let (status, headers, body) = send(&web(), get("/ui/servers")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains("<form") && body.contains("name=\"apikey\""),
        "{body}"
    );
    assert!(
        body.contains("value=\"/ui/servers\""),
        "comes back to the page asked for"
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(!body.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn a_key_in_the_address_becomes_a_cookie_and_leaves_the_address() {
    let (status, headers, _) = send(&web(), get("/ui/tools?q=files&apikey=the-key")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/tools?q=files");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for part in [
        "mcpproxy_key_8123=the-key",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let (status, _, body) = send(&web(), get("/ui/tools?apikey=wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("not this proxy"), "{body}");
}

#[tokio::test]
async fn the_cookie_opens_the_app_and_its_assets_are_hashed() {
    let w = web();
    let request = Request::get("/ui/activity")
        .header(header::COOKIE, "other=1; mcpproxy_key_8123=the-key")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&w, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let js = w.assets.js.url();
    assert!(body.contains(&js) && body.contains(&w.assets.css.url()));
    let (status, headers, script) = send(&w, get(&js)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(script.contains("function h("));
    let (status, _, _) = send(&w, get("/ui/assets/app.000000000000.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signing_in_with_the_form() {
    let form = |body: &str| {
        Request::post("/ui/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, headers, _) = send(&web(), form("next=%2Fui%2Fsettings&apikey=the-key")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/settings");
    assert!(headers.contains_key(header::SET_COOKIE));
    let (status, headers, body) =
        send(&web(), form("next=https%3A%2F%2Fevil.example&apikey=nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.contains_key(header::SET_COOKIE));
    assert!(body.contains("That is not this proxy"), "{body}");
    assert!(
        body.contains("value=\"/ui/\""),
        "never sends the browser elsewhere"
    );
}

#[tokio::test]
async fn the_cookie_stands_for_the_key_only_for_the_panels_own_requests() {
    use axum::routing::any;
    let w = web();
    let echo = Router::new()
        .route(
            "/api/v1/x",
            any(|h: HeaderMap| async move {
                h.get("x-api-key")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            w.clone(),
            key_from_cookie,
        ));
    let call = |method: &str, extra: &[(&str, &str)]| {
        let mut b = Request::builder()
            .method(method)
            .uri("/api/v1/x")
            .header(header::HOST, "127.0.0.1:8123")
            .header(header::COOKIE, "mcpproxy_key_8123=the-key");
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    };
    let key = |req: Request<Body>| {
        let echo = echo.clone();
        async move {
            let r = echo.oneshot(req).await.unwrap();
            let b = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
            String::from_utf8_lossy(&b).into_owned()
        }
    };
    assert_eq!(
        key(call("GET", &[("sec-fetch-site", "same-origin")])).await,
        KEY
    );
    assert_eq!(
        key(call("POST", &[("origin", "http://127.0.0.1:8123")])).await,
        KEY
    );
    assert_eq!(
        key(call("POST", &[])).await,
        "",
        "a change needs its origin"
    );
    assert_eq!(
        key(call("POST", &[("origin", "http://127.0.0.1:3000")])).await,
        "",
        "another port is another origin"
    );
    assert_eq!(
        key(call("GET", &[("sec-fetch-site", "cross-site")])).await,
        ""
    );
    assert_eq!(
        key(call("GET", &[("x-api-key", "mine")])).await,
        "mine",
        "a key presented wins"
    );
}

#[tokio::test]
async fn the_root_leads_to_the_panel() {
    let (status, headers, _) = send(&web(), get("/")).await;
    assert!(status.is_redirection());
    assert_eq!(headers[header::LOCATION], "/ui/");
}

#[test]
fn query_values_are_decoded() {
    assert_eq!(
        param("a=1&apikey=k%2By+z", "apikey").as_deref(),
        Some("k+y z")
    );
    assert_eq!(param("apikey", "apikey").as_deref(), Some(""));
    assert_eq!(decode("%E2%9C%93%"), "✓%");
    assert_eq!(without_key("apikey=k&q=1&x"), "q=1&x");
}
