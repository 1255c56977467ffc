//! Validated names: a server's name and the `server:tool` id agents use to call a tool.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name was refused. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("server name is empty: give the server a name")]
    EmptyServer,
    #[error(
        "server name {0:?} contains ':', which separates server and tool in ids like 'github:create_issue'; choose a name without ':'"
    )]
    ServerHasColon(String),
    #[error("server name {0:?} has leading or trailing whitespace; remove it")]
    ServerHasOuterSpace(String),
    #[error("server name {0:?} contains a control character; use printable characters only")]
    ServerHasControl(String),
    #[error("server name is longer than {max} characters; choose a shorter name", max = ServerName::MAX_LEN)]
    ServerTooLong,
    #[error("tool id {0:?} is not of the form 'server:tool' (for example 'github:create_issue')")]
    ToolIdShape(String),
    #[error("server name {0:?} reads as a directory; choose a name with letters or digits")]
    ServerIsDots(String),
    #[error(
        "server name {0:?} holds '__' or ends in '_', which would make its tools' names (server__tool) ambiguous with another server's; choose a name without them"
    )]
    ServerBreaksDirectNames(String),
}

/// The name of an upstream server as written in `mcpServers[].name`.
///
/// It is the key of everything the proxy keeps about a server, and the prefix of its tool ids,
/// so it may not contain `:` (the separator of `server:tool`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "github"))]
pub struct ServerName(String);

impl ServerName {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: impl Into<String>) -> Result<Self, NameError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(NameError::EmptyServer);
        }
        if raw.contains(':') {
            return Err(NameError::ServerHasColon(raw));
        }
        if raw.trim() != raw {
            return Err(NameError::ServerHasOuterSpace(raw));
        }
        if raw.chars().any(char::is_control) {
            return Err(NameError::ServerHasControl(raw));
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(NameError::ServerTooLong);
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `server__tool` names of this server read back unambiguously (see
    /// [`direct_name`]).
    pub fn fits_direct_names(&self) -> bool {
        !self.0.contains(DIRECT_SEPARATOR) && !self.0.ends_with('_')
    }

    /// Why a *new* server may not take this name, beyond [`ServerName::parse`] (names in
    /// existing config files stay loadable): `.` and `..`, which read as directories, and
    /// names that would make `server__tool` ambiguous.
    pub fn refusal_for_new(&self) -> Option<NameError> {
        if self.0 == "." || self.0 == ".." {
            return Some(NameError::ServerIsDots(self.0.clone()));
        }
        if !self.fits_direct_names() {
            return Some(NameError::ServerBreaksDirectNames(self.0.clone()));
        }
        None
    }

    /// A form of the name that is safe as part of a file name (`server-<name>.log`), and
    /// different for every name, so no two servers share a log: ASCII letters, digits, `-`,
    /// `_` and `.` stay, every other byte becomes `%XX` (`a b` → `a%20b`, `a/b` → `a%2Fb`).
    /// A name that would make a file name too long keeps its first part and ends in `~` and
    /// a hash of the whole name (`~` is never left as it is, so this cannot meet a short
    /// name's form).
    pub fn sanitized(&self) -> String {
        /// Well under the 255 bytes of a file name, with room for `server-` and `.log.N`.
        const MAX: usize = 160;
        let mut out = String::with_capacity(self.0.len());
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        if out.len() <= MAX {
            return out;
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let mut cut = MAX - 33;
        // Never end inside a %XX escape.
        while out.as_bytes()[..cut]
            .iter()
            .rev()
            .take(2)
            .any(|b| *b == b'%')
        {
            cut -= 1;
        }
        format!("{}~{}", &out[..cut], hex::encode(&digest[..16]))
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lets maps keyed by server name be searched with a `&str` (hashing and equality are the
/// string's, so this is sound).
impl std::borrow::Borrow<str> for ServerName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ServerName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for ServerName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ServerName::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// `server:tool`, the id under which agents find and call a tool. It is split at the first
/// `:`, so a tool name may itself contain `:` (`ns:erase` on server `a` is `a:ns:erase`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ToolId {
    server: ServerName,
    tool: String,
}

impl ToolId {
    pub fn new(server: ServerName, tool: impl Into<String>) -> Result<Self, NameError> {
        let tool = tool.into();
        if tool.is_empty() {
            return Err(NameError::ToolIdShape(format!("{server}:")));
        }
        Ok(Self { server, tool })
    }

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let (server, tool) = raw
            .split_once(':')
            .ok_or_else(|| NameError::ToolIdShape(raw.to_owned()))?;
        if server.is_empty() || tool.is_empty() {
            return Err(NameError::ToolIdShape(raw.to_owned()));
        }
        let server =
            ServerName::parse(server).map_err(|_| NameError::ToolIdShape(raw.to_owned()))?;
        Ok(Self {
            server,
            tool: tool.to_owned(),
        })
    }

    pub fn server(&self) -> &ServerName {
        &self.server
    }

    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The name of this tool on the direct-mode endpoints: `server__tool`, or `None` when
    /// the server's name holds `__` (see [`direct_name`]).
    pub fn direct_name(&self) -> Option<String> {
        direct_name(&self.server, &self.tool)
    }

    /// The tool a direct-mode name stands for (see [`split_direct`]).
    pub fn from_direct(name: &str) -> Option<Self> {
        let (server, tool) = split_direct(name)?;
        Self::new(server, tool).ok()
    }
}

/// The separator of direct-mode names: `github__create_issue`, prompts alike.
pub const DIRECT_SEPARATOR: &str = "__";

/// The name of a server's tool (or prompt) where every server's tools share one list:
/// `server__item`, as the Go MCPProxy names them.
///
/// The mapping must be injective, or one server could shadow another's tool: server `a`
/// with tool `b__echo` and server `a__b` with tool `echo` would both be `a__b__echo`. Names
/// are split at the *first* `__` (so tool names may hold `__`), which leaves no room for a
/// server name holding `__` or ending in `_` (`a_` + `__` + `x` reads as `a` and `_x`): such
/// a server gets no direct name (`None`) and is reached through `server:tool` ids or its
/// own endpoint instead. New servers may not be named so.
pub fn direct_name(server: &ServerName, item: &str) -> Option<String> {
    if !server.fits_direct_names() || item.is_empty() {
        return None;
    }
    Some(format!("{server}{DIRECT_SEPARATOR}{item}"))
}

/// The server and the item a direct-mode name stands for: split at the first `__`.
pub fn split_direct(name: &str) -> Option<(ServerName, &str)> {
    let (server, item) = name.split_once(DIRECT_SEPARATOR)?;
    if item.is_empty() {
        return None;
    }
    Some((ServerName::parse(server).ok()?, item))
}

impl fmt::Display for ToolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.server, self.tool)
    }
}

impl Serialize for ToolId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_refuse_colon_and_blank() {
        assert!(ServerName::parse("github").is_ok());
        assert!(ServerName::parse("my server_2.x").is_ok());
        assert_eq!(ServerName::parse(""), Err(NameError::EmptyServer));
        assert!(matches!(
            ServerName::parse("a:b"),
            Err(NameError::ServerHasColon(_))
        ));
        assert!(matches!(
            ServerName::parse(" a"),
            Err(NameError::ServerHasOuterSpace(_))
        ));
        assert!(matches!(
            ServerName::parse("a\nb"),
            Err(NameError::ServerHasControl(_))
        ));
        assert_eq!(
            ServerName::parse("x".repeat(257)),
            Err(NameError::ServerTooLong)
        );
    }

    #[test]
    fn colon_error_tells_what_to_do() {
        let msg = ServerName::parse("a:b").unwrap_err().to_string();
        assert!(msg.contains("choose a name without ':'"), "{msg}");
    }

    #[test]
    fn tool_id_splits_at_first_colon() {
        let id = ToolId::parse("a:ns:erase").unwrap();
        assert_eq!(id.server().as_str(), "a");
        assert_eq!(id.tool(), "ns:erase");
        assert_eq!(id.to_string(), "a:ns:erase");
        assert_eq!(id.direct_name().as_deref(), Some("a__ns:erase"));
    }

    #[test]
    fn tool_id_needs_both_halves() {
        for bad in ["", "echo", ":echo", "everything:", " x:echo"] {
            assert!(ToolId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn direct_names_never_shadow_another_servers_tool() {
        let a = ToolId::new(ServerName::parse("a").unwrap(), "b__echo").unwrap();
        let ab = ToolId::new(ServerName::parse("a__b").unwrap(), "echo").unwrap();
        assert_eq!(a.direct_name().as_deref(), Some("a__b__echo"));
        assert_eq!(ab.direct_name(), None, "a__b cannot be told apart from a");
        let trailing = ToolId::new(ServerName::parse("a_").unwrap(), "x").unwrap();
        assert_eq!(
            trailing.direct_name(),
            None,
            "a_ + __ + x reads as a and _x"
        );
        assert_eq!(ToolId::from_direct("a__b__echo"), Some(a));
        for bad in ["", "echo", "__echo", "a__", "a:b__echo"] {
            assert_eq!(ToolId::from_direct(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Every name given out leads back to its own tool, so no two tools share a name.
        #[test]
        fn direct_names_are_injective(server in "[a-z_]{1,6}", tool in "[a-z_:]{1,8}") {
            let id = ToolId::new(ServerName::parse(server).unwrap(), tool).unwrap();
            if let Some(name) = id.direct_name() {
                proptest::prop_assert_eq!(ToolId::from_direct(&name), Some(id));
            }
        }
    }

    #[test]
    fn new_servers_may_not_be_dots_or_break_direct_names() {
        for bad in [".", "..", "a__b", "a_"] {
            let name = ServerName::parse(bad).unwrap();
            assert!(name.refusal_for_new().is_some(), "{bad:?}");
        }
        for ok in ["a", "a_b", "a.b", "_a", "..a"] {
            assert_eq!(
                ServerName::parse(ok).unwrap().refusal_for_new(),
                None,
                "{ok:?}"
            );
        }
    }

    #[test]
    fn sanitized_names_are_file_safe() {
        let n = ServerName::parse("my server/../x").unwrap();
        assert_eq!(n.sanitized(), "my%20server%2F..%2Fx");
        assert_eq!(
            ServerName::parse("gh-1_x.y").unwrap().sanitized(),
            "gh-1_x.y"
        );
    }

    #[test]
    fn log_names_differ_for_every_server() {
        let names = ["a b", "a/b", "a\\b", "a_b", "a%20b", "é", "e\u{301}"];
        let files: std::collections::HashSet<String> = names
            .iter()
            .map(|n| ServerName::parse(*n).unwrap().sanitized())
            .collect();
        assert_eq!(files.len(), names.len(), "{files:?}");
        let long = ServerName::parse("ü".repeat(200)).unwrap().sanitized();
        let longer = ServerName::parse(format!("{}x", "ü".repeat(200)))
            .unwrap()
            .sanitized();
        assert!(long.len() <= 160 && long != longer, "{long}");
        assert!(!long.contains('/'));
    }

    proptest::proptest! {
        #[test]
        fn sanitized_is_injective_and_file_safe(a in "\\PC{1,80}", b in "\\PC{1,80}") {
            let (Ok(x), Ok(y)) = (ServerName::parse(a.clone()), ServerName::parse(b.clone())) else {
                return Ok(());
            };
            let (sx, sy) = (x.sanitized(), y.sanitized());
            proptest::prop_assert!(sx.bytes().all(|c| c.is_ascii_graphic() && c != b'/'));
            proptest::prop_assert_eq!(sx == sy, a == b);
        }
    }
}
