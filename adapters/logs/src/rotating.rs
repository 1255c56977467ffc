//! A file that rotates itself by size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// When and how far back to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes after which the file is rotated; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated files kept (`main.log.1` … `main.log.N`).
    pub max_backups: u32,
    /// Rotated files older than this are deleted; `None` keeps them.
    pub max_age: Option<Duration>,
    /// Rotated files are gzip-compressed (`main.log.1.gz`), as `logging.compress` asks.
    pub compress: bool,
}

impl Rotation {
    /// From the config's units: megabytes, a count, days.
    pub fn from_config(max_size_mb: i64, max_backups: i64, max_age_days: i64) -> Self {
        Self {
            max_bytes: u64::try_from(max_size_mb).unwrap_or(0) * 1024 * 1024,
            max_backups: u32::try_from(max_backups).unwrap_or(0),
            max_age: u64::try_from(max_age_days)
                .ok()
                .filter(|d| *d > 0)
                .map(|d| Duration::from_secs(d * 86_400)),
            compress: false,
        }
    }

    /// The same, with rotated files gzip-compressed or not (`logging.compress`).
    #[must_use]
    pub fn compressed(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }
}

/// An append-only file that moves itself to `<name>.1` when it grows past `max_bytes`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl RotatingFile {
    /// Opens (creating it and its directory, mode 0700) the log file at `path`.
    pub fn open(path: impl Into<PathBuf>, rotation: Rotation) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            size,
            rotation,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backup(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Backup `n` as it is kept: compressed or not (a change of `compress` leaves the older
    /// files as they were, and they rotate on under their own names).
    fn backups(&self, n: u32) -> [PathBuf; 2] {
        let plain = self.backup(n);
        let mut gz = plain.clone().into_os_string();
        gz.push(".gz");
        [plain, PathBuf::from(gz)]
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.rotation.max_backups == 0 {
            // Nothing to keep: start the file over.
            self.file = File::create(&self.path)?;
        } else {
            for oldest in self.backups(self.rotation.max_backups) {
                let _ = fs::remove_file(oldest);
            }
            for n in (1..self.rotation.max_backups).rev() {
                for (from, to) in self.backups(n).into_iter().zip(self.backups(n + 1)) {
                    if from.exists() {
                        fs::rename(&from, to)?;
                    }
                }
            }
            let [first, first_gz] = self.backups(1);
            fs::rename(&self.path, &first)?;
            self.file = open_append(&self.path)?;
            if self.rotation.compress {
                // Here rather than on a thread: the next rotation renames these files, and
                // it waits for no one. A rotation is rare (every `max_size` MB); a fast
                // level keeps the pause short.
                gzip(&first, &first_gz)?;
            }
        }
        self.size = 0;
        if let Some(max_age) = self.rotation.max_age {
            let now = SystemTime::now();
            for p in (1..=self.rotation.max_backups).flat_map(|n| self.backups(n)) {
                let old = fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > max_age);
                if old {
                    let _ = fs::remove_file(p);
                }
            }
        }
        Ok(())
    }
}

/// `from` gzip-compressed into `to` (readable by this user only), then `from` removed.
fn gzip(from: &Path, to: &Path) -> io::Result<()> {
    let mut tmp = to.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    io::copy(&mut File::open(from)?, &mut encoder)?;
    encoder.finish()?.sync_all()?;
    fs::rename(&tmp, to)?;
    fs::remove_file(from)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.rotation.max_bytes > 0
            && self.size > 0
            && self.size + buf.len() as u64 > self.rotation.max_bytes
        {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(max_bytes: u64, max_backups: u32) -> Rotation {
        Rotation {
            max_bytes,
            max_backups,
            max_age: None,
            compress: false,
        }
    }

    #[test]
    fn rotated_files_are_gzipped_when_asked() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.log");
        let mut f = RotatingFile::open(&path, rotation(10, 2).compressed(true)).unwrap();
        for line in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let gunzip = |name: &str| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(File::open(dir.path().join(name)).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            text
        };
        assert_eq!(fs::read_to_string(&path).unwrap(), "dddddddd\n");
        assert_eq!(gunzip("main.log.1.gz"), "cccccccc\n");
        assert_eq!(gunzip("main.log.2.gz"), "bbbbbbbb\n");
        assert!(
            !dir.path().join("main.log.1").exists(),
            "no plain copy is left"
        );
        assert!(!dir.path().join("main.log.3.gz").exists());
    }

    #[test]
    fn rotates_by_size_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/main.log");
        let mut f = RotatingFile::open(&path, rotation(10, 2)).unwrap();
        for line in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let read = |p: &Path| fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "dddddddd\n");
        assert_eq!(read(&dir.path().join("logs/main.log.1")), "cccccccc\n");
        assert_eq!(read(&dir.path().join("logs/main.log.2")), "bbbbbbbb\n");
        assert!(!dir.path().join("logs/main.log.3").exists());
    }

    #[test]
    fn reopening_continues_the_size_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server-x.log");
        RotatingFile::open(&path, rotation(10, 1))
            .unwrap()
            .write_all(b"12345678\n")
            .unwrap();
        let mut f = RotatingFile::open(&path, rotation(10, 1)).unwrap();
        f.write_all(b"abc\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "abc\n");
        assert_eq!(
            fs::read_to_string(dir.path().join("server-x.log.1")).unwrap(),
            "12345678\n"
        );
    }

    #[test]
    fn zero_backups_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = RotatingFile::open(&path, rotation(4, 0)).unwrap();
        f.write_all(b"1234").unwrap();
        f.write_all(b"56").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "56");
    }

    #[test]
    fn config_units() {
        let r = Rotation::from_config(10, 5, 30);
        assert_eq!(r.max_bytes, 10 * 1024 * 1024);
        assert_eq!(r.max_backups, 5);
        assert_eq!(r.max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(Rotation::from_config(0, 0, 0).max_age, None);
    }

    #[test]
    fn default_dir_follows_xdg() {
        let home = Path::new("/home/u");
        assert_eq!(
            crate::default_log_dir(home, None),
            PathBuf::from("/home/u/.local/state/mcpproxy/logs")
        );
        assert_eq!(
            crate::default_log_dir(home, Some("/st")),
            PathBuf::from("/st/mcpproxy/logs")
        );
    }
}
