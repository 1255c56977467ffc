//! The tool-call history (the Go MCPProxy's `/tool-calls` routes): the `tool_call` records
//! of the activity log in the shape Go's clients read, and the replay of a recorded call.
//!
//! A replay is a new call through [`CallService::call`], the path every call takes (the
//! admission rule, the argument check, the upstream, the record); before it, the config
//! gates decide whether the caller may replay at all ([`Action::ReplayCall`]): never under
//! an agent token's scope, and not in `read_only_mode` when the tool could change something.

use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
use mcpproxy_domain::{CallVariant, Caller, Timestamp, ToolId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::activity::{ActivityLog, ActivityQueryError, DEFAULT_ACTIVITY_LIMIT};
use crate::call::{CallError, CallRequest, CallService};
use crate::catalog::ToolCatalog;
use crate::gates::{self, Action, Gate};
use crate::ports::{ActivityFilter, StorageError};

/// One recorded tool call (the Go MCPProxy's `ToolCallRecord`, from our activity record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCallRecord {
    /// The activity record's id (a ULID).
    pub id: String,
    /// The server's name (Go puts a hash of the server's identity here).
    pub server_id: String,
    pub server_name: String,
    pub tool_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: Value,
    /// The result as the upstream answered (JSON when the record kept it whole; the kept
    /// text when it was cut at 64 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub response: Option<Value>,
    pub response_truncated: bool,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `success`, `error`, `blocked` or `rejected`.
    pub status: ActivityStatus,
    /// In nanoseconds, as Go gives it.
    pub duration: i64,
    pub duration_ms: i64,
    pub timestamp: Timestamp,
    /// `mcp`, `cli`, `api` or `internal`.
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The script's record, for a call a code execution made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_call_id: Option<String>,
    /// `direct` or `code_execution`.
    pub execution_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_client_name: Option<String>,
    /// The `call_tool_*` variant the call used, when it used one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_variant: Option<String>,
    /// The record this call replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed_from: Option<String>,
}

fn meta(record: &ActivityRecord, key: &str) -> Option<String> {
    record
        .metadata
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl ToolCallRecord {
    /// The call a `tool_call` record describes; `None` for other records.
    pub fn from_record(r: &ActivityRecord) -> Option<Self> {
        if r.kind != ActivityKind::ToolCall {
            return None;
        }
        let parent = meta(r, "parent_call_id");
        let ms = r.duration_ms.unwrap_or(0);
        Some(Self {
            id: r.id.clone(),
            server_id: r.server_name.clone().unwrap_or_default(),
            server_name: r.server_name.clone().unwrap_or_default(),
            tool_name: r.tool_name.clone().unwrap_or_default(),
            arguments: r
                .arguments
                .clone()
                .unwrap_or_else(|| Value::Object(Map::new())),
            response: r.response.as_ref().map(|text| {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }),
            response_truncated: r.response_truncated,
            error: r.error_message.clone(),
            status: r.status,
            duration: ms.saturating_mul(1_000_000),
            duration_ms: ms,
            timestamp: r.timestamp,
            source: r.source,
            request_id: r.request_id.clone(),
            execution_type: if parent.is_some() {
                "code_execution"
            } else {
                "direct"
            }
            .to_owned(),
            parent_call_id: parent,
            mcp_session_id: r.session_id.clone(),
            mcp_client_name: meta(r, "client_name"),
            tool_variant: meta(r, "variant"),
            replayed_from: meta(r, "replayed_from"),
        })
    }
}

/// A page of tool calls, newest first (`GET /tool-calls`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCallPage {
    pub tool_calls: Vec<ToolCallRecord>,
    /// Every matching call, not only this page's.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// A server's latest tool calls (`GET /servers/{id}/tool-calls`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerToolCalls {
    pub server_name: String,
    pub tool_calls: Vec<ToolCallRecord>,
    /// Every call recorded for the server, not only those listed.
    pub total: u64,
}

/// What a replay did (`POST /tool-calls/{id}/replay`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replayed {
    /// The new call succeeded (the upstream answered without an error).
    pub success: bool,
    pub new_call_id: String,
    pub new_tool_call: ToolCallRecord,
    pub replayed_from: String,
    /// Why the new call failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    #[error("no tool call {0:?}; `mcpproxy activity list -t tool_call` shows the recorded calls")]
    NotFound(String),
    #[error("record {id:?} is a {kind} record, not a tool call; only tool calls can be replayed")]
    NotAToolCall { id: String, kind: &'static str },
    #[error("server {0:?} is not configured")]
    UnknownServer(String),
    #[error("replaying {tool} is refused: {gate}")]
    Gate { gate: Gate, tool: String },
    #[error(transparent)]
    Query(#[from] ActivityQueryError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The replayed call was refused or failed; it is recorded like any call.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// A replay: which record, with which arguments (the recorded ones when `None`), by whom.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayRequest {
    pub id: String,
    pub arguments: Option<Map<String, Value>>,
    pub caller: Caller,
    pub request_id: Option<String>,
}

/// The tool-call history use case.
pub struct ToolCallHistory {
    activity: Arc<ActivityLog>,
    calls: Arc<CallService>,
    catalog: Arc<ToolCatalog>,
}

impl std::fmt::Debug for ToolCallHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCallHistory").finish_non_exhaustive()
    }
}

fn calls_of(records: &[ActivityRecord]) -> Vec<ToolCallRecord> {
    records
        .iter()
        .filter_map(ToolCallRecord::from_record)
        .collect()
}

impl ToolCallHistory {
    pub fn new(
        activity: Arc<ActivityLog>,
        calls: Arc<CallService>,
        catalog: Arc<ToolCatalog>,
    ) -> Self {
        Self {
            activity,
            calls,
            catalog,
        }
    }

    /// Tool calls, newest first, of one MCP session when `session_id` is given.
    pub async fn list(
        &self,
        limit: Option<u32>,
        offset: u32,
        session_id: Option<String>,
    ) -> Result<ToolCallPage, HistoryError> {
        let filter = ActivityFilter {
            kinds: vec![ActivityKind::ToolCall],
            session_id,
            offset,
            ..ActivityFilter::default()
        };
        let page = self.activity.list(filter, limit).await?;
        Ok(ToolCallPage {
            tool_calls: calls_of(&page.records),
            total: page.total,
            limit: limit.unwrap_or(DEFAULT_ACTIVITY_LIMIT),
            offset,
        })
    }

    /// The latest tool calls to a configured server.
    pub async fn for_server(
        &self,
        server: &str,
        limit: Option<u32>,
    ) -> Result<ServerToolCalls, HistoryError> {
        if self.catalog.view().settings().server(server).is_none() {
            return Err(HistoryError::UnknownServer(server.to_owned()));
        }
        let filter = ActivityFilter {
            kinds: vec![ActivityKind::ToolCall],
            server: Some(server.to_owned()),
            ..ActivityFilter::default()
        };
        let page = self.activity.list(filter, limit).await?;
        Ok(ServerToolCalls {
            server_name: server.to_owned(),
            tool_calls: calls_of(&page.records),
            total: page.total,
        })
    }

    /// One recorded tool call.
    pub async fn get(&self, id: &str) -> Result<ToolCallRecord, HistoryError> {
        let record = self.record(id).await?;
        ToolCallRecord::from_record(&record).ok_or(HistoryError::NotAToolCall {
            id: id.to_owned(),
            kind: record.kind.as_str(),
        })
    }

    async fn record(&self, id: &str) -> Result<ActivityRecord, HistoryError> {
        self.activity
            .get(id)
            .await?
            .ok_or_else(|| HistoryError::NotFound(id.to_owned()))
    }

    /// Runs a recorded call again, with the recorded arguments or `request.arguments`, and
    /// the `call_tool_*` variant it used; the new call is recorded with `replayed_from`.
    pub async fn replay(&self, request: ReplayRequest) -> Result<Replayed, HistoryError> {
        let original = self.record(&request.id).await?;
        let not_a_call = || HistoryError::NotAToolCall {
            id: request.id.clone(),
            kind: original.kind.as_str(),
        };
        if original.kind != ActivityKind::ToolCall {
            return Err(not_a_call());
        }
        let (Some(server), Some(tool)) = (&original.server_name, &original.tool_name) else {
            return Err(not_a_call());
        };
        let tool_id = format!("{server}:{tool}");
        let view = self.catalog.view();
        // A tool the proxy no longer knows is left to the call path, which refuses it
        // with the admission rule's reason.
        let mutating = ToolId::parse(&tool_id)
            .ok()
            .and_then(|id| view.tool(&id).cloned())
            .is_some_and(|entry| entry.tool.annotations.call_with() != CallVariant::Read);
        let arguments = request
            .arguments
            .clone()
            .or_else(|| match &original.arguments {
                Some(Value::Object(map)) => Some(map.clone()),
                _ => None,
            });
        if let Err(gate) = gates::check(
            view.settings(),
            Action::ReplayCall { mutating },
            &request.caller,
        ) {
            let refused = HistoryError::Gate {
                gate,
                tool: tool_id,
            };
            self.record_refusal(&request, &original, arguments, &refused)
                .await;
            return Err(refused);
        }
        let new_id = ulid::Ulid::new().to_string();
        let variant = original
            .metadata
            .get("variant")
            .and_then(Value::as_str)
            .and_then(CallVariant::from_tool_name);
        let outcome = self
            .calls
            .call(CallRequest {
                tool: tool_id,
                arguments,
                variant,
                caller: request.caller.clone(),
                request_id: request.request_id.clone(),
                record_id: Some(new_id.clone()),
                replayed_from: Some(request.id.clone()),
                ..CallRequest::default()
            })
            .await;
        outcome?;
        let record = self.get(&new_id).await?;
        Ok(Replayed {
            success: record.status == ActivityStatus::Success,
            error: match record.status {
                ActivityStatus::Success => None,
                _ => record.error.clone().or_else(|| error_text(&record)),
            },
            new_call_id: new_id,
            new_tool_call: record,
            replayed_from: request.id,
        })
    }

    /// A replay the gates held is recorded like a call the admission rule refused.
    async fn record_refusal(
        &self,
        request: &ReplayRequest,
        original: &ActivityRecord,
        arguments: Option<Map<String, Value>>,
        refused: &HistoryError,
    ) {
        let mut draft = crate::activity::ActivityDraft::new(
            ActivityKind::ToolCall,
            request.caller.source(),
            ActivityStatus::Blocked,
        )
        .meta("replayed_from", request.id.as_str())
        .error(refused.to_string());
        draft.server_name.clone_from(&original.server_name);
        draft.tool_name.clone_from(&original.tool_name);
        draft.arguments = arguments.map(Value::Object);
        draft.request_id.clone_from(&request.request_id);
        if let HistoryError::Gate { gate, .. } = refused {
            draft = draft.meta("reason_code", gate.code());
        }
        self.activity.record_or_log(draft).await;
    }
}

/// The text of an `isError` result, for the replay's `error`.
fn error_text(record: &ToolCallRecord) -> Option<String> {
    record.response.as_ref()?["content"]
        .as_array()?
        .iter()
        .find_map(|b| b["text"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
