//! One connection to the core's API: open `/events` first (so nothing is missed), read the
//! info, servers and tools, say connected, then follow the stream — re-reading the servers or
//! the tools a moment after the events that change them — until it ends.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::client::Endpoint;
use crate::model::{Server, ToolToReview, review_from, servers_from};

/// Events come in bursts (a restart is several `servers.changed`): re-read once they calm.
const SETTLE: Duration = Duration::from_millis(150);

#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Info(Value),
    Servers(Vec<Server>),
    Review(Vec<ToolToReview>),
    /// An event worth a look (for notifications).
    Event {
        name: String,
        payload: Value,
    },
    Connected,
    /// Connecting failed.
    Failed(String),
    /// The connection was there and is gone.
    Lost(String),
}

/// What an event makes stale.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stale {
    servers: bool,
    tools: bool,
}

fn stale_after(name: &str) -> Stale {
    match name {
        "servers.changed"
        | "oauth.login_required"
        | "oauth.login_started"
        | "oauth.token_refreshed"
        | "oauth.refresh_failed" => Stale {
            servers: true,
            tools: false,
        },
        "tools.approval_changed" => Stale {
            servers: false,
            tools: true,
        },
        // A tool count or a whole server may have changed; a `dropped` event means events
        // were lost.
        "tools.discovered" | "tools.indexed" | "config.reloaded" | "dropped" => Stale {
            servers: true,
            tools: true,
        },
        _ => Stale::default(),
    }
}

async fn read(endpoint: &Endpoint, stale: Stale, send: &impl Fn(Update)) -> Result<(), String> {
    if stale.servers {
        let data = endpoint.get("/servers").await.map_err(|e| e.to_string())?;
        send(Update::Servers(servers_from(&data)?));
    }
    if stale.tools {
        let data = endpoint.get("/tools").await.map_err(|e| e.to_string())?;
        send(Update::Review(review_from(&data)));
    }
    Ok(())
}

/// Runs the session; every update goes through `send`. Ends with `Failed` or `Lost`, unless
/// aborted.
pub async fn follow(endpoint: Endpoint, send: impl Fn(Update) + Send + 'static) {
    let mut events = match endpoint.events().await {
        Ok(events) => Box::pin(events),
        Err(e) => return send(Update::Failed(e.to_string())),
    };
    let first = async {
        let info = endpoint.get("/info").await.map_err(|e| e.to_string())?;
        send(Update::Info(info));
        let all = Stale {
            servers: true,
            tools: true,
        };
        read(&endpoint, all, &send).await
    };
    if let Err(reason) = first.await {
        return send(Update::Failed(reason));
    }
    send(Update::Connected);
    let mut stale = Stale::default();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let at = due;
        let wait = async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            next = events.next() => match next {
                Some(Ok((name, payload))) => {
                    let s = stale_after(&name);
                    if s != Stale::default() {
                        stale.servers |= s.servers;
                        stale.tools |= s.tools;
                        due = Some(tokio::time::Instant::now() + SETTLE);
                    }
                    if name.starts_with("oauth.") {
                        send(Update::Event { name, payload });
                    }
                }
                Some(Err(e)) => return send(Update::Lost(format!("the event stream broke: {e}"))),
                None => return send(Update::Lost("mcpproxy closed the event stream".to_owned())),
            },
            () = wait => {
                due = None;
                if let Err(reason) = read(&endpoint, std::mem::take(&mut stale), &send).await {
                    return send(Update::Lost(reason));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_make_the_right_lists_stale() {
        assert_eq!(
            stale_after("servers.changed"),
            Stale {
                servers: true,
                tools: false
            }
        );
        assert_eq!(
            stale_after("tools.approval_changed"),
            Stale {
                servers: false,
                tools: true
            }
        );
        assert_eq!(
            stale_after("dropped"),
            Stale {
                servers: true,
                tools: true
            }
        );
        assert_eq!(stale_after("activity.tool_call"), Stale::default());
        assert_eq!(stale_after("ping"), Stale::default());
    }
}
