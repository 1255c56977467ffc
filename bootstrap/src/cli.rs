//! The command line. Global options are accepted before or after the subcommand
//! (`mcpproxy -c cfg.json serve` and `mcpproxy serve -c cfg.json` alike).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::activity::ActivityCommand;
use crate::commands::auth::AuthCommand;
use crate::commands::call::CallCommand;
use crate::commands::code::CodeCommand;
use crate::commands::connect::{ConnectArgs, DisconnectArgs};
use crate::commands::doctor::DoctorArgs;
use crate::commands::registry::{RegistryCommand, SearchServersArgs};
use crate::commands::secrets::SecretsCommand;
use crate::commands::status::StatusArgs;
use crate::commands::token::TokenCommand;
use crate::commands::tools::ToolsCommand;
use crate::commands::trust_cert::TrustCertArgs;
use crate::commands::upstream::UpstreamCommand;

#[derive(Debug, Parser)]
#[command(
    name = "mcpproxy",
    version,
    about = "One safe MCP endpoint in front of every MCP server an AI agent uses",
    long_about = "mcpproxy runs one MCP endpoint (http://127.0.0.1:8080/mcp) in front of the MCP \
                  servers in ~/.mcpproxy/mcp_config.json. Without a subcommand it serves."
)]
pub struct Cli {
    /// Config file [default: <data dir>/mcp_config.json]
    #[arg(
        short = 'c',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Data directory [default: ~/.mcpproxy; env: MCPPROXY_DATA]
    #[arg(
        short = 'd',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,

    /// Log level (overrides logging.level)
    #[arg(long, global = true, help_heading = "Global options", value_enum)]
    pub log_level: Option<LogLevel>,

    /// Write main.log even if logging.enable_file is false
    #[arg(long, global = true, help_heading = "Global options")]
    pub log_to_file: bool,

    /// Directory of main.log and the server logs [default: ~/.local/state/mcpproxy/logs]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub log_dir: Option<PathBuf>,

    /// Output of commands that print data: table, json or yaml [env: MCPPROXY_OUTPUT]
    #[arg(
        short = 'o',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FORMAT",
        env = "MCPPROXY_OUTPUT",
        hide_env = true
    )]
    pub output: Option<String>,

    /// Shorthand for --output json
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the proxy (the default when no subcommand is given)
    Serve(ServeArgs),
    /// Manage the upstream MCP servers
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// List and approve the upstream servers' tools
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Call an upstream tool through the proxy
    #[command(subcommand)]
    Call(CallCommand),
    /// Run JavaScript that calls several tools in one go (code execution)
    #[command(subcommand)]
    Code(CodeCommand),
    /// Show whether the proxy runs, where, and its API key
    Status(StatusArgs),
    /// What is wrong and what to do: findings with stable MCPX_* codes, `list-codes`, `fix CODE`
    Doctor(DoctorArgs),
    /// Read the activity log: calls, changes, decisions
    #[command(subcommand)]
    Activity(ActivityCommand),
    /// Log in to remote servers (OAuth), see their logins, log out
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Secrets in the OS keyring, used in the config as ${keyring:NAME}
    #[command(subcommand, alias = "secret")]
    Secrets(SecretsCommand),
    /// Agent tokens: scoped credentials for AI agents (servers, permission tier, expiry)
    #[command(subcommand, alias = "tokens")]
    Token(TokenCommand),
    /// MCP server registries: list, search, add their servers, add your own
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Search an MCP server registry (like `registry search`)
    SearchServers(SearchServersArgs),
    /// Point an AI client (Claude Code, Cursor, VS Code, …) at this proxy
    Connect(ConnectArgs),
    /// Remove this proxy from an AI client's config
    Disconnect(DisconnectArgs),
    /// Print the local CA of HTTPS (tls.enabled), and install it into the system trust store
    TrustCert(TrustCertArgs),
    /// Print the version
    Version,
    /// Print the OpenAPI document of the REST API
    Openapi,
    /// Internal: the watchdog that stops upstream servers if the proxy dies
    #[command(name = "__reaper", hide = true)]
    Reaper,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on, host:port [env: MCPPROXY_LISTEN; default: 127.0.0.1:8080]
    #[arg(short = 'l', long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Refuse every change to the configuration
    #[arg(long)]
    pub read_only: bool,

    /// Turn off server management over every interface
    #[arg(long)]
    pub disable_management: bool,

    /// Require the API key on the MCP endpoint too
    #[arg(long)]
    pub require_mcp_auth: bool,
}

/// `-l LEVEL` on the commands where the Go CLI has it (`tools list`, `call tool`, `code exec`,
/// `auth …`, `upstream list`); `-l` stays `--listen` for `serve`, and the global
/// `--log-level` works everywhere.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct CommandLogLevel {
    /// Log level of this command (as --log-level)
    #[arg(
        short = 'l',
        id = "command_log_level",
        value_enum,
        value_name = "LEVEL"
    )]
    pub level: Option<LogLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl Cli {
    /// The log level of a command: its own `-l`, else the global `--log-level`.
    pub fn log_level(&self, command: &Command) -> Option<LogLevel> {
        use crate::commands::{auth::AuthCommand, call::CallCommand, code::CodeCommand};
        use crate::commands::{tools::ToolsCommand, upstream::UpstreamCommand};
        let own = match command {
            Command::Tools(ToolsCommand::List(a)) => a.log.level,
            Command::Call(
                CallCommand::Tool(a)
                | CallCommand::ToolRead(crate::commands::call::IntentArgs { tool: a, .. })
                | CallCommand::ToolWrite(crate::commands::call::IntentArgs { tool: a, .. })
                | CallCommand::ToolDestructive(crate::commands::call::IntentArgs { tool: a, .. }),
            ) => a.log.level,
            Command::Code(CodeCommand::Exec(a)) => a.log.level,
            Command::Auth(AuthCommand::Login(a)) => a.log.level,
            Command::Auth(AuthCommand::Status(l) | AuthCommand::Logout { log: l, .. }) => l.level,
            Command::Upstream(UpstreamCommand::List(l)) => l.level,
            _ => None,
        };
        own.or(self.log_level)
    }

    /// The `-o` value (or `MCPPROXY_OUTPUT`), checked when a command prints.
    pub fn output_format(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The command to run; no subcommand means `serve` with the flags given at the top.
    pub fn command(&self) -> Command {
        match &self.command {
            Some(Command::Serve(args)) => Command::Serve(ServeArgs {
                listen: args.listen.clone().or_else(|| self.serve.listen.clone()),
                read_only: args.read_only || self.serve.read_only,
                disable_management: args.disable_management || self.serve.disable_management,
                require_mcp_auth: args.require_mcp_auth || self.serve.require_mcp_auth,
            }),
            None => Command::Serve(self.serve.clone()),
            Some(other) => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("mcpproxy").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn globals_go_before_or_after_the_subcommand() {
        for args in [
            &["serve", "-c", "cfg.json", "-d", "dir"][..],
            &["-c", "cfg.json", "-d", "dir", "serve"][..],
            &["-c", "cfg.json", "serve", "-d", "dir"][..],
        ] {
            let cli = parse(args);
            assert_eq!(cli.config, Some(PathBuf::from("cfg.json")), "{args:?}");
            assert_eq!(cli.data_dir, Some(PathBuf::from("dir")), "{args:?}");
        }
    }

    #[test]
    fn no_subcommand_means_serve() {
        let Command::Serve(args) = parse(&["-l", "127.0.0.1:9", "--read-only"]).command() else {
            panic!("not serve")
        };
        assert_eq!(args.listen.as_deref(), Some("127.0.0.1:9"));
        assert!(args.read_only);
        let Command::Serve(args) = parse(&["serve", "--listen", ":1"]).command() else {
            panic!("not serve")
        };
        assert_eq!(args.listen.as_deref(), Some(":1"));
    }

    #[test]
    fn the_whole_command_tree_is_consistent() {
        // Catches what clap only finds when a command runs: two arguments with one id (the
        // positional `json` of add-json against the global --json), bad defaults, …
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn add_json_takes_its_json_and_the_global_json_flag_alike() {
        let cli = parse(&[
            "upstream",
            "add-json",
            "fs",
            "{\"command\": \"x\"}",
            "--json",
        ]);
        assert!(cli.json);
        let Command::Upstream(UpstreamCommand::AddJson { name, json }) = cli.command() else {
            panic!("not add-json")
        };
        assert_eq!(
            (name.as_str(), json.as_str()),
            ("fs", "{\"command\": \"x\"}")
        );
    }

    #[test]
    fn commands_take_their_own_log_level_as_in_go() {
        for args in [
            &["tools", "list", "-s", "x", "-l", "debug"][..],
            &["call", "tool", "-t", "a:b", "-l", "debug"][..],
            &["call", "tool-read", "-t", "a:b", "-l", "debug"][..],
            &["code", "exec", "-e", "1", "-l", "debug"][..],
            &["auth", "status", "-l", "debug"][..],
            &["auth", "login", "-s", "x", "-l", "debug"][..],
            &["upstream", "list", "-l", "debug"][..],
        ] {
            let cli = parse(args);
            assert_eq!(
                cli.log_level(&cli.command()),
                Some(LogLevel::Debug),
                "{args:?}"
            );
        }
        let cli = parse(&["--log-level", "error", "upstream", "list"]);
        assert_eq!(cli.log_level(&cli.command()), Some(LogLevel::Error));
        // `-l` is still the listen address of serve.
        let Command::Serve(args) = parse(&["serve", "-l", "127.0.0.1:1"]).command() else {
            panic!("not serve")
        };
        assert_eq!(args.listen.as_deref(), Some("127.0.0.1:1"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(
            Cli::try_parse_from(["mcpproxy", "--log-level", "loud"]).is_err(),
            "unknown level"
        );
        assert!(Cli::try_parse_from(["mcpproxy", "frobnicate"]).is_err());
    }
}
