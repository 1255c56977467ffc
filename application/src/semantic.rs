//! The optional semantic stage of tool search: a [`ToolIndex`] that keeps the lexical index
//! and, beside it, one sentence embedding per tool, and answers a query with both rankings
//! fused.
//!
//! Lexical search knows the language of tools and products; an embedding model knows
//! paraphrase ("get rid of the container" ≈ `remove_container`). Neither alone is enough,
//! so each ranking votes by rank (weighted reciprocal rank fusion): ranks, not scores,
//! because BM25 scores and cosines live on different scales that shift with every query.
//!
//! Tool vectors are computed when a server is (re-)indexed, off the async runtime, and live
//! in memory only; [`ToolIndex::signatures`] reports only servers that have their vectors,
//! so after a restart the catalog indexes every server again and the vectors come back.
//! A query costs one forward pass of the model over the query plus a dot product per tool.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use mcpproxy_domain::{SearchConfig, ServerName, Tool};

use crate::ports::{Embedder, IndexError, SearchHit, ToolIndex};

/// How the two rankings are fused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    /// How many candidates each ranking contributes.
    pub pool: usize,
    /// The reciprocal rank constant: larger flattens the difference between ranks.
    pub k: f32,
    /// The semantic ranking's share of the vote, from 0 (lexical only) to 1.
    pub semantic_weight: f32,
}

impl Default for Fusion {
    /// Tuned on the tuning part of the dev set (`scripts/search-quality --semantic`).
    fn default() -> Self {
        Self {
            pool: 50,
            k: 10.0,
            semantic_weight: 0.5,
        }
    }
}

/// One indexed tool's vector.
struct Vector {
    tool: String,
    values: Vec<f32>,
}

/// The lexical index with an embedding per tool beside it.
pub struct HybridIndex {
    lexical: Arc<dyn ToolIndex>,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
    vectors: RwLock<HashMap<ServerName, Vec<Vector>>>,
}

impl std::fmt::Debug for HybridIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridIndex")
            .field("model", &self.embedder.model())
            .field("fusion", &self.fusion)
            .finish_non_exhaustive()
    }
}

impl HybridIndex {
    pub fn new(lexical: Arc<dyn ToolIndex>, embedder: Arc<dyn Embedder>, fusion: Fusion) -> Self {
        Self {
            lexical,
            embedder,
            fusion,
            vectors: RwLock::new(HashMap::new()),
        }
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, IndexError> {
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || embedder.embed(&texts))
            .await
            .map_err(|e| IndexError(format!("the embedding task failed: {e}")))?
            .map_err(|e| IndexError(e.to_string()))
    }

    /// The `limit` tools nearest in meaning to the query vector, best first.
    fn nearest(&self, query: &[f32], limit: usize) -> Vec<(ServerName, String, f32)> {
        let vectors = self
            .vectors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut scored: Vec<(&ServerName, &str, f32)> = vectors
            .iter()
            .flat_map(|(server, tools)| {
                tools
                    .iter()
                    .map(move |v| (server, v.tool.as_str(), dot(query, &v.values)))
            })
            .collect();
        let cut = limit.min(scored.len());
        if cut == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(cut - 1, |a, b| b.2.total_cmp(&a.2));
        scored.truncate(cut);
        scored.sort_by(|a, b| b.2.total_cmp(&a.2));
        scored
            .into_iter()
            .map(|(s, t, c)| (s.clone(), t.to_owned(), c))
            .collect()
    }
}

impl HybridIndex {
    /// Both rankings of a query, `pool` deep, before fusion (the measuring harness fuses
    /// them with other settings). The semantic one is empty when the model fails.
    pub async fn rankings(
        &self,
        query: &str,
        pool: usize,
    ) -> Result<(Vec<SearchHit>, Vec<(ServerName, String, f32)>), IndexError> {
        let lexical = self.lexical.search(query, pool).await?;
        let semantic = match self.embed(vec![query.to_owned()]).await {
            Ok(mut v) => v.pop().map(|q| self.nearest(&q, pool)).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "query not embedded; lexical ranking only");
                Vec::new()
            }
        };
        Ok((lexical, semantic))
    }
}

/// What the model reads of a tool: its name in words, its title and its description.
pub fn tool_text(server: &ServerName, tool: &Tool) -> String {
    let name = tool.name.replace(['_', '-', '.', '/'], " ");
    let mut text = format!("{name} ({server})");
    if let Some(title) = tool.title.as_deref().filter(|t| !t.is_empty()) {
        text.push_str(": ");
        text.push_str(title);
    }
    if !tool.description.is_empty() {
        text.push_str(". ");
        text.push_str(&tool.description);
    }
    text
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fuses a lexical and a semantic ranking (each best first) by weighted reciprocal rank.
/// A tool only the semantic side found has no lexical coverage: its `coverage` is 0, so a
/// query that only paraphrase answers stays flagged as weak unless some word also matched.
pub fn fuse(
    lexical: Vec<SearchHit>,
    semantic: Vec<(ServerName, String, f32)>,
    fusion: Fusion,
    limit: usize,
) -> Vec<SearchHit> {
    let w = fusion.semantic_weight.clamp(0.0, 1.0);
    let mut fused: HashMap<(ServerName, String), SearchHit> = HashMap::new();
    for (rank, hit) in lexical.into_iter().enumerate() {
        let vote = (1.0 - w) / (fusion.k + rank as f32 + 1.0);
        fused.insert(
            (hit.server.clone(), hit.tool.clone()),
            SearchHit { score: vote, ..hit },
        );
    }
    for (rank, (server, tool, _)) in semantic.into_iter().enumerate() {
        let vote = w / (fusion.k + rank as f32 + 1.0);
        fused
            .entry((server.clone(), tool.clone()))
            .and_modify(|h| h.score += vote)
            .or_insert(SearchHit {
                server,
                tool,
                score: vote,
                coverage: 0.0,
            });
    }
    let mut hits: Vec<SearchHit> = fused.into_values().collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.coverage.total_cmp(&a.coverage))
            .then_with(|| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)))
    });
    hits.truncate(limit);
    hits
}

#[async_trait]
impl ToolIndex for HybridIndex {
    async fn replace_server(
        &self,
        server: &ServerName,
        tools: &[Tool],
        aliases: &[String],
    ) -> Result<(), IndexError> {
        self.lexical.replace_server(server, tools, aliases).await?;
        let texts: Vec<String> = tools.iter().map(|t| tool_text(server, t)).collect();
        let vectors = match self.embed(texts).await {
            Ok(v) => v,
            Err(e) => {
                // The lexical index answers on; without its vectors the server is not
                // reported as indexed, so the next sync tries again.
                tracing::warn!(%server, error = %e, "tools not embedded; lexical search only for them");
                self.vectors
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(server);
                return Ok(());
            }
        };
        let entry = tools
            .iter()
            .zip(vectors)
            .map(|(t, values)| Vector {
                tool: t.name.clone(),
                values,
            })
            .collect();
        self.vectors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(server.clone(), entry);
        Ok(())
    }

    async fn remove_server(&self, server: &ServerName) -> Result<(), IndexError> {
        self.vectors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(server);
        self.lexical.remove_server(server).await
    }

    fn configure(&self, search: &SearchConfig) {
        self.lexical.configure(search);
    }

    async fn signatures(&self) -> Result<HashMap<ServerName, String>, IndexError> {
        let mut signatures = self.lexical.signatures().await?;
        let vectors = self
            .vectors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        signatures.retain(|server, _| vectors.contains_key(server));
        Ok(signatures)
    }

    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let (lexical, semantic) = self.rankings(query, self.fusion.pool.max(limit)).await?;
        Ok(fuse(lexical, semantic, self.fusion, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockEmbedder, MockToolIndex};

    fn name(s: &str) -> ServerName {
        ServerName::parse(s).unwrap()
    }

    fn hit(server: &str, tool: &str, coverage: f32) -> SearchHit {
        SearchHit {
            server: name(server),
            tool: tool.into(),
            score: 1.0,
            coverage,
        }
    }

    #[test]
    fn fusion_ranks_by_both_votes_and_keeps_lexical_coverage() {
        let lexical = vec![hit("a", "x", 0.9), hit("a", "y", 0.5)];
        let semantic = vec![
            (name("b"), "z".to_owned(), 0.8),
            (name("a"), "y".to_owned(), 0.7),
        ];
        let fusion = Fusion {
            pool: 10,
            k: 1.0,
            semantic_weight: 0.5,
        };
        let hits = fuse(lexical, semantic, fusion, 10);
        let order: Vec<&str> = hits.iter().map(|h| h.tool.as_str()).collect();
        // y: 0.5/3 + 0.5/3 = 0.333; x: 0.5/2 = 0.25; z: 0.5/2 = 0.25 (tie: x has coverage).
        assert_eq!(order, ["y", "x", "z"]);
        assert_eq!(hits[0].coverage, 0.5);
        assert_eq!(
            hits[2].coverage, 0.0,
            "semantic-only hits have no lexical coverage"
        );
        let lexical_only = fuse(
            vec![hit("a", "x", 0.9)],
            vec![(name("b"), "z".to_owned(), 0.8)],
            Fusion {
                semantic_weight: 0.0,
                ..fusion
            },
            1,
        );
        assert_eq!(lexical_only[0].tool, "x");
    }

    #[tokio::test]
    async fn tools_are_embedded_when_indexed_and_found_by_meaning() {
        let mut lexical = MockToolIndex::new();
        lexical.expect_replace_server().returning(|_, _, _| Ok(()));
        lexical.expect_search().returning(|_, _| Ok(Vec::new()));
        lexical
            .expect_signatures()
            .returning(|| Ok([(name("docker"), "sig".to_owned())].into()));
        let mut embedder = MockEmbedder::new();
        // A two-dimensional "model": texts about removal point one way, the rest the other.
        embedder.expect_embed().returning(|texts| {
            Ok(texts
                .iter()
                .map(|t| {
                    if t.contains("remove") || t.contains("get rid") {
                        vec![1.0, 0.0]
                    } else {
                        vec![0.0, 1.0]
                    }
                })
                .collect())
        });
        let index = HybridIndex::new(Arc::new(lexical), Arc::new(embedder), Fusion::default());
        assert!(
            index.signatures().await.unwrap().is_empty(),
            "no vectors yet"
        );
        let tools = [
            Tool::new(
                "remove_container",
                "Remove a container",
                serde_json::json!({"type": "object"}),
            ),
            Tool::new(
                "list_images",
                "List images",
                serde_json::json!({"type": "object"}),
            ),
        ];
        index
            .replace_server(&name("docker"), &tools, &[])
            .await
            .unwrap();
        let hits = index.search("get rid of that box", 1).await.unwrap();
        assert_eq!(hits[0].tool, "remove_container");
        assert_eq!(index.signatures().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_model_leaves_lexical_search_working() {
        let mut lexical = MockToolIndex::new();
        lexical.expect_replace_server().returning(|_, _, _| Ok(()));
        lexical
            .expect_search()
            .returning(|_, _| Ok(vec![hit("git", "git_log", 0.8)]));
        lexical
            .expect_signatures()
            .returning(|| Ok([(name("git"), "sig".to_owned())].into()));
        let mut embedder = MockEmbedder::new();
        embedder
            .expect_embed()
            .returning(|_| Err(crate::ports::EmbedError("model gone".into())));
        let index = HybridIndex::new(Arc::new(lexical), Arc::new(embedder), Fusion::default());
        index
            .replace_server(
                &name("git"),
                &[Tool::new(
                    "git_log",
                    "Show commits",
                    serde_json::json!({"type": "object"}),
                )],
                &[],
            )
            .await
            .unwrap();
        assert!(
            index.signatures().await.unwrap().is_empty(),
            "not embedded: indexed again at the next sync"
        );
        let hits = index.search("commit history", 5).await.unwrap();
        assert_eq!(hits[0].tool, "git_log");
    }
}
