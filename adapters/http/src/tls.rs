//! HTTPS for the TCP listener: a local certificate authority and a `localhost` certificate it
//! signs, made on first start under the certificates directory and reused after, and the
//! rustls configuration that serves them (with client certificates from the same CA when
//! they are required).
//!
//! The file names and lifetimes are the Go MCPProxy's (`ca.pem`/`ca.key` for ten years,
//! `localhost.pem`/`localhost.key` for one), so a certificates directory made by either proxy
//! serves the other and a CA already trusted stays trusted. Every file is written `0600` in a
//! `0700` directory: the keys never leave this user.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::{HeaderValue, header};
use mcpproxy_domain::tls::{
    CA_CERT_FILE, CA_KEY_FILE, HSTS_VALUE, SERVER_CERT_FILE, SERVER_KEY_FILE,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// The CA's name, as Go's: a user who looks at the trust store sees what it is.
const CA_NAME: &str = "mcpproxy local CA";
const CA_DAYS: i64 = 10 * 365;
const SERVER_DAYS: i64 = 365;
/// A server certificate older than this is made anew at start (before it expires: a proxy
/// that runs for weeks is not caught by an expiry between two starts so easily).
const SERVER_RENEW_AFTER: Duration = Duration::from_secs(330 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {action} {}: {source}; check the permissions of the certificates directory (tls.certs_dir)", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the local certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{} is not a usable PEM file ({reason}); remove the certificates directory to make new ones", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("the TLS configuration is refused: {0}")]
    Config(String),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TlsError + 'a {
    move |source| TlsError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where the local CA and the server certificate are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl CertFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            ca_cert: dir.join(CA_CERT_FILE),
            ca_key: dir.join(CA_KEY_FILE),
            server_cert: dir.join(SERVER_CERT_FILE),
            server_key: dir.join(SERVER_KEY_FILE),
        }
    }
}

/// What [`ensure`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Made {
    pub ca: bool,
    pub server: bool,
}

/// Makes the CA and the server certificate in `dir` when they are missing (the server
/// certificate also when it is due for renewal, or when the CA is new); leaves them as they
/// are otherwise.
pub fn ensure(dir: &Path) -> Result<(CertFiles, Made), TlsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create", dir))?;
    let files = CertFiles::in_dir(dir);
    let mut made = Made::default();
    if !files.ca_cert.exists() || !files.ca_key.exists() {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        write_private(&files.ca_key, key.serialize_pem().as_bytes())?;
        write_private(&files.ca_cert, cert.pem().as_bytes())?;
        made.ca = true;
    }
    let due = fs::metadata(&files.server_cert)
        .and_then(|m| m.modified())
        .map(|at| {
            SystemTime::now()
                .duration_since(at)
                .is_ok_and(|age| age > SERVER_RENEW_AFTER)
        })
        .unwrap_or(true);
    if made.ca || due || !files.server_key.exists() {
        let ca_pem = fs::read_to_string(&files.ca_key).map_err(io("read", &files.ca_key))?;
        let ca_key = KeyPair::from_pem(&ca_pem).map_err(|e| TlsError::Pem {
            path: files.ca_key.clone(),
            reason: e.to_string(),
        })?;
        // The CA is named by its parameters and its key: the same name and key as when it was
        // made, so certificates signed now chain to the `ca.pem` on disk.
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate()?;
        let cert = server_params().signed_by(&key, &issuer)?;
        write_private(&files.server_key, key.serialize_pem().as_bytes())?;
        write_private(&files.server_cert, cert.pem().as_bytes())?;
        made.server = true;
    }
    Ok((files, made))
}

fn named(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn valid_for(params: &mut CertificateParams, days: i64) {
    // An hour back, as Go does: a clock a little behind still accepts a fresh certificate.
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = named(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    valid_for(&mut params, CA_DAYS);
    params
}

fn server_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = named("localhost");
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap_or_else(|_| unreachable!())),
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Client auth too, as Go's: the same certificate identifies a local client when
    // `require_client_cert` is on.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    valid_for(&mut params, SERVER_DAYS);
    params
}

/// Writes `bytes` to `path` readable by this user only, whole or not at all (a temporary
/// file renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("write", &tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io("write", &tmp))?;
    // The mode of create_new is filtered by the umask; 0600 is what is meant.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io("protect", &tmp))?;
    fs::rename(&tmp, path).map_err(io("write", path))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no certificate in it".to_owned()));
    }
    Ok(certs)
}

/// The rustls server configuration of `files`: TLS 1.2 and 1.3, HTTP/1.1 (the listener's
/// protocol), and, when `require_client_cert`, only clients whose certificate the local CA
/// signed.
pub fn server_config(
    files: &CertFiles,
    require_client_cert: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certs(&files.server_cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.server_key).map_err(|e| TlsError::Pem {
        path: files.server_key.clone(),
        reason: e.to_string(),
    })?;
    // Our own provider rather than the process default, which is ambiguous when several
    // crypto back ends are linked.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs(&files.ca_cert)? {
            roots
                .add(ca)
                .map_err(|e| TlsError::Config(format!("{}: {e}", files.ca_cert.display())))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `router` with `Strict-Transport-Security` on every answer.
pub fn with_hsts(router: Router) -> Router {
    router.layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            response.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS_VALUE),
            );
            response
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn certificates_are_made_once_private_and_reused() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("certs");
        let (files, made) = ensure(&dir).unwrap();
        assert_eq!(
            made,
            Made {
                ca: true,
                server: true
            }
        );
        assert_eq!(mode(&dir), 0o700);
        for f in [
            &files.ca_cert,
            &files.ca_key,
            &files.server_cert,
            &files.server_key,
        ] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        let before = fs::read(&files.server_cert).unwrap();
        let (_, again) = ensure(&dir).unwrap();
        assert_eq!(again, Made::default());
        assert_eq!(fs::read(&files.server_cert).unwrap(), before);
        assert!(server_config(&files, true).is_ok());
    }

    #[test]
    fn a_lost_server_certificate_is_signed_again_by_the_same_ca() {
        let home = tempfile::tempdir().unwrap();
        let (files, _) = ensure(home.path()).unwrap();
        let ca = fs::read(&files.ca_cert).unwrap();
        fs::remove_file(&files.server_cert).unwrap();
        let (_, made) = ensure(home.path()).unwrap();
        assert_eq!(
            made,
            Made {
                ca: false,
                server: true
            }
        );
        assert_eq!(fs::read(&files.ca_cert).unwrap(), ca);
        // The new certificate chains to the CA on disk.
        let ca = certs(&files.ca_cert).unwrap().remove(0);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let leaf = certs(&files.server_cert).unwrap().remove(0);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &leaf,
                &[],
                &rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .unwrap();
    }

    #[test]
    fn a_broken_key_file_is_named() {
        let home = tempfile::tempdir().unwrap();
        let (files, _) = ensure(home.path()).unwrap();
        fs::write(&files.server_key, "not a key").unwrap();
        let err = server_config(&files, false).unwrap_err().to_string();
        assert!(err.contains("localhost.key"), "{err}");
    }
}
