//! One QuickJS runtime and how a script runs on it: a fresh context, the host functions, the
//! interrupt hook for the deadline, the heap cap, and the result as JSON.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcpproxy_application::ports::{ScriptAbort, ScriptFailure, ScriptHost, ScriptJob};
use rquickjs::function::{Opt, Rest};
use rquickjs::{Context, Ctx, Error, Function, Object, Runtime, Value as JsValue};
use serde_json::Value;

/// QuickJS's own stack limit: deep recursion is a `RangeError`, not a crash.
const STACK_LIMIT: usize = 1024 * 1024;
/// A runtime whose heap is still this large after its script and a collection is dropped
/// rather than reused.
const REUSE_HEAP_LIMIT: usize = 16 * 1024 * 1024;
/// How often a `sleep` looks at the deadline and the stop flag.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// What the script's host functions and the interrupt hook share.
struct Run {
    deadline: Instant,
    /// Set when a host function ends the script; the interrupt hook then stops it at the
    /// next instruction, whatever it catches.
    stop: AtomicBool,
    abort: Mutex<Option<ScriptAbort>>,
}

impl Run {
    fn abort(&self, abort: ScriptAbort) {
        *self.abort.lock().unwrap_or_else(PoisonError::into_inner) = Some(abort);
        self.stop.store(true, Ordering::SeqCst);
    }

    fn aborted(&self) -> Option<ScriptAbort> {
        self.abort
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

pub(crate) struct Engine {
    runtime: Runtime,
}

impl Engine {
    pub(crate) fn new() -> Result<Self, String> {
        let runtime = Runtime::new().map_err(|e| format!("could not make a runtime: {e}"))?;
        runtime.set_max_stack_size(STACK_LIMIT);
        Ok(Self { runtime })
    }

    /// Runs the job; answers its outcome and whether this runtime may serve another script.
    pub(crate) fn run(
        &self,
        job: &ScriptJob,
        host: Arc<dyn ScriptHost>,
    ) -> (Result<Value, ScriptFailure>, bool) {
        if Instant::now() >= job.deadline {
            // It waited for a runtime past its own deadline.
            return (Err(ScriptFailure::Timeout), true);
        }
        let run = Arc::new(Run {
            deadline: job.deadline,
            stop: AtomicBool::new(false),
            abort: Mutex::new(None),
        });
        let hook = run.clone();
        self.runtime.set_interrupt_handler(Some(Box::new(move || {
            hook.stop.load(Ordering::Relaxed) || Instant::now() >= hook.deadline
        })));
        // No cap while the context is made: it is ours, not the script's.
        self.runtime.set_memory_limit(0);
        let outcome = match Context::full(&self.runtime) {
            Ok(context) => {
                self.runtime.set_memory_limit(job.memory_limit_bytes);
                let outcome = context.with(|ctx| execute(&ctx, job, &host, &run));
                self.runtime.set_memory_limit(0);
                drop(context);
                outcome
            }
            Err(e) => Err(ScriptFailure::Engine(format!(
                "could not make a context: {e}"
            ))),
        };
        self.runtime.set_interrupt_handler(None);
        self.runtime.run_gc();
        let heap = usize::try_from(self.runtime.memory_usage().malloc_size).unwrap_or(usize::MAX);
        let clean = !matches!(
            outcome,
            Err(ScriptFailure::Timeout
                | ScriptFailure::OutOfMemory
                | ScriptFailure::Aborted(_)
                | ScriptFailure::Engine(_))
        );
        (outcome, clean && heap < REUSE_HEAP_LIMIT)
    }
}

/// Installs the globals, evaluates the source and turns its value into JSON.
fn execute<'js>(
    ctx: &Ctx<'js>,
    job: &ScriptJob,
    host: &Arc<dyn ScriptHost>,
    run: &Arc<Run>,
) -> Result<Value, ScriptFailure> {
    install(ctx, job, host, run).map_err(|e| failure(ctx, e, run))?;
    let value = match ctx.eval::<JsValue<'js>, _>(job.source.as_str()) {
        Ok(v) => v,
        Err(e) => {
            let first = failure(ctx, e, run);
            // A top-level `return` (as the Go proxy's examples write) needs a function
            // around the source; nothing ran, since the source did not compile.
            match &first {
                ScriptFailure::Syntax { message } if message.contains("return") => {
                    let wrapped = format!("(function () {{\n{}\n}})()", job.source);
                    ctx.eval::<JsValue<'js>, _>(wrapped)
                        .map_err(|e| failure(ctx, e, run))?
                }
                _ => return Err(first),
            }
        }
    };
    let value = settle(ctx, value, run)?;
    if let Some(abort) = run.aborted() {
        return Err(ScriptFailure::Aborted(abort));
    }
    let text = match ctx.json_stringify(value) {
        Ok(Some(s)) => s
            .to_string()
            .map_err(|e| ScriptFailure::Serialization(e.to_string()))?,
        Ok(None) => "null".to_owned(),
        Err(e) => {
            return Err(match failure(ctx, e, run) {
                ScriptFailure::Runtime { message, .. } => ScriptFailure::Serialization(message),
                other => other,
            });
        }
    };
    if text.len() > job.max_output_bytes {
        return Err(ScriptFailure::OutputTooLarge {
            size: text.len(),
            limit: job.max_output_bytes,
        });
    }
    serde_json::from_str(&text).map_err(|e| ScriptFailure::Serialization(e.to_string()))
}

/// A returned promise (an `async` function called at the end) is run to its value.
fn settle<'js>(
    ctx: &Ctx<'js>,
    value: JsValue<'js>,
    run: &Arc<Run>,
) -> Result<JsValue<'js>, ScriptFailure> {
    let Some(promise) = value.as_promise().cloned() else {
        return Ok(value);
    };
    while ctx.execute_pending_job() {}
    match promise.result::<JsValue<'js>>() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(failure(ctx, e, run)),
        None => Err(ScriptFailure::Runtime {
            message: "the script returned a promise that never settled (call_tool is synchronous: no await is needed)".into(),
            stack: String::new(),
        }),
    }
}

/// What an error of the engine means for the script.
fn failure<'js>(ctx: &Ctx<'js>, error: Error, run: &Run) -> ScriptFailure {
    if let Some(abort) = run.aborted() {
        return ScriptFailure::Aborted(abort);
    }
    if Instant::now() >= run.deadline {
        return ScriptFailure::Timeout;
    }
    match error {
        Error::Exception => {
            let thrown = ctx.catch();
            let text = |key: &str| {
                thrown
                    .as_object()
                    .and_then(|o| o.get::<_, Option<String>>(key).ok().flatten())
                    .unwrap_or_default()
            };
            let (name, message, stack) = (text("name"), text("message"), text("stack"));
            let message = match (name.as_str(), message.as_str()) {
                (_, m) if m.contains("out of memory") => return ScriptFailure::OutOfMemory,
                ("", "") => describe(ctx, &thrown),
                ("", m) => m.to_owned(),
                (n, m) => format!("{n}: {m}"),
            };
            if name == "SyntaxError" {
                ScriptFailure::Syntax { message }
            } else {
                ScriptFailure::Runtime { message, stack }
            }
        }
        Error::Allocation => ScriptFailure::OutOfMemory,
        other => {
            let text = other.to_string();
            if text.contains("out of memory") {
                ScriptFailure::OutOfMemory
            } else {
                ScriptFailure::Engine(text)
            }
        }
    }
}

/// A thrown value that is not an error object, in words.
fn describe<'js>(ctx: &Ctx<'js>, thrown: &JsValue<'js>) -> String {
    let shown = ctx
        .json_stringify(thrown.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| "a value that is not JSON".into());
    format!("uncaught exception: {shown}")
}

/// A script value as JSON (`undefined` and functions are `null`).
fn to_json<'js>(ctx: &Ctx<'js>, value: Option<JsValue<'js>>) -> rquickjs::Result<Value> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    let text = ctx.json_stringify(value)?;
    Ok(match text {
        Some(s) => serde_json::from_str(&s.to_string()?).unwrap_or(Value::Null),
        None => Value::Null,
    })
}

fn from_json<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    ctx.json_parse(value.to_string())
}

/// The globals: `input`, `call_tool`, `call_tools`, `sleep`, `console`.
fn install<'js>(
    ctx: &Ctx<'js>,
    job: &ScriptJob,
    host: &Arc<dyn ScriptHost>,
    run: &Arc<Run>,
) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    globals.set("input", from_json(ctx, &job.input)?)?;

    let (h, r) = (host.clone(), run.clone());
    let call_tool = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              server: Opt<JsValue<'js>>,
              tool: Opt<JsValue<'js>>,
              args: Opt<JsValue<'js>>|
              -> rquickjs::Result<JsValue<'js>> {
            let (server, tool, args) = (
                to_json(&ctx, server.0)?,
                to_json(&ctx, tool.0)?,
                to_json(&ctx, args.0)?,
            );
            answer(&ctx, &r, h.call_tool(server, tool, args))
        },
    )?;
    globals.set("call_tool", call_tool)?;

    let (h, r) = (host.clone(), run.clone());
    let call_tools = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              requests: Opt<JsValue<'js>>,
              options: Opt<JsValue<'js>>|
              -> rquickjs::Result<JsValue<'js>> {
            let (requests, options) = (to_json(&ctx, requests.0)?, to_json(&ctx, options.0)?);
            answer(&ctx, &r, h.call_tools(requests, options))
        },
    )?;
    globals.set("call_tools", call_tools)?;

    let r = run.clone();
    let sleep = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, ms: Opt<f64>| -> rquickjs::Result<()> {
            let wanted = Duration::from_millis(ms.0.unwrap_or(0.0).clamp(0.0, 600_000.0) as u64);
            let until = (Instant::now() + wanted).min(r.deadline);
            while Instant::now() < until && !r.stop.load(Ordering::Relaxed) {
                let left = until.saturating_duration_since(Instant::now());
                // This is the engine's own worker thread, never a tokio one.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(left.min(SLEEP_SLICE));
            }
            // A sleep cut short by the deadline ends the script there.
            if Instant::now() >= r.deadline {
                return Err(rquickjs::Exception::throw_internal(
                    &ctx,
                    "time limit reached",
                ));
            }
            Ok(())
        },
    )?;
    globals.set("sleep", sleep)?;

    let console = Object::new(ctx.clone())?;
    for level in ["log", "info", "warn", "error", "debug"] {
        let log = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| -> rquickjs::Result<()> {
                let parts: Vec<String> = args
                    .0
                    .into_iter()
                    .map(|v| match v.as_string() {
                        Some(s) => s.to_string().unwrap_or_default(),
                        None => to_json(&ctx, Some(v))
                            .map(|j| j.to_string())
                            .unwrap_or_default(),
                    })
                    .collect();
                let line = parts.join(" ");
                match level {
                    "error" => tracing::warn!(target: "mcpproxy::script", "{line}"),
                    "warn" => tracing::warn!(target: "mcpproxy::script", "{line}"),
                    "debug" => tracing::debug!(target: "mcpproxy::script", "{line}"),
                    _ => tracing::info!(target: "mcpproxy::script", "{line}"),
                }
                Ok(())
            },
        )?;
        console.set(level, log)?;
    }
    globals.set("console", console)?;
    Ok(())
}

/// A host function's answer for the script; an abort stops it.
fn answer<'js>(
    ctx: &Ctx<'js>,
    run: &Run,
    outcome: Result<Value, ScriptAbort>,
) -> rquickjs::Result<JsValue<'js>> {
    match outcome {
        Ok(v) => from_json(ctx, &v),
        Err(abort) => {
            let message = abort.message.clone();
            run.abort(abort);
            Err(rquickjs::Exception::throw_internal(ctx, &message))
        }
    }
}
