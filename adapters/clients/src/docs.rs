//! A client's config document, JSON or TOML, read so that writing it back changes only the
//! proxy's entry: JSON keeps its key order, indentation and final newline; TOML (Codex)
//! keeps comments and layout (`toml_edit`). A document that does not parse is refused with
//! its line and column and is never written.

use std::path::Path;

use mcpproxy_application::ports::ClientError;
use serde_json::{Map, Value};
use toml_edit::{DocumentMut, Item, Table};

use crate::files::line_col;

/// The servers part of a config document.
pub trait ServersDoc {
    /// The entry `name`, as JSON.
    fn entry(&self, name: &str) -> Option<Value>;
    fn set(&mut self, name: &str, entry: &Value);
    /// Removes the entry; whether there was one.
    fn remove(&mut self, name: &str) -> bool;
    fn render(&self) -> String;
}

fn malformed(
    path: &Path,
    format: &str,
    (line, column): (usize, usize),
    reason: String,
) -> ClientError {
    ClientError::Malformed {
        path: path.display().to_string(),
        format: format.to_owned(),
        line,
        column,
        reason,
    }
}

/// A JSON config and the key that holds its servers.
pub struct JsonDoc {
    root: Map<String, Value>,
    key: &'static str,
    indent: String,
    newline: bool,
}

/// The indentation the file uses (two spaces when it has none yet).
fn indent_of(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            let trimmed = l.trim_start();
            (trimmed.len() < l.len() && (trimmed.starts_with('"') || trimmed.starts_with('}')))
                .then(|| l[..l.len() - trimmed.len()].to_owned())
        })
        .unwrap_or_else(|| "  ".to_owned())
}

impl JsonDoc {
    /// Parses `text` (empty when the file does not exist yet).
    pub fn parse(path: &Path, text: &str, key: &'static str) -> Result<Self, ClientError> {
        let root = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(malformed(
                        path,
                        "JSON",
                        (1, 1),
                        "the top level is not an object".into(),
                    ));
                }
                Err(e) => {
                    let mut reason = e.to_string();
                    if let Some(i) = reason.find(" at line ") {
                        reason.truncate(i);
                    }
                    if text.contains("//") || text.contains("/*") {
                        reason.push_str(
                            " (the file seems to have comments; mcpproxy does not rewrite such files so the comments are not lost: add the entry by hand)",
                        );
                    }
                    return Err(malformed(path, "JSON", (e.line(), e.column()), reason));
                }
            }
        };
        if let Some(v) = root.get(key)
            && !v.is_object()
        {
            return Err(malformed(
                path,
                "JSON",
                (1, 1),
                format!("\"{key}\" is not an object"),
            ));
        }
        Ok(Self {
            root,
            key,
            indent: indent_of(text),
            newline: text.is_empty() || text.ends_with('\n'),
        })
    }

    /// The whole document, for import.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }
}

impl ServersDoc for JsonDoc {
    fn entry(&self, name: &str) -> Option<Value> {
        self.root.get(self.key)?.get(name).cloned()
    }

    fn set(&mut self, name: &str, entry: &Value) {
        let servers = self
            .root
            .entry(self.key)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = servers {
            map.insert(name.to_owned(), entry.clone());
        }
    }

    fn remove(&mut self, name: &str) -> bool {
        match self.root.get_mut(self.key) {
            Some(Value::Object(map)) => map.shift_remove(name).is_some(),
            _ => false,
        }
    }

    fn render(&self) -> String {
        use serde::Serialize;
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        // A map of JSON values always serialises.
        let _ = Value::Object(self.root.clone()).serialize(&mut ser);
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if self.newline {
            text.push('\n');
        }
        text
    }
}

/// A TOML config (Codex) and the table that holds its servers.
pub struct TomlDoc {
    doc: DocumentMut,
    key: &'static str,
}

impl TomlDoc {
    pub fn parse(path: &Path, text: &str, key: &'static str) -> Result<Self, ClientError> {
        let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            let at = e.span().map_or(0, |s| s.start);
            malformed(path, "TOML", line_col(text, at), e.message().to_owned())
        })?;
        if let Some(item) = doc.get(key)
            && !item.is_table_like()
        {
            return Err(malformed(
                path,
                "TOML",
                (1, 1),
                format!("{key} is not a table"),
            ));
        }
        Ok(Self { doc, key })
    }

    /// The servers table, for import.
    pub fn servers(&self) -> Vec<(String, Value)> {
        let Some(table) = self.doc.get(self.key).and_then(Item::as_table_like) else {
            return Vec::new();
        };
        table
            .iter()
            .map(|(name, item)| (name.to_owned(), item_json(item)))
            .collect()
    }
}

/// A TOML item as JSON (strings, numbers, booleans, arrays, tables).
fn item_json(item: &Item) -> Value {
    match item {
        Item::Value(v) => value_json(v),
        Item::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), item_json(v)))
                .collect(),
        ),
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| {
                    Value::Object(
                        t.iter()
                            .map(|(k, v)| (k.to_owned(), item_json(v)))
                            .collect(),
                    )
                })
                .collect(),
        ),
        Item::None => Value::Null,
    }
}

fn value_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as T;
    match v {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        T::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), value_json(v)))
                .collect(),
        ),
    }
}

fn json_value(v: &Value) -> Option<toml_edit::Value> {
    Some(match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(json_value(item)?);
            }
            array.into()
        }
        Value::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, v) in map {
                table.insert(k, json_value(v)?);
            }
            table.into()
        }
        Value::Null => return None,
    })
}

impl ServersDoc for TomlDoc {
    fn entry(&self, name: &str) -> Option<Value> {
        self.doc
            .get(self.key)?
            .as_table_like()?
            .get(name)
            .map(item_json)
    }

    fn set(&mut self, name: &str, entry: &Value) {
        if !self.doc.contains_key(self.key) {
            let mut servers = Table::new();
            // `[mcp_servers.<name>]` alone, without an empty `[mcp_servers]` above it.
            servers.set_implicit(true);
            self.doc.insert(self.key, Item::Table(servers));
        }
        let mut table = Table::new();
        if let Value::Object(map) = entry {
            for (k, v) in map {
                if let Some(value) = json_value(v) {
                    table.insert(k, Item::Value(value));
                }
            }
        }
        if let Some(servers) = self.doc.get_mut(self.key).and_then(Item::as_table_like_mut) {
            servers.insert(name, Item::Table(table));
        }
    }

    fn remove(&mut self, name: &str) -> bool {
        self.doc
            .get_mut(self.key)
            .and_then(Item::as_table_like_mut)
            .and_then(|t| t.remove(name))
            .is_some()
    }

    fn render(&self) -> String {
        self.doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keeps_order_indentation_and_other_keys() {
        let text = "{\n    \"theme\": \"dark\",\n    \"mcpServers\": {\n        \"fs\": {\"command\": \"npx\"}\n    },\n    \"zeta\": 1\n}\n";
        let mut doc = JsonDoc::parse(Path::new("s.json"), text, "mcpServers").unwrap();
        doc.set("mcpproxy", &json!({"httpUrl": "http://127.0.0.1:8080/mcp"}));
        let out = doc.render();
        assert!(
            out.starts_with("{\n    \"theme\": \"dark\",\n    \"mcpServers\": {\n        \"fs\""),
            "{out}"
        );
        assert!(out.ends_with("\"zeta\": 1\n}\n"), "{out}");
        assert!(doc.remove("mcpproxy"));
        assert_eq!(
            serde_json::from_str::<Value>(&doc.render()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn broken_json_is_refused_with_its_line() {
        let text = "{\n  \"mcpServers\": {\n    \"fs\": {\"command\": \"npx\",}\n  }\n}\n";
        let Err(ClientError::Malformed { line, format, .. }) =
            JsonDoc::parse(Path::new("m.json"), text, "mcpServers")
        else {
            panic!("accepted");
        };
        assert_eq!((line, format.as_str()), (3, "JSON"));
        let Err(e) = JsonDoc::parse(Path::new("c.json"), "{\n // note\n \"a\": 1}", "servers")
        else {
            panic!("accepted");
        };
        assert!(e.to_string().contains("comments"), "{e}");
    }

    #[test]
    fn toml_keeps_comments_and_layout() {
        let text = "# my settings\nmodel = \"o3\" # the best\n\n[mcp_servers.fs]\ncommand = \"npx\"\nargs = [\"-y\", \"server-filesystem\"]\n";
        let mut doc = TomlDoc::parse(Path::new("config.toml"), text, "mcp_servers").unwrap();
        doc.set("mcpproxy", &json!({"url": "http://127.0.0.1:8080/mcp"}));
        let out = doc.render();
        assert!(out.starts_with(text), "{out}");
        assert!(
            out.contains("[mcp_servers.mcpproxy]\nurl = \"http://127.0.0.1:8080/mcp\"\n"),
            "{out}"
        );
        assert_eq!(doc.entry("fs").unwrap()["args"][1], "server-filesystem");
        assert!(doc.remove("mcpproxy"));
        assert_eq!(doc.render(), text);
        let fresh = {
            let mut d = TomlDoc::parse(Path::new("c.toml"), "", "mcp_servers").unwrap();
            d.set("mcpproxy", &json!({"url": "u"}));
            d.render()
        };
        assert_eq!(fresh, "[mcp_servers.mcpproxy]\nurl = \"u\"\n");
    }

    #[test]
    fn broken_toml_is_refused_with_its_line() {
        let text = "model = \"o3\"\n[mcp_servers.fs\ncommand = \"npx\"\n";
        let Err(ClientError::Malformed { line, .. }) =
            TomlDoc::parse(Path::new("config.toml"), text, "mcp_servers")
        else {
            panic!("accepted");
        };
        assert_eq!(line, 2);
    }
}
