//! What a stdio server's start needs, checked without starting it (for the doctor): its
//! working directory, its secrets, its arguments' references and its program on the PATH
//! it would get — the same steps, in the same order and with the same messages, as
//! [`Connector::connect`] takes before it spawns.

use std::path::PathBuf;

use mcpproxy_domain::{Isolation, Transport};

use crate::connect::{ConnectError, ConnectSpec, Connector};
use crate::env;

impl Connector {
    /// The program `spec` would run; `None` when there is nothing to look for on this
    /// machine (a remote server, or one whose command lives in its container or sandbox).
    pub async fn preflight(&self, spec: &ConnectSpec) -> Result<Option<PathBuf>, ConnectError> {
        let keyring = self.read_keyring(spec).await;
        let r = self.resolver(&keyring);
        if spec.transport != Transport::Stdio {
            env::expand("url", &spec.url, &r)?;
            for (k, v) in &spec.headers {
                env::expand(&format!("headers.{k}"), v, &r)?;
            }
            return Ok(None);
        }
        if let Some(dir) = &spec.working_dir {
            env::check_working_dir(dir)?;
        }
        let child_env = env::child_env(&spec.environment, &spec.env, &r)?;
        for (i, a) in spec.args.iter().enumerate() {
            env::expand(&format!("args[{i}]"), a, &r)?;
        }
        match &spec.isolation {
            Isolation::None | Isolation::OwnContainer => env::find_program(
                &spec.command,
                child_env.get("PATH").map(String::as_str),
                spec.working_dir.as_deref(),
            )
            .map(Some)
            .map_err(Into::into),
            _ => Ok(None),
        }
    }
}
