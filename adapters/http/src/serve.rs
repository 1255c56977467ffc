//! Serving the TCP listener so that no client can lock the others out.
//!
//! - A client gets `http_read_header_timeout` to send a request's headers, and an idle
//!   keep-alive connection is closed after as long (hyper's header timer runs while it waits
//!   for the next request): idle and slow sockets do not pile up.
//! - At most `max_connections` connections are served. Past that, a few more are still
//!   answered — `/healthz`, `/livez`, `/readyz` (and the Go aliases) as usual, everything else with a 503 that
//!   says why — and closed; past those, a connection is closed at once.
//! - Running out of file descriptors does not spin or stop the accept loop: it waits a moment
//!   and says so in the log (once in a while, not per attempt).
//! - With `tls` on, each connection first completes a TLS handshake within the header timeout.
//!
//! The unix socket is served apart, so it keeps answering while TCP is under pressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connections past the limit that still get an answer (health, or a 503).
pub const OVERFLOW: usize = 128;
/// How long an overflow connection may take to send its request: idle ones make room fast.
const OVERFLOW_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait before accepting again when out of file descriptors.
const FD_PAUSE: Duration = Duration::from_millis(100);
/// How often the log repeats that accepting fails.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What one listener may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// The connections being served, to wait for them at shutdown.
#[derive(Debug, Default)]
struct Active {
    count: AtomicUsize,
    idle: Notify,
}

/// One connection counted while it lives.
struct Counted(Arc<Active>);

impl Drop for Counted {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Logs a repeated failure at most every [`LOG_EVERY`].
#[derive(Debug, Default)]
struct Throttled(Option<Instant>);

impl Throttled {
    fn due(&mut self) -> bool {
        let due = self.0.is_none_or(|t| t.elapsed() >= LOG_EVERY);
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` — over TLS when `tls` is
/// given — then lets the connections finish what they are doing and returns when they have.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    let active = Arc::new(Active::default());
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let (mut fd_log, mut overflow_log) = (Throttled::default(), Throttled::default());
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                let out_of_fds = matches!(e.raw_os_error(), Some(23 | 24)); // ENFILE, EMFILE
                if fd_log.due() {
                    tracing::warn!(
                        "cannot accept a connection: {e}{}",
                        if out_of_fds {
                            "; too many open files — lower http_max_connections or raise the limit of open files"
                        } else {
                            ""
                        }
                    );
                }
                tokio::time::sleep(FD_PAUSE).await;
                continue;
            }
        };
        // Without TCP_NODELAY the small writes of an SSE answer meet delayed ACKs and each
        // call waits ~40 ms.
        let _ = tcp.set_nodelay(true);
        let n = active.count.fetch_add(1, Ordering::SeqCst) + 1;
        let counted = Counted(active.clone());
        if n > limits.max_connections && overflow_log.due() {
            tracing::warn!(
                limit = limits.max_connections,
                "too many connections: new ones get 503 (http_max_connections)"
            );
        }
        if n > limits.max_connections + OVERFLOW {
            continue; // closed as `tcp` and `counted` drop
        }
        let overflow = n > limits.max_connections;
        let connection = Connection {
            app: app.clone(),
            limits,
            overflow,
            stop: shutdown.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection.run(TokioIo::new(tcp)).await,
                Some(acceptor) => {
                    // The handshake gets the time a client has to send its headers: a
                    // socket that never finishes it is closed like a slow one.
                    let wait = if overflow {
                        OVERFLOW_TIMEOUT
                    } else {
                        limits.header_timeout
                    };
                    match tokio::time::timeout(wait, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => connection.run(TokioIo::new(stream)).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake refused: {e}"),
                        Err(_) => tracing::debug!("TLS handshake not done within {wait:?}"),
                    }
                }
            }
            drop(counted);
        });
    }
    loop {
        let idle = active.idle.notified();
        if active.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        idle.await;
    }
}

/// One accepted connection and how to serve it.
struct Connection {
    app: Router,
    limits: ServeLimits,
    /// Past `max_connections`: only health is answered.
    overflow: bool,
    stop: CancellationToken,
}

impl Connection {
    async fn run<I>(self, io: I)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let Self {
            app,
            limits,
            overflow,
            stop,
        } = self;
        if overflow {
            let limit = limits.max_connections;
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let app = app.clone();
                async move {
                    if matches!(
                        request.uri().path(),
                        "/healthz" | "/livez" | "/readyz" | "/health" | "/ready"
                    ) {
                        return app.oneshot(request.map(Body::new)).await;
                    }
                    Ok(overloaded(limit))
                }
            });
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(TokioTimer::new())
                .header_read_timeout(OVERFLOW_TIMEOUT)
                .keep_alive(false);
            drive(http1.serve_connection(io, service), stop).await;
        } else {
            // HTTP/1.1 only, as Go's server without TLS: a connection is read as HTTP/1 from
            // its first byte, so the header timer runs from the start — a socket that never
            // sends anything is closed like a slow one (sniffing for HTTP/2 would wait for it
            // forever). Over TLS, ALPN offers only http/1.1 for the same reason.
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let service = TowerToHyperService::new(app);
            drive(http1.serve_connection(io, service), stop).await;
        }
    }
}

/// Runs a connection to its end; at shutdown, lets it finish its requests and close.
async fn drive<C>(conn: C, stop: CancellationToken)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// What a connection over the limit gets for anything but health.
fn overloaded(limit: usize) -> Response {
    let body = serde_json::json!({
        "success": false,
        "error": format!(
            "the proxy is serving its maximum of {limit} connections (http_max_connections); close idle connections or try again in a moment"
        ),
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overload_answer_says_why_and_when() {
        let r = overloaded(7);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn failures_are_logged_once_in_a_while() {
        let mut t = Throttled::default();
        assert!(t.due());
        assert!(!t.due());
    }
}
