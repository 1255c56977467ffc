//! A tool as an upstream server declares it, and its behaviour hints.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::call::CallVariant;
use crate::fingerprint::Fingerprint;

/// MCP tool annotations: hints a server gives about what a tool does. They are hints, not
/// guarantees, which is why the fingerprint ignores them and intent checks only refuse on an
/// explicit `destructiveHint: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The call variant an agent should use for a tool with these annotations.
    pub fn call_with(&self) -> CallVariant {
        CallVariant::for_annotations(self)
    }

    /// Whether a filter that keeps out destructive tools must keep this one out: a missing
    /// `destructiveHint` is the MCP default (`true`), unless the tool says it is read-only
    /// (a read-only tool changes nothing, so it destroys nothing). Only a tool that says
    /// `destructiveHint: false` or `readOnlyHint: true` passes.
    pub fn may_be_destructive(&self) -> bool {
        self.read_only_hint != Some(true) && self.destructive_hint != Some(false)
    }

    /// Whether a filter that keeps out open-world tools must keep this one out: a missing
    /// `openWorldHint` is the MCP default (`true`).
    pub fn may_be_open_world(&self) -> bool {
        self.open_world_hint != Some(false)
    }
}

/// A tool of an upstream server. Schemas, and every field this type does not name (icons,
/// `_meta`, ...), are kept as the server sent them: a proxy never rewrites a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Shared, not copied, by everything that keeps the tool (the connection, the catalog,
    /// the approval record): with thousands of tools the schemas are most of the memory.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "ToolAnnotations::is_empty")]
    pub annotations: ToolAnnotations,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extra: Map<String, Value>,
}

impl Tool {
    /// A tool with an object schema and nothing else; handy for tests and fixtures.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema: Arc::new(input_schema),
            output_schema: None,
            annotations: ToolAnnotations::default(),
            extra: Map::new(),
        }
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(
            &self.name,
            &self.description,
            &self.input_schema,
            self.output_schema.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_pass_through_untouched() {
        let wire = json!({
            "name": "echo",
            "description": "Echo",
            "inputSchema": {"type": "object", "properties": {"m": {"type": "string"}}},
            "annotations": {"readOnlyHint": true},
            "icons": [{"src": "data:image/png;base64,AA=="}],
            "_meta": {"anthropic/maxResultSizeChars": 5}
        });
        let tool: Tool = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(tool.annotations.read_only_hint, Some(true));
        assert_eq!(serde_json::to_value(&tool).unwrap(), wire);
    }

    #[test]
    fn missing_hints_are_the_mcp_defaults_for_the_safety_filters() {
        let none = ToolAnnotations::default();
        assert!(none.may_be_destructive() && none.may_be_open_world());
        let read_only = ToolAnnotations {
            read_only_hint: Some(true),
            ..ToolAnnotations::default()
        };
        assert!(!read_only.may_be_destructive());
        assert!(
            read_only.may_be_open_world(),
            "read-only says nothing of the world"
        );
        let safe = ToolAnnotations {
            destructive_hint: Some(false),
            open_world_hint: Some(false),
            ..ToolAnnotations::default()
        };
        assert!(!safe.may_be_destructive() && !safe.may_be_open_world());
    }

    #[test]
    fn extra_fields_do_not_change_the_fingerprint() {
        let a = Tool::new("t", "d", json!({"type": "object"}));
        let mut b = a.clone();
        b.extra.insert("_meta".into(), json!({"x": 1}));
        b.annotations.destructive_hint = Some(true);
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}
