//! `mcpproxy serve`: start-up in a fixed order, serve until a signal, stop within 2 s.
//!
//! The order makes each failure come with its own exit code and before anything is half
//! started: config (4) → data directory (5) → instance lock (3) → logging → database →
//! listener (2) → background tasks → serving.

use std::sync::Arc;
use std::time::Duration;

use mcpproxy_application::ActivityDraft;
use mcpproxy_application::load_gate::LoadGate;
use mcpproxy_application::ports::ConfigStore;
use mcpproxy_config::{ConfigWatcher, FileConfigStore, ProcessOverrides, generate_api_key};
use mcpproxy_domain::activity::{ActivityKind, ActivityStatus, Source};
use mcpproxy_http::ServeLimits;
use mcpproxy_logs::Rotation;
use tokio::net::TcpListener;

use crate::app::App;
use crate::fds;

use crate::cli::{Cli, ServeArgs};
use crate::exit::{Exit, Failure};
use crate::locate::{Located, ensure_config_dir, locate};
use crate::lock::InstanceLock;
use crate::logging::{self, LogSettings};
use crate::paths::ensure_private_dir;
use crate::storage;

/// How long open connections get to finish after a stop signal; the rest of the 2 s budget
/// goes to closing the database and flushing logs.
const DRAIN: Duration = Duration::from_millis(1500);

/// `":8080"` (Go's form for every interface) → `"0.0.0.0:8080"`.
pub(crate) fn bind_address(listen: &str) -> String {
    match listen.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen.to_owned(),
    }
}

async fn bind(listen: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(bind_address(listen)).await.map_err(|e| {
        let (exit, hint) = match e.kind() {
            std::io::ErrorKind::AddrInUse => (
                Exit::PortInUse,
                "another program is listening there; stop it, or choose another address with --listen or `listen` in the config",
            ),
            std::io::ErrorKind::PermissionDenied => (
                Exit::Permission,
                "this user may not listen there; choose a port above 1023",
            ),
            _ => (Exit::General, "check the `listen` address"),
        };
        Failure::new(exit, format!("cannot listen on {listen}: {e}; {hint}"))
    })
}

/// The stop signals, watched from before the listener answers: a SIGTERM that arrives as soon
/// as `/healthz` says yes must still stop the proxy gracefully rather than kill it.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn watch() -> Result<Self, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| {
            signal(kind)
                .map_err(|e| Failure::new(Exit::General, format!("cannot watch {name}: {e}")))
        };
        Ok(Self {
            term: watch(SignalKind::terminate(), "SIGTERM")?,
            int: watch(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

pub async fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), Failure> {
    let located = locate(cli)?;
    let log_dir = located.log_dir(cli);
    // The database is chosen (and this replica named) before the config is taken apart.
    let replica = storage::replica_id(
        located.env.replica_id.as_deref(),
        &args
            .listen
            .clone()
            .or_else(|| located.env.listen.clone())
            .unwrap_or_else(|| located.config.listen.clone()),
    );
    let storage = storage::location(&located, &replica)?;
    let tls = located.tls();
    let certs_dir = located.certs_dir();
    let Located {
        env,
        config_path,
        config: mut file_config,
        notes,
        missing: mut must_save,
        data_dir,
        ..
    } = located;
    if must_save {
        ensure_config_dir(&config_path)?;
    }
    ensure_private_dir(&data_dir)?;

    let listen = args
        .listen
        .clone()
        .or_else(|| env.listen.clone())
        .unwrap_or_else(|| file_config.listen.clone());
    let mut lock = InstanceLock::acquire(&data_dir, &listen)?;

    if file_config.api_key.is_empty() && env.api_key.is_none() {
        file_config.api_key = generate_api_key();
        must_save = true;
    }
    if must_save {
        mcpproxy_config::save(&config_path, &file_config)
            .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    }

    let log_settings = LogSettings::new(
        &file_config.logging,
        cli.log_level.map(|l| l.as_str()),
        cli.log_to_file,
        log_dir.clone(),
    );
    let rotation = Rotation::from_config(
        file_config.logging.max_size,
        file_config.logging.max_backups,
        file_config.logging.max_age,
    )
    .compressed(file_config.logging.compress);
    let log_guard = logging::init(&log_settings)?;
    // Before anything opens files: a 1,024 soft limit is soon reached by a busy proxy.
    let open_files = fds::raise_limit();
    for note in &notes {
        tracing::warn!(config = %config_path.display(), "{note}");
    }
    // Saves a crash cut short leave whole configs (secrets included) beside the file.
    for stale in mcpproxy_config::remove_stale_temp_files(&config_path) {
        tracing::info!(file = %stale.display(), "removed the leftover of an interrupted config save");
    }

    let overrides = ProcessOverrides {
        listen: args.listen.clone().or(env.listen),
        api_key: env.api_key,
        read_only_mode: args.read_only.then_some(true),
        disable_management: args.disable_management.then_some(true),
        require_mcp_auth: args.require_mcp_auth.then_some(true),
        trusted_hosts: env.trusted_hosts,
    };
    let db = storage::open(&storage).await?;
    let store = Arc::new(
        FileConfigStore::with_config(&config_path, file_config)
            .with_overrides(overrides)
            .with_admission(Arc::new(LoadGate::new(db.clone()))),
    );
    // Servers written into the file that the proxy has never seen are held for review before
    // anything starts them (hot reloads pass the same gate in the store).
    store
        .admit()
        .await
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
    // Before the listener: a proxy that cannot serve HTTPS as configured does not serve
    // plain HTTP in its place.
    let tls_config = if tls.enabled {
        Some(https(&certs_dir, tls.require_client_cert)?)
    } else {
        None
    };
    let scheme = if tls.enabled { "https" } else { "http" };
    let mut signals = StopSignals::watch()?;
    let listener = bind(&listen).await?;
    let listening = listener
        .local_addr()
        .map_err(|e| Failure::new(Exit::General, format!("the listener has no address: {e}")))?;
    let address = listening.to_string();
    if let Err(e) = lock.note_address(&address) {
        tracing::warn!("cannot note the address in the lock file: {e}");
    }

    // The OAuth callback comes back to this listener, on loopback.
    let callback_base = format!("{scheme}://127.0.0.1:{}", listening.port());
    let mut app = App::start(
        store.clone(),
        db.clone(),
        &replica,
        &data_dir,
        &log_dir,
        rotation,
        &callback_base,
    )
    .await?;
    let _watcher = ConfigWatcher::start(store.clone(), Arc::new(app.bus.clone()))
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
    let socket = app.bind_socket(&data_dir)?;
    let socket_path = socket.as_ref().map(|s| s.path().to_owned());
    app.https = tls.enabled;
    let mut router = app.router(listening, socket_path.as_deref());
    if tls.enabled && tls.hsts {
        router = mcpproxy_http::tls::with_hsts(router);
    }
    app.activity
        .record_or_log(
            ActivityDraft::new(
                ActivityKind::SystemStart,
                Source::Internal,
                ActivityStatus::Success,
            )
            .meta("version", env!("CARGO_PKG_VERSION"))
            .meta("listen", address.clone())
            .meta("storage", db.backend()),
        )
        .await;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %data_dir.display(),
        config = %config_path.display(),
        storage = db.backend(),
        replica = %replica,
        main_log = %log_guard
            .main_log
            .as_deref()
            .map_or_else(|| "off".to_owned(), |p| p.display().to_string()),
        socket = %socket_path.as_deref().map_or_else(|| "off".to_owned(), |p| p.display().to_string()),
        tls = tls.enabled,
        "mcpproxy listening on {scheme}://{address} (MCP endpoint: {scheme}://{address}/mcp)"
    );

    let stop = tokio_util::sync::CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();
    {
        let stop = stop.clone();
        let config = store.current();
        let limits = ServeLimits {
            max_connections: fds::connection_cap(config.http_max_connections(), open_files),
            header_timeout: config.http_read_header_timeout().to_std(),
        };
        tracing::info!(
            open_files = open_files.unwrap_or_default(),
            max_connections = limits.max_connections,
            mcp_max_sessions = config.mcp_max_sessions(),
            "limits"
        );
        servers.spawn(async move {
            mcpproxy_http::serve(listener, router, limits, tls_config, stop).await;
            Ok::<(), std::io::Error>(())
        });
    }
    if let (Some(socket), Some(path)) = (socket, &socket_path) {
        let routes = app.socket_router(listening, path);
        let stop = stop.clone();
        servers.spawn(async move {
            axum::serve(socket, routes)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
    }
    let outcome = tokio::select! {
        signal = signals.recv() => {
            tracing::info!("{signal} received, stopping");
            stop.cancel();
            // Clients and upstream servers are let go of at the same time.
            let drain = async {
                let all = async { while servers.join_next().await.is_some() {} };
                if tokio::time::timeout(DRAIN, all).await.is_err() {
                    tracing::warn!("connections still open after {DRAIN:?}; closing them");
                    servers.abort_all();
                }
            };
            tokio::join!(drain, app.stop());
            Ok(())
        }
        Some(result) = servers.join_next() => {
            stop.cancel();
            servers.abort_all();
            app.stop().await;
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Failure::new(Exit::General, format!("the HTTP server failed: {e}"))),
                Err(e) => Err(Failure::new(Exit::General, format!("the HTTP server stopped: {e}"))),
            }
        }
    };

    app.activity
        .record_or_log(ActivityDraft::new(
            ActivityKind::SystemStop,
            Source::Internal,
            ActivityStatus::Success,
        ))
        .await;
    db.close().await;
    tracing::info!("stopped");
    drop(log_guard);
    outcome
}

/// The local CA and the server certificate in `certs_dir` (made on first start), as a
/// rustls configuration.
fn https(
    certs_dir: &std::path::Path,
    require_client_cert: bool,
) -> Result<Arc<rustls::ServerConfig>, Failure> {
    use mcpproxy_http::tls;
    let failed = |e: tls::TlsError| Failure::new(Exit::General, format!("cannot serve HTTPS: {e}"));
    let (files, made) = tls::ensure(certs_dir).map_err(failed)?;
    if made.ca {
        tracing::info!(
            ca = %files.ca_cert.display(),
            "made a local certificate authority for HTTPS; trust it with `mcpproxy trust-cert`"
        );
    }
    if made.server {
        tracing::info!(cert = %files.server_cert.display(), "made the HTTPS certificate for localhost");
    }
    tracing::info!(
        certs_dir = %files.dir.display(),
        require_client_cert,
        "serving HTTPS"
    );
    tls::server_config(&files, require_client_cert).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_listen_means_every_interface() {
        assert_eq!(bind_address(":8080"), "0.0.0.0:8080");
        assert_eq!(bind_address("127.0.0.1:1"), "127.0.0.1:1");
    }

    #[tokio::test]
    async fn a_taken_port_is_exit_2() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = bind(&addr).await.unwrap_err();
        assert_eq!(err.exit, Exit::PortInUse);
        assert!(err.message.contains("--listen"), "{}", err.message);
    }
}
