//! `mcpproxy connect [client]` and `mcpproxy disconnect <client>`: the proxy's entry written
//! into (or removed from) an AI client's config, the file backed up first.

use clap::Args;
use mcpproxy_application::ManagementError;
use mcpproxy_application::connect::ConnectError;
use mcpproxy_application::ports::ClientError;
use mcpproxy_domain::activity::Source;
use serde_json::{Value, json};

use super::daemon::Refusal;
use super::output::{Table, text};
use super::registry::{segment, to_json};
use super::{Context, Standalone};
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// claude-code, claude-desktop, cursor, windsurf, vscode, codex or gemini
    pub client: Option<String>,
    /// Show every client, its config file and whether it is connected
    #[arg(long)]
    pub list: bool,
    /// Connect every client whose config file exists
    #[arg(long)]
    pub all: bool,
    /// Replace an entry of that name that points elsewhere
    #[arg(long)]
    pub force: bool,
    /// The entry's name in the client's config
    #[arg(long, default_value = "mcpproxy")]
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    /// The client
    pub client: String,
    /// The entry's name in the client's config
    #[arg(long, default_value = "mcpproxy")]
    pub name: String,
}

impl From<ClientError> for Refusal {
    fn from(e: ClientError) -> Self {
        Refusal {
            status: None,
            message: e.to_string(),
            code: None,
        }
    }
}

impl From<ConnectError> for Refusal {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Forbidden(gate) => ManagementError::Forbidden(gate).into(),
            ConnectError::Client(c) => c.into(),
        }
    }
}

pub async fn connect(ctx: &Context, args: ConnectArgs) -> Result<(), Failure> {
    let name = args.name.clone();
    let data = match (args.list, args.all, args.client.as_deref()) {
        (true, _, _) => {
            let data = match ctx.daemon().await? {
                Some(d) => {
                    d.get(&format!("/connect?server_name={}", segment(&name)))
                        .await?
                }
                None => {
                    let local = Standalone::open(&ctx.located).await?;
                    let clients = local.discovery.clients.list(Some(&name)).await;
                    local.close().await;
                    json!({"total": clients.len(), "clients": clients})
                }
            };
            ctx.show(&data, print_list);
            return Ok(());
        }
        (false, true, _) => {
            let local_or_daemon = match ctx.daemon().await? {
                Some(d) => {
                    let mut out = Vec::new();
                    for c in d.get("/connect").await?["clients"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let id = text(&c["id"]);
                        if c["exists"] != true {
                            out.push(json!({"client": id, "error": format!("skipped: no config at {}", text(&c["config_path"]))}));
                            continue;
                        }
                        let body = json!({"server_name": name, "force": args.force});
                        out.push(
                            match d.post(&format!("/connect/{}", segment(&id)), &body).await {
                                Ok(result) => json!({"client": id, "result": result}),
                                Err(e) => json!({"client": id, "error": e.message}),
                            },
                        );
                    }
                    Value::Array(out)
                }
                None => {
                    let local = Standalone::open(&ctx.located).await?;
                    let all = local
                        .discovery
                        .clients
                        .connect_all(Some(&name), args.force, Source::Cli)
                        .await;
                    local.close().await;
                    to_json(all.map_err(Refusal::from)?)
                }
            };
            ctx.show(&local_or_daemon, print_all);
            return Ok(());
        }
        (false, false, Some(client)) => match ctx.daemon().await? {
            Some(d) => {
                let body = json!({"server_name": name, "force": args.force});
                d.post(&format!("/connect/{}", segment(client)), &body)
                    .await?
            }
            None => {
                let local = Standalone::open(&ctx.located).await?;
                let result = local
                    .discovery
                    .clients
                    .connect(client, Some(&name), args.force, Source::Cli)
                    .await;
                local.close().await;
                to_json(result.map_err(Refusal::from)?)
            }
        },
        (false, false, None) => {
            return Err(Failure::new(
                Exit::General,
                "name a client (`mcpproxy connect cursor`), or use --list or --all",
            ));
        }
    };
    ctx.show(&data, print_change);
    Ok(())
}

pub async fn disconnect(ctx: &Context, args: DisconnectArgs) -> Result<(), Failure> {
    let data = match ctx.daemon().await? {
        Some(d) => {
            let path = format!(
                "/connect/{}?server_name={}",
                segment(&args.client),
                segment(&args.name)
            );
            d.call(reqwest::Method::DELETE, &path, None).await?
        }
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let result = local
                .discovery
                .clients
                .disconnect(&args.client, Some(&args.name), Source::Cli)
                .await;
            local.close().await;
            to_json(result.map_err(Refusal::from)?)
        }
    };
    ctx.show(&data, print_change);
    Ok(())
}

fn print_change(data: &Value) {
    println!("{}", text(&data["message"]));
    println!("  config: {}", text(&data["config_path"]));
    if let Some(backup) = data["backup_path"].as_str() {
        println!("  backup: {backup}");
    }
}

fn print_all(data: &Value) {
    for outcome in data.as_array().into_iter().flatten() {
        match outcome["error"].as_str() {
            Some(e) => println!("{}: {e}", text(&outcome["client"])),
            None => println!(
                "{}: {}",
                text(&outcome["client"]),
                text(&outcome["result"]["message"])
            ),
        }
    }
}

fn print_list(data: &Value) {
    let mut table = Table::new(&["CLIENT", "CONFIG PATH", "CONNECTED"]);
    for c in data["clients"].as_array().into_iter().flatten() {
        let connected = match (
            c["error"].as_str(),
            c["connected"] == true,
            c["exists"] == true,
        ) {
            (Some(e), _, _) => format!("error: {e}"),
            (None, true, _) => "yes".to_owned(),
            (None, false, true) => "no".to_owned(),
            (None, false, false) => "no (no config)".to_owned(),
        };
        table.row(vec![text(&c["name"]), text(&c["config_path"]), connected]);
    }
    table.print();
}
