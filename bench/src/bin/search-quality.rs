//! `search-quality [--part tune|blind|all] [--endpoint] [--mcpproxy PATH] [--tune]`:
//! ranking quality on the dev set in `bench/quality` — recall@1/5/10 and MRR per query kind,
//! and how often `low_confidence` flags the no-answer queries — for plain BM25 (the
//! baseline), our index in-process, and (`--endpoint`) `retrieve_tools` on `/mcp` of the real
//! binary in front of the dumped servers replayed by `bench-upstream --replay`.
//! `--tune` searches the ranking's knobs on the tuning part; `--misses` lists the tuning
//! part's misses (never the blind part's). `--semantic DIR` adds the semantic stage with the
//! sentence model in DIR (alone, and fused with the lexical ranking); `--tune-fusion` searches
//! the fusion's knobs on the tuning part. Markdown on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a panic is a bug report

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpproxy_application::ports::{SearchHit, ToolIndex};
use mcpproxy_application::search::is_low_confidence;
use mcpproxy_application::semantic::{Fusion, HybridIndex, fuse};
use mcpproxy_bench::load::answer_in;
use mcpproxy_bench::procs::{Proxy, sibling};
use mcpproxy_bench::quality::{Answer, DevSet, PlainBm25, Query, Scores, table};
use mcpproxy_domain::ServerName;
use mcpproxy_search::{SearchOptions, TantivyIndex, Tuning};
use serde_json::{Value, json};

const SHOWN: usize = 10;

struct Options {
    dir: PathBuf,
    part: String,
    endpoint: bool,
    mcpproxy: PathBuf,
    tune: bool,
    misses: bool,
    calibrate: bool,
    semantic: Option<PathBuf>,
    tune_fusion: bool,
}

fn options() -> Options {
    let mut o = Options {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("quality"),
        part: "tune".into(),
        endpoint: false,
        mcpproxy: sibling("mcpproxy"),
        tune: false,
        misses: false,
        calibrate: false,
        semantic: None,
        tune_fusion: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--part" => o.part = args.next().expect("--part tune|blind|all"),
            "--endpoint" => o.endpoint = true,
            "--mcpproxy" => o.mcpproxy = args.next().expect("--mcpproxy PATH").into(),
            "--dir" => o.dir = args.next().expect("--dir DIR").into(),
            "--tune" => o.tune = true,
            "--misses" => o.misses = true,
            "--calibrate" => o.calibrate = true,
            "--semantic" => o.semantic = Some(args.next().expect("--semantic DIR").into()),
            "--tune-fusion" => o.tune_fusion = true,
            other => panic!("unknown argument {other}; see the top of search-quality.rs"),
        }
    }
    assert!(
        ["tune", "blind", "all"].contains(&o.part.as_str()),
        "--part is tune, blind or all"
    );
    o
}

async fn in_process(set: &DevSet) -> (TantivyIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let index = TantivyIndex::open_with(dir.path(), SearchOptions::default()).unwrap();
    for (name, tools) in set.server_names().unwrap() {
        index.replace_server(&name, tools, &[]).await.unwrap();
    }
    (index, dir)
}

fn score_index(index: &TantivyIndex, queries: &[Query], tuning: Option<Tuning>) -> Scores {
    let mut scores = Scores::default();
    for q in queries {
        let hits = index
            .search_tuned(&q.query, 4 * SHOWN + 20, tuning)
            .unwrap();
        let answer = Answer {
            ids: hits
                .iter()
                .take(SHOWN)
                .map(|h| format!("{}:{}", h.server, h.tool))
                .collect(),
            low_confidence: Some(is_low_confidence(hits.first().map(|h| h.coverage))),
        };
        scores.add(q, &answer);
    }
    scores
}

/// Both rankings of each query, computed once, fused as often as asked.
type Rankings = Vec<(Vec<SearchHit>, Vec<(ServerName, String, f32)>)>;

async fn semantic_rankings(model: &std::path::Path, set: &DevSet, queries: &[Query]) -> Rankings {
    let dir = tempfile::tempdir().unwrap();
    let lexical = TantivyIndex::open_with(dir.path(), SearchOptions::default()).unwrap();
    let embedder = mcpproxy_embed::open(model).unwrap();
    let hybrid = HybridIndex::new(Arc::new(lexical), embedder, Fusion::default());
    let started = Instant::now();
    for (name, tools) in set.server_names().unwrap() {
        hybrid.replace_server(&name, tools, &[]).await.unwrap();
    }
    eprintln!(
        "indexed and embedded {} tools in {:.1} s",
        set.tool_count(),
        started.elapsed().as_secs_f64()
    );
    let mut out = Vec::with_capacity(queries.len());
    let mut took = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        out.push(hybrid.rankings(&q.query, 4 * SHOWN + 10).await.unwrap());
        took.push(t.elapsed());
    }
    took.sort();
    eprintln!(
        "one query, both rankings: p50 {:.2} ms, p99 {:.2} ms",
        took[took.len() / 2].as_secs_f64() * 1e3,
        took[took.len() * 99 / 100].as_secs_f64() * 1e3
    );
    out
}

fn score_fused(rankings: &Rankings, queries: &[Query], fusion: Fusion) -> Scores {
    let mut scores = Scores::default();
    for (q, (lexical, semantic)) in queries.iter().zip(rankings) {
        let hits = fuse(lexical.clone(), semantic.clone(), fusion, SHOWN);
        let answer = Answer {
            ids: hits
                .iter()
                .map(|h| format!("{}:{}", h.server, h.tool))
                .collect(),
            low_confidence: Some(is_low_confidence(hits.first().map(|h| h.coverage))),
        };
        scores.add(q, &answer);
    }
    scores
}

/// The fusion's knobs against recall on the tuning part (never the blind part).
fn tune_fusion(rankings: &Rankings, queries: &[Query]) {
    println!("| weight | k | R@1 | R@5 | R@10 | MRR |");
    println!("|---|---|---|---|---|---|");
    for w in [0.2_f32, 0.3, 0.4, 0.5, 0.6, 0.7] {
        for k in [1.0_f32, 5.0, 10.0, 30.0, 60.0] {
            let fusion = Fusion {
                pool: 4 * SHOWN + 10,
                k,
                semantic_weight: w,
            };
            if let Some([r1, r5, r10, mrr]) =
                score_fused(rankings, queries, fusion).of("all answerable")
            {
                println!("| {w} | {k} | {r1:.3} | {r5:.3} | {r10:.3} | {mrr:.3} |");
            }
        }
    }
}

/// A minimal MCP client of `retrieve_tools` over streamable HTTP.
struct Session {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    next: u64,
}

impl Session {
    async fn post(&mut self, body: Value) -> Option<Value> {
        let id = body["id"].as_u64();
        let mut request = self
            .http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = &self.session {
            request = request.header("Mcp-Session-Id", s);
        }
        let response = request.send().await.ok()?;
        if let Some(s) = response.headers().get("mcp-session-id") {
            self.session = s.to_str().ok().map(str::to_owned);
        }
        let text = response.text().await.ok()?;
        id.and_then(|id| answer_in(&text, id))
    }

    async fn open(url: String) -> Self {
        let mut me = Self {
            http: reqwest::Client::new(),
            url,
            session: None,
            next: 1,
        };
        me.post(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "search-quality", "version": "1"}}}),
        )
        .await
        .expect("initialize answered");
        me.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        me
    }

    async fn retrieve(&mut self, query: &str) -> Option<Value> {
        self.next += 1;
        let answer = self
            .post(
                json!({"jsonrpc": "2.0", "id": self.next, "method": "tools/call", "params": {
                "name": "retrieve_tools", "arguments": {"query": query, "limit": SHOWN}}}),
            )
            .await?;
        let text = answer["result"]["content"][0]["text"].as_str()?;
        serde_json::from_str(text).ok()
    }
}

async fn endpoint(o: &Options, set: &DevSet, queries: &[Query]) -> Scores {
    let servers: Vec<Value> = set
        .servers
        .iter()
        .map(|s| {
            let file = o.dir.join("tools").join(format!("{}.json", s.server));
            json!({"name": s.server, "command": sibling("bench-upstream"),
                   "args": ["--replay", file], "quarantined": false})
        })
        .collect();
    let (proxy, _) = Proxy::start(&o.mcpproxy, Value::Array(servers))
        .await
        .unwrap();
    proxy
        .until_servers_ready(set.tool_count(), Duration::from_secs(120))
        .await
        .unwrap();
    let mut session = Session::open(proxy.mcp("/mcp")).await;
    // Ready servers are indexed a moment later: wait until each server's first tool is found.
    for s in &set.servers {
        let id = format!("{}:{}", s.server, s.tools[0].name);
        for _ in 0..600 {
            let found = session.retrieve(&id).await;
            if found.is_some_and(|r| r["tools"][0]["name"] == id.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut scores = Scores::default();
    for q in queries {
        let r = session.retrieve(&q.query).await.unwrap_or_default();
        let ids = r["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let answer = Answer {
            ids,
            low_confidence: r["low_confidence"].as_bool(),
        };
        scores.add(q, &answer);
    }
    proxy.process.stop().await;
    scores
}

/// The tuning-part queries whose first right tool is not in the top 5, with what came first.
fn misses(index: &TantivyIndex, queries: &[Query]) {
    for q in queries {
        let hits = index.search_tuned(&q.query, 10, None).unwrap();
        let ids: Vec<String> = hits
            .iter()
            .map(|h| format!("{}:{}", h.server, h.tool))
            .collect();
        let rank = ids.iter().position(|id| q.relevant.contains(id));
        let low = is_low_confidence(hits.first().map(|h| h.coverage));
        let wrong = if q.relevant.is_empty() {
            !low
        } else {
            rank.is_none_or(|r| r >= 5)
        };
        if wrong {
            let top: Vec<String> = hits
                .iter()
                .take(3)
                .map(|h| format!("{}:{} ({:.2})", h.server, h.tool, h.coverage))
                .collect();
            println!(
                "{} [{}] {:?} rank {:?} → {}",
                q.id,
                q.kind,
                q.query,
                rank.map(|r| r + 1),
                top.join(", ")
            );
        }
    }
}

/// How `low_confidence` would flag the queries at several thresholds (`--calibrate`).
fn calibrate(index: &TantivyIndex, queries: &[Query]) {
    let best: Vec<(bool, f32)> = queries
        .iter()
        .map(|q| {
            let hits = index.search_tuned(&q.query, 10, None).unwrap();
            (
                q.relevant.is_empty(),
                hits.first().map_or(0.0, |h| h.coverage),
            )
        })
        .collect();
    println!("| threshold | no-answer flagged | answerable flagged |\n|---|---|---|");
    for t in [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7] {
        let rate = |none: bool| {
            let group: Vec<f32> = best.iter().filter(|b| b.0 == none).map(|b| b.1).collect();
            group.iter().filter(|c| **c < t).count() as f64 / group.len().max(1) as f64
        };
        println!(
            "| {t} | {:.0} % | {:.0} % |",
            rate(true) * 100.0,
            rate(false) * 100.0
        );
    }
}

/// The knobs tried by `--tune`, scored on the queries given (the tuning part).
fn tune(index: &TantivyIndex, queries: &[Query]) {
    let mut results = Vec::new();
    for name in [2.0, 3.5] {
        for products in [1.0, 2.5] {
            for params in [0.2, 0.5] {
                for coverage_mix in [0.3, 0.6, 0.9] {
                    for product_bonus in [0.0, 2.0, 4.0] {
                        let t = Tuning {
                            boosts: [name, products, 1.0, params],
                            coverage_mix,
                            product_bonus,
                            ..Tuning::default()
                        };
                        let s = score_index(index, queries, Some(t));
                        let [r1, r5, _, mrr] = s.of("all answerable").unwrap();
                        results.push((r5 + r1 + mrr, r1, r5, mrr, t));
                    }
                }
            }
        }
    }
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("| recall@1 | recall@5 | MRR | tuning |\n|---|---|---|---|");
    for (_, r1, r5, mrr, t) in results.iter().take(15) {
        println!("| {r1:.3} | {r5:.3} | {mrr:.3} | {t:?} |");
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let set = DevSet::load(&o.dir).unwrap();
    let queries = set.part(&o.part);
    println!(
        "Dev set: {} tools from {} servers; {} queries in part `{}`.",
        set.tool_count(),
        set.servers.len(),
        queries.len(),
        o.part
    );
    let (index, _dir) = in_process(&set).await;
    let rankings = match &o.semantic {
        Some(model) => Some(semantic_rankings(model, &set, &queries).await),
        None => None,
    };
    if o.tune_fusion {
        assert!(
            o.part != "blind",
            "the fusion is tuned on the tuning part only"
        );
        tune_fusion(
            rankings
                .as_ref()
                .expect("--tune-fusion needs --semantic DIR"),
            &queries,
        );
        return;
    }
    if o.tune {
        tune(&index, &queries);
        return;
    }
    if o.calibrate {
        assert!(o.part != "blind", "calibrated on the tuning part only");
        calibrate(&index, &queries);
        return;
    }
    if o.misses {
        assert!(
            o.part != "blind",
            "the blind part is scored, never looked into"
        );
        misses(&index, &queries);
        return;
    }
    let bm25 = PlainBm25::new(&set);
    let mut baseline = Scores::default();
    for q in &queries {
        let answer = Answer {
            ids: bm25.search(&q.query, SHOWN),
            low_confidence: None,
        };
        baseline.add(q, &answer);
    }
    let mut systems = vec![
        (
            "plain BM25 (name + description, `\\w+`)".to_owned(),
            baseline,
        ),
        (
            "mcpproxy, in-process (the index)".to_owned(),
            score_index(&index, &queries, None),
        ),
    ];
    if let (Some(rankings), Some(model)) = (&rankings, &o.semantic) {
        let model = model.file_name().unwrap_or_default().to_string_lossy();
        let alone = Fusion {
            semantic_weight: 1.0,
            ..Fusion::default()
        };
        systems.push((
            format!("semantic only ({model}), in-process"),
            score_fused(rankings, &queries, alone),
        ));
        systems.push((
            format!("mcpproxy + semantic ({model}, default fusion), in-process"),
            score_fused(rankings, &queries, Fusion::default()),
        ));
    }
    if o.endpoint {
        systems.push((
            format!(
                "mcpproxy, `retrieve_tools` on `/mcp` ({})",
                o.mcpproxy.file_name().unwrap_or_default().to_string_lossy()
            ),
            endpoint(&o, &set, &queries).await,
        ));
    }
    print!("{}", table(&format!("part `{}`", o.part), &systems));
}
