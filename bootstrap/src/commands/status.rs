//! `mcpproxy status`: whether the proxy runs, where, with which key; `--reset-key` makes a
//! new API key — through the running proxy when there is one (so its gates decide, and it
//! uses the key at once), else through the same use case over the config file.

use clap::Args;
use mcpproxy_domain::activity::Source;
use serde_json::json;

use super::daemon::{Daemon, Refusal};
use super::output::{state, text};
use super::{Context, Standalone};
use crate::exit::Failure;

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Show the whole API key instead of its ends
    #[arg(long)]
    pub show_key: bool,
    /// Replace the API key with a new one (clients using the old key must be updated)
    #[arg(long)]
    pub reset_key: bool,
    /// Print only the web control panel's address, with the key that signs in (for
    /// `xdg-open $(mcpproxy status --web-url)`)
    #[arg(long)]
    pub web_url: bool,
}

/// The base URL a browser on this machine reaches the proxy at: a listener on every
/// address (`:8080`, `0.0.0.0:8080`, `[::]:8080`) is reached on loopback.
fn browser_base(scheme: &str, listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        other => other,
    };
    format!("{scheme}://{host}:{port}")
}

/// A query value, percent-encoded (generated keys are hex; a key set by hand may not be).
pub(crate) fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The panel's address with the key: opening it signs the browser in (the key then moves
/// into a cookie and out of the address bar).
fn web_url(scheme: &str, listen: &str, key: &str) -> String {
    format!(
        "{}/ui/?apikey={}",
        browser_base(scheme, listen),
        query_value(key)
    )
}

/// `abcd****wxyz`: enough to recognise a key, not enough to use it.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let start: String = chars[..4].iter().collect();
    let end: String = chars[chars.len() - 4..].iter().collect();
    format!("{start}****{end}")
}

fn uptime(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m {}s", seconds % 60),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

async fn reset_key(ctx: &Context, daemon: Option<&Daemon>) -> Result<String, Failure> {
    let located = &ctx.located;
    let key = match daemon {
        Some(daemon) => {
            let data = daemon.post("/config/reset-key", &json!({})).await?;
            text(&data["api_key"])
        }
        None => {
            let local = Standalone::open(located).await?;
            let key = local.management.reset_api_key(Source::Cli).await;
            local.close().await;
            key.map_err(Refusal::from)?
        }
    };
    eprintln!(
        "A new API key is saved in {}.",
        located.config_path.display()
    );
    eprintln!(
        "HTTP clients using the old key are refused from now on; the unix socket needs no key."
    );
    if located.env.api_key.is_some() {
        eprintln!(
            "Note: MCPPROXY_API_KEY is set and overrides the file's key for processes that see it."
        );
    }
    Ok(key)
}

pub async fn run(ctx: &Context, args: &StatusArgs) -> Result<(), Failure> {
    let located = &ctx.located;
    let scheme = if located.tls().enabled {
        "https"
    } else {
        "http"
    };
    let mut daemon = ctx.daemon().await?;
    let key = if args.reset_key {
        let key = reset_key(ctx, daemon.as_ref()).await?;
        // Over TCP the daemon wants the new key from now on (unless the environment's key
        // overrides the file's for it too).
        if located.env.api_key.is_none() {
            daemon = daemon.map(|d| d.with_key(&key));
        }
        key
    } else {
        located.api_key().to_owned()
    };
    let shown_key = if args.show_key || args.reset_key {
        key.clone()
    } else {
        mask(&key)
    };
    let mut data = json!({
        "state": "not running",
        "listen_addr": located.listen(),
        "api_key": shown_key,
        "routing_mode": located.config.routing_mode().as_str(),
        "config_path": located.config_path.display().to_string(),
        "data_dir": located.data_dir.display().to_string(),
    });
    if args.web_url {
        let listen = match &daemon {
            Some(d) => text(&d.get("/info").await?["listen_addr"]),
            None => located.listen(),
        };
        println!("{}", web_url(scheme, &listen, &key));
        return Ok(());
    }
    if let Some(daemon) = &daemon {
        let status = daemon.get("/status").await?;
        let info = daemon.get("/info").await?;
        data["state"] = json!("running");
        data["version"] = info["version"].clone();
        data["listen_addr"] = status["listen_addr"].clone();
        data["uptime_seconds"] = status["uptime_seconds"].clone();
        data["routing_mode"] = status["routing_mode"].clone();
        data["servers"] = status["servers"].clone();
        data["tools"] = status["tools"].clone();
        data["socket_path"] = info["endpoints"]["socket"].clone();
        data["via"] = json!(daemon.via.to_string());
    }
    let listen = text(&data["listen_addr"]);
    let base = format!("{scheme}://{listen}");
    data["endpoints"] = json!({
        "mcp": format!("{base}/mcp"),
        "mcp_call": format!("{base}/mcp/call"),
        "mcp_all": format!("{base}/mcp/all"),
        "api": format!("{base}/api/v1"),
        "docs": format!("{base}/swagger/"),
        // Masked, it is for reading, not opening: leave the stars as they are.
        "web_ui": if shown_key == key {
            web_url(scheme, &listen, &key)
        } else {
            format!("{}/ui/?apikey={shown_key}", browser_base(scheme, &listen))
        },
    });
    ctx.show(&data, |d| {
        let running = daemon.is_some();
        let line = |label: &str, value: String| println!("  {label:<13}{value}");
        println!("mcpproxy status");
        line(
            "State:",
            state(if running { "Running" } else { "Not running" }, ctx.colour),
        );
        if running {
            line("Version:", text(&d["version"]));
            line("Listen:", text(&d["listen_addr"]));
            line("Uptime:", uptime(d["uptime_seconds"].as_u64().unwrap_or(0)));
            let s = &d["servers"];
            line(
                "Servers:",
                format!(
                    "{} connected, {} quarantined, {} total",
                    s["connected"], s["quarantined"], s["total"]
                ),
            );
            line(
                "Tools:",
                format!(
                    "{} callable of {}",
                    d["tools"]["enabled"], d["tools"]["total"]
                ),
            );
            line("Socket:", text(&d["socket_path"]));
        } else {
            line(
                "Listen:",
                format!("{} (configured)", text(&d["listen_addr"])),
            );
        }
        line("API key:", text(&d["api_key"]));
        line("Routing:", text(&d["routing_mode"]));
        line("Config:", text(&d["config_path"]));
        println!("\nEndpoints");
        line("MCP:", text(&d["endpoints"]["mcp"]));
        line("Web UI:", text(&d["endpoints"]["web_ui"]));
        line("REST API:", text(&d["endpoints"]["api"]));
        line("API docs:", text(&d["endpoints"]["docs"]));
        if !running {
            println!("\nStart it with `mcpproxy serve`.");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_to_their_ends() {
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("abcdefghijkl"), "abcd****ijkl");
    }

    #[test]
    fn the_web_url_is_reachable_from_this_machine() {
        assert_eq!(
            web_url("http", "127.0.0.1:8080", "abc"),
            "http://127.0.0.1:8080/ui/?apikey=abc"
        );
        assert_eq!(
            web_url("http", ":9000", "a b&c"),
            "http://127.0.0.1:9000/ui/?apikey=a%20b%26c"
        );
        assert_eq!(
            web_url("http", "0.0.0.0:1", "k"),
            "http://127.0.0.1:1/ui/?apikey=k"
        );
        assert_eq!(
            web_url("https", "[::]:2", "k"),
            "https://[::1]:2/ui/?apikey=k"
        );
    }

    #[test]
    fn uptime_reads_as_people_say_it() {
        assert_eq!(uptime(75), "1m 15s");
        assert_eq!(uptime(2 * 3600 + 15 * 60), "2h 15m");
        assert_eq!(uptime(86_400 + 3600), "1d 1h 0m");
    }
}
