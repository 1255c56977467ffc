//! The tantivy index behind the application's `ToolIndex` port.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use mcpproxy_application::ports::{IndexError, SearchHit, ToolIndex};
use mcpproxy_domain::fingerprint::indexed_signature;
use mcpproxy_domain::{Fingerprint, SearchConfig, ServerName, Tool};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::AllQuery;
use tantivy::schema::{Field, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::aliases::{bonus_names, product_names};
use crate::analysis::{ANALYZER, analyzer, terms};
use crate::document::{ALIAS_SEPARATOR, DocumentParts, Fields, ToolText, document, schema};
use crate::mirror::Mirror;
use crate::query::QueryReader;
use crate::ranking::Tuning;

/// Memory for the index writer; tool documents are small.
const WRITER_HEAP: usize = 30 * 1024 * 1024;
/// More segments than this after a write are merged into one (see [`Inner::write`]).
const MAX_SEGMENTS: usize = 3;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the search index in {path}: {reason}")]
pub struct OpenError {
    path: PathBuf,
    reason: String,
}

/// How the index ranks; the defaults are what the dev set's tuning part chose.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    pub tuning: Tuning,
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
    queries: RwLock<Arc<QueryReader>>,
    mirror: RwLock<Mirror>,
    /// The key of the next document written (see [`Fields::key`]).
    next_key: AtomicU64,
    tuning: Tuning,
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

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TantivyIndex {
    /// Opens the index in `dir`, or creates it. An index that cannot be read, or was written
    /// with another schema or analyzer, is replaced by an empty one (the catalog refills it).
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        Self::open_with(dir, SearchOptions::default())
    }

    pub fn open_with(dir: &Path, options: SearchOptions) -> Result<Self, OpenError> {
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
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| fail(e.to_string()))?;
        let writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_HEAP)
            .map_err(|e| fail(e.to_string()))?;
        // Merges happen in `Inner::write`, where the reader is reloaded after them.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut analyzer = analyzer();
        let queries = QueryReader::new(&mut analyzer, &[]);
        let inner = Inner {
            reader,
            writer: Mutex::new(writer),
            fields,
            analyzer,
            queries: RwLock::new(Arc::new(queries)),
            mirror: RwLock::new(Mirror::default()),
            next_key: AtomicU64::new(0),
            tuning: options.tuning,
        };
        inner.rebuild_mirror().map_err(|e| fail(e.0))?;
        Ok(Self {
            inner: Arc::new(inner),
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

    /// The same search as the port's, on this thread, with other knobs when given (the
    /// quality harness tunes them; benchmarks measure without the blocking pool's hand-off).
    pub fn search_tuned(
        &self,
        query: &str,
        limit: usize,
        tuning: Option<Tuning>,
    ) -> Result<Vec<SearchHit>, IndexError> {
        self.inner
            .search(query, limit, &tuning.unwrap_or(self.inner.tuning))
    }
}

impl Inner {
    fn text(doc: &TantivyDocument, field: Field) -> String {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// Fills the in-memory mirror from the stored documents (at open).
    fn rebuild_mirror(&self) -> Result<(), IndexError> {
        let mut analyzer = self.analyzer.clone();
        let searcher = self.reader.searcher();
        let addresses = searcher.search(&AllQuery, &DocSetCollector).map_err(err)?;
        let mut mirror = Mirror::default();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
            let all = Self::text(&doc, self.fields.terms);
            let Ok(server) = ServerName::parse(Self::text(&doc, self.fields.server)) else {
                continue;
            };
            let key = doc
                .get_first(self.fields.key)
                .and_then(|v| v.as_u64())
                .unwrap_or_default();
            let tool = Self::text(&doc, self.fields.tool);
            mirror.insert(key, &server, tool, all.split(' '));
            let products = Self::text(&doc, self.fields.products);
            let products = terms(&mut analyzer, &bonus_names(&products));
            mirror.set_products(server.as_str(), products.iter().map(String::as_str));
        }
        let next = mirror.last_key().map_or(0, |k| k + 1);
        self.next_key.store(next, Ordering::Relaxed);
        *write_lock(&self.mirror) = mirror;
        Ok(())
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
        // Few segments keep a search cheap: each query term costs a dictionary lookup and a
        // scorer per segment, and the thesaurus makes queries of many terms. The index is
        // small (a tool is a few hundred bytes), so merging it whole now and then is cheaper
        // than what scattered segments cost every query.
        let segments = writer.index().searchable_segment_ids().map_err(err)?;
        if segments.len() > MAX_SEGMENTS {
            writer.merge(&segments).wait().map_err(err)?;
        }
        drop(writer);
        self.reader.reload().map_err(err)
    }

    fn replace(
        &self,
        server: &ServerName,
        tools: &[Tool],
        aliases: &[String],
    ) -> Result<(), IndexError> {
        let products = product_names(server.as_str(), tools, aliases);
        let mut analyzer = self.analyzer.clone();
        let mut docs = Vec::with_capacity(tools.len());
        let mut mirrored = Vec::with_capacity(tools.len());
        let first_key = self
            .next_key
            .fetch_add(tools.len() as u64, Ordering::Relaxed);
        for (key, tool) in (first_key..).zip(tools) {
            let mut names = products.server.clone();
            if let Some(own) = products.tools.get(&tool.name) {
                names.push(' ');
                names.push_str(own);
            }
            let text = ToolText::new(tool, names);
            let all = terms(&mut analyzer, &text.all()).join(" ");
            docs.push(document(
                &self.fields,
                &DocumentParts {
                    key,
                    server,
                    tool,
                    aliases,
                    text: &text,
                    terms: &all,
                },
            ));
            let product_terms = terms(&mut analyzer, &bonus_names(&text.products));
            mirrored.push((key, tool.name.clone(), all, product_terms));
        }
        self.write(|w| {
            w.delete_term(Term::from_field_text(self.fields.server, server.as_str()));
            for doc in docs {
                w.add_document(doc)?;
            }
            Ok(())
        })?;
        let mut mirror = write_lock(&self.mirror);
        mirror.remove_server(server.as_str());
        for (key, tool, all, products) in mirrored {
            mirror.insert(key, server, tool, all.split(' '));
            mirror.set_products(server.as_str(), products.iter().map(String::as_str));
        }
        Ok(())
    }

    fn search(
        &self,
        raw: &str,
        limit: usize,
        tuning: &Tuning,
    ) -> Result<Vec<SearchHit>, IndexError> {
        let mut analyzer = self.analyzer.clone();
        let reader = read_lock(&self.queries).clone();
        let concepts = reader.read(&mut analyzer, raw);
        let mirror = read_lock(&self.mirror);
        let query = tuning.query(&self.fields, &concepts, raw, &mirror);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(err)?;
        let mix = tuning.coverage_mix;
        let probe = mirror.probe(&concepts);
        // The key column of each segment the hits are in, opened once per search.
        let mut columns: HashMap<u32, tantivy::columnar::Column<u64>> = HashMap::new();
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(c) => c.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("key")
                        .map_err(err)?,
                ),
            };
            let Some(entry) = column.first(address.doc_id).and_then(|k| mirror.get(k)) else {
                continue;
            };
            let coverage = Mirror::coverage(&probe, entry);
            hits.push(SearchHit {
                server: entry.server.clone(),
                tool: entry.tool.clone(),
                score: score * (1.0 - mix + mix * coverage),
                coverage,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }
}

#[async_trait]
impl ToolIndex for TantivyIndex {
    async fn replace_server(
        &self,
        server: &ServerName,
        tools: &[Tool],
        aliases: &[String],
    ) -> Result<(), IndexError> {
        let server = server.clone();
        let tools = tools.to_vec();
        let aliases = aliases.to_vec();
        self.blocking(move |inner| inner.replace(&server, &tools, &aliases))
            .await
    }

    async fn remove_server(&self, server: &ServerName) -> Result<(), IndexError> {
        let server = server.clone();
        self.blocking(move |inner| {
            inner.write(|w| {
                w.delete_term(Term::from_field_text(inner.fields.server, server.as_str()));
                Ok(())
            })?;
            write_lock(&inner.mirror).remove_server(server.as_str());
            Ok(())
        })
        .await
    }

    fn configure(&self, search: &SearchConfig) {
        let mut analyzer = self.inner.analyzer.clone();
        let reader = QueryReader::new(&mut analyzer, &search.synonyms);
        *write_lock(&self.inner.queries) = Arc::new(reader);
    }

    async fn signatures(&self) -> Result<HashMap<ServerName, String>, IndexError> {
        self.blocking(|inner| {
            let searcher = inner.reader.searcher();
            let addresses = searcher.search(&AllQuery, &DocSetCollector).map_err(err)?;
            type Tools = Vec<(String, Fingerprint)>;
            let mut per_server: BTreeMap<String, (Tools, String)> = BTreeMap::new();
            for address in addresses {
                let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
                let entry = per_server
                    .entry(Inner::text(&doc, inner.fields.server))
                    .or_default();
                entry.0.push((
                    Inner::text(&doc, inner.fields.tool),
                    Fingerprint::from_hex(Inner::text(&doc, inner.fields.fingerprint)),
                ));
                entry.1 = Inner::text(&doc, inner.fields.aliases);
            }
            Ok(per_server
                .into_iter()
                .filter_map(|(server, (tools, aliases))| {
                    let name = ServerName::parse(server).ok()?;
                    let aliases: Vec<String> = aliases
                        .split(ALIAS_SEPARATOR)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect();
                    let sig =
                        indexed_signature(tools.iter().map(|(n, f)| (n.as_str(), f)), &aliases);
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
        self.blocking(move |inner| inner.search(&query, limit, &inner.tuning))
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
                &[],
            )
            .await
            .unwrap();
        index
            .replace_server(
                &server("everything"),
                &[tool("echo", "Echoes back the input")],
                &[],
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
                &[],
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
            .replace_server(&server("a"), &[tool("alpha", "x"), tool("beta", "x")], &[])
            .await
            .unwrap();
        index
            .replace_server(&server("b"), &[tool("gamma", "x")], &[])
            .await
            .unwrap();
        index
            .replace_server(&server("a"), &[tool("delta", "x")], &[])
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
        assert_eq!(sigs[&server("a")], indexed_signature([("delta", &fp)], &[]));
    }

    #[tokio::test]
    async fn the_index_survives_a_restart_and_a_corrupt_one_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = TantivyIndex::open(dir.path()).unwrap();
            index
                .replace_server(&server("a"), &[tool("alpha", "x")], &[])
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
            .replace_server(&server("a"), &[tool("alpha", "x")], &[])
            .await
            .unwrap();
        assert_eq!(names(&index, "alpha").await, ["a:alpha"]);
    }
}
