//! A client for the legacy HTTP+SSE transport (MCP 2024-11-05): a long-lived `GET` stream
//! whose first `endpoint` event says where to `POST` messages; the answers come back on the
//! stream. rmcp 3 dropped this transport; servers that only speak it are still common.

use std::borrow::Cow;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::SseByteStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("GET {url} failed: {reason}")]
    Connect { url: String, reason: String },
    #[error("the server needs authorization (HTTP {status}); configure headers or oauth")]
    Unauthorized { status: u16 },
    #[error("the event stream ended before the server sent its `endpoint` event")]
    NoEndpoint,
    #[error("the `endpoint` event {0:?} is not a usable URL")]
    BadEndpoint(String),
    #[error("POST {url} failed: {reason}")]
    Post { url: String, reason: String },
}

/// The client side of one SSE session.
#[derive(Debug)]
pub struct SseClientTransport {
    http: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: JoinHandle<()>,
}

impl SseClientTransport {
    /// Opens the event stream at `url` and waits for the `endpoint` event.
    pub async fn connect(
        http: reqwest::Client,
        url: &str,
        headers: HeaderMap,
    ) -> Result<Self, SseError> {
        let base = Url::parse(url).map_err(|e| SseError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let response = http
            .get(base.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| SseError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(SseError::Unauthorized {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(SseError::Connect {
                url: url.to_owned(),
                reason: format!("HTTP {status}"),
            });
        }
        let mut events = SseByteStream::new(response.bytes_stream());
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    let data = event.data.unwrap_or_default();
                    break base
                        .join(data.trim())
                        .map_err(|_| SseError::BadEndpoint(data))?;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(SseError::Connect {
                        url: url.to_owned(),
                        reason: e.to_string(),
                    });
                }
                None => return Err(SseError::NoEndpoint),
            }
        };
        let (tx, incoming) = mpsc::channel(64);
        let reader = tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let Some(data) = event.data else { continue };
                match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring an SSE message that is not JSON-RPC")
                    }
                }
            }
            // Dropping the sender ends `receive`, which ends the session.
        });
        Ok(Self {
            http,
            endpoint,
            headers,
            incoming,
            reader,
        })
    }
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn name() -> Cow<'static, str> {
        "sse".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .json(&item);
        let url = self.endpoint.to_string();
        async move {
            let response = request.send().await.map_err(|e| SseError::Post {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SseError::Post {
                    url,
                    reason: format!("HTTP {}", response.status()),
                })
            }
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        Ok(())
    }
}
