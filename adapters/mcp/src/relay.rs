//! A tool call that relays: while the upstream works on it, what the server asks the client
//! (sampling, elicitation, roots) is asked of the client that made the call, from the task
//! serving that call — so it travels on that request's stream — and progress and log lines
//! reach that client too. A call the fast path serves has its own stream ([`Link`]): the
//! questions and progress go there.

use std::sync::Arc;

use async_trait::async_trait;
use mcpproxy_application::call::{CallError, CallRequest, CallService};
use mcpproxy_application::ports::{Relay, RelayError, RelaySink};
#[allow(deprecated)] // logging is deprecated in the newest protocol, still widely used
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{
    ClientJsonRpcMessage, ErrorCode, Notification, ProgressNotificationParam, ProgressToken,
    ServerJsonRpcMessage, ServerNotification, ServerRequest,
};
use rmcp::service::{RequestContext, ServiceError};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::fast::Link;

/// A request of the server, waiting for the client's answer.
struct Ask {
    method: String,
    params: Value,
    reply: oneshot::Sender<Result<Value, RelayError>>,
}

struct CallSink {
    asks: mpsc::Sender<Ask>,
    peer: Peer<RoleServer>,
    /// The token the client gave the call, if it wants progress.
    progress: Option<ProgressToken>,
    /// The call's own stream, when the fast path serves it (rmcp's otherwise).
    link: Option<Link>,
}

fn gone() -> RelayError {
    RelayError {
        code: ErrorCode::INTERNAL_ERROR.0,
        message: "the call this request belonged to has ended".to_owned(),
    }
}

#[async_trait]
impl RelaySink for CallSink {
    async fn request(&self, method: &str, params: Value) -> Result<Value, RelayError> {
        let (reply, answer) = oneshot::channel();
        let ask = Ask {
            method: method.to_owned(),
            params,
            reply,
        };
        self.asks.send(ask).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    #[allow(deprecated)] // logging is deprecated in the newest protocol, still widely used
    async fn notify(&self, method: &str, params: Value) {
        let sent = match method {
            "notifications/progress" => {
                let Some(token) = &self.progress else { return };
                let mut params = params;
                params["progressToken"] = serde_json::to_value(token).unwrap_or_default();
                let Ok(p) = serde_json::from_value::<ProgressNotificationParam>(params) else {
                    return;
                };
                match &self.link {
                    Some(link) => {
                        let note = ServerNotification::ProgressNotification(Notification::new(p));
                        if !link.send(&ServerJsonRpcMessage::notification(note)).await {
                            tracing::debug!("the client did not take a relayed {method}");
                        }
                        return;
                    }
                    None => self.peer.notify_progress(p).await,
                }
            }
            "notifications/message" => {
                match serde_json::from_value::<LoggingMessageNotificationParam>(params) {
                    Ok(p) => self.peer.notify_logging_message(p).await,
                    Err(_) => return,
                }
            }
            _ => return,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "the client did not take a relayed {method}");
        }
    }
}

/// Whether the client declared what `method` needs.
fn client_supports(peer: &Peer<RoleServer>, method: &str) -> bool {
    let Some(info) = peer.peer_info() else {
        return false;
    };
    let capabilities = &info.capabilities;
    match method {
        "sampling/createMessage" => capabilities.sampling.is_some(),
        "elicitation/create" => capabilities.elicitation.is_some(),
        "roots/list" => capabilities.roots.is_some(),
        _ => false,
    }
}

/// Asks the client `method` with `params`, on `link` when the fast path serves the call;
/// its result, or its refusal.
async fn ask_client(
    peer: &Peer<RoleServer>,
    link: Option<&Link>,
    method: &str,
    params: Value,
) -> Result<Value, RelayError> {
    if !client_supports(peer, method) {
        return Err(RelayError {
            code: ErrorCode::METHOD_NOT_FOUND.0,
            message: format!("the client of this call does not support {method}"),
        });
    }
    let mut message = json!({"method": method});
    if params.as_object().is_some_and(|p| !p.is_empty()) {
        message["params"] = params;
    }
    let request: ServerRequest = serde_json::from_value(message).map_err(|e| RelayError {
        code: ErrorCode::INVALID_PARAMS.0,
        message: format!("not a valid {method} request: {e}"),
    })?;
    if let Some(link) = link {
        return match link.ask(request).await {
            Some(ClientJsonRpcMessage::Response(r)) => {
                serde_json::to_value(r.result).map_err(|e| RelayError {
                    code: ErrorCode::INTERNAL_ERROR.0,
                    message: e.to_string(),
                })
            }
            Some(ClientJsonRpcMessage::Error(e)) => Err(RelayError {
                code: e.error.code.0,
                message: e.error.message.to_string(),
            }),
            _ => Err(RelayError {
                code: ErrorCode::INTERNAL_ERROR.0,
                message: format!("the client did not answer {method}: it went away"),
            }),
        };
    }
    match peer.send_request(request).await {
        Ok(result) => serde_json::to_value(result).map_err(|e| RelayError {
            code: ErrorCode::INTERNAL_ERROR.0,
            message: e.to_string(),
        }),
        Err(ServiceError::McpError(e)) => Err(RelayError {
            code: e.code.0,
            message: e.message.to_string(),
        }),
        Err(e) => Err(RelayError {
            code: ErrorCode::INTERNAL_ERROR.0,
            message: format!("the client did not answer {method}: {e}"),
        }),
    }
}

/// How a relayed call ended.
pub enum Outcome {
    Done(Result<Value, CallError>),
    /// The client cancelled it; the upstream was told.
    Cancelled,
}

/// Runs `request` through the call pipeline with a relay to the client of `context`, and
/// answers the server's requests to that client from this task until the call ends.
pub async fn relayed_call(
    calls: &CallService,
    mut request: CallRequest,
    context: &RequestContext<RoleServer>,
) -> Outcome {
    let (asks, mut asked) = mpsc::channel::<Ask>(8);
    let link = context.extensions.get::<Link>().cloned();
    request.relay = Some(Relay(Arc::new(CallSink {
        asks,
        peer: context.peer.clone(),
        progress: context.meta.get_progress_token(),
        link: link.clone(),
    })));
    let call = calls.call(request);
    tokio::pin!(call);
    loop {
        tokio::select! {
            result = &mut call => return Outcome::Done(result),
            Some(ask) = asked.recv() => {
                let answer =
                    ask_client(&context.peer, link.as_ref(), &ask.method, ask.params).await;
                let _ = ask.reply.send(answer);
            }
            // Dropping the call tells the upstream it was cancelled.
            () = context.ct.cancelled() => return Outcome::Cancelled,
        }
    }
}
