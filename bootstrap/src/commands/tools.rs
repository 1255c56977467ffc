//! `mcpproxy tools …`: the tools of the upstream servers — list (from the running proxy, or
//! straight from one server with `-s`) and approve.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::{Args, Subcommand};
use mcpproxy_application::launch;
use mcpproxy_application::ports::ServerLogs;
use mcpproxy_domain::{GoDuration, ServerName};
use mcpproxy_upstream::{ConnectSpec, Connector, oneshot};
use serde_json::{Value, json};

use super::Context;
use super::output::{Table, cell, state, text};
use super::tool_switches as switches;
use super::upstream::{approve as approve_on, path};
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum ToolsCommand {
    /// List tools: every server's from the running proxy, or one server's with -s (straight
    /// from the server when no proxy runs, or with --trace-transport)
    List(ListArgs),
    /// Approve tools: `server:tool` names, bare names with -s, or every pending one with -s --all
    Approve(ApproveArgs),
    /// Switch tools on by hand: `server:tool`…
    Enable { targets: Vec<String> },
    /// Switch tools off by hand (neither listed, searched nor callable): `server:tool`…
    Disable { targets: Vec<String> },
    /// Reject (block) tools waiting for review: approve and switch them off at once;
    /// `server:tool` names, bare names with -s, or every waiting one with -s --all
    Reject(ApproveArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this server's tools
    #[arg(short = 's', long = "server", value_name = "NAME")]
    pub server: Option<String>,
    /// How long connecting to the server may take (direct listing), like 30s
    #[arg(short = 't', long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// Connect to the server directly and log its transport traffic to stderr (needs -s)
    #[arg(long)]
    pub trace_transport: bool,
    #[command(flatten)]
    pub log: crate::cli::CommandLogLevel,
}

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// `server:tool`, or bare tool names with --server
    pub targets: Vec<String>,
    #[arg(short = 's', long = "server", value_name = "NAME")]
    pub server: Option<String>,
    /// Every pending or changed tool of --server
    #[arg(long)]
    pub all: bool,
}

pub async fn run(ctx: &Context, command: ToolsCommand) -> Result<(), Failure> {
    match command {
        ToolsCommand::List(args) => list(ctx, &args).await,
        ToolsCommand::Approve(args) => approve(ctx, args).await,
        ToolsCommand::Enable { targets } => switches::switch_targets(ctx, &targets, true).await,
        ToolsCommand::Disable { targets } => switches::switch_targets(ctx, &targets, false).await,
        ToolsCommand::Reject(args) => {
            switches::reject(ctx, &args.targets, args.server.as_deref(), args.all).await
        }
    }
}

async fn list(ctx: &Context, args: &ListArgs) -> Result<(), Failure> {
    let timeout = GoDuration::parse(&args.timeout).map_err(|e| {
        Failure::new(
            Exit::General,
            format!("--timeout {:?}: {e} (like 30s or 2m)", args.timeout),
        )
    })?;
    if args.trace_transport {
        let Some(server) = &args.server else {
            return Err(Failure::new(
                Exit::General,
                "--trace-transport needs the server: -s NAME",
            ));
        };
        eprintln!("tracing the transport of '{server}' (stderr)");
        return direct(ctx, server, timeout).await;
    }
    let daemon = ctx.daemon().await?;
    match (daemon, &args.server) {
        (None, Some(server)) => direct(ctx, server, timeout).await,
        (None, None) => Err(Failure::new(
            Exit::General,
            "listing every server's tools needs a running mcpproxy (`mcpproxy serve`); \
             `mcpproxy tools list -s NAME` asks one server directly",
        )),
        (Some(daemon), Some(server)) => {
            let data = daemon
                .get(&format!("/servers/{}/tools", path(server)))
                .await?;
            ctx.show(&data, |d| {
                let tools = d["tools"].as_array().cloned().unwrap_or_default();
                if tools.is_empty() {
                    println!("No tools known for '{server}' yet; `mcpproxy upstream list` shows whether it is connected");
                    return;
                }
                let mut table = Table::new(&["NAME", "STATE", "DESCRIPTION"]);
                for t in &tools {
                    table.row(vec![
                        text(&t["name"]),
                        state(&text(&t["state"]), ctx.colour),
                        cell(&text(&t["description"]), 70),
                    ]);
                }
                table.print();
            });
            Ok(())
        }
        (Some(daemon), None) => {
            let data = daemon.get("/tools").await?;
            ctx.show(&data, |d| {
                let tools = d["tools"].as_array().cloned().unwrap_or_default();
                if tools.is_empty() {
                    println!("No tools yet; add a server with `mcpproxy upstream add`");
                    return;
                }
                let mut table =
                    Table::new(&["TOOL", "APPROVAL", "CALLABLE", "CALL WITH", "DESCRIPTION"]);
                for t in &tools {
                    table.row(vec![
                        text(&t["id"]),
                        state(&text(&t["approval"]), ctx.colour),
                        if t["enabled"] == true { "yes" } else { "no" }.to_owned(),
                        text(&t["call_with"]),
                        cell(&text(&t["description"]), 60),
                    ]);
                }
                table.print();
                let s = &d["stats"];
                println!(
                    "\n{} tools: {} callable, {} not, {} waiting for approval",
                    s["total"], s["enabled"], s["disabled"], s["pending_approval"]
                );
            });
            Ok(())
        }
    }
}

/// Connects to the server itself, lists its tools and disconnects.
async fn direct(ctx: &Context, name: &str, timeout: GoDuration) -> Result<(), Failure> {
    let config = &ctx.located.config;
    let server = config
        .servers
        .iter()
        .find(|s| s.name.as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
            Failure::new(
                Exit::General,
                format!(
                    "server {name:?} is not in {}; configured: {}",
                    ctx.located.config_path.display(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
    // What an agent added runs only after a person's review, here too.
    if let Some(hold @ launch::Hold::AwaitingReview) = launch::hold(server) {
        return Err(Failure::new(Exit::General, hold.explain(name)));
    }
    let mut spec = ConnectSpec::new(config, server)
        .map_err(|e| Failure::new(Exit::Config, format!("server {name:?}: {e}")))?;
    spec.init_timeout = timeout.to_std();
    let logs = Arc::new(ctx.server_logs());
    // No reaper: this process waits for the server to stop before it ends.
    let connector = Connector::new(logs as Arc<dyn ServerLogs>, None)
        .with_isolation(crate::app::isolator(&ctx.located.data_dir)?)
        .with_secrets(Arc::new(mcpproxy_secrets::Keyring::new()));
    if ctx.progress {
        eprintln!("connecting to '{name}' ({})…", spec.describe());
    }
    let listing = oneshot::list_tools(&connector, &spec)
        .await
        .map_err(|e| Failure::new(Exit::General, format!("server '{name}': {e}")))?;
    let tools: Vec<Value> = listing
        .tools
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    let data = json!({
        "server": name,
        "server_info": {"name": listing.server_info.name, "version": listing.server_info.version},
        "tools": tools,
        "total": tools.len(),
    });
    ctx.show(&data, |_| {
        if tools.is_empty() {
            println!("Server '{name}' offers no tools");
            return;
        }
        let mut table = Table::new(&["NAME", "DESCRIPTION"]);
        for t in &tools {
            table.row(vec![text(&t["name"]), cell(&text(&t["description"]), 70)]);
        }
        table.print();
    });
    Ok(())
}

async fn approve(ctx: &Context, args: ApproveArgs) -> Result<(), Failure> {
    let bad = |m: String| Failure::new(Exit::General, m);
    if args.all {
        let Some(server) = &args.server else {
            return Err(bad("--all needs the server: -s NAME --all".into()));
        };
        if !args.targets.is_empty() {
            return Err(bad("name tools or use --all, not both".into()));
        }
        return approve_on(ctx, server, &[]).await;
    }
    if args.targets.is_empty() {
        return Err(bad(
            "name the tools to approve (server:tool), or use -s NAME --all".into(),
        ));
    }
    let mut by_server: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for target in &args.targets {
        let (server, tool) = match (target.split_once(':'), &args.server) {
            (Some((s, t)), _) if !s.is_empty() && !t.is_empty() => (s.to_owned(), t.to_owned()),
            (None, Some(s)) => (s.clone(), target.clone()),
            _ => {
                return Err(bad(format!(
                    "{target:?} is not server:tool; or name the server with -s"
                )));
            }
        };
        ServerName::parse(&server).map_err(|e| bad(e.to_string()))?;
        by_server.entry(server).or_default().push(tool);
    }
    for (server, tools) in &by_server {
        approve_on(ctx, server, tools).await?;
    }
    Ok(())
}
