//! `mcpproxy token …`: agent tokens, scoped credentials for AI agents. With a proxy running
//! the commands go through its REST API; without one, through the same use case here. The
//! secret is printed once, by `create` and `regenerate`.

use clap::{Args, Subcommand};
use mcpproxy_application::TokenError;
use mcpproxy_application::tokens::CreateToken;
use mcpproxy_domain::activity::Source;
use reqwest::Method;
use serde_json::{Value, json};

use super::daemon::Refusal;
use super::output::{Table, cell, text};
use super::upstream::path;
use super::{Context, Standalone};
use crate::exit::Failure;

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create a token (the secret is shown once)
    Create(CreateArgs),
    /// Every token: name, prefix, scope, status
    #[command(alias = "ls")]
    List,
    /// One token
    Show(NameArg),
    /// Stop a token working now (the name stays reserved)
    Revoke(NameArg),
    /// A new secret for a token, same name and scope (the old one stops working)
    Regenerate(NameArg),
    /// Remove a token for good (frees the name)
    #[command(alias = "rm", alias = "remove")]
    Delete(NameArg),
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// A unique name for the agent (letters, digits, '-', '_', '.')
    #[arg(long)]
    pub name: String,
    /// Comma-separated server names, or "*" for every server
    #[arg(long)]
    pub servers: String,
    /// Comma-separated, cumulative: read | read,write | read,write,destructive
    #[arg(long)]
    pub permissions: String,
    /// How long it lives: 30d (the default), 7d, 12h … at most 365d
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Pin the token to one profile: it can only operate in that profile (not switch with
    /// set_profile or /mcp/p/<other>)
    #[arg(long, value_name = "PROFILE")]
    pub profile_pin: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct NameArg {
    pub name: String,
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Self {
        let (status, code) = match &e {
            TokenError::Spec(_) | TokenError::UnknownServer(_) | TokenError::UnknownProfile(..) => {
                (400, None)
            }
            TokenError::Exists(_) => (409, None),
            TokenError::NotFound(_) => (404, None),
            TokenError::Forbidden(g) => (403, Some(g.code().to_owned())),
            TokenError::Storage(_) => (503, None),
        };
        Self {
            status: Some(status),
            message: e.to_string(),
            code,
        }
    }
}

fn to_value<T: serde::Serialize>(r: Result<T, TokenError>) -> Result<Value, Refusal> {
    r.map_err(Refusal::from)
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
}

pub async fn run(ctx: &Context, command: TokenCommand) -> Result<(), Failure> {
    let daemon = ctx.daemon().await?;
    let local = match daemon {
        Some(_) => None,
        None => Some(Standalone::open(&ctx.located).await?),
    };
    let cli = Source::Cli;
    let done = match (&daemon, &local, &command) {
        (Some(d), _, TokenCommand::Create(a)) => d.post("/tokens", &json!(request(a))).await,
        (Some(d), _, TokenCommand::List) => d.get("/tokens").await,
        (Some(d), _, TokenCommand::Show(n)) => d.get(&format!("/tokens/{}", path(&n.name))).await,
        (Some(d), _, TokenCommand::Revoke(n)) => {
            d.call(Method::DELETE, &format!("/tokens/{}", path(&n.name)), None)
                .await
        }
        (Some(d), _, TokenCommand::Regenerate(n)) => {
            d.post(&format!("/tokens/{}/regenerate", path(&n.name)), &json!({}))
                .await
        }
        (Some(d), _, TokenCommand::Delete(n)) => {
            let p = format!("/tokens/{}/permanent", path(&n.name));
            d.call(Method::DELETE, &p, None).await
        }
        (None, Some(l), TokenCommand::Create(a)) => {
            to_value(l.tokens.create(&request(a), cli).await)
        }
        (None, Some(l), TokenCommand::List) => to_value(l.tokens.list(cli).await),
        (None, Some(l), TokenCommand::Show(n)) => to_value(l.tokens.show(&n.name, cli).await),
        (None, Some(l), TokenCommand::Revoke(n)) => to_value(l.tokens.revoke(&n.name, cli).await),
        (None, Some(l), TokenCommand::Regenerate(n)) => {
            to_value(l.tokens.regenerate(&n.name, cli).await)
        }
        (None, Some(l), TokenCommand::Delete(n)) => to_value(
            l.tokens
                .delete(&n.name, cli)
                .await
                .map(|()| json!({"deleted": n.name})),
        ),
        (None, None, _) => unreachable!("a daemon or the local services"),
    };
    if let Some(l) = local {
        l.close().await;
    }
    let data = done?;
    ctx.show(&data, |d| match &command {
        TokenCommand::Create(_) | TokenCommand::Regenerate(_) => print_secret(d),
        TokenCommand::List => print_list(d),
        TokenCommand::Show(_) => print_one(d),
        TokenCommand::Revoke(n) => println!("Agent token '{}' revoked.", n.name),
        TokenCommand::Delete(n) => println!("Agent token '{}' deleted.", n.name),
    });
    Ok(())
}

fn request(a: &CreateArgs) -> CreateToken {
    CreateToken {
        name: a.name.clone(),
        allowed_servers: vec![a.servers.clone()],
        permissions: vec![a.permissions.clone()],
        expires_in: a.expires.clone(),
        profile_pin: a.profile_pin.clone(),
    }
}

fn list_of(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn print_secret(d: &Value) {
    println!("Agent token created successfully.\n");
    println!("  Token: {}\n", text(&d["token"]));
    println!("  IMPORTANT: Save this token now. It cannot be retrieved again.\n");
    print_one(d);
}

fn print_one(d: &Value) {
    println!("  Name:        {}", text(&d["name"]));
    println!("  Prefix:      {}", text(&d["token_prefix"]));
    println!("  Servers:     {}", list_of(&d["allowed_servers"]));
    println!("  Permissions: {}", list_of(&d["permissions"]));
    println!("  Status:      {}", text(&d["status"]));
    println!("  Expires:     {}", text(&d["expires_at"]));
    if !d["profile_pin"].is_null() {
        println!("  Profile Pin: {}", text(&d["profile_pin"]));
    }
    if !d["last_used_at"].is_null() {
        println!("  Last used:   {}", text(&d["last_used_at"]));
    }
}

fn print_list(d: &Value) {
    let mut table = Table::new(&[
        "NAME",
        "PREFIX",
        "SERVERS",
        "PERMISSIONS",
        "STATUS",
        "PROFILE PIN",
        "EXPIRES",
        "LAST USED",
    ]);
    for t in d.as_array().into_iter().flatten() {
        table.row(vec![
            cell(&text(&t["name"]), 30),
            text(&t["token_prefix"]),
            cell(&list_of(&t["allowed_servers"]), 30),
            list_of(&t["permissions"]),
            text(&t["status"]),
            if t["profile_pin"].is_null() {
                "-".to_owned()
            } else {
                text(&t["profile_pin"])
            },
            text(&t["expires_at"]),
            if t["last_used_at"].is_null() {
                "never".to_owned()
            } else {
                text(&t["last_used_at"])
            },
        ]);
    }
    table.print();
}
