//! `mcpproxy upstream import <path>`: the servers of another AI client's config file added
//! here (quarantined unless `--no-quarantine`; names that exist are reported, not
//! overwritten; `--dry-run` changes nothing).

use std::path::PathBuf;

use clap::Args;
use mcpproxy_application::import::{ImportError, ImportRequest};
use mcpproxy_application::ports::ImportSource;
use mcpproxy_domain::activity::Source;
use serde_json::{Value, json};

use super::daemon::Refusal;
use super::output::{Table, text};
use super::{Context, Standalone};
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The config file (Claude Desktop, Claude Code, Cursor, Codex or Gemini CLI)
    pub path: PathBuf,
    /// The file's format [default: told from the file]
    #[arg(long, value_parser = ["claude-desktop", "claude-code", "cursor", "codex", "gemini"])]
    pub format: Option<String>,
    /// Show what would be imported; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Import only this server (repeatable)
    #[arg(short = 's', long = "server", value_name = "NAME")]
    pub servers: Vec<String>,
    /// Trust the imported servers instead of quarantining them for review
    #[arg(long)]
    pub no_quarantine: bool,
    /// Store values that look like secrets (tokens, passwords) in the OS keyring and
    /// import ${keyring:NAME} references instead
    #[arg(long)]
    pub to_keyring: bool,
}

impl From<ImportError> for Refusal {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Management(m) => m.into(),
            ImportError::Client(c) => c.into(),
        }
    }
}

pub async fn run(ctx: &Context, args: ImportArgs) -> Result<(), Failure> {
    let path = std::path::absolute(&args.path)
        .map_err(|e| Failure::new(Exit::General, format!("{}: {e}", args.path.display())))?;
    let data: Value = match ctx.daemon().await? {
        Some(daemon) => {
            let query = format!(
                "/servers/import/path?preview={}&no_quarantine={}",
                args.dry_run, args.no_quarantine
            );
            let body = json!({"path": path, "format": args.format, "server_names": args.servers,
                "to_keyring": args.to_keyring});
            daemon.post(&query, &body).await?
        }
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let request = ImportRequest {
                source: ImportSource::Path(path),
                format: args.format.clone(),
                only: args.servers.clone(),
                dry_run: args.dry_run,
                skip_quarantine: args.no_quarantine,
                to_keyring: args.to_keyring,
            };
            let report = local.discovery.imports.import(request, Source::Cli).await;
            local.close().await;
            serde_json::to_value(report.map_err(Refusal::from)?).unwrap_or(Value::Null)
        }
    };
    ctx.show(&data, print);
    if data["summary"]["failed"].as_u64().unwrap_or(0) > 0
        && data["summary"]["imported"].as_u64().unwrap_or(0) == 0
        && data["summary"]["skipped"].as_u64().unwrap_or(0) == 0
    {
        return Err(Failure::new(Exit::General, "no server could be imported"));
    }
    Ok(())
}

fn print(data: &Value) {
    let dry = data["dry_run"] == true;
    println!(
        "{} ({}): {} {}, {} skipped, {} failed",
        text(&data["format_name"]),
        text(&data["format"]),
        data["summary"]["imported"],
        if dry { "would be imported" } else { "imported" },
        data["summary"]["skipped"],
        data["summary"]["failed"],
    );
    let mut table = Table::new(&["SERVER", "RESULT", "DETAIL"]);
    for s in data["imported"].as_array().into_iter().flatten() {
        let runs = if text(&s["command"]).is_empty() {
            text(&s["url"])
        } else {
            text(&s["command"])
        };
        let result = match (dry, s["quarantined"] == true) {
            (true, true) => "would import (quarantined)",
            (true, false) => "would import",
            (false, true) => "imported (quarantined)",
            (false, false) => "imported",
        };
        table.row(vec![text(&s["name"]), result.to_owned(), runs]);
    }
    for s in data["skipped"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&s["name"]),
            "skipped".to_owned(),
            text(&s["reason"]),
        ]);
    }
    for s in data["failed"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&s["name"]),
            "failed".to_owned(),
            text(&s["reason"]),
        ]);
    }
    table.print();
    for s in data["secrets"].as_array().into_iter().flatten() {
        let place = if s["in_keyring"] == true {
            format!(
                "{} keyring {}",
                if dry { "would go to the" } else { "in the" },
                text(&s["reference"])
            )
        } else {
            "plain text in the config".to_owned()
        };
        println!(
            "secret {}.{} {}: {place}",
            text(&s["server"]),
            text(&s["scope"]),
            text(&s["key"])
        );
    }
    for w in data["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", text(w));
    }
    if dry {
        println!("Dry run: nothing was changed.");
    } else if data["imported"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s["quarantined"] == true))
    {
        println!(
            "Review the quarantined servers' tools, then approve each with: mcpproxy upstream approve <name>"
        );
    }
}
