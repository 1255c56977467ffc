//! How a read query becomes a ranking: BM25 per field with our boosts, one disjunction per
//! concept over its words, and the share of the query each tool covers.

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, TermQuery,
};
use tantivy::schema::IndexRecordOption;

use crate::document::Fields;
use crate::mirror::Mirror;
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
                // A word no tool has matches nothing: leaving it out changes no score and
                // spares tantivy a term lookup per field (thesaurus variants are many).
                for term in variant.terms.iter().filter(|t| mirror.knows(t)) {
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
                if !terms.is_empty() {
                    variants.push(Box::new(BooleanQuery::new(terms)));
                }
            }
            if variants.is_empty() {
                continue;
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
