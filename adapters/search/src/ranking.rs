//! How a read query becomes a ranking: BM25 per field with our boosts, one disjunction per
//! concept over its words, and the share of the query each tool covers.

use std::collections::{HashMap, HashSet};

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, TermQuery,
};
use tantivy::schema::IndexRecordOption;

use crate::document::Fields;
use crate::query::Concept;

/// The knobs of the ranking, tuned on the dev set's tuning part (`scripts/search-quality`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Field boosts: name (and titles), products (server name and aliases), description,
    /// parameters.
    pub boosts: [f32; 4],
    /// How much of a concept's best word the other words that match add.
    pub tie_breaker: f32,
    /// The boost of a query that is exactly a tool's name, or its `server:tool` id.
    pub exact_name: f32,
    pub exact_id: f32,
    /// The final score is BM25 × (1 − mix + mix × coverage): tools that cover more of the
    /// query (weighted by rarity) move up.
    pub coverage_mix: f32,
    /// A flat score for the tools of a product the query names ("… in Jira"), whatever
    /// how common the product's name is among the tools.
    pub product_bonus: f32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            boosts: [2.0, 1.0, 1.0, 0.5],
            tie_breaker: 0.2,
            exact_name: 10.0,
            exact_id: 20.0,
            coverage_mix: 0.9,
            product_bonus: 4.0,
        }
    }
}

impl Tuning {
    /// The tantivy query for `concepts` (plus the exact name and id of the raw query).
    pub fn query(
        &self,
        f: &Fields,
        concepts: &[Concept],
        raw: &str,
        mirror: &Mirror,
    ) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for concept in concepts {
            if self.product_bonus > 0.0 {
                for term in concept.own.iter().filter(|t| mirror.is_product(t)) {
                    let q = TermQuery::new(
                        Term::from_field_text(f.products, term),
                        IndexRecordOption::Basic,
                    );
                    clauses.push((
                        Occur::Should,
                        Box::new(ConstScoreQuery::new(Box::new(q), self.product_bonus)),
                    ));
                }
            }
            let mut variants: Vec<Box<dyn Query>> = Vec::new();
            for variant in &concept.variants {
                let mut terms: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                let share = variant.weight / variant.terms.len() as f32;
                for term in &variant.terms {
                    for (field, boost) in f.searched().into_iter().zip(self.boosts) {
                        if boost <= 0.0 {
                            continue;
                        }
                        let q = TermQuery::new(
                            Term::from_field_text(field, term),
                            IndexRecordOption::WithFreqs,
                        );
                        terms.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(q), boost * share)),
                        ));
                    }
                }
                variants.push(Box::new(BooleanQuery::new(terms)));
            }
            clauses.push((
                Occur::Should,
                Box::new(DisjunctionMaxQuery::with_tie_breaker(
                    variants,
                    self.tie_breaker,
                )),
            ));
        }
        let exact = raw.trim().to_lowercase();
        if !exact.is_empty() {
            let by_name = TermQuery::new(
                Term::from_field_text(f.name_exact, &exact),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(by_name), self.exact_name)),
            ));
            if exact.contains(':') {
                let by_id = TermQuery::new(
                    Term::from_field_text(f.id, raw.trim()),
                    IndexRecordOption::Basic,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(by_id), self.exact_id)),
                ));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// How much more a named product counts in the coverage than its rarity says.
const PRODUCT_WEIGHT: f32 = 2.0;

/// Every tool's terms, in memory, to say how much of a query a tool covers.
#[derive(Debug, Default)]
pub struct Mirror {
    vocab: HashMap<String, u32>,
    /// In how many tools each term occurs.
    df: Vec<u32>,
    /// `server:tool` → its terms (sorted, unique).
    docs: HashMap<String, Box<[u32]>>,
    by_server: HashMap<String, Vec<String>>,
    /// The product names each server answers to (analyzed).
    products: HashMap<String, HashSet<String>>,
}

impl Mirror {
    /// Whether some server answers to `term` as a product name.
    pub fn is_product(&self, term: &str) -> bool {
        self.products.values().any(|p| p.contains(term))
    }

    pub fn set_products<'a>(&mut self, server: &str, terms: impl Iterator<Item = &'a str>) {
        let set: HashSet<String> = terms.map(str::to_owned).collect();
        self.products
            .entry(server.to_owned())
            .or_default()
            .extend(set);
    }

    pub fn remove_server(&mut self, server: &str) {
        self.products.remove(server);
        for id in self.by_server.remove(server).unwrap_or_default() {
            if let Some(terms) = self.docs.remove(&id) {
                for t in terms.iter() {
                    self.df[*t as usize] = self.df[*t as usize].saturating_sub(1);
                }
            }
        }
    }

    pub fn insert<'a>(&mut self, server: &str, id: String, terms: impl Iterator<Item = &'a str>) {
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
            .entry(server.to_owned())
            .or_default()
            .push(id.clone());
        self.docs.insert(id, ids.into_boxed_slice());
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

    fn has(&self, doc: &[u32], term: &str) -> bool {
        self.vocab
            .get(term)
            .is_some_and(|t| doc.binary_search(t).is_ok())
    }

    /// The idf-weighted share of `concepts` the tool `id` has: a concept counts fully when
    /// the tool has the query's own words, less through a synonym or a piece of a compound.
    pub fn coverage(&self, id: &str, concepts: &[Concept]) -> f32 {
        let Some(doc) = self.docs.get(id) else {
            return 0.0;
        };
        let mut total = 0.0;
        let mut covered = 0.0;
        for concept in concepts {
            let mut idf = concept.own.iter().map(|t| self.idf(t)).sum::<f32>()
                / concept.own.len().max(1) as f32;
            // A product the query names ("… from my Outlook") is what the user insists on.
            if concept.own.iter().any(|t| self.is_product(t)) {
                idf *= PRODUCT_WEIGHT;
            }
            total += idf;
            let credit = concept
                .variants
                .iter()
                .filter(|v| v.terms.iter().all(|t| self.has(doc, t)))
                .map(|v| v.weight.sqrt())
                .fold(0.0, f32::max);
            covered += idf * credit;
        }
        if total > 0.0 { covered / total } else { 0.0 }
    }
}
