//! The use case with a scripted stand-in for the engine (the engine itself is tested with the
//! real binary in `tests/tests/code.rs`): each "script" is a list of tool calls made in order.

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_domain::policy::{Grant, GrantOrigin, ServerSet};
use mcpproxy_domain::{CallVariant, Config, ServerConfig, ServerName, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::*;
use crate::activity::ActivityLog;
use crate::testkit::{Mem, catalog};

/// Calls `call_tool` for each (server, tool) in turn on a thread of its own, as the engine
/// does, and returns the envelopes.
struct Steps(Vec<(&'static str, &'static str)>);

#[async_trait]
impl ScriptRunner for Steps {
    async fn run(&self, _: ScriptJob, host: Arc<dyn ScriptHost>) -> Result<Value, ScriptFailure> {
        let steps = self.0.clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        // A plain thread, outside the runtime, as the engine's workers are.
        std::thread::spawn(move || {
            let mut out = Vec::new();
            for (server, tool) in steps {
                match host.call_tool(json!(server), json!(tool), json!({})) {
                    Ok(envelope) => out.push(envelope),
                    Err(abort) => {
                        let _ = reply.send(Err(ScriptFailure::Aborted(abort)));
                        return;
                    }
                }
            }
            let _ = reply.send(Ok(Value::Array(out)));
        });
        answer.await.unwrap()
    }
}

fn server(n: &str) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(n).unwrap());
    s.command = "x".into();
    s
}

async fn world(enabled: bool, steps: Steps) -> (Arc<Mem>, CodeService) {
    let mem = Arc::new(Mem::default());
    let mut config = Config {
        servers: vec![server("ev"), server("other")],
        ..Config::default()
    };
    config.code_execution.enable_code_execution = enabled;
    *mem.config.lock().unwrap() = config;
    let cat = catalog(&mem);
    let mut read = Tool::new("echo", "Echo", json!({"type": "object"}));
    read.annotations.read_only_hint = Some(true);
    let mut delete = Tool::new("delete_item", "Delete", json!({"type": "object"}));
    delete.annotations = ToolAnnotations {
        destructive_hint: Some(true),
        ..Default::default()
    };
    for s in ["ev", "other"] {
        cat.discovered(
            &ServerName::parse(s).unwrap(),
            vec![read.clone(), delete.clone()],
        )
        .await
        .unwrap();
    }
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    let calls = Arc::new(CallService::new(
        cat.clone(),
        mem.clone(),
        mem.clone(),
        activity.clone(),
        mem.clone(),
    ));
    let svc = CodeService::new(cat, calls, Arc::new(steps), activity);
    (mem, svc)
}

fn request(options: Value) -> CodeRequest {
    let args = json!({"code": "1", "options": options});
    CodeRequest::from_arguments(args.as_object().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_runs_while_the_feature_is_off() {
    let (mem, svc) = world(false, Steps(vec![("ev", "echo")])).await;
    let err = svc.execute(request(json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "FEATURE_DISABLED");
    assert!(err.to_string().contains("enable_code_execution"));
    assert!(mem.upstream_calls.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_tier_token_cannot_reach_a_destructive_tool_through_a_script() {
    let (mem, svc) = world(true, Steps(vec![("ev", "echo"), ("ev", "delete_item")])).await;
    let mut req = request(json!({}));
    req.caller = Caller::agent().within(Grant {
        origin: GrantOrigin::Token("reader".into()),
        servers: ServerSet::All,
        tier: CallVariant::Read,
    });
    let out = svc.execute(req).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["value"][0]["ok"], true, "the read tool is reachable");
    assert_eq!(out["value"][1]["ok"], false);
    assert_eq!(out["value"][1]["error"]["code"], "INSUFFICIENT_PERMISSION");
    let calls = mem.upstream_calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "only the read call reached the upstream");
    assert_eq!(calls[0].1, "echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_record_is_the_parent_of_its_calls() {
    let (mem, svc) = world(true, Steps(vec![("ev", "echo"), ("other", "echo")])).await;
    let out = svc.execute(request(json!({}))).await.unwrap();
    let id = out["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(out["tool_calls"], 2);
    let records = mem.activity.lock().unwrap().clone();
    let parent = records.iter().find(|r| r.id == id).expect("script record");
    assert_eq!(parent.tool_name.as_deref(), Some("code_execution"));
    assert_eq!(parent.arguments.as_ref().unwrap()["code"], "1");
    let children: Vec<_> = records
        .iter()
        .filter(|r| r.metadata.get("parent_call_id") == Some(&json!(id)))
        .collect();
    assert_eq!(children.len(), 2);
    assert!(
        children
            .iter()
            .all(|c| c.request_id.as_deref() == Some(id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_limit_ends_the_script_and_says_what_it_did() {
    let steps = Steps(vec![("ev", "echo"), ("ev", "echo"), ("ev", "echo")]);
    let (mem, svc) = world(true, steps).await;
    let out = svc
        .execute(request(json!({"max_tool_calls": 2})))
        .await
        .unwrap();
    assert_eq!(out["ok"], false);
    assert_eq!(out["error"]["code"], "MAX_TOOL_CALLS_EXCEEDED");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("(2, max_tool_calls)"), "{message}");
    assert!(message.contains("made 2 tool call(s)"), "{message}");
    assert_eq!(mem.upstream_calls.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outside_allowed_servers_ends_the_script() {
    let (mem, svc) = world(true, Steps(vec![("ev", "echo"), ("other", "echo")])).await;
    let out = svc
        .execute(request(json!({"allowed_servers": ["ev"]})))
        .await
        .unwrap();
    assert_eq!(out["error"]["code"], "SERVER_NOT_ALLOWED");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'other'")
    );
    assert_eq!(mem.upstream_calls.lock().unwrap().len(), 1);
}

#[test]
fn bad_requests_say_what_to_send() {
    let parse = |v: Value| CodeRequest::from_arguments(v.as_object().unwrap()).unwrap_err();
    assert!(parse(json!({})).to_string().contains("'code' is required"));
    assert_eq!(
        parse(json!({"code": "1", "language": "typescript"})).code(),
        "INVALID_LANGUAGE"
    );
    assert!(
        parse(json!({"code": "1", "options": {"timeout": 5}}))
            .to_string()
            .contains("timeout_ms")
    );
    assert!(
        parse(json!({"code": "1", "input": [1]}))
            .to_string()
            .contains("object")
    );
}
