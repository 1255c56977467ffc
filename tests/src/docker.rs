//! Docker for the isolation tests: the daemon `scripts/test` provides (or one a test starts
//! for itself), the fixture server's image built with `docker import` from a root filesystem
//! holding the fixture binary and the libraries it links (nothing is pulled), and the
//! containers a proxy instance owns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::PATIENCE;

/// A Docker client bound to one daemon (`DOCKER_HOST`, or the environment's).
#[derive(Debug, Clone)]
pub struct Docker {
    pub host: Option<String>,
}

impl Docker {
    /// The daemon `scripts/test` made available (`DOCKER_HOST` or the default socket).
    pub fn from_env() -> Self {
        Self {
            host: std::env::var("DOCKER_HOST").ok(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(args);
        if let Some(host) = &self.host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd
    }

    /// Runs `docker args…`; stdout, or the failure with stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    pub fn answers(&self) -> bool {
        self.run(&["version", "--format", "{{.Server.Version}}"])
            .is_ok()
    }

    /// Fails the test with what to do when no daemon answers.
    pub fn require(&self) {
        assert!(
            self.answers(),
            "no Docker daemon answers at {}: run scripts/test (it installs docker.io and starts a private dockerd) or set DOCKER_HOST",
            self.host.as_deref().unwrap_or("the default socket")
        );
    }

    /// Every container (running or not) labelled as the proxy instance `instance`'s.
    pub fn owned_by(&self, instance: &str) -> Vec<String> {
        self.run(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.mcpproxy.instance={instance}"),
        ])
        .unwrap_or_else(|e| panic!("docker ps failed: {e}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }

    /// `docker inspect` of one container.
    pub fn inspect(&self, id: &str) -> Value {
        let text = self
            .run(&["inspect", id])
            .unwrap_or_else(|e| panic!("docker inspect {id}: {e}"));
        serde_json::from_str::<Value>(&text).unwrap()[0].clone()
    }

    /// Waits until `instance` owns exactly `count` containers; returns their ids.
    pub async fn wait_owned(&self, instance: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ids = self.owned_by(instance);
            if ids.len() == count {
                return ids;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} containers of instance {instance}, found {ids:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Imports the fixture image into this daemon (once per tag).
    pub fn import_fixture(&self, rootfs: &Path, tag: &str) {
        if self.run(&["image", "inspect", tag]).is_ok() {
            return;
        }
        let mut tar = Command::new("tar")
            .args(["-C"])
            .arg(rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let import = self
            .command(&["import", "-", tag])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(tar.wait().unwrap().success());
        assert!(
            import.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&import.stderr)
        );
    }
}

/// The fixture image: its tag, and the root filesystem it was made from.
#[derive(Debug)]
pub struct FixtureImage {
    pub tag: String,
    pub rootfs: PathBuf,
    _dir: tempfile::TempDir,
}

/// A root filesystem with the fixture server at `/usr/local/bin/mcp-fixture` and the
/// libraries `ldd` says it links.
fn fixture_rootfs(dir: &Path) {
    let bin = crate::fixture_bin();
    let target = dir.join("usr/local/bin");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(bin, target.join("mcp-fixture")).unwrap();
    for sub in ["tmp", "etc", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    assert!(ldd.status.success(), "ldd {}", bin.display());
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let lib = Path::new(lib);
        let inside = dir.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        // Copies the file behind the link, under the name the loader asks for.
        std::fs::copy(lib, &inside).unwrap();
    }
}

/// The fixture image, built once per test run and imported into the shared daemon. The
/// tag follows the binary, so a rebuilt fixture gets a new image.
pub async fn fixture_image() -> &'static FixtureImage {
    static IMAGE: OnceCell<FixtureImage> = OnceCell::const_new();
    IMAGE
        .get_or_init(|| async {
            let docker = Docker::from_env();
            docker.require();
            let meta = std::fs::metadata(crate::fixture_bin()).unwrap();
            let stamp = meta
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let tag = format!("mcpproxy-test-fixture:{stamp}-{}", meta.len());
            let dir = tempfile::tempdir().unwrap();
            let rootfs = dir.path().join("rootfs");
            fixture_rootfs(&rootfs);
            let (rootfs2, tag2) = (rootfs.clone(), tag.clone());
            tokio::task::spawn_blocking(move || docker.import_fixture(&rootfs2, &tag2))
                .await
                .unwrap();
            FixtureImage {
                tag,
                rootfs,
                _dir: dir,
            }
        })
        .await
}

/// A Docker daemon of one test's own (it stops and starts it), with its state in a
/// temporary directory; no bridge and no iptables, so it cannot disturb the shared one.
/// Needs root. Stopped when dropped.
#[derive(Debug)]
pub struct PrivateDaemon {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    pub docker: Docker,
}

impl PrivateDaemon {
    pub async fn start() -> Self {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "this test starts and stops a Docker daemon of its own, which needs root (CI runs as root)"
        );
        let dir = tempfile::Builder::new()
            .prefix("mcpproxy-dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let docker = Docker {
            host: Some(format!("unix://{}/docker.sock", dir.path().display())),
        };
        let mut daemon = Self {
            dir,
            child: None,
            docker,
        };
        daemon.resume().await;
        daemon
    }

    /// Starts the daemon (again) and waits until it answers.
    pub async fn resume(&mut self) {
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(self.docker.host.as_deref().unwrap())
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while !self.docker.answers() {
            assert!(
                Instant::now() < deadline,
                "the private dockerd did not answer: {}",
                std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the daemon (SIGTERM) and waits until it is gone.
    pub async fn pause(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::signal_pid(child.id(), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + PATIENCE;
            while child.try_wait().unwrap().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "the private dockerd did not stop"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                #[allow(clippy::disallowed_methods)] // a drop has no runtime to wait on
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
