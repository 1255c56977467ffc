//! What people see of the catalog: a server's tools for review, and every tool with whether
//! the caller may use it (the REST listing).

use std::sync::Arc;

use mcpproxy_domain::approval::ApprovalState;
use mcpproxy_domain::poison::{ToolScan, Verdict};
use mcpproxy_domain::{Caller, Purpose, Refusal};
use serde::Serialize;
use serde_json::value::RawValue;

use super::view::admit_entry;
use super::{CatalogError, ToolCatalog};

/// A tool as a reviewer sees it: its state and, for a changed tool, what was approved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolReview {
    pub name: String,
    pub state: ApprovalState,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    pub approved_input_schema: Option<Arc<serde_json::Value>>,
    pub fingerprint: String,
    /// What was approved, for a changed tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_fingerprint: Option<String>,
    /// The tool-poisoning scanner's verdict and findings on this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ToolScan>,
    /// Switched off by a person (`tools disable`, a block): hidden and refused.
    pub disabled: bool,
}

/// One tool in the list of every tool the proxy knows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolRow {
    /// `server:tool`.
    pub id: String,
    pub server: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "inputSchema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub input_schema: Arc<RawValue>,
    #[serde(skip_serializing_if = "mcpproxy_domain::ToolAnnotations::is_empty")]
    pub annotations: mcpproxy_domain::ToolAnnotations,
    pub approval: ApprovalState,
    /// The tool-poisoning scanner's verdict on this version, once scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_verdict: Option<Verdict>,
    /// The caller may call it now: server enabled and trusted, tool allowed, approved and
    /// switched on.
    pub enabled: bool,
    /// Switched off by a person (`tools disable`, a block).
    pub disabled: bool,
    pub call_with: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolStats {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    pub pending_approval: usize,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolListing {
    pub tools: Vec<ToolRow>,
    pub stats: ToolStats,
}

impl ToolCatalog {
    /// Every tool of a server with its approval state, for review.
    pub async fn review(&self, server: &str) -> Result<Vec<ToolReview>, CatalogError> {
        let view = self.view();
        let name = Self::parse_server(&view, server)?;
        let Some(tools) = view.server_tools(&name) else {
            return Ok(Vec::new());
        };
        Ok(tools
            .tools
            .iter()
            .map(|e| {
                let changed = e.state == ApprovalState::Changed;
                let approval = e.approval.as_ref().filter(|_| changed);
                ToolReview {
                    name: e.tool.name.clone(),
                    state: e.state,
                    description: e.tool.description.clone(),
                    input_schema: e.tool.input_schema.clone(),
                    approved_description: approval.and_then(|a| a.approved_description.clone()),
                    approved_input_schema: approval.and_then(|a| a.approved_schema.clone()),
                    fingerprint: e.fingerprint.to_string(),
                    approved_fingerprint: approval
                        .and_then(|a| a.approved_fingerprint.as_ref())
                        .map(ToString::to_string),
                    scan: e.scan().cloned(),
                    disabled: e.facts().switched_off,
                }
            })
            .collect())
    }

    /// Every tool of every configured server, with whether `caller` may call it now.
    pub fn all_tools(&self, caller: &Caller) -> ToolListing {
        let view = self.view();
        let mut listing = ToolListing {
            tools: Vec::new(),
            stats: ToolStats::default(),
        };
        for (server, entry) in view.tools() {
            let admitted = admit_entry(view.settings(), caller, Purpose::Discover, server, entry);
            // A caller under a grant (an agent token, a profile) does not learn what lies
            // outside it, as on MCP; the rest is listed with whether it can be called.
            if let Err(Refusal::OutOfScope { .. }) = admitted {
                continue;
            }
            let enabled = admitted.is_ok();
            listing.stats.total += 1;
            if enabled {
                listing.stats.enabled += 1;
            } else {
                listing.stats.disabled += 1;
            }
            if entry.state != ApprovalState::Approved {
                listing.stats.pending_approval += 1;
            }
            listing.tools.push(ToolRow {
                id: entry.id.to_string(),
                server: server.name.to_string(),
                name: entry.tool.name.clone(),
                description: entry.tool.description.clone(),
                input_schema: entry.schema_json(),
                annotations: entry.tool.annotations.clone(),
                approval: entry.state,
                scan_verdict: entry.scan().map(|s| s.verdict),
                enabled,
                disabled: entry.facts().switched_off,
                call_with: entry.tool.annotations.call_with().tool_name(),
            });
        }
        listing
    }
}
