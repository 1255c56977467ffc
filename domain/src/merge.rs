//! JSON merge patch (RFC 7396), the rule of `PATCH /servers/{id}` and `upstream_servers patch`:
//! objects merge key by key, arrays and scalars replace, `null` removes.

use serde_json::Value;

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_maps_replaces_arrays_null_removes() {
        let mut doc = json!({
            "env": {"A": "1", "B": "2"},
            "args": ["x", "y"],
            "url": "http://a"
        });
        merge_patch(
            &mut doc,
            &json!({"env": {"B": null, "C": "3"}, "args": ["z"], "url": null}),
        );
        assert_eq!(doc, json!({"env": {"A": "1", "C": "3"}, "args": ["z"]}));
    }

    #[test]
    fn rfc7396_examples() {
        let mut doc = json!({"a": "b"});
        merge_patch(&mut doc, &json!({"a": {"bb": {"ccc": null}}}));
        assert_eq!(doc, json!({"a": {"bb": {}}}));
        let mut doc = json!(["a"]);
        merge_patch(&mut doc, &json!({"a": "c"}));
        assert_eq!(doc, json!({"a": "c"}));
    }
}
