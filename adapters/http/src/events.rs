//! `/events`: a Server-Sent Events stream of what happens — a `status` event first, a `ping`
//! every 30 s, then `servers.changed`, `config.reloaded`, `tools.indexed`, `activity.*`, …,
//! each as `{"payload": …, "timestamp": …}`. An event the Go MCPProxy names otherwise
//! (`activity.tool_call.completed`, `activity.system.start`, …) is sent under both names.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use futures::Stream;
use mcpproxy_domain::DomainEvent;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::api::Api;

const PING: Duration = Duration::from_secs(30);
/// How long a client waits before reconnecting after the stream drops.
const RETRY: Duration = Duration::from_secs(3);

fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    mcpproxy_domain::Timestamp::from_millis(ms).to_string()
}

fn event(name: &str, payload: Value) -> Event {
    Event::default()
        .event(name)
        .data(json!({"payload": payload, "timestamp": now()}).to_string())
}

async fn status(api: &Api) -> Value {
    match api.management.list_servers().await {
        Ok(servers) => json!({
            "running": true,
            "servers": servers.iter().map(|s| json!({
                "name": s.name, "status": s.status, "connected": s.connected,
                "enabled": s.enabled, "quarantined": s.quarantined, "tool_count": s.tool_count,
            })).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"running": true, "error": e.to_string()}),
    }
}

enum Step {
    Start,
    Live,
}

struct Subscriber {
    api: Arc<Api>,
    events: broadcast::Receiver<DomainEvent>,
    ping: tokio::time::Interval,
    step: Step,
    /// The same event under the Go MCPProxy's name, sent next.
    alias: Option<Event>,
}

/// The stream of one subscriber. It never slows the proxy: a subscriber that falls behind
/// loses the events it missed and is told how many with a `dropped` event.
fn stream(api: Arc<Api>) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING, PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let subscriber = Subscriber {
        events: api.bus.subscribe(),
        api,
        ping,
        step: Step::Start,
        alias: None,
    };
    futures::stream::unfold(subscriber, |mut s| async move {
        if let Step::Start = s.step {
            s.step = Step::Live;
            let first = event("status", status(&s.api).await).retry(RETRY);
            return Some((Ok(first), s));
        }
        if let Some(alias) = s.alias.take() {
            return Some((Ok(alias), s));
        }
        let next = tokio::select! {
            () = s.api.shutdown.cancelled() => return None,
            _ = s.ping.tick() => event("ping", json!({})),
            received = s.events.recv() => match received {
                Ok(e) => {
                    let payload = serde_json::to_value(&e).unwrap_or(Value::Null);
                    s.alias = e.go_name().map(|go| event(go, payload.clone()));
                    event(&e.name(), payload)
                }
                Err(RecvError::Lagged(missed)) => event(
                    "dropped",
                    json!({"missed": missed, "reason": "the client read too slowly; reload the state"}),
                ),
                Err(RecvError::Closed) => return None,
            },
        };
        Some((Ok(next), s))
    })
}

/// The SSE route.
pub async fn events(
    State(api): State<Arc<Api>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(stream(api))
}
