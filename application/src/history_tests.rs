use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_domain::{Caller, Config, ServerConfig, ServerName, Tool, ToolAnnotations};
use serde_json::json;

use super::*;
use crate::activity::ActivityLog;
use crate::testkit::{Mem, catalog};

fn tools() -> Vec<Tool> {
    let mut echo = Tool::new("echo", "Echo", json!({"type": "object"}));
    echo.annotations.read_only_hint = Some(true);
    let mut delete = Tool::new("delete_item", "Delete", json!({"type": "object"}));
    delete.annotations = ToolAnnotations {
        destructive_hint: Some(true),
        ..Default::default()
    };
    vec![echo, delete]
}

async fn world(read_only: bool) -> (Arc<Mem>, Arc<CallService>, ToolCallHistory) {
    let mem = Arc::new(Mem::default());
    let name = ServerName::parse("ev").unwrap();
    let mut server = ServerConfig::new(name.clone());
    server.command = "x".into();
    *mem.config.lock().unwrap() = Config {
        servers: vec![server],
        read_only_mode: read_only,
        ..Config::default()
    };
    let cat = catalog(&mem);
    cat.discovered(&name, tools()).await.unwrap();
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    let calls = Arc::new(CallService::new(
        cat.clone(),
        mem.clone(),
        mem.clone(),
        activity.clone(),
        mem.clone(),
    ));
    let history = ToolCallHistory::new(activity, calls.clone(), cat);
    (mem, calls, history)
}

/// Calls `tool` once through the pipeline and returns its record's id.
async fn recorded(mem: &Mem, calls: &CallService, tool: &str) -> String {
    calls
        .call(CallRequest {
            tool: format!("ev:{tool}"),
            arguments: json!({"id": 7}).as_object().cloned(),
            variant: Some(if tool == "echo" {
                CallVariant::Read
            } else {
                CallVariant::Destructive
            }),
            ..CallRequest::default()
        })
        .await
        .unwrap();
    mem.activity.lock().unwrap().last().unwrap().id.clone()
}

fn person() -> Caller {
    Caller::from(Source::Cli)
}

#[tokio::test]
async fn a_replay_runs_the_recorded_call_again_and_is_recorded_as_one() {
    let (mem, calls, history) = world(false).await;
    let id = recorded(&mem, &calls, "delete_item").await;
    let replayed = history
        .replay(ReplayRequest {
            id: id.clone(),
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap();
    assert!(replayed.success);
    assert_eq!(replayed.replayed_from, id);
    let upstream = mem.upstream_calls.lock().unwrap().clone();
    assert_eq!(upstream.len(), 2, "the upstream saw the call twice");
    assert_eq!(upstream[1].2, json!({"id": 7}).as_object().cloned());
    let new = &replayed.new_tool_call;
    assert_eq!(new.id, replayed.new_call_id);
    assert_eq!(new.replayed_from.as_deref(), Some(id.as_str()));
    assert_eq!(new.tool_variant.as_deref(), Some("call_tool_destructive"));
    assert_eq!(new.source, Source::Cli);
    let calls: Vec<_> = mem
        .activity
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.kind == ActivityKind::ToolCall)
        .cloned()
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].id, replayed.new_call_id);

    // Other arguments may be given.
    let again = history
        .replay(ReplayRequest {
            id,
            arguments: json!({"id": 8}).as_object().cloned(),
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(again.new_tool_call.arguments, json!({"id": 8}));
}

#[tokio::test]
async fn read_only_mode_refuses_a_replay_that_could_change_something_and_records_it() {
    let (mem, calls, history) = world(true).await;
    let delete = recorded(&mem, &calls, "delete_item").await;
    let echo = recorded(&mem, &calls, "echo").await;
    let refused = history
        .replay(ReplayRequest {
            id: delete.clone(),
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            HistoryError::Gate {
                gate: Gate::ReadOnly,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("read_only_mode"), "{refused}");
    assert_eq!(
        mem.upstream_calls.lock().unwrap().len(),
        2,
        "not called again"
    );
    let last = mem.activity.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.kind, ActivityKind::ToolCall);
    assert_eq!(last.status, ActivityStatus::Blocked);
    assert_eq!(last.metadata["replayed_from"], delete.as_str());
    assert_eq!(last.metadata["reason_code"], "READ_ONLY_MODE");

    // Re-running a read changes nothing.
    let read = history
        .replay(ReplayRequest {
            id: echo,
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap();
    assert!(read.success);
}

#[tokio::test]
async fn only_tool_calls_can_be_replayed() {
    let (mem, _calls, history) = world(false).await;
    let missing = history
        .replay(ReplayRequest {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(missing, HistoryError::NotFound(_)));
    let change = ActivityLog::new(mem.clone(), mem.clone(), mem.clone())
        .record(crate::ActivityDraft::new(
            ActivityKind::ServerChange,
            Source::Api,
            ActivityStatus::Success,
        ))
        .await
        .unwrap();
    let refused = history
        .replay(ReplayRequest {
            id: change.id,
            caller: person(),
            ..ReplayRequest::default()
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("server_change"), "{refused}");
}
