//! A tool as an upstream server declares it, and its behaviour hints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call::CallVariant;
use crate::fingerprint::Fingerprint;

/// MCP tool annotations: hints a server gives about what a tool does. They are hints, not
/// guarantees, which is why the fingerprint ignores them and intent checks only refuse on an
/// explicit `destructiveHint: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// A tool of an upstream server. Schemas are kept as the server sent them: a proxy never
/// rewrites a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "ToolAnnotations::is_empty")]
    pub annotations: ToolAnnotations,
}

impl Tool {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(
            &self.name,
            &self.description,
            &self.input_schema,
            self.output_schema.as_ref(),
        )
    }
}
