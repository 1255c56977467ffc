//! Large tool responses: cutting them to `tool_response_limit` characters for the agent, and
//! paging through the full text later with `read_cache`.
//!
//! A response is paged by *records*: the biggest array in a JSON response (the rows of a
//! query, the issues of a search) or, for anything else, its lines. An agent that got a
//! truncated answer can then read the rest fifty records at a time.

use serde_json::Value;

/// How deep to look for the array of records.
const MAX_DEPTH: usize = 4;

/// The records of a response, and where they were found (`data.items`, `lines`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    pub path: String,
    pub items: Vec<Value>,
}

/// The candidate arrays of `value`, with their paths. Strings that hold JSON are looked into.
fn arrays(value: &Value, path: String, depth: usize, out: &mut Vec<(String, Value)>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => {
            out.push((path.clone(), value.clone()));
            // A wrapper of one or two elements often holds the real list inside.
            if items.len() <= 2 {
                for (i, item) in items.iter().enumerate() {
                    arrays(item, format!("{path}[{i}]"), depth + 1, out);
                }
            }
        }
        Value::Object(map) => {
            for (key, v) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Value::String(s) = v {
                    let t = s.trim();
                    if (t.starts_with('{') || t.starts_with('['))
                        && let Ok(inner) = serde_json::from_str::<Value>(t)
                    {
                        arrays(&inner, format!("{child}(parsed)"), depth + 1, out);
                        continue;
                    }
                }
                arrays(v, child, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The records of `text`: the array with the most elements (the larger one on a tie) of a
/// JSON text, else its lines.
pub fn records(text: &str) -> Records {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        let mut found = Vec::new();
        arrays(&value, String::new(), 0, &mut found);
        let best = found.into_iter().max_by_key(|(_, v)| {
            let n = v.as_array().map_or(0, Vec::len);
            (n, v.to_string().len())
        });
        if let Some((path, Value::Array(items))) = best
            && !items.is_empty()
        {
            return Records {
                path: if path.is_empty() {
                    "$".to_owned()
                } else {
                    path
                },
                items,
            };
        }
    }
    Records {
        path: "lines".to_owned(),
        items: text.lines().map(|l| Value::String(l.to_owned())).collect(),
    }
}

/// The first `limit` characters of `text` (never splitting a character), and whether it was
/// cut.
pub fn cut_chars(text: &str, limit: usize) -> (&str, bool) {
    match text.char_indices().nth(limit) {
        Some((byte, _)) => (&text[..byte], true),
        None => (text, false),
    }
}

/// The text an agent gets instead of a response over the limit: a head of the response and
/// how to read all of it, together within `limit` characters where possible.
pub fn truncated_notice(text: &str, limit: usize, key: &str, total_records: usize) -> String {
    let total = text.chars().count();
    let notice = format!(
        "\n\n... [truncated by mcpproxy]\n\nResponse truncated (limit: {limit} chars, actual: {total} chars, records: {total_records})\nUse read_cache tool: key=\"{key}\", offset=0, limit=50\nReturns: {{\"records\": [...], \"meta\": {{\"total_records\": {total_records}, \"total_size\": {total}}}}}"
    );
    let room = limit.saturating_sub(notice.chars().count());
    let (head, _) = cut_chars(text, room);
    format!("{head}{notice}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_biggest_array_holds_the_records() {
        let text = json!({
            "meta": {"tags": ["a", "b"]},
            "data": {"items": [{"id": 1}, {"id": 2}, {"id": 3}]}
        })
        .to_string();
        let r = records(&text);
        assert_eq!(r.path, "data.items");
        assert_eq!(r.items.len(), 3);
    }

    #[test]
    fn json_inside_strings_and_small_wrappers_are_searched() {
        let inner = json!({"rows": (0..10).collect::<Vec<_>>()}).to_string();
        let text = json!([{"text": inner}]).to_string();
        let r = records(&text);
        assert_eq!(r.path, "[0].text(parsed).rows");
        assert_eq!(r.items.len(), 10);
    }

    #[test]
    fn a_top_level_array_is_its_own_records() {
        let r = records("[1,2,3,4]");
        assert_eq!((r.path.as_str(), r.items.len()), ("$", 4));
    }

    #[test]
    fn plain_text_is_paged_by_lines() {
        let r = records("one\ntwo\nthree");
        assert_eq!(r.path, "lines");
        assert_eq!(r.items, vec![json!("one"), json!("two"), json!("three")]);
    }

    #[test]
    fn cutting_counts_characters() {
        assert_eq!(cut_chars("héllo", 2), ("hé", true));
        assert_eq!(cut_chars("hé", 5), ("hé", false));
    }

    #[test]
    fn the_notice_fits_the_limit_and_names_the_key() {
        let text = "x".repeat(50_000);
        let out = truncated_notice(&text, 20_000, "01KEY", 1);
        assert!(out.chars().count() <= 20_000);
        assert!(out.contains("key=\"01KEY\""));
        assert!(out.starts_with("xxx"));
    }
}
