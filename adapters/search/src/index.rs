//! The tantivy index behind the application's `ToolIndex` port.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mcpproxy_application::ports::{IndexError, SearchHit, ToolIndex};
use mcpproxy_domain::fingerprint::tool_set_signature;
use mcpproxy_domain::{Fingerprint, ServerName, Tool};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::words::split_words;

/// Memory for the index writer; tool documents are small.
const WRITER_HEAP: usize = 30 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the search index in {path}: {reason}")]
pub struct OpenError {
    path: PathBuf,
    reason: String,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    server: Field,
    tool: Field,
    fingerprint: Field,
    name: Field,
    name_exact: Field,
    server_text: Field,
    description: Field,
    params: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        server: b.add_text_field("server", STRING | STORED),
        tool: b.add_text_field("tool", STORED),
        fingerprint: b.add_text_field("fingerprint", STORED),
        name: b.add_text_field("name", text("default")),
        name_exact: b.add_text_field("name_exact", STRING),
        server_text: b.add_text_field("server_text", text("default")),
        description: b.add_text_field("description", text("en_stem")),
        params: b.add_text_field("params", text("en_stem")),
    };
    (b.build(), fields)
}

/// Parameter names (split into words) and descriptions from an input schema.
fn param_text(schema: &serde_json::Value) -> String {
    let mut out = Vec::new();
    if let Some(props) = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (name, prop) in props {
            out.push(split_words(name));
            if let Some(d) = prop.get("description").and_then(serde_json::Value::as_str) {
                out.push(d.to_owned());
            }
        }
    }
    out.join(" ")
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    parser: QueryParser,
}

/// The search index. Cheap to clone.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> IndexError {
    IndexError(e.to_string())
}

impl TantivyIndex {
    /// Opens the index in `dir`, or creates it. An index that cannot be read, or was written
    /// with another schema, is replaced by an empty one (the catalog refills it).
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let fail = |reason: String| OpenError {
            path: dir.to_owned(),
            reason,
        };
        let (schema, fields) = schema();
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let existing = Index::open_in_dir(dir)
            .ok()
            .filter(|i| i.schema() == schema);
        let index = match existing {
            Some(index) => index,
            None => {
                if std::fs::read_dir(dir)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
                {
                    tracing::warn!(dir = %dir.display(), "the search index is unreadable or outdated; rebuilding it");
                    std::fs::remove_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                }
                Index::create_in_dir(dir, schema).map_err(|e| fail(e.to_string()))?
            }
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| fail(e.to_string()))?;
        let writer = index
            .writer_with_num_threads(1, WRITER_HEAP)
            .map_err(|e| fail(e.to_string()))?;
        let mut parser = QueryParser::for_index(
            &index,
            vec![
                fields.name,
                fields.server_text,
                fields.description,
                fields.params,
            ],
        );
        parser.set_field_boost(fields.name, 3.0);
        parser.set_field_boost(fields.server_text, 1.5);
        parser.set_field_boost(fields.description, 1.0);
        parser.set_field_boost(fields.params, 0.7);
        Ok(Self {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                fields,
                parser,
            }),
        })
    }

    /// Runs `work` on the blocking pool: tantivy reads and writes do file I/O.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(err)?
    }
}

impl Inner {
    fn document(&self, server: &ServerName, tool: &Tool) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, format!("{server}:{}", tool.name));
        doc.add_text(f.server, server.as_str());
        doc.add_text(f.tool, &tool.name);
        doc.add_text(f.fingerprint, tool.fingerprint().as_str());
        doc.add_text(f.name, split_words(&tool.name));
        if let Some(title) = &tool.title {
            doc.add_text(f.name, title);
        }
        doc.add_text(f.name_exact, tool.name.to_lowercase());
        doc.add_text(f.server_text, split_words(server.as_str()));
        doc.add_text(f.description, &tool.description);
        doc.add_text(f.params, param_text(&tool.input_schema));
        doc
    }

    fn write(
        &self,
        change: impl FnOnce(&mut IndexWriter) -> tantivy::Result<()>,
    ) -> Result<(), IndexError> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = change(&mut writer).and_then(|()| writer.commit().map(|_| ())) {
            let _ = writer.rollback();
            return Err(err(e));
        }
        drop(writer);
        self.reader.reload().map_err(err)
    }

    fn text(doc: &TantivyDocument, field: Field) -> String {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn query(&self, raw: &str) -> Box<dyn Query> {
        let f = self.fields;
        let words = split_words(raw);
        let (parsed, _) = self.parser.parse_query_lenient(&words);
        let exact = raw.trim().to_lowercase();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, parsed)];
        if !exact.is_empty() {
            let by_name = TermQuery::new(
                Term::from_field_text(f.name_exact, &exact),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(by_name), 10.0)),
            ));
            if exact.contains(':') {
                let by_id = TermQuery::new(
                    Term::from_field_text(f.id, raw.trim()),
                    IndexRecordOption::Basic,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(by_id), 20.0)),
                ));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

#[async_trait]
impl ToolIndex for TantivyIndex {
    async fn replace_server(&self, server: &ServerName, tools: &[Tool]) -> Result<(), IndexError> {
        let server = server.clone();
        let tools = tools.to_vec();
        self.blocking(move |inner| {
            let docs: Vec<TantivyDocument> =
                tools.iter().map(|t| inner.document(&server, t)).collect();
            inner.write(|w| {
                w.delete_term(Term::from_field_text(inner.fields.server, server.as_str()));
                for doc in docs {
                    w.add_document(doc)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn remove_server(&self, server: &ServerName) -> Result<(), IndexError> {
        let server = server.clone();
        self.blocking(move |inner| {
            inner.write(|w| {
                w.delete_term(Term::from_field_text(inner.fields.server, server.as_str()));
                Ok(())
            })
        })
        .await
    }

    async fn signatures(&self) -> Result<HashMap<ServerName, String>, IndexError> {
        self.blocking(|inner| {
            let searcher = inner.reader.searcher();
            let addresses = searcher.search(&AllQuery, &DocSetCollector).map_err(err)?;
            let mut per_server: BTreeMap<String, Vec<(String, Fingerprint)>> = BTreeMap::new();
            for address in addresses {
                let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
                per_server
                    .entry(Inner::text(&doc, inner.fields.server))
                    .or_default()
                    .push((
                        Inner::text(&doc, inner.fields.tool),
                        Fingerprint::from_hex(Inner::text(&doc, inner.fields.fingerprint)),
                    ));
            }
            Ok(per_server
                .into_iter()
                .filter_map(|(server, tools)| {
                    let name = ServerName::parse(server).ok()?;
                    let sig = tool_set_signature(tools.iter().map(|(n, f)| (n.as_str(), f)));
                    Some((name, sig))
                })
                .collect())
        })
        .await
    }

    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let query = query.to_owned();
        // A search is a few hundred microseconds of CPU with the index in memory; it runs on
        // the blocking pool anyway, since a cold index means disk reads.
        self.blocking(move |inner| {
            let searcher = inner.reader.searcher();
            let top = searcher
                .search(
                    &inner.query(&query),
                    &TopDocs::with_limit(limit.max(1)).order_by_score(),
                )
                .map_err(err)?;
            let mut hits = Vec::with_capacity(top.len());
            for (score, address) in top {
                let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
                if let Ok(server) = ServerName::parse(Inner::text(&doc, inner.fields.server)) {
                    hits.push(SearchHit {
                        server,
                        tool: Inner::text(&doc, inner.fields.tool),
                        score,
                    });
                }
            }
            Ok(hits)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, desc: &str) -> Tool {
        Tool::new(
            name,
            desc,
            json!({"type": "object", "properties": {"repoName": {"type": "string", "description": "The repository"}}}),
        )
    }

    fn server(n: &str) -> ServerName {
        ServerName::parse(n).unwrap()
    }

    async fn names(index: &TantivyIndex, q: &str) -> Vec<String> {
        index
            .search(q, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|h| format!("{}:{}", h.server, h.tool))
            .collect()
    }

    #[tokio::test]
    async fn finds_by_name_words_description_and_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        index
            .replace_server(
                &server("github"),
                &[
                    tool("create_issue", "Create a new issue in a repository"),
                    tool("listPullRequests", "List the pull requests"),
                    tool("delete_repo", "Deletes a repository for good"),
                ],
            )
            .await
            .unwrap();
        index
            .replace_server(
                &server("everything"),
                &[tool("echo", "Echoes back the input")],
            )
            .await
            .unwrap();
        assert_eq!(names(&index, "echo").await[0], "everything:echo");
        assert_eq!(
            names(&index, "create issue").await[0],
            "github:create_issue"
        );
        assert_eq!(names(&index, "CreateIssue").await[0], "github:create_issue");
        assert_eq!(
            names(&index, "pull requests").await[0],
            "github:listPullRequests"
        );
        assert_eq!(
            names(&index, "deleting repositories").await[0],
            "github:delete_repo",
            "stemmed"
        );
        assert!(
            names(&index, "repo name").await.len() >= 3,
            "parameter names are searchable"
        );
        assert_eq!(
            names(&index, "github:delete_repo").await[0],
            "github:delete_repo"
        );
        assert!(names(&index, "zebra").await.is_empty());
    }

    #[tokio::test]
    async fn an_exact_name_beats_a_description_that_repeats_the_word() {
        let dir = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        index
            .replace_server(
                &server("s"),
                &[
                    tool("search", "Find things"),
                    tool("query", "search search search search the search index"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(names(&index, "search").await[0], "s:search");
    }

    #[tokio::test]
    async fn replacing_a_server_touches_only_that_server() {
        let dir = tempfile::tempdir().unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        index
            .replace_server(&server("a"), &[tool("alpha", "x"), tool("beta", "x")])
            .await
            .unwrap();
        index
            .replace_server(&server("b"), &[tool("gamma", "x")])
            .await
            .unwrap();
        index
            .replace_server(&server("a"), &[tool("delta", "x")])
            .await
            .unwrap();
        assert!(names(&index, "alpha").await.is_empty());
        assert_eq!(names(&index, "delta").await, ["a:delta"]);
        assert_eq!(names(&index, "gamma").await, ["b:gamma"]);
        index.remove_server(&server("b")).await.unwrap();
        assert!(names(&index, "gamma").await.is_empty());
        let sigs = index.signatures().await.unwrap();
        assert_eq!(sigs.len(), 1);
        let delta = tool("delta", "x");
        let fp = delta.fingerprint();
        assert_eq!(sigs[&server("a")], tool_set_signature([("delta", &fp)]));
    }

    #[tokio::test]
    async fn the_index_survives_a_restart_and_a_corrupt_one_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = TantivyIndex::open(dir.path()).unwrap();
            index
                .replace_server(&server("a"), &[tool("alpha", "x")])
                .await
                .unwrap();
        }
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert_eq!(names(&index, "alpha").await, ["a:alpha"]);
        drop(index);

        std::fs::write(dir.path().join("meta.json"), "{ this is not an index").unwrap();
        let index = TantivyIndex::open(dir.path()).unwrap();
        assert!(names(&index, "alpha").await.is_empty(), "rebuilt empty");
        index
            .replace_server(&server("a"), &[tool("alpha", "x")])
            .await
            .unwrap();
        assert_eq!(names(&index, "alpha").await, ["a:alpha"]);
    }
}
