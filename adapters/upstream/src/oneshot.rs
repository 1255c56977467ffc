//! The cli layer: connect once, do one thing, disconnect. Used by `mcpproxy tools list
//! --server X`, which must work without a running proxy and show what goes wrong on the wire.

use std::time::Duration;

use mcpproxy_domain::Tool;
use rmcp::model::{CallToolRequestParams, Implementation};
use serde_json::{Map, Value};

use crate::connect::{ConnectError, ConnectSpec, Connector};
use crate::process::Grace;

/// What a one-shot session found.
#[derive(Debug, Clone)]
pub struct Listing {
    pub server_info: Implementation,
    pub tools: Vec<Tool>,
}

#[derive(Debug, thiserror::Error)]
pub enum OneShotError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Request(String),
}

/// Connects, lists every page of tools, disconnects.
pub async fn list_tools(
    connector: &Connector,
    spec: &ConnectSpec,
) -> Result<Listing, OneShotError> {
    let connection = connector.connect(spec).await?;
    tracing::debug!(server = %spec.name, "connected; listing tools");
    let listed = tokio::time::timeout(spec.init_timeout, connection.peer.list_all_tools()).await;
    let server_info = connection.server_info.clone();
    connection.close(Grace::SHUTDOWN).await;
    let tools = listed
        .map_err(|_| {
            OneShotError::Request(format!(
                "tools/list did not answer within {:?}",
                spec.init_timeout
            ))
        })?
        .map_err(|e| OneShotError::Request(format!("tools/list failed: {e}")))?
        .into_iter()
        .map(|t| {
            serde_json::to_value(&t)
                .and_then(serde_json::from_value)
                .map_err(|e| OneShotError::Request(format!("tool {} is malformed: {e}", t.name)))
        })
        .collect::<Result<Vec<Tool>, _>>()?;
    Ok(Listing { server_info, tools })
}

/// Connects, calls one tool, disconnects. The result is the upstream's `CallToolResult`.
pub async fn call_tool(
    connector: &Connector,
    spec: &ConnectSpec,
    tool: &str,
    arguments: Option<Map<String, Value>>,
    timeout: Duration,
) -> Result<Value, OneShotError> {
    let connection = connector.connect(spec).await?;
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = arguments;
    let called = tokio::time::timeout(timeout, connection.peer.call_tool(params)).await;
    connection.close(Grace::SHUTDOWN).await;
    let result = called
        .map_err(|_| OneShotError::Request(format!("{tool} did not answer within {timeout:?}")))?
        .map_err(|e| OneShotError::Request(format!("{tool} failed: {e}")))?;
    serde_json::to_value(result).map_err(|e| OneShotError::Request(e.to_string()))
}
