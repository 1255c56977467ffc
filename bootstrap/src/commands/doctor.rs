//! `mcpproxy doctor`: what is wrong and what to do, each finding with its stable `MCPX_*`
//! code. With a proxy running it asks the proxy (which sees the servers' state); without
//! one it says so and runs the checks that need none (config, commands on PATH, secrets,
//! data directory, listen address) through the same use case in this process.
//! `doctor list-codes` prints the catalog, `doctor fix CODE [--server NAME]` makes the
//! fixes the doctor can make.

use std::sync::Arc;

use clap::{Args, Subcommand};
use mcpproxy_application::diagnostics::{self, DiagnosticsReport, DiagnosticsService, FixOutcome};
use mcpproxy_application::ports::{ConfigStore, SecretStore};
use mcpproxy_config::FileConfigStore;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::diagnostics::Severity;
use serde_json::json;

use super::Context;
use super::daemon::Refusal;
use super::output::{Format, Table, cell};
use crate::cli::Cli;
use crate::exit::{Exit, Failure};
use crate::host::HostChecks;

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DoctorArgs {
    /// Only this server's findings
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: Option<DoctorCommand>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DoctorCommand {
    /// Every code the doctor reports, with its cause and whether `doctor fix` fixes it
    ListCodes,
    /// Make the fix for a code: restart a server whose cause is gone, start a login,
    /// make the data directory private again
    Fix(FixArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FixArgs {
    /// The MCPX_* code to fix (as `doctor` shows it)
    pub code: String,
    /// The server the finding concerns
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
}

/// Runs `doctor`. It locates the proxy's files itself: a config file that cannot be read is
/// a finding here, not the end of the command.
pub async fn run(cli: &Cli, format: Format, args: DoctorArgs) -> Result<(), Failure> {
    if let Some(DoctorCommand::ListCodes) = args.command {
        return list_codes(format);
    }
    let located = match crate::locate::locate(cli) {
        Ok(located) => located,
        Err(f) if f.exit == Exit::Config => {
            if args.command.is_some() {
                return Err(f);
            }
            let report = DiagnosticsReport::config_unreadable(&f.message);
            show(
                format,
                &report,
                "the config file cannot be read, so nothing else was checked",
            );
            return Ok(());
        }
        Err(f) => return Err(f),
    };
    let ctx = Context {
        log_dir: located.log_dir(cli),
        located,
        format,
        colour: super::output::colour(),
        progress: false,
    };
    match args.command {
        Some(DoctorCommand::Fix(fix_args)) => fix(&ctx, &fix_args).await,
        _ => diagnose(&ctx, args.server.as_deref()).await,
    }
}

/// The doctor of this process, for when no proxy runs.
fn offline(ctx: &Context) -> DiagnosticsService {
    let located = &ctx.located;
    let store: Arc<dyn ConfigStore> = Arc::new(FileConfigStore::with_config(
        &located.config_path,
        located.config.clone(),
    ));
    let keyring: Arc<dyn SecretStore> = Arc::new(mcpproxy_secrets::Keyring::new());
    let connector =
        mcpproxy_upstream::Connector::new(Arc::new(ctx.server_logs()), None).with_secrets(keyring);
    let host = HostChecks::new(Arc::new(connector), located.data_dir.clone());
    DiagnosticsService::offline(store, Arc::new(host))
}

async fn diagnose(ctx: &Context, server: Option<&str>) -> Result<(), Failure> {
    let (report, note) = match ctx.daemon().await? {
        Some(daemon) => {
            let path = match server {
                Some(s) => format!("/diagnostics?server={}", super::status::query_value(s)),
                None => "/diagnostics".to_owned(),
            };
            let data = daemon.get(&path).await?;
            let report: DiagnosticsReport = serde_json::from_value(data).map_err(|e| {
                Failure::new(
                    Exit::General,
                    format!("the daemon's diagnostics cannot be read: {e}"),
                )
            })?;
            (
                report,
                format!("asked the running mcpproxy at {}", daemon.via),
            )
        }
        None => {
            let report = offline(ctx)
                .diagnose(server)
                .await
                .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
            (
                report,
                format!(
                    "no mcpproxy runs for {}: these are the checks that need none (config, commands, secrets, data directory, listen address); start it with `mcpproxy serve` to see the servers' connections",
                    ctx.located.data_dir.display()
                ),
            )
        }
    };
    show(ctx.format, &report, &note);
    Ok(())
}

fn mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "✗",
        Severity::Warn => "!",
        Severity::Info => "i",
    }
}

fn show(format: Format, report: &DiagnosticsReport, note: &str) {
    let data = serde_json::to_value(report).unwrap_or_default();
    if format.print_data(&data) {
        return;
    }
    println!("{note}\n");
    if report.findings.is_empty() {
        println!(
            "No problems found ({} server(s) checked).",
            report.servers_checked
        );
        return;
    }
    for f in &report.findings {
        match &f.server {
            Some(s) => println!("{} {}  (server {s})", mark(f.severity), f.code),
            None => println!("{} {}", mark(f.severity), f.code),
        }
        println!("    cause:  {}", f.cause);
        println!("    seen:   {}", f.detail);
        for line in &f.stderr {
            println!("    stderr| {line}");
        }
        println!("    fix:    {}", f.fix);
        if f.fixable {
            let server = f
                .server
                .as_deref()
                .map(|s| format!(" --server {s}"))
                .unwrap_or_default();
            println!("    auto:   mcpproxy doctor fix {}{server}", f.code);
        }
        println!("    docs:   {}", f.docs_url);
        println!();
    }
    println!(
        "{} error(s), {} warning(s), {} server(s) checked.",
        report.errors, report.warnings, report.servers_checked
    );
}

fn list_codes(format: Format) -> Result<(), Failure> {
    let codes = diagnostics::codes();
    let data = serde_json::to_value(codes).unwrap_or_default();
    if format.print_data(&data) {
        return Ok(());
    }
    let mut table = Table::new(&["CODE", "SEVERITY", "FIX", "CAUSE"]);
    for c in codes {
        table.row(vec![
            c.code.to_owned(),
            format!("{:?}", c.severity).to_lowercase(),
            if c.fix_action.is_some() {
                "doctor fix"
            } else {
                "by hand"
            }
            .to_owned(),
            cell(c.cause, 90),
        ]);
    }
    table.print();
    Ok(())
}

async fn fix(ctx: &Context, args: &FixArgs) -> Result<(), Failure> {
    let outcome: FixOutcome = match ctx.daemon().await? {
        Some(daemon) => {
            let body = json!({"code": args.code, "server": args.server});
            let data = daemon.post("/diagnostics/fix", &body).await?;
            serde_json::from_value(data).map_err(|e| {
                Failure::new(
                    Exit::General,
                    format!("the daemon's answer cannot be read: {e}"),
                )
            })?
        }
        None => offline(ctx)
            .fix(&args.code, args.server.as_deref(), Source::Cli)
            .await
            .map_err(|e| {
                Failure::from(Refusal {
                    status: None,
                    code: None,
                    message: e.to_string(),
                })
            })?,
    };
    let data = serde_json::to_value(&outcome).unwrap_or_default();
    if !ctx.format.print_data(&data) {
        println!("{}", outcome.message);
        if let Some(url) = &outcome.login_url {
            println!("Login URL: {url}");
        }
    }
    Ok(())
}
