//! `mcpproxy auth …`: logging in to remote servers (OAuth) through the running proxy.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Context;
use super::output::{Table, cell, state, text};
use super::upstream::path;
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum AuthCommand {
    /// Log in to a server (opens the browser, or prints the URL when headless)
    Login(LoginArgs),
    /// Where each remote server's login stands
    Status(crate::cli::CommandLogLevel),
    /// Forget a server's tokens; it stays disconnected until the next login
    Logout {
        #[arg(short = 's', long = "server", value_name = "NAME")]
        server: String,
        #[command(flatten)]
        log: crate::cli::CommandLogLevel,
    },
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The server
    #[arg(
        short = 's',
        long = "server",
        value_name = "NAME",
        required_unless_present = "all"
    )]
    pub server: Option<String>,
    /// Every remote server that is not logged in
    #[arg(long, conflicts_with = "server")]
    pub all: bool,
    /// Wait until the login is done (the default on a terminal)
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub log: crate::cli::CommandLogLevel,
}

pub async fn run(ctx: &Context, command: AuthCommand) -> Result<(), Failure> {
    let daemon = ctx.require_daemon("logging in").await?;
    match command {
        AuthCommand::Status(_) => {
            let data = daemon.get("/auth").await?;
            ctx.show(&data, |d| {
                let servers = d["servers"].as_array().cloned().unwrap_or_default();
                if servers.is_empty() {
                    println!("No remote servers; only servers with a url log in");
                    return;
                }
                let mut table = Table::new(&["SERVER", "LOGGED IN", "EXPIRES", "SCOPES", "NOTE"]);
                for s in &servers {
                    let note = match (s["pending_url"].as_str(), s["last_error"].as_str()) {
                        (Some(url), _) => format!("login waiting: {url}"),
                        (None, Some(e)) => e.to_owned(),
                        _ => "-".to_owned(),
                    };
                    let logged_in = if s["logged_in"] == true { "yes" } else { "no" };
                    table.row(vec![
                        text(&s["server"]),
                        state(logged_in, ctx.colour),
                        text(&s["expires_at"]),
                        s["scopes"]
                            .as_array()
                            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(" "))
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "-".to_owned()),
                        cell(&note, 90),
                    ]);
                }
                table.print();
            });
            Ok(())
        }
        AuthCommand::Logout { server, .. } => {
            daemon
                .post(&format!("/servers/{}/logout", path(&server)), &json!({}))
                .await?;
            ctx.show(&json!({"server": server, "logged_out": true}), |_| {
                println!("Logged out of '{server}'; it stays disconnected until `mcpproxy auth login -s {server}`");
            });
            Ok(())
        }
        AuthCommand::Login(args) => {
            let servers: Vec<String> = match (&args.server, args.all) {
                (Some(s), _) => vec![s.clone()],
                (None, _) => daemon.get("/auth").await?["servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["logged_in"] != true)
                    .map(|s| text(&s["server"]))
                    .collect(),
            };
            if servers.is_empty() {
                eprintln!("Every remote server is logged in");
                return Ok(());
            }
            let mut started = Vec::new();
            for server in &servers {
                let done = daemon
                    .post(&format!("/servers/{}/login", path(server)), &json!({}))
                    .await?;
                let url = text(&done["auth_url"]);
                if !ctx.format.print_data(&done) {
                    if done["browser_opened"] == true {
                        println!("Log in to '{server}' in the browser window that opened");
                    } else {
                        println!("Log in to '{server}' by opening:\n  {url}");
                    }
                }
                started.push(server.clone());
            }
            if args.wait || ctx.progress {
                for server in &started {
                    wait_for_login(&daemon, server, ctx.progress).await?;
                }
            }
            Ok(())
        }
    }
}

/// Waits (at most 5 minutes) until `server` holds a token.
async fn wait_for_login(
    daemon: &super::Daemon,
    server: &str,
    progress: bool,
) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(300);
    if progress {
        eprintln!("waiting for the login to '{server}' to finish…");
    }
    loop {
        let data = daemon.get("/auth").await?;
        let entry = data["servers"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["server"] == server))
            .cloned()
            .unwrap_or(Value::Null);
        if entry["logged_in"] == true && entry["pending_url"].is_null() {
            eprintln!("Logged in to '{server}'");
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::General,
                format!(
                    "the login to '{server}' did not finish within 5 minutes; run `mcpproxy auth login -s {server}` again"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
