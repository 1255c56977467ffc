//! `bench-upstream [--http ADDR] [--tools N] [--work MS] [--burn-ms MS]`: a fast MCP server
//! for benchmarks, so the upstream is never the bottleneck. `echo` answers at once (or after
//! spending `--work` milliseconds of CPU, like a server doing real work: `--work 1`);
//! N−1 generated tools (realistic names and descriptions) fill the tool list for the search
//! and memory scenarios; `--burn-ms` spends that much CPU before serving (an interpreter
//! loading its modules), for the cold-start scenario. Over HTTP it answers plain JSON (no
//! SSE, no sessions) unless `--sessions`; without `--http`, over stdio.
//! `--replay FILE` serves the tool list of a dumped real server instead
//! (`bench/quality/tools/*.json`), for the search-quality harness.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fixture: a panic is a bug report

use std::sync::Arc;
use std::time::Duration;

use mcpproxy_bench::tools::generated;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone)]
struct Fast {
    tools: Arc<Vec<Tool>>,
    /// CPU spent on each call.
    work: Duration,
}

/// The CPU time this thread has run, from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Spends `cpu` of CPU time on this thread (wall time may be longer on a busy machine).
fn spend(cpu: Duration) {
    if cpu.is_zero() {
        return;
    }
    let until = thread_cpu() + cpu;
    let mut x: u64 = 1;
    while thread_cpu() < until {
        for i in 0..2_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
        }
    }
}

fn tool(name: String, description: String, schema: &Value) -> Tool {
    Tool::new(name, description, schema.as_object().unwrap().clone())
}

impl ServerHandler for Fast {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bench-upstream", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items((*self.tools).clone()))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let message = params
            .arguments
            .as_ref()
            .and_then(|a| a.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        spend(self.work);
        Ok(CallToolResult::success(vec![ContentBlock::text(message)]).into())
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut http, mut count, mut sessions, mut replay) = (None, 1usize, false, None);
    let (mut work, mut burn) = (Duration::ZERO, Duration::ZERO);
    let ms = |v: Option<String>| {
        let v = v.unwrap_or_default();
        Duration::from_secs_f64(v.trim_end_matches("ms").parse::<f64>().unwrap_or(0.0) / 1000.0)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--http" => http = args.next(),
            "--tools" => count = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            // Sessions and SSE answers, as MCP servers usually run (and as the proxy serves).
            "--sessions" => sessions = true,
            "--replay" => replay = args.next(),
            "--work" => work = ms(args.next()),
            "--burn-ms" => burn = ms(args.next()),
            other => panic!("unknown argument {other}"),
        }
    }
    let echo_schema = json!({"type": "object", "properties": {"message": {"type": "string"}},
        "required": ["message"]});
    let mut tools = vec![tool(
        "echo".into(),
        "Echoes back the message it is given.".into(),
        &echo_schema,
    )];
    tools.extend((1..count).map(|i| {
        let (name, description, schema) = generated(i);
        tool(name, description, &schema)
    }));
    if let Some(file) = replay {
        let dump: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        tools = serde_json::from_value(dump["tools"].clone()).unwrap();
    }
    spend(burn);
    let fast = Fast {
        tools: Arc::new(tools),
        work,
    };
    match http {
        None => {
            let running = fast.serve(rmcp::transport::stdio()).await.unwrap();
            let _ = running.waiting().await;
        }
        Some(addr) => {
            use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
            use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
            let mut config = StreamableHttpServerConfig::default().disable_allowed_hosts();
            if !sessions {
                config.legacy_session_mode = false;
                config.json_response = true;
            }
            let service = StreamableHttpService::new(
                move || Ok(fast.clone()),
                Arc::new(LocalSessionManager::default()),
                config,
            );
            let app = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            eprintln!("listening on http://{}/mcp", listener.local_addr().unwrap());
            // As the proxy does: small SSE writes must not wait for delayed ACKs.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await.unwrap();
        }
    }
}
