//! The tray as a client of the core's REST API and `/events`: over the unix socket (no key:
//! the socket is the user's own), else over TCP at the address in the core's lock file, with
//! the API key. The tray knows the core only through these answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// The core said no: its HTTP status, its reason, and the reason code of the rule or
    /// config gate that refused (`READ_ONLY_MODE`, …), shown the way the CLI shows it.
    #[error("{message}{}", code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default())]
    Refused {
        status: u16,
        message: String,
        code: Option<String>,
    },
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

    /// `address` is `host:port`, reachable from here; over HTTPS when `tls` is given.
    pub fn tcp(address: &str, key: &str, tls: Option<&TcpTls>) -> Result<Self, ApiError> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{address}");
        let unreachable = |reason: String| ApiError::Unreachable {
            via: base.clone(),
            reason,
        };
        let mut builder = reqwest::Client::builder();
        if let Some(tls) = tls {
            let read = |path: &Path| {
                std::fs::read(path)
                    .map_err(|e| unreachable(format!("cannot read {}: {e}", path.display())))
            };
            let ca = reqwest::Certificate::from_pem(&read(&tls.ca)?)
                .map_err(|e| unreachable(e.to_string()))?;
            builder = builder.tls_certs_only([ca]);
            if let Some((cert, key)) = &tls.identity {
                let mut pem = read(cert)?;
                pem.extend(read(key)?);
                let identity =
                    reqwest::Identity::from_pem(&pem).map_err(|e| unreachable(e.to_string()))?;
                builder = builder.identity(identity);
            }
        }
        let http = builder.build().map_err(|e| unreachable(e.to_string()))?;
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
            code: envelope["code"].as_str().map(str::to_owned),
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
                code: None,
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

/// Where the running core of this data directory listens on TCP, if one runs: the composition
/// root knows the core's lock file; the tray only asks.
pub type TcpLookup = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// How to reach a core that serves HTTPS (`tls.enabled`): its local CA, and the certificate
/// to present when it asks clients for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTls {
    pub ca: PathBuf,
    /// (certificate, key) when `tls.require_client_cert`.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Where to look for the core of one data directory.
#[derive(Clone)]
pub struct CoreSite {
    pub socket: PathBuf,
    /// The address (reachable from here) of the core that holds the data directory.
    pub tcp: TcpLookup,
    /// The API key for TCP (the config's, or `MCPPROXY_API_KEY`).
    pub api_key: String,
    /// Set when the core serves HTTPS.
    pub tls: Option<TcpTls>,
}

impl std::fmt::Debug for CoreSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreSite")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
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
        let address = (self.tcp)()?;
        let endpoint = Endpoint::tcp(&address, &self.api_key, self.tls.as_ref()).ok()?;
        endpoint.answers().await.then_some(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_core_is_reached_over_https_and_a_missing_ca_is_named() {
        let plain = Endpoint::tcp("127.0.0.1:1", "k", None).unwrap();
        assert_eq!(plain.via(), "http://127.0.0.1:1");
        let missing = TcpTls {
            ca: PathBuf::from("/nonexistent/certs/ca.pem"),
            identity: None,
        };
        let err = Endpoint::tcp("127.0.0.1:1", "k", Some(&missing)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("https://127.0.0.1:1"), "{text}");
        assert!(text.contains("/nonexistent/certs/ca.pem"), "{text}");
    }

    #[test]
    fn a_refusal_shows_its_reason_code_the_way_the_cli_does() {
        let gate = ApiError::Refused {
            status: 403,
            message: "the proxy is in read-only mode".into(),
            code: Some("READ_ONLY_MODE".into()),
        };
        assert_eq!(
            gate.to_string(),
            "the proxy is in read-only mode [READ_ONLY_MODE]"
        );
        let plain = ApiError::Refused {
            status: 404,
            message: "no server named x".into(),
            code: None,
        };
        assert_eq!(plain.to_string(), "no server named x");
    }
}
