//! `retrieve_tools` and `describe_tool`: how agents find tools among thousands without
//! loading every schema.

use std::sync::Arc;

use mcpproxy_domain::limits::bound_query;
use mcpproxy_domain::{ApprovalState, Caller, Purpose, Refusal, ToolAnnotations, ToolId};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::catalog::{CatalogError, ToolCatalog};

/// The most results one query may ask for.
pub const MAX_LIMIT: u32 = 100;
/// The most tools `describe_tool` takes at once.
pub const MAX_DESCRIBE: usize = 5;
/// A best match that covers less of the query than this (its rarity-weighted share of the
/// query's concepts, see [`crate::ports::SearchHit::coverage`]) is flagged
/// `low_confidence`: most likely no tool does what was asked. Calibrated on the no-answer
/// queries of the dev set's tuning part (`scripts/search-quality`, BENCHMARKS.md).
pub const LOW_CONFIDENCE_BELOW: f32 = 0.45;

/// Whether a best match with this coverage (none: nothing matched) is too weak to trust.
pub fn is_low_confidence(best: Option<f32>) -> bool {
    best.is_none_or(|c| c < LOW_CONFIDENCE_BELOW)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetrieveRequest {
    pub query: String,
    /// Defaults to `tools_limit`.
    pub limit: Option<u32>,
    /// Also return tools the config hides (`enabled_tools` / `disabled_tools`) or a person
    /// switched off, marked.
    pub include_disabled: bool,
    pub read_only_only: bool,
    pub exclude_destructive: bool,
    pub exclude_open_world: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetrieveError {
    #[error("query is required: describe in plain words what the tool should do")]
    EmptyQuery,
    #[error("limit must be between 1 and {MAX_LIMIT}, got {0}")]
    BadLimit(u32),
    #[error("tool_ids must hold between 1 and {MAX_DESCRIBE} ids, got {0}")]
    BadIdCount(usize),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// One tool in a `retrieve_tools` answer. Its schema is the catalog's rendering, sent as it
/// is: an answer is written without walking a schema again.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrievedTool {
    /// `server:tool`, the name to pass to the `call_tool_*` tools.
    pub name: String,
    pub server: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<RawValue>,
    #[serde(skip_serializing_if = "ToolAnnotations::is_empty")]
    pub annotations: ToolAnnotations,
    pub score: f32,
    pub call_with: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrieveResult {
    pub tools: Vec<RetrievedTool>,
    /// The query as searched (cut when it was too long).
    pub query: String,
    pub total: usize,
    /// How much of the query the best match covers, from 0 to 1 (rarer words count more).
    pub confidence: f32,
    /// The best match is weak: probably no tool here does this. Ask the user, or search
    /// again in other words, rather than call a tool that does not fit.
    pub low_confidence: bool,
    /// Said when the query was cut to what one search may cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// One tool in a `describe_tool` answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolDefinition {
    pub name: String,
    pub server: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<RawValue>,
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(skip_serializing_if = "ToolAnnotations::is_empty")]
    pub annotations: ToolAnnotations,
    pub call_with: &'static str,
}

/// Go's fixed `describe_tool` error codes: a script switches on these.
pub mod describe_codes {
    pub const NOT_FOUND: &str = "not_found";
    pub const QUARANTINED: &str = "quarantined";
    pub const PENDING_APPROVAL: &str = "pending_approval";
    pub const CHANGED: &str = "changed";
    pub const DISABLED: &str = "disabled";
}

/// Go's text for an id that cannot be described because it does not exist — or is outside
/// the caller's scope, which must read the same (the answer never confirms that a tool the
/// caller may not see exists).
const NOT_FOUND_REMEDIATION: &str = "Tool not found or no longer available; re-run retrieve_tools.";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DescribeError {
    pub id: String,
    /// Go's fixed code: `not_found`, `quarantined`, `pending_approval`, `changed` or
    /// `disabled`.
    pub error: &'static str,
    /// The admission rule's reason code, when it refused (never one that tells an
    /// out-of-scope tool from a missing one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// What stands in the way, in words.
    pub message: String,
    pub remediation: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DescribeResult {
    pub definitions: Vec<ToolDefinition>,
    pub errors: Vec<DescribeError>,
}

/// Why `describe_tool` cannot give a tool: Go's code, our words, and what to do.
fn describe_refusal(id: &ToolId, refusal: &Refusal) -> (&'static str, String, &'static str) {
    use describe_codes::*;
    let server = id.server();
    match refusal {
        Refusal::UnknownServer | Refusal::UnknownTool | Refusal::OutOfScope { .. } => {
            (NOT_FOUND, "no such tool".into(), NOT_FOUND_REMEDIATION)
        }
        Refusal::ServerQuarantined => (
            QUARANTINED,
            format!("server {server} is quarantined"),
            "a person must review and approve the server first",
        ),
        Refusal::NotApproved(ApprovalState::Changed) => (
            CHANGED,
            "the tool changed since it was approved".into(),
            "a person must review the change and approve it (quarantine_security approve_tool)",
        ),
        Refusal::NotApproved(_) => (
            PENDING_APPROVAL,
            "the tool is waiting for approval".into(),
            "a person must approve it (quarantine_security approve_tool)",
        ),
        Refusal::ServerDisabled => (
            DISABLED,
            format!("server {server} is disabled"),
            "a person must enable the server first",
        ),
        Refusal::ToolDisabled => (
            DISABLED,
            "the tool is disabled by the server's enabled_tools/disabled_tools".into(),
            "a person must allow it in the server's config",
        ),
        Refusal::ToolSwitchedOff => (
            DISABLED,
            "the tool was switched off by a person".into(),
            "a person must switch it on again (mcpproxy tools enable)",
        ),
        Refusal::TierTooLow { origin, needed, .. } => (
            DISABLED,
            format!("{origin} does not allow {needed}"),
            "use a tool this caller's permissions allow",
        ),
        Refusal::WrongVariant { .. } | Refusal::Unavailable(_) => {
            (DISABLED, format!("{refusal:?}"), "retry later")
        }
    }
}

/// The admission code shown beside Go's: none where it would tell "out of scope" from "does
/// not exist".
fn shown_code(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::OutOfScope { .. } => Refusal::UnknownTool.code(),
        other => other.code(),
    }
}

impl ToolCatalog {
    /// Finds the tools `caller` may use that best match `request.query`, best first (then by
    /// name).
    pub async fn retrieve(
        &self,
        request: &RetrieveRequest,
        caller: &Caller,
    ) -> Result<RetrieveResult, RetrieveError> {
        // One query may not cost the memory and time of thousands.
        let bounded = bound_query(request.query.trim());
        let query = bounded.text.as_str();
        if query.is_empty() {
            return Err(RetrieveError::EmptyQuery);
        }
        let limit = request.limit.unwrap_or(self.view().settings().tools_limit);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(RetrieveError::BadLimit(limit));
        }
        // Filters drop some hits; ask the index for more than will be shown.
        let wanted = limit as usize;
        let hits = self
            .index()
            .search(query, wanted * 4 + 20)
            .await
            .map_err(CatalogError::from)?;
        // The view after the search: the index may lag a change by a moment, the rule never.
        let view = self.view();
        let mut tools = Vec::new();
        let mut coverage: Vec<f32> = Vec::new();
        for hit in hits {
            let Ok(id) = ToolId::new(hit.server, hit.tool) else {
                continue;
            };
            let (Some(entry), verdict) = view.admit(caller, Purpose::Discover, &id, None) else {
                continue;
            };
            let hidden = match verdict {
                Ok(_) => false,
                Err(refusal) if refusal.is_tool_filter() => true,
                Err(_) => continue,
            };
            let a = &entry.tool.annotations;
            if (hidden && !request.include_disabled)
                || (request.read_only_only && a.read_only_hint != Some(true))
                || (request.exclude_destructive && a.may_be_destructive())
                || (request.exclude_open_world && a.may_be_open_world())
            {
                continue;
            }
            tools.push(RetrievedTool {
                server: id.server().to_string(),
                name: id.to_string(),
                description: entry.tool.description.clone(),
                input_schema: entry.schema_json(),
                annotations: a.clone(),
                score: hit.score,
                call_with: a.call_with().tool_name(),
                disabled: hidden,
            });
            coverage.push(hit.coverage);
        }
        // The best shown match decides the confidence (the hits come best first).
        let best = tools
            .iter()
            .zip(&coverage)
            .max_by(|a, b| a.0.score.total_cmp(&b.0.score))
            .map(|(_, c)| *c);
        tools.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.name.cmp(&b.name))
        });
        tools.truncate(wanted);
        Ok(RetrieveResult {
            total: tools.len(),
            tools,
            query: query.to_owned(),
            confidence: best.unwrap_or(0.0),
            low_confidence: is_low_confidence(best),
            notice: bounded.cut,
        })
    }

    /// The full definitions of up to five tools `caller` may use, and why the others could
    /// not be given.
    pub fn describe(
        &self,
        ids: &[String],
        caller: &Caller,
    ) -> Result<DescribeResult, RetrieveError> {
        if ids.is_empty() || ids.len() > MAX_DESCRIBE {
            return Err(RetrieveError::BadIdCount(ids.len()));
        }
        let view = self.view();
        let mut result = DescribeResult {
            definitions: Vec::new(),
            errors: Vec::new(),
        };
        for raw in ids {
            let Ok(id) = ToolId::parse(raw) else {
                result.errors.push(DescribeError {
                    id: raw.clone(),
                    error: describe_codes::NOT_FOUND,
                    code: None,
                    message: "not a server:tool id".into(),
                    remediation: "use a name from retrieve_tools, like github:create_issue".into(),
                });
                continue;
            };
            match view.admit(caller, Purpose::Discover, &id, None) {
                (Some(entry), Ok(_)) => result.definitions.push(ToolDefinition {
                    name: id.to_string(),
                    server: id.server().to_string(),
                    description: entry.tool.description.clone(),
                    input_schema: entry.schema_json(),
                    output_schema: entry.tool.output_schema.clone(),
                    annotations: entry.tool.annotations.clone(),
                    call_with: entry.tool.annotations.call_with().tool_name(),
                }),
                (_, verdict) => {
                    let refusal = verdict.err().unwrap_or(Refusal::UnknownTool);
                    let (error, message, remediation) = describe_refusal(&id, &refusal);
                    result.errors.push(DescribeError {
                        id: raw.clone(),
                        error,
                        code: Some(shown_code(&refusal)),
                        message,
                        remediation: remediation.to_owned(),
                    });
                }
            }
        }
        Ok(result)
    }
}
