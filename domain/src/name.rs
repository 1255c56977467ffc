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

    /// A form of the name that is safe as part of a file name (`server-<name>.log`): every
    /// character other than ASCII letters, digits, `-`, `_` and `.` becomes `_`.
    pub fn sanitized(&self) -> String {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
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

    /// The name of this tool on the direct-mode endpoint: `server__tool`.
    pub fn direct_name(&self) -> String {
        format!("{}__{}", self.server, self.tool)
    }
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
        assert_eq!(id.direct_name(), "a__ns:erase");
    }

    #[test]
    fn tool_id_needs_both_halves() {
        for bad in ["", "echo", ":echo", "everything:", " x:echo"] {
            assert!(ToolId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sanitized_names_are_file_safe() {
        let n = ServerName::parse("my server/../x").unwrap();
        assert_eq!(n.sanitized(), "my_server_.._x");
    }
}
