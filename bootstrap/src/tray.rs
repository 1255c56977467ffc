//! `mcpproxy-tray`: the tray app's composition. It finds the same data directory and config as
//! `mcpproxy serve` would, sets up its log, starts the desktop surface (a StatusNotifierItem
//! on Linux) and runs the tray's runner until Quit. It reaches the core only through the
//! core's API (`mcpproxy_tray::client`); nothing of the core's services is wired here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mcpproxy_config::EnvOverrides;
use mcpproxy_domain::Config;
use mcpproxy_domain::config::LoggingConfig;
use mcpproxy_logs::Rotation;
use mcpproxy_tray::client::{CoreSite, TcpLookup, TcpTls};
use mcpproxy_tray::core::CoreCommand;
use mcpproxy_tray::desktop::{Autostart, Opener};
use mcpproxy_tray::menu::Action;
use mcpproxy_tray::model::Model;
use mcpproxy_tray::notice::Notice;
use mcpproxy_tray::runner::{self, Channels, Settings, View};
use tokio::sync::{mpsc, watch};

use crate::exit::{Exit, Failure};
use crate::locate::locate_with;
use crate::lock;
use crate::logging::{self, LogSettings};
use crate::paths;
use mcpproxy_application::connect::reachable;

#[derive(Debug, Parser)]
#[command(
    name = "mcpproxy-tray",
    version,
    about = "The mcpproxy tray: starts `mcpproxy serve` (or finds the one running), shows how it \
             and its servers are doing, and offers the common actions"
)]
pub struct TrayCli {
    /// Config file [default: <data dir>/mcp_config.json]
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory [default: ~/.mcpproxy; env: MCPPROXY_DATA]
    #[arg(short = 'd', long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The mcpproxy binary to launch [default: the one beside mcpproxy-tray, else on PATH]
    #[arg(long, value_name = "PATH", env = "MCPPROXY_CORE_PATH")]
    pub core: Option<PathBuf>,

    /// No tray icon: only keep the core running (and print the status with --print-status)
    #[arg(long)]
    pub headless: bool,

    /// Print each change of status as one JSON line on stdout
    #[arg(long)]
    pub print_status: bool,

    /// Log level of the tray's own log (tray.log in the log directory)
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
}

/// What the tray needs to know about the proxy's files.
struct Place {
    data_dir: PathBuf,
    config_path: PathBuf,
    listen: String,
    api_key: String,
    log_dir: PathBuf,
    logging: LoggingConfig,
    /// Set when the core serves HTTPS.
    tls: Option<TcpTls>,
}

/// The same files `mcpproxy serve` uses. A config that does not load is the core's to report
/// (it exits with 4 and names the key): the tray then goes by the defaults.
fn place(cli: &TrayCli) -> Result<Place, Failure> {
    match locate_with(cli.config.as_deref(), cli.data_dir.as_deref()) {
        Ok(located) => Ok(Place {
            tls: tcp_tls(&located),
            listen: located.listen(),
            api_key: located.api_key().to_owned(),
            log_dir: located.log_dir_with(None),
            logging: located.config.logging.clone(),
            config_path: located.config_path,
            data_dir: located.data_dir,
        }),
        Err(f) if f.exit == Exit::Config => {
            let env = EnvOverrides::from_env();
            let home = paths::home()?;
            let data_dir = cli
                .data_dir
                .clone()
                .or(env.data_dir)
                .unwrap_or_else(|| home.join(".mcpproxy"));
            Ok(Place {
                config_path: cli
                    .config
                    .clone()
                    .unwrap_or_else(|| data_dir.join("mcp_config.json")),
                data_dir,
                listen: env.listen.unwrap_or_else(|| Config::default().listen),
                api_key: env.api_key.unwrap_or_default(),
                log_dir: mcpproxy_logs::default_log_dir(
                    &home,
                    std::env::var("XDG_STATE_HOME").ok().as_deref(),
                ),
                logging: LoggingConfig::default(),
                tls: None,
            })
        }
        Err(f) => Err(f),
    }
}

/// The core beside this binary (installed together), else `mcpproxy` on PATH.
fn core_binary(cli: &TrayCli) -> PathBuf {
    if let Some(core) = &cli.core {
        return core.clone();
    }
    let name = format!("mcpproxy{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The tray's own flags, repeated in the start-at-login entry.
fn own_args(cli: &TrayCli) -> Vec<String> {
    let mut args = Vec::new();
    let mut push = |flag: &str, value: &Option<PathBuf>| {
        if let Some(v) = value {
            args.push(flag.to_owned());
            args.push(v.display().to_string());
        }
    };
    push("--config", &cli.config);
    push("--data-dir", &cli.data_dir);
    push("--core", &cli.core);
    args
}

fn autostart(cli: &TrayCli) -> Option<Autostart> {
    let exe = std::env::current_exe().ok()?;
    let home = paths::home().ok()?;
    if cfg!(target_os = "macos") {
        return Some(Autostart::launch_agent(&home, &exe, &own_args(cli)));
    }
    if cfg!(windows) {
        return None;
    }
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| home.join(".config"), PathBuf::from);
    Some(Autostart::xdg(&config_home, &exe, &own_args(cli)))
}

/// The local CA (and client certificate) of a core that serves HTTPS.
fn tcp_tls(located: &crate::locate::Located) -> Option<TcpTls> {
    let tls = located.tls();
    if !tls.enabled {
        return None;
    }
    let files = mcpproxy_http::tls::CertFiles::in_dir(&located.certs_dir());
    Some(TcpTls {
        identity: tls
            .require_client_cert
            .then(|| (files.server_cert.clone(), files.server_key.clone())),
        ca: files.ca_cert,
    })
}

/// The address of the core that holds `data_dir`, as its lock file says (as the command line
/// finds it); none while a command line edits the files.
fn tcp_lookup(data_dir: PathBuf) -> TcpLookup {
    Arc::new(move || {
        lock::holder(&data_dir)?
            .listen
            .filter(|l| l != "cli")
            .map(|l| reachable(&l))
    })
}

fn settings(cli: &TrayCli, place: &Place) -> Settings {
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--config".into(),
        place.config_path.clone().into(),
        "--data-dir".into(),
        place.data_dir.clone().into(),
    ];
    Settings {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        core: CoreCommand {
            program: core_binary(cli),
            args,
        },
        site: CoreSite {
            socket: place.data_dir.join("mcpproxy.sock"),
            tcp: tcp_lookup(place.data_dir.clone()),
            api_key: place.api_key.clone(),
            tls: place.tls.clone(),
        },
        listen: place.listen.clone(),
        data_dir: place.data_dir.clone(),
        config_path: place.config_path.clone(),
        log_dir: place.log_dir.clone(),
        api_key: place.api_key.clone(),
        autostart: autostart(cli),
        opener: Opener::system(),
    }
}

fn init_logging(cli: &TrayCli, place: &Place) -> Result<logging::LogGuard, Failure> {
    let settings = LogSettings {
        level: cli.log_level.clone(),
        console: true,
        file: Some(place.log_dir.join("tray.log")),
        json: false,
        rotation: Rotation::from_config(
            place.logging.max_size,
            place.logging.max_backups,
            place.logging.max_age,
        )
        .compressed(place.logging.compress),
    };
    if let Err(e) = std::fs::create_dir_all(&place.log_dir) {
        return Err(Failure::new(
            Exit::Permission,
            format!("cannot create {}: {e}", place.log_dir.display()),
        ));
    }
    logging::init(&settings)
}

/// Stop signals become Quit: the core this tray launched is stopped first.
fn quit_on_signals(actions: mpsc::UnboundedSender<Action>) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::new(Exit::General, format!("cannot watch SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Failure::new(Exit::General, format!("cannot watch SIGINT: {e}")))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("stop signal received: quitting");
            if actions.send(Action::Quit).is_err() {
                return;
            }
        }
    });
    Ok(())
}

fn print_status(mut views: watch::Receiver<View>) {
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let line = views.borrow_and_update().status_json();
            if line != last {
                println!("{line}");
                last = line;
            }
            if views.changed().await.is_err() {
                return;
            }
        }
    });
}

/// What a desktop surface gets: the views to show, where clicks go, the notices to show.
struct Wiring {
    views: watch::Receiver<View>,
    actions: mpsc::UnboundedSender<Action>,
    notices: mpsc::UnboundedReceiver<Notice>,
}

/// No surface: notices reach only the log (the runner logs each one).
fn headless(mut wiring: Wiring) {
    tokio::spawn(async move { while wiring.notices.recv().await.is_some() {} });
}

#[cfg(target_os = "linux")]
fn desktop(wiring: Wiring) {
    let Wiring {
        views,
        actions,
        notices,
    } = wiring;
    tokio::spawn(async move {
        if let Err(e) = mcpproxy_tray::sni::serve(views, actions).await {
            tracing::warn!("{e}; mcpproxy-tray keeps mcpproxy running without an icon");
        }
    });
    tokio::spawn(async move {
        if let Err(e) = mcpproxy_tray::sni::notify(notices).await {
            tracing::warn!("{e}; notifications go to the log only");
        }
    });
}

/// Runs the tray's runner; `surface` is handed what the desktop side needs.
async fn tray(cli: TrayCli, surface: impl FnOnce(Wiring)) -> Result<(), Failure> {
    let place = place(&cli)?;
    let _log = init_logging(&cli, &place)?;
    let settings = settings(&cli, &place);
    tracing::info!(
        data_dir = %place.data_dir.display(),
        config = %place.config_path.display(),
        core = %settings.core.program.display(),
        "mcpproxy-tray starting"
    );
    let first = Model::new(&settings.version, &place.listen, "");
    let (views, views_rx) = watch::channel(View::of(&first, None));
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let (actions, actions_rx) = mpsc::unbounded_channel();
    quit_on_signals(actions.clone())?;
    if cli.print_status {
        print_status(views_rx.clone());
    }
    surface(Wiring {
        views: views_rx,
        actions,
        notices: notices_rx,
    });
    runner::run(
        settings,
        Channels {
            views,
            notices,
            actions: actions_rx,
        },
    )
    .await;
    tracing::info!("mcpproxy-tray stopped");
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("mcpproxy-tray")
        .build()
        .map_err(|e| {
            Failure::new(
                Exit::General,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// On Linux (and without an icon anywhere) the tray runs on the async runtime alone.
fn run_here(cli: TrayCli) -> Result<(), Failure> {
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        if cli.headless {
            tray(cli, headless).await
        } else {
            #[cfg(target_os = "linux")]
            let result = tray(cli, desktop).await;
            #[cfg(not(target_os = "linux"))]
            let result = tray(cli, headless).await;
            result
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

/// On macOS the desktop's event loop must own the main thread: the runner moves to another.
#[cfg(any(target_os = "macos", feature = "native-tray"))]
fn run_native(cli: TrayCli) -> Result<(), Failure> {
    let (wiring_tx, wiring_rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let runtime = runtime()?;
        let result = runtime.block_on(tray(cli, move |w| {
            let _ = wiring_tx.send(w);
        }));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        result
    });
    if let Ok(w) = wiring_rx.recv()
        && let Err(e) = mcpproxy_tray::native::run(w.views, w.actions, w.notices)
    {
        tracing::warn!("{e}; mcpproxy-tray keeps mcpproxy running without an icon");
    }
    runner
        .join()
        .unwrap_or_else(|_| Err(Failure::new(Exit::General, "the tray's runner panicked")))
}

/// Runs `mcpproxy-tray <args>` and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli: TrayCli = match crate::parse(args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    #[cfg(any(target_os = "macos", feature = "native-tray"))]
    let result = if cli.headless {
        run_here(cli)
    } else {
        run_native(cli)
    };
    #[cfg(not(any(target_os = "macos", feature = "native-tray")))]
    let result = run_here(cli);
    match result {
        Ok(()) => Exit::Ok as i32,
        Err(failure) => {
            eprintln!("mcpproxy-tray: {}", failure.message);
            failure.exit as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_entry_repeats_only_the_flags_given() {
        let cli = TrayCli::try_parse_from(["mcpproxy-tray", "-d", "/data", "--headless"]).unwrap();
        assert_eq!(own_args(&cli), ["--data-dir", "/data"]);
    }

    #[test]
    fn the_core_is_looked_for_beside_the_tray() {
        let cli = TrayCli::try_parse_from(["mcpproxy-tray", "--core", "/opt/x/mcpproxy"]).unwrap();
        assert_eq!(core_binary(&cli), std::path::Path::new("/opt/x/mcpproxy"));
    }
}
