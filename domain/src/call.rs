//! The three call variants agents use (`call_tool_read`, `call_tool_write`,
//! `call_tool_destructive`) and the rule that checks a variant against a tool's annotations.
//!
//! Splitting calls by intent lets a client auto-approve reads while asking before destructive
//! calls. The proxy holds agents to that: a read or write call on a tool the server marks
//! destructive is refused (in strict mode) with a message naming the variant to use.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::tool::ToolAnnotations;

/// Which of the three call tools an agent used, or should use. The order is the permission
/// tier: `Read < Write < Destructive` (a scope that allows `Write` allows `Read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallVariant {
    Read,
    Write,
    Destructive,
}

impl CallVariant {
    pub const ALL: [CallVariant; 3] = [Self::Read, Self::Write, Self::Destructive];

    /// The MCP tool name of this variant.
    pub fn tool_name(self) -> &'static str {
        match self {
            Self::Read => "call_tool_read",
            Self::Write => "call_tool_write",
            Self::Destructive => "call_tool_destructive",
        }
    }

    pub fn from_tool_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.tool_name() == name)
    }

    /// The operation type recorded in the activity log: `read`, `write` or `destructive`.
    pub fn operation(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Destructive => "destructive",
        }
    }

    /// `call_with`: `destructiveHint: true` ⇒ destructive; `readOnlyHint: false` ⇒ write;
    /// anything else ⇒ read.
    pub fn for_annotations(a: &ToolAnnotations) -> Self {
        if a.destructive_hint == Some(true) {
            Self::Destructive
        } else if a.read_only_hint == Some(false) {
            Self::Write
        } else {
            Self::Read
        }
    }

    /// What the annotations say about calling the tool with this variant.
    ///
    /// Only an explicit `destructiveHint: true` refuses a read or write call (in strict mode;
    /// otherwise it warns); a tool without annotations is trusted to the agent's choice. A
    /// write call on a read-only tool is allowed with a warning.
    pub fn intent(self, annotations: &ToolAnnotations, strict: bool) -> Intent {
        let destructive = annotations.destructive_hint == Some(true);
        match self {
            Self::Read | Self::Write if destructive && strict => Intent::Refused,
            Self::Read | Self::Write if destructive => Intent::WarnDestructive,
            Self::Write if annotations.read_only_hint == Some(true) => Intent::WarnReadOnly,
            _ => Intent::Allowed,
        }
    }
}

/// The verdict of [`CallVariant::intent`], before any message is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Allowed,
    /// A read or write call on a destructive tool, in strict mode.
    Refused,
    /// The same, outside strict mode: allowed, with a warning.
    WarnDestructive,
    /// A write call on a read-only tool: allowed, with a warning.
    WarnReadOnly,
}

impl fmt::Display for CallVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tool_name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    #[error(
        "Tool '{tool}' is marked destructive by its server. Use call_tool_destructive instead of {used}."
    )]
    DestructiveTool { tool: String, used: CallVariant },
    #[error("intent_reason is {0} characters long; keep it to 1000 characters or fewer")]
    ReasonTooLong(usize),
    #[error(
        "intent_data_sensitivity {0:?} is not one of public, internal, private, unknown; use one of those"
    )]
    BadSensitivity(String),
}

/// How sensitive the data of a call is, as the agent declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSensitivity {
    Public,
    Internal,
    Private,
    Unknown,
}

impl DataSensitivity {
    pub fn parse(raw: &str) -> Result<Self, IntentError> {
        match raw {
            "public" => Ok(Self::Public),
            "internal" => Ok(Self::Internal),
            "private" => Ok(Self::Private),
            "unknown" => Ok(Self::Unknown),
            other => Err(IntentError::BadSensitivity(other.to_owned())),
        }
    }
}

/// The longest `intent_reason` accepted, in characters.
pub const MAX_INTENT_REASON: usize = 1000;

pub fn check_reason(reason: &str) -> Result<(), IntentError> {
    let len = reason.chars().count();
    if len > MAX_INTENT_REASON {
        return Err(IntentError::ReasonTooLong(len));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(read_only: Option<bool>, destructive: Option<bool>) -> ToolAnnotations {
        ToolAnnotations {
            read_only_hint: read_only,
            destructive_hint: destructive,
            ..Default::default()
        }
    }

    #[test]
    fn call_with_follows_annotations() {
        use CallVariant::*;
        assert_eq!(CallVariant::for_annotations(&ann(None, None)), Read);
        assert_eq!(CallVariant::for_annotations(&ann(Some(true), None)), Read);
        assert_eq!(CallVariant::for_annotations(&ann(Some(false), None)), Write);
        assert_eq!(
            CallVariant::for_annotations(&ann(Some(false), Some(true))),
            Destructive
        );
        assert_eq!(
            CallVariant::for_annotations(&ann(None, Some(true))),
            Destructive
        );
        assert_eq!(
            CallVariant::for_annotations(&ann(Some(false), Some(false))),
            Write
        );
    }

    #[test]
    fn strict_mode_refuses_read_and_write_on_destructive_tools() {
        for v in [CallVariant::Read, CallVariant::Write] {
            assert_eq!(v.intent(&ann(None, Some(true)), true), Intent::Refused);
            assert_eq!(
                v.intent(&ann(None, Some(true)), false),
                Intent::WarnDestructive,
                "lax mode warns instead"
            );
        }
        let msg = IntentError::DestructiveTool {
            tool: "gh:delete_repo".into(),
            used: CallVariant::Read,
        }
        .to_string();
        assert!(msg.contains("call_tool_destructive"), "{msg}");
        assert!(msg.contains("call_tool_read"), "{msg}");
    }

    #[test]
    fn destructive_variant_is_always_allowed_and_unannotated_tools_trust_the_agent() {
        for a in [
            ann(None, None),
            ann(Some(true), Some(true)),
            ann(Some(false), None),
        ] {
            assert_eq!(CallVariant::Destructive.intent(&a, true), Intent::Allowed);
        }
        assert_eq!(
            CallVariant::Read.intent(&ann(None, None), true),
            Intent::Allowed
        );
    }

    #[test]
    fn write_on_read_only_warns() {
        assert_eq!(
            CallVariant::Write.intent(&ann(Some(true), None), true),
            Intent::WarnReadOnly
        );
    }

    #[test]
    fn intent_fields_are_bounded() {
        assert!(check_reason(&"x".repeat(1000)).is_ok());
        assert_eq!(
            check_reason(&"é".repeat(1001)),
            Err(IntentError::ReasonTooLong(1001))
        );
        assert_eq!(
            DataSensitivity::parse("private"),
            Ok(DataSensitivity::Private)
        );
        assert!(DataSensitivity::parse("secret").is_err());
    }

    #[test]
    fn variant_names_round_trip() {
        for v in CallVariant::ALL {
            assert_eq!(CallVariant::from_tool_name(v.tool_name()), Some(v));
        }
        assert_eq!(CallVariant::from_tool_name("call_tool"), None);
    }
}
