//! A real Secret Service for the keyring tests: a private D-Bus session bus and
//! `gnome-keyring-daemon` on it, its login keyring created and unlocked with a password the
//! test gives. Nothing of the machine's own session is touched; both processes stop when the
//! handle drops. `scripts/test.d/40-keyring.sh` installs the Debian packages.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{PATIENCE, fixture_bin};

/// The command and arguments of a stdio fixture server `name` that starts only when
/// `$FIXTURE_TOKEN` is `secret`: it compares hashes, so the value itself is nowhere in the
/// config, and a server that runs proves the proxy handed it the right value.
pub fn guarded_fixture(name: &str, secret: &str) -> (String, Vec<String>) {
    let out = Command::new("sh")
        .args([
            "-c",
            "printf %s \"$1\" | sha256sum | cut -c1-64",
            "sh",
            secret,
        ])
        .output()
        .unwrap();
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let script = format!(
        "[ \"$(printf %s \"$FIXTURE_TOKEN\" | sha256sum | cut -c1-64)\" = {digest} ] || {{ echo 'FIXTURE_TOKEN is wrong' >&2; exit 1; }}; exec {} --name {name}",
        fixture_bin().display()
    );
    ("sh".to_owned(), vec!["-c".to_owned(), script])
}

/// A session bus with an unlocked GNOME Keyring on it.
#[derive(Debug)]
pub struct SecretService {
    bus: Child,
    keyring: Child,
    /// `DBUS_SESSION_BUS_ADDRESS` of the private bus.
    pub address: String,
    _dir: tempfile::TempDir,
}

fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl SecretService {
    /// Starts the bus and the keyring and waits until the keyring answers on the bus.
    pub async fn start() -> SecretService {
        for tool in ["dbus-daemon", "gnome-keyring-daemon", "dbus-send"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{tool} is missing: scripts/test installs it (Debian: dbus-daemon, dbus-bin, gnome-keyring)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let socket = dir.path().join("bus");
        let mut bus = Command::new("dbus-daemon")
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                &format!("--address=unix:path={}", socket.display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {line:?}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            // The password creates and unlocks the login keyring; EOF ends it.
            let mut stdin = keyring.stdin.take().unwrap();
            stdin.write_all(b"mcpproxy-test-password").unwrap();
        }
        let service = SecretService {
            bus,
            keyring,
            address,
            _dir: dir,
        };
        service.wait_for_name().await;
        service
    }

    /// Waits until `org.freedesktop.secrets` is owned on the bus (by our daemon, before the
    /// bus could start a locked one on demand).
    async fn wait_for_name(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not take org.freedesktop.secrets"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Points `cmd` at this bus.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address);
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        stop(&mut self.keyring);
        stop(&mut self.bus);
    }
}
