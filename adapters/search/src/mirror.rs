//! Every indexed tool in memory: who it is (server, tool name) and its terms, by the `key`
//! its document carries. A search reads its hits' identity and coverage of the query from
//! here instead of the document store, and drops query words no tool has before tantivy
//! scores them.

use std::collections::{HashMap, HashSet};

use mcpproxy_domain::ServerName;

use crate::query::Concept;

/// How much more a named product counts in the coverage than its rarity says.
const PRODUCT_WEIGHT: f32 = 2.0;

/// One indexed tool.
#[derive(Debug)]
pub struct Entry {
    pub server: ServerName,
    pub tool: String,
    /// Its terms (vocabulary ids, sorted, unique).
    terms: Box<[u32]>,
}

/// Every tool's terms and identity, by document key.
#[derive(Debug, Default)]
pub struct Mirror {
    vocab: HashMap<String, u32>,
    /// In how many tools each term occurs.
    df: Vec<u32>,
    docs: HashMap<u64, Entry>,
    by_server: HashMap<String, Vec<u64>>,
    /// The product names each server answers to (analyzed).
    products: HashMap<String, HashSet<String>>,
    /// How many servers answer to each product name.
    product_servers: HashMap<String, usize>,
}

/// One way to say a concept, probed: its credit and its terms' ids (`None`: a term no tool
/// has, so the variant is never covered).
type ProbedVariant = (f32, Vec<Option<u32>>);

/// A query read against the mirror once, so that scoring each hit is only lookups.
#[derive(Debug)]
pub struct Probe {
    /// Per concept: its weight and its variants.
    concepts: Vec<(f32, Vec<ProbedVariant>)>,
    total: f32,
}

impl Mirror {
    /// Whether some server answers to `term` as a product name.
    pub fn is_product(&self, term: &str) -> bool {
        self.product_servers.contains_key(term)
    }

    /// Whether some indexed tool has `term` (in any searched field).
    pub fn knows(&self, term: &str) -> bool {
        self.vocab
            .get(term)
            .and_then(|t| self.df.get(*t as usize))
            .is_some_and(|df| *df > 0)
    }

    pub fn set_products<'a>(&mut self, server: &str, terms: impl Iterator<Item = &'a str>) {
        let set = self.products.entry(server.to_owned()).or_default();
        for term in terms {
            if set.insert(term.to_owned()) {
                *self.product_servers.entry(term.to_owned()).or_default() += 1;
            }
        }
    }

    pub fn remove_server(&mut self, server: &str) {
        for term in self.products.remove(server).unwrap_or_default() {
            if let Some(n) = self.product_servers.get_mut(&term) {
                *n -= 1;
                if *n == 0 {
                    self.product_servers.remove(&term);
                }
            }
        }
        for key in self.by_server.remove(server).unwrap_or_default() {
            if let Some(entry) = self.docs.remove(&key) {
                for t in entry.terms.iter() {
                    self.df[*t as usize] = self.df[*t as usize].saturating_sub(1);
                }
            }
        }
    }

    pub fn insert<'a>(
        &mut self,
        key: u64,
        server: &ServerName,
        tool: String,
        terms: impl Iterator<Item = &'a str>,
    ) {
        let mut ids: Vec<u32> = terms
            .map(|t| {
                let next = u32::try_from(self.vocab.len()).unwrap_or(u32::MAX);
                *self.vocab.entry(t.to_owned()).or_insert(next)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for t in &ids {
            if *t as usize >= self.df.len() {
                self.df.resize(*t as usize + 1, 0);
            }
            self.df[*t as usize] += 1;
        }
        self.by_server
            .entry(server.as_str().to_owned())
            .or_default()
            .push(key);
        self.docs.insert(
            key,
            Entry {
                server: server.clone(),
                tool,
                terms: ids.into_boxed_slice(),
            },
        );
    }

    pub fn get(&self, key: u64) -> Option<&Entry> {
        self.docs.get(&key)
    }

    /// The highest document key in use.
    pub fn last_key(&self) -> Option<u64> {
        self.docs.keys().max().copied()
    }

    /// How rare a term is among the tools (BM25's idf); a term no tool has is rarest.
    fn idf(&self, term: &str) -> f32 {
        let n = self.docs.len() as f32;
        let df = self
            .vocab
            .get(term)
            .and_then(|t| self.df.get(*t as usize))
            .copied()
            .unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Reads `concepts` for [`Mirror::coverage`]: rarity-weighted, a named product counting
    /// double; a concept counts fully when a tool has the query's own words, less through a
    /// synonym or a piece of a compound.
    pub fn probe(&self, concepts: &[Concept]) -> Probe {
        let mut total = 0.0;
        let concepts = concepts
            .iter()
            .map(|concept| {
                let mut idf = concept.own.iter().map(|t| self.idf(t)).sum::<f32>()
                    / concept.own.len().max(1) as f32;
                // A product the query names ("… from my Outlook") is what the user insists on.
                if concept.own.iter().any(|t| self.is_product(t)) {
                    idf *= PRODUCT_WEIGHT;
                }
                total += idf;
                let variants = concept
                    .variants
                    .iter()
                    .map(|v| {
                        let ids = v.terms.iter().map(|t| self.vocab.get(t).copied());
                        (v.weight.sqrt(), ids.collect())
                    })
                    .collect();
                (idf, variants)
            })
            .collect();
        Probe { concepts, total }
    }

    /// The weighted share of the probed query that `entry` covers, 0 to 1.
    pub fn coverage(probe: &Probe, entry: &Entry) -> f32 {
        if probe.total <= 0.0 {
            return 0.0;
        }
        let has = |t: &Option<u32>| t.is_some_and(|t| entry.terms.binary_search(&t).is_ok());
        let covered: f32 = probe
            .concepts
            .iter()
            .map(|(idf, variants)| {
                let credit = variants
                    .iter()
                    .filter(|(_, terms)| terms.iter().all(has))
                    .map(|(credit, _)| *credit)
                    .fold(0.0, f32::max);
                idf * credit
            })
            .sum();
        covered / probe.total
    }
}
