//! The config files of other AI clients — Claude Desktop, Claude Code, Cursor, VS Code,
//! Windsurf, Codex CLI and Gemini CLI — at the paths their documentation gives on Linux,
//! macOS and Windows: their servers read for import, and the proxy's entry written into
//! them (or removed) for `connect`.
//!
//! An edit changes only the proxy's entry: the rest of the file keeps its content and, as
//! far as the format allows, its form ([`docs`]); the file is backed up and replaced
//! atomically ([`files`]); a file that does not parse is refused with its line and left as
//! it is.
#![forbid(unsafe_code)]

mod catalog;
mod docs;
mod files;
mod import;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mcpproxy_application::ports::{
    ClientChange, ClientConfigs, ClientError, ClientStatus, ForeignConfig, ForeignConfigPath,
    ImportSource, ProxyEndpoint,
};

pub use catalog::Machine;
use catalog::{CLIENTS, Client, Format};
use docs::{JsonDoc, ServersDoc, TomlDoc};

/// The clients of one home directory.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    machine: Machine,
}

impl ClientFiles {
    pub fn new(machine: Machine) -> Self {
        Self { machine }
    }

    /// This user's clients: `HOME`, the OS this runs on, `APPDATA` on Windows.
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from)
            .unwrap_or_default();
        Self::new(Machine {
            home,
            os: std::env::consts::OS.to_owned(),
            appdata: std::env::var_os("APPDATA").map(PathBuf::from),
        })
    }

    fn client(&self, id: &str) -> Result<(&'static Client, PathBuf), ClientError> {
        let client = catalog::find(id).ok_or_else(|| ClientError::UnknownClient(id.to_owned()))?;
        let path = self
            .machine
            .path(id)
            .ok_or_else(|| ClientError::UnknownClient(id.to_owned()))?;
        Ok((client, path))
    }

    fn summary(client: &Client, path: &Path) -> ClientStatus {
        ClientStatus {
            id: client.id.to_owned(),
            name: client.name.to_owned(),
            format: client.format.as_str().to_owned(),
            config_path: path.display().to_string(),
            exists: path.exists(),
            connected: false,
            error: None,
            note: client.note.map(str::to_owned),
        }
    }
}

/// A client's servers document, read from `text`.
fn open(
    client: &Client,
    path: &Path,
    text: &str,
) -> Result<Box<dyn ServersDoc + Send>, ClientError> {
    Ok(match client.format {
        Format::Json => Box::new(JsonDoc::parse(path, text, client.servers_key)?),
        Format::Toml => Box::new(TomlDoc::parse(path, text, client.servers_key)?),
    })
}

fn change(
    client: &Client,
    path: &Path,
    name: &str,
    action: &str,
    backup: Option<PathBuf>,
    message: String,
) -> ClientChange {
    ClientChange {
        client: client.id.to_owned(),
        config_path: path.display().to_string(),
        server_name: name.to_owned(),
        action: action.to_owned(),
        backup_path: backup.map(|b| b.display().to_string()),
        message,
    }
}

/// Writes `doc` over `path`, backing up what was there.
fn write(path: &Path, existed: bool, doc: &dyn ServersDoc) -> Result<Option<PathBuf>, ClientError> {
    let backup = existed.then(|| files::backup(path)).transpose()?;
    files::replace(path, &doc.render())?;
    Ok(backup)
}

/// File work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ClientError::Io {
            path: String::new(),
            reason: e.to_string(),
        })?
}

fn connect_file(
    client: &'static Client,
    path: &Path,
    name: &str,
    endpoint: &ProxyEndpoint,
    force: bool,
) -> Result<ClientChange, ClientError> {
    let text = files::read(path)?;
    let existed = text.is_some();
    let mut doc = open(client, path, text.as_deref().unwrap_or_default())?;
    let wanted = catalog::entry(client, endpoint);
    let action = match doc.entry(name) {
        Some(current) if current == wanted => {
            return Ok(change(
                client,
                path,
                name,
                "already_connected",
                None,
                format!(
                    "{} is already connected to mcpproxy as {name:?}",
                    client.name
                ),
            ));
        }
        // Ours, with another key or shape: brought up to date.
        Some(current) if catalog::points_at(&current, &endpoint.url) => "updated",
        Some(_) if !force => {
            return Err(ClientError::AlreadyExists {
                client: client.name.to_owned(),
                name: name.to_owned(),
                path: path.display().to_string(),
            });
        }
        _ => "connected",
    };
    doc.set(name, &wanted);
    let backup = write(path, existed, doc.as_ref())?;
    Ok(change(
        client,
        path,
        name,
        action,
        backup,
        format!(
            "mcpproxy registered in {} as {name:?}; restart {} to use it",
            client.name, client.name
        ),
    ))
}

fn disconnect_file(
    client: &'static Client,
    path: &Path,
    name: &str,
) -> Result<ClientChange, ClientError> {
    let not_connected = |why: String| Ok(change(client, path, name, "not_connected", None, why));
    let Some(text) = files::read(path)? else {
        return not_connected(format!(
            "{} has no config at {}",
            client.name,
            path.display()
        ));
    };
    let mut doc = open(client, path, &text)?;
    if !doc.remove(name) {
        return not_connected(format!("{} has no entry named {name:?}", client.name));
    }
    let backup = write(path, true, doc.as_ref())?;
    Ok(change(
        client,
        path,
        name,
        "disconnected",
        backup,
        format!("mcpproxy entry {name:?} removed from {}", client.name),
    ))
}

#[async_trait]
impl ClientConfigs for ClientFiles {
    fn clients(&self) -> Vec<ClientStatus> {
        CLIENTS
            .iter()
            .filter_map(|c| Some(Self::summary(c, &self.machine.path(c.id)?)))
            .collect()
    }

    async fn status(&self, client: &str, name: &str) -> Result<ClientStatus, ClientError> {
        let (client, path) = self.client(client)?;
        let name = name.to_owned();
        blocking(move || {
            let mut status = Self::summary(client, &path);
            if let Some(text) = files::read(&path)? {
                let doc = open(client, &path, &text)?;
                status.connected = doc.entry(&name).is_some();
            }
            Ok(status)
        })
        .await
    }

    async fn connect(
        &self,
        client: &str,
        name: &str,
        endpoint: &ProxyEndpoint,
        force: bool,
    ) -> Result<ClientChange, ClientError> {
        let (client, path) = self.client(client)?;
        let (name, endpoint) = (name.to_owned(), endpoint.clone());
        blocking(move || connect_file(client, &path, &name, &endpoint, force)).await
    }

    async fn disconnect(&self, client: &str, name: &str) -> Result<ClientChange, ClientError> {
        let (client, path) = self.client(client)?;
        let name = name.to_owned();
        blocking(move || disconnect_file(client, &path, &name)).await
    }

    fn import_paths(&self) -> Vec<ForeignConfigPath> {
        import::FORMATS
            .iter()
            .filter_map(|(format, name)| {
                let path = self.machine.path(format)?;
                Some(ForeignConfigPath {
                    name: (*name).to_owned(),
                    format: (*format).to_owned(),
                    exists: path.exists(),
                    path: path.display().to_string(),
                    description: catalog::import_description(format).to_owned(),
                })
            })
            .collect()
    }

    async fn read_servers(
        &self,
        source: &ImportSource,
        format: Option<String>,
    ) -> Result<ForeignConfig, ClientError> {
        let source = source.clone();
        blocking(move || {
            let (path, text) = match source {
                ImportSource::Path(path) => {
                    let text = files::read(&path)?
                        .ok_or_else(|| files::io_error(&path, "no such file"))?;
                    (path, text)
                }
                ImportSource::Content { text, file_name } => (
                    PathBuf::from(file_name.unwrap_or_else(|| "the content".to_owned())),
                    text,
                ),
            };
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            import::parse(&path, &text, &file_name, format.as_deref())
        })
        .await
    }
}
