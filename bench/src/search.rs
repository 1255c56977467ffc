//! `retrieve_tools` in-process: the tantivy index queried through the `ToolIndex` port, as
//! the catalog does, over `count` tools in 100 servers.

use std::time::{Duration, Instant};

use mcpproxy_application::ports::ToolIndex;
use mcpproxy_domain::{ServerName, Tool};
use mcpproxy_search::TantivyIndex;

use crate::stats::Stats;
use crate::tools::generated;

#[derive(Debug)]
pub struct Measured {
    /// Building the index (one commit per server, as discovery does).
    pub build: Duration,
    pub query: Stats,
}

const QUERIES: [&str; 8] = [
    "create issue",
    "list pull requests in workspace 2",
    "delete repository",
    "send message to channel",
    "export invoice",
    "search customers by query",
    "archive document",
    "assign ticket to team",
];

pub async fn measure(count: usize, queries: usize) -> Result<Measured, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let index = TantivyIndex::open(dir.path()).map_err(|e| e.to_string())?;
    let per_server = count.div_ceil(100);
    let started = Instant::now();
    for s in 0..100 {
        let server = ServerName::parse(format!("server-{s:03}")).map_err(|e| e.to_string())?;
        let tools: Vec<Tool> = (s * per_server..((s + 1) * per_server).min(count))
            .map(|i| {
                let (name, description, schema) = generated(i);
                Tool::new(name, description, schema)
            })
            .collect();
        index
            .replace_server(&server, &tools, &[])
            .await
            .map_err(|e| e.to_string())?;
    }
    let build = started.elapsed();
    let mut latencies = Vec::with_capacity(queries);
    let started = Instant::now();
    for i in 0..queries {
        let t = Instant::now();
        let hits = index
            .search(QUERIES[i % QUERIES.len()], 60)
            .await
            .map_err(|e| e.to_string())?;
        latencies.push(t.elapsed());
        if hits.is_empty() {
            return Err(format!("{} found nothing", QUERIES[i % QUERIES.len()]));
        }
    }
    Ok(Measured {
        build,
        query: Stats::new(latencies, 0, started.elapsed()),
    })
}
