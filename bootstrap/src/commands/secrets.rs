//! `mcpproxy secrets …`: secrets in the OS keyring (service `mcpproxy`), used in the config as
//! `${keyring:NAME}`. With a proxy running the changes go through it (it restarts the servers
//! that use a changed secret); without one, through the same use case here. Values are read
//! from an argument, an environment variable, stdin or a prompt that does not echo, and only
//! `secrets get --masked=false` ever prints one.

use std::io::{BufRead, IsTerminal, Read, Write};

use clap::{Args, Subcommand};
use mcpproxy_application::SecretsError;
use mcpproxy_application::ports::SecretStore;
use mcpproxy_domain::activity::Source;
use mcpproxy_domain::plaintext::ValueScope;
use mcpproxy_domain::redact::mask;
use reqwest::Method;
use serde_json::{Value, json};

use super::daemon::Refusal;
use super::output::{Table, cell, text};
use super::upstream::path;
use super::{Context, Standalone};
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum SecretsCommand {
    /// Store a secret (prints the reference to put in the config)
    Set(SetArgs),
    /// Show a secret, masked unless --masked=false
    Get(GetArgs),
    /// Delete a secret
    #[command(alias = "delete", alias = "rm")]
    Del(NameArgs),
    /// The stored secrets and the ones the config refers to
    List(ListArgs),
    /// Find plaintext tokens in headers and env values and move them into the keyring
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SetArgs {
    /// The secret's name (letters, digits, '.', '_', '-')
    pub name: String,
    /// The value; without it: --from-env, --from-stdin, or a prompt
    pub value: Option<String>,
    /// Read the value from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with_all = ["value", "from_stdin"])]
    pub from_env: Option<String>,
    /// Read the value from stdin (the trailing newline is dropped)
    #[arg(long, conflicts_with = "value")]
    pub from_stdin: bool,
    /// Where to store it: keyring (the only store)
    #[arg(long = "type", default_value = "keyring", value_name = "TYPE")]
    pub kind: String,
}

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    pub name: String,
    /// Mask the value (--masked=false prints it)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub masked: bool,
    #[arg(long = "type", default_value = "keyring", value_name = "TYPE")]
    pub kind: String,
}

#[derive(Debug, Clone, Args)]
pub struct NameArgs {
    pub name: String,
    #[arg(long = "type", default_value = "keyring", value_name = "TYPE")]
    pub kind: String,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Also the `${env:…}` references of the config
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Only show what would move
    #[arg(long)]
    pub dry_run: bool,
    /// Move every candidate without asking
    #[arg(long)]
    pub auto_approve: bool,
    /// Source type (plaintext)
    #[arg(long, default_value = "plaintext", value_name = "TYPE")]
    pub from: String,
    /// Target type (keyring)
    #[arg(long, default_value = "keyring", value_name = "TYPE")]
    pub to: String,
}

fn keyring_only(kind: &str) -> Result<(), Failure> {
    if kind == "keyring" {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::General,
            format!("secret type {kind:?} is not supported; only --type keyring stores secrets"),
        ))
    }
}

impl From<SecretsError> for Refusal {
    fn from(e: SecretsError) -> Self {
        let status = match &e {
            SecretsError::NotFound(_) | SecretsError::UnknownKey { .. } => 404,
            SecretsError::Store(_) => 503,
            SecretsError::Management(m) => return m.clone().into(),
            _ => 400,
        };
        Self {
            status: Some(status),
            message: e.to_string(),
            code: None,
        }
    }
}

fn to_value<T: serde::Serialize>(r: Result<T, SecretsError>) -> Result<Value, Refusal> {
    r.map_err(Refusal::from)
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
}

pub async fn run(ctx: &Context, command: SecretsCommand) -> Result<(), Failure> {
    match command {
        SecretsCommand::Set(args) => set(ctx, args).await,
        SecretsCommand::Get(args) => get(ctx, &args).await,
        SecretsCommand::Del(args) => del(ctx, &args).await,
        SecretsCommand::List(args) => list(ctx, &args).await,
        SecretsCommand::Migrate(args) => migrate(ctx, &args).await,
    }
}

/// The value to store, from wherever the flags say.
fn read_value(args: &SetArgs) -> Result<String, Failure> {
    let fail = |m: String| Failure::new(Exit::General, m);
    let value = if let Some(v) = &args.value {
        v.clone()
    } else if let Some(var) = &args.from_env {
        std::env::var(var)
            .map_err(|_| fail(format!("the environment variable {var} is not set")))?
    } else if args.from_stdin || !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| fail(format!("cannot read stdin: {e}")))?;
        text.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        rpassword::prompt_password(format!("Value of secret '{}': ", args.name))
            .map_err(|e| fail(format!("cannot read the value: {e}")))?
    };
    if value.is_empty() {
        return Err(fail(format!(
            "the value of secret {:?} is empty; give the value to store",
            args.name
        )));
    }
    Ok(value)
}

async fn set(ctx: &Context, args: SetArgs) -> Result<(), Failure> {
    keyring_only(&args.kind)?;
    let value = read_value(&args)?;
    let stored = match ctx.daemon().await? {
        Some(daemon) => {
            daemon
                .post(
                    "/secrets",
                    &json!({"name": args.name, "value": value, "type": "keyring"}),
                )
                .await
        }
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let done = to_value(local.secrets.set(&args.name, &value, Source::Cli).await);
            local.close().await;
            done
        }
    }?;
    ctx.show(&stored, |d| {
        println!(
            "Secret '{}' stored successfully in keyring",
            text(&d["name"])
        );
        println!("Use in config: {}", text(&d["reference"]));
        let users = d["referenced_by"].as_array().cloned().unwrap_or_default();
        if !users.is_empty() {
            let names: Vec<String> = users.iter().map(text).collect();
            println!("Used by: {}", names.join(", "));
        }
    });
    Ok(())
}

async fn get(ctx: &Context, args: &GetArgs) -> Result<(), Failure> {
    keyring_only(&args.kind)?;
    // The value is read here, from this user's keyring: no API ever returns it.
    let keyring = mcpproxy_secrets::Keyring::new();
    mcpproxy_domain::secret::check_name(&args.name)
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
    let value = keyring
        .get(&args.name)
        .await
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?
        .ok_or_else(|| {
            Failure::new(
                Exit::General,
                SecretsError::NotFound(args.name.clone()).to_string(),
            )
        })?;
    let shown = if args.masked { mask(&value) } else { value };
    let data = json!({"name": args.name, "type": "keyring", "value": shown, "masked": args.masked});
    ctx.show(&data, |_| println!("{}: {shown}", args.name));
    Ok(())
}

async fn del(ctx: &Context, args: &NameArgs) -> Result<(), Failure> {
    keyring_only(&args.kind)?;
    match ctx.daemon().await? {
        Some(daemon) => daemon
            .call(
                Method::DELETE,
                &format!("/secrets/{}", path(&args.name)),
                None,
            )
            .await
            .map(|_| ()),
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let done = local
                .secrets
                .delete(&args.name, Source::Cli)
                .await
                .map_err(Refusal::from);
            local.close().await;
            done
        }
    }?;
    let data = json!({"deleted": args.name});
    ctx.show(&data, |_| {
        println!("Secret '{}' deleted from keyring", args.name);
    });
    Ok(())
}

async fn list(ctx: &Context, args: &ListArgs) -> Result<(), Failure> {
    let mut data = match ctx.daemon().await? {
        Some(daemon) => daemon.get("/secrets").await?,
        None => {
            let local = Standalone::open(&ctx.located).await?;
            let done = to_value(local.secrets.list().await);
            local.close().await;
            done?
        }
    };
    if args.all {
        data["env"] = Value::Array(env_references(ctx));
    }
    ctx.show(&data, |d| {
        let mut table = Table::new(&["NAME", "TYPE", "SET", "USED BY"]);
        for s in d["secrets"].as_array().into_iter().flatten() {
            let users: Vec<String> = s["referenced_by"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            table.row(vec![
                cell(&text(&s["name"]), 40),
                "keyring".to_owned(),
                if s["set"] == true { "yes" } else { "MISSING" }.to_owned(),
                cell(&users.join(", "), 50),
            ]);
        }
        for e in d["env"].as_array().into_iter().flatten() {
            table.row(vec![
                cell(&text(&e["name"]), 40),
                "env".to_owned(),
                if e["set"] == true { "yes" } else { "MISSING" }.to_owned(),
                cell(&text(&e["referenced_by"]), 50),
            ]);
        }
        table.print();
        if d["missing"].as_u64().unwrap_or(0) > 0 {
            eprintln!("Set a missing secret with `mcpproxy secrets set NAME`");
        }
    });
    Ok(())
}

/// The `${env:…}` references of the config, and whether this environment has them.
fn env_references(ctx: &Context) -> Vec<Value> {
    use mcpproxy_domain::secret::{SecretSource, references};
    let mut found: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for server in &ctx.located.config.servers {
        let values = server
            .env
            .values()
            .chain(server.headers.values())
            .chain(server.args.iter());
        for (source, name) in values.flat_map(|v| references(v)) {
            if source == SecretSource::Env {
                found
                    .entry(name.to_owned())
                    .or_default()
                    .push(server.name.to_string());
            }
        }
    }
    found
        .into_iter()
        .map(|(name, mut users)| {
            users.dedup();
            json!({"name": name, "type": "env", "set": std::env::var_os(&name).is_some(), "referenced_by": users.join(", ")})
        })
        .collect()
}

fn ask(question: &str) -> bool {
    eprint!("{question} [y/N]: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

async fn migrate(ctx: &Context, args: &MigrateArgs) -> Result<(), Failure> {
    if args.from != "plaintext" || args.to != "keyring" {
        return Err(Failure::new(
            Exit::General,
            "only --from plaintext --to keyring is supported",
        ));
    }
    let daemon = ctx.daemon().await?;
    let local = match daemon {
        Some(_) => None,
        None => Some(Standalone::open(&ctx.located).await?),
    };
    let result = migrate_with(ctx, args, daemon.as_ref(), local.as_ref()).await;
    if let Some(local) = local {
        local.close().await;
    }
    result
}

async fn migrate_with(
    ctx: &Context,
    args: &MigrateArgs,
    daemon: Option<&super::Daemon>,
    local: Option<&Standalone>,
) -> Result<(), Failure> {
    let analysis = match (daemon, local) {
        (Some(d), _) => d.post("/secrets/migrate", &json!({"apply": false})).await?,
        (None, Some(l)) => to_value(l.secrets.migrate(false, Source::Cli).await)?,
        (None, None) => return Ok(()),
    };
    let candidates = analysis["candidates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let interactive = std::io::stdin().is_terminal() && !ctx.format_is_data();
    if !ctx.format_is_data() {
        if candidates.is_empty() {
            println!("No plaintext secrets found in the config");
        } else {
            println!(
                "Found {} potential secrets for migration:\n",
                candidates.len()
            );
            for (i, c) in candidates.iter().enumerate() {
                println!("{}. Field: {}", i + 1, text(&c["field"]));
                println!("   Current value: {}", text(&c["masked"]));
                println!("   Suggested ref: {}", text(&c["suggested_ref"]));
                let confidence = c["confidence"].as_f64().unwrap_or(0.0) * 100.0;
                println!("   Confidence: {confidence:.1}%\n");
            }
        }
    }
    let mut moved = Vec::new();
    let mut failed = Vec::new();
    if !args.dry_run {
        for c in &candidates {
            let go = args.auto_approve
                || (interactive && ask(&format!("Move {} into the keyring?", text(&c["field"]))));
            if !go {
                continue;
            }
            let (server, key, name) = (
                text(&c["server"]),
                text(&c["key"]),
                text(&c["suggested_name"]),
            );
            let scope = text(&c["scope"]);
            let done = match (daemon, local) {
                (Some(d), _) => {
                    d.post(
                        &format!("/servers/{}/config-to-secret", path(&server)),
                        &json!({"scope": scope, "key": key, "secret_name": name}),
                    )
                    .await
                }
                (None, Some(l)) => {
                    let scope = ValueScope::parse(&scope).unwrap_or(ValueScope::Env);
                    to_value(
                        l.secrets
                            .move_to_keyring(&server, scope, &key, &name, Source::Cli)
                            .await,
                    )
                }
                (None, None) => continue,
            };
            match done {
                Ok(v) => moved.push(v),
                Err(r) => failed.push(json!({"field": c["field"], "error": r.message})),
            }
        }
    }
    let data = json!({"candidates": candidates, "moved": moved, "failed": failed});
    ctx.show(&data, |_| {
        for m in &moved {
            println!("moved: {}", text(&m["message"]));
        }
        for f in &failed {
            eprintln!("not moved: {}: {}", text(&f["field"]), text(&f["error"]));
        }
        if !args.dry_run && !args.auto_approve && !interactive && !candidates.is_empty() {
            eprintln!("Nothing moved: run on a terminal to choose, or add --auto-approve");
        }
    });
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::General,
            format!("{} of the candidates could not be moved", failed.len()),
        ))
    }
}
