//! Tool definitions for the fast upstream and the search benchmark: realistic
//! `verb_noun` names over many domains, with descriptions and two parameters each.

use serde_json::{Value, json};

const VERBS: [&str; 12] = [
    "create", "list", "get", "update", "delete", "search", "archive", "export", "import", "sync",
    "assign", "review",
];
const NOUNS: [&str; 20] = [
    "issue",
    "pull_request",
    "repository",
    "branch",
    "commit",
    "invoice",
    "customer",
    "ticket",
    "channel",
    "message",
    "calendar_event",
    "document",
    "folder",
    "dashboard",
    "alert",
    "deployment",
    "database",
    "table",
    "user",
    "team",
];

/// The `i`-th generated tool: name, description, input schema.
pub fn generated(i: usize) -> (String, String, Value) {
    let verb = VERBS[i % VERBS.len()];
    let noun = NOUNS[(i / VERBS.len()) % NOUNS.len()];
    let domain = i / (VERBS.len() * NOUNS.len());
    let name = format!("{verb}_{noun}_{domain}");
    let description = format!(
        "{} a {} in workspace {domain}. Use it to {verb} {}s by id or by query.",
        capitalise(verb),
        noun.replace('_', " "),
        noun.replace('_', " ")
    );
    let schema = json!({"type": "object", "properties": {
        "id": {"type": "string", "description": format!("The {noun} id")},
        "query": {"type": "string", "description": "Free text to match"}
    }});
    (name, description, schema)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_readable() {
        let names: std::collections::HashSet<String> =
            (0..20_000).map(|i| generated(i).0).collect();
        assert_eq!(names.len(), 20_000);
        assert_eq!(generated(0).0, "create_issue_0");
    }
}
