//! Isolation of stdio servers, as a transformation of the launch: the server's command,
//! arguments and environment become `docker run …`, `bwrap …` or `mcpproxy __sandbox_exec …`,
//! plus what the run leaves behind (a container, a temporary directory) for the process layer
//! to remove when it stops. The JSON-RPC transport on top never knows the difference.
//!
//! A server that asks for isolation and cannot get it is not started: the launch fails with
//! an error that says why and how to fix it ([`IsolationError`]). Docker's absence is a
//! state to wait in (the supervisor re-checks and connects when Docker answers); a missing
//! sandbox is an error.

pub mod docker;
#[cfg(target_os = "linux")]
pub mod landlock;
pub mod sandbox;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mcpproxy_domain::ServerName;
use mcpproxy_domain::isolation::{DockerRun, SandboxRun};

use crate::connect::ConnectSpec;
use crate::env::{self, LaunchError};
use crate::process::{Container, Launch, Leftovers};
use sandbox::{Backend, BwrapCheck, Facts, Landlock};

/// A switch for tests only: set to `1` in the proxy's environment, it makes the proxy
/// behave as if the kernel had no Landlock, so a machine without any sandbox can be
/// simulated on one that has Landlock.
pub const NO_LANDLOCK_SWITCH: &str = "MCPPROXY_TEST_NO_LANDLOCK";

/// Why an isolated server cannot start. Every message names the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    #[error("Docker unavailable ({}): {reason}; {}", .problem.code(), .problem.fix())]
    DockerUnavailable {
        problem: docker::Problem,
        reason: String,
    },
    #[error(
        "sandbox isolation is not available on this machine (MCPX_SANDBOX_UNAVAILABLE): {reason}; {}",
        sandbox::FIX
    )]
    SandboxUnavailable { reason: String },
    #[error("isolation is not set up in this process; the server is not started unprotected")]
    NotSetUp,
    #[error("{0}")]
    Invalid(String),
    #[error("cannot prepare the isolation: {0}")]
    Io(String),
}

impl From<LaunchError> for IsolationError {
    fn from(e: LaunchError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Docker as the proxy sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerFacts {
    pub cli: Option<PathBuf>,
    pub docker_host: Option<String>,
    pub state: docker::State,
}

/// An environment lookup (the proxy's own variables).
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Send + Sync);

/// FNV-1a: a stable short tag that keeps two names that sanitize alike apart.
fn tag(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash & 0xffff_ffff)
}

/// A file or directory name for a server: readable and injective.
fn dir_name(server: &ServerName) -> String {
    let readable: String = server
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{readable}-{}", tag(server.as_str()))
}

/// What isolation needs from the running proxy: where to keep its records, the proxy's own
/// program (for the Landlock helper), and the checks of Docker and the sandboxes.
#[derive(Debug)]
pub struct Isolator {
    data_dir: PathBuf,
    instance: String,
    exe: PathBuf,
    docker: docker::Monitor,
    bwrap: BwrapCheck,
    landlock: OnceLock<Option<Landlock>>,
}

impl Isolator {
    /// `data_dir` keeps the instance id (labels), the cidfiles and the sandboxes' homes;
    /// `exe` is this program, re-run as `__sandbox_exec`.
    pub fn new(data_dir: &Path, exe: PathBuf) -> std::io::Result<Self> {
        let id_file = data_dir.join("instance-id");
        let instance = match std::fs::read_to_string(&id_file) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => {
                let id = format!(
                    "{:016x}{:016x}",
                    rand::random::<u64>(),
                    rand::random::<u64>()
                );
                std::fs::write(&id_file, &id)?;
                id
            }
        };
        Ok(Self {
            data_dir: data_dir.to_owned(),
            instance,
            exe,
            docker: docker::Monitor::default(),
            bwrap: BwrapCheck::default(),
            landlock: OnceLock::new(),
        })
    }

    /// The id in the `com.mcpproxy.instance` label of this proxy's containers.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn containers_dir(&self) -> PathBuf {
        self.data_dir.join("containers")
    }

    fn sandbox_dir(&self, server: &ServerName) -> PathBuf {
        self.data_dir.join("sandbox").join(dir_name(server))
    }

    /// The Docker client's environment: the proxy's Docker variables under the server's.
    fn client_env(env: &BTreeMap<String, String>, lookup: Lookup<'_>) -> BTreeMap<String, String> {
        docker::CLIENT_VARS
            .iter()
            .filter_map(|name| {
                let value = env.get(*name).cloned().or_else(|| lookup(name))?;
                Some(((*name).to_owned(), value))
            })
            .collect()
    }

    /// Docker as seen with the proxy's environment, for diagnostics.
    pub async fn docker_facts(&self, lookup: Lookup<'_>) -> DockerFacts {
        let env = Self::client_env(&BTreeMap::new(), lookup);
        let cli = docker::find_docker(env.get("PATH").map(String::as_str));
        DockerFacts {
            state: self.docker.check(cli.as_deref(), &env).await,
            docker_host: env.get("DOCKER_HOST").cloned(),
            cli,
        }
    }

    /// What sandboxes this machine offers, with `path_var` to look for `bwrap`.
    pub async fn sandbox_facts(&self, path_var: Option<&str>, lookup: Lookup<'_>) -> Facts {
        let bwrap = crate::env::find_program("bwrap", path_var, None).ok();
        let bwrap_error = match &bwrap {
            Some(path) => self.bwrap.error(path).await,
            None => None,
        };
        let (landlock, landlock_error) = if lookup(NO_LANDLOCK_SWITCH).as_deref() == Some("1") {
            (
                None,
                Some(format!(
                    "turned off by {NO_LANDLOCK_SWITCH}=1, a switch for tests"
                )),
            )
        } else {
            match *self.landlock.get_or_init(detect_landlock) {
                Some(ll) => (Some(ll), None),
                None => (None, Some(no_landlock_reason().to_owned())),
            }
        };
        Facts {
            bwrap,
            bwrap_error,
            landlock,
            landlock_error,
        }
    }

    /// The launch of `spec`'s server under its isolation, or why it cannot start.
    pub(crate) async fn launch(
        &self,
        spec: &ConnectSpec,
        child_env: BTreeMap<String, String>,
        lookup: Lookup<'_>,
    ) -> Result<Launch, IsolationError> {
        use mcpproxy_domain::Isolation;
        match &spec.isolation {
            Isolation::Docker(run) => self.docker_launch(spec, run, child_env, lookup).await,
            Isolation::Sandbox(run) => self.sandbox_launch(spec, run, child_env, lookup).await,
            // Plain launches are the caller's; reaching here is a bug, refused safely.
            Isolation::None | Isolation::OwnContainer => Err(IsolationError::NotSetUp),
        }
    }

    async fn docker_launch(
        &self,
        spec: &ConnectSpec,
        run: &DockerRun,
        child_env: BTreeMap<String, String>,
        lookup: Lookup<'_>,
    ) -> Result<Launch, IsolationError> {
        let client = Self::client_env(&child_env, lookup);
        let cli = docker::find_docker(client.get("PATH").map(String::as_str));
        if let docker::State::Unavailable { problem, reason } =
            self.docker.check(cli.as_deref(), &client).await
        {
            return Err(IsolationError::DockerUnavailable { problem, reason });
        }
        let Some(cli) = cli else {
            return Err(IsolationError::DockerUnavailable {
                problem: docker::Problem::CliMissing,
                reason: "the docker command was not found on PATH".to_owned(),
            });
        };
        std::fs::create_dir_all(self.containers_dir())
            .map_err(|e| IsolationError::Io(format!("{}: {e}", self.containers_dir().display())))?;
        let name = docker::container_name(&spec.name);
        let cidfile = self.containers_dir().join(format!("{name}.cid"));
        let env_names: Vec<&str> = spec
            .env
            .keys()
            .chain(spec.environment.custom_vars.keys())
            .map(String::as_str)
            .collect();
        let args = docker::run_args(
            run,
            &docker::RunContext {
                server: &spec.name,
                container: &name,
                cidfile: &cidfile,
                instance: &self.instance,
                env_names,
                host_workdir: spec.working_dir.as_deref(),
                command: &spec.command,
                args: &spec.args,
            },
        );
        // The client gets the values (it hands them to the container by name) and what it
        // needs to reach its daemon.
        let mut cli_env = child_env;
        cli_env.extend(client.clone());
        Ok(Launch {
            program: cli.clone(),
            args,
            env: cli_env,
            working_dir: None,
            leftovers: Leftovers {
                container: Some(Container {
                    docker: cli,
                    name,
                    cidfile,
                    env: client,
                }),
                dirs: Vec::new(),
            },
        })
    }

    async fn sandbox_launch(
        &self,
        spec: &ConnectSpec,
        run: &SandboxRun,
        child_env: BTreeMap<String, String>,
        lookup: Lookup<'_>,
    ) -> Result<Launch, IsolationError> {
        let path_var = child_env.get("PATH").cloned();
        let program = env::find_program(
            &spec.command,
            path_var.as_deref(),
            spec.working_dir.as_deref(),
        )?;
        let facts = self.sandbox_facts(path_var.as_deref(), lookup).await;
        let backend = facts
            .backend(run.network)
            .map_err(|reason| IsolationError::SandboxUnavailable { reason })?;
        let own = self.sandbox_dir(&spec.name);
        let tmp = own.join(format!("tmp-{:08x}", rand::random::<u32>()));
        let plan = sandbox::Plan {
            program,
            args: spec.args.clone(),
            working_dir: spec.working_dir.clone(),
            network: run.network,
            volumes: run.volumes.clone(),
            home: own.join("home"),
            tmp: tmp.clone(),
            user_home: lookup("HOME").map(PathBuf::from),
            data_dir: self.data_dir.clone(),
        };
        plan.check(&backend).map_err(IsolationError::Invalid)?;
        let private = |dir: &Path| {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| IsolationError::Io(format!("{}: {e}", dir.display())))
        };
        private(&plan.home)?;
        match backend {
            Backend::Bubblewrap(bwrap) => Ok(Launch {
                program: bwrap,
                args: plan.bwrap_args(),
                env: plan.env(child_env, true),
                working_dir: None,
                leftovers: Leftovers::default(),
            }),
            Backend::Landlock(_) => {
                private(&tmp)?;
                let mut args: Vec<OsString> = plan.landlock_args();
                args.shrink_to_fit();
                Ok(Launch {
                    program: self.exe.clone(),
                    args,
                    env: plan.env(child_env, false),
                    working_dir: plan.working_dir.clone(),
                    leftovers: Leftovers {
                        container: None,
                        dirs: vec![tmp],
                    },
                })
            }
        }
    }

    /// Removes what an earlier run left (the proxy and its reaper both killed): containers
    /// recorded in cidfiles or labelled with this instance, and sandbox temporary
    /// directories. Cheap when there is nothing: no Docker call without a cidfile.
    pub async fn sweep(&self, lookup: Lookup<'_>) {
        if let Ok(homes) = std::fs::read_dir(self.data_dir.join("sandbox")) {
            for home in homes.filter_map(Result::ok) {
                if let Ok(entries) = std::fs::read_dir(home.path()) {
                    for entry in entries.filter_map(Result::ok) {
                        if entry.file_name().to_string_lossy().starts_with("tmp-") {
                            let _ = std::fs::remove_dir_all(entry.path());
                        }
                    }
                }
            }
        }
        let cidfiles: Vec<PathBuf> = std::fs::read_dir(self.containers_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "cid"))
                    .collect()
            })
            .unwrap_or_default();
        if cidfiles.is_empty() {
            return;
        }
        let env = Self::client_env(&BTreeMap::new(), lookup);
        let Some(cli) = docker::find_docker(env.get("PATH").map(String::as_str)) else {
            return;
        };
        let mut ids: Vec<String> = cidfiles
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect();
        ids.extend(docker::labelled(&cli, &env, docker::LABEL_INSTANCE, &self.instance).await);
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            tracing::info!(
                count = ids.len(),
                "removing containers an earlier run left behind"
            );
            docker::remove(&cli, &env, &ids).await;
        }
        for file in cidfiles {
            let _ = std::fs::remove_file(file);
        }
    }
}

#[async_trait::async_trait]
impl mcpproxy_application::ports::IsolationProbe for Isolator {
    /// The machine as the proxy's own environment finds it.
    async fn facts(&self) -> mcpproxy_application::ports::IsolationFacts {
        use mcpproxy_application::ports::{
            DockerFacts as Docker, IsolationFacts, IsolationProblem, SandboxFacts,
        };
        let lookup = |name: &str| std::env::var(name).ok();
        let docker = self.docker_facts(&lookup).await;
        let path = lookup("PATH");
        let sandbox = self.sandbox_facts(path.as_deref(), &lookup).await;
        let shown = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let (server_version, docker_problem) = match docker.state {
            docker::State::Available { version } => (Some(version), None),
            docker::State::Unavailable { problem, reason } => (
                None,
                Some(IsolationProblem {
                    code: problem.code().to_owned(),
                    reason,
                    fix: problem.fix().to_owned(),
                }),
            ),
        };
        let strict = sandbox.backend(false);
        IsolationFacts {
            docker: Docker {
                available: docker_problem.is_none(),
                cli_path: shown(&docker.cli),
                server_version,
                docker_host: docker.docker_host,
                problem: docker_problem,
            },
            sandbox: SandboxFacts {
                available: strict.is_ok(),
                backend: strict.as_ref().ok().map(|b| b.name().to_owned()),
                backend_with_network: sandbox.backend(true).ok().map(|b| b.name().to_owned()),
                bwrap_path: shown(&sandbox.bwrap),
                bwrap_error: sandbox.bwrap_error.clone(),
                landlock_abi: sandbox.landlock.map(|l| l.abi),
                landlock_error: sandbox.landlock_error.clone(),
                problem: strict.err().map(|reason| IsolationProblem {
                    code: "MCPX_SANDBOX_UNAVAILABLE".to_owned(),
                    reason,
                    fix: sandbox::FIX.to_owned(),
                }),
            },
        }
    }
}

#[cfg(target_os = "linux")]
fn detect_landlock() -> Option<Landlock> {
    landlock::detect()
}

#[cfg(not(target_os = "linux"))]
fn detect_landlock() -> Option<Landlock> {
    None
}

fn no_landlock_reason() -> &'static str {
    if cfg!(target_os = "linux") {
        "the kernel has no Landlock, or it is not enabled (Linux 5.13+, `lsm=landlock`)"
    } else {
        "Landlock exists on Linux only; sandbox mode is not available on this platform"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_readable_and_keep_names_apart() {
        let a = dir_name(&ServerName::parse("my server").unwrap());
        let b = dir_name(&ServerName::parse("my_server").unwrap());
        assert!(a.starts_with("my_server-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, dir_name(&ServerName::parse("my server").unwrap()));
    }

    #[test]
    fn the_instance_id_is_kept_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = Isolator::new(dir.path(), "/x".into()).unwrap();
        let again = Isolator::new(dir.path(), "/x".into()).unwrap();
        assert_eq!(first.instance(), again.instance());
        assert!(!first.instance().is_empty());
    }

    #[tokio::test]
    async fn the_test_switch_turns_landlock_off_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let isolator = Isolator::new(dir.path(), "/x".into()).unwrap();
        let lookup = |name: &str| (name == NO_LANDLOCK_SWITCH).then(|| "1".to_owned());
        let facts = isolator.sandbox_facts(Some("/nonexistent"), &lookup).await;
        assert_eq!(facts.bwrap, None);
        assert_eq!(facts.landlock, None);
        let why = facts.backend(false).unwrap_err();
        assert!(why.contains("a switch for tests"), "{why}");
    }
}
