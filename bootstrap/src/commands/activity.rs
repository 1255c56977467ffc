//! `mcpproxy activity …`: the activity log of the running proxy — list, show, watch live,
//! summary, export.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

use super::Context;
use super::output::{Format, Table, cell, state, text, yaml};
use super::upstream::path as encode;
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum ActivityCommand {
    /// List records, newest first
    List(ListArgs),
    /// Show one record in full
    Show {
        id: String,
        /// Include the tool's response
        #[arg(long)]
        include_response: bool,
    },
    /// Print records as they happen, until interrupted
    Watch {
        /// Only this type (tool_call, server_change, …); several separated by commas
        #[arg(short = 't', long = "type")]
        kind: Option<String>,
        /// Only this server
        #[arg(short = 's', long)]
        server: Option<String>,
    },
    /// Export records as JSON or CSV, to stdout or a file
    Export(ExportArgs),
    /// Counts of a period: by status, the top servers and tools, and groups
    Summary(SummaryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SummaryArgs {
    /// How far back from now
    #[arg(short = 'p', long, default_value = "24h", value_parser = ["1h", "24h", "7d", "30d"])]
    pub period: String,
    /// Also count every group of this kind
    #[arg(long = "by", value_name = "KEY", value_parser = ["server", "tool", "status", "agent"])]
    pub group_by: Option<String>,
    /// Only these types (comma-separated), like tool_call
    #[arg(short = 't', long = "type")]
    pub kind: Option<String>,
    /// Only this server
    #[arg(short = 's', long)]
    pub server: Option<String>,
    /// Only this tool
    #[arg(long)]
    pub tool: Option<String>,
    /// Only calls made with this agent token
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct Filters {
    /// tool_call, policy_decision, quarantine_change, server_change, system_start,
    /// system_stop, config_change or tool_quarantine_change; several separated by commas
    #[arg(short = 't', long = "type")]
    pub kind: Option<String>,
    #[arg(short = 's', long)]
    pub server: Option<String>,
    #[arg(long)]
    pub tool: Option<String>,
    /// success, error, blocked or rejected
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long = "session")]
    pub session_id: Option<String>,
    /// From this time on (RFC 3339, like 2026-11-25T12:00:00Z)
    #[arg(long)]
    pub start_time: Option<String>,
    /// Up to this time (RFC 3339)
    #[arg(long)]
    pub end_time: Option<String>,
    /// Only records where sensitive data was detected
    #[arg(long)]
    pub sensitive_data: bool,
    /// Only records with a detection of this type (aws_access_key, credit_card, …)
    #[arg(long, value_name = "TYPE")]
    pub detection_type: Option<String>,
    /// Only records whose worst detection is at least this severe (low, medium, high,
    /// critical)
    #[arg(long, value_name = "LEVEL")]
    pub severity: Option<String>,
    /// Only calls made with this agent token
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Only calls by this kind of caller: admin or agent
    #[arg(long, value_name = "TYPE")]
    pub auth_type: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    #[arg(long)]
    pub request_id: Option<String>,
    /// How many records (1–100)
    #[arg(short = 'n', long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// json (JSON Lines) or csv
    #[arg(short = 'f', long, default_value = "json", value_parser = ["json", "csv"])]
    pub format: String,
    /// Write to this file instead of stdout (`--output FILE` works too, as in the Go CLI)
    #[arg(long = "file", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Keep each call's arguments and response (left out by default)
    #[arg(long)]
    pub include_bodies: bool,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("type", &self.kind),
            ("server", &self.server),
            ("tool", &self.tool),
            ("status", &self.status),
            ("session_id", &self.session_id),
            ("start_time", &self.start_time),
            ("end_time", &self.end_time),
            ("detection_type", &self.detection_type),
            ("severity", &self.severity),
            ("agent", &self.agent),
            ("auth_type", &self.auth_type),
            (
                "sensitive_data",
                &self.sensitive_data.then(|| "true".to_owned()),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

fn query(pairs: &[(&str, String)]) -> String {
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if joined.is_empty() {
        String::new()
    } else {
        format!("?{}", joined.join("&"))
    }
}

pub async fn run(ctx: &Context, command: ActivityCommand) -> Result<(), Failure> {
    let daemon = ctx.require_daemon("the activity log").await?;
    match command {
        ActivityCommand::List(args) => {
            let mut pairs = args.filters.pairs();
            if let Some(r) = &args.request_id {
                pairs.push(("request_id", r.clone()));
            }
            pairs.push(("limit", args.limit.to_string()));
            pairs.push(("offset", args.offset.to_string()));
            let page = daemon.get(&format!("/activity{}", query(&pairs))).await?;
            ctx.show(&page, |p| print_list(ctx, p));
            Ok(())
        }
        ActivityCommand::Show {
            id,
            include_response,
        } => {
            let mut record = daemon.get(&format!("/activity/{}", encode(&id))).await?;
            if !include_response && let Some(r) = record.as_object_mut() {
                r.remove("response");
            }
            ctx.show(&record, print_record);
            Ok(())
        }
        ActivityCommand::Watch { kind, server } => watch(ctx, &daemon, kind, server).await,
        ActivityCommand::Summary(args) => {
            let pairs: Vec<(&str, String)> = [
                ("period", Some(args.period.clone())),
                ("group_by", args.group_by.clone()),
                ("type", args.kind.clone()),
                ("server", args.server.clone()),
                ("tool", args.tool.clone()),
                ("agent", args.agent.clone()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let summary = daemon
                .get(&format!("/activity/summary{}", query(&pairs)))
                .await?;
            ctx.show(&summary, print_summary);
            Ok(())
        }
        ActivityCommand::Export(args) => {
            let mut pairs = args.filters.pairs();
            pairs.push(("format", args.format.clone()));
            if args.include_bodies {
                pairs.push(("include_bodies", "true".to_owned()));
            }
            let response = daemon
                .request(
                    Method::GET,
                    &format!("/api/v1/activity/export{}", query(&pairs)),
                )
                .send()
                .await
                .map_err(|e| Failure::from(daemon.unreachable(&e)))?;
            if !response.status().is_success() {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                return Err(Failure::new(Exit::General, text(&body["error"])));
            }
            let mut out: Box<dyn Write> = match &args.file {
                Some(path) => Box::new(std::fs::File::create(path).map_err(|e| {
                    Failure::new(
                        Exit::General,
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Failure::from(daemon.unreachable(&e)))?;
                out.write_all(&chunk).map_err(|e| {
                    Failure::new(Exit::General, format!("cannot write the export: {e}"))
                })?;
            }
            out.flush()
                .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
            if let Some(path) = &args.file {
                eprintln!("Exported to {}", path.display());
            }
            Ok(())
        }
    }
}

/// `2026-11-25T13:51:14.957Z` → `2026-11-25 13:51:14`.
fn when(ts: &Value) -> String {
    let t = text(ts);
    t.get(..19).map_or(t.clone(), |s| s.replace('T', " "))
}

fn duration(ms: &Value) -> String {
    match ms.as_i64() {
        Some(ms) if ms >= 1000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms}ms"),
        None => "-".to_owned(),
    }
}

fn print_list(ctx: &Context, page: &Value) {
    let records = page["activities"].as_array().cloned().unwrap_or_default();
    if records.is_empty() {
        println!("No activity found");
        return;
    }
    let mut table = Table::new(&[
        "ID",
        "TIME",
        "SOURCE",
        "TYPE",
        "SERVER",
        "TOOL",
        "AGENT",
        "SENSITIVE",
        "STATUS",
        "DURATION",
    ]);
    for r in &records {
        let sensitive = r["metadata"]["sensitive_data"]["highest_severity"]
            .as_str()
            .map_or_else(|| "-".to_owned(), str::to_ascii_uppercase);
        table.row(vec![
            text(&r["id"]),
            when(&r["timestamp"]),
            text(&r["source"]),
            text(&r["type"]),
            text(&r["server_name"]),
            cell(&text(&r["tool_name"]), 30),
            cell(&text(&r["metadata"]["_auth_agent"]), 20),
            sensitive,
            state(&text(&r["status"]), ctx.colour),
            duration(&r["duration_ms"]),
        ]);
    }
    table.print();
    let (total, offset) = (
        page["total"].as_u64().unwrap_or(0),
        page["offset"].as_u64().unwrap_or(0),
    );
    let shown = records.len() as u64;
    println!("\nShowing {}–{} of {total}", offset + 1, offset + shown);
    if offset + shown < total {
        println!("More: --offset {}", offset + shown);
    }
}

/// `n (12.5%)` of `total`.
fn share(n: u64, total: u64) -> String {
    let pct = if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    };
    format!("{n} ({pct:.1}%)")
}

fn print_summary(s: &Value) {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let total = n(&s["total_count"]);
    let title = format!("Activity Summary (last {})", text(&s["period"]));
    println!("{title}\n{}\n", "=".repeat(title.chars().count()));
    let mut metrics = Table::new(&["METRIC", "VALUE"]);
    metrics.row(vec!["Total".to_owned(), total.to_string()]);
    for (label, key) in [
        ("Successful", "success_count"),
        ("Errors", "error_count"),
        ("Blocked", "blocked_count"),
        ("Rejected", "rejected_count"),
    ] {
        metrics.row(vec![label.to_owned(), share(n(&s[key]), total)]);
    }
    metrics.print();
    let servers = s["top_servers"].as_array().cloned().unwrap_or_default();
    if !servers.is_empty() {
        println!("\nTOP SERVERS");
        let mut table = Table::new(&["SERVER", "RECORDS"]);
        for t in &servers {
            table.row(vec![text(&t["name"]), n(&t["count"]).to_string()]);
        }
        table.print();
    }
    let tools = s["top_tools"].as_array().cloned().unwrap_or_default();
    if !tools.is_empty() {
        println!("\nTOP TOOLS");
        let mut table = Table::new(&["TOOL", "RECORDS"]);
        for t in &tools {
            table.row(vec![
                format!("{}:{}", text(&t["server"]), text(&t["tool"])),
                n(&t["count"]).to_string(),
            ]);
        }
        table.print();
    }
    if let Some(groups) = s["groups"].as_array() {
        println!("\nBY {}", text(&s["group_by"]).to_ascii_uppercase());
        let mut table = Table::new(&["NAME", "TOTAL", "SUCCESS", "ERROR", "BLOCKED", "REJECTED"]);
        for g in groups {
            let name = g["name"].as_str().unwrap_or("-");
            table.row(vec![
                cell(name, 40),
                n(&g["count"]).to_string(),
                n(&g["success_count"]).to_string(),
                n(&g["error_count"]).to_string(),
                n(&g["blocked_count"]).to_string(),
                n(&g["rejected_count"]).to_string(),
            ]);
        }
        table.print();
    }
}

fn print_record(r: &Value) {
    let line = |label: &str, v: String| println!("{label:<14}{v}");
    line("ID:", text(&r["id"]));
    line("Type:", text(&r["type"]));
    line("Source:", text(&r["source"]));
    line("Server:", text(&r["server_name"]));
    line("Tool:", text(&r["tool_name"]));
    line("Status:", text(&r["status"]));
    line("Duration:", duration(&r["duration_ms"]));
    line("Time:", text(&r["timestamp"]));
    for (label, key) in [
        ("Session:", "session_id"),
        ("Request:", "request_id"),
        ("Error:", "error_message"),
    ] {
        if !r[key].is_null() {
            line(label, text(&r[key]));
        }
    }
    if let Some(found) = r["metadata"]["sensitive_data"].as_object() {
        println!("Sensitive Data Detections:");
        let mut table = Table::new(&["TYPE", "SEVERITY", "LOCATION", "EXAMPLE"]);
        for d in found
            .get("detections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            table.row(vec![
                text(&d["type"]),
                text(&d["severity"]),
                text(&d["location"]),
                if d["is_likely_example"] == true {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
            ]);
        }
        for l in table.render().lines() {
            println!("  {l}");
        }
        println!(
            "  Detection Count: {}  Highest Severity: {}",
            text(&found["detection_count"].clone()),
            text(&found["highest_severity"].clone())
        );
    }
    for (label, key) in [("Metadata:", "metadata"), ("Arguments:", "arguments")] {
        if r[key].as_object().is_some_and(|m| !m.is_empty()) || r[key].is_array() {
            println!("{label}");
            let pretty = serde_json::to_string_pretty(&r[key]).unwrap_or_default();
            for l in pretty.lines() {
                println!("  {l}");
            }
        }
    }
    if let Some(response) = r["response"].as_str() {
        println!("Response:");
        for l in response.lines() {
            println!("  {l}");
        }
        if r["response_truncated"] == true {
            println!("  (cut; the full response was not kept)");
        }
    }
}

/// Follows `/events`, printing activity records; reconnects when the stream drops.
async fn watch(
    ctx: &Context,
    daemon: &super::Daemon,
    kind: Option<String>,
    server: Option<String>,
) -> Result<(), Failure> {
    let mut backoff = Duration::from_secs(1);
    let mut interrupt = super::interrupts()?;
    loop {
        let stream = async {
            let response = daemon
                .request(Method::GET, "/events")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("the daemon answered {}", response.status()));
            }
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(chunk) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk.map_err(|e| e.to_string())?));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    show_event(ctx, &block, kind.as_deref(), server.as_deref());
                }
            }
            Ok(())
        };
        let ended = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            ended = stream => ended,
        };
        let why = ended
            .err()
            .unwrap_or_else(|| "the daemon closed the stream".to_owned());
        eprintln!(
            "connection lost ({why}); reconnecting in {}s",
            backoff.as_secs()
        );
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

fn show_event(ctx: &Context, block: &str, kind: Option<&str>, server: Option<&str>) {
    let mut name = "";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    if !name.starts_with("activity.") {
        return;
    }
    let Ok(event) = serde_json::from_str::<Value>(&data) else {
        return;
    };
    let p = &event["payload"];
    // `-t` takes one type or several separated by commas, as `activity list` does.
    let wanted = |k: &str| k.split(',').any(|t| p["type"] == t.trim());
    if kind.is_some_and(|k| !wanted(k)) || server.is_some_and(|s| p["server_name"] != s) {
        return;
    }
    // One record per line for scripts (JSON Lines; YAML documents).
    match ctx.format {
        Format::Json => return println!("{p}"),
        Format::Yaml => return print!("---\n{}", yaml(p)),
        Format::Table => {}
    }
    let target = match (p["server_name"].as_str(), p["tool_name"].as_str()) {
        (Some(s), Some(t)) => format!("{s}:{t}"),
        (Some(s), None) => s.to_owned(),
        _ => String::new(),
    };
    let time = text(&p["timestamp"]);
    let clock = time.get(11..19).unwrap_or(&time);
    let mut line = format!(
        "[{clock}] {:<8} {:<22} {:<30} {} {}",
        text(&p["source"]),
        text(&p["type"]),
        target,
        state(&text(&p["status"]), ctx.colour),
        duration(&p["duration_ms"]),
    );
    if let Some(e) = p["error_message"].as_str() {
        line.push_str(&format!("  {}", cell(e, 80)));
    }
    println!("{}", line.trim_end());
}
