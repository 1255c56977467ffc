//! The core's process, when the tray launches it: `mcpproxy serve` in its own process group
//! (a terminal's Ctrl-C reaches the tray, which stops the core in order), its stderr kept
//! for the reason of a failure, its end reported with its exit code.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How the core is started: the binary and the arguments before `--listen`.
#[derive(Debug, Clone)]
pub struct CoreCommand {
    pub program: PathBuf,
    /// `serve`, then the data directory and config the tray uses.
    pub args: Vec<OsString>,
}

/// How many of the core's last stderr lines are kept.
const TAIL: usize = 40;

/// A core this tray launched.
#[derive(Debug)]
pub struct LaunchedCore {
    pub pid: u32,
}

/// How a launched core ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreEnd {
    pub pid: u32,
    pub code: Option<i32>,
    /// The failure it printed last, if any.
    pub message: Option<String>,
}

/// Starts the core; `ended` is called once with how it ended.
pub fn launch(
    command: &CoreCommand,
    listen: Option<&str>,
    ended: impl FnOnce(CoreEnd) + Send + 'static,
) -> std::io::Result<LaunchedCore> {
    let mut cmd = tokio::process::Command::new(&command.program);
    cmd.args(&command.args);
    if let Some(listen) = listen {
        cmd.arg("--listen").arg(listen);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL)));
    let reader = child.stderr.take().map(|stderr| {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(target: "mcpproxy_tray::core", "{line}");
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        })
    });
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(status) => status.code(),
            Err(e) => {
                tracing::warn!("cannot wait for the core (pid {pid}): {e}");
                None
            }
        };
        // Its last words arrive with the end of its stderr.
        if let Some(reader) = reader {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        let lines: Vec<String> = tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        ended(CoreEnd {
            pid,
            code,
            message: failure_message(&lines),
        });
    });
    Ok(LaunchedCore { pid })
}

/// Sends `signal` to the core with `pid`; a core that already ended is no error.
pub fn signal(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    // 0 and 1 would mean "our group" and "init": never a core.
    if raw > 1
        && let Err(e) = nix::sys::signal::kill(Pid::from_raw(raw), signal)
        && e != nix::errno::Errno::ESRCH
    {
        tracing::warn!("cannot send {signal} to the core (pid {pid}): {e}");
    }
}

/// The failure a core printed before it exited: its last `ERROR` log line (plain or JSON), or
/// its last `mcpproxy: …` line (printed when it could not log yet).
pub fn failure_message(lines: &[String]) -> Option<String> {
    lines.iter().rev().find_map(|line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("mcpproxy: ") {
            return Some(rest.to_owned());
        }
        if line.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            if v.get("level")?.as_str()? != "ERROR" {
                return None;
            }
            return Some(v.pointer("/fields/message")?.as_str()?.to_owned());
        }
        let (_, rest) = line.split_once(" ERROR ")?;
        Some(rest.trim().to_owned())
    })
}

/// The first free address after `listen`'s port (up to 50 ports on), on the same host.
pub fn next_free_port(listen: &str) -> Option<String> {
    let (host, port) = listen.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let bind_host = match host {
        "" => "0.0.0.0",
        h => h,
    };
    (port.checked_add(1)?..=port.saturating_add(50)).find_map(|p| {
        std::net::TcpListener::bind((bind_host.trim_matches(['[', ']']), p))
            .ok()
            .map(|_| format!("{host}:{p}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_failure_is_the_last_error_line() {
        let plain = lines(
            "2026-12-02T10:00:00.000Z  INFO mcpproxy listening\n\
             2026-12-02T10:00:00.001Z ERROR cannot listen on 127.0.0.1:8080: Address in use (os error 98); stop it\n",
        );
        assert_eq!(
            failure_message(&plain).as_deref(),
            Some("cannot listen on 127.0.0.1:8080: Address in use (os error 98); stop it")
        );
        let early = lines("mcpproxy: /d/mcp_config.json: tools_limit: must be between 1 and 1000");
        assert_eq!(
            failure_message(&early).as_deref(),
            Some("/d/mcp_config.json: tools_limit: must be between 1 and 1000")
        );
        let json = lines(
            r#"{"timestamp":"x","level":"ERROR","fields":{"message":"cannot listen on :1"}}"#,
        );
        assert_eq!(
            failure_message(&json).as_deref(),
            Some("cannot listen on :1")
        );
        assert_eq!(failure_message(&lines("INFO all good")), None);
    }

    #[test]
    fn the_next_free_port_skips_a_taken_one() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let next = next_free_port(&listen).unwrap();
        let next_port: u16 = next.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(next_port > port, "{next}");
        assert!(next.starts_with("127.0.0.1:"));
        assert_eq!(next_free_port("nonsense"), None);
    }

    #[tokio::test]
    async fn a_launched_process_reports_its_code_and_last_words() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let command = CoreCommand {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "echo 'mcpproxy: the data directory is shared' >&2; exit 5".into(),
            ],
        };
        let core = launch(&command, None, move |end| {
            let _ = tx.send(end);
        })
        .unwrap();
        let end = rx.await.unwrap();
        assert_eq!(end.pid, core.pid);
        assert_eq!(end.code, Some(5));
        assert_eq!(end.message.as_deref(), Some("the data directory is shared"));
    }
}
