//! The load generator: N concurrent MCP sessions, each one `initialize`, then `tools/call`
//! as fast as answers come, for a while. It speaks JSON-RPC itself — over streamable HTTP
//! (JSON or SSE answers) or over one stdio pipe shared by all sessions, as a proxy's
//! upstream connection is — so what it measures is the server, not a client library.
//! Every answer is checked: a JSON-RPC error, an `isError` result or a text without the
//! expected words counts as an error.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, oneshot};

use crate::stats::Stats;

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A streamable HTTP endpoint, with extra headers (an API key).
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A legacy HTTP+SSE endpoint (the `GET` URL), for servers without streamable HTTP.
    LegacySse {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A stdio server started with this command line.
    Stdio { command: Vec<String> },
}

/// What to call, how hard, for how long.
#[derive(Debug, Clone)]
pub struct Load {
    pub tool: String,
    pub arguments: Value,
    /// Words every answer's text must contain.
    pub expect: String,
    pub concurrency: usize,
    pub duration: Duration,
}

pub(crate) fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcp-load", "version": "1"}}})
}

pub(crate) fn call(load: &Load, id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": load.tool, "arguments": load.arguments}})
}

/// Whether `answer` is a good result of a call expecting `expect`.
pub fn good(answer: &Value, expect: &str) -> bool {
    let result = &answer["result"];
    if answer.get("error").is_some() || result["isError"] == true {
        return false;
    }
    let text = result["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    text.contains(expect)
}

/// The JSON-RPC message answering `id` in a streamable HTTP body (JSON, or SSE events).
pub fn answer_in(body: &str, id: u64) -> Option<Value> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).ok();
    }
    body.split("\n\n").find_map(|event| {
        let data: String = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        let message: Value = serde_json::from_str(&data).ok()?;
        (message["id"] == id).then_some(message)
    })
}

/// Runs `load` against `target`; the latencies of the good answers and the error count.
pub async fn run(target: &Target, load: &Load) -> Result<Stats, String> {
    match target {
        Target::Http { url, headers } => http(url, headers, load).await,
        Target::LegacySse { url, headers } => crate::sse::run(url, headers, load).await,
        Target::Stdio { command } => stdio(command, load).await,
    }
}

/// One worker per session until the load's time is up: each sends its calls one after
/// another through `ask` and checks every answer. Ids are unique across all workers (the
/// stdio sessions share one pipe).
pub(crate) async fn drive<S, F, Fut>(sessions: Vec<S>, load: &Load, ask: F) -> Result<Stats, String>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Value, String>> + Send,
{
    let next = Arc::new(AtomicU64::new(1));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut workers = Vec::new();
    for session in sessions {
        let session = Arc::new(session);
        let (load, next, errors, ask) = (load.clone(), next.clone(), errors.clone(), ask.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match ask(session.clone(), call(&load, id), id).await {
                    Ok(answer) if good(&answer, &load.expect) => latencies.push(sent.elapsed()),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.map_err(|e| e.to_string())?);
    }
    Ok(Stats::new(
        latencies,
        errors.load(Ordering::Relaxed),
        started.elapsed(),
    ))
}

struct Session {
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    id: Option<String>,
    version: String,
}

impl Session {
    async fn post(
        &self,
        body: &Value,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, String), String> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.version)
            .json(body);
        if let Some(id) = &self.id {
            request = request.header("mcp-session-id", id);
        }
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, headers, text))
    }

    async fn open(
        http: reqwest::Client,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<Self, String> {
        let mut session = Self {
            http,
            url: url.to_owned(),
            headers: headers.to_vec(),
            id: None,
            version: "2025-11-25".to_owned(),
        };
        let (status, head, body) = session.post(&initialize(0)).await?;
        if !status.is_success() {
            return Err(format!("initialize: HTTP {status}: {body}"));
        }
        let answer =
            answer_in(&body, 0).ok_or_else(|| format!("initialize: no answer in {body}"))?;
        if let Some(v) = answer["result"]["protocolVersion"].as_str() {
            v.clone_into(&mut session.version);
        }
        session.id = head
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        session.post(&note).await?;
        Ok(session)
    }
}

/// A full `tools/list` of an MCP endpoint, page after page over one session: how many
/// tools, in how many pages, and how long the whole listing took (the session's opening
/// not counted).
pub async fn list_all_tools(url: &str) -> Result<(usize, usize, Duration), String> {
    let session = Session::open(reqwest::Client::new(), url, &[]).await?;
    let started = Instant::now();
    let (mut tools, mut pages, mut cursor) = (0usize, 0usize, None::<String>);
    loop {
        pages += 1;
        let id = pages as u64;
        let params = cursor.map_or_else(|| json!({}), |c| json!({"cursor": c}));
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
        let (status, _, body) = session.post(&request).await?;
        if !status.is_success() {
            return Err(format!("tools/list: HTTP {status}"));
        }
        let answer = answer_in(&body, id).ok_or("tools/list: no answer")?;
        let result = &answer["result"];
        tools += result["tools"].as_array().map_or(0, Vec::len);
        cursor = result["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return Ok((tools, pages, started.elapsed()));
        }
    }
}

/// An HTTP client that keeps one connection per session alive.
pub(crate) fn http_client(load: &Load) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(load.concurrency.max(1) * 2)
        .build()
        .map_err(|e| e.to_string())
}

async fn http(url: &str, headers: &[(String, String)], load: &Load) -> Result<Stats, String> {
    let client = http_client(load)?;
    let mut sessions = Vec::new();
    for _ in 0..load.concurrency {
        sessions.push(Session::open(client.clone(), url, headers).await?);
    }
    drive(
        sessions,
        load,
        |session: Arc<Session>, message, id| async move {
            let (status, _, body) = session.post(&message).await?;
            if !status.is_success() {
                return Err(format!("HTTP {status}: {body}"));
            }
            answer_in(&body, id).ok_or_else(|| format!("no answer to {id} in {body}"))
        },
    )
    .await
}

/// Writes `message` as one line to a stdio server.
async fn send_line(
    stdin: &Mutex<tokio::process::ChildStdin>,
    message: &Value,
) -> Result<(), String> {
    let mut line = message.to_string();
    line.push('\n');
    stdin
        .lock()
        .await
        .write_all(line.as_bytes())
        .await
        .map_err(|e| e.to_string())
}

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

async fn stdio(command: &[String], load: &Load) -> Result<Stats, String> {
    let (program, args) = command.split_first().ok_or("an empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdin = Arc::new(Mutex::new(child.stdin.take().ok_or("no stdin")?));
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let waiting: Waiting = Arc::new(Mutex::new(HashMap::new()));
    let reader = {
        let waiting = waiting.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(id) = message["id"].as_u64()
                    && let Some(reply) = waiting.lock().await.remove(&id)
                {
                    let _ = reply.send(message);
                }
            }
        })
    };
    let ask = {
        let (stdin, waiting) = (stdin.clone(), waiting.clone());
        move |message: Value, id: u64| {
            let (stdin, waiting) = (stdin.clone(), waiting.clone());
            async move {
                let (reply, answer) = oneshot::channel();
                waiting.lock().await.insert(id, reply);
                send_line(&stdin, &message).await?;
                answer.await.map_err(|_| "the server closed".to_owned())
            }
        }
    };
    ask(initialize(0), 0).await?;
    send_line(
        &stdin,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await?;
    let sessions = vec![(); load.concurrency];
    let stats = drive(sessions, load, move |_, message, id| ask(message, id)).await;
    reader.abort();
    let _ = child.kill().await;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_in_json_and_in_sse() {
        let json_body =
            r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"hi there"}]}}"#;
        assert!(good(&answer_in(json_body, 3).unwrap(), "hi"));
        let sse = "id: 0\nretry: 3000\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":true}}\n\n";
        let answer = answer_in(sse, 3).unwrap();
        assert!(!good(&answer, "hi"), "isError is an error");
        assert!(answer_in(sse, 4).is_none());
    }
}
