//! The unix socket `<data_dir>/mcpproxy.sock`: the same routes as TCP without the API key,
//! for the CLI and the tray. Only the user running the proxy may connect: the file is 0600
//! in a 0700 directory, and every connection's peer credentials are checked.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::serve::Listener;
use tokio::net::{UnixListener, UnixStream};

/// A unix listener that drops connections from other users.
#[derive(Debug)]
pub struct SameUserListener {
    inner: UnixListener,
    uid: u32,
    path: PathBuf,
}

impl SameUserListener {
    /// Binds `path` (replacing a stale socket file) with mode 0600.
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let inner = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            inner,
            uid: nix::unistd::geteuid().as_raw(),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SameUserListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener for SameUserListener {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => match stream.peer_cred() {
                    Ok(cred) if cred.uid() == self.uid => return (stream, addr),
                    Ok(cred) => tracing::warn!(
                        uid = cred.uid(),
                        "refused a socket connection from another user"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a socket connection without credentials")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
