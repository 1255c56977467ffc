//! `mcpproxy call …`: call an upstream tool through the running proxy — or, with none
//! running, straight at the tool's server from this process — with the same checks an
//! agent's call gets (quarantine, approval, arguments, intent) and the same record.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::Context;
use super::output::text;
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum CallCommand {
    /// Call a tool: `call tool -t server:tool -j '{"key": "value"}'`
    Tool(ToolArgs),
    /// Call a tool that only reads, declaring the intent (refused for destructive tools)
    ToolRead(IntentArgs),
    /// Call a tool that writes, declaring the intent (refused for destructive tools)
    ToolWrite(IntentArgs),
    /// Call a destructive tool, declaring the intent
    ToolDestructive(IntentArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ToolArgs {
    /// The tool, `server:tool`
    #[arg(short = 't', long = "tool-name", value_name = "SERVER:TOOL")]
    pub tool_name: String,
    /// The arguments, a JSON object
    #[arg(
        short = 'j',
        long = "json_args",
        visible_alias = "json-args",
        default_value = "{}",
        value_name = "JSON"
    )]
    pub json_args: String,
    /// How long the server may take to answer, like 30s [default: call_tool_timeout]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    #[command(flatten)]
    pub log: crate::cli::CommandLogLevel,
}

#[derive(Debug, Clone, Args)]
pub struct IntentArgs {
    #[command(flatten)]
    pub tool: ToolArgs,
    /// Why the tool is called (kept in the activity log)
    #[arg(long)]
    pub reason: Option<String>,
    /// How sensitive the data is
    #[arg(long, value_parser = ["public", "internal", "private", "unknown"])]
    pub sensitivity: Option<String>,
}

fn arguments(raw: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Failure::new(
            Exit::General,
            format!("-j must be a JSON object like '{{\"key\": \"value\"}}', not {other}"),
        )),
        Err(e) => Err(Failure::new(
            Exit::General,
            format!("-j is not valid JSON ({e}); pass an object like '{{\"key\": \"value\"}}'"),
        )),
    }
}

pub async fn run(ctx: &Context, command: CallCommand) -> Result<(), Failure> {
    let body = match command {
        CallCommand::Tool(args) => {
            let mut body = json!({
                "tool_name": args.tool_name,
                "arguments": arguments(&args.json_args)?,
            });
            if let Some(t) = args.timeout {
                body["timeout"] = json!(t);
            }
            body
        }
        CallCommand::ToolRead(a) => variant("call_tool_read", a)?,
        CallCommand::ToolWrite(a) => variant("call_tool_write", a)?,
        CallCommand::ToolDestructive(a) => variant("call_tool_destructive", a)?,
    };
    let result = match ctx.daemon().await? {
        Some(daemon) => daemon.post("/tools/call", &body).await?,
        // No proxy: connect to the tool's server from here, through the same checks.
        None => {
            let timeout = match body["timeout"].as_str() {
                Some(t) => Some(
                    mcpproxy_domain::GoDuration::parse(t)
                        .ok()
                        .map(|d| d.to_std())
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            Failure::new(
                                Exit::General,
                                format!("--timeout {t:?} is not a duration like 30s or 2m"),
                            )
                        })?,
                ),
                None => None,
            };
            let arguments = body["arguments"].as_object().cloned().unwrap_or_default();
            let tool = body["tool_name"].as_str().unwrap_or_default().to_owned();
            super::direct_call::call(ctx, &tool, arguments, timeout).await?
        }
    };
    ctx.show(&result, |r| {
        for item in r["content"].as_array().into_iter().flatten() {
            match item["type"].as_str() {
                Some("text") => println!("{}", text(&item["text"])),
                _ => println!("{item}"),
            }
        }
        if let Some(structured) = r.get("structuredContent") {
            println!("{structured}");
        }
    });
    if result["isError"] == true {
        return Err(Failure::new(
            Exit::General,
            "the tool answered with an error (shown above)",
        ));
    }
    Ok(())
}

/// A `call_tool_*` call, as agents make it: the tool and its arguments inside.
fn variant(name: &str, a: IntentArgs) -> Result<Value, Failure> {
    let mut arguments = Map::new();
    arguments.insert("name".into(), json!(a.tool.tool_name));
    arguments.insert(
        "args".into(),
        Value::Object(self::arguments(&a.tool.json_args)?),
    );
    if let Some(reason) = a.reason {
        arguments.insert("intent_reason".into(), json!(reason));
    }
    if let Some(s) = a.sensitivity {
        arguments.insert("intent_data_sensitivity".into(), json!(s));
    }
    let mut body = json!({"tool_name": name, "arguments": arguments});
    if let Some(t) = a.tool.timeout {
        body["timeout"] = json!(t);
    }
    Ok(body)
}
