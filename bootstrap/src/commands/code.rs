//! `mcpproxy code exec`: run a code execution script through the running proxy
//! (`POST /api/v1/code/exec`), with the same checks and records as an agent's script.
//! Prints the script's envelope as JSON; exits 0 when the script succeeded, 1 when it failed
//! or was refused, and 2 (clap's) for arguments that do not parse.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::Context;
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum CodeCommand {
    /// Run JavaScript: `code exec -e '({sum: input.a + input.b})' --input '{"a":1,"b":2}'`
    Exec(ExecArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// The JavaScript source
    #[arg(
        short = 'e',
        long = "code",
        value_name = "JS",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub code: Option<String>,
    /// A file with the JavaScript source (`-` reads stdin)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,
    /// The script's `input`, a JSON object
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// A file holding the script's `input`
    #[arg(long = "input-file", value_name = "PATH")]
    pub input_file: Option<String>,
    /// Wall time in milliseconds (1-600000; default: code_execution_timeout_ms)
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// The most tool calls the script may make (0: no limit)
    #[arg(long = "max-tool-calls", value_name = "N")]
    pub max_tool_calls: Option<u64>,
    /// The only servers the script may call, comma-separated
    #[arg(long = "allowed-servers", value_name = "NAMES", value_delimiter = ',')]
    pub allowed_servers: Vec<String>,
    #[command(flatten)]
    pub log: crate::cli::CommandLogLevel,
}

fn read(path: &str, what: &str) -> Result<String, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    text.map_err(|e| Failure::new(Exit::General, format!("cannot read the {what} {path}: {e}")))
}

fn body(args: ExecArgs) -> Result<Value, Failure> {
    let code = match (args.code, args.file) {
        (Some(code), _) => code,
        (None, Some(path)) => read(&path, "script")?,
        // clap requires one of them.
        (None, None) => return Err(Failure::new(Exit::General, "give the script with -e or -f")),
    };
    let input_text = match (args.input, args.input_file) {
        (Some(text), _) => text,
        (None, Some(path)) => read(&path, "input file")?,
        (None, None) => "{}".to_owned(),
    };
    let input: Value = serde_json::from_str(&input_text).map_err(|e| {
        Failure::new(
            Exit::General,
            format!("--input is not valid JSON ({e}); pass an object like '{{\"key\": 1}}'"),
        )
    })?;
    let mut options = Map::new();
    if let Some(t) = args.timeout {
        options.insert("timeout_ms".into(), json!(t));
    }
    if let Some(n) = args.max_tool_calls {
        options.insert("max_tool_calls".into(), json!(n));
    }
    if !args.allowed_servers.is_empty() {
        options.insert("allowed_servers".into(), json!(args.allowed_servers));
    }
    Ok(json!({"code": code, "input": input, "options": options}))
}

pub async fn run(ctx: &Context, command: CodeCommand) -> Result<(), Failure> {
    let CodeCommand::Exec(args) = command;
    let body = body(args)?;
    let daemon = ctx.require_daemon("running a script").await?;
    let (_, answer) = daemon.post_raw("/code/exec", &body).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string())
    );
    if answer["ok"] == true {
        return Ok(());
    }
    let code = answer["error"]["code"].as_str().unwrap_or("FAILED");
    let message = answer["error"]["message"]
        .as_str()
        .unwrap_or("the script failed");
    Err(Failure::new(Exit::General, format!("{message} [{code}]")))
}
