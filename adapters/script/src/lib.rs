//! The JavaScript sandbox of code execution: QuickJS (through `rquickjs`) behind the
//! application's [`ScriptRunner`] port.
//!
//! Why QuickJS: a runtime is a few hundred kilobytes and starts in well under a millisecond;
//! it has an interrupt hook (so a CPU-bound `while(true){}` is stopped at the deadline) and a
//! hard heap cap per runtime; it builds from crates.io with a C compiler in about a minute and
//! adds little to the binary. It ships no module loader, filesystem, network, process or timer
//! API unless they are added — we add none (see `issue-22` notes for the comparison with Boa).
//!
//! The pool ([`QuickJsRunner`]) is a fixed set of worker threads, each owning one warm runtime
//! (QuickJS runtimes are single-threaded). Every script gets a fresh context (its own global
//! scope) on a worker's runtime; a script that broke a limit, or left the heap large, takes
//! its runtime with it and the worker makes a new one.
//!
//! The script sees `input`, `call_tool(server, tool, args)`, `call_tools(requests, options)`,
//! `sleep(ms)` (bounded by the deadline) and `console.log/info/warn/error/debug` (to the
//! proxy's log). The host functions block the worker thread while the application runs the
//! calls on the tokio runtime.
#![forbid(unsafe_code)]

mod engine;

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use mcpproxy_application::ports::{ScriptFailure, ScriptHost, ScriptJob, ScriptRunner};
use serde_json::Value;

type Reply = tokio::sync::oneshot::Sender<Result<Value, ScriptFailure>>;

struct Task {
    job: ScriptJob,
    host: Arc<dyn ScriptHost>,
    reply: Reply,
}

/// The pool of warm QuickJS runtimes. Its threads start on the first script, so a proxy
/// with code execution off pays nothing.
pub struct QuickJsRunner {
    size: usize,
    queue: OnceLock<mpsc::Sender<Task>>,
}

impl std::fmt::Debug for QuickJsRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickJsRunner")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Native stack of a worker: QuickJS's own stack limit (in [`engine`]) stops deep recursion
/// well before this.
const WORKER_STACK: usize = 8 * 1024 * 1024;

impl QuickJsRunner {
    /// A pool of `size` runtimes (`code_execution_pool_size`); at least one.
    pub fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            queue: OnceLock::new(),
        }
    }

    /// Starts the workers now, each with its runtime made, instead of on the first script.
    pub fn warm(&self) {
        let _ = self.queue();
    }

    fn queue(&self) -> &mpsc::Sender<Task> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel::<Task>();
            let receiver = Arc::new(Mutex::new(receiver));
            for n in 0..self.size {
                let receiver = receiver.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("script-{n}"))
                    .stack_size(WORKER_STACK)
                    .spawn(move || work(&receiver));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "could not start a script worker");
                }
            }
            sender
        })
    }
}

/// One worker: takes scripts from the queue until the pool is dropped.
fn work(receiver: &Mutex<mpsc::Receiver<Task>>) {
    let mut runtime = engine::Engine::new().ok();
    loop {
        let task = {
            let queue = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(task) => task,
                Err(_) => return,
            }
        };
        let engine = match runtime.take() {
            Some(e) => e,
            None => match engine::Engine::new() {
                Ok(e) => e,
                Err(e) => {
                    let _ = task.reply.send(Err(ScriptFailure::Engine(e)));
                    continue;
                }
            },
        };
        // A panic in a host function must not take the worker with it; the script fails
        // and the runtime, in an unknown state, is dropped.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let outcome = engine.run(&task.job, task.host.clone());
            (outcome, engine)
        }));
        match outcome {
            Ok(((result, reusable), engine)) => {
                let _ = task.reply.send(result);
                if reusable {
                    runtime = Some(engine);
                }
            }
            Err(_) => {
                let _ = task.reply.send(Err(ScriptFailure::Engine(
                    "the script engine failed while running the script".into(),
                )));
            }
        }
    }
}

#[async_trait]
impl ScriptRunner for QuickJsRunner {
    async fn run(&self, job: ScriptJob, host: Arc<dyn ScriptHost>) -> Result<Value, ScriptFailure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue()
            .send(Task { job, host, reply })
            .map_err(|_| ScriptFailure::Engine("the script pool has stopped".into()))?;
        answer
            .await
            .map_err(|_| ScriptFailure::Engine("the script worker stopped".into()))?
    }
}

#[cfg(test)]
mod tests;
