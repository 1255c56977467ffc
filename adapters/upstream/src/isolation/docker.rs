//! Docker mode: the `docker run` command line a stdio server runs under, whether Docker
//! answers, and what a failed start means.
//!
//! Env values never reach a command line: the container gets `-e NAME` for each variable of
//! the server's `env` (and `environment.custom_vars`), and the Docker client takes the value
//! from its own environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcpproxy_domain::ServerName;
use mcpproxy_domain::isolation::DockerRun;
use tokio::process::Command;
use tokio::sync::Mutex;

/// The labels every container of ours carries (the Go proxy's names).
pub const LABEL_MANAGED: &str = "com.mcpproxy.managed";
pub const LABEL_INSTANCE: &str = "com.mcpproxy.instance";
pub const LABEL_SERVER: &str = "com.mcpproxy.server";
pub const LABEL_CREATED: &str = "com.mcpproxy.created";

/// The variables of the proxy's environment the Docker client needs to find its daemon.
pub const CLIENT_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
];

/// How long `docker version` may take before Docker counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A probe's answer is reused this long, so many servers waiting for Docker ask it once.
const PROBE_REUSE: Duration = Duration::from_secs(1);

/// A container name Docker accepts: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "server".to_owned()
    } else {
        trimmed.chars().take(40).collect()
    }
}

/// `mcpproxy-<server>-<8 hex>`: readable in `docker ps`, unique per start.
pub fn container_name(server: &ServerName) -> String {
    let suffix: u32 = rand::random();
    format!("mcpproxy-{}-{suffix:08x}", sanitize(server.as_str()))
}

/// What `docker run` needs besides the plan.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    pub server: &'a ServerName,
    pub container: &'a str,
    pub cidfile: &'a Path,
    pub instance: &'a str,
    /// The variables passed into the container, by name.
    pub env_names: Vec<&'a str>,
    /// The server's `working_dir` on the host: mounted at the same path.
    pub host_workdir: Option<&'a Path>,
    pub command: &'a str,
    pub args: &'a [String],
}

/// The arguments of `docker run` for `run`.
pub fn run_args(run: &DockerRun, ctx: &RunContext<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    // --init: a tiny init is PID 1, so the server gets SIGTERM like on the host and a stop
    // does not wait out Docker's 10 s grace.
    push(&["run", "--rm", "-i", "--init", "--name", ctx.container]);
    a.push("--cidfile".into());
    a.push(ctx.cidfile.into());
    for label in [
        format!("{LABEL_MANAGED}=true"),
        format!("{LABEL_INSTANCE}={}", ctx.instance),
        format!("{LABEL_SERVER}={}", ctx.server),
        format!("{LABEL_CREATED}={}", std::process::id()),
    ] {
        a.push("--label".into());
        a.push(label.into());
    }
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    if let Some(driver) = &run.log_driver {
        push(&["--log-driver", driver]);
    }
    if let Some(size) = &run.log_max_size {
        push(&["--log-opt", &format!("max-size={size}")]);
    }
    if let Some(files) = &run.log_max_files {
        push(&["--log-opt", &format!("max-file={files}")]);
    }
    push(&["--network", &run.network_mode]);
    push(&["--memory", &run.memory_limit, "--cpus", &run.cpu_limit]);
    if let Some((volume, path)) = &run.cache_volume {
        push(&["-v", &format!("{volume}:{path}")]);
    }
    for volume in &run.volumes {
        push(&["-v", &volume.docker_arg()]);
    }
    if let Some(dir) = ctx.host_workdir {
        a.push("-v".into());
        let mut bind = dir.as_os_str().to_owned();
        bind.push(":");
        bind.push(dir.as_os_str());
        a.push(bind);
    }
    match (&run.workdir, ctx.host_workdir) {
        (Some(dir), _) => {
            a.push("--workdir".into());
            a.push(dir.into());
        }
        (None, Some(dir)) => {
            a.push("--workdir".into());
            a.push(dir.into());
        }
        (None, None) => {}
    }
    for name in &ctx.env_names {
        a.push("-e".into());
        a.push((*name).into());
    }
    a.extend(run.extra_args.iter().map(OsString::from));
    a.push(run.image.clone().into());
    a.push(ctx.command.into());
    a.extend(ctx.args.iter().map(OsString::from));
    a
}

/// Why Docker cannot be used; each with the error code of the Go proxy's docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    CliMissing,
    DaemonDown,
    NoPermission,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Self::CliMissing => "MCPX_DOCKER_CLI_MISSING",
            Self::DaemonDown => "MCPX_DOCKER_DAEMON_DOWN",
            Self::NoPermission => "MCPX_DOCKER_NO_PERMISSION",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Self::CliMissing => {
                "install Docker (Debian/Ubuntu: apt install docker.io; macOS/Windows: Docker Desktop) so that `docker` is on PATH"
            }
            Self::DaemonDown => {
                "start Docker (`sudo systemctl start docker`, Docker Desktop or Colima) and check DOCKER_HOST; the server connects by itself once Docker answers"
            }
            Self::NoPermission => {
                "give this user access to the Docker socket (`sudo usermod -aG docker $USER`, then log in again); the server connects by itself once Docker answers"
            }
        }
    }
}

/// What the last probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Available { version: String },
    Unavailable { problem: Problem, reason: String },
}

/// Sorts `docker version`'s complaint into a problem.
fn classify(stderr: &str) -> Problem {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("permission denied") {
        Problem::NoPermission
    } else {
        Problem::DaemonDown
    }
}

/// Finds `docker` on `path_var`.
pub fn find_docker(path_var: Option<&str>) -> Option<PathBuf> {
    crate::env::find_program("docker", path_var, None).ok()
}

/// A Docker client setup: the program, `DOCKER_HOST`, `DOCKER_CONTEXT`.
type Client = (PathBuf, Option<String>, Option<String>);

/// Asks Docker whether it answers, at most once a second whatever the number of askers.
#[derive(Debug, Default)]
pub struct Monitor {
    /// The last answer per client setup, and when it came.
    last: Mutex<BTreeMap<Client, (Instant, State)>>,
}

impl Monitor {
    /// Whether Docker answers the client `docker` run with `env`.
    pub async fn check(&self, docker: Option<&Path>, env: &BTreeMap<String, String>) -> State {
        let Some(docker) = docker else {
            return State::Unavailable {
                problem: Problem::CliMissing,
                reason: "the docker command was not found on PATH".to_owned(),
            };
        };
        let key = (
            docker.to_owned(),
            env.get("DOCKER_HOST").cloned(),
            env.get("DOCKER_CONTEXT").cloned(),
        );
        // Held across the probe: concurrent askers wait for its answer instead of probing.
        let mut last = self.last.lock().await;
        if let Some((at, state)) = last.get(&key)
            && at.elapsed() < PROBE_REUSE
        {
            return state.clone();
        }
        let state = probe(docker, env).await;
        last.insert(key, (Instant::now(), state.clone()));
        state
    }
}

/// Runs `docker args…` with exactly `env`, for at most `limit`; `None` when it did not end.
async fn client<I, S>(
    docker: &Path,
    env: &BTreeMap<String, String>,
    args: I,
    limit: Duration,
) -> Option<std::io::Result<std::process::Output>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let run = Command::new(docker)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, run).await.ok()
}

async fn probe(docker: &Path, env: &BTreeMap<String, String>) -> State {
    let args = ["version", "--format", "{{.Server.Version}}"];
    match client(docker, env, args, PROBE_TIMEOUT).await {
        None => State::Unavailable {
            problem: Problem::DaemonDown,
            reason: format!("`docker version` did not answer within {PROBE_TIMEOUT:?}"),
        },
        Some(Err(e)) => State::Unavailable {
            problem: Problem::CliMissing,
            reason: format!("cannot run {}: {e}", docker.display()),
        },
        Some(Ok(out)) => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !version.is_empty() {
                State::Available { version }
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let reason = stderr
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("the Docker daemon did not answer")
                    .to_owned();
                State::Unavailable {
                    problem: classify(&stderr),
                    reason,
                }
            }
        }
    }
}

/// The code and advice for a container that did not start, from what `docker run` wrote.
pub fn explain_failure(stderr: &[String], image: &str) -> Option<String> {
    let text = stderr.join("\n");
    let lower = text.to_ascii_lowercase();
    // runc says "executable file not found"; with --init, tini says "exec x failed: No such
    // file or directory".
    if lower.contains("executable file not found")
        || (lower.contains("exec") && lower.contains("no such file or directory"))
    {
        Some(format!(
            "MCPX_DOCKER_EXEC_NOT_FOUND: the image {image} does not contain the server's command; choose an image that has it (isolation.image) or a runtime default (docker_isolation.default_images)"
        ))
    } else if text.contains("Unable to find image")
        || text.contains("pull access denied")
        || text.contains("manifest unknown")
        || text.contains("repository does not exist")
    {
        Some(format!(
            "MCPX_DOCKER_IMAGE_PULL_FAILED: the image {image} is not on this machine and could not be pulled; run `docker pull {image}` to see why, or set isolation.image"
        ))
    } else if text.contains("Cannot connect to the Docker daemon") {
        Some(format!(
            "{}: {}",
            Problem::DaemonDown.code(),
            Problem::DaemonDown.fix()
        ))
    } else {
        None
    }
}

/// The ids of every container carrying `label=value` (running or not).
pub async fn labelled(
    docker: &Path,
    env: &BTreeMap<String, String>,
    label: &str,
    value: &str,
) -> Vec<String> {
    let filter = format!("label={label}={value}");
    match client(
        docker,
        env,
        ["ps", "-aq", "--filter", &filter],
        PROBE_TIMEOUT,
    )
    .await
    {
        Some(Ok(out)) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// `docker rm -f` of `ids`, bounded in time.
pub async fn remove(docker: &Path, env: &BTreeMap<String, String>, ids: &[String]) {
    if !ids.is_empty() {
        let args = ["rm", "-f"]
            .into_iter()
            .map(str::to_owned)
            .chain(ids.iter().cloned());
        let _ = client(docker, env, args, Duration::from_secs(30)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpproxy_domain::Config;
    use mcpproxy_domain::isolation::Isolation;
    use serde_json::json;

    fn plan(doc: serde_json::Value) -> DockerRun {
        let c: Config = serde_json::from_value(doc).unwrap();
        match c.isolation(&c.servers[0]) {
            Isolation::Docker(run) => *run,
            other => panic!("docker expected, got {other:?}"),
        }
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_command_line_carries_limits_labels_and_env_names_but_no_values() {
        let run = plan(json!({
            "docker_isolation": {"enabled": true, "extra_args": ["--cap-drop=ALL"]},
            "mcpServers": [{"name": "gh tools", "command": "npx", "args": ["-y", "srv"],
                            "env": {"TOKEN": "s3cret"},
                            "isolation": {"network_mode": "none", "volumes": ["/data:/data:ro"]}}]
        }));
        let name = ServerName::parse("gh tools").unwrap();
        let args = strings(&run_args(
            &run,
            &RunContext {
                server: &name,
                container: "mcpproxy-gh-tools-0000abcd",
                cidfile: Path::new("/d/containers/x.cid"),
                instance: "inst-1",
                env_names: vec!["TOKEN"],
                host_workdir: Some(Path::new("/home/u/proj")),
                command: "npx",
                args: &["-y".into(), "srv".into()],
            },
        ));
        let joined = args.join(" ");
        assert!(
            joined.starts_with(
                "run --rm -i --init --name mcpproxy-gh-tools-0000abcd --cidfile /d/containers/x.cid"
            ),
            "{joined}"
        );
        for want in [
            "--label com.mcpproxy.managed=true",
            "--label com.mcpproxy.instance=inst-1",
            "--label com.mcpproxy.server=gh tools",
            "--network none",
            "--memory 512m --cpus 1.0",
            "-v mcpproxy-npm-cache:/root/.npm",
            "-v /data:/data:ro",
            "-v /home/u/proj:/home/u/proj --workdir /home/u/proj",
            "-e TOKEN --cap-drop=ALL node:22 npx -y srv",
        ] {
            assert!(joined.contains(want), "{want:?} missing in {joined}");
        }
        assert!(
            !joined.contains("s3cret"),
            "values never on the command line"
        );
    }

    #[test]
    fn names_are_what_docker_accepts() {
        let name = container_name(&ServerName::parse("my server/ü").unwrap());
        assert!(name.starts_with("mcpproxy-my-server-"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_ne!(
            name,
            container_name(&ServerName::parse("my server/ü").unwrap())
        );
    }

    #[test]
    fn failures_are_explained_with_their_code() {
        let lines = |s: &str| vec![s.to_owned()];
        assert!(
            explain_failure(&lines("docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"uvx\": executable file not found in $PATH"), "python:3.11")
                .unwrap()
                .starts_with("MCPX_DOCKER_EXEC_NOT_FOUND")
        );
        assert!(
            explain_failure(&lines("Unable to find image 'nope:1' locally"), "nope:1")
                .unwrap()
                .contains("docker pull nope:1")
        );
        assert!(
            explain_failure(
                &lines("[FATAL tini (8)] exec npx failed: No such file or directory"),
                "x"
            )
            .unwrap()
            .starts_with("MCPX_DOCKER_EXEC_NOT_FOUND")
        );
        assert_eq!(explain_failure(&lines("some other trouble"), "x"), None);
        assert_eq!(
            classify("permission denied while trying to connect to the Docker daemon socket"),
            Problem::NoPermission
        );
        assert_eq!(
            classify("Cannot connect to the Docker daemon at unix:///x.sock"),
            Problem::DaemonDown
        );
    }

    #[tokio::test]
    async fn a_missing_client_is_reported_without_running_anything() {
        let state = Monitor::default().check(None, &BTreeMap::new()).await;
        assert!(matches!(
            state,
            State::Unavailable {
                problem: Problem::CliMissing,
                ..
            }
        ));
    }
}
