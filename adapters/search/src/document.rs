//! One tool as the index holds it: the schema, and the text of each field.

use mcpproxy_domain::{ServerName, Tool};
use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::analysis::ANALYZER;
use crate::words::split_words;

/// Separates the user's aliases in their stored field.
pub const ALIAS_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// A number for the document, unique in the index: a hit's key in the in-memory mirror
    /// (read from a fast field, so a search never opens the document store).
    pub key: Field,
    pub id: Field,
    pub server: Field,
    pub tool: Field,
    pub fingerprint: Field,
    /// The user's aliases of the server, as given (for the index signature).
    pub aliases: Field,
    /// Every term of the document, space-separated: the in-memory mirror is rebuilt from it.
    pub terms: Field,
    pub name: Field,
    pub name_exact: Field,
    /// The server's name and the products it serves.
    pub products: Field,
    pub description: Field,
    pub params: Field,
}

impl Fields {
    /// The searched fields, in the order of [`crate::ranking::Tuning::boosts`].
    pub fn searched(&self) -> [Field; 4] {
        [self.name, self.products, self.description, self.params]
    }
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        key: b.add_u64_field("key", FAST | STORED),
        id: b.add_text_field("id", STRING | STORED),
        server: b.add_text_field("server", STRING | STORED),
        tool: b.add_text_field("tool", STORED),
        fingerprint: b.add_text_field("fingerprint", STORED),
        aliases: b.add_text_field("aliases", STORED),
        terms: b.add_text_field("terms", STORED),
        name: b.add_text_field("name", text.clone()),
        name_exact: b.add_text_field("name_exact", STRING),
        products: b.add_text_field("products", text.clone().set_stored()),
        description: b.add_text_field("description", text.clone()),
        params: b.add_text_field("params", text),
    };
    (b.build(), fields)
}

/// Parameter names (split into words) and descriptions from an input schema, one level of
/// nesting deep (an `options` object's fields count too).
pub fn param_text(schema: &serde_json::Value) -> String {
    let mut out = Vec::new();
    collect_params(schema, &mut out, 0);
    out.join(" ")
}

fn collect_params(schema: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    let Some(props) = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    else {
        return;
    };
    for (name, prop) in props {
        out.push(split_words(name));
        if let Some(d) = prop.get("description").and_then(serde_json::Value::as_str) {
            out.push(d.to_owned());
        }
        if depth == 0 {
            collect_params(prop, out, 1);
            if let Some(items) = prop.get("items") {
                collect_params(items, out, 1);
            }
        }
    }
}

/// The texts of one tool's searched fields.
#[derive(Debug, Clone)]
pub struct ToolText {
    pub name: String,
    pub products: String,
    pub description: String,
    pub params: String,
}

impl ToolText {
    pub fn new(tool: &Tool, products: String) -> Self {
        let mut name = tool.name.clone();
        for title in [&tool.title, &tool.annotations.title].into_iter().flatten() {
            name.push(' ');
            name.push_str(title);
        }
        Self {
            name,
            products,
            description: tool.description.clone(),
            params: param_text(&tool.input_schema),
        }
    }

    pub fn all(&self) -> String {
        format!(
            "{} {} {} {}",
            self.name, self.products, self.description, self.params
        )
    }
}

pub struct DocumentParts<'a> {
    pub key: u64,
    pub server: &'a ServerName,
    pub tool: &'a Tool,
    pub aliases: &'a [String],
    pub text: &'a ToolText,
    pub terms: &'a str,
}

pub fn document(f: &Fields, p: &DocumentParts<'_>) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_u64(f.key, p.key);
    doc.add_text(f.id, format!("{}:{}", p.server, p.tool.name));
    doc.add_text(f.server, p.server.as_str());
    doc.add_text(f.tool, &p.tool.name);
    doc.add_text(f.fingerprint, p.tool.fingerprint().as_str());
    let sep = ALIAS_SEPARATOR.to_string();
    doc.add_text(f.aliases, p.aliases.join(&sep));
    doc.add_text(f.terms, p.terms);
    doc.add_text(f.name, &p.text.name);
    doc.add_text(f.name_exact, p.tool.name.to_lowercase());
    doc.add_text(f.products, &p.text.products);
    doc.add_text(f.description, &p.text.description);
    doc.add_text(f.params, &p.text.params);
    doc
}
