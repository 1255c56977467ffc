//! Isolation of stdio servers: the global `docker_isolation` block and each server's
//! `isolation`, in the Go MCPProxy's keys, and the pure rule that decides what a server runs
//! in — on the host, in a Docker container, or in a sandbox.
//!
//! Every field is optional and written back only when it was read, so a config shared with
//! the Go proxy keeps its exact shape; defaults (the Go proxy's) are applied when resolving.
//! The mode follows the Go precedence: the server's `mode`, else its legacy `enabled`, else
//! the global `mode`, else the global legacy `enabled`, else no isolation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Config, ServerConfig, Transport, ValidationError};
use crate::duration::GoDuration;

pub const DEFAULT_MEMORY_LIMIT: &str = "512m";
pub const DEFAULT_CPU_LIMIT: &str = "1.0";
pub const DEFAULT_NETWORK_MODE: &str = "bridge";
pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_START_TIMEOUT: GoDuration = GoDuration::from_secs(30);
pub const DEFAULT_LOG_MAX_SIZE: &str = "100m";
pub const DEFAULT_LOG_MAX_FILES: &str = "3";
/// The image of a command whose runtime is not known.
pub const FALLBACK_IMAGE: &str = "alpine:3.18";

const PYTHON_IMAGE: &str = "ghcr.io/astral-sh/uv:python3.13-bookworm-slim";

/// The Go proxy's runtime → image table; `default_images` in the config adds to it.
pub const DEFAULT_IMAGES: &[(&str, &str)] = &[
    ("python", PYTHON_IMAGE),
    ("python3", PYTHON_IMAGE),
    ("uvx", PYTHON_IMAGE),
    ("pip", PYTHON_IMAGE),
    ("pipx", PYTHON_IMAGE),
    ("node", "node:22"),
    ("npm", "node:22"),
    ("npx", "node:22"),
    ("yarn", "node:22"),
    ("go", "golang:1.21-alpine"),
    ("cargo", "rust:1.75-slim"),
    ("rustc", "rust:1.75-slim"),
    ("binary", FALLBACK_IMAGE),
    ("sh", FALLBACK_IMAGE),
    ("bash", FALLBACK_IMAGE),
    ("ruby", "ruby:3.2-alpine"),
    ("gem", "ruby:3.2-alpine"),
    ("php", "php:8.2-cli-alpine"),
    ("composer", "php:8.2-cli-alpine"),
];

/// How a stdio server is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IsolationMode {
    /// On the host, with the user's rights.
    None,
    /// In a Docker container (`docker run --rm -i`).
    Docker,
    /// In a sandbox on the host: bubblewrap, or Landlock where bubblewrap is missing.
    Sandbox,
}

impl IsolationMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "none" => Some(Self::None),
            "docker" => Some(Self::Docker),
            "sandbox" => Some(Self::Sandbox),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Docker => "docker",
            Self::Sandbox => "sandbox",
        }
    }
}

/// `docker_isolation`: the defaults of every stdio server (the name stays for compatibility;
/// its `mode` selects any of the three modes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerIsolationConfig {
    /// Legacy switch: `true` means `mode: docker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Package caches in named volumes (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_cache_volume: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_images: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    /// How long a container may take to start (added to nothing: the larger of this and
    /// `init_timeout` bounds the handshake).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_max_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_max_files: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `mcpServers[].isolation`: this server's exceptions to `docker_isolation`. `volumes`,
/// `memory_limit` and `cpu_limit` are ours (the Go proxy has no per-server form of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IsolationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
    /// The working directory inside the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `SOURCE:TARGET[:ro]`, as `docker run -v` takes them; in a sandbox, the paths the
    /// server may use besides its `working_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_max_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_max_files: Option<String>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: Map<String, Value>,
}

/// A path given to an isolated server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// A host path, or (Docker only) the name of a volume.
    pub source: String,
    /// Where the server sees it.
    pub target: String,
    pub read_only: bool,
}

impl Volume {
    /// `SOURCE:TARGET[:ro|:rw]`, or just `PATH` (the same path inside).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [path] => (*path, *path, false),
            [source, target] => (*source, *target, false),
            [source, target, "ro"] => (*source, *target, true),
            [source, target, "rw"] => (*source, *target, false),
            _ => {
                return Err(format!(
                    "{spec:?} is not SOURCE:TARGET, SOURCE:TARGET:ro or SOURCE:TARGET:rw"
                ));
            }
        };
        if !target.starts_with('/') {
            return Err(format!(
                "{spec:?}: the target {target:?} must be an absolute path"
            ));
        }
        if source.is_empty() {
            return Err(format!("{spec:?}: the source is empty"));
        }
        Ok(Self {
            source: source.to_owned(),
            target: target.to_owned(),
            read_only,
        })
    }

    /// A host path rather than a named Docker volume.
    pub fn is_host_path(&self) -> bool {
        self.source.starts_with('/')
    }

    /// The `-v` argument of `docker run`.
    pub fn docker_arg(&self) -> String {
        let mode = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{mode}", self.source, self.target)
    }
}

/// How a server runs in a Docker container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRun {
    pub image: String,
    /// The runtime found from the command (`npx`, `uvx`, …, or `binary`).
    pub runtime: String,
    pub network_mode: String,
    pub memory_limit: String,
    pub cpu_limit: String,
    /// Global extra arguments, then the server's.
    pub extra_args: Vec<String>,
    /// The working directory inside the container, when set.
    pub workdir: Option<String>,
    pub volumes: Vec<Volume>,
    /// A named volume for the runtime's package cache, and where it is mounted.
    pub cache_volume: Option<(String, String)>,
    pub log_driver: Option<String>,
    pub log_max_size: Option<String>,
    pub log_max_files: Option<String>,
    pub start_timeout: GoDuration,
}

/// How a server runs in a sandbox on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRun {
    /// Network access: only `network_mode: host` allows it.
    pub network: bool,
    pub volumes: Vec<Volume>,
}

/// What a stdio server runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// On the host, unconfined.
    None,
    /// The server's own command is `docker …`: it is a container already and is not wrapped
    /// again.
    OwnContainer,
    Docker(Box<DockerRun>),
    Sandbox(SandboxRun),
}

impl Isolation {
    pub fn mode(&self) -> IsolationMode {
        match self {
            Self::None => IsolationMode::None,
            Self::OwnContainer | Self::Docker(_) => IsolationMode::Docker,
            Self::Sandbox(_) => IsolationMode::Sandbox,
        }
    }

    /// The server runs in a container (wrapped or its own).
    pub fn in_container(&self) -> bool {
        matches!(self, Self::OwnContainer | Self::Docker(_))
    }

    /// How it is shown to people and in the API.
    pub fn view(&self) -> IsolationView {
        let mut view = IsolationView {
            mode: self.mode(),
            image: None,
            network_mode: None,
            memory_limit: None,
            cpu_limit: None,
            own_container: false,
        };
        match self {
            Self::None => {}
            Self::OwnContainer => view.own_container = true,
            Self::Docker(d) => {
                view.image = Some(d.image.clone());
                view.network_mode = Some(d.network_mode.clone());
                view.memory_limit = Some(d.memory_limit.clone());
                view.cpu_limit = Some(d.cpu_limit.clone());
            }
            Self::Sandbox(s) => {
                view.network_mode = Some(if s.network { "host" } else { "none" }.to_owned());
            }
        }
        view
    }
}

/// A server's isolation as the API and the command line show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IsolationView {
    pub mode: IsolationMode,
    /// Docker: the image the server runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Docker: the container's network; sandbox: `none` or `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    /// The server's own command runs Docker; the proxy does not wrap it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_container: bool,
}

impl IsolationView {
    /// One word or two for a table: `none`, `docker node:22`, `docker (own)`, `sandbox`.
    pub fn summary(&self) -> String {
        match (self.mode, &self.image) {
            (IsolationMode::Docker, _) if self.own_container => "docker (own)".to_owned(),
            (IsolationMode::Docker, Some(image)) => format!("docker {image}"),
            (mode, _) => mode.as_str().to_owned(),
        }
    }
}

/// The program's file name without directories or a Windows extension, lower-cased.
fn command_base(command: &str) -> String {
    let base = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let base = base
        .strip_suffix(".exe")
        .or_else(|| base.strip_suffix(".cmd"))
        .unwrap_or(base);
    base.to_ascii_lowercase()
}

/// The command runs Docker (or Podman) itself.
pub fn is_container_command(command: &str) -> bool {
    matches!(command_base(command).as_str(), "docker" | "podman")
}

/// The Go proxy's package caches: a named volume per runtime family and its mount point.
fn cache_volume(runtime: &str) -> Option<(String, String)> {
    let (name, path) = match runtime {
        "uvx" | "pip" | "pipx" | "python" | "python3" => ("mcpproxy-uv-cache", "/root/.cache/uv"),
        "npm" | "npx" | "yarn" | "node" => ("mcpproxy-npm-cache", "/root/.npm"),
        "go" => ("mcpproxy-go-cache", "/go/pkg/mod"),
        _ => return None,
    };
    Some((name.to_owned(), path.to_owned()))
}

/// An image name with a registry of its own (`ghcr.io/x`, `localhost:5000/x`).
fn has_registry(image: &str) -> bool {
    image.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

impl DockerIsolationConfig {
    /// The global mode: `mode`, else the legacy `enabled`.
    pub fn mode(&self) -> Option<IsolationMode> {
        non_empty(self.mode.as_ref())
            .and_then(IsolationMode::parse)
            .or(match self.enabled {
                Some(true) => Some(IsolationMode::Docker),
                _ => None,
            })
    }

    /// The runtime → image table in force: the Go defaults with the config's entries on top.
    pub fn images(&self) -> BTreeMap<String, String> {
        let mut images: BTreeMap<String, String> = DEFAULT_IMAGES
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(own) = &self.default_images {
            images.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        images
    }
}

impl Config {
    /// What `server` runs in. Remote servers run nowhere of ours: `None`.
    pub fn isolation(&self, server: &ServerConfig) -> Isolation {
        if server.transport() != Ok(Transport::Stdio) {
            return Isolation::None;
        }
        let global = self.docker_isolation.clone().unwrap_or_default();
        let own = server.isolation.clone().unwrap_or_default();
        let mode = non_empty(own.mode.as_ref())
            .and_then(IsolationMode::parse)
            .or(match own.enabled {
                Some(true) => Some(IsolationMode::Docker),
                Some(false) => Some(IsolationMode::None),
                None => None,
            })
            .or_else(|| global.mode())
            .unwrap_or(IsolationMode::None);
        let volumes: Vec<Volume> = own
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| Volume::parse(v).ok())
            .collect();
        match mode {
            IsolationMode::None => Isolation::None,
            _ if is_container_command(&server.command) => Isolation::OwnContainer,
            IsolationMode::Sandbox => Isolation::Sandbox(SandboxRun {
                network: non_empty(own.network_mode.as_ref())
                    .or(non_empty(global.network_mode.as_ref()))
                    == Some("host"),
                volumes,
            }),
            IsolationMode::Docker => {
                let images = global.images();
                let base = command_base(&server.command);
                let runtime = if images.contains_key(&base) {
                    base
                } else {
                    "binary".to_owned()
                };
                let image = match non_empty(own.image.as_ref()) {
                    Some(image) => image.to_owned(),
                    None => {
                        let image = images
                            .get(&runtime)
                            .cloned()
                            .unwrap_or_else(|| FALLBACK_IMAGE.to_owned());
                        match non_empty(global.registry.as_ref()) {
                            Some(registry)
                                if registry != DEFAULT_REGISTRY && !has_registry(&image) =>
                            {
                                format!("{}/{image}", registry.trim_end_matches('/'))
                            }
                            _ => image,
                        }
                    }
                };
                let pick = |server: Option<&String>, global: Option<&String>, default: &str| {
                    non_empty(server)
                        .or(non_empty(global))
                        .unwrap_or(default)
                        .to_owned()
                };
                let optional = |server: Option<&String>, global: Option<&String>| {
                    non_empty(server).or(non_empty(global)).map(str::to_owned)
                };
                Isolation::Docker(Box::new(DockerRun {
                    network_mode: pick(
                        own.network_mode.as_ref(),
                        global.network_mode.as_ref(),
                        DEFAULT_NETWORK_MODE,
                    ),
                    memory_limit: pick(
                        own.memory_limit.as_ref(),
                        global.memory_limit.as_ref(),
                        DEFAULT_MEMORY_LIMIT,
                    ),
                    cpu_limit: pick(
                        own.cpu_limit.as_ref(),
                        global.cpu_limit.as_ref(),
                        DEFAULT_CPU_LIMIT,
                    ),
                    extra_args: global
                        .extra_args
                        .iter()
                        .flatten()
                        .chain(own.extra_args.iter().flatten())
                        .cloned()
                        .collect(),
                    workdir: non_empty(own.working_dir.as_ref()).map(str::to_owned),
                    volumes,
                    cache_volume: if global.enable_cache_volume.unwrap_or(true) {
                        cache_volume(&runtime)
                    } else {
                        None
                    },
                    log_driver: optional(own.log_driver.as_ref(), global.log_driver.as_ref()),
                    log_max_size: Some(pick(
                        own.log_max_size.as_ref(),
                        global.log_max_size.as_ref(),
                        DEFAULT_LOG_MAX_SIZE,
                    )),
                    log_max_files: Some(pick(
                        own.log_max_files.as_ref(),
                        global.log_max_files.as_ref(),
                        DEFAULT_LOG_MAX_FILES,
                    )),
                    start_timeout: global
                        .timeout
                        .filter(|t| t.is_positive())
                        .unwrap_or(DEFAULT_START_TIMEOUT),
                    image,
                    runtime,
                }))
            }
        }
    }
}

/// `512m`, `1g`, `1048576`: what `docker run --memory` takes.
fn is_memory_size(value: &str) -> bool {
    let digits = value.trim_end_matches(|c: char| "bkmgBKMG".contains(c));
    value.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_cpu_count(value: &str) -> bool {
    value.parse::<f64>().is_ok_and(|c| c > 0.0 && c.is_finite())
}

fn check_mode(errors: &mut Vec<ValidationError>, field: String, mode: Option<&String>) {
    if let Some(mode) = non_empty(mode)
        && IsolationMode::parse(mode).is_none()
    {
        errors.push(ValidationError::new(
            field,
            format!("invalid isolation mode {mode:?}; use docker, sandbox or none"),
        ));
    }
}

fn check_limits(
    errors: &mut Vec<ValidationError>,
    prefix: &str,
    memory: Option<&String>,
    cpu: Option<&String>,
) {
    if let Some(m) = non_empty(memory)
        && !is_memory_size(m)
    {
        errors.push(ValidationError::new(
            format!("{prefix}.memory_limit"),
            format!("{m:?} is not a size; use a number with b, k, m or g, like \"512m\""),
        ));
    }
    if let Some(c) = non_empty(cpu)
        && !is_cpu_count(c)
    {
        errors.push(ValidationError::new(
            format!("{prefix}.cpu_limit"),
            format!("{c:?} is not a positive number of CPUs, like \"1.0\""),
        ));
    }
}

/// The problems of `docker_isolation`.
pub fn validate_global(config: &DockerIsolationConfig) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    check_mode(
        &mut errors,
        "docker_isolation.mode".to_owned(),
        config.mode.as_ref(),
    );
    check_limits(
        &mut errors,
        "docker_isolation",
        config.memory_limit.as_ref(),
        config.cpu_limit.as_ref(),
    );
    errors
}

/// The problems of one server's `isolation`; `prefix` is `mcpServers[2].isolation`.
pub fn validate_server(config: &IsolationConfig, prefix: &str) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    check_mode(&mut errors, format!("{prefix}.mode"), config.mode.as_ref());
    check_limits(
        &mut errors,
        prefix,
        config.memory_limit.as_ref(),
        config.cpu_limit.as_ref(),
    );
    for (i, volume) in config.volumes.iter().flatten().enumerate() {
        if let Err(e) = Volume::parse(volume) {
            errors.push(ValidationError::new(format!("{prefix}.volumes[{i}]"), e));
        }
    }
    if let Some(dir) = non_empty(config.working_dir.as_ref())
        && !dir.starts_with('/')
    {
        errors.push(ValidationError::new(
            format!("{prefix}.working_dir"),
            format!("{dir:?} must be an absolute path inside the container"),
        ));
    }
    errors
}

#[cfg(test)]
#[path = "isolation_tests.rs"]
mod tests;
