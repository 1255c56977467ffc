//! The commands people type besides `serve`. Each is a driving adapter like REST and MCP: it
//! parses, asks the proxy's services, and prints. With a daemon running it asks the daemon
//! over its REST API (the unix socket first); the commands that can work alone (`upstream
//! list|add|add-json|remove|patch|logs`, `tools list -s`, `call tool…`, `status`) use the
//! same services in this process when none runs. So do `upstream import`, `registry …`, `search-servers`,
//! `connect` and `disconnect`.

pub mod activity;
pub mod auth;
pub mod call;
pub mod code;
pub mod connect;
pub(crate) mod daemon;
mod direct_call;
pub mod doctor;
pub mod import;
pub mod output;
pub mod registry;
pub mod secrets;
mod standalone;
pub mod status;
pub mod token;
pub mod tool_switches;
pub mod tools;
pub mod trust_cert;
pub mod upstream;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::exit::Failure;
use crate::locate::{Located, locate};
pub use daemon::Daemon;
use output::Format;
pub use standalone::Standalone;

/// What every command gets: where the proxy's files are, and how to print.
#[derive(Debug)]
pub struct Context {
    pub located: Located,
    pub format: Format,
    /// Colours in tables: stdout is a terminal and `NO_COLOR` is unset.
    pub colour: bool,
    /// Progress on stderr: it is a terminal.
    pub progress: bool,
    /// Where the daemon writes the server logs.
    pub log_dir: std::path::PathBuf,
}

impl Context {
    /// The running daemon, or `None`.
    pub async fn daemon(&self) -> Result<Option<Daemon>, Failure> {
        Daemon::find(&self.located).await
    }

    /// The running daemon, or the refusal saying `what` needs one.
    pub async fn require_daemon(&self, what: &str) -> Result<Daemon, Failure> {
        self.daemon().await?.ok_or_else(|| daemon::needed(what))
    }

    /// The server log files, as the daemon writes them.
    pub fn server_logs(&self) -> mcpproxy_logs::ServerLogFiles {
        let logging = &self.located.config.logging;
        mcpproxy_logs::ServerLogFiles::new(
            &self.log_dir,
            mcpproxy_logs::Rotation::from_config(
                logging.max_size,
                logging.max_backups,
                logging.max_age,
            ),
        )
    }

    /// Whether data is printed for scripts (JSON or YAML) rather than drawn for people.
    pub fn format_is_data(&self) -> bool {
        self.format != Format::Table
    }

    /// Prints `data` as JSON or YAML, or draws it with `table` for people.
    pub fn show(&self, data: &serde_json::Value, table: impl FnOnce(&serde_json::Value)) {
        if !self.format.print_data(data) {
            table(data);
        }
    }
}

/// Logs of the command itself go to stderr, quiet unless asked (`--log-level`, `RUST_LOG`);
/// `trace` shows the upstream transport's traffic.
fn init_logging(level: Option<crate::cli::LogLevel>, trace: bool) {
    let level = level.map_or("warn", |l| l.as_str());
    let filter = if trace {
        EnvFilter::new(format!("{level},rmcp=trace,mcpproxy_upstream=trace"))
    } else {
        std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| EnvFilter::try_new(v).ok())
            .unwrap_or_else(|| EnvFilter::new(level))
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(trace)
        .try_init();
}

/// Runs a command other than `serve`.
pub async fn run(cli: &Cli, command: Command) -> Result<(), Failure> {
    let trace =
        matches!(&command, Command::Tools(tools::ToolsCommand::List(a)) if a.trace_transport);
    init_logging(cli.log_level(&command), trace);
    if let Command::Version = command {
        return version(cli);
    }
    // `activity export --output FILE` (the Go CLI's form): a value that is no format names
    // the file.
    let mut command = command;
    let mut output = cli.output_format();
    if let (Command::Activity(activity::ActivityCommand::Export(args)), Some(o)) =
        (&mut command, output)
        && args.file.is_none()
        && Format::choose(false, Some(o)).is_err()
    {
        args.file = Some(o.into());
        output = None;
    }
    let format = Format::choose(cli.json, output)?;
    if let Command::Doctor(args) = command {
        return doctor::run(cli, format, args).await;
    }
    let located = locate(cli)?;
    let ctx = Context {
        log_dir: located.log_dir(cli),
        located,
        format,
        colour: output::colour(),
        progress: std::io::stderr().is_terminal(),
    };
    match command {
        Command::Upstream(c) => upstream::run(&ctx, c).await,
        Command::Tools(c) => tools::run(&ctx, c).await,
        Command::Call(c) => call::run(&ctx, c).await,
        Command::Code(c) => code::run(&ctx, c).await,
        Command::Status(a) => status::run(&ctx, &a).await,
        Command::Activity(c) => activity::run(&ctx, c).await,
        Command::Auth(c) => auth::run(&ctx, c).await,
        Command::Secrets(c) => secrets::run(&ctx, c).await,
        Command::Token(c) => token::run(&ctx, c).await,
        Command::Registry(c) => registry::run(&ctx, c).await,
        Command::SearchServers(a) => registry::search_servers(&ctx, &a).await,
        Command::Connect(a) => connect::connect(&ctx, a).await,
        Command::Disconnect(a) => connect::disconnect(&ctx, a).await,
        Command::TrustCert(a) => trust_cert::run(&ctx, &a),
        Command::Serve(_)
        | Command::Doctor(_)
        | Command::Openapi
        | Command::Reaper
        | Command::Version => Ok(()),
    }
}

fn version(cli: &Cli) -> Result<(), Failure> {
    let data = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    });
    if !Format::choose(cli.json, cli.output_format())?.print_data(&data) {
        println!(
            "mcpproxy {} {}/{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
    }
    Ok(())
}

/// Ctrl-C for the commands that follow something (`logs -f`, `activity watch`): one handle
/// for the whole command, because a Ctrl-C that arrives while no `ctrl_c()` future exists
/// (between two polls) would otherwise be lost and the command would never end.
pub(crate) fn interrupts() -> Result<tokio::signal::unix::Signal, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::interrupt()).map_err(|e| {
        Failure::new(
            crate::exit::Exit::General,
            format!("cannot watch Ctrl-C: {e}"),
        )
    })
}
