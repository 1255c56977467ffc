//! The tokens an agent saves by asking `retrieve_tools` for a few tools instead of loading
//! every tool definition into its context: an estimate for people (the dashboard, the
//! `/stats/tokens` route), at about four bytes of JSON per token.

use std::collections::BTreeMap;

use serde::Serialize;

use mcpproxy_domain::Caller;

use crate::catalog::{ToolCatalog, ToolRow};

/// Bytes of JSON per token, the usual rule of thumb for English text and JSON.
const BYTES_PER_TOKEN: usize = 4;

/// Token sizes of the tool lists an agent would otherwise load (the Go MCPProxy's names).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenSavings {
    /// Every callable tool's definition, all servers together, in tokens.
    pub total_server_tool_list_size: usize,
    /// A `retrieve_tools` answer of `tools_limit` average tools, in tokens.
    pub average_query_result_size: usize,
    /// The difference: what one search saves over loading every definition.
    pub saved_tokens: usize,
    pub saved_tokens_percentage: f64,
    /// Each server's callable tools, in tokens.
    pub per_server_tool_list_sizes: BTreeMap<String, usize>,
}

/// Counts bytes without keeping them.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes of a tool's definition as an agent receives it in a tool list.
fn definition_bytes(row: &ToolRow) -> usize {
    #[derive(Serialize)]
    struct Definition<'a> {
        name: &'a str,
        description: &'a str,
        #[serde(rename = "inputSchema")]
        input_schema: &'a serde_json::value::RawValue,
        #[serde(skip_serializing_if = "mcpproxy_domain::ToolAnnotations::is_empty")]
        annotations: &'a mcpproxy_domain::ToolAnnotations,
    }
    let mut count = Count(0);
    let definition = Definition {
        name: &row.id,
        description: &row.description,
        input_schema: &row.input_schema,
        annotations: &row.annotations,
    };
    // Writing to a counter cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(&mut count, &definition);
    count.0
}

fn tokens(bytes: usize) -> usize {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// The estimate for `rows` (callable or not: only callable ones count) when a search answers
/// with at most `tools_limit` tools.
pub fn token_savings<'a>(
    rows: impl IntoIterator<Item = &'a ToolRow>,
    tools_limit: usize,
) -> TokenSavings {
    let mut per_server: BTreeMap<String, usize> = BTreeMap::new();
    let (mut total_bytes, mut count) = (0usize, 0usize);
    for row in rows.into_iter().filter(|r| r.enabled) {
        let bytes = definition_bytes(row);
        *per_server.entry(row.server.clone()).or_default() += bytes;
        total_bytes += bytes;
        count += 1;
    }
    let total = tokens(total_bytes);
    let average = total_bytes
        .checked_div(count)
        .map_or(0, |per_tool| tokens(per_tool * tools_limit.min(count)));
    let saved = total.saturating_sub(average);
    #[allow(clippy::cast_precision_loss)] // a percentage for people
    let percentage = if total == 0 {
        0.0
    } else {
        (saved as f64 * 1000.0 / total as f64).round() / 10.0
    };
    TokenSavings {
        total_server_tool_list_size: total,
        average_query_result_size: average,
        saved_tokens: saved,
        saved_tokens_percentage: percentage,
        per_server_tool_list_sizes: per_server
            .into_iter()
            .map(|(k, v)| (k, tokens(v)))
            .collect(),
    }
}

impl ToolCatalog {
    /// The estimate for the tools an agent may call now.
    pub fn token_savings(&self) -> TokenSavings {
        let limit = usize::try_from(self.view().settings().tools_limit).unwrap_or(15);
        token_savings(&self.all_tools(&Caller::agent()).tools, limit)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcpproxy_domain::ApprovalState;
    use serde_json::json;

    use super::*;

    fn row(server: &str, name: &str, description: &str, enabled: bool) -> ToolRow {
        ToolRow {
            id: format!("{server}:{name}"),
            server: server.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            input_schema: Arc::from(
                serde_json::value::to_raw_value(&json!({"type": "object"})).unwrap(),
            ),
            annotations: Default::default(),
            approval: ApprovalState::Approved,
            enabled,
            call_with: "call_tool_read",
            scan_verdict: None,
        }
    }

    #[test]
    fn a_search_of_a_few_tools_saves_the_rest_of_the_list() {
        let rows: Vec<ToolRow> = (0..20)
            .map(|i| {
                row(
                    if i < 15 { "a" } else { "b" },
                    &format!("t{i:02}"),
                    "x",
                    true,
                )
            })
            .chain([row("c", "hidden", "not callable", false)])
            .collect();
        let s = token_savings(&rows, 5);
        let one = tokens(definition_bytes(&rows[0]));
        assert_eq!(
            s.per_server_tool_list_sizes.len(),
            2,
            "only callable tools count"
        );
        assert!(s.total_server_tool_list_size >= 20 * one - 20);
        assert!(s.average_query_result_size <= 5 * one + 1);
        assert_eq!(
            s.saved_tokens,
            s.total_server_tool_list_size - s.average_query_result_size
        );
        assert!(
            (70.0..80.0).contains(&s.saved_tokens_percentage),
            "{}",
            s.saved_tokens_percentage
        );
    }

    #[test]
    fn nothing_callable_saves_nothing() {
        let s = token_savings(&[row("a", "t", "d", false)], 15);
        assert_eq!(
            (
                s.total_server_tool_list_size,
                s.saved_tokens,
                s.saved_tokens_percentage
            ),
            (0, 0, 0.0)
        );
        let one = token_savings(&[row("a", "t", "d", true)], 15);
        assert_eq!(one.saved_tokens, 0, "a search of every tool saves nothing");
    }
}
