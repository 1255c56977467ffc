//! `mcpproxy registry …` and `mcpproxy search-servers`: the MCP server registries —
//! listed, searched, their servers added, the user's own sources added, edited, removed.
//! With a running proxy through its API; without one, through the same services here.

use std::collections::BTreeMap;

use clap::{ArgAction, Args, Subcommand};
use mcpproxy_application::management::{NewRegistry, RegistryEdit, RegistrySourceError};
use mcpproxy_application::registry::{AddFromRegistry, RegistryServiceError};
use mcpproxy_domain::activity::Source;
use reqwest::Method;
use serde_json::{Value, json};

use super::daemon::Refusal;
use super::output::{Table, cell, text};
use super::{Context, Standalone};
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum RegistryCommand {
    /// List the registries (built-in and your own) with their ids
    List,
    /// Search a registry's servers
    Search(SearchArgs),
    /// Add a registry's server as an upstream (quarantined until approved)
    Add(AddArgs),
    /// Add your own registry (an https endpoint of the official registry protocol)
    AddSource(SourceArgs),
    /// Change a registry you added
    Edit(EditArgs),
    /// Remove a registry you added (servers added from it stay)
    #[command(visible_aliases = ["rm", "remove-source"])]
    Remove { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Words of the server's name or description
    pub query: Option<String>,
    /// The registry (id or name)
    #[arg(short = 'r', long, default_value = "official")]
    pub registry: String,
    /// Only servers with this tag
    #[arg(short = 't', long)]
    pub tag: Option<String>,
    /// How many servers (at most 50)
    #[arg(short = 'l', long, default_value_t = 10)]
    pub limit: usize,
}

/// `mcpproxy search-servers`, the Go CLI's form of `registry search`.
#[derive(Debug, Clone, Args)]
pub struct SearchServersArgs {
    /// The registry (id or name)
    #[arg(short = 'r', long, default_value = "official")]
    pub registry: String,
    /// Words of the server's name or description
    #[arg(short = 's', long)]
    pub search: Option<String>,
    /// Only servers with this tag
    #[arg(short = 't', long)]
    pub tag: Option<String>,
    /// How many servers (at most 50)
    #[arg(short = 'l', long, default_value_t = 10)]
    pub limit: usize,
    /// List the registries instead
    #[arg(long)]
    pub list_registries: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The registry id (`mcpproxy registry list`)
    pub registry: String,
    /// The server's id in the registry (`mcpproxy registry search`)
    pub server_id: String,
    /// A name instead of the derived one
    #[arg(long)]
    pub name: Option<String>,
    /// An input the entry needs, `NAME=value` (repeatable); `${env:NAME}` keeps a secret out of
    /// the config
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Whether the server is enabled (`--enabled false` adds it disabled)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The registry's https URL
    pub url: String,
    /// Its id [default: from the host]
    #[arg(long)]
    pub id: Option<String>,
    /// Its display name
    #[arg(long)]
    pub name: Option<String>,
    /// modelcontextprotocol/registry (default) or custom/docker
    #[arg(long)]
    pub protocol: Option<String>,
    /// Where its server list is, when not <url>/v0.1/servers
    #[arg(long)]
    pub servers_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EditArgs {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub servers_url: Option<String>,
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn refusal(e: &impl std::fmt::Display, code: &str) -> Refusal {
    Refusal {
        status: None,
        message: e.to_string(),
        code: Some(code.to_owned()),
    }
}

impl From<RegistryServiceError> for Refusal {
    fn from(e: RegistryServiceError) -> Self {
        refusal(&e, e.code())
    }
}

impl From<RegistrySourceError> for Refusal {
    fn from(e: RegistrySourceError) -> Self {
        refusal(&e, e.code())
    }
}

/// A use case's answer as the REST API would give it.
pub fn to_json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs `with_daemon` against a running proxy, else `alone` with the services here.
async fn either<D, L>(ctx: &Context, with_daemon: D, alone: L) -> Result<Value, Failure>
where
    D: AsyncFnOnce(&super::Daemon) -> Result<Value, Refusal>,
    L: AsyncFnOnce(&Standalone) -> Result<Value, Refusal>,
{
    if let Some(daemon) = ctx.daemon().await? {
        return Ok(with_daemon(&daemon).await?);
    }
    let local = Standalone::open(&ctx.located).await?;
    let result = alone(&local).await;
    local.close().await;
    Ok(result?)
}

pub async fn list(ctx: &Context) -> Result<(), Failure> {
    let data = either(
        ctx,
        async |d| d.get("/registries").await,
        async |l| {
            let registries = l.discovery.registries.list();
            Ok(json!({"total": registries.len(), "registries": registries}))
        },
    )
    .await?;
    ctx.show(&data, |data| {
        let mut table = Table::new(&["ID", "NAME", "PROTOCOL", "PROVENANCE", "URL"]);
        for r in data["registries"].as_array().into_iter().flatten() {
            let mut provenance = text(&r["provenance"]);
            if let Some(why) = r["unavailable"].as_str() {
                provenance = format!("{provenance} ({why})");
            }
            table.row(vec![
                text(&r["id"]),
                text(&r["name"]),
                text(&r["protocol"]),
                provenance,
                cell(&text(&r["url"]), 60),
            ]);
        }
        table.print();
    });
    Ok(())
}

pub async fn search(
    ctx: &Context,
    registry: &str,
    query: &str,
    tag: &str,
    limit: usize,
) -> Result<(), Failure> {
    let path = format!(
        "/registries/{}/servers?search={}&tag={}&limit={limit}",
        segment(registry),
        segment(query),
        segment(tag)
    );
    let data = either(
        ctx,
        async |d| d.get(&path).await,
        async |l| {
            let found = l
                .discovery
                .registries
                .search(registry, query, tag, Some(limit))
                .await?;
            Ok(to_json(found))
        },
    )
    .await?;
    ctx.show(&data, |data| {
        let servers = data["servers"].as_array().cloned().unwrap_or_default();
        if servers.is_empty() {
            println!("{}", text(&data["message"]));
            return;
        }
        let mut table = Table::new(&["ID", "DESCRIPTION", "RUNS", "NEEDS"]);
        for s in &servers {
            let runs = match (s["installCmd"].as_str(), s["url"].as_str()) {
                (Some(cmd), _) if !cmd.is_empty() => cmd.to_owned(),
                (_, Some(url)) => url.to_owned(),
                _ => String::new(),
            };
            let needs: Vec<String> = s["required_inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["required"] == true)
                .map(|i| text(&i["name"]))
                .collect();
            table.row(vec![
                text(&s["id"]),
                cell(&text(&s["description"]), 50),
                cell(&runs, 50),
                needs.join(", "),
            ]);
        }
        table.print();
        println!(
            "Add one with: mcpproxy registry add {} <ID> [--env NAME=VALUE]",
            text(&data["registry"])
        );
    });
    Ok(())
}

pub async fn search_servers(ctx: &Context, args: &SearchServersArgs) -> Result<(), Failure> {
    if args.list_registries {
        return list(ctx).await;
    }
    search(
        ctx,
        &args.registry,
        args.search.as_deref().unwrap_or_default(),
        args.tag.as_deref().unwrap_or_default(),
        args.limit,
    )
    .await
}

async fn add(ctx: &Context, args: AddArgs) -> Result<(), Failure> {
    let mut inputs = BTreeMap::new();
    for raw in &args.env {
        let (k, v) = raw
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                Failure::new(Exit::General, format!("--env {raw:?} is not NAME=VALUE"))
            })?;
        inputs.insert(k.to_owned(), v.to_owned());
    }
    let path = format!(
        "/registries/{}/servers/{}/add",
        segment(&args.registry),
        segment(&args.server_id)
    );
    let body = json!({"name": args.name, "env": inputs, "enabled": args.enabled});
    let data = either(
        ctx,
        async |d| d.post(&path, &body).await,
        async |l| {
            let request = AddFromRegistry {
                name: args.name.clone(),
                inputs: inputs.clone(),
                enabled: Some(args.enabled),
            };
            let added = l
                .discovery
                .registries
                .add(&args.registry, &args.server_id, request, Source::Cli)
                .await?;
            Ok(to_json(added))
        },
    )
    .await?;
    ctx.show(&data, |data| {
        println!("✅ {}", text(&data["message"]));
        let server = &data["server"];
        let runs = if text(&server["command"]).is_empty() {
            text(&server["url"])
        } else {
            let args: Vec<String> = server["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!("{} {}", text(&server["command"]), args.join(" "))
        };
        println!("   runs: {runs}");
        for input in data["unset_inputs"].as_array().into_iter().flatten() {
            println!(
                "   optional, not set: {} ({}) {}",
                text(&input["name"]),
                text(&input["kind"]),
                text(&input["description"])
            );
        }
    });
    Ok(())
}

async fn change_source(
    ctx: &Context,
    method: Method,
    path: &str,
    body: Option<Value>,
    local: impl AsyncFnOnce(&Standalone) -> Result<Value, Refusal>,
) -> Result<(), Failure> {
    let data = either(
        ctx,
        async |d| d.call(method, path, body.as_ref()).await,
        local,
    )
    .await?;
    ctx.show(&data, |data| {
        let r = &data["registry"];
        println!(
            "{} ({}) {}",
            text(&r["id"]),
            text(&r["name"]),
            text(&r["url"])
        );
    });
    Ok(())
}

pub async fn run(ctx: &Context, command: RegistryCommand) -> Result<(), Failure> {
    match command {
        RegistryCommand::List => list(ctx).await,
        RegistryCommand::Search(a) => {
            search(
                ctx,
                &a.registry,
                a.query.as_deref().unwrap_or_default(),
                a.tag.as_deref().unwrap_or_default(),
                a.limit,
            )
            .await
        }
        RegistryCommand::Add(a) => add(ctx, a).await,
        RegistryCommand::AddSource(a) => {
            let body = json!({"url": a.url, "id": a.id, "name": a.name, "protocol": a.protocol, "servers_url": a.servers_url});
            change_source(ctx, Method::POST, "/registries", Some(body), async |l| {
                let new = NewRegistry {
                    url: a.url.clone(),
                    id: a.id.clone(),
                    name: a.name.clone(),
                    protocol: a.protocol.clone(),
                    servers_url: a.servers_url.clone(),
                };
                let registry = l.management.add_registry(new, Source::Cli).await?;
                Ok(json!({"registry": registry}))
            })
            .await
        }
        RegistryCommand::Edit(a) => {
            let body = json!({"name": a.name, "url": a.url, "servers_url": a.servers_url});
            let path = format!("/registries/{}", segment(&a.id));
            change_source(ctx, Method::PUT, &path, Some(body), async |l| {
                let edit = RegistryEdit {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    servers_url: a.servers_url.clone(),
                };
                let registry = l.management.edit_registry(&a.id, edit, Source::Cli).await?;
                Ok(json!({"registry": registry}))
            })
            .await
        }
        RegistryCommand::Remove { id } => {
            let path = format!("/registries/{}", segment(&id));
            change_source(ctx, Method::DELETE, &path, None, async |l| {
                let registry = l.management.remove_registry(&id, Source::Cli).await?;
                Ok(json!({"registry": registry}))
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_with_slashes_stay_one_path_segment() {
        assert_eq!(
            super::segment("io.github.upstash/context7"),
            "io.github.upstash%2Fcontext7"
        );
        assert_eq!(super::segment("a b&c"), "a%20b%26c");
    }
}
