//! Sandbox mode: a stdio server on the host, confined. Under bubblewrap (`bwrap`) the system
//! is read-only, `/tmp` private, the homes, `/run` and the proxy's data hidden, the network
//! cut unless allowed, and the server alone in a new PID namespace. Where `bwrap` is missing
//! or cannot run, Landlock does the same for files and TCP through our re-exec helper
//! (`mcpproxy __sandbox_exec`, [`super::landlock`]), with resource limits. Where neither
//! exists, the server does not start.
//!
//! In both, the server gets a private home of its own (kept between runs, so package caches
//! survive) and sees only the paths it is given: its `working_dir` and `isolation.volumes`,
//! plus the directory of its program when that lies in a hidden place.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use mcpproxy_domain::isolation::Volume;

/// The system, readable (and executable) in the sandbox; what does not exist is skipped.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix",
    "/proc", "/sys",
];
/// Devices a program may need; nothing else of `/dev` (no terminal, no disks).
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];
/// Never shown, even inside a granted directory.
pub const SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh",
    "/etc/sudoers",
    "/etc/sudoers.d",
];
/// Hidden under bubblewrap (an empty tmpfs each): the homes, runtime sockets (Docker's,
/// D-Bus's), shared temporary directories.
const HIDDEN_DIRS: &[&str] = &["/home", "/root", "/run", "/tmp", "/var/tmp", "/var/run"];

/// The kernel's Landlock, as far as we use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landlock {
    /// The ABI version (1 = Linux 5.13).
    pub abi: u8,
}

impl Landlock {
    /// Landlock can refuse TCP bind and connect from ABI 4 (Linux 6.7).
    pub fn blocks_tcp(self) -> bool {
        self.abi >= 4
    }
}

/// What confines a sandboxed server on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Bubblewrap(PathBuf),
    Landlock(Landlock),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bubblewrap(_) => "bubblewrap",
            Self::Landlock(_) => "landlock",
        }
    }
}

/// What the machine offers, for choosing a backend and for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub bwrap: Option<PathBuf>,
    /// Why the `bwrap` found cannot run a sandbox here (user namespaces off, …).
    pub bwrap_error: Option<String>,
    pub landlock: Option<Landlock>,
    /// Why Landlock is not available.
    pub landlock_error: Option<String>,
}

impl Facts {
    /// The backend for a server that needs (`network == false`) its network cut, or why
    /// there is none.
    pub fn backend(&self, network: bool) -> Result<Backend, String> {
        if let (Some(bwrap), None) = (&self.bwrap, &self.bwrap_error) {
            return Ok(Backend::Bubblewrap(bwrap.clone()));
        }
        let bwrap_why = match (&self.bwrap, &self.bwrap_error) {
            (None, _) => "bubblewrap (bwrap) was not found on PATH".to_owned(),
            (Some(path), Some(e)) => format!("{} cannot run a sandbox here: {e}", path.display()),
            (Some(_), None) => String::new(),
        };
        match self.landlock {
            Some(ll) if network || ll.blocks_tcp() => Ok(Backend::Landlock(ll)),
            Some(ll) => Err(format!(
                "{bwrap_why}, and this kernel's Landlock (ABI {}) cannot cut the network (that needs ABI 4, Linux 6.7)",
                ll.abi
            )),
            None => Err(format!(
                "{bwrap_why}, and Landlock is not available ({})",
                self.landlock_error
                    .as_deref()
                    .unwrap_or("the kernel does not offer it")
            )),
        }
    }
}

/// How to fix a missing sandbox.
pub const FIX: &str = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap) or run on Linux 5.13+ with Landlock enabled; or use isolation.mode \"docker\", or \"none\" for servers you trust";

/// Whether `bwrap` can build a sandbox here (it needs user namespaces unless run as root),
/// asked once per program path.
#[derive(Debug, Default)]
pub struct BwrapCheck {
    known: Mutex<BTreeMap<PathBuf, Option<String>>>,
}

impl BwrapCheck {
    /// `None` when `bwrap` works; else why not.
    pub async fn error(&self, bwrap: &Path) -> Option<String> {
        if let Some(known) = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(bwrap)
        {
            return known.clone();
        }
        // bwrap runs itself (`--version`) inside the kind of sandbox we build.
        let run = tokio::process::Command::new(bwrap)
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
            .args(["--unshare-pid", "--unshare-net", "--die-with-parent", "--"])
            .arg(bwrap)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let error = match tokio::time::timeout(Duration::from_secs(5), run).await {
            Err(_) => Some("it did not finish within 5 s".to_owned()),
            Ok(Err(e)) => Some(e.to_string()),
            Ok(Ok(out)) if out.status.success() => None,
            Ok(Ok(out)) => Some(
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("it failed")
                    .trim()
                    .to_owned(),
            ),
        };
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bwrap.to_owned(), error.clone());
        error
    }
}

/// What one sandboxed run may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub working_dir: Option<PathBuf>,
    pub network: bool,
    pub volumes: Vec<Volume>,
    /// The server's private home (`HOME` inside), kept between runs.
    pub home: PathBuf,
    /// The server's private temporary directory (Landlock only; bubblewrap mounts a tmpfs).
    pub tmp: PathBuf,
    /// The user's home on the host, hidden.
    pub user_home: Option<PathBuf>,
    /// The proxy's data directory (config, database, tokens), hidden.
    pub data_dir: PathBuf,
}

fn is_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

impl Plan {
    /// The directory (read-only) a program needs from a place the sandbox hides: its
    /// installation prefix (`…/bin/x` → `…`), else its directory; never a home or `/`
    /// itself (then only the file).
    pub fn program_grant(&self) -> Option<PathBuf> {
        let visible = SYSTEM_DIRS
            .iter()
            .filter(|d| !matches!(**d, "/proc" | "/sys"))
            .any(|d| is_within(&self.program, Path::new(d)));
        if visible {
            return None;
        }
        let dir = self.program.parent()?;
        let prefix = match dir.file_name() {
            Some(name) if name == "bin" => dir.parent().unwrap_or(dir),
            _ => dir,
        };
        let too_wide = prefix == Path::new("/")
            || HIDDEN_DIRS.iter().any(|h| prefix == Path::new(h))
            || self
                .user_home
                .as_deref()
                .is_some_and(|home| is_within(home, prefix))
            || is_within(&self.data_dir, prefix);
        Some(if too_wide {
            self.program.clone()
        } else {
            prefix.to_owned()
        })
    }

    /// Host paths the server is given: (path, writable).
    fn given(&self) -> Vec<(PathBuf, PathBuf, bool)> {
        let mut given: Vec<(PathBuf, PathBuf, bool)> = self
            .volumes
            .iter()
            .map(|v| {
                (
                    v.source.clone().into(),
                    v.target.clone().into(),
                    !v.read_only,
                )
            })
            .collect();
        if let Some(dir) = &self.working_dir {
            given.push((dir.clone(), dir.clone(), true));
        }
        given
    }

    /// The environment inside: `HOME` and the temporary directory are the private ones, and
    /// the runtime directory (sockets of the user's session) is gone.
    pub fn env(
        &self,
        mut env: BTreeMap<String, String>,
        bubblewrap: bool,
    ) -> BTreeMap<String, String> {
        let tmp = if bubblewrap {
            "/tmp".to_owned()
        } else {
            self.tmp.display().to_string()
        };
        env.insert("HOME".into(), self.home.display().to_string());
        for var in ["TMPDIR", "TMP", "TEMP"] {
            env.insert(var.into(), tmp.clone());
        }
        env.remove("XDG_RUNTIME_DIR");
        env.remove("DBUS_SESSION_BUS_ADDRESS");
        env
    }

    /// `bwrap …` arguments that run the program.
    pub fn bwrap_args(&self) -> Vec<OsString> {
        let mut a = Args::default();
        a.flags(&["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
        // Hidden places first (the outermost of them, and only real directories: a symlink
        // such as `/var/run` → `/run` is hidden through its target); what is given is
        // mounted on top of them afterwards.
        let mut hidden: Vec<PathBuf> = HIDDEN_DIRS.iter().map(PathBuf::from).collect();
        hidden.extend(self.user_home.clone());
        hidden.push(self.data_dir.clone());
        hidden.retain(|h| h.symlink_metadata().is_ok_and(|m| m.is_dir()));
        for dir in &hidden {
            if !hidden.iter().any(|o| o != dir && is_within(dir, o)) {
                a.op("--tmpfs", &[dir]);
            }
        }
        if let Some(grant) = self.program_grant() {
            a.op("--ro-bind", &[&grant, &grant]);
        }
        let given = self.given();
        for (source, target, writable) in &given {
            a.op(
                if *writable { "--bind" } else { "--ro-bind" },
                &[source, target],
            );
        }
        // A given path may contain the data directory: hide it again where it shows.
        for (source, target, _) in &given {
            if let Ok(inside) = self.data_dir.strip_prefix(source) {
                a.op("--tmpfs", &[&target.join(inside)]);
            }
        }
        for secret in SECRETS {
            let path = Path::new(secret);
            match path.symlink_metadata() {
                Ok(m) if m.is_dir() => a.op("--tmpfs", &[path]),
                Ok(_) => a.op("--ro-bind", &[Path::new("/dev/null"), path]),
                Err(_) => {}
            }
        }
        a.op("--bind", &[&self.home, &self.home]);
        if self.network {
            // DNS: resolv.conf often points into the hidden /run.
            if let Ok(resolv) = std::fs::canonicalize("/etc/resolv.conf")
                && !is_within(&resolv, Path::new("/etc"))
            {
                a.op("--ro-bind", &[&resolv, &resolv]);
            }
        }
        if let Some(dir) = &self.working_dir {
            a.op("--chdir", &[dir]);
        }
        a.flags(&[
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "mcpproxy-sandbox",
            "--die-with-parent",
            "--new-session",
        ]);
        if !self.network {
            a.flags(&["--unshare-net"]);
        }
        a.flags(&["--"]);
        a.op("", &[&self.program]);
        a.0.extend(self.args.iter().map(OsString::from));
        a.0
    }

    /// The paths Landlock lets the server read (`--ro`) and write (`--rw`), with the data
    /// directory and the secrets cut out of any that contains them.
    pub fn landlock_paths(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut excluded: Vec<PathBuf> = SECRETS.iter().map(PathBuf::from).collect();
        excluded.push(self.data_dir.clone());
        let mut ro: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
        ro.extend(self.program_grant());
        let mut rw: Vec<PathBuf> = DEVICES.iter().map(PathBuf::from).collect();
        // Landlock confines in place: a volume is seen at its own path (see `check`).
        for (source, _, writable) in self.given() {
            if writable {
                rw.push(source);
            } else {
                ro.push(source);
            }
        }
        let split = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
            paths
                .into_iter()
                .filter(|p| p.exists())
                .flat_map(|p| without(&p, &excluded))
                .collect()
        };
        let ro = split(ro);
        let mut rw = split(rw);
        // Granted explicitly, though inside the data directory.
        rw.push(self.home.clone());
        rw.push(self.tmp.clone());
        (ro, rw)
    }

    /// `__sandbox_exec` arguments: the grants, the network switch, then the program.
    pub fn landlock_args(&self) -> Vec<OsString> {
        let (ro, rw) = self.landlock_paths();
        let mut a: Vec<OsString> = vec!["__sandbox_exec".into()];
        for p in ro {
            a.push("--ro".into());
            a.push(p.into());
        }
        for p in rw {
            a.push("--rw".into());
            a.push(p.into());
        }
        if !self.network {
            a.push("--no-network".into());
        }
        a.push("--".into());
        a.push(self.program.clone().into());
        a.extend(self.args.iter().map(OsString::from));
        a
    }

    /// Volumes must be host paths in a sandbox, and Landlock cannot show a path elsewhere.
    pub fn check(&self, backend: &Backend) -> Result<(), String> {
        for v in &self.volumes {
            if !v.is_host_path() {
                return Err(format!(
                    "isolation.volumes: {:?} is a named Docker volume; a sandbox takes host paths",
                    v.source
                ));
            }
            if matches!(backend, Backend::Landlock(_)) && v.source != v.target {
                return Err(format!(
                    "isolation.volumes: Landlock cannot show {} at {}; give the same path twice or install bubblewrap",
                    v.source, v.target
                ));
            }
            if !Path::new(&v.source).exists() {
                return Err(format!("isolation.volumes: {} does not exist", v.source));
            }
        }
        Ok(())
    }
}

/// A command line being built.
#[derive(Debug, Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flags(&mut self, items: &[&str]) {
        self.0.extend(items.iter().map(OsString::from));
    }

    /// `op` (when not empty) followed by paths.
    fn op(&mut self, op: &str, paths: &[&Path]) {
        if !op.is_empty() {
            self.0.push(op.into());
        }
        self.0
            .extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    }
}

/// `path`, or — when it contains excluded paths — its parts that do not, recursively.
fn without(path: &Path, excluded: &[PathBuf]) -> Vec<PathBuf> {
    if excluded.iter().any(|e| is_within(path, e)) {
        return Vec::new();
    }
    if !excluded.iter().any(|e| is_within(e, path)) {
        return vec![path.to_owned()];
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let mut parts: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .flat_map(|e| without(&e.path(), excluded))
        .collect();
    parts.sort();
    parts
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;
