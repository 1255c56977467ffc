//! The activity log: one record for every tool call, policy decision and change, so that a
//! person can always answer "what did the agent do, and what did the proxy let it do".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// The longest response kept in a record, in bytes.
pub const MAX_RECORDED_RESPONSE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    ToolCall,
    PolicyDecision,
    QuarantineChange,
    ServerChange,
    SystemStart,
    SystemStop,
    ConfigChange,
    ToolQuarantineChange,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 8] = [
        Self::ToolCall,
        Self::PolicyDecision,
        Self::QuarantineChange,
        Self::ServerChange,
        Self::SystemStart,
        Self::SystemStop,
        Self::ConfigChange,
        Self::ToolQuarantineChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolCall => "tool_call",
            Self::PolicyDecision => "policy_decision",
            Self::QuarantineChange => "quarantine_change",
            Self::ServerChange => "server_change",
            Self::SystemStart => "system_start",
            Self::SystemStop => "system_stop",
            Self::ConfigChange => "config_change",
            Self::ToolQuarantineChange => "tool_quarantine_change",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Which interface a change or call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mcp,
    Cli,
    Api,
    Internal,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mcp => "mcp",
            Self::Cli => "cli",
            Self::Api => "api",
            Self::Internal => "internal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Mcp, Self::Cli, Self::Api, Self::Internal]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Success,
    Error,
    Blocked,
    Rejected,
}

impl ActivityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Blocked => "blocked",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Success, Self::Error, Self::Blocked, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One entry of the activity log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityRecord {
    /// A ULID: unique, and sorting by id sorts by time.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default)]
    pub response_truncated: bool,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    pub timestamp: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
}

impl ActivityRecord {
    /// Keeps the response, cut to [`MAX_RECORDED_RESPONSE`] bytes on a character boundary.
    pub fn set_response(&mut self, mut response: String) {
        let kept = truncate_utf8(&response, MAX_RECORDED_RESPONSE).0.len();
        self.response_truncated = kept < response.len();
        response.truncate(kept);
        self.response = Some(response);
    }
}

/// `value` as JSON text for a record, written only as far as a record keeps it (a little
/// over [`MAX_RECORDED_RESPONSE`], so the cut is still seen): a large answer is not
/// serialised whole a second time just to be cut.
pub fn recorded_json(value: &Value) -> String {
    /// Takes bytes until it has enough, then refuses the rest (ending the serialisation).
    struct Bounded(Vec<u8>);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = (MAX_RECORDED_RESPONSE + 4).saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("enough for the record"));
            }
            let n = buf.len().min(room);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded(Vec::new());
    // The only error is the writer's "enough": what was written is kept.
    let _ = serde_json::to_writer(&mut out, value);
    match String::from_utf8(out.0) {
        Ok(text) => text,
        // Cut inside a character: keep the whole characters before the cut.
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary,
/// and whether anything was cut.
pub fn truncate_utf8(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_answer_is_recorded_cut_and_marked_a_small_one_whole() {
        let small = serde_json::json!({"content": [{"type": "text", "text": "héllo"}]});
        assert_eq!(recorded_json(&small), small.to_string());
        let big = serde_json::json!({"text": "é".repeat(MAX_RECORDED_RESPONSE)});
        let text = recorded_json(&big);
        assert!(text.len() <= MAX_RECORDED_RESPONSE + 4 && text.len() > MAX_RECORDED_RESPONSE);
        assert!(big.to_string().starts_with(&text));
        let mut record = ActivityRecord {
            id: String::new(),
            kind: ActivityKind::ToolCall,
            source: crate::Source::Mcp,
            server_name: None,
            tool_name: None,
            arguments: None,
            response: None,
            response_truncated: false,
            status: ActivityStatus::Success,
            error_message: None,
            duration_ms: None,
            timestamp: Timestamp::from_millis(0),
            session_id: None,
            request_id: None,
            metadata: Map::new(),
        };
        record.set_response(text);
        assert!(record.response_truncated);
        assert!(record.response.as_ref().unwrap().len() <= MAX_RECORDED_RESPONSE);
        record.set_response(small.to_string());
        assert!(!record.response_truncated);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_utf8("héllo", 2), ("h", true));
        assert_eq!(truncate_utf8("héllo", 3), ("hé", true));
        assert_eq!(truncate_utf8("hi", 10), ("hi", false));
    }

    #[test]
    fn names_round_trip() {
        for k in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
        }
        assert_eq!(Source::parse("api"), Some(Source::Api));
        assert_eq!(
            ActivityStatus::parse("blocked"),
            Some(ActivityStatus::Blocked)
        );
    }
}
