//! The benchmark harness of mcpproxy: a load generator that speaks MCP's JSON-RPC itself
//! ([`load`]), the statistics it reports ([`stats`]), and the tools of the fast upstream
//! ([`tools`]). The binaries: `mcp-load` (one run, JSON out), `bench-upstream` (the fast
//! upstream, HTTP or stdio), `bench` (every scenario, Markdown tables out) and
//! `search-quality` (ranking quality on the dev set in `bench/quality`, [`quality`]).
#![forbid(unsafe_code)]

pub mod load;
pub mod peers;
pub mod procs;
pub mod quality;
pub mod search;
pub mod sse;
pub mod stats;
pub mod tools;
