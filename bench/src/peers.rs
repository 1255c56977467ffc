//! The peer proxies measured beside mcpproxy, each in front of the same upstream: how to
//! start one (the launchers in `bench/peers/`, installed by `bench/peers/setup.sh`, which
//! `scripts/bench` runs), where its MCP endpoint is, and the name the upstream's `echo`
//! has there.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::load::Target;

#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    /// The upstream's `echo` as the peer names it.
    pub tool: String,
    /// Program and arguments; `{upstream}` and `{port}` are filled in.
    launch: Vec<String>,
    /// The MCP endpoint's path.
    path: String,
    /// Whether the peer serves only the legacy HTTP+SSE transport.
    legacy_sse: bool,
    /// Where the launcher lives (its working directory).
    dir: PathBuf,
}

impl Peer {
    pub fn command(&self, upstream: &str, port: u16) -> Result<Command, String> {
        let args: Vec<String> = self
            .launch
            .iter()
            .map(|a| {
                a.replace("{upstream}", upstream)
                    .replace("{port}", &port.to_string())
            })
            .collect();
        let (program, rest) = args.split_first().ok_or("no launcher")?;
        if !Path::new(program).exists() {
            return Err(format!(
                "{program} is missing: run scripts/bench, which installs the peers \
                 (bench/peers/setup.sh)"
            ));
        }
        let mut command = Command::new(program);
        command.args(rest).current_dir(&self.dir);
        Ok(command)
    }

    /// Where clients reach the peer started on `port`.
    pub fn target(&self, port: u16) -> Target {
        let url = format!("http://127.0.0.1:{port}{}", self.path);
        if self.legacy_sse {
            Target::LegacySse {
                url,
                headers: Vec::new(),
            }
        } else {
            Target::Http {
                url,
                headers: Vec::new(),
            }
        }
    }
}

/// The directory of the peers' launchers: `dir`, else `bench/peers` of this checkout.
fn peers_dir(dir: Option<&Path>) -> PathBuf {
    dir.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("peers"),
        Path::to_path_buf,
    )
}

/// The Python of one peer's virtualenv: `<root>/<peer>/bin/python`, the root being
/// `$MCPPROXY_PEERS` or `~/.cache/mcpproxy-peers` (as `bench/peers/setup.sh` makes them).
/// Each Python peer has its own: their `mcp` requirements exclude each other.
fn python(peer: &str) -> String {
    let root = std::env::var_os("MCPPROXY_PEERS").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/mcpproxy-peers")
        },
        PathBuf::from,
    );
    root.join(peer).join("bin/python").display().to_string()
}

pub fn all(dir: Option<&Path>) -> Vec<Peer> {
    let dir = peers_dir(dir);
    let script = |name: &str| dir.join(name).display().to_string();
    let fastmcp = |name: &str, extra: &[&str]| {
        let mut launch = vec![
            python("fastmcp"),
            script("fastmcp_proxy.py"),
            "{upstream}".into(),
            "{port}".into(),
        ];
        launch.extend(extra.iter().map(|a| (*a).to_owned()));
        Peer {
            name: name.into(),
            tool: "echo".into(),
            launch,
            path: "/mcp".into(),
            legacy_sse: false,
            dir: dir.clone(),
        }
    };
    vec![
        // FastMCP's recommended proxy: a fresh upstream session for every request.
        fastmcp("FastMCP proxy 4.2.3 (PyPI `fastmcp`), default", &[]),
        // Its fastest mode: one upstream session shared by every request.
        fastmcp(
            "FastMCP proxy 4.2.3, `--shared-session`",
            &["--shared-session"],
        ),
        Peer {
            name: "mcp-hub 4.2.1 (npm), legacy SSE".into(),
            tool: "upstream__echo".into(),
            launch: vec![script("mcp_hub.sh"), "{upstream}".into(), "{port}".into()],
            path: "/mcp".into(),
            legacy_sse: true,
            dir: dir.clone(),
        },
        Peer {
            name: "IBM ContextForge 1.0.7 (PyPI `mcp-contextforge-gateway`)".into(),
            tool: "upstream-echo".into(),
            launch: vec![
                python("contextforge"),
                script("contextforge.py"),
                "{upstream}".into(),
                "{port}".into(),
            ],
            path: "/servers/00000000000000000000000000000001/mcp".into(),
            legacy_sse: false,
            dir,
        },
    ]
}
