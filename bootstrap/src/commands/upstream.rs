//! `mcpproxy upstream …`: the upstream servers — list, add, remove, enable, disable,
//! restart, logs, patch, inspect, approve.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use mcpproxy_application::AddServer;
use mcpproxy_application::management::ManagementError;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::{GoDuration, ServerConfig};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::daemon::{Daemon, Refusal};
use super::output::{Table, cell, state, text};
use super::{Context, Standalone};
use crate::exit::{Exit, Failure};
use mcpproxy_application::ports::ServerLogs;

#[derive(Debug, Clone, Subcommand)]
pub enum UpstreamCommand {
    /// List the servers with their state (works without a running proxy)
    List(crate::cli::CommandLogLevel),
    /// Add a server: `add NAME URL` or `add NAME -- COMMAND ARGS…` (works without a running proxy)
    Add(AddArgs),
    /// Add a server from its JSON config: `add-json NAME '{"command": "npx", "args": […]}'`
    AddJson {
        name: String,
        /// The server's entry as JSON
        // Its own id: `json` is the global `--json` flag's.
        #[arg(id = "server_json", value_name = "JSON")]
        json: String,
    },
    /// Remove a server (works without a running proxy)
    Remove(RemoveArgs),
    /// Enable a server, or every server with --all
    Enable(TargetArgs),
    /// Disable a server, or every server with --all
    Disable(TargetArgs),
    /// Reconnect a server, or every server with --all
    Restart(TargetArgs),
    /// Quarantine a server: its tools cannot be called until it is approved
    Quarantine { name: String },
    /// Lift a server's quarantine: its current tools become the approved baseline
    Unquarantine { name: String },
    /// Show the last lines of a server's log; follow it with -f
    Logs(LogsArgs),
    /// Change a server's headers, env or init timeout
    Patch(PatchArgs),
    /// Show a server's tools with their approval state, or one tool's change with --tool
    Inspect {
        name: String,
        /// One tool: its approved and current description and schema
        #[arg(long)]
        tool: Option<String>,
    },
    /// Approve a server's pending or changed tools (all of them when none is named)
    Approve { name: String, tools: Vec<String> },
    /// Switch single tools (or all tools) of a server on or off by hand
    #[command(subcommand)]
    Tools(super::tool_switches::UpstreamToolsCommand),
    /// Import the servers of another AI client's config (Claude Desktop, Claude Code,
    /// Cursor, Codex, Gemini CLI); works without a running proxy
    Import(super::import::ImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The server's name (no `:`, which separates server and tool)
    pub name: String,
    /// The URL of a remote server (streamable HTTP or SSE)
    pub url: Option<String>,
    /// The command and arguments of a local stdio server, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// An HTTP header, `Name: value` (repeatable)
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// An environment variable, `KEY=value` (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The working directory of a stdio server
    #[arg(long, value_name = "DIR")]
    pub working_dir: Option<String>,
    /// stdio, http, streamable-http or sse [default: stdio for a command, detected for a URL]
    #[arg(long)]
    pub transport: Option<String>,
    /// Succeed without change when a server of that name exists
    #[arg(long)]
    pub if_not_exists: bool,
    /// Trust the server at once instead of quarantining it for review
    #[arg(long)]
    pub no_quarantine: bool,
    /// How tool changes are trusted: manual, auto or scan
    #[arg(long, value_parser = ["manual", "auto", "scan"])]
    pub trust_mode: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The server to remove
    pub name: String,
    /// Remove without asking
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Succeed without change when there is no such server
    #[arg(long)]
    pub if_exists: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The server
    pub name: Option<String>,
    /// The server (instead of the positional name)
    #[arg(short = 's', long = "server", value_name = "NAME")]
    pub server: Option<String>,
    /// Every server
    #[arg(long)]
    pub all: bool,
    /// With --all: do not ask for confirmation
    #[arg(long)]
    pub force: bool,
    /// Wait until the server is connected (or failed) and say how it ended
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The server
    pub name: Option<String>,
    /// The server (instead of the positional name)
    #[arg(short = 's', long = "server", value_name = "NAME")]
    pub server: Option<String>,
    /// How many lines
    #[arg(short = 'n', long, default_value_t = 50)]
    pub tail: u32,
    /// Keep printing new lines until interrupted (needs the running proxy)
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PatchArgs {
    /// The server to change
    pub name: String,
    /// Set a header, `Name: value` (repeatable)
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Remove a header (repeatable)
    #[arg(long = "header-remove", value_name = "NAME")]
    pub header_remove: Vec<String>,
    /// Set an environment variable, `KEY=value` (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Remove an environment variable (repeatable)
    #[arg(long = "env-remove", value_name = "KEY")]
    pub env_remove: Vec<String>,
    /// How long connecting may take, like 30s or 2m
    #[arg(long, value_name = "DURATION")]
    pub init_timeout: Option<String>,
}

/// A refusal from the services in this process, with the status the REST API would give.
impl From<ManagementError> for Refusal {
    fn from(e: ManagementError) -> Self {
        let code = match &e {
            ManagementError::Forbidden(gate) => Some(gate.code().to_owned()),
            _ => None,
        };
        let status = match &e {
            ManagementError::NotFound(_) => 404,
            ManagementError::AlreadyExists(_) => 409,
            ManagementError::Invalid(_) => 400,
            ManagementError::Forbidden(_) => 403,
            _ => 500,
        };
        Self {
            status: Some(status),
            message: e.to_string(),
            code,
        }
    }
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure::new(Exit::General, message)
}

/// The name from the positional argument or `-s`, not both.
fn one_name(name: Option<String>, server: Option<String>) -> Result<Option<String>, Failure> {
    match (name, server) {
        (Some(a), Some(b)) if a != b => Err(bad_input(
            "name the server once, either as the argument or with --server",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn run(ctx: &Context, command: UpstreamCommand) -> Result<(), Failure> {
    match command {
        UpstreamCommand::List(_) => list(ctx).await,
        UpstreamCommand::Add(args) => {
            let (body, skip) = add_body(&args)?;
            add(ctx, body, skip, args.if_not_exists).await
        }
        UpstreamCommand::AddJson { name, json } => {
            let mut body: Value = serde_json::from_str(&json)
                .map_err(|e| bad_input(format!("the JSON is not valid ({e}); pass one object like '{{\"command\": \"npx\", \"args\": [\"-y\", \"pkg\"]}}'")))?;
            let Some(object) = body.as_object_mut() else {
                return Err(bad_input(
                    "the JSON must be an object with 'url' or 'command'",
                ));
            };
            if !object.contains_key("url") && !object.contains_key("command") {
                return Err(bad_input(
                    "the JSON must have 'url' (a remote server) or 'command' (a local one)",
                ));
            }
            object.insert("name".into(), Value::String(name));
            let skip = object.get("quarantined") == Some(&Value::Bool(false));
            add(ctx, body, skip, false).await
        }
        UpstreamCommand::Remove(args) => remove(ctx, &args).await,
        UpstreamCommand::Enable(t) => act(ctx, "enable", t).await,
        UpstreamCommand::Disable(t) => act(ctx, "disable", t).await,
        UpstreamCommand::Restart(t) => act(ctx, "restart", t).await,
        UpstreamCommand::Quarantine { name } => single(ctx, "quarantine", &name, false).await,
        UpstreamCommand::Unquarantine { name } => single(ctx, "unquarantine", &name, false).await,
        UpstreamCommand::Logs(args) => logs(ctx, args).await,
        UpstreamCommand::Tools(command) => super::tool_switches::upstream(ctx, command).await,
        UpstreamCommand::Patch(args) => patch(ctx, &args).await,
        UpstreamCommand::Inspect { name, tool } => inspect(ctx, &name, tool.as_deref()).await,
        UpstreamCommand::Approve { name, tools } => approve(ctx, &name, &tools).await,
        UpstreamCommand::Import(args) => super::import::run(ctx, args).await,
    }
}

async fn list(ctx: &Context) -> Result<(), Failure> {
    let (data, running) = match ctx.daemon().await? {
        Some(daemon) => (daemon.get("/servers").await?, true),
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let servers = local
                .management
                .list_servers()
                .await
                .map_err(Refusal::from)?;
            local.close().await;
            let total = servers.len();
            (json!({"servers": servers, "total": total}), false)
        }
    };
    ctx.show(&data, |data| {
        let servers = data["servers"].as_array().cloned().unwrap_or_default();
        if servers.is_empty() {
            println!("No servers configured; add one with `mcpproxy upstream add NAME URL` or `mcpproxy upstream add NAME -- COMMAND ARGS…`");
            return;
        }
        let mut table = Table::new(&[
            "NAME",
            "PROTOCOL",
            "ISOLATION",
            "STATE",
            "TOOLS",
            "LAST ERROR",
        ]);
        for s in &servers {
            let label = if s["enabled"] == false {
                "Disabled".to_owned()
            } else if s["quarantined"] == true {
                "Quarantined".to_owned()
            } else if !running {
                "Not running".to_owned()
            } else {
                text(&s["status"])
            };
            // Remote servers run nowhere of ours: no isolation to show.
            let isolation = serde_json::from_value::<mcpproxy_domain::IsolationView>(
                s["isolation"].clone(),
            )
            .map_or_else(|_| "-".to_owned(), |v| v.summary());
            table.row(vec![
                text(&s["name"]),
                text(&s["protocol"]),
                isolation,
                state(&label, ctx.colour),
                s["tool_count"].to_string(),
                cell(&text(&s["last_error"]), 60),
            ]);
        }
        table.print();
        if !running {
            eprintln!("mcpproxy is not running: the servers are as configured, none is connected");
        }
    });
    Ok(())
}

/// `Name: value` → (name, value).
fn header(raw: &str) -> Result<(String, String), Failure> {
    match raw.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(bad_input(format!("header {raw:?} is not 'Name: value'"))),
    }
}

/// `KEY=value` → (key, value).
fn env_var(raw: &str) -> Result<(String, String), Failure> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(bad_input(format!("env {raw:?} is not 'KEY=value'"))),
    }
}

/// The server config `upstream add` describes, and whether to skip quarantine.
fn add_body(args: &AddArgs) -> Result<(Value, bool), Failure> {
    let mut body = Map::new();
    body.insert("name".into(), json!(args.name));
    let transport = args.transport.as_deref();
    match (&args.url, args.command.split_first()) {
        (Some(_), Some(_)) => {
            return Err(bad_input(
                "give either a URL or a command after `--`, not both",
            ));
        }
        (None, None) => {
            return Err(bad_input(format!(
                "say how to reach the server: `mcpproxy upstream add {0} https://…` or `mcpproxy upstream add {0} -- npx -y some-mcp-server`",
                args.name
            )));
        }
        (Some(url), None) => {
            if transport == Some("stdio") {
                return Err(bad_input(
                    "a stdio server needs a command after `--`, not a URL",
                ));
            }
            body.insert("url".into(), json!(url));
        }
        (None, Some((command, rest))) => {
            if matches!(transport, Some("http" | "streamable-http" | "sse")) {
                return Err(bad_input("an HTTP server needs a URL, not a command"));
            }
            body.insert("command".into(), json!(command));
            body.insert("args".into(), json!(rest));
        }
    }
    if let Some(t) = transport {
        body.insert("protocol".into(), json!(t));
    }
    let headers: Map<String, Value> = args
        .headers
        .iter()
        .map(|h| header(h).map(|(k, v)| (k, Value::String(v))))
        .collect::<Result<_, _>>()?;
    if !headers.is_empty() {
        body.insert("headers".into(), Value::Object(headers));
    }
    let env: Map<String, Value> = args
        .env
        .iter()
        .map(|e| env_var(e).map(|(k, v)| (k, Value::String(v))))
        .collect::<Result<_, _>>()?;
    if !env.is_empty() {
        body.insert("env".into(), Value::Object(env));
    }
    if let Some(dir) = &args.working_dir {
        body.insert("working_dir".into(), json!(dir));
    }
    if let Some(mode) = &args.trust_mode {
        body.insert("trust_mode".into(), json!(mode));
    }
    if args.no_quarantine {
        body.insert("quarantined".into(), json!(false));
    }
    Ok((Value::Object(body), args.no_quarantine))
}

async fn add(
    ctx: &Context,
    body: Value,
    skip_quarantine: bool,
    if_not_exists: bool,
) -> Result<(), Failure> {
    let name = text(&body["name"]);
    let added = match ctx.daemon().await? {
        Some(daemon) => daemon.post("/servers", &body).await,
        None => {
            let config: ServerConfig = serde_json::from_value(body)
                .map_err(|e| bad_input(format!("invalid server: {e}")))?;
            let local = Standalone::open(&ctx.located).await?;
            let added = local
                .management
                .add_server(
                    AddServer {
                        config,
                        skip_quarantine,
                    },
                    Source::Cli,
                )
                .await
                .map_err(Refusal::from)
                .and_then(|v| {
                    serde_json::to_value(v).map_err(|e| Refusal {
                        status: None,
                        code: None,
                        message: e.to_string(),
                    })
                });
            local.close().await;
            added
        }
    };
    let added = match added {
        Ok(v) => v,
        Err(r) if if_not_exists && r.status == Some(409) => {
            eprintln!("server '{name}' already exists (left as it is)");
            ctx.format
                .print_data(&json!({"name": name, "skipped": true}));
            return Ok(());
        }
        Err(r) => return Err(r.into()),
    };
    ctx.show(&added, |v| {
        println!("Added server '{name}'");
        if v["quarantined"] == true {
            println!("  It is quarantined until you review it: `mcpproxy upstream inspect {name}`, then `mcpproxy upstream unquarantine {name}`");
        }
    });
    Ok(())
}

/// Asks `question` on a terminal; false when the answer is not yes.
fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N]: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

async fn remove(ctx: &Context, args: &RemoveArgs) -> Result<(), Failure> {
    let name = &args.name;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(bad_input(format!(
                "removing '{name}' needs a confirmation; add --yes to remove it without a question"
            )));
        }
        if !confirm(&format!("Remove server '{name}'?")) {
            eprintln!("Cancelled; nothing removed");
            return Ok(());
        }
    }
    let removed = match ctx.daemon().await? {
        Some(daemon) => daemon
            .call(Method::DELETE, &format!("/servers/{}", path(name)), None)
            .await
            .map(|_| ()),
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let done = local
                .management
                .remove_server(name, Source::Cli)
                .await
                .map_err(Refusal::from);
            local.close().await;
            done
        }
    };
    match removed {
        Ok(()) => {}
        Err(r) if args.if_exists && r.status == Some(404) => {
            eprintln!("there is no server '{name}' (nothing to remove)");
            ctx.format
                .print_data(&json!({"name": name, "skipped": true}));
            return Ok(());
        }
        Err(r) => return Err(r.into()),
    }
    ctx.show(&json!({"name": name, "removed": true}), |_| {
        println!("Removed server '{name}'")
    });
    Ok(())
}

/// A server name as one path segment.
pub fn path(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn act(ctx: &Context, action: &str, target: TargetArgs) -> Result<(), Failure> {
    let name = one_name(target.name, target.server)?;
    match (name, target.all) {
        (Some(_), true) => Err(bad_input("name a server or use --all, not both")),
        (None, false) => Err(bad_input(format!(
            "name the server to {action}, or use --all for every server"
        ))),
        (Some(name), false) => single(ctx, action, &name, target.wait || ctx.progress).await,
        (None, true) => all(ctx, action, target.force).await,
    }
}

async fn single(ctx: &Context, action: &str, name: &str, wait: bool) -> Result<(), Failure> {
    let daemon = ctx.require_daemon(&format!("`upstream {action}`")).await?;
    let done = daemon
        .post(&format!("/servers/{}/{action}", path(name)), &json!({}))
        .await?;
    let waits = wait && matches!(action, "enable" | "restart" | "unquarantine");
    let settled = if waits {
        Some(settle(ctx, &daemon, name).await?)
    } else {
        None
    };
    let mut data = done;
    if let Some(s) = &settled {
        data["state"] = s["status"].clone();
        data["last_error"] = s["last_error"].clone();
    }
    ctx.show(&data, |_| {
        let past = match action {
            "enable" => "Enabled",
            "disable" => "Disabled",
            "restart" => "Restarted",
            "quarantine" => "Quarantined",
            _ => "Lifted the quarantine of",
        };
        match &settled {
            Some(s) if s["status"] == "Error" => println!(
                "{past} server '{name}'; it failed to connect: {}",
                text(&s["last_error"])
            ),
            Some(s) => println!(
                "{past} server '{name}'; it is {}",
                state(&text(&s["status"]), ctx.colour)
            ),
            None => println!("{past} server '{name}'"),
        }
    });
    Ok(())
}

/// The daemon's view of one server (`null` when it has none of that name).
async fn server_view(daemon: &Daemon, name: &str) -> Result<Value, Failure> {
    let servers = daemon.get("/servers").await?;
    Ok(servers["servers"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .cloned()
        .unwrap_or(Value::Null))
}

/// Waits, at most 30 s, until the server is connected or failed; shows the state on a
/// terminal meanwhile. Returns the server's last view.
async fn settle(ctx: &Context, daemon: &Daemon, name: &str) -> Result<Value, Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut shown = String::new();
    loop {
        let server = server_view(daemon, name).await?;
        let status = text(&server["status"]);
        let done = matches!(status.as_str(), "Ready" | "Error" | "Pending Auth")
            || server["enabled"] == false
            || Instant::now() >= deadline;
        if ctx.progress && status != shown {
            eprint!("\r\x1b[2K{name}: {status}…");
            shown = status;
        }
        if done {
            if ctx.progress {
                eprint!("\r\x1b[2K");
            }
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn all(ctx: &Context, action: &str, force: bool) -> Result<(), Failure> {
    let daemon = ctx
        .require_daemon(&format!("`upstream {action} --all`"))
        .await?;
    if action != "restart" && !force {
        if !std::io::stdin().is_terminal() {
            return Err(bad_input(format!(
                "`{action} --all` needs a confirmation; add --force to {action} every server without a question"
            )));
        }
        let total = daemon.get("/servers").await?["total"].clone();
        if !confirm(&format!("{action} all {total} servers?")) {
            eprintln!("Cancelled; nothing changed");
            return Ok(());
        }
    }
    if ctx.progress {
        eprint!("{action}ing every server…");
    }
    let result = daemon
        .post(&format!("/servers/{action}_all"), &json!({}))
        .await?;
    if ctx.progress {
        eprint!("\r\x1b[2K");
    }
    ctx.show(&result, |r| {
        println!(
            "{action} --all: {} servers, {} done, {} failed",
            r["total"], r["successful"], r["failed"]
        );
        for e in r["errors"].as_array().into_iter().flatten() {
            println!("  {}: {}", text(&e["server"]), text(&e["error"]));
        }
    });
    match result["failed"].as_u64() {
        Some(0) | None => Ok(()),
        Some(n) => Err(Failure::new(
            Exit::General,
            format!("{n} server(s) failed to {action}"),
        )),
    }
}

async fn logs(ctx: &Context, args: LogsArgs) -> Result<(), Failure> {
    let Some(name) = one_name(args.name, args.server)? else {
        return Err(bad_input("name the server whose log to show"));
    };
    if !(1..=10_000).contains(&args.tail) {
        return Err(bad_input("--tail must be between 1 and 10000"));
    }
    let Some(daemon) = ctx.daemon().await? else {
        if args.follow {
            return Err(super::daemon::needed("`upstream logs --follow`"));
        }
        // No daemon: its log file, as it left it.
        let server = ctx
            .located
            .config
            .servers
            .iter()
            .find(|s| s.name.as_str() == name)
            .ok_or_else(|| {
                bad_input(format!(
                    "server {name:?} is not configured; `mcpproxy upstream list` shows the servers"
                ))
            })?;
        let lines = ctx
            .server_logs()
            .tail(&server.name, args.tail as usize)
            .await
            .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
        print_lines(ctx, &name, &lines);
        return Ok(());
    };
    let tail_path = format!("/servers/{}/logs?tail={}", path(&name), args.tail);
    let lines = log_lines(&daemon.get(&tail_path).await?);
    print_lines(ctx, &name, &lines);
    if !args.follow {
        return Ok(());
    }
    let mut seen = lines;
    let mut interrupt = super::interrupts()?;
    loop {
        let poll = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            daemon
                .get(&format!("/servers/{}/logs?tail=1000", path(&name)))
                .await
        };
        let now = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            now = poll => log_lines(&now?),
        };
        for line in new_lines(&seen, &now) {
            println!("{line}");
        }
        seen = now;
    }
}

fn log_lines(data: &Value) -> Vec<String> {
    data["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

fn print_lines(ctx: &Context, name: &str, lines: &[String]) {
    ctx.show(&json!({"server": name, "logs": lines}), |_| {
        for line in lines {
            println!("{line}");
        }
    });
}

/// The lines of `now` after those already seen. Both are tails of the same growing log, so
/// the longest end of `seen` that starts `now` is what they share.
fn new_lines<'a>(seen: &[String], now: &'a [String]) -> &'a [String] {
    let most = seen.len().min(now.len());
    let shared = (0..=most)
        .rev()
        .find(|&k| seen[seen.len() - k..] == now[..k])
        .unwrap_or(0);
    &now[shared..]
}

async fn patch(ctx: &Context, args: &PatchArgs) -> Result<(), Failure> {
    let mut body = Map::new();
    let mut summary = Vec::new();
    let mut section = |key: &str,
                       set: Vec<(String, String)>,
                       unset: &[String],
                       what: &str|
     -> Result<(), Failure> {
        if set.is_empty() && unset.is_empty() {
            return Ok(());
        }
        let mut map = Map::new();
        for (k, v) in &set {
            if unset.contains(k) {
                return Err(bad_input(format!(
                    "{what} {k:?} is both set and removed; pick one"
                )));
            }
            map.insert(k.clone(), Value::String(v.clone()));
        }
        for k in unset {
            map.insert(k.clone(), Value::Null);
        }
        if !set.is_empty() {
            summary.push(format!("{} {what}(s) set", set.len()));
        }
        if !unset.is_empty() {
            summary.push(format!("{} {what}(s) removed", unset.len()));
        }
        body.insert(key.to_owned(), Value::Object(map));
        Ok(())
    };
    let headers = args
        .headers
        .iter()
        .map(|h| header(h))
        .collect::<Result<Vec<_>, _>>()?;
    section("headers", headers, &args.header_remove, "header")?;
    let env = args
        .env
        .iter()
        .map(|e| env_var(e))
        .collect::<Result<Vec<_>, _>>()?;
    section("env", env, &args.env_remove, "env var")?;
    if let Some(t) = &args.init_timeout {
        GoDuration::parse(t)
            .map_err(|e| bad_input(format!("--init-timeout {t:?}: {e} (like 30s or 2m)")))?;
        body.insert("init_timeout".into(), json!(t));
        summary.push(format!("init_timeout={t}"));
    }
    if body.is_empty() {
        return Err(bad_input(
            "say what to change: --header, --header-remove, --env, --env-remove or --init-timeout",
        ));
    }
    let patch = Value::Object(body);
    let name = &args.name;
    let patched = match ctx.daemon().await? {
        Some(daemon) => {
            daemon
                .call(
                    Method::PATCH,
                    &format!("/servers/{}", path(name)),
                    Some(&patch),
                )
                .await?
        }
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let done = local
                .management
                .patch_server(name, &patch, Source::Cli)
                .await;
            local.close().await;
            serde_json::to_value(done.map_err(Refusal::from)?)
                .map_err(|e| Failure::new(Exit::General, e.to_string()))?
        }
    };
    ctx.show(&patched, |_| {
        println!("Patched '{name}': {}", summary.join(", "))
    });
    Ok(())
}

async fn inspect(ctx: &Context, name: &str, tool: Option<&str>) -> Result<(), Failure> {
    let daemon = ctx.require_daemon("`upstream inspect`").await?;
    let data = daemon
        .get(&format!("/servers/{}/tools", path(name)))
        .await?;
    let tools = data["tools"].as_array().cloned().unwrap_or_default();
    if let Some(wanted) = tool {
        let found = tools
            .iter()
            .find(|t| t["name"] == wanted)
            .cloned()
            .ok_or_else(|| bad_input(format!("server '{name}' has no tool {wanted:?}; `mcpproxy upstream inspect {name}` lists them")))?;
        ctx.show(&found, |t| {
            println!("Tool:        {name}:{wanted}");
            println!("State:       {}", state(&text(&t["state"]), ctx.colour));
            println!("Fingerprint: {}", text(&t["fingerprint"]));
            println!("Scan:        {}", verdict(&t["scan"], ctx.colour));
            print_findings(&t["scan"]);
            if let Some(before) = t["approved_description"].as_str() {
                println!("\nApproved description:\n  {before}");
                println!("\nCurrent description:\n  {}", text(&t["description"]));
            } else {
                println!("\nDescription:\n  {}", text(&t["description"]));
            }
            if let Some(before) = t.get("approved_input_schema") {
                println!("\nApproved input schema:\n{}", pretty(before));
            }
            println!("\nInput schema:\n{}", pretty(&t["inputSchema"]));
        });
        return Ok(());
    }
    // What the server runs or contacts comes first: that is what a review is about.
    let server = server_view(&daemon, name).await?;
    let data = json!({"server": server, "tools": tools});
    ctx.show(&data, |_| {
        print_start_settings(&server);
        if tools.is_empty() {
            println!(
                "Server '{name}' has no tools known yet (is it connected? `mcpproxy upstream list`)"
            );
            return;
        }
        let mut table = Table::new(&["TOOL", "STATE", "SCAN", "FINGERPRINT", "DESCRIPTION"]);
        let count = |s: &str| tools.iter().filter(|t| t["state"] == s).count();
        for t in &tools {
            let fp = text(&t["fingerprint"]);
            table.row(vec![
                text(&t["name"]),
                state(&text(&t["state"]), ctx.colour),
                verdict(&t["scan"], ctx.colour),
                fp.chars().take(12).collect(),
                cell(&text(&t["description"]), 60),
            ]);
        }
        table.print();
        for t in tools.iter().filter(|t| t["scan"]["verdict"] != "clean" && !t["scan"].is_null()) {
            println!("\n{}:", text(&t["name"]));
            print_findings(&t["scan"]);
        }
        let dangerous = tools.iter().filter(|t| t["scan"]["verdict"] == "dangerous").count();
        if dangerous > 0 {
            println!(
                "\n{dangerous} tool(s) the scanner calls dangerous: never approved by trust; approve one by name only after reading it"
            );
        }
        let (pending, changed) = (count("pending"), count("changed"));
        println!(
            "\n{} approved, {pending} pending, {changed} changed ({} tools)",
            count("approved"),
            tools.len()
        );
        if pending + changed > 0 {
            println!("Approve them all: mcpproxy upstream approve {name}");
            println!("See a change:     mcpproxy upstream inspect {name} --tool <name>");
        }
    });
    Ok(())
}

/// The scanner's verdict, coloured: clean green, warnings yellow, dangerous red.
fn verdict(scan: &Value, colour: bool) -> String {
    let v = scan["verdict"].as_str().unwrap_or("-");
    let label = match v {
        "clean" => "approved",
        "warnings" => "pending",
        "dangerous" => "error",
        _ => "-",
    };
    if colour && label != "-" {
        state(label, true).replace(label, v)
    } else {
        v.to_owned()
    }
}

fn print_findings(scan: &Value) {
    for f in scan["findings"].as_array().into_iter().flatten() {
        println!(
            "  [{}] {} {} at {}: {}",
            text(&f["tier"]),
            text(&f["severity"]),
            text(&f["check"]),
            text(&f["location"]),
            text(&f["message"]),
        );
        if let Some(e) = f["evidence"].as_str() {
            println!("      evidence: {}", cell(e, 140));
        }
    }
}

/// The command, arguments, env (masked), URL and headers (masked) of a server, who added it
/// and why it is not started.
fn print_start_settings(server: &Value) {
    let line = |label: &str, v: &Value| {
        if let Some(t) = v.as_str().filter(|t| !t.is_empty()) {
            println!("{label:<13}{t}");
        }
    };
    line("Added by:", &server["added_by"]);
    line("Command:", &server["command"]);
    if let Some(args) = server["args"].as_array() {
        let args: Vec<String> = args.iter().map(|a| format!("{a}")).collect();
        println!("{:<13}{}", "Args:", args.join(" "));
    }
    line("Working dir:", &server["working_dir"]);
    line("URL:", &server["url"]);
    for key in ["env", "headers"] {
        if let Some(map) = server[key].as_object() {
            for (k, v) in map {
                println!("{:<13}{k}={}", format!("{key}:"), text(v));
            }
        }
    }
    line("Not started:", &server["not_started"]);
    if server.is_object() {
        println!();
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

pub async fn approve(ctx: &Context, name: &str, tools: &[String]) -> Result<(), Failure> {
    let daemon = ctx.require_daemon("approving tools").await?;
    let body = if tools.is_empty() {
        json!({})
    } else {
        json!({"tools": tools})
    };
    let data = daemon
        .post(&format!("/servers/{}/tools/approve", path(name)), &body)
        .await?;
    ctx.show(&data, |d| {
        let approved: Vec<String> = d["approved"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        if approved.is_empty() {
            println!("Nothing to approve on '{name}': its tools are approved already");
        } else {
            println!(
                "Approved {} tool(s) of '{name}': {}",
                approved.len(),
                approved.join(", ")
            );
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn following_prints_only_what_is_new() {
        let seen = lines(&["a", "b", "c"]);
        assert_eq!(
            new_lines(&seen, &lines(&["b", "c", "d", "e"])),
            &lines(&["d", "e"])[..]
        );
        assert!(new_lines(&seen, &lines(&["a", "b", "c"])).is_empty());
        // More new lines than the tail holds: all of it is new.
        assert_eq!(
            new_lines(&seen, &lines(&["x", "y"])),
            &lines(&["x", "y"])[..]
        );
        // A repeated line is matched with what came before it.
        let seen = lines(&["ping", "ok", "ping"]);
        assert_eq!(
            new_lines(&seen, &lines(&["ok", "ping", "ping"])),
            &lines(&["ping"])[..]
        );
    }

    #[test]
    fn add_reads_a_url_or_a_command() {
        let args = |url: Option<&str>, cmd: &[&str]| AddArgs {
            name: "x".into(),
            url: url.map(str::to_owned),
            command: cmd.iter().map(|s| (*s).to_owned()).collect(),
            headers: vec!["Authorization: Bearer t".into()],
            env: vec!["A=1=2".into()],
            working_dir: None,
            transport: None,
            if_not_exists: false,
            no_quarantine: true,
            trust_mode: None,
        };
        let (body, skip) = add_body(&args(None, &["npx", "-y", "pkg"])).unwrap();
        assert!(skip);
        assert_eq!(body["command"], "npx");
        assert_eq!(body["args"], json!(["-y", "pkg"]));
        assert_eq!(body["headers"]["Authorization"], "Bearer t");
        assert_eq!(body["env"]["A"], "1=2");
        assert_eq!(body["quarantined"], false);
        let (body, _) = add_body(&args(Some("http://h/mcp"), &[])).unwrap();
        assert_eq!(body["url"], "http://h/mcp");
        assert!(
            add_body(&args(None, &[]))
                .unwrap_err()
                .message
                .contains("-- npx")
        );
        assert!(add_body(&args(Some("u"), &["c"])).is_err());
    }

    #[test]
    fn names_become_one_path_segment() {
        assert_eq!(path("my server/x"), "my%20server%2Fx");
        assert_eq!(path("gh_1-a.b"), "gh_1-a.b");
    }
}
