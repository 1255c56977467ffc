//! Code execution: an agent sends one JavaScript snippet that calls several tools and
//! returns only what matters.
//!
//! The script is untrusted input from a model. The engine (behind [`ScriptRunner`]) gives it
//! nothing but `input`, `call_tool`, `call_tools`, a bounded `sleep` and `console`, and stops
//! it at its time and memory limits. Every tool call it makes comes back here and goes through
//! [`CallService::call`] — the same admission rule (the caller's scope and tier, quarantine,
//! approvals), argument check, truncation and activity record as any other call, with the
//! script's own record as the parent. This file adds only the script's limits:
//! `max_tool_calls`, `allowed_servers` and the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpproxy_domain::Caller;
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus};
use mcpproxy_domain::code::{CodeOptions, MAX_BATCH, MAX_PARALLEL, ScriptLimits};
use mcpproxy_domain::token::AuthIdentity;
use serde_json::{Map, Value, json};

use crate::activity::{ActivityDraft, ActivityLog};
use crate::call::{CallError, CallRequest, CallService};
use crate::catalog::ToolCatalog;
use crate::ports::{ScriptAbort, ScriptFailure, ScriptHost, ScriptJob, ScriptRunner};

/// What every surface says when the feature is off (the Go proxy's words).
pub const DISABLED_MESSAGE: &str = "Code execution is disabled. Enable it by setting \"enable_code_execution\": true in your mcpproxy configuration file.";

/// The extra time the engine gets past the deadline to report before the use case gives up
/// on it.
const GRACE: Duration = Duration::from_secs(2);

/// A request to run a script: the arguments of the `code_execution` tool (and the body of
/// `POST /api/v1/code/exec`), and who runs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeRequest {
    pub code: String,
    pub input: Value,
    pub options: CodeOptions,
    pub caller: Caller,
    /// The agent token the script came with, recorded on each of its calls (`_auth_*`).
    pub identity: Option<AuthIdentity>,
    pub session_id: Option<String>,
    pub client_name: Option<String>,
}

/// Why a script was not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("{DISABLED_MESSAGE}")]
    Disabled,
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "language {0:?} is not supported: send JavaScript (ES2023) as code; TypeScript is not transpiled by this proxy"
    )]
    UnsupportedLanguage(String),
}

impl CodeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "FEATURE_DISABLED",
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::UnsupportedLanguage(_) => "INVALID_LANGUAGE",
        }
    }
}

impl CodeRequest {
    /// Reads `code`, `input`, `options` and `language` (the Go proxy's arguments).
    pub fn from_arguments(args: &Map<String, Value>) -> Result<Self, CodeError> {
        let bad = |m: String| CodeError::InvalidRequest(m);
        if args.get("script").is_some_and(|s| !s.is_null()) {
            return Err(bad(
                "stored scripts ('script') are not supported by this proxy; send the source as 'code'".into(),
            ));
        }
        let code = match args.get("code") {
            Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(bad(
                    "'code' is required: the JavaScript source to run, e.g. \"({sum: input.a + input.b})\"".into(),
                ));
            }
            Some(_) => return Err(bad("'code' must be a string of JavaScript".into())),
        };
        match args.get("language").and_then(Value::as_str) {
            None | Some("javascript" | "js" | "") => {}
            Some(other) => return Err(CodeError::UnsupportedLanguage(other.to_owned())),
        }
        let input = match args.get("input") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => return Err(bad("'input' must be a JSON object".into())),
        };
        let options = match args.get("options") {
            None | Some(Value::Null) => CodeOptions::default(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                bad(format!(
                    "'options' is not valid ({e}); it takes timeout_ms, max_tool_calls and allowed_servers"
                ))
            })?,
        };
        Ok(Self {
            code,
            input,
            options,
            ..Self::default()
        })
    }
}

/// The use case behind the `code_execution` tool, `POST /api/v1/code/exec` and
/// `mcpproxy code exec`.
pub struct CodeService {
    catalog: Arc<ToolCatalog>,
    calls: Arc<CallService>,
    runner: Arc<dyn ScriptRunner>,
    activity: Arc<ActivityLog>,
}

impl std::fmt::Debug for CodeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeService").finish_non_exhaustive()
    }
}

impl CodeService {
    pub fn new(
        catalog: Arc<ToolCatalog>,
        calls: Arc<CallService>,
        runner: Arc<dyn ScriptRunner>,
        activity: Arc<ActivityLog>,
    ) -> Self {
        Self {
            catalog,
            calls,
            runner,
            activity,
        }
    }

    /// Whether `enable_code_execution` is on.
    pub fn enabled(&self) -> bool {
        self.catalog.view().settings().code.enabled
    }

    /// Runs a script and answers its envelope: `{ok: true, value}` or
    /// `{ok: false, error: {code, message, stack}}`, with the id of its activity record and
    /// how many tool calls it made. A script that runs and fails is an envelope, not an error.
    pub async fn execute(&self, request: CodeRequest) -> Result<Value, CodeError> {
        let settings = self.catalog.view().settings().code;
        if !settings.enabled {
            return Err(CodeError::Disabled);
        }
        let limits = ScriptLimits::resolve(&settings, &request.options)
            .map_err(CodeError::InvalidRequest)?;
        let execution_id = ulid::Ulid::new().to_string();
        let started = Instant::now();
        let timeout = Duration::from_millis(limits.timeout_ms);
        let host = Arc::new(Host {
            calls: self.calls.clone(),
            handle: tokio::runtime::Handle::current(),
            deadline: tokio::time::Instant::from_std(started + timeout),
            limits: limits.clone(),
            parent: execution_id.clone(),
            caller: request.caller.clone(),
            identity: request.identity.clone(),
            session_id: request.session_id.clone(),
            client_name: request.client_name.clone(),
            made: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let job = ScriptJob {
            source: request.code.clone(),
            input: request.input.clone(),
            deadline: started + timeout,
            memory_limit_bytes: limits.memory_limit_bytes,
            max_output_bytes: limits.max_output_bytes,
        };
        let outcome =
            match tokio::time::timeout(timeout + GRACE, self.runner.run(job, host.clone())).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ScriptFailure::Timeout),
            };
        let made = host.made.load(Ordering::Relaxed);
        let failed = host.failed.load(Ordering::Relaxed);
        let envelope = match &outcome {
            Ok(value) => json!({"ok": true, "value": value}),
            Err(failure) => {
                let (code, stack) = match failure {
                    ScriptFailure::Runtime { stack, .. } => ("RUNTIME_ERROR", stack.as_str()),
                    other => (failure_code(other), ""),
                };
                let message = describe(failure, &limits, made, failed);
                json!({"ok": false, "error": {"code": code, "message": message, "stack": stack}})
            }
        };
        self.record(&request, &execution_id, &envelope, started, made)
            .await;
        let mut envelope = envelope;
        if let Some(obj) = envelope.as_object_mut() {
            obj.insert("execution_id".into(), Value::String(execution_id));
            obj.insert("tool_calls".into(), json!(made));
        }
        Ok(envelope)
    }

    /// The script's own record; its tool calls name it as their parent.
    async fn record(
        &self,
        request: &CodeRequest,
        execution_id: &str,
        envelope: &Value,
        started: Instant,
        made: u64,
    ) {
        let ok = envelope["ok"] == Value::Bool(true);
        let mut draft = ActivityDraft::new(
            ActivityKind::ToolCall,
            request.caller.source(),
            if ok {
                ActivityStatus::Success
            } else {
                ActivityStatus::Error
            },
        )
        .tool("code_execution")
        .meta("execution_type", "code_execution")
        .meta("tool_calls", made);
        draft.id = Some(execution_id.to_owned());
        draft.request_id = Some(execution_id.to_owned());
        draft.session_id.clone_from(&request.session_id);
        draft.arguments = Some(json!({
            "code": request.code,
            "input": request.input,
            "options": request.options,
        }));
        draft.duration_ms = i64::try_from(started.elapsed().as_millis()).ok();
        draft.response = Some(envelope.to_string());
        if !ok {
            draft.error_message = envelope["error"]["message"].as_str().map(str::to_owned);
        }
        if let Some(c) = &request.client_name {
            draft = draft.meta("client_name", c.as_str());
        }
        self.activity.record_soon(draft).await;
    }
}

fn failure_code(failure: &ScriptFailure) -> &'static str {
    match failure {
        ScriptFailure::Syntax { .. } => "SYNTAX_ERROR",
        ScriptFailure::Runtime { .. } => "RUNTIME_ERROR",
        ScriptFailure::Timeout => "TIMEOUT",
        ScriptFailure::OutOfMemory => "MEMORY_LIMIT_EXCEEDED",
        ScriptFailure::Serialization(_) => "SERIALIZATION_ERROR",
        ScriptFailure::OutputTooLarge { .. } => "OUTPUT_TOO_LARGE",
        ScriptFailure::Aborted(a) => a.code,
        ScriptFailure::Engine(_) => "EXECUTION_FAILED",
    }
}

/// The failure in words: which limit, and what the script had done by then.
fn describe(failure: &ScriptFailure, limits: &ScriptLimits, made: u64, failed: u64) -> String {
    let done = match (made, failed) {
        (0, _) => "it had made no tool calls".to_owned(),
        (n, 0) => format!("it had made {n} tool call(s)"),
        (n, f) => format!("it had made {n} tool call(s), {f} of them failed"),
    };
    match failure {
        ScriptFailure::Timeout => format!(
            "the script ran past its time limit (timeout_ms = {}) and was stopped; {done}",
            limits.timeout_ms
        ),
        ScriptFailure::OutOfMemory => format!(
            "the script used more than its memory limit of {} MiB (code_execution_memory_limit_mb) and was stopped; {done}",
            limits.memory_limit_bytes / (1024 * 1024)
        ),
        ScriptFailure::OutputTooLarge { size, limit } => format!(
            "the script's result is {size} bytes of JSON, over code_execution_max_output_bytes ({limit}); return less (filter, or page with input); {done}"
        ),
        ScriptFailure::Aborted(a) => format!("{}; {done}", a.message),
        ScriptFailure::Syntax { message } | ScriptFailure::Runtime { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    }
}

/// The host functions of one script.
struct Host {
    calls: Arc<CallService>,
    handle: tokio::runtime::Handle,
    deadline: tokio::time::Instant,
    limits: ScriptLimits,
    parent: String,
    caller: Caller,
    identity: Option<AuthIdentity>,
    session_id: Option<String>,
    client_name: Option<String>,
    made: AtomicU64,
    failed: AtomicU64,
}

/// One element of a batch, checked.
struct Planned {
    server: String,
    tool: String,
    args: Option<Map<String, Value>>,
}

fn invalid(message: String) -> Value {
    json!({"ok": false, "error": {"code": "INVALID_ARGS", "message": message}})
}

fn plan(server: &Value, tool: &Value, args: &Value) -> Result<Planned, String> {
    let name = |v: &Value, what: &str| match v.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("{what} must be a non-empty string")),
    };
    let args = match args {
        Value::Null => None,
        Value::Object(m) => Some(m.clone()),
        _ => return Err("args must be an object".into()),
    };
    Ok(Planned {
        server: name(server, "server")?,
        tool: name(tool, "tool")?,
        args,
    })
}

impl Host {
    fn timed_out(&self) -> ScriptAbort {
        ScriptAbort {
            code: "TIMEOUT",
            message: format!(
                "the script ran past its time limit (timeout_ms = {}) during a tool call",
                self.limits.timeout_ms
            ),
        }
    }

    /// The script's own limits, before anything is dispatched: every server allowed, and
    /// `count` more calls within `max_tool_calls`.
    fn admit(&self, planned: &[Planned]) -> Result<(), ScriptAbort> {
        if let Some(p) = planned
            .iter()
            .find(|p| !self.limits.allows_server(&p.server))
        {
            return Err(ScriptAbort {
                code: "SERVER_NOT_ALLOWED",
                message: format!(
                    "server '{}' is not in the allowed servers list ({}) of this script",
                    p.server,
                    self.limits.allowed_servers.join(", ")
                ),
            });
        }
        let count = planned.len() as u64;
        let before = self.made.fetch_add(count, Ordering::Relaxed);
        let max = self.limits.max_tool_calls;
        if max > 0 && before + count > max {
            self.made.fetch_sub(count, Ordering::Relaxed);
            return Err(ScriptAbort {
                code: "MAX_TOOL_CALLS_EXCEEDED",
                message: format!("exceeded the maximum tool calls limit ({max}, max_tool_calls)"),
            });
        }
        Ok(())
    }

    fn request(&self, p: Planned) -> CallRequest {
        CallRequest {
            tool: format!("{}:{}", p.server, p.tool),
            arguments: p.args,
            // No variant: the rule asks the tier the tool's annotations need.
            variant: None,
            caller: self.caller.clone(),
            identity: self.identity.clone(),
            session_id: self.session_id.clone(),
            request_id: Some(self.parent.clone()),
            client_name: self.client_name.clone(),
            parent_call_id: Some(self.parent.clone()),
            ..CallRequest::default()
        }
    }

    /// The pipeline's answer as the envelope the script sees.
    fn envelope(&self, outcome: Result<Value, CallError>) -> Value {
        match outcome {
            Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let text = v["content"][0]["text"]
                    .as_str()
                    .unwrap_or("the tool failed");
                json!({"ok": false, "error": {"code": "TOOL_ERROR", "message": text}, "result": v})
            }
            Ok(v) => json!({"ok": true, "result": v}),
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let code = e.code().unwrap_or(match &e {
                    CallError::InvalidArguments { .. } => "INVALID_ARGUMENTS",
                    CallError::Upstream(_) => "UPSTREAM_ERROR",
                    _ => "CALL_REFUSED",
                });
                json!({"ok": false, "error": {"code": code, "message": e.to_string()}})
            }
        }
    }

    fn parse_batch(requests: &Value, options: &Value) -> Result<(Vec<Planned>, usize), String> {
        let Some(items) = requests.as_array() else {
            return Err("call_tools: requests must be an array of {server, tool, args}".into());
        };
        if items.len() > MAX_BATCH {
            return Err(format!(
                "call_tools: {} requests, over the limit of {MAX_BATCH} per batch",
                items.len()
            ));
        }
        let max_parallel = match options {
            Value::Null => None,
            Value::Object(o) => match o.get("max_parallel") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=MAX_PARALLEL as u64).contains(&n) => Some(n as usize),
                    _ => {
                        return Err(format!(
                            "call_tools: options.max_parallel must be an integer between 1 and {MAX_PARALLEL}"
                        ));
                    }
                },
            },
            _ => return Err("call_tools: options must be an object".into()),
        };
        let planned = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let Some(obj) = item.as_object() else {
                    return Err(format!("call_tools: element {i}: must be an object"));
                };
                let get = |k: &str| obj.get(k).cloned().unwrap_or(Value::Null);
                plan(&get("server"), &get("tool"), &get("args"))
                    .map_err(|e| format!("call_tools: element {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((planned, max_parallel.unwrap_or(0)))
    }
}

impl ScriptHost for Host {
    fn call_tool(&self, server: Value, tool: Value, args: Value) -> Result<Value, ScriptAbort> {
        let planned = match plan(&server, &tool, &args) {
            Ok(p) => p,
            Err(e) => return Ok(invalid(format!("call_tool: {e}"))),
        };
        self.admit(std::slice::from_ref(&planned))?;
        let request = self.request(planned);
        let calls = self.calls.clone();
        let outcome = self
            .handle
            // The timer is made inside the runtime: the engine's thread is not one of its.
            .block_on(async { tokio::time::timeout_at(self.deadline, calls.call(request)).await })
            .map_err(|_| self.timed_out())?;
        Ok(self.envelope(outcome))
    }

    fn call_tools(&self, requests: Value, options: Value) -> Result<Value, ScriptAbort> {
        let (planned, max_parallel) = match Self::parse_batch(&requests, &options) {
            Ok(p) => p,
            Err(e) => return Ok(invalid(e)),
        };
        if planned.is_empty() {
            return Ok(Value::Array(Vec::new()));
        }
        self.admit(&planned)?;
        let width = if max_parallel == 0 {
            self.limits.max_parallel
        } else {
            max_parallel
        };
        let gate = Arc::new(tokio::sync::Semaphore::new(width));
        let requests: Vec<CallRequest> = planned.into_iter().map(|p| self.request(p)).collect();
        let outcomes = self.handle.block_on(async {
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|request| {
                    let calls = self.calls.clone();
                    let gate = gate.clone();
                    tokio::spawn(async move {
                        // The semaphore is never closed, so a permit always comes.
                        let _permit = gate.acquire_owned().await;
                        calls.call(request).await
                    })
                })
                .collect();
            let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
            let all = async {
                let mut out = Vec::with_capacity(tasks.len());
                for task in tasks {
                    out.push(task.await);
                }
                out
            };
            let done = tokio::time::timeout_at(self.deadline, all).await;
            if done.is_err() {
                // A timeout cancels what is still in flight.
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
            }
            done
        });
        let outcomes = outcomes.map_err(|_| self.timed_out())?;
        let slots = outcomes
            .into_iter()
            .map(|joined| match joined {
                Ok(outcome) => self.envelope(outcome),
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    json!({"ok": false, "error": {"code": "CALL_FAILED", "message": e.to_string()}})
                }
            })
            .collect();
        Ok(Value::Array(slots))
    }
}

#[cfg(test)]
#[path = "code_tests.rs"]
mod tests;
