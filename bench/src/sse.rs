//! The legacy HTTP+SSE transport of MCP (protocol 2024-11-05), for peers that serve only
//! it (mcp-hub): each session holds a `GET` event stream whose first `endpoint` event
//! names the URL to `POST` messages to; every answer arrives on the stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot};

use crate::load::{Load, drive, http_client, initialize};
use crate::stats::Stats;

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// How long one answer may take before it counts as lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

struct Session {
    http: reqwest::Client,
    post_url: String,
    headers: Vec<(String, String)>,
    waiting: Waiting,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the stream ends the session on the server.
        self.reader.abort();
    }
}

/// Splits complete SSE events off the front of `buffer`: (event name, data) pairs.
fn events(buffer: &mut String) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let event: String = buffer.drain(..end + 2).collect();
        let mut name = "message".to_owned();
        let mut data = Vec::new();
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                v.trim().clone_into(&mut name);
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        out.push((name, data.join("\n")));
    }
    out
}

impl Session {
    async fn open(
        http: reqwest::Client,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<Self, String> {
        let mut request = http.get(url).header("accept", "text/event-stream");
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let mut response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let base = response.url().clone();
        let waiting: Waiting = Arc::default();
        let (endpoint_tx, endpoint_rx) = oneshot::channel::<String>();
        let reader = {
            let waiting = waiting.clone();
            tokio::spawn(async move {
                let mut endpoint_tx = Some(endpoint_tx);
                let mut buffer = String::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                    for (name, data) in events(&mut buffer) {
                        if name == "endpoint" {
                            if let Some(tx) = endpoint_tx.take() {
                                let _ = tx.send(data);
                            }
                        } else if let Ok(message) = serde_json::from_str::<Value>(&data)
                            && let Some(id) = message["id"].as_u64()
                            && let Some(reply) = waiting.lock().await.remove(&id)
                        {
                            let _ = reply.send(message);
                        }
                    }
                }
            })
        };
        let endpoint = tokio::time::timeout(ANSWER_TIMEOUT, endpoint_rx)
            .await
            .map_err(|_| format!("GET {url}: no endpoint event"))?
            .map_err(|_| format!("GET {url}: the stream ended before its endpoint event"))?;
        let post_url = base
            .join(endpoint.trim())
            .map_err(|e| format!("endpoint {endpoint}: {e}"))?
            .to_string();
        let session = Self {
            http,
            post_url,
            headers: headers.to_vec(),
            waiting,
            reader,
        };
        session.ask(initialize(0), 0).await?;
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(session)
    }

    async fn post(&self, body: &Value) -> Result<(), String> {
        let mut request = self.http.post(&self.post_url).json(body);
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "POST {}: HTTP {}",
                self.post_url,
                response.status()
            ));
        }
        Ok(())
    }

    async fn ask(&self, message: Value, id: u64) -> Result<Value, String> {
        let (reply, answer) = oneshot::channel();
        self.waiting.lock().await.insert(id, reply);
        self.post(&message).await?;
        tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .map_err(|_| format!("no answer to {id} within {ANSWER_TIMEOUT:?}"))?
            .map_err(|_| "the event stream closed".to_owned())
    }
}

/// Runs `load` over legacy SSE sessions at `url` (the `GET` endpoint).
pub async fn run(url: &str, headers: &[(String, String)], load: &Load) -> Result<Stats, String> {
    let client = http_client(load)?;
    let mut sessions = Vec::new();
    for _ in 0..load.concurrency {
        sessions.push(Session::open(client.clone(), url, headers).await?);
    }
    drive(
        sessions,
        load,
        |session: Arc<Session>, message, id| async move { session.ask(message, id).await },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_and_partial_ones_kept() {
        let mut buffer =
            "event: endpoint\ndata: /messages?sessionId=1\n\nevent: message\ndata: {\"id\":1}\n\nevent: mess"
                .to_owned();
        let got = events(&mut buffer);
        assert_eq!(
            got,
            vec![
                ("endpoint".to_owned(), "/messages?sessionId=1".to_owned()),
                ("message".to_owned(), "{\"id\":1}".to_owned())
            ]
        );
        assert_eq!(buffer, "event: mess");
    }
}
