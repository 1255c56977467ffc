//! What sensitive-data detection costs: one typical call (small arguments, a 2 KB answer),
//! and throughput over clean and leaky answers of 64 KB and 1 MB (the default limit).
//!
//! `cargo bench -p mcpproxy-domain --bench sensitive`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcpproxy_domain::config::SensitiveDataConfig;
use mcpproxy_domain::sensitive::Detector;
use serde_json::json;

/// A tool answer of about `bytes` bytes: JSON rows of ordinary text, ids, hashes and paths
/// (what search, issue and file tools return), with `leaks` secrets spread through it.
fn answer(bytes: usize, leaks: usize) -> String {
    let mut rows = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < bytes {
        let mut body = format!(
            "Issue {i}: the build of service-{i} fails on main since 2024-05-{:02}. Steps: run make test, see /home/dev/src/app/main.rs line {}. Commit 9fceb02d0ae598e95dc970b74767f19372d61af8.",
            i % 28 + 1,
            i * 7
        );
        if leaks > 0 && i % (bytes / 300 / leaks).max(1) == 0 {
            body.push_str(" creds: AKIA2E0A8F3B244C9986 postgres://app:hunter2@db:5432/x");
        }
        let row = json!({"id": format!("550e8400-e29b-41d4-a716-{i:012}"), "title": format!("Bug {i}"), "body": body, "url": format!("https://tracker.example.com/issues/{i}")});
        size += row.to_string().len();
        rows.push(row);
        i += 1;
    }
    let text = serde_json::to_string(&rows).unwrap_or_default();
    json!({"content": [{"type": "text", "text": text}], "isError": false}).to_string()
}

fn bench(c: &mut Criterion) {
    let detector =
        Detector::new(&SensitiveDataConfig::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let args =
        json!({"query": "build failures on main this week", "limit": 20, "repo": "acme/service"});

    let call = answer(2 * 1024, 0);
    c.bench_function("sensitive/call (150 B args + 2 KB answer, clean)", |b| {
        b.iter(|| detector.scan_call(Some(&args), Some(&call)))
    });
    let leaky_call = answer(2 * 1024, 1);
    c.bench_function("sensitive/call (150 B args + 2 KB answer, one leak)", |b| {
        b.iter(|| detector.scan_call(Some(&args), Some(&leaky_call)))
    });

    let mut group = c.benchmark_group("sensitive/answer");
    group.sample_size(20);
    for (kb, leaks) in [(64, 0), (64, 8), (1024, 0)] {
        let text = answer(kb * 1024, leaks);
        group.throughput(Throughput::Bytes(text.len() as u64));
        let label = if leaks == 0 { "clean" } else { "leaky" };
        group.bench_with_input(
            BenchmarkId::new(label, format!("{kb} KB")),
            &text,
            |b, t| b.iter(|| detector.scan_call(None, Some(t))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
