//! Logging: to the console (stderr) and to a size-rotated `main.log`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use mcpproxy_domain::config::LoggingConfig;
use mcpproxy_logs::{RotatingFile, Rotation};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::exit::{Exit, Failure};

/// Keeps the file writer alive; dropping it flushes what is buffered.
#[derive(Debug)]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    pub main_log: Option<PathBuf>,
}

/// What to log where, after flags and config are merged.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub console: bool,
    /// `main.log`'s path, when file logging is on.
    pub file: Option<PathBuf>,
    pub json: bool,
    pub rotation: Rotation,
}

impl LogSettings {
    pub fn new(
        config: &LoggingConfig,
        level: Option<&str>,
        force_file: bool,
        dir: PathBuf,
    ) -> Self {
        let level = level
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| {
                if config.level.is_empty() {
                    "info".to_owned()
                } else {
                    config.level.clone()
                }
            });
        let filename = if config.filename.is_empty() {
            "main.log"
        } else {
            &config.filename
        };
        Self {
            level,
            console: config.enable_console,
            file: (config.enable_file || force_file).then(|| dir.join(filename)),
            json: config.json_format,
            rotation: Rotation::from_config(config.max_size, config.max_backups, config.max_age),
        }
    }
}

static CONSOLE: AtomicBool = AtomicBool::new(false);

/// Whether log lines already reach the console, so failures need not be printed twice.
pub fn console_active() -> bool {
    CONSOLE.load(Ordering::Relaxed)
}

type BoxedLayer =
    Box<dyn Layer<tracing_subscriber::layer::Layered<EnvFilter, Registry>> + Send + Sync>;

/// Installs the global subscriber. `RUST_LOG`, when set, replaces the level with its own
/// directives (for debugging one module).
pub fn init(settings: &LogSettings) -> Result<LogGuard, Failure> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    let mut layers: Vec<BoxedLayer> = Vec::new();
    if settings.console {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false);
        layers.push(if settings.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        });
    }
    let mut guard = None;
    if let Some(path) = &settings.file {
        let file = RotatingFile::open(path, settings.rotation).map_err(|e| {
            Failure::new(
                Exit::Permission,
                format!("cannot write the log file {}: {e}", path.display()),
            )
        })?;
        let (writer, g) = tracing_appender::non_blocking(file);
        guard = Some(g);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false);
        layers.push(if settings.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        });
    }
    // A second initialisation (only in tests that run several proxies in one process) keeps
    // the first subscriber.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .is_ok();
    if installed && settings.console {
        CONSOLE.store(true, Ordering::Relaxed);
    }
    Ok(LogGuard {
        _file: guard,
        main_log: settings.file.clone(),
    })
}
