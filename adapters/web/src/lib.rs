//! The web control panel at `/ui/`: a static client of the REST API (`/api/v1`) and the
//! event stream (`/events`), written in plain JavaScript and CSS, built into the binary by
//! cargo alone and served under content-hashed names. This crate owns the assets, the
//! security headers of the pages, and the sign-in: a page opened with `?apikey=` or through
//! the sign-in form gets the key in an `HttpOnly`, `SameSite=Strict` cookie and an address
//! without it; [`key_from_cookie`] lets the panel's own API requests present that cookie as
//! the key. The panel has no rules of its own: every action is a REST call, refused or
//! accepted by the application's use cases like any other.
#![forbid(unsafe_code)]

mod assets;
mod signin;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mcpproxy_application::ports::ConfigStore;

pub use assets::Assets;

/// The panel's pages may load only what the proxy itself serves: no inline script, no
/// third-party origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// How long a sign-in lasts in the browser. A new key (`status --reset-key`) ends it sooner.
const COOKIE_MAX_AGE_SECONDS: u32 = 30 * 24 * 3600;

/// What the panel needs: the config (for the key) and the port it is served on.
#[derive(Clone)]
pub struct Web {
    config: Arc<dyn ConfigStore>,
    cookie: Arc<str>,
    assets: Arc<Assets>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The panel of the proxy listening on `port`. Browsers keep cookies per host, not per
    /// port, so the cookie's name carries the port: two proxies on one machine do not sign
    /// each other out.
    pub fn new(config: Arc<dyn ConfigStore>, port: u16) -> Self {
        Self {
            config,
            cookie: format!("mcpproxy_key_{port}").into(),
            assets: Arc::new(Assets::build()),
        }
    }

    /// The name of the cookie that holds the key.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// `/` (to `/ui/`), `/ui/…` (the panel, or the sign-in form), the assets, sign-in and
    /// sign-out.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/ui/") }))
            .route("/ui", get(|| async { Redirect::to("/ui/") }))
            .route("/ui/", get(page))
            .route("/ui/assets/{file}", get(asset))
            .route("/ui/sign-in", post(sign_in))
            .route("/ui/sign-out", post(sign_out))
            .route("/ui/{*route}", get(page))
            .with_state(self.clone())
    }

    fn key_matches(&self, presented: &str) -> bool {
        mcpproxy_domain::secret::key_matches(presented, &self.config.current().api_key)
    }

    fn cookie_value<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == &*self.cookie)
            .map(|(_, value)| value)
    }

    fn set_cookie(&self, key: &str) -> HeaderValue {
        let cookie = format!(
            "{}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECONDS}",
            self.cookie
        );
        // The key was compared with the configured one, which is printable ASCII; a key that
        // is not would have failed that comparison or this one.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn clear_cookie(&self) -> HeaderValue {
        let cookie = format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            self.cookie
        );
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Percent-decoding of one query value (`+` is a space in forms).
fn decode(raw: &str) -> String {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in a query string or form body.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
}

/// The query without `apikey`, for the address the browser is sent on to.
fn without_key(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("apikey=") && *pair != "apikey")
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a request that comes with the cookie was made by the panel itself. Browsers say
/// where a request comes from in `Sec-Fetch-Site`, which no script can set; without it
/// (older browsers), a change must carry an `Origin` equal to this host. Another site on
/// this machine (same host, another port) counts as "same site" for `SameSite=Strict`, so
/// nothing less than the same origin will do. (`Origin` alone is not enough: with the
/// panel's `no-referrer` policy a form's `Origin` is `null`.)
fn from_this_origin(request: &Request) -> bool {
    let headers = request.headers();
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") => true,
        // Typed in the address bar or opened from a bookmark: reading only.
        Some("none") => safe,
        Some(_) => false,
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            safe || matches!((host, origin), (Some(host), Some(origin))
                if origin.strip_prefix("http://").or(origin.strip_prefix("https://")) == Some(host))
        }
    }
}

/// The headers of every page of the panel.
fn page_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    page_headers(&mut response);
    response
}

fn see_other(location: &str, cookie: HeaderValue) -> Response {
    let mut response = Redirect::to(location).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    page_headers(&mut response);
    response
}

/// A page of the panel: the app when the browser is signed in, else the sign-in form. A key
/// in the address (`?apikey=`) signs in and is taken out of the address at once.
async fn page(State(web): State<Web>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    if let Some(key) = param(&query, "apikey") {
        if web.key_matches(&key) {
            let rest = without_key(&query);
            let target = if rest.is_empty() {
                path
            } else {
                format!("{path}?{rest}")
            };
            return see_other(&target, web.set_cookie(&key));
        }
        let next = next_target(&path, &without_key(&query));
        let body = signin::page(
            &web.assets,
            &next,
            Some(
                "That link's API key is not this proxy's key (was it reset?). Sign in with the current one.",
            ),
        );
        return html(StatusCode::UNAUTHORIZED, body);
    }
    let signed_in = web
        .cookie_value(request.headers())
        .is_some_and(|k| web.key_matches(k));
    if signed_in {
        return html(StatusCode::OK, web.assets.index().to_owned());
    }
    let body = signin::page(&web.assets, &next_target(&path, &query), None);
    html(StatusCode::UNAUTHORIZED, body)
}

/// Where to go after signing in: a page of the panel, never another site.
fn next_target(path: &str, query: &str) -> String {
    if !path.starts_with("/ui/") || path.starts_with("//") {
        return "/ui/".to_owned();
    }
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The sign-in form posts here (`apikey`, `next`).
async fn sign_in(State(web): State<Web>, request: Request) -> Response {
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site");
    let body = axum::body::to_bytes(request.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let next = param(&body, "next")
        .filter(|n| n.starts_with("/ui/") && !n.starts_with("//"))
        .unwrap_or_else(|| "/ui/".to_owned());
    let key = param(&body, "apikey").unwrap_or_default();
    let key = key.trim();
    if cross_site {
        let body = signin::page(
            &web.assets,
            &next,
            Some("Sign in from this page, not from another site."),
        );
        return html(StatusCode::FORBIDDEN, body);
    }
    if key.is_empty() {
        let body = signin::page(&web.assets, &next, Some("Enter the API key."));
        return html(StatusCode::UNAUTHORIZED, body);
    }
    if !web.key_matches(key) {
        let body = signin::page(
            &web.assets,
            &next,
            Some("That is not this proxy's API key. Run mcpproxy status --show-key to see it."),
        );
        return html(StatusCode::UNAUTHORIZED, body);
    }
    see_other(&next, web.set_cookie(key))
}

/// Forgets the key in this browser.
async fn sign_out(State(web): State<Web>, request: Request) -> Response {
    if !from_this_origin(&request) {
        return html(
            StatusCode::FORBIDDEN,
            signin::page(&web.assets, "/ui/", Some("Sign out from the panel itself.")),
        );
    }
    see_other("/ui/", web.clear_cookie())
}

/// An asset by its content-hashed name: the same name always means the same bytes, so
/// browsers keep it for a year.
async fn asset(State(web): State<Web>, Path(file): Path<String>) -> Response {
    match web.assets.get(&file) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// For the routes behind the API key (`/api/v1`, `/events`): a request that presents no key
/// but carries the panel's cookie, made by the panel itself, presents the cookie's key. The
/// key check behind this layer then decides as for any other key.
pub async fn key_from_cookie(State(web): State<Web>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let presents_key = headers.contains_key("x-api-key")
        || headers.contains_key(header::AUTHORIZATION)
        || request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("apikey=")));
    if !presents_key
        && let Some(value) = web
            .cookie_value(headers)
            .and_then(|v| HeaderValue::from_str(v).ok())
        && from_this_origin(&request)
    {
        request.headers_mut().insert("x-api-key", value);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests;
