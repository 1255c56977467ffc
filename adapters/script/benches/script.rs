//! The cost of the sandbox itself: a trivial script through the pool (a fresh context on a
//! warm runtime, the globals, the result as JSON), and the added cost of one `call_tool`
//! round trip between the script and the host (the host answers at once, so what is
//! measured is the engine and the JSON crossing, not an upstream).

#![allow(clippy::unwrap_used)] // a benchmark: a panic is the report

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mcpproxy_application::ports::{ScriptAbort, ScriptHost, ScriptJob, ScriptRunner};
use mcpproxy_script::QuickJsRunner;
use serde_json::{Value, json};

struct Echo;

impl ScriptHost for Echo {
    fn call_tool(&self, _: Value, _: Value, args: Value) -> Result<Value, ScriptAbort> {
        Ok(
            json!({"ok": true, "result": {"content": [{"type": "text", "text": "ok"}], "echo": args}}),
        )
    }
    fn call_tools(&self, requests: Value, _: Value) -> Result<Value, ScriptAbort> {
        let n = requests.as_array().map_or(0, Vec::len);
        Ok(Value::Array(vec![json!({"ok": true, "result": {}}); n]))
    }
}

fn job(source: &str) -> ScriptJob {
    ScriptJob {
        source: source.into(),
        input: json!({"n": 100}),
        deadline: Instant::now() + Duration::from_secs(30),
        memory_limit_bytes: 64 << 20,
        max_output_bytes: 1 << 20,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let runner = QuickJsRunner::new(2);
    runner.warm();
    let host: Arc<dyn ScriptHost> = Arc::new(Echo);
    c.bench_function("script_start_from_pool", |b| {
        b.iter(|| {
            rt.block_on(runner.run(job("({sum: 1 + 1})"), host.clone()))
                .unwrap()
        })
    });
    c.bench_function("script_100_call_tool", |b| {
        b.iter(|| {
            rt.block_on(runner.run(
                job("let k = 0; for (let i = 0; i < input.n; i++) { if (call_tool('s', 't', {i}).ok) k++; } k"),
                host.clone(),
            ))
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
