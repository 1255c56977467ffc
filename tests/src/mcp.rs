//! An MCP client for tests: rmcp over streamable HTTP, counting the `tools/list_changed`
//! notifications it hears.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;

use crate::PATIENCE;

#[derive(Debug, Clone, Default)]
pub struct Listener {
    pub changes: Arc<AtomicUsize>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcpproxy-tests", "1"),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    service: RunningService<RoleClient, Listener>,
    pub changes: Arc<AtomicUsize>,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let listener = Listener::default();
        let changes = listener.changes.clone();
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let service = listener.serve(transport).await.unwrap();
        Self { service, changes }
    }

    /// Connects with `http` (an HTTPS client that trusts the proxy's CA, say).
    pub async fn connect_with(url: &str, http: reqwest::Client) -> Result<Self, String> {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let listener = Listener::default();
        let changes = listener.changes.clone();
        let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        let transport = StreamableHttpClientTransport::with_client(http, config);
        let service = listener.serve(transport).await.map_err(|e| e.to_string())?;
        Ok(Self { service, changes })
    }

    /// Connects presenting `key` (an agent token or the API key) as `Authorization: Bearer`;
    /// the error when the proxy refuses.
    pub async fn connect_as(url: &str, key: &str) -> Result<Self, String> {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let listener = Listener::default();
        let changes = listener.changes.clone();
        let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key);
        let transport = StreamableHttpClientTransport::from_config(config);
        let service = listener.serve(transport).await.map_err(|e| e.to_string())?;
        Ok(Self { service, changes })
    }

    /// Calls a tool; the error when the request itself fails (refused, disconnected).
    pub async fn try_call(&self, name: &str, args: Value) -> Result<Value, String> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = args.as_object().cloned();
        let result = self
            .service
            .peer()
            .call_tool(params)
            .await
            .map_err(|e| e.to_string())?;
        Ok(serde_json::to_value(result).unwrap())
    }

    /// The session, for requests the helpers here do not cover.
    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.service.peer()
    }

    pub fn server_info(&self) -> Value {
        serde_json::to_value(self.service.peer().peer_info().unwrap()).unwrap()
    }

    /// The names of every tool the endpoint lists (all pages).
    pub async fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .service
            .peer()
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }

    pub async fn tools(&self) -> Vec<Value> {
        self.service
            .peer()
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect()
    }

    /// Calls a tool; the result as JSON (`content`, `isError`, …).
    pub async fn call(&self, name: &str, args: Value) -> Value {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = args.as_object().cloned();
        let result = self.service.peer().call_tool(params).await.unwrap();
        serde_json::to_value(result).unwrap()
    }

    /// Calls a tool whose text answer is JSON; returns that JSON.
    pub async fn call_json(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args).await;
        let text = text(&result);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name} did not answer JSON ({e}): {result}"))
    }

    /// Polls `retrieve_tools` until `query` finds `tool`.
    pub async fn wait_for_tool(&self, query: &str, tool: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self
                .call_json("retrieve_tools", serde_json::json!({"query": query}))
                .await;
            if let Some(t) = found["tools"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["name"] == tool))
            {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "retrieve_tools {query:?} never found {tool}: {found}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The names of the prompts the endpoint lists.
    pub async fn prompt_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .service
            .peer()
            .list_all_prompts()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Renders a prompt: its result as JSON, or the refusal's message.
    pub async fn get_prompt(&self, name: &str, args: Value) -> Result<Value, String> {
        let mut params = rmcp::model::GetPromptRequestParams::new(name.to_owned());
        params.arguments = args.as_object().cloned();
        self.service
            .peer()
            .get_prompt(params)
            .await
            .map(|r| serde_json::to_value(r).unwrap())
            .map_err(|e| e.to_string())
    }

    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

/// The text of the first content block.
pub fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
