//! The composition root of mcpproxy: the command line, the wiring of every adapter into the
//! application's ports, the start-up order and graceful shutdown, logging, and the exit codes
//! shared with the Go MCPProxy (0 ok, 1 general, 2 port in use, 3 data dir locked by another
//! instance, 4 config error, 5 permission error). It is the only crate that knows them all.
#![forbid(unsafe_code)]

mod app;
pub mod cli;
mod commands;
mod exit;
mod fds;
mod host;
mod locate;
mod lock;
mod logging;
mod paths;
mod serve;
mod storage;
mod tray;

use std::ffi::OsString;

use clap::Parser;

pub use exit::{Exit, Failure};
pub use tray::run as run_tray;

/// Parses a command line; help, version and usage errors end the program with their code:
/// help and version are not errors, every usage error is a general failure (clap's own code
/// 2 would read as "port in use").
fn parse<C: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<C, i32> {
    C::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            Exit::General as i32
        } else {
            Exit::Ok as i32
        }
    })
}

/// The hidden subcommand of sandbox mode without bubblewrap: `mcpproxy __sandbox_exec
/// --ro P… --rw P… [--no-network] -- PROGRAM ARGS…` confines itself with Landlock and
/// becomes the server. Dispatched before clap so the server's own arguments are never read
/// as ours, and before any thread starts (Landlock confines the calling thread).
pub const SANDBOX_EXEC: &str = "__sandbox_exec";

/// Runs the command line `args` (program name first) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == SANDBOX_EXEC) {
        return sandbox_exec(args.into_iter().skip(2).collect());
    }
    let cli: cli::Cli = match parse(args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let command = cli.command();
    match command {
        cli::Command::Reaper => return mcpproxy_upstream::run_reaper(std::io::stdin().lock()),
        cli::Command::Openapi => {
            println!("{}", mcpproxy_http::openapi_json());
            return Exit::Ok as i32;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mcpproxy")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpproxy: cannot start the async runtime: {e}");
            return Exit::General as i32;
        }
    };
    let serving = matches!(command, cli::Command::Serve(_));
    let result = runtime.block_on(async {
        match command {
            cli::Command::Serve(args) => serve::serve(&cli, &args).await,
            other => commands::run(&cli, other).await,
        }
    });
    // Background tasks (watchers, connections) get a moment to notice the shutdown; none
    // may keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => Exit::Ok as i32,
        Err(failure) => {
            // The proxy's: into main.log when there is one, onto the console exactly once.
            // A command's: onto stderr, where its user reads.
            if serving {
                tracing::error!("{}", failure.message);
            }
            if !serving || !logging::console_active() {
                eprintln!("mcpproxy: {}", failure.message);
            }
            failure.exit as i32
        }
    }
}

#[cfg(target_os = "linux")]
fn sandbox_exec(args: Vec<OsString>) -> i32 {
    mcpproxy_upstream::sandbox_exec(args)
}

#[cfg(not(target_os = "linux"))]
fn sandbox_exec(_args: Vec<OsString>) -> i32 {
    eprintln!("mcpproxy: the Landlock sandbox exists on Linux only");
    Exit::General as i32
}
