//! From a registry entry to a server entry that runs: the launch command of a package
//! (`runtimeHint` + runtime arguments + the package at its version + package arguments, its
//! environment variables) or, for a server with no package, the URL and headers of its
//! remote. A package is preferred over a remote: it runs without anyone else's endpoint.
//!
//! Inputs the entry declares (environment variables, headers, argument values, URL
//! variables) come from what the caller supplies, else the entry's value or default; a
//! required input that has none stops the derivation with the names of everything missing,
//! so no half-configured server is ever added.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::ServerConfig;
use crate::name::{NameError, ServerName};
use crate::registry::{Argument, Input, Package, RegistryServer, Remote, RequiredInput};

/// Why no server entry could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    #[error(
        "{0} offers no package mcpproxy can run (npm, pypi, oci, nuget over stdio) and no remote endpoint; add it by hand with `mcpproxy upstream add`"
    )]
    NotRunnable(String),
    #[error("{server} needs {}: supply them (env_json / --env NAME=VALUE / \"env\"); a reference such as ${{env:NAME}} or ${{keyring:NAME}} keeps the secret out of the config", names(.missing))]
    MissingInputs {
        server: String,
        missing: Vec<RequiredInput>,
    },
    #[error("cannot name the server: {0}")]
    Name(#[from] NameError),
}

fn names(inputs: &[RequiredInput]) -> String {
    inputs
        .iter()
        .map(|i| format!("{} ({})", i.name, i.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DeriveError {
    /// The stable code the Go proxy gives this refusal on every surface.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotRunnable(_) => "not_runnable",
            Self::MissingInputs { .. } => "missing_required_input",
            Self::Name(_) => "invalid_name",
        }
    }
}

/// What the caller adds to an entry: a name, input values, enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeriveRequest {
    pub name: Option<String>,
    /// Values of environment variables, headers, argument value hints and URL variables,
    /// by name.
    pub inputs: BTreeMap<String, String>,
    pub enabled: Option<bool>,
    /// The registry the entry came from, recorded on the server entry.
    pub registry: String,
}

/// A runnable server entry, and the optional inputs left unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub config: ServerConfig,
    pub unset: Vec<RequiredInput>,
}

/// Resolves input values, noting what is missing; a missing value renders as `<name>`.
#[derive(Default)]
struct Resolver<'a> {
    given: Option<&'a BTreeMap<String, String>>,
    missing: Vec<RequiredInput>,
    unset: Vec<RequiredInput>,
    declared: Vec<RequiredInput>,
}

impl Resolver<'_> {
    fn given(&self, name: &str) -> Option<String> {
        self.given.and_then(|g| g.get(name)).cloned()
    }

    fn note(&mut self, name: &str, input: &Input, kind: &str) {
        let entry = RequiredInput {
            name: name.to_owned(),
            description: input.description.clone(),
            secret: input.is_secret,
            kind: kind.to_owned(),
            required: input.is_required,
        };
        if !self.declared.iter().any(|d| d.name == entry.name) {
            self.declared.push(entry);
        }
    }

    /// The value of `input` known as `name`: given, else its fixed value (with its
    /// `{variables}`), else its default. `None` when it has none.
    fn value(&mut self, name: &str, input: &Input, kind: &str) -> Option<String> {
        if !name.is_empty() && input.value.is_none() {
            self.note(name, input, kind);
        }
        if let Some(v) = (!name.is_empty()).then(|| self.given(name)).flatten() {
            return Some(v);
        }
        if let Some(template) = &input.value {
            return Some(self.fill(template, &input.variables));
        }
        if let Some(default) = &input.default {
            return Some(default.clone());
        }
        let wanted = RequiredInput {
            name: name.to_owned(),
            description: input.description.clone(),
            secret: input.is_secret,
            kind: kind.to_owned(),
            required: input.is_required,
        };
        if input.is_required {
            self.missing.push(wanted);
        } else if !name.is_empty() {
            self.unset.push(wanted);
        }
        None
    }

    /// `template` with each `{name}` replaced by its variable's value.
    fn fill(&mut self, template: &str, variables: &BTreeMap<String, Input>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let var = &rest[start + 1..start + len];
            out.push_str(&rest[..start]);
            let value = match variables.get(var) {
                Some(input) => self.value(var, input, "variable"),
                None => self.given(var),
            };
            match value {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('<');
                    out.push_str(var);
                    out.push('>');
                }
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }

    fn arguments(&mut self, arguments: &[Argument], out: &mut Vec<String>) {
        for arg in arguments {
            let named = arg.kind == "named";
            let key = if named {
                arg.input.name.trim_start_matches('-').to_owned()
            } else {
                arg.value_hint.clone()
            };
            let value = self.value(&key, &arg.input, "argument");
            match (named, value) {
                (true, Some(v)) if arg.input.format == "boolean" => {
                    if v == "true" {
                        out.push(arg.input.name.clone());
                    }
                }
                (true, Some(v)) => {
                    out.push(arg.input.name.clone());
                    out.push(v);
                }
                (false, Some(v)) => out.push(v),
                (_, None) if arg.input.is_required => {
                    if named {
                        out.push(arg.input.name.clone());
                    }
                    out.push(format!("<{key}>"));
                }
                (_, None) => {}
            }
        }
    }
}

/// The program that runs a package of `registry_type`, when the entry gives no hint.
fn runtime_for(package: &Package) -> Option<&str> {
    if !package.runtime_hint.is_empty() {
        return Some(&package.runtime_hint);
    }
    match package.registry_type.as_str() {
        "npm" => Some("npx"),
        "pypi" => Some("uvx"),
        "oci" | "docker" => Some("docker"),
        "nuget" => Some("dnx"),
        _ => None,
    }
}

/// A package that runs as a local stdio process.
fn runnable(package: &Package) -> bool {
    let stdio = package
        .transport
        .as_ref()
        .is_none_or(|t| t.kind.is_empty() || t.kind == "stdio");
    stdio && !package.identifier.trim().is_empty() && runtime_for(package).is_some()
}

/// The package at its version, as its runtime names it.
fn pinned(package: &Package, runtime: &str) -> String {
    let id = package.identifier.trim();
    let version = package.version.trim();
    if version.is_empty() || version == "latest" {
        return id.to_owned();
    }
    if runtime == "docker" {
        let last = id.rsplit('/').next().unwrap_or(id);
        return if last.contains(':') || id.contains('@') {
            id.to_owned()
        } else {
            format!("{id}:{version}")
        };
    }
    format!("{id}@{version}")
}

/// The package's name without version or tag, to see whether the arguments name it.
fn bare(identifier: &str) -> &str {
    let last_slash = identifier.rfind('/').map_or(0, |i| i + 1);
    match identifier[last_slash..].find([':', '@']) {
        Some(i) if last_slash + i > 0 => &identifier[..last_slash + i],
        _ => identifier,
    }
}

fn launch(
    package: &Package,
    r: &mut Resolver<'_>,
) -> (String, Vec<String>, BTreeMap<String, String>) {
    let runtime = runtime_for(package).unwrap_or_default().to_owned();
    let mut args = Vec::new();
    r.arguments(&package.runtime_arguments, &mut args);
    let mut env = BTreeMap::new();
    for var in &package.environment_variables {
        if let Some(v) = r.value(&var.name, var, "env") {
            env.insert(var.name.clone(), v);
        }
    }
    match runtime.as_str() {
        // Without -y npx asks before installing, and nobody answers a stdio server.
        "npx" if !args.iter().any(|a| a == "-y" || a == "--yes") => {
            args.insert(0, "-y".to_owned());
        }
        "docker" if args.is_empty() => {
            args.extend(["run", "-i", "--rm"].map(str::to_owned));
        }
        _ => {}
    }
    if runtime == "docker" {
        // The container sees only the variables passed into it.
        for name in env.keys() {
            args.extend(["-e".to_owned(), name.clone()]);
        }
    }
    // Some entries name the package among their runtime arguments already (`uvx --from
    // pkg cmd`, `docker run … image`); it is not repeated then.
    let named_already = args
        .iter()
        .any(|a| a == bare(&package.identifier) || a == "--from");
    if !named_already {
        args.push(pinned(package, &runtime));
    }
    if runtime == "dnx" && !package.package_arguments.is_empty() {
        args.push("--yes".to_owned());
        args.push("--".to_owned());
    }
    r.arguments(&package.package_arguments, &mut args);
    (runtime, args, env)
}

fn endpoint(remote: &Remote, r: &mut Resolver<'_>) -> (String, BTreeMap<String, String>) {
    let url = r.fill(&remote.url, &remote.variables);
    let mut headers = BTreeMap::new();
    for header in &remote.headers {
        if let Some(v) = r.value(&header.name, header, "header") {
            headers.insert(header.name.clone(), v);
        }
    }
    (url, headers)
}

/// The remote to use: streamable HTTP before SSE.
fn best_remote(server: &RegistryServer) -> Option<&Remote> {
    let usable = |kind: &str| {
        server
            .remotes
            .iter()
            .find(|r| r.kind == kind && !r.url.is_empty())
    };
    usable("streamable-http").or_else(|| usable("sse"))
}

/// A server name from the entry's: the part after the namespace
/// (`io.github.upstash/context7` → `context7`), with `:` and spaces as `-`.
fn default_name(server: &RegistryServer) -> String {
    let base = if server.name.is_empty() {
        &server.id
    } else {
        &server.name
    };
    let last = base.rsplit('/').next().unwrap_or(base);
    last.chars()
        .map(|c| {
            if c == ':' || c.is_whitespace() || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

/// Fills the display fields of an entry (`installCmd`, `url`, `required_inputs`) from its
/// packages and remotes; inputs not known yet show as `<name>`.
pub fn describe(server: &mut RegistryServer) {
    let mut r = Resolver::default();
    if let Some(package) = server.packages.iter().find(|p| runnable(p)) {
        let (command, args, _) = launch(package, &mut r);
        let mut line = vec![command];
        line.extend(args);
        server.install_cmd = line.join(" ");
    }
    if let Some(remote) = best_remote(server) {
        let mut remote_inputs = Resolver::default();
        let (url, _) = endpoint(remote, &mut remote_inputs);
        server.url = url;
        if server.install_cmd.is_empty() {
            r = remote_inputs;
        }
    }
    server.required_inputs = r.declared;
}

/// The server entry that runs `server` as the caller asked. The entry is enabled unless
/// asked otherwise; quarantine is for the management service to decide.
pub fn derive(server: &RegistryServer, request: &DeriveRequest) -> Result<Derived, DeriveError> {
    let label = if server.name.is_empty() {
        server.id.clone()
    } else {
        server.name.clone()
    };
    let name = match &request.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_owned(),
        _ => default_name(server),
    };
    let mut config = ServerConfig::new(ServerName::parse(name)?);
    let mut r = Resolver {
        given: Some(&request.inputs),
        ..Resolver::default()
    };
    if let Some(package) = server.packages.iter().find(|p| runnable(p)) {
        let (command, args, env) = launch(package, &mut r);
        config.protocol = "stdio".to_owned();
        config.command = command;
        config.args = args;
        config.env = env;
    } else if let Some(remote) = best_remote(server) {
        let (url, headers) = endpoint(remote, &mut r);
        config.protocol = if remote.kind == "sse" { "sse" } else { "http" }.to_owned();
        config.url = url;
        config.headers = headers;
    } else {
        return Err(DeriveError::NotRunnable(label));
    }
    if !r.missing.is_empty() {
        return Err(DeriveError::MissingInputs {
            server: label,
            missing: r.missing,
        });
    }
    // Anything the caller gave that the entry does not declare is an environment variable
    // of a local server (the Go proxy's `env` override).
    if config.protocol == "stdio" {
        for (k, v) in &request.inputs {
            if !r.declared.iter().any(|d| &d.name == k) {
                config.env.insert(k.clone(), v.clone());
            }
        }
    }
    config.enabled = request.enabled.unwrap_or(true);
    config.extra.insert(
        "source_registry_id".into(),
        Value::String(request.registry.clone()),
    );
    config.extra.insert(
        "source_registry_server".into(),
        Value::String(server.id.clone()),
    );
    Ok(Derived {
        config,
        unset: r.unset,
    })
}

#[cfg(test)]
#[path = "registry_derive_tests.rs"]
mod tests;
