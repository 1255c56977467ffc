//! Logging: to the console (stderr) and to a size-rotated `main.log`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use mcpproxy_domain::config::LoggingConfig;
use mcpproxy_logs::{RotatingFile, Rotation};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::MakeWriter;
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
            rotation: Rotation::from_config(config.max_size, config.max_backups, config.max_age)
                .compressed(config.compress),
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

/// The filter directives of a log level. The level applies to mcpproxy's own code, which
/// logs requests by their shape and size only; the libraries under it stay at `info` at
/// most, and the MCP library at `error`, because at their debug level (and the MCP library
/// even at `info` and `warn`) they print whole messages: tool arguments, headers, secrets,
/// a client's megabyte-long method name.
fn directives(level: &str) -> String {
    match level {
        "debug" | "trace" => format!("info,rmcp=error,mcpproxy={level}"),
        "warn" | "error" => format!("{level},rmcp=error"),
        _ => "info,rmcp=error".to_owned(),
    }
}

/// The longest log line written. Whatever a message holds (a library quoting a client's
/// megabyte-long method name), its line is cut here and says how long it was.
const MAX_LINE: usize = 8 * 1024;

/// A writer whose lines are cut at [`MAX_LINE`].
#[derive(Debug, Clone)]
struct Capped<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Capped<M> {
    type Writer = CappedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        CappedWriter(self.0.make_writer())
    }
}

#[derive(Debug)]
struct CappedWriter<W>(W);

impl<W: Write> Write for CappedWriter<W> {
    /// The formatter hands over one whole event at a time.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() <= MAX_LINE {
            self.0.write_all(buf)?;
        } else {
            let mut end = MAX_LINE;
            // Not inside a UTF-8 character.
            while end > 0 && (buf[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            self.0.write_all(&buf[..end])?;
            writeln!(self.0, "… [log line cut, {} bytes]", buf.len())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces the level with its own
/// directives: a developer's switch for one module, which can print whole messages.
pub fn init(settings: &LogSettings) -> Result<LogGuard, Failure> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(directives(&settings.level)));
    let mut layers: Vec<BoxedLayer> = Vec::new();
    if settings.console {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(Capped(std::io::stderr))
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
            .with_writer(Capped(writer))
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

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn libraries_never_log_below_info_and_rmcp_below_error() {
        for level in ["trace", "debug", "info"] {
            let d = directives(level);
            assert!(d.starts_with("info,rmcp=error"), "{level}: {d}");
        }
        assert_eq!(directives("debug"), "info,rmcp=error,mcpproxy=debug");
        assert_eq!(directives("warn"), "warn,rmcp=error");
    }

    #[test]
    fn long_lines_are_cut_and_say_so() {
        use std::io::Write;
        let mut out = super::CappedWriter(Vec::new());
        let line = format!("{}\n", "é".repeat(1_000_000));
        out.write_all(line.as_bytes()).unwrap();
        let written = String::from_utf8(out.0).unwrap();
        assert!(written.len() < super::MAX_LINE + 64, "{}", written.len());
        assert!(written.ends_with("[log line cut, 2000001 bytes]\n"));
        let mut out = super::CappedWriter(Vec::new());
        out.write_all(b"short\n").unwrap();
        assert_eq!(out.0, b"short\n");
    }
}
