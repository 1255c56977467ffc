//! A private PostgreSQL server for the tests (Debian's `postgresql`, installed by
//! `scripts/test.d/50-postgres.sh`): `initdb` in a temp directory, `pg_ctl` on a free port of
//! 127.0.0.1, as the unprivileged user `nobody` when the tests run as root (PostgreSQL refuses
//! to run as root). The server stops when its [`TestPostgres`] is dropped, also when a test
//! panics, and its directory goes with it.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a panic is how a test harness reports
#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running PostgreSQL server; the superuser `postgres` connects without a password.
#[derive(Debug)]
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<String>,
    running: bool,
}

/// Where `initdb` and `pg_ctl` are: on the PATH, else Debian's versioned directory.
fn bin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Debian links only some programs onto the PATH: use the real directory.
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                return real.parent().unwrap().to_owned();
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|d| d.join("initdb").is_file());
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().expect(
        "PostgreSQL's initdb is not installed: run scripts/test (as root it installs Debian's \
         postgresql through scripts/test.d/50-postgres.sh) or `apt-get install postgresql`",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestPostgres {
    /// Creates a cluster and starts its server.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("mcpproxy-pg-")
            .tempdir()
            .unwrap();
        let run_as = nix::unistd::geteuid()
            .is_root()
            .then(|| "nobody".to_owned());
        if let Some(user) = &run_as {
            let user = nix::unistd::User::from_name(user)
                .unwrap()
                .expect("user nobody");
            std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
        }
        let mut pg = Self {
            dir,
            bin,
            port: 0,
            run_as,
            running: false,
        };
        let data = pg.data_dir();
        pg.run_ok(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.start_server();
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of PostgreSQL's programs as the server's user.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Starts the server (again) on a free port; a port taken in between is retried.
    pub fn start_server(&mut self) {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let mut last = None;
        for _ in 0..3 {
            let port = if self.port == 0 {
                free_port()
            } else {
                self.port
            };
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
                 -c fsync=off -c max_connections=200",
                self.dir.path().display()
            );
            let out = self.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-o",
                    &options,
                    "start",
                ],
            );
            if out.status.success() {
                self.port = port;
                self.running = true;
                return;
            }
            last = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            self.port = 0;
        }
        panic!(
            "PostgreSQL did not start: {}\n{}",
            last.unwrap_or_default(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast: open connections are cut); [`TestPostgres::start_server`]
    /// brings it back on the same port with the same data.
    pub fn stop_server(&mut self) {
        if self.running {
            let data = self.data_dir();
            self.run_ok(
                "pg_ctl",
                &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
            );
            self.running = false;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server, as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run_ok(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name],
        );
        self.url(name)
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            // Immediate: nothing to keep, and a test that failed may hold connections.
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
