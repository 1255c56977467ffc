//! The search-quality harness: the dev set in `bench/quality` (real tool lists, labelled
//! task-language queries), scored as recall@1/5/10 and MRR per query kind, for plain BM25,
//! for our index in-process, and for `retrieve_tools` through the real binary.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use mcpproxy_domain::{ServerName, Tool};
use serde::Deserialize;

/// The tools of one dumped server.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerDump {
    pub server: String,
    pub package: String,
    pub version: String,
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    pub id: String,
    pub kind: String,
    pub query: String,
    /// `server:tool` ids of every tool that would do; empty when none would.
    pub relevant: Vec<String>,
    pub part: String,
}

/// The dev set: every dumped server and every query.
#[derive(Debug, Clone)]
pub struct DevSet {
    pub servers: Vec<ServerDump>,
    pub queries: Vec<Query>,
}

impl DevSet {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut servers = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(dir.join("tools"))
            .map_err(|e| format!("{}: {e}", dir.join("tools").display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let dump: ServerDump =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            servers.push(dump);
        }
        let text = std::fs::read_to_string(dir.join("queries.jsonl")).map_err(|e| e.to_string())?;
        let queries = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("queries.jsonl: {e}")))
            .collect::<Result<Vec<Query>, String>>()?;
        Ok(Self { servers, queries })
    }

    pub fn tool_count(&self) -> usize {
        self.servers.iter().map(|s| s.tools.len()).sum()
    }

    /// The queries of a part (`tune`, `blind` or `all`).
    pub fn part(&self, part: &str) -> Vec<Query> {
        self.queries
            .iter()
            .filter(|q| part == "all" || q.part == part)
            .cloned()
            .collect()
    }

    pub fn server_names(&self) -> Result<Vec<(ServerName, &[Tool])>, String> {
        self.servers
            .iter()
            .map(|s| {
                ServerName::parse(&s.server)
                    .map(|n| (n, s.tools.as_slice()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// What a system answered for one query: ids best first, and whether it said nothing fits.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub ids: Vec<String>,
    pub low_confidence: Option<bool>,
}

/// The scores of one system on some queries.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// kind → (queries, hits@1, hits@5, hits@10, reciprocal rank sum)
    kinds: BTreeMap<String, [f64; 5]>,
    /// No-answer queries flagged / all; answerable queries flagged / all.
    none_flagged: (usize, usize),
    answerable_flagged: (usize, usize),
}

impl Scores {
    pub fn add(&mut self, query: &Query, answer: &Answer) {
        if let Some(low) = answer.low_confidence {
            let slot = if query.relevant.is_empty() {
                &mut self.none_flagged
            } else {
                &mut self.answerable_flagged
            };
            slot.0 += usize::from(low);
            slot.1 += 1;
        }
        if query.relevant.is_empty() {
            return;
        }
        let rank = answer
            .ids
            .iter()
            .position(|id| query.relevant.contains(id))
            .map(|r| r + 1);
        for kind in [query.kind.as_str(), "all answerable"] {
            let k = self.kinds.entry(kind.to_owned()).or_default();
            k[0] += 1.0;
            if let Some(r) = rank {
                k[1] += f64::from(u8::from(r <= 1));
                k[2] += f64::from(u8::from(r <= 5));
                k[3] += f64::from(u8::from(r <= 10));
                k[4] += 1.0 / r as f64;
            }
        }
    }

    /// (recall@1, recall@5, recall@10, MRR) of a kind.
    pub fn of(&self, kind: &str) -> Option<[f64; 4]> {
        let k = self.kinds.get(kind)?;
        let n = k[0].max(1.0);
        Some([k[1] / n, k[2] / n, k[3] / n, k[4] / n])
    }

    /// Share of no-answer queries flagged low-confidence, and of answerable ones.
    pub fn flags(&self) -> Option<(f64, f64)> {
        let share = |(a, b): (usize, usize)| a as f64 / b.max(1) as f64;
        (self.none_flagged.1 > 0)
            .then(|| (share(self.none_flagged), share(self.answerable_flagged)))
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .kinds
            .keys()
            .filter(|k| *k != "all answerable")
            .cloned()
            .collect();
        kinds.push("all answerable".into());
        kinds
    }
}

/// One Markdown table: a row per system and kind.
pub fn table(title: &str, systems: &[(String, Scores)]) -> String {
    let mut out = format!(
        "\n#### {title}\n\n| system | kind | queries | recall@1 | recall@5 | recall@10 | MRR |\n|---|---|---|---|---|---|---|\n"
    );
    for (name, scores) in systems {
        for kind in scores.kinds() {
            let Some([r1, r5, r10, mrr]) = scores.of(&kind) else {
                continue;
            };
            let n = scores.kinds[&kind][0];
            let _ = writeln!(
                out,
                "| {name} | {kind} | {n} | {r1:.2} | {r5:.2} | {r10:.2} | {mrr:.2} |"
            );
        }
    }
    let flagged: Vec<_> = systems
        .iter()
        .filter_map(|(name, s)| s.flags().map(|f| (name, f)))
        .collect();
    if !flagged.is_empty() {
        let _ = writeln!(
            out,
            "\n| system | no-answer queries flagged `low_confidence` | answerable queries flagged |\n|---|---|---|"
        );
        for (name, (none, answerable)) in flagged {
            let _ = writeln!(
                out,
                "| {name} | {:.0} % | {:.0} % |",
                none * 100.0,
                answerable * 100.0
            );
        }
    }
    out
}

/// Plain BM25 over name + description with `\w+` tokens, lowercased, and nothing else: the
/// baseline the issue measures against.
#[derive(Debug)]
pub struct PlainBm25 {
    ids: Vec<String>,
    docs: Vec<HashMap<String, f64>>,
    lengths: Vec<f64>,
    df: HashMap<String, f64>,
    average: f64,
}

fn word_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl PlainBm25 {
    pub fn new(set: &DevSet) -> Self {
        let mut me = Self {
            ids: Vec::new(),
            docs: Vec::new(),
            lengths: Vec::new(),
            df: HashMap::new(),
            average: 0.0,
        };
        for s in &set.servers {
            for t in &s.tools {
                let tokens = word_tokens(&format!("{} {}", t.name, t.description));
                let mut tf: HashMap<String, f64> = HashMap::new();
                for w in &tokens {
                    *tf.entry(w.clone()).or_default() += 1.0;
                }
                for w in tf.keys() {
                    *me.df.entry(w.clone()).or_default() += 1.0;
                }
                me.ids.push(format!("{}:{}", s.server, t.name));
                me.lengths.push(tokens.len() as f64);
                me.docs.push(tf);
            }
        }
        me.average = me.lengths.iter().sum::<f64>() / me.lengths.len().max(1) as f64;
        me
    }

    pub fn search(&self, query: &str, limit: usize) -> Vec<String> {
        let (k1, b) = (1.2, 0.75);
        let n = self.docs.len() as f64;
        let words = word_tokens(query);
        let mut scored: Vec<(f64, usize)> = self
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, tf)| {
                let mut score = 0.0;
                for w in &words {
                    let Some(f) = tf.get(w) else { continue };
                    let df = self.df[w];
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    score += idf * f * (k1 + 1.0)
                        / (f + k1 * (1.0 - b + b * self.lengths[i] / self.average));
                }
                (score > 0.0).then_some((score, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take(limit)
            .map(|(_, i)| self.ids[i].clone())
            .collect()
    }
}
