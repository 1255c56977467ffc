//! `mcpproxy trust-cert`: the local CA that signs the HTTPS certificate (made here when it is
//! missing, as `serve` would), printed with its path so a client can be told to trust it;
//! with `--install` (or Go's `--force`) copied into the system trust store the Debian way
//! (`/usr/local/share/ca-certificates` + `update-ca-certificates`), which needs root.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::Context;
use crate::exit::{Exit, Failure};
use crate::paths::ensure_private_dir;

/// Where Debian and its derivatives take local CAs from.
const SYSTEM_CA_DIR: &str = "/usr/local/share/ca-certificates";
/// The name the CA gets there (Go's: one proxy's install replaces the other's).
const SYSTEM_CA_NAME: &str = "mcpproxy-ca.crt";

#[derive(Debug, Clone, Args)]
pub struct TrustCertArgs {
    /// Also install the CA into the system trust store (needs root)
    #[arg(long)]
    pub install: bool,
    /// As in the Go proxy: install without asking (the same as --install; nothing asks here)
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Context, args: &TrustCertArgs) -> Result<(), Failure> {
    let located = &ctx.located;
    let certs_dir = located.certs_dir();
    // The certificates usually live in the data directory, which is kept private.
    if certs_dir.starts_with(&located.data_dir) {
        ensure_private_dir(&located.data_dir)?;
    }
    let (files, made) = mcpproxy_http::tls::ensure(&certs_dir)
        .map_err(|e| Failure::new(Exit::General, e.to_string()))?;
    let pem = std::fs::read_to_string(&files.ca_cert).map_err(|e| {
        Failure::new(
            Exit::General,
            format!("cannot read {}: {e}", files.ca_cert.display()),
        )
    })?;
    let installed = if args.install || args.force {
        Some(install(
            &files.ca_cert,
            &located.data_dir,
            nix::unistd::geteuid().is_root(),
        )?)
    } else {
        None
    };
    let data = json!({
        "ca_cert": files.ca_cert.display().to_string(),
        "created": made.ca,
        "tls_enabled": located.tls().enabled,
        "installed": installed.as_ref().map(|p| p.display().to_string()),
        "pem": pem,
    });
    ctx.show(&data, |_| {
        if made.ca {
            println!("Made a new local CA.");
        }
        println!("CA certificate: {}", files.ca_cert.display());
        println!();
        print!("{pem}");
        println!();
        match &installed {
            Some(path) => println!(
                "Installed into the system trust store as {} (update-ca-certificates ran).",
                path.display()
            ),
            None => println!(
                "To trust it system-wide (Debian/Ubuntu): sudo mcpproxy trust-cert --install -d {}",
                located.data_dir.display()
            ),
        }
        println!(
            "Node clients (Claude Desktop via mcp-remote): NODE_EXTRA_CA_CERTS={}",
            files.ca_cert.display()
        );
        if !located.tls().enabled {
            println!(
                "HTTPS is off: set \"tls\": {{\"enabled\": true}} in the config (or MCPPROXY_TLS_ENABLED=true) and restart."
            );
        }
    });
    Ok(())
}

/// Copies the CA into the system store and has the system rebuild its bundle.
fn install(ca: &Path, data_dir: &Path, is_root: bool) -> Result<PathBuf, Failure> {
    if !is_root {
        return Err(Failure::new(
            Exit::Permission,
            format!(
                "installing the CA into the system trust store needs root; run \
                 `sudo mcpproxy trust-cert --install -d {}`, or copy {} to {SYSTEM_CA_DIR}/{SYSTEM_CA_NAME} \
                 as root and run update-ca-certificates",
                data_dir.display(),
                ca.display()
            ),
        ));
    }
    let dir = Path::new(SYSTEM_CA_DIR);
    if !dir.is_dir() {
        return Err(Failure::new(
            Exit::General,
            format!(
                "{SYSTEM_CA_DIR} does not exist: this is not a Debian-style system; add {} to \
                 the system's trust store with its own tool",
                ca.display()
            ),
        ));
    }
    let target = dir.join(SYSTEM_CA_NAME);
    std::fs::copy(ca, &target)
        .and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            // A CA certificate is public; the store's files are world-readable.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
        })
        .map_err(|e| {
            Failure::new(
                Exit::Permission,
                format!("cannot write {}: {e}", target.display()),
            )
        })?;
    let status = std::process::Command::new("update-ca-certificates")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            Failure::new(
                Exit::General,
                format!(
                    "copied the CA to {} but cannot run update-ca-certificates ({e}); install \
                     the ca-certificates package and run it",
                    target.display()
                ),
            )
        })?;
    if !status.success() {
        return Err(Failure::new(
            Exit::General,
            format!(
                "copied the CA to {} but update-ca-certificates failed ({status})",
                target.display()
            ),
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_without_root_says_how_to_do_it() {
        let failure = install(Path::new("/d/certs/ca.pem"), Path::new("/d"), false).unwrap_err();
        assert_eq!(failure.exit, Exit::Permission);
        for words in [
            "needs root",
            "sudo mcpproxy trust-cert --install -d /d",
            "/usr/local/share/ca-certificates/mcpproxy-ca.crt",
            "update-ca-certificates",
        ] {
            assert!(
                failure.message.contains(words),
                "{words}: {}",
                failure.message
            );
        }
    }
}
