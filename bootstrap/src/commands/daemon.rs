//! Finding the running proxy and talking to its REST API: the unix socket first (no key),
//! then TCP at the address in the data directory's lock file, with the API key.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use mcpproxy_application::connect::reachable;

use crate::exit::{Exit, Failure};
use crate::locate::Located;
use crate::lock;

/// How long the first question to a daemon may take before it counts as not answering.
const PROBE: Duration = Duration::from_secs(2);

/// How the command line reaches the daemon.
#[derive(Debug, Clone)]
pub enum Via {
    Socket(PathBuf),
    Tcp(String),
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(base) => f.write_str(base),
        }
    }
}

/// A running mcpproxy.
#[derive(Debug, Clone)]
pub struct Daemon {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    pub via: Via,
}

impl Daemon {
    fn over_socket(path: PathBuf) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .unix_socket(path.as_path())
            .build()?;
        Ok(Self {
            http,
            // The host is not used on a socket, but HTTP needs one.
            base: "http://localhost".to_owned(),
            key: None,
            via: Via::Socket(path),
        })
    }

    fn over_tcp(listen: &str, key: &str, located: &Located) -> Result<Self, String> {
        let tls = located.tls();
        let scheme = if tls.enabled { "https" } else { "http" };
        let base = format!("{scheme}://{}", reachable(listen));
        let mut builder = reqwest::Client::builder();
        if tls.enabled {
            // Over HTTPS the proxy shows the certificate of its local CA: trust that CA (and
            // only it), and present the local certificate when it asks for a client's.
            let files = mcpproxy_http::tls::CertFiles::in_dir(&located.certs_dir());
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            };
            let ca = reqwest::Certificate::from_pem(&read(&files.ca_cert)?)
                .map_err(|e| format!("{}: {e}", files.ca_cert.display()))?;
            builder = builder.tls_certs_only([ca]);
            if tls.require_client_cert {
                let mut pem = read(&files.server_cert)?;
                pem.extend(read(&files.server_key)?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("{}: {e}", files.server_cert.display()))?;
                builder = builder.identity(identity);
            }
        }
        Ok(Self {
            http: builder.build().map_err(|e| e.to_string())?,
            base: base.clone(),
            key: (!key.is_empty()).then(|| key.to_owned()),
            via: Via::Tcp(base),
        })
    }

    async fn answers(&self) -> Result<(), String> {
        let request = self.request(Method::GET, "/api/v1/status").timeout(PROBE);
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => Err(
                "it refused the API key; set MCPPROXY_API_KEY or the config's api_key to the daemon's key"
                    .to_owned(),
            ),
            Ok(r) => Err(format!("it answered {}", r.status())),
            Err(e) if e.is_timeout() => Err(format!("it did not answer within {PROBE:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The daemon of `located`'s data directory, if one runs; `None` when none does. A daemon
    /// that holds the directory but does not answer is exit 3.
    pub async fn find(located: &Located) -> Result<Option<Self>, Failure> {
        let socket = located.socket_path();
        let mut tried = Vec::new();
        if socket.exists() {
            match Self::over_socket(socket.clone()) {
                Ok(daemon) => match daemon.answers().await {
                    Ok(()) => return Ok(Some(daemon)),
                    Err(e) => tried.push(format!("{}: {e}", daemon.via)),
                },
                Err(e) => tried.push(format!("unix://{}: {e}", socket.display())),
            }
        }
        let Some(holder) = lock::holder(&located.data_dir) else {
            return Ok(None);
        };
        let listen = holder
            .listen
            .clone()
            .filter(|l| l != "cli")
            .unwrap_or_else(|| located.listen());
        if holder.listen.as_deref() != Some("cli") {
            match Self::over_tcp(&listen, located.api_key(), located) {
                Ok(daemon) => match daemon.answers().await {
                    Ok(()) => return Ok(Some(daemon)),
                    Err(e) => tried.push(format!("{}: {e}", daemon.via)),
                },
                Err(e) => tried.push(e),
            }
        } else {
            tried.push("another mcpproxy command is changing its files".to_owned());
        }
        Err(Failure::new(
            Exit::Locked,
            format!(
                "an mcpproxy ({holder}) holds the data directory {} but cannot be reached ({}); \
                 wait for it, or stop it and try again",
                located.data_dir.display(),
                tried.join("; ")
            ),
        ))
    }

    /// A request to `path` (from the root, like `/api/v1/servers`), with the key on TCP.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-MCPProxy-Source", "cli");
        match &self.key {
            Some(key) => builder.header("X-API-Key", key),
            None => builder,
        }
    }

    /// Sends a request to `/api/v1<path>` and returns the HTTP status and the JSON body as
    /// they are.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Refusal> {
        let mut request = self.request(method, &format!("/api/v1{path}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        let body = serde_json::from_str(&text).map_err(|_| Refusal {
            status: Some(status),
            code: None,
            message: format!(
                "the daemon answered {status} with something else than JSON: {}",
                text.trim()
            ),
        })?;
        Ok((status, body))
    }

    /// Sends a request to `/api/v1<path>` and returns the envelope's `data`, or the
    /// daemon's refusal with its HTTP status.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let (status, envelope) = self.send(method, path, body).await?;
        if envelope["success"] == true {
            return Ok(envelope["data"].clone());
        }
        Err(Refusal {
            status: Some(status),
            code: envelope["code"].as_str().map(str::to_owned),
            message: envelope["error"]
                .as_str()
                .unwrap_or("the daemon refused without a reason")
                .to_owned(),
        })
    }

    /// Posts to `/api/v1<path>` and returns the status and the body as they are, for a
    /// route with its own envelope (`/code/exec`).
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<(u16, Value), Refusal> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Result<Value, Refusal> {
        self.call(Method::GET, path, None).await
    }

    /// The same daemon, asked with another API key from now on (after the key was reset).
    pub fn with_key(mut self, key: &str) -> Self {
        if self.key.is_some() {
            self.key = Some(key.to_owned());
        }
        self
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Refusal> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub fn unreachable(&self, e: &reqwest::Error) -> Refusal {
        Refusal {
            status: None,
            code: None,
            message: format!("lost the connection to the daemon at {}: {e}", self.via),
        }
    }
}

/// Why the daemon did not do what was asked: its answer's status (none when it could not be
/// reached), its reason, and the reason code of a rule or gate that refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: Option<u16>,
    pub message: String,
    pub code: Option<String>,
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        let message = match &r.code {
            Some(code) => format!("{} [{code}]", r.message),
            None => r.message,
        };
        Failure::new(Exit::General, message)
    }
}

/// The refusal of a command that needs the daemon when none runs.
pub fn needed(what: &str) -> Failure {
    Failure::new(
        Exit::General,
        format!(
            "{what} needs a running mcpproxy, and none runs for this data directory; start it with `mcpproxy serve`"
        ),
    )
}
