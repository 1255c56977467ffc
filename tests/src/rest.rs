//! A small client of the REST API for the tests: every answer comes back as status, the
//! `X-Request-Id` header and the JSON body, so a test can check the envelope itself.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub request_id: Option<String>,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// `data` of a success envelope; panics with the answer when it is not one.
    pub fn data(&self) -> Value {
        let body = self.json();
        assert!(
            self.status.is_success() && body["success"] == true,
            "expected success, got {} {}",
            self.status,
            self.text
        );
        body["data"].clone()
    }

    /// Asserts an error envelope with `status` whose message contains `words`; returns the
    /// message.
    pub fn refused(&self, status: u16, words: &str) -> String {
        let body = self.json();
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(body["success"], false, "{}", self.text);
        let error = body["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains(words),
            "the error should say {words:?}: {error}"
        );
        let id = body["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "an error carries its request id: {body}");
        assert_eq!(
            Some(id),
            self.request_id.as_deref(),
            "body and header agree"
        );
        error
    }
}

/// The API of one proxy, with or without a key.
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Rest {
    /// `base` is like `http://127.0.0.1:1234`.
    pub fn new(base: &str, key: Option<&str>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            key: key.map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `/api/v1<path>` with the key, if any.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .request(method, self.url(&format!("/api/v1{path}")));
        match &self.key {
            Some(k) => builder.header("X-API-Key", k),
            None => builder,
        }
    }

    /// A GET of `path` outside `/api/v1` (`/events`, `/healthz`) with the key, if any.
    pub fn http_get(&self, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.get(self.url(path));
        match &self.key {
            Some(k) => builder.header("X-API-Key", k),
            None => builder,
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let resp = builder.send().await.unwrap();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("x-request-id");
        let content_type = header("content-type").unwrap_or_default();
        let status = resp.status();
        Answer {
            status,
            request_id,
            content_type,
            text: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }
}

/// The checked-in OpenAPI document.
pub fn openapi_document() -> Value {
    let path = workspace_root().join("openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The Python of the test tools' virtualenv (`tests/python/requirements.txt`), which
/// `scripts/test` creates: `$MCPPROXY_TEST_VENV` or `~/.cache/mcpproxy-venv`.
pub fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("MCPPROXY_TEST_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/mcpproxy-venv"),
        PathBuf::from,
    );
    let bin = venv.join("bin").join(tool);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test, which installs the Python test tools, or \
         `python3 -m venv {v} && {v}/bin/pip install -r tests/python/requirements.txt`",
        bin.display(),
        v = venv.display()
    );
    bin
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub data: Value,
    pub retry: Option<u64>,
}

/// A reader of an SSE response, event by event.
#[allow(missing_debug_implementations)] // holds a byte stream, nothing to show
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl EventStream {
    /// Opens `/events` on `rest`; panics unless it answers 200 with `text/event-stream`.
    pub async fn open(rest: &Rest) -> Self {
        let resp = rest.http_get("/events").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Self {
            body: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<SseEvent> {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.body.next().await?.unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until one named `name` for which `matches` holds, at most
    /// [`crate::PATIENCE`]; returns it.
    pub async fn until(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> SseEvent {
        let wait = async {
            loop {
                let event = self.next().await.expect("the stream ended");
                if event.name == name && matches(&event.data) {
                    return event;
                }
            }
        };
        tokio::time::timeout(crate::PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("no {name} event came"))
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut name, mut data, mut retry) = (String::from("message"), String::new(), None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            v.trim().clone_into(&mut name);
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        } else if let Some(v) = line.strip_prefix("retry:") {
            retry = v.trim().parse().ok();
        }
    }
    if data.is_empty() && retry.is_none() {
        return None; // a comment or keep-alive
    }
    Some(SseEvent {
        name,
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
        retry,
    })
}
