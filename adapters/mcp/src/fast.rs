//! The `tools/call` fast path. rmcp serves a session's request through its session worker,
//! the session's service loop and a task per request: a tool call crosses several tasks
//! before the handler sees it and as many on its way back. A `tools/call` POST on a session
//! whose handshake is done is answered here instead, on the connection's own task: parse,
//! build the request context rmcp would build, run the session's own handler (so the call
//! meets the same use case, caller, record and relay as any other), and write the answer as
//! the one SSE event rmcp would write.
//!
//! What the server sends the client during such a call travels as it does through rmcp:
//! sampling, elicitation and roots requests and progress ride this call's own stream (the
//! client's answers come back as POSTs, picked up here by id), log lines go through the
//! session's peer. `notifications/cancelled` for a call served here cancels it, and a client
//! that drops the connection drops the call (the upstream is told).
//!
//! Anything that is not plainly such a call is left to rmcp, which validates and serves it:
//! other methods, a session whose handshake is not done, a request with a `Host`, `Origin`
//! or `MCP-Protocol-Version` other than the handshake's (rmcp checks those), SEP-2243
//! `Mcp-Method`/`Mcp-Param-*` headers, per-request protocol metadata, stateless requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientJsonRpcMessage, ClientNotification,
    ClientRequest, GetExtensions, GetMeta, JsonRpcRequest, RequestId, ServerJsonRpcMessage,
    ServerRequest, ServerResult,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::sessions::{Busy, SessionBook};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// rmcp's default: an SSE comment every 15 s while a call runs.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// A session's handler, as the fast path calls it.
pub(crate) trait Target: Send + Sync {
    fn call(
        self: Arc<Self>,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'static, Result<CallToolResponse, ErrorData>>;
}

impl<H: ServerHandler> Target for H {
    fn call(
        self: Arc<Self>,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'static, Result<CallToolResponse, ErrorData>> {
        Box::pin(async move { ServerHandler::call_tool(self.as_ref(), params, context).await })
    }
}

/// A session whose handshake is done: what its calls need, and the request headers rmcp
/// validated for it.
pub(crate) struct Lane {
    peer: Peer<RoleServer>,
    target: Arc<dyn Target>,
    path: String,
    host: Option<HeaderValue>,
    origin: Option<HeaderValue>,
    version: Option<HeaderValue>,
}

/// The path a request was made to, before any nesting stripped it.
fn path_of(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path(), |u| u.0.path())
}

impl Lane {
    /// Opens the fast path for the session the `initialized` notification of `context` came
    /// in; `handler` serves its calls.
    pub(crate) fn open(
        book: &SessionBook,
        context: &NotificationContext<RoleServer>,
        handler: Arc<dyn Target>,
    ) {
        let Some(parts) = context.extensions.get::<Parts>() else {
            return;
        };
        let Some(session) = parts
            .headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let lane = Lane {
            peer: context.peer.clone(),
            target: handler,
            path: path_of(parts).to_owned(),
            host: parts.headers.get(header::HOST).cloned(),
            origin: parts.headers.get(header::ORIGIN).cloned(),
            version: parts.headers.get(VERSION_HEADER).cloned(),
        };
        book.open_lane(session, Arc::new(lane));
    }

    /// Whether a request with these headers is one rmcp would take without a question:
    /// the same endpoint, `Host`, `Origin` and protocol version as the handshake, no
    /// SEP-2243 headers to check against the body, and both answer types accepted.
    fn fits(&self, parts: &Parts) -> bool {
        let headers = &parts.headers;
        let same = |name: header::HeaderName, seen: &Option<HeaderValue>| {
            headers.get(&name) == seen.as_ref()
        };
        same(header::HOST, &self.host)
            && same(header::ORIGIN, &self.origin)
            && headers.get(VERSION_HEADER) == self.version.as_ref()
            && !headers.keys().any(|k| {
                let k = k.as_str();
                k.starts_with("mcp-") && k != SESSION_HEADER && k != VERSION_HEADER
            })
            && accepts_both(headers)
            && !self.peer.is_transport_closed()
            && path_of(parts) == self.path
    }
}

fn accepts_both(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut fields = item.split(';');
            let essence = fields.next().unwrap_or_default().trim();
            // `q=0` means "not this one".
            if fields.any(|f| {
                f.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            }) {
                continue;
            }
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// The fast path's calls in flight and its questions to clients, by session and id.
#[derive(Default)]
pub(crate) struct Lanes {
    calls: Mutex<HashMap<(String, RequestId), CancellationToken>>,
    asks: Mutex<HashMap<(String, RequestId), oneshot::Sender<ClientJsonRpcMessage>>>,
    next_ask: AtomicU64,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A message the fast path takes.
pub(crate) enum Taken {
    Call(Arc<Lane>, Box<JsonRpcRequest<ClientRequest>>),
    /// The client's answer to a question asked during a call served here.
    Answer(
        oneshot::Sender<ClientJsonRpcMessage>,
        Box<ClientJsonRpcMessage>,
    ),
    /// The client cancelled a call served here.
    Cancel(CancellationToken),
}

/// Whether the fast path takes this POST of `session`; `None` leaves it to rmcp.
pub(crate) fn take(book: &SessionBook, session: &str, parts: &Parts, body: &[u8]) -> Option<Taken> {
    // Most requests are not for us: look before parsing.
    let interesting = [
        &b"tools/call"[..],
        b"\"result\"",
        b"\"error\"",
        b"cancelled",
    ]
    .iter()
    .any(|needle| body.windows(needle.len()).any(|w| w == *needle));
    if !interesting {
        return None;
    }
    let lane = book.lane(session)?;
    let message: ClientJsonRpcMessage = serde_json::from_slice(body).ok()?;
    let lanes = book.lanes();
    match message {
        ClientJsonRpcMessage::Request(request)
            if matches!(request.request, ClientRequest::CallToolRequest(_))
                && request.request.get_meta().protocol_version().is_none()
                && lane.fits(parts) =>
        {
            Some(Taken::Call(lane, Box::new(request)))
        }
        ClientJsonRpcMessage::Response(ref r) => {
            let key = (session.to_owned(), r.id.clone());
            let waiter = locked(&lanes.asks).remove(&key)?;
            Some(Taken::Answer(waiter, Box::new(message)))
        }
        ClientJsonRpcMessage::Error(ref e) => {
            let key = (session.to_owned(), e.id.clone()?);
            let waiter = locked(&lanes.asks).remove(&key)?;
            Some(Taken::Answer(waiter, Box::new(message)))
        }
        ClientJsonRpcMessage::Notification(ref n) => match &n.notification {
            ClientNotification::CancelledNotification(c) => {
                let key = (session.to_owned(), c.params.request_id.clone()?);
                let ct = locked(&lanes.calls).get(&key).cloned()?;
                Some(Taken::Cancel(ct))
            }
            _ => None,
        },
        ClientJsonRpcMessage::Request(_) => None,
    }
}

fn accepted() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// One SSE event carrying `message`.
fn event(message: &ServerJsonRpcMessage) -> Bytes {
    let mut out = b"data: ".to_vec();
    if serde_json::to_writer(&mut out, message).is_err() {
        // A message of rmcp's own types always serialises; say so rather than panic.
        out.truncate(6);
        out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","data":"mcpproxy could not render a message"}}"#);
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Serves what [`take`] took.
pub(crate) fn serve(
    book: &Arc<SessionBook>,
    session: &str,
    parts: Parts,
    taken: Taken,
) -> Response {
    match taken {
        Taken::Answer(waiter, message) => {
            let _ = waiter.send(*message);
            accepted()
        }
        Taken::Cancel(ct) => {
            ct.cancel();
            accepted()
        }
        Taken::Call(lane, request) => call(book, session, parts, lane, *request),
    }
}

/// A call served here, as its answer's body.
struct CallStream {
    answer: Option<BoxFuture<'static, Result<CallToolResponse, ErrorData>>>,
    /// What the relay writes on the call's stream.
    pending: mpsc::Receiver<Bytes>,
    /// The answer's event, once the call is done.
    last: Option<Bytes>,
    ct: CancellationToken,
    id: Option<RequestId>,
    keep_alive: std::pin::Pin<Box<tokio::time::Sleep>>,
    _in_flight: InFlight,
}

/// While a call is in flight: its entry in the book, the session held busy.
struct InFlight {
    book: Arc<SessionBook>,
    key: (String, RequestId),
    _busy: Busy,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        locked(&self.book.lanes().calls).remove(&self.key);
    }
}

fn call(
    book: &Arc<SessionBook>,
    session: &str,
    parts: Parts,
    lane: Arc<Lane>,
    request: JsonRpcRequest<ClientRequest>,
) -> Response {
    let JsonRpcRequest {
        id, mut request, ..
    } = request;
    // As rmcp's service loop does: the request's meta and extensions become the context's.
    let mut context = RequestContext::new(id.clone(), lane.peer.clone());
    std::mem::swap(&mut context.meta, request.get_meta_mut());
    std::mem::swap(&mut context.extensions, request.extensions_mut());
    context.extensions.insert(parts);
    let ClientRequest::CallToolRequest(call) = request else {
        // `take` only lets calls through.
        return accepted();
    };
    tracing::debug!(session = %crate::guard::cut(session, 64), "tools/call on the fast path");
    let (events, pending) = mpsc::channel::<Bytes>(16);
    context.extensions.insert(Link {
        events,
        book: book.clone(),
        session: session.to_owned(),
    });
    let ct = CancellationToken::new();
    context.ct = ct.clone();
    let key = (session.to_owned(), id.clone());
    locked(&book.lanes().calls).insert(key.clone(), ct.clone());
    let in_flight = InFlight {
        book: book.clone(),
        key,
        _busy: book.busy(&session.into()),
    };
    let answer = lane.target.clone().call(call.params, context);
    let state = CallStream {
        answer: Some(answer),
        pending,
        last: None,
        ct,
        id: Some(id),
        keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        _in_flight: in_flight,
    };
    // The body is polled by the connection's task: the call runs there, and ends (the
    // upstream told) when the client goes away and the body is dropped.
    let stream = futures::stream::unfold(state, |mut st| async move {
        if let Some(answer) = st.answer.as_mut() {
            let next = tokio::select! {
                biased;
                Some(bytes) = st.pending.recv() => Err(bytes),
                result = answer => Ok(result),
                // A long call's stream is kept alive, as rmcp keeps its streams.
                () = &mut st.keep_alive => {
                    let deadline = tokio::time::Instant::now() + KEEP_ALIVE;
                    st.keep_alive.as_mut().reset(deadline);
                    Err(Bytes::from_static(b":\n\n"))
                }
            };
            let result = match next {
                Err(bytes) => return Some((Ok::<_, std::convert::Infallible>(bytes), st)),
                Ok(result) => result,
            };
            st.answer = None;
            // A cancelled request gets no answer (as rmcp closes its stream).
            if let (false, Some(id)) = (st.ct.is_cancelled(), st.id.take()) {
                let message = match result {
                    Ok(response) => {
                        ServerJsonRpcMessage::response(ServerResult::from(response), id)
                    }
                    Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
                };
                st.last = Some(event(&message));
            }
        }
        // What was said before the answer goes out before it.
        if let Ok(bytes) = st.pending.try_recv() {
            return Some((Ok(bytes), st));
        }
        st.last.take().map(|bytes| (Ok(bytes), st))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// How a call served here reaches its client: the call's own stream, and the questions
/// waiting for the client's answers.
#[derive(Clone)]
pub(crate) struct Link {
    events: mpsc::Sender<Bytes>,
    book: Arc<SessionBook>,
    session: String,
}

impl Link {
    /// Writes `message` on the call's stream; false when the client is gone.
    pub(crate) async fn send(&self, message: &ServerJsonRpcMessage) -> bool {
        self.events.send(event(message)).await.is_ok()
    }

    /// Asks the client `request` on the call's stream and waits for its answer.
    pub(crate) async fn ask(&self, request: ServerRequest) -> Option<ClientJsonRpcMessage> {
        let lanes = self.book.lanes();
        let n = lanes.next_ask.fetch_add(1, Ordering::Relaxed);
        // A string id: the session's own requests (rmcp's) are numbered.
        let id = RequestId::String(format!("mcpproxy-{n}").into());
        let (reply, answer) = oneshot::channel();
        let key = (self.session.clone(), id.clone());
        locked(&lanes.asks).insert(key.clone(), reply);
        let sent = self.send(&ServerJsonRpcMessage::request(request, id)).await;
        let answer = if sent { answer.await.ok() } else { None };
        locked(&lanes.asks).remove(&key);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn only_a_client_that_takes_both_answer_types_is_served_here() {
        assert!(accepts_both(&accept(&[
            "application/json, text/event-stream"
        ])));
        assert!(accepts_both(&accept(&[
            "application/json",
            "text/event-stream;q=0.5"
        ])));
        assert!(!accepts_both(&accept(&["application/json"])));
        assert!(!accepts_both(&accept(&[
            "application/json, text/event-stream;q=0"
        ])));
        assert!(!accepts_both(&accept(&[])));
    }

    #[test]
    fn an_event_is_one_data_line() {
        let note = ServerJsonRpcMessage::error(ErrorData::invalid_params("no", None), None);
        let bytes = event(&note);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("data: {") && text.ends_with("}\n\n"),
            "{text}"
        );
        assert_eq!(text.matches('\n').count(), 2, "{text}");
    }
}
