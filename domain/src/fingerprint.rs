//! The fingerprint of a tool: what an approval is an approval of.
//!
//! A tool's name, description and schemas are what an agent reads and acts on, so a change to
//! any of them after approval (a "rug pull") must be noticed. Annotations are hints that
//! servers adjust freely and are left out. Schemas are hashed in a canonical form (object keys
//! sorted, no whitespace) so that a server re-ordering keys does not look like a change.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A sha256 over a tool's name, description and canonical schemas, as 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(
        name: &str,
        description: &str,
        input_schema: &Value,
        output_schema: Option<&Value>,
    ) -> Self {
        let mut hasher = Sha256::new();
        // Each part is length-prefixed so that moving text between parts changes the hash.
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        part(name.as_bytes());
        part(description.as_bytes());
        part(canonical_json(input_schema).as_bytes());
        match output_schema {
            Some(schema) => part(canonical_json(schema).as_bytes()),
            None => part(b""),
        }
        Self(hex::encode(hasher.finalize()))
    }

    /// Wraps a fingerprint read back from storage.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signature of a set of tools: equal sets (in any order) give equal signatures. Used to
/// tell whether the search index holds exactly the tools it should.
pub fn tool_set_signature<'a>(
    tools: impl IntoIterator<Item = (&'a str, &'a Fingerprint)>,
) -> String {
    let mut lines: Vec<String> = tools
        .into_iter()
        .map(|(name, fp)| format!("{}\0{}", name, fp.as_str()))
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// What the search index holds for one server: the signature of its tools and, when the
/// user gave the server search aliases, those too (a change of either re-indexes it).
pub fn indexed_signature<'a>(
    tools: impl IntoIterator<Item = (&'a str, &'a Fingerprint)>,
    aliases: &[String],
) -> String {
    let tools = tool_set_signature(tools);
    if aliases.is_empty() {
        return tools;
    }
    let mut hasher = Sha256::new();
    hasher.update(tools.as_bytes());
    for alias in aliases {
        hasher.update(b"\0");
        hasher.update(alias.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted at every depth and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    fn fp(desc: &str, schema: &Value) -> Fingerprint {
        Fingerprint::of("echo", desc, schema, None)
    }

    #[test]
    fn canonical_form_sorts_nested_keys() {
        let v = json!({"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn parts_cannot_trade_text() {
        let s = json!({});
        assert_ne!(
            Fingerprint::of("ab", "c", &s, None),
            Fingerprint::of("a", "bc", &s, None)
        );
    }

    #[test]
    fn set_signatures_ignore_order_and_see_changes() {
        let (a, b) = (Fingerprint::from_hex("aa"), Fingerprint::from_hex("bb"));
        let one = tool_set_signature([("x", &a), ("y", &b)]);
        assert_eq!(one, tool_set_signature([("y", &b), ("x", &a)]));
        assert_ne!(one, tool_set_signature([("x", &a), ("y", &a)]));
        assert_ne!(one, tool_set_signature([("x", &a)]));
    }

    #[test]
    fn output_schema_counts() {
        let s = json!({"type": "object"});
        assert_ne!(
            Fingerprint::of("t", "d", &s, None),
            Fingerprint::of("t", "d", &s, Some(&json!({"type": "object"})))
        );
    }

    /// Arbitrary JSON values, a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The same value with the keys of every object inserted in reverse order.
    fn reversed(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map.iter().rev() {
                    out.insert(k.clone(), reversed(v));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn key_order_never_changes_the_hash(schema in json_value(), desc in ".{0,20}") {
            prop_assert_eq!(fp(&desc, &schema), fp(&desc, &reversed(&schema)));
        }

        #[test]
        fn any_description_change_changes_the_hash(
            schema in json_value(), a in ".{0,20}", b in ".{0,20}"
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(fp(&a, &schema), fp(&b, &schema));
        }

        #[test]
        fn any_schema_change_changes_the_hash(a in json_value(), b in json_value()) {
            prop_assume!(canonical_json(&a) != canonical_json(&b));
            prop_assert_ne!(fp("d", &a), fp("d", &b));
        }

        #[test]
        fn adding_a_property_changes_the_hash(schema in json_value(), key in "[A-Z]{1,3}") {
            let mut changed = json!({"type": "object", "properties": {}});
            changed["properties"][&key] = schema.clone();
            let base = json!({"type": "object", "properties": {}});
            prop_assert_ne!(fp("d", &base), fp("d", &changed));
        }
    }
}
