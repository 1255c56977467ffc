//! How commands print: aligned tables for people (coloured on a terminal), stable JSON or
//! YAML for scripts. Data goes to stdout; notes and progress to stderr.

use std::fmt::Write as _;
use std::io::IsTerminal;

use serde_json::Value;

use crate::exit::{Exit, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

impl Format {
    /// `--json`, else `-o`, else `MCPPROXY_OUTPUT` (clap reads it into `-o`), else a table.
    pub fn choose(json: bool, output: Option<&str>) -> Result<Self, Failure> {
        if json {
            return Ok(Self::Json);
        }
        match output.map(str::to_ascii_lowercase).as_deref() {
            None | Some("" | "table") => Ok(Self::Table),
            Some("json") => Ok(Self::Json),
            Some("yaml" | "yml") => Ok(Self::Yaml),
            Some(other) => Err(Failure::new(
                Exit::General,
                format!("unknown output format {other:?}; use -o table, -o json or -o yaml"),
            )),
        }
    }

    /// Prints `value` as JSON or YAML; false for a table, which the caller draws.
    pub fn print_data(self, value: &Value) -> bool {
        match self {
            Self::Table => return false,
            Self::Json => {
                let text =
                    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
                println!("{text}");
            }
            Self::Yaml => print!("{}", yaml(value)),
        }
        true
    }
}

/// Whether stdout is a terminal that takes colours (`NO_COLOR` turns them off).
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A connection state, coloured by how well it goes.
pub fn state(label: &str, colour: bool) -> String {
    if !colour {
        return label.to_owned();
    }
    let code = match label {
        "Ready" | "Running" | "success" | "approved" | "yes" => "32",
        "Error" | "error" | "blocked" | "changed" | "Docker unavailable" => "31",
        "Disabled" | "Not running" | "no" => "90",
        "Quarantined" | "pending" | "rejected" => "33",
        _ => "36",
    };
    format!("\x1b[{code}m{label}\x1b[0m")
}

/// Columns aligned on their widest cell; colour codes do not count towards widths.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = |s: &str| visible(s).chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(width(cell)) + 2;
                    let _ = write!(line, "{cell}{}", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// `s` without ANSI colour codes.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of at most `max` characters: control characters become spaces, the rest is cut
/// with `…`.
pub fn cell(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_owned();
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// YAML of a JSON value, block style. Strings are always double-quoted (JSON string syntax
/// is valid YAML), so no value can be misread as a number, a boolean or a null.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => yaml_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => yaml_list(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // Numbers, booleans and null print the same in JSON and YAML; strings quoted.
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn yaml_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        let key = Value::String(key.clone()).to_string();
        let pad = " ".repeat(indent);
        if is_block(value) {
            let _ = writeln!(out, "{pad}{key}:");
            yaml_block(value, indent + 2, out);
        } else {
            let _ = writeln!(out, "{pad}{key}: {}", yaml_scalar(value));
        }
    }
}

fn yaml_list(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        if is_block(item) {
            // "- " then the item's block, its first line on the dash's line.
            let mut inner = String::new();
            yaml_block(item, indent + 2, &mut inner);
            let body = inner.trim_start();
            let _ = write!(out, "{pad}- {body}");
        } else {
            let _ = writeln!(out, "{pad}- {}", yaml_scalar(item));
        }
    }
}

fn yaml_block(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) => yaml_map(map, indent, out),
        Value::Array(items) => yaml_list(items, indent, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_on_the_widest_cell_ignoring_colours() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["github".into(), state("Ready", true)]);
        t.row(vec!["fs".into(), "Error".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME    STATUS");
        assert_eq!(visible(lines[1]), "github  Ready");
        assert_eq!(lines[2], "fs      Error");
    }

    #[test]
    fn yaml_quotes_every_string_and_nests_blocks() {
        let v = json!({"servers": [{"name": "yes", "args": ["-y", "1"], "env": {}}], "total": 1, "note": null});
        assert_eq!(
            yaml(&v),
            "\"servers\":\n  - \"name\": \"yes\"\n    \"args\":\n      - \"-y\"\n      - \"1\"\n    \"env\": {}\n\"total\": 1\n\"note\": null\n"
        );
        assert_eq!(yaml(&json!([])), "[]\n");
    }

    #[test]
    fn cells_are_one_line_and_cut() {
        assert_eq!(cell("a\nb", 10), "a b");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn formats() {
        assert_eq!(Format::choose(true, Some("yaml")).unwrap(), Format::Json);
        assert_eq!(Format::choose(false, Some("YAML")).unwrap(), Format::Yaml);
        assert_eq!(Format::choose(false, None).unwrap(), Format::Table);
        assert!(
            Format::choose(false, Some("xml"))
                .unwrap_err()
                .message
                .contains("-o json")
        );
    }
}
