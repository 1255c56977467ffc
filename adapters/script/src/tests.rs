//! The engine on its own, with a host that answers at once (the whole path, with real
//! upstreams and the call pipeline, is tested with the binary in `tests/tests/code.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpproxy_application::ports::{
    ScriptAbort, ScriptFailure, ScriptHost, ScriptJob, ScriptRunner,
};
use serde_json::{Value, json};

use super::QuickJsRunner;

/// Echoes its arguments; a call to server "stop" ends the script.
struct Echo;

impl ScriptHost for Echo {
    fn call_tool(&self, server: Value, tool: Value, args: Value) -> Result<Value, ScriptAbort> {
        if server == "stop" {
            return Err(ScriptAbort {
                code: "MAX_TOOL_CALLS_EXCEEDED",
                message: "enough".into(),
            });
        }
        Ok(json!({"ok": true, "result": {"server": server, "tool": tool, "args": args}}))
    }
    fn call_tools(&self, requests: Value, _: Value) -> Result<Value, ScriptAbort> {
        Ok(requests)
    }
}

fn job(source: &str, timeout_ms: u64, memory_mb: usize) -> ScriptJob {
    ScriptJob {
        source: source.into(),
        input: json!({"a": 2, "b": 3}),
        deadline: Instant::now() + Duration::from_millis(timeout_ms),
        memory_limit_bytes: memory_mb << 20,
        max_output_bytes: 4096,
    }
}

async fn run(runner: &QuickJsRunner, source: &str) -> Result<Value, ScriptFailure> {
    runner.run(job(source, 5000, 32), Arc::new(Echo)).await
}

#[tokio::test]
async fn the_last_expression_or_a_top_level_return_is_the_result() {
    let r = QuickJsRunner::new(1);
    assert_eq!(
        run(&r, "({sum: input.a + input.b})").await,
        Ok(json!({"sum": 5}))
    );
    assert_eq!(
        run(&r, "const x = input.a * 10;\nreturn {x};").await,
        Ok(json!({"x": 20}))
    );
    assert_eq!(run(&r, "undefined").await, Ok(Value::Null));
    assert_eq!(
        run(
            &r,
            "(async () => call_tool('s', 't', {q: 1}).result.args.q)()"
        )
        .await,
        Ok(json!(1))
    );
}

#[tokio::test]
async fn host_functions_pass_json_both_ways() {
    let r = QuickJsRunner::new(1);
    let out = run(
        &r,
        "const res = call_tool('srv', 'echo', {m: [1, 'two']}); res",
    )
    .await;
    assert_eq!(
        out.unwrap()["result"],
        json!({"server": "srv", "tool": "echo", "args": {"m": [1, "two"]}})
    );
    let batch = run(
        &r,
        "call_tools([{server: 'a', tool: 'b'}], {max_parallel: 2})",
    )
    .await;
    assert_eq!(batch.unwrap(), json!([{"server": "a", "tool": "b"}]));
}

#[tokio::test]
async fn errors_are_named() {
    let r = QuickJsRunner::new(1);
    assert!(matches!(
        run(&r, "var x = { missing").await,
        Err(ScriptFailure::Syntax { .. })
    ));
    match run(&r, "null.property").await {
        Err(ScriptFailure::Runtime { message, .. }) => {
            assert!(message.starts_with("TypeError"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match run(&r, "throw 'plain'").await {
        Err(ScriptFailure::Runtime { message, .. }) => assert!(message.contains("plain")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run(&r, "const a = {}; a.self = a; a").await,
        Err(ScriptFailure::Serialization(_))
    ));
    assert!(matches!(
        run(&r, "'x'.repeat(5000)").await,
        Err(ScriptFailure::OutputTooLarge { limit: 4096, .. })
    ));
}

#[tokio::test]
async fn nothing_outside_the_sandbox_exists() {
    let r = QuickJsRunner::new(1);
    for probe in [
        "require('fs')",
        "fetch('http://127.0.0.1/')",
        "process.env",
        "setTimeout(() => 1, 1)",
        "std.open('/etc/passwd', 'r')",
        "os.exec(['ls'])",
        "Deno.readFile('/etc/passwd')",
    ] {
        match run(&r, probe).await {
            Err(ScriptFailure::Runtime { message, .. }) => {
                assert!(message.starts_with("ReferenceError"), "{probe}: {message}")
            }
            other => panic!("{probe}: {other:?}"),
        }
    }
    let modules = run(&r, "import('fs')").await;
    assert!(modules.is_err(), "{modules:?}");
    assert!(run(&r, "import fs from 'fs'; 1").await.is_err());
    // The runtime still serves after all of those.
    assert_eq!(run(&r, "1 + 1").await, Ok(json!(2)));
}

#[tokio::test]
async fn a_cpu_bound_loop_is_stopped_at_the_deadline() {
    let r = QuickJsRunner::new(1);
    let started = Instant::now();
    let out = r.run(job("while (true) {}", 300, 32), Arc::new(Echo)).await;
    assert_eq!(out, Err(ScriptFailure::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A catch does not save it.
    let out = r
        .run(
            job("for (;;) { try { while (true) {} } catch (e) {} }", 300, 32),
            Arc::new(Echo),
        )
        .await;
    assert_eq!(out, Err(ScriptFailure::Timeout));
    assert_eq!(run(&r, "'after'").await, Ok(json!("after")));
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_cap() {
    let r = QuickJsRunner::new(1);
    let bomb = "const a = []; while (true) { a.push('x'.repeat(1024) + a.length); }";
    assert_eq!(
        r.run(job(bomb, 20_000, 16), Arc::new(Echo)).await,
        Err(ScriptFailure::OutOfMemory)
    );
    let caught = "const a = []; try { while (true) { a.push(new Array(1e5).fill(1)); } } catch (e) { 'survived' }";
    let out = r.run(job(caught, 20_000, 16), Arc::new(Echo)).await;
    assert!(
        matches!(&out, Err(ScriptFailure::OutOfMemory)) || out == Ok(json!("survived")),
        "{out:?}"
    );
    assert_eq!(run(&r, "'fresh'").await, Ok(json!("fresh")));
}

#[tokio::test]
async fn a_host_abort_ends_the_script_even_inside_try() {
    let r = QuickJsRunner::new(1);
    let out = run(
        &r,
        "try { call_tool('stop', 't', {}) } catch (e) {} ; while (true) {}",
    )
    .await;
    match out {
        Err(ScriptFailure::Aborted(a)) => assert_eq!(a.code, "MAX_TOOL_CALLS_EXCEEDED"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn sleep_is_bounded_by_the_deadline_and_globals_do_not_leak() {
    let r = QuickJsRunner::new(1);
    let started = Instant::now();
    let out = r.run(job("sleep(60000); 1", 200, 32), Arc::new(Echo)).await;
    assert_eq!(out, Err(ScriptFailure::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(run(&r, "globalThis.secret = 42; 1").await, Ok(json!(1)));
    assert_eq!(run(&r, "typeof secret").await, Ok(json!("undefined")));
}

#[tokio::test]
async fn scripts_run_at_once_on_the_pool() {
    let r = Arc::new(QuickJsRunner::new(4));
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let r = r.clone();
            tokio::spawn(async move { run(&r, &format!("sleep(20); {i} * 2")).await })
        })
        .collect();
    for (i, h) in runs.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), Ok(json!(i * 2)));
    }
}
