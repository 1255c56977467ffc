//! Per-tool switches from the command line: `tools enable|disable server:tool…`,
//! `tools reject` (a block: approved and switched off at once), and `upstream tools
//! enable|disable|enable-all|disable-all`. Each asks the running proxy's REST API, which
//! asks the catalog; a switch is kept by the proxy across restarts.

use std::collections::BTreeMap;

use clap::Subcommand;
use mcpproxy_domain::ServerName;
use serde_json::json;

use super::Context;
use super::output::text;
use super::upstream::path;
use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Subcommand)]
pub enum UpstreamToolsCommand {
    /// Switch one tool of a server on
    Enable { server: String, tool: String },
    /// Switch one tool of a server off: it is neither listed, searched nor callable
    Disable { server: String, tool: String },
    /// Switch every tool of a server on
    EnableAll { server: String },
    /// Switch every tool of a server off
    DisableAll { server: String },
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(Exit::General, message)
}

/// Splits `server:tool` at the first `:` (tool names may hold more).
fn split_target(target: &str) -> Result<(String, String), String> {
    match target.split_once(':') {
        Some((s, t)) if !s.is_empty() && !t.is_empty() => {
            ServerName::parse(s).map_err(|e| e.to_string())?;
            Ok((s.to_owned(), t.to_owned()))
        }
        _ => Err(format!("{target:?} is not server:tool")),
    }
}

/// `tools enable|disable server:tool…`: every target is tried; one line each, `OK` or
/// `FAILED` with the reason, and a failure exit if any failed.
pub async fn switch_targets(ctx: &Context, targets: &[String], on: bool) -> Result<(), Failure> {
    if targets.is_empty() {
        return Err(bad(format!(
            "name the tools to {}: server:tool …",
            if on { "enable" } else { "disable" }
        )));
    }
    let daemon = ctx
        .require_daemon(if on {
            "enabling tools"
        } else {
            "disabling tools"
        })
        .await?;
    let word = if on { "enabled" } else { "disabled" };
    let mut results = Vec::new();
    for target in targets {
        let outcome = match split_target(target) {
            Err(e) => Err(e),
            Ok((server, tool)) => daemon
                .post(
                    &format!("/servers/{}/tools/{}/enabled", path(&server), path(&tool)),
                    &json!({"enabled": on}),
                )
                .await
                .map_err(|r| r.message),
        };
        results.push(match outcome {
            Ok(_) => json!({"target": target, "ok": true, "enabled": on}),
            Err(e) => json!({"target": target, "ok": false, "error": e}),
        });
    }
    let data = json!({ "results": results });
    ctx.show(&data, |_| {
        for r in &results {
            if r["ok"] == true {
                println!("OK {}: {word}", text(&r["target"]));
            } else {
                println!("FAILED {}: {}", text(&r["target"]), text(&r["error"]));
            }
        }
    });
    let failed = results.iter().filter(|r| r["ok"] != true).count();
    if failed > 0 {
        return Err(bad(format!(
            "{failed} of {} target(s) failed",
            results.len()
        )));
    }
    Ok(())
}

/// `tools reject`: blocks tools (approves and switches them off in one step), grouped per
/// server; `-s NAME --all` blocks every tool of the server that waits for review.
pub async fn reject(
    ctx: &Context,
    targets: &[String],
    server: Option<&str>,
    all: bool,
) -> Result<(), Failure> {
    let mut by_server: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    if all {
        let Some(server) = server else {
            return Err(bad("--all needs the server: -s NAME --all"));
        };
        if !targets.is_empty() {
            return Err(bad("name tools or use --all, not both"));
        }
        by_server.insert(server.to_owned(), None);
    } else {
        if targets.is_empty() {
            return Err(bad(
                "name the tools to reject (server:tool), or use -s NAME --all",
            ));
        }
        for target in targets {
            let (s, t) = match (split_target(target), server) {
                (Ok(pair), _) => pair,
                (Err(_), Some(s)) if !target.contains(':') => (s.to_owned(), target.clone()),
                (Err(e), _) => return Err(bad(format!("{e}; or name the server with -s"))),
            };
            by_server
                .entry(s)
                .or_default()
                .get_or_insert_default()
                .push(t);
        }
    }
    let daemon = ctx.require_daemon("rejecting tools").await?;
    let mut results = Vec::new();
    let mut failed = 0;
    for (server, tools) in &by_server {
        let body = match tools {
            Some(tools) => json!({"tools": tools}),
            None => json!({"block_all": true}),
        };
        match daemon
            .post(&format!("/servers/{}/tools/block", path(server)), &body)
            .await
        {
            Ok(d) => results.push(
                json!({"server": server, "ok": true, "blocked": d["blocked"], "tools": d["tools"]}),
            ),
            Err(r) => {
                failed += 1;
                results.push(json!({"server": server, "ok": false, "error": r.message}));
            }
        }
    }
    let data = json!({ "results": results });
    ctx.show(&data, |_| {
        for r in &results {
            if r["ok"] == true {
                println!(
                    "OK {}: blocked {} tool(s)",
                    text(&r["server"]),
                    r["blocked"]
                );
            } else {
                println!("FAILED {}: {}", text(&r["server"]), text(&r["error"]));
            }
        }
    });
    if failed > 0 {
        return Err(bad(format!("{failed} server group(s) failed")));
    }
    Ok(())
}

/// `upstream tools …`.
pub async fn upstream(ctx: &Context, command: UpstreamToolsCommand) -> Result<(), Failure> {
    let daemon = ctx.require_daemon("switching tools").await?;
    let on = matches!(
        command,
        UpstreamToolsCommand::Enable { .. } | UpstreamToolsCommand::EnableAll { .. }
    );
    match command {
        UpstreamToolsCommand::Enable { server, tool }
        | UpstreamToolsCommand::Disable { server, tool } => {
            let data = daemon
                .post(
                    &format!("/servers/{}/tools/{}/enabled", path(&server), path(&tool)),
                    &json!({"enabled": on}),
                )
                .await?;
            ctx.show(&data, |d| {
                let word = if on { "enabled" } else { "disabled" };
                if d["changed"] == true {
                    println!("Tool '{tool}' {word} on server '{server}'");
                } else {
                    println!("Tool '{tool}' on server '{server}' was {word} already");
                }
            });
        }
        UpstreamToolsCommand::EnableAll { server }
        | UpstreamToolsCommand::DisableAll { server } => {
            let verb = if on { "enable_all" } else { "disable_all" };
            let data = daemon
                .post(
                    &format!("/servers/{}/tools/{verb}", path(&server)),
                    &json!({}),
                )
                .await?;
            ctx.show(&data, |d| {
                let word = if on { "enabled" } else { "disabled" };
                println!("{} tool(s) of '{server}' {word}", d["changed"]);
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_first_colon() {
        assert_eq!(
            split_target("gh:ns:tool").unwrap(),
            ("gh".to_owned(), "ns:tool".to_owned())
        );
        assert!(split_target("nocolon").is_err());
        assert!(split_target(":t").is_err());
        assert!(split_target("s:").is_err());
    }
}
