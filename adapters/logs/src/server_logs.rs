//! `server-<name>.log`: one rotated file per upstream, written by one background thread so a
//! server that floods stderr never slows the proxy down.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};

use async_trait::async_trait;
use mcpproxy_application::ports::{ServerLogs, StorageError};
use mcpproxy_domain::ServerName;

use crate::rotating::{RotatingFile, Rotation};

/// Lines waiting for the writer; beyond this, lines are dropped and counted.
const QUEUE: usize = 16 * 1024;

enum Message {
    Line(ServerName, String),
    /// Answered once every earlier line is written (used before reading a tail).
    Flush(SyncSender<()>),
}

/// The per-server log files in one directory.
#[derive(Debug)]
pub struct ServerLogFiles {
    dir: PathBuf,
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl ServerLogFiles {
    pub fn new(dir: impl Into<PathBuf>, rotation: Rotation) -> Self {
        let dir = dir.into();
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer_dir = dir.clone();
        let writer_dropped = dropped.clone();
        // The thread ends when the last sender (this value) is dropped.
        let _ = std::thread::Builder::new()
            .name("server-logs".into())
            .spawn(move || write_loop(&writer_dir, rotation, &receiver, &writer_dropped));
        Self {
            dir,
            sender,
            dropped,
        }
    }

    pub fn path_of(&self, server: &ServerName) -> PathBuf {
        file_of(&self.dir, server)
    }
}

/// Waits until the writer wrote every line sent before.
fn flush(sender: &SyncSender<Message>) {
    let (tx, rx) = mpsc::sync_channel(1);
    if sender.send(Message::Flush(tx)).is_ok() {
        let _ = rx.recv();
    }
}

fn file_of(dir: &Path, server: &ServerName) -> PathBuf {
    dir.join(format!("server-{}.log", server.sanitized()))
}

fn write_loop(dir: &Path, rotation: Rotation, rx: &mpsc::Receiver<Message>, dropped: &AtomicU64) {
    let mut files: HashMap<ServerName, RotatingFile> = HashMap::new();
    while let Ok(message) = rx.recv() {
        match message {
            Message::Line(server, line) => {
                let lost = dropped.swap(0, Ordering::Relaxed);
                let file = match files.entry(server.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        match RotatingFile::open(file_of(dir, &server), rotation) {
                            Ok(f) => v.insert(f),
                            Err(e) => {
                                tracing::warn!(%server, error = %e, "cannot open the server log");
                                continue;
                            }
                        }
                    }
                };
                if lost > 0 {
                    let _ = writeln!(
                        file,
                        "[mcpproxy] {lost} log lines were dropped (too many at once)"
                    );
                }
                let _ = writeln!(file, "{line}");
            }
            Message::Flush(done) => {
                for file in files.values_mut() {
                    let _ = file.flush();
                }
                let _ = done.send(());
            }
        }
    }
}

/// The most bytes one tail reads, whatever it asks for: a server that wrote one line of
/// gigabytes, or a caller asking for a million lines, costs at most this much memory.
const TAIL_BUDGET: u64 = 4 << 20;
/// Lines longer than this are cut in a tail (the file keeps them whole).
const MAX_LINE: usize = 8 << 10;

/// The last `budget` bytes of `path` at most, and whether that is the whole file.
fn read_end(path: &Path, budget: u64) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), true)),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(budget);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(budget).read_to_end(&mut bytes)?;
    Ok((bytes, start == 0))
}

/// The lines of `bytes`, the first dropped when it may be the end of a line cut off.
fn lines_of(bytes: &[u8], whole: bool) -> Vec<String> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if !whole && !lines.is_empty() {
        lines.remove(0);
    }
    lines
        .into_iter()
        .map(|l| {
            if l.len() > MAX_LINE {
                let kept = String::from_utf8_lossy(&l[..MAX_LINE]);
                format!("{kept}… [line cut, {} bytes]", l.len())
            } else {
                String::from_utf8_lossy(l).into_owned()
            }
        })
        .collect()
}

/// The last `n` lines of `path` (and of its first backup when the file is short), read
/// within [`TAIL_BUDGET`].
fn tail_file(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let (bytes, whole) = read_end(path, TAIL_BUDGET)?;
    let mut lines = lines_of(&bytes, whole);
    let left = TAIL_BUDGET - bytes.len() as u64;
    if lines.len() < n && whole && left > 0 {
        let mut backup = path.as_os_str().to_owned();
        backup.push(".1");
        let (older, whole) = read_end(Path::new(&backup), left)?;
        let mut older = lines_of(&older, whole);
        older.append(&mut lines);
        lines = older;
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

#[async_trait]
impl ServerLogs for ServerLogFiles {
    fn append(&self, server: &ServerName, line: &str) {
        match self
            .sender
            .try_send(Message::Line(server.clone(), line.to_owned()))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    async fn tail(&self, server: &ServerName, lines: usize) -> Result<Vec<String>, StorageError> {
        let path = self.path_of(server);
        let sender = self.sender.clone();
        // Waiting for the writer blocks: off the runtime's threads.
        tokio::task::spawn_blocking(move || {
            flush(&sender);
            tail_file(&path, lines)
        })
        .await
        .map_err(|e| StorageError(e.to_string()))?
        .map_err(|e| StorageError(format!("cannot read the server log: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_land_in_the_servers_own_file_and_tail_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let logs = ServerLogFiles::new(
            dir.path(),
            Rotation {
                max_bytes: 64,
                max_backups: 2,
                max_age: None,
                compress: false,
            },
        );
        let a = ServerName::parse("my server").unwrap();
        let b = ServerName::parse("b").unwrap();
        for i in 0..10 {
            logs.append(&a, &format!("a line {i}"));
        }
        logs.append(&b, "b line");
        let tail = logs.tail(&a, 4).await.unwrap();
        assert_eq!(tail, ["a line 6", "a line 7", "a line 8", "a line 9"]);
        assert_eq!(logs.tail(&b, 10).await.unwrap(), ["b line"]);
        assert!(dir.path().join("server-my%20server.log").exists());
        assert!(
            dir.path().join("server-my%20server.log.1").exists(),
            "rotated"
        );
        let none = ServerName::parse("never").unwrap();
        assert!(logs.tail(&none, 5).await.unwrap().is_empty());
    }

    #[test]
    fn a_tail_reads_a_bounded_part_of_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server-x.log");
        // One line far over the budget (only its end is read, so it is left out), one over
        // the line limit (cut), one short.
        let mut text = "y".repeat(usize::try_from(TAIL_BUDGET).unwrap() * 2);
        text.push('\n');
        text.push_str(&"z".repeat(MAX_LINE * 3));
        text.push_str("\nshort 2\n");
        fs::write(&path, text).unwrap();
        let tail = tail_file(&path, 1_000_000).unwrap();
        assert_eq!(
            tail.len(),
            2,
            "{:?}",
            tail.iter().map(String::len).collect::<Vec<_>>()
        );
        assert!(tail[0].len() < MAX_LINE + 100 && tail[0].ends_with("bytes]"));
        assert_eq!(tail[1], "short 2");
        assert_eq!(tail_file(&path, 1).unwrap(), ["short 2"]);
    }
}
