//! The tray as a client of the core's REST API and `/events`: over the unix socket (no key:
//! the socket is the user's own), else over TCP at the address in the core's lock file, with
//! the API key. The tray knows the core only through these answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::Method;
use serde_json::Value;
use sse_stream::SseByteStream;

/// How long a look for the core may take before it counts as not answering.
const PROBE: Duration = Duration::from_secs(2);
/// How long an action or a list may take.
const REQUEST: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach mcpproxy at {via}: {reason}")]
    Unreachable { via: String, reason: String },
    /// The core said no: its HTTP status and its reason.
    #[error("{message}")]
    Refused { status: u16, message: String },
    #[error("mcpproxy answered {status} with something else than its JSON envelope")]
    Invalid { status: u16 },
}

/// Where the core answers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    via: String,
}

impl Endpoint {
    pub fn socket(path: &Path) -> Result<Self, ApiError> {
        let via = format!("unix://{}", path.display());
        let http = reqwest::Client::builder()
            .unix_socket(path)
            .build()
            .map_err(|e| ApiError::Unreachable {
                via: via.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            // Not used on a socket, but HTTP needs a host.
            base: "http://localhost".to_owned(),
            key: None,
            via,
        })
    }

    /// `listen` as the core's lock file says it (`127.0.0.1:8080`, `:8080`, `0.0.0.0:8080`).
    pub fn tcp(listen: &str, key: &str) -> Result<Self, ApiError> {
        let base = format!("http://{}", reachable(listen));
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| ApiError::Unreachable {
                via: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            via: base.clone(),
            base,
            key: (!key.is_empty()).then(|| key.to_owned()),
        })
    }

    pub fn via(&self) -> &str {
        &self.via
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base))
            // Recorded as the REST API's (`api`) in the activity log.
            .header("X-MCPProxy-Source", "tray");
        match &self.key {
            Some(key) => builder.header("X-API-Key", key),
            None => builder,
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            via: self.via.clone(),
            reason: e.to_string(),
        }
    }

    /// Whether the core answers its status within [`PROBE`].
    pub async fn answers(&self) -> bool {
        matches!(
            self.request(Method::GET, "/api/v1/status").timeout(PROBE).send().await,
            Ok(r) if r.status().is_success()
        )
    }

    /// `/api/v1<path>`: the envelope's `data`, or the core's refusal.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .request(method, &format!("/api/v1{path}"))
            .timeout(REQUEST);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        let envelope: Value =
            serde_json::from_str(&text).map_err(|_| ApiError::Invalid { status })?;
        if envelope["success"] == true {
            return Ok(envelope["data"].clone());
        }
        Err(ApiError::Refused {
            status,
            message: envelope["error"]
                .as_str()
                .unwrap_or("mcpproxy refused without a reason")
                .to_owned(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Opens `/events`: a stream of `(name, payload)`; it ends when the connection does.
    pub async fn events(
        &self,
    ) -> Result<impl Stream<Item = Result<(String, Value), String>> + use<>, ApiError> {
        let response = self
            .request(Method::GET, "/events")
            .header("Accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(ApiError::Refused {
                status,
                message: format!("/events answered {status}"),
            });
        }
        Ok(
            SseByteStream::new(response.bytes_stream()).filter_map(|item| async move {
                match item {
                    Err(e) => Some(Err(e.to_string())),
                    Ok(sse) => {
                        let name = sse.event.unwrap_or_else(|| "message".to_owned());
                        let data = sse.data?;
                        let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                        let payload = value.get("payload").cloned().unwrap_or(value);
                        Some(Ok((name, payload)))
                    }
                }
            }),
        )
    }
}

/// `:8080` or `0.0.0.0:8080` (every interface) → `127.0.0.1:8080`, where this machine
/// reaches it.
pub fn reachable(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host.trim_matches(['[', ']']) {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "[::1]",
        _ => host,
    };
    format!("{host}:{port}")
}

/// Where to look for the core of one data directory.
#[derive(Debug, Clone)]
pub struct CoreSite {
    pub socket: PathBuf,
    /// The lock file that names the running core's address.
    pub lock_file: PathBuf,
    /// The API key for TCP (the config's, or `MCPPROXY_API_KEY`).
    pub api_key: String,
}

impl CoreSite {
    /// The core that answers for this data directory: its socket first, else TCP at the
    /// address its lock file names.
    pub async fn find(&self) -> Option<Endpoint> {
        if self.socket.exists()
            && let Ok(endpoint) = Endpoint::socket(&self.socket)
            && endpoint.answers().await
        {
            return Some(endpoint);
        }
        let listen = lock_holder_listen(&self.lock_file)?;
        let endpoint = Endpoint::tcp(&listen, &self.api_key).ok()?;
        endpoint.answers().await.then_some(endpoint)
    }
}

/// The address the core that holds `lock_file` listens on, when one holds it (a stale file
/// names a core that is gone).
fn lock_holder_listen(lock_file: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(lock_file).ok()?;
    if file.try_lock_shared().is_ok() {
        return None; // free: nobody holds it (our shared lock drops with `file`)
    }
    let mut content = String::new();
    file.read_to_string(&mut content).ok()?;
    lock_listen(&content)
}

/// The address in a lock file's `listen=` line; `cli` (a command editing the files) is none.
fn lock_listen(content: &str) -> Option<String> {
    content
        .lines()
        .find_map(|l| l.strip_prefix("listen="))
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "cli")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_is_reached_on_loopback() {
        assert_eq!(reachable(":8080"), "127.0.0.1:8080");
        assert_eq!(reachable("0.0.0.0:9"), "127.0.0.1:9");
        assert_eq!(reachable("[::]:9"), "[::1]:9");
        assert_eq!(reachable("127.0.0.1:9"), "127.0.0.1:9");
    }

    #[test]
    fn the_lock_file_names_the_address() {
        assert_eq!(
            lock_listen("pid=12\nlisten=127.0.0.1:8080\n").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(lock_listen("pid=12\nlisten=cli\n"), None);
        assert_eq!(lock_listen("pid=12\n"), None);
    }
}
