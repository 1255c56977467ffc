//! The doctor's catalog: stable `MCPX_*` codes, each with its severity, its cause in one line,
//! what to do, and whether `mcpproxy doctor fix CODE` can do it; and the rules that read a
//! server's failure (the text the upstream layer gives its last error) as one of those codes.
//!
//! Codes are the Go MCPProxy's where it has one (`docs/errors/MCPX_*.md`), so scripts and
//! links keep working; the few it lacks follow its `MCPX_<DOMAIN>_<SPECIFIC>` form. A code is
//! never renamed once shipped. Pure: no I/O — the application probes the machine.

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Named apart from the sensitive-data detector's `Severity` in the OpenAPI spec.
#[cfg_attr(feature = "openapi", schema(as = DiagnosticSeverity))]
pub enum Severity {
    Info,
    Warn,
    Error,
}

/// What `doctor fix` does about a code, when it can do something real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FixAction {
    /// Restart the server (after its command was installed, a secret set, Docker started…);
    /// refused while the cause is still there.
    Restart,
    /// Start the server's OAuth login and give its URL.
    Login,
    /// Give the data directory back to its owner alone (mode 0700).
    TightenDataDir,
}

/// One code of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeInfo {
    /// `MCPX_<DOMAIN>_<SPECIFIC>`, stable.
    pub code: &'static str,
    /// `STDIO`, `OAUTH`, `HTTP`, `DOCKER`, `CONFIG`, `QUARANTINE`, `NETWORK`, `SYSTEM`, …
    pub domain: &'static str,
    pub severity: Severity,
    /// The cause, in one line.
    pub cause: &'static str,
    /// What to do; `<server>` stands for the server's name.
    pub fix: &'static str,
    /// What `doctor fix` does about it; `None`: it is fixed by hand as `fix` says.
    pub fix_action: Option<FixAction>,
}

macro_rules! codes {
    ($( $konst:ident = $code:literal, $domain:literal, $sev:ident, $fixact:expr, $cause:literal, $fix:literal; )*) => {
        $( pub const $konst: &str = $code; )*
        /// Every code, in catalog order.
        pub const CATALOG: &[CodeInfo] = &[
            $( CodeInfo { code: $code, domain: $domain, severity: Severity::$sev, cause: $cause, fix: $fix, fix_action: $fixact }, )*
        ];
    };
}

codes! {
    STDIO_SPAWN_ENOENT = "MCPX_STDIO_SPAWN_ENOENT", "STDIO", Error, Some(FixAction::Restart),
        "the server's command was not found on the PATH the proxy gives it",
        "install the command (or its runtime: Node.js for npx, uv for uvx, Python for python), or give its full path in `command`; then `mcpproxy doctor fix MCPX_STDIO_SPAWN_ENOENT --server <server>` restarts it";
    STDIO_SPAWN_EACCES = "MCPX_STDIO_SPAWN_EACCES", "STDIO", Error, Some(FixAction::Restart),
        "the server's command exists but is not executable",
        "make it executable (`chmod +x PATH`) or point `command` at the right file; then `doctor fix` restarts the server";
    STDIO_WORKING_DIR = "MCPX_STDIO_WORKING_DIR_MISSING", "STDIO", Error, Some(FixAction::Restart),
        "the server's working_dir does not exist or is not a directory",
        "create the directory, or correct the server's `working_dir` in the config (or the web panel's Edit)";
    STDIO_EXIT_BEFORE_INITIALIZE = "MCPX_STDIO_EXIT_BEFORE_INITIALIZE", "STDIO", Error, Some(FixAction::Restart),
        "the server's process exited before answering MCP initialize",
        "read its last stderr lines (shown with this finding, or `mcpproxy upstream logs <server>`): a missing argument, env variable or package is the usual cause; fix it, then `doctor fix` restarts the server";
    STDIO_EXIT_NONZERO = "MCPX_STDIO_EXIT_NONZERO", "STDIO", Error, Some(FixAction::Restart),
        "the server's process exited (crashed) after it had started",
        "read its last stderr lines (`mcpproxy upstream logs <server>`), fix the cause, then `doctor fix` restarts it";
    STDIO_HANDSHAKE_TIMEOUT = "MCPX_STDIO_HANDSHAKE_TIMEOUT", "STDIO", Error, Some(FixAction::Restart),
        "the server did not answer MCP initialize within init_timeout",
        "a first `npx`/`uvx` run may be downloading packages: raise `init_timeout` for the server, or run its command once by hand; check it speaks MCP on stdout";
    STDIO_HANDSHAKE_INVALID = "MCPX_STDIO_HANDSHAKE_INVALID", "STDIO", Error, Some(FixAction::Restart),
        "the server answered initialize with something that is not valid MCP",
        "the server may print logs on stdout (they belong on stderr) or speak another protocol version; check its command and version";
    OAUTH_LOGIN_REQUIRED = "MCPX_OAUTH_LOGIN_REQUIRED", "OAUTH", Warn, Some(FixAction::Login),
        "the server needs an OAuth login that has not happened yet",
        "log in: `mcpproxy auth login --server <server>` (or `doctor fix` opens the login)";
    OAUTH_REAUTH_REQUIRED = "MCPX_OAUTH_REAUTH_REQUIRED", "OAUTH", Error, Some(FixAction::Login),
        "the stored login no longer works; the server wants a new one",
        "log in again: `mcpproxy auth login --server <server>`";
    OAUTH_REFRESH_EXPIRED = "MCPX_OAUTH_REFRESH_EXPIRED", "OAUTH", Error, Some(FixAction::Login),
        "the refresh token expired or was revoked (invalid_grant)",
        "log in again: `mcpproxy auth login --server <server>`";
    OAUTH_REFRESH_403 = "MCPX_OAUTH_REFRESH_403", "OAUTH", Error, Some(FixAction::Login),
        "the authorization server refused to refresh the token",
        "log in again; if it keeps failing, check the OAuth client registration (client_id, scopes)";
    OAUTH_DISCOVERY_FAILED = "MCPX_OAUTH_DISCOVERY_FAILED", "OAUTH", Error, None,
        "the OAuth metadata (.well-known) of the server could not be read",
        "check the server URL; set `oauth` (client_id, scopes) in the server's config if the server does not publish metadata";
    OAUTH_CLOCK_SKEW = "MCPX_OAUTH_CLOCK_SKEW", "OAUTH", Error, None,
        "a token was refused as not yet valid or already expired: this machine's clock is off",
        "set the clock right (enable NTP: `timedatectl set-ntp true`), then log in again";
    HTTP_DNS_FAILED = "MCPX_HTTP_DNS_FAILED", "HTTP", Error, Some(FixAction::Restart),
        "the server's host name does not resolve",
        "check the URL's host name and this machine's DNS";
    HTTP_TLS_FAILED = "MCPX_HTTP_TLS_FAILED", "HTTP", Error, None,
        "the TLS handshake with the server failed (certificate or protocol)",
        "check the server's certificate (expired, self-signed, wrong host) and the URL's scheme";
    HTTP_401 = "MCPX_HTTP_401", "HTTP", Error, None,
        "the server refused the request as unauthenticated (401)",
        "give the credentials it expects in `headers` (e.g. Authorization), or configure `oauth`";
    HTTP_403 = "MCPX_HTTP_403", "HTTP", Error, None,
        "the server refused access (403)",
        "check the credentials' permissions and scopes";
    HTTP_404 = "MCPX_HTTP_404", "HTTP", Error, None,
        "the server's URL does not exist (404)",
        "check the URL's path (often `/mcp` or `/sse`) and `protocol`";
    HTTP_5XX = "MCPX_HTTP_5XX", "HTTP", Error, Some(FixAction::Restart),
        "the server answered with a server error (5xx)",
        "the server is failing: try later, or tell its operator";
    HTTP_CONN_REFUSED = "MCPX_HTTP_CONN_REFUSED", "HTTP", Error, Some(FixAction::Restart),
        "nothing listens at the server's address",
        "start the server, or correct the URL's host and port";
    DOCKER_DAEMON_DOWN = "MCPX_DOCKER_DAEMON_DOWN", "DOCKER", Error, Some(FixAction::Restart),
        "Docker isolation is on but the Docker daemon does not answer",
        "start Docker (`sudo systemctl start docker`, or Docker Desktop / colima); servers waiting for it connect by themselves";
    DOCKER_CLI_MISSING = "MCPX_DOCKER_CLI_MISSING", "DOCKER", Error, None,
        "Docker isolation is on but no `docker` program is on PATH",
        "install Docker, or turn Docker isolation off for these servers";
    DOCKER_NO_PERMISSION = "MCPX_DOCKER_NO_PERMISSION", "DOCKER", Error, None,
        "this user may not use the Docker socket",
        "add the user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again)";
    DOCKER_IMAGE_PULL_FAILED = "MCPX_DOCKER_IMAGE_PULL_FAILED", "DOCKER", Error, Some(FixAction::Restart),
        "the server's Docker image could not be pulled",
        "run `docker pull IMAGE` to see why; check the image name (isolation.image)";
    DOCKER_EXEC_NOT_FOUND = "MCPX_DOCKER_EXEC_NOT_FOUND", "DOCKER", Error, None,
        "the server's Docker image lacks its command (e.g. no uvx)",
        "choose an image that has it (isolation.image or docker_isolation.default_images)";
    SANDBOX_UNAVAILABLE = "MCPX_SANDBOX_UNAVAILABLE", "SANDBOX", Error, None,
        "sandbox isolation is on but this machine cannot build the sandbox",
        "install bubblewrap (`bwrap`) or use a kernel with Landlock, or turn sandbox isolation off";
    CONFIG_PARSE_ERROR = "MCPX_CONFIG_PARSE_ERROR", "CONFIG", Error, None,
        "the config file is not valid JSON or not a valid config",
        "correct the file at the place the message names (`mcpproxy` prints the line and column)";
    CONFIG_MISSING_SECRET = "MCPX_CONFIG_MISSING_SECRET", "CONFIG", Error, Some(FixAction::Restart),
        "a ${env:NAME} or ${keyring:NAME} reference in the server's config has no value",
        "set it (`mcpproxy secrets set <secret>` with the name the finding shows, or export the variable before starting mcpproxy); then `doctor fix` restarts the server";
    QUARANTINE_PENDING_APPROVAL = "MCPX_QUARANTINE_PENDING_APPROVAL", "QUARANTINE", Warn, None,
        "the server is quarantined: its tools are not offered to agents until a person approves it",
        "review it (`mcpproxy upstream inspect <server>`), then `mcpproxy upstream unquarantine <server>`";
    QUARANTINE_TOOL_CHANGED = "MCPX_QUARANTINE_TOOL_CHANGED", "QUARANTINE", Warn, None,
        "tools of the server changed since they were approved (a possible rug pull)",
        "compare the changes (`mcpproxy upstream inspect <server>` shows each diff), then approve them (`mcpproxy upstream approve <server>`)";
    NETWORK_PORT_IN_USE = "MCPX_NETWORK_PORT_IN_USE", "NETWORK", Error, None,
        "another program listens on the proxy's address",
        "stop that program, or give mcpproxy another address (`--listen 127.0.0.1:PORT` or `listen` in the config)";
    SYSTEM_DATA_DIR_PERMISSIONS = "MCPX_SYSTEM_DATA_DIR_PERMISSIONS", "SYSTEM", Error, Some(FixAction::TightenDataDir),
        "the data directory is open to other users, or not writable by its owner",
        "`chmod 700 DATA_DIR` (or `mcpproxy doctor fix MCPX_SYSTEM_DATA_DIR_PERMISSIONS`)";
    UNKNOWN_UNCLASSIFIED = "MCPX_UNKNOWN_UNCLASSIFIED", "UNKNOWN", Error, Some(FixAction::Restart),
        "the server failed for a reason the doctor does not know",
        "read the message and the server's log (`mcpproxy upstream logs <server>`); please report it";
}

/// The catalog entry of `code`.
pub fn info(code: &str) -> Option<&'static CodeInfo> {
    CATALOG.iter().find(|c| c.code == code)
}

/// The page that explains a code (the Go project's catalog, where its codes are documented).
pub fn docs_url(code: &str) -> String {
    format!("https://docs.mcpproxy.app/errors/{code}")
}

fn has(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

/// The code of a server's connection failure, from the upstream layer's message. The first
/// rule that matches wins, so the specific ones come first.
pub fn classify(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    // The isolation layer names its own codes in its messages.
    if let Some(code) = CATALOG
        .iter()
        .map(|c| c.code)
        .find(|code| error.contains(code))
    {
        return code;
    }
    if has(
        &lower,
        &[
            "is not set; set it",
            "is not in the keyring",
            "cannot be read:",
            "unterminated secret reference",
        ],
    ) {
        return CONFIG_MISSING_SECRET;
    }
    if lower.contains("working_dir") && lower.contains("does not exist") {
        return STDIO_WORKING_DIR;
    }
    if lower.contains("was not found on path")
        || (lower.contains("cannot start") && lower.contains("no such file"))
    {
        return STDIO_SPAWN_ENOENT;
    }
    if lower.contains("is not an executable file")
        || (lower.contains("cannot start") && lower.contains("permission denied"))
    {
        return STDIO_SPAWN_EACCES;
    }
    if has(
        &lower,
        &[
            "not yet valid",
            "clock skew",
            "issued in the future",
            "iat claim",
            "nbf claim",
            "used before",
        ],
    ) && has(&lower, &["token", "jwt", "oauth"])
    {
        return OAUTH_CLOCK_SKEW;
    }
    if lower.contains("invalid_grant") {
        return OAUTH_REFRESH_EXPIRED;
    }
    if lower.contains("refresh") && has(&lower, &["expired", "revoked"]) {
        return OAUTH_REFRESH_EXPIRED;
    }
    // The OAuth layer's words for a refresh the authorization server turned down.
    if lower.contains("refreshing the token failed")
        || (lower.contains("refresh") && has(&lower, &["403", "forbidden", "refused", "rejected"]))
    {
        return OAUTH_REFRESH_403;
    }
    if has(
        &lower,
        &["needs a login", "login required", "authorization required"],
    ) {
        return OAUTH_LOGIN_REQUIRED;
    }
    if has(
        &lower,
        &["well-known", "metadata discovery", "discovery failed"],
    ) {
        return OAUTH_DISCOVERY_FAILED;
    }
    if lower.contains("no answer to initialize") {
        return STDIO_HANDSHAKE_TIMEOUT;
    }
    // A stdio server that wrote on stderr and closed its end before answering.
    if lower.contains("initialize failed") && lower.contains("; stderr:") {
        return STDIO_EXIT_BEFORE_INITIALIZE;
    }
    if lower.starts_with("the connection closed") || lower.contains("exited with") {
        return STDIO_EXIT_NONZERO;
    }
    if has(
        &lower,
        &[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no such host",
        ],
    ) {
        return HTTP_DNS_FAILED;
    }
    if has(
        &lower,
        &[
            "certificate",
            "tls handshake",
            "invalid peer certificate",
            "ssl",
        ],
    ) {
        return HTTP_TLS_FAILED;
    }
    if has(&lower, &["connection refused", "os error 111"]) {
        return HTTP_CONN_REFUSED;
    }
    if has(&lower, &[" 401", "unauthorized"]) {
        return HTTP_401;
    }
    if has(&lower, &[" 403", "forbidden"]) {
        return HTTP_403;
    }
    if has(&lower, &[" 404", "not found"]) {
        return HTTP_404;
    }
    if has(
        &lower,
        &[
            " 500",
            " 502",
            " 503",
            " 504",
            "internal server error",
            "bad gateway",
            "service unavailable",
        ],
    ) {
        return HTTP_5XX;
    }
    if lower.contains("initialize failed") {
        return if has(&lower, &["closed", "eof", "broken pipe"]) {
            STDIO_EXIT_BEFORE_INITIALIZE
        } else {
            STDIO_HANDSHAKE_INVALID
        };
    }
    UNKNOWN_UNCLASSIFIED
}

/// The stderr lines the upstream layer quoted in a failure (`…; stderr: a | b`), oldest first.
pub fn quoted_stderr(error: &str) -> Vec<String> {
    let Some((_, quoted)) = error.split_once("; stderr: ") else {
        return Vec::new();
    };
    // A Docker hint may follow the quote in parentheses; it is not stderr.
    let quoted = quoted.split(" (MCPX_").next().unwrap_or(quoted);
    quoted
        .split(" | ")
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The runtime a command comes with, and how to get it, for the well-known launchers.
pub fn runtime_of(command: &str) -> Option<(&'static str, &'static str)> {
    let program = command.rsplit('/').next().unwrap_or(command);
    match program {
        "npx" | "node" | "npm" => Some((
            "Node.js",
            "install Node.js (it brings npx): https://nodejs.org or your package manager (`apt install nodejs npm`)",
        )),
        "uvx" | "uv" => Some((
            "uv",
            "install uv (it brings uvx): `curl -LsSf https://astral.sh/uv/install.sh | sh` or `pipx install uv`",
        )),
        "python" | "python3" | "pip" | "pip3" | "pipx" => Some((
            "Python",
            "install Python 3 (`apt install python3`, or https://python.org)",
        )),
        "bunx" | "bun" => Some(("Bun", "install Bun: https://bun.sh")),
        "deno" => Some(("Deno", "install Deno: https://deno.com")),
        "docker" => Some((
            "Docker",
            "install Docker: https://docs.docker.com/get-docker/",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_well_formed_and_explained() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CATALOG {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert!(
                c.code.starts_with(&format!("MCPX_{}_", c.domain)),
                "{}",
                c.code
            );
            assert!(
                c.code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            );
            assert!(!c.cause.is_empty() && !c.fix.is_empty(), "{}", c.code);
        }
        assert_eq!(
            info(STDIO_SPAWN_ENOENT).map(|c| c.severity),
            Some(Severity::Error)
        );
    }

    #[test]
    fn the_upstream_layers_messages_get_their_codes() {
        let cases = [
            (
                r#"command "nope" was not found on PATH (/usr/bin:/bin); install it or give its full path"#,
                STDIO_SPAWN_ENOENT,
            ),
            (
                "cannot start /x/y: No such file or directory (os error 2)",
                STDIO_SPAWN_ENOENT,
            ),
            ("/tmp/x is not an executable file", STDIO_SPAWN_EACCES),
            (
                "cannot start /tmp/x: Permission denied (os error 13)",
                STDIO_SPAWN_EACCES,
            ),
            (
                "working_dir /nope does not exist or is not a directory",
                STDIO_WORKING_DIR,
            ),
            (
                "env.TOKEN: ${env:TOKEN} is not set; set it before starting mcpproxy or remove the reference",
                CONFIG_MISSING_SECRET,
            ),
            (
                r#"env.K: secret "k" (${keyring:k}) is not in the keyring; set it with `mcpproxy secrets set k`"#,
                CONFIG_MISSING_SECRET,
            ),
            (
                "no answer to initialize within 2s (init_timeout); stderr: loading",
                STDIO_HANDSHAKE_TIMEOUT,
            ),
            (
                "initialize failed: connection closed: initialize response; stderr: boom | bad key",
                STDIO_EXIT_BEFORE_INITIALIZE,
            ),
            (
                "initialize failed: expected initialize result, got garbage",
                STDIO_HANDSHAKE_INVALID,
            ),
            ("the connection closed; stderr: panic", STDIO_EXIT_NONZERO),
            (
                "the server needs a login: Auth required",
                OAUTH_LOGIN_REQUIRED,
            ),
            ("token refresh failed: invalid_grant", OAUTH_REFRESH_EXPIRED),
            ("token refresh refused: 403 Forbidden", OAUTH_REFRESH_403),
            (
                "refreshing the token failed: Token refresh rejected: bad; log in again",
                OAUTH_REFRESH_403,
            ),
            (
                "login required (401): run `mcpproxy auth login -s s`",
                OAUTH_LOGIN_REQUIRED,
            ),
            ("token rejected: the JWT is not yet valid", OAUTH_CLOCK_SKEW),
            (
                "MCPX_DOCKER_EXEC_NOT_FOUND: the image x lacks it",
                DOCKER_EXEC_NOT_FOUND,
            ),
            (
                "docker isolation unavailable (MCPX_DOCKER_DAEMON_DOWN)",
                DOCKER_DAEMON_DOWN,
            ),
            (
                "initialize failed: error sending request: dns error: failed to lookup address",
                HTTP_DNS_FAILED,
            ),
            (
                "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)",
                HTTP_CONN_REFUSED,
            ),
            ("something odd", UNKNOWN_UNCLASSIFIED),
        ];
        for (text, code) in cases {
            assert_eq!(classify(text), code, "{text}");
        }
    }

    #[test]
    fn quoted_stderr_is_split_into_lines() {
        assert_eq!(
            quoted_stderr(
                "initialize failed: closed; stderr: first | second (MCPX_DOCKER_X: hint)"
            ),
            ["first", "second"]
        );
        assert!(quoted_stderr("no quote").is_empty());
    }

    #[test]
    fn launchers_name_their_runtime() {
        assert_eq!(runtime_of("npx").map(|r| r.0), Some("Node.js"));
        assert_eq!(runtime_of("/usr/local/bin/uvx").map(|r| r.0), Some("uv"));
        assert_eq!(runtime_of("my-server"), None);
    }
}
