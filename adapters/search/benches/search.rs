//! Search over 10,000 tools: index build time, and query latency through the `ToolIndex`
//! port (what `retrieve_tools` pays), with p50/p99 printed.
//!
//! `cargo bench -p mcpproxy-search --bench search`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mcpproxy_application::ports::ToolIndex;
use mcpproxy_domain::{ServerName, Tool};
use mcpproxy_search::TantivyIndex;
use serde_json::json;

const VERBS: &[&str] = &[
    "get", "list", "create", "update", "delete", "search", "read", "write", "send", "fetch",
    "archive", "merge", "close", "open", "approve", "assign", "comment", "upload", "download",
    "sync",
];
const NOUNS: &[&str] = &[
    "issue",
    "pull_request",
    "repository",
    "file",
    "message",
    "channel",
    "user",
    "team",
    "project",
    "ticket",
    "invoice",
    "customer",
    "order",
    "payment",
    "calendar_event",
    "document",
    "page",
    "database",
    "table",
    "record",
    "bucket",
    "object",
    "secret",
    "deployment",
    "pipeline",
];

/// 10,000 tools over 100 servers, with realistic names, descriptions and parameters.
fn corpus() -> Vec<(ServerName, Vec<Tool>)> {
    (0..100)
        .map(|s| {
            let server =
                ServerName::parse(format!("server-{s:03}")).unwrap_or_else(|_| unreachable!());
            let tools = (0..100)
                .map(|t| {
                    let verb = VERBS[(s + t) % VERBS.len()];
                    let noun = NOUNS[(s * 7 + t) % NOUNS.len()];
                    Tool::new(
                        format!("{verb}_{noun}_{t}"),
                        format!(
                            "{verb} a {} in the {} service of server {s}",
                            noun.replace('_', " "),
                            NOUNS[t % NOUNS.len()]
                        ),
                        json!({"type": "object", "properties": {
                            "id": {"type": "string", "description": format!("The {noun} id")},
                            "limit": {"type": "integer", "description": "How many to return"}
                        }}),
                    )
                })
                .collect();
            (server, tools)
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let corpus = corpus();
    let started = Instant::now();
    rt.block_on(async {
        for (server, tools) in &corpus {
            index
                .replace_server(server, tools, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    });
    println!("index build: 10,000 tools in {:?}", started.elapsed());

    let queries = [
        "create issue",
        "list pull requests",
        "delete repository",
        "send message to channel",
        "upload file",
        "search customers",
        "approve payment",
        "close ticket",
        "sync calendar event",
        "read secret",
        "merge pull request",
        "get user by id",
        "archive document",
        "download object",
    ];
    // Percentiles over many single queries.
    let mut samples = Vec::with_capacity(5000);
    rt.block_on(async {
        for i in 0..5000 {
            let q = queries[i % queries.len()];
            let t = Instant::now();
            let hits = index.search(q, 60).await.unwrap_or_else(|e| panic!("{e}"));
            samples.push(t.elapsed());
            assert!(!hits.is_empty(), "{q} found nothing");
        }
    });
    samples.sort();
    println!(
        "query latency over 10,000 tools (5,000 queries, top 60): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    c.bench_function("search 10k tools", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            rt.block_on(index.search(queries[i % queries.len()], 60))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
