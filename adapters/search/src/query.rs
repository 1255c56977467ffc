//! Reading a query: which concepts it asks for, and each concept's words (its own, then the
//! thesaurus's) with their weights.

use std::collections::{HashMap, HashSet};

use tantivy::tokenizer::TextAnalyzer;

use crate::analysis::terms;
use crate::thesaurus::{FILLERS, GROUPS};
use crate::words::{split_words, word_spans};

/// How much a thesaurus word counts beside the query's own word.
pub const SYNONYM_WEIGHT: f32 = 0.5;
/// How much each piece of a compound (`GitHub` → `git`, `hub`) counts beside the compound.
const PIECE_WEIGHT: f32 = 0.3;
/// The most concepts a query is read for; the rest of a long query is ignored.
pub const MAX_CONCEPTS: usize = 24;

/// One way to say a concept: its terms (several for a phrase) and how much it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub terms: Vec<String>,
    pub weight: f32,
}

/// One thing the query asks for, and every way to say it.
#[derive(Debug, Clone, PartialEq)]
pub struct Concept {
    /// The query's own words for it (stemmed).
    pub own: Vec<String>,
    pub variants: Vec<Variant>,
}

/// The thesaurus compiled to stems, with the user's own groups.
#[derive(Debug, Clone)]
pub struct QueryReader {
    /// An entry (a stem sequence) → the groups it is in.
    entries: HashMap<Vec<String>, Vec<usize>>,
    groups: Vec<Vec<Vec<String>>>,
    longest: usize,
    fillers: HashSet<String>,
}

/// The stems of `text`, pieces only: a thesaurus phrase is matched word by word.
fn stems(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    terms(analyzer, &split_words(text))
}

impl QueryReader {
    /// Our thesaurus plus `extra` groups (from the config's `search.synonyms`).
    pub fn new(analyzer: &mut TextAnalyzer, extra: &[Vec<String>]) -> Self {
        let mut groups: Vec<Vec<Vec<String>>> = Vec::new();
        let ours = GROUPS
            .iter()
            .map(|g| g.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>());
        for group in ours.chain(extra.iter().cloned()) {
            let entries: Vec<Vec<String>> = group
                .iter()
                .map(|w| stems(analyzer, w))
                .filter(|s| !s.is_empty())
                .collect();
            if entries.len() > 1 {
                groups.push(entries);
            }
        }
        let mut entries: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
        for (i, group) in groups.iter().enumerate() {
            for entry in group {
                let at = entries.entry(entry.clone()).or_default();
                if !at.contains(&i) {
                    at.push(i);
                }
            }
        }
        let longest = entries.keys().map(Vec::len).max().unwrap_or(1);
        let fillers = FILLERS.iter().flat_map(|w| terms(analyzer, w)).collect();
        Self {
            entries,
            groups,
            longest,
            fillers,
        }
    }

    /// The concepts of `query`, in order, fillers dropped. Thesaurus phrases are read whole
    /// ("pull request" is one concept); a compound word (`GitHub`) is one concept whose
    /// pieces count a little.
    pub fn read(&self, analyzer: &mut TextAnalyzer, query: &str) -> Vec<Concept> {
        // Units: a word's stems, with the compound whole first when there is one.
        let mut words: Vec<(String, Vec<String>)> = Vec::new(); // (stem, pieces of a compound)
        let spans = word_spans(query);
        let mut i = 0;
        while i < spans.len() {
            let (from, to, _) = &spans[i];
            let pieces = word_spans(&query[*from..*to]).len();
            if pieces > 1 {
                let whole = terms(analyzer, &query[*from..*to]);
                let whole_stem = whole.first().cloned().unwrap_or_default();
                let parts: Vec<String> = spans[i + 1..i + pieces]
                    .iter()
                    .flat_map(|(_, _, w)| terms(analyzer, w))
                    .collect();
                words.push((whole_stem, parts));
                i += pieces;
            } else {
                for stem in terms(analyzer, &spans[i].2) {
                    words.push((stem, Vec::new()));
                }
                i += 1;
            }
        }
        let mut concepts: Vec<Concept> = Vec::new();
        let mut i = 0;
        while i < words.len() && concepts.len() < MAX_CONCEPTS {
            // The longest thesaurus phrase starting here (compounds are never in a phrase).
            let mut matched = None;
            for n in (2..=self.longest.min(words.len() - i)).rev() {
                let key: Vec<String> = words[i..i + n].iter().map(|w| w.0.clone()).collect();
                if words[i..i + n].iter().all(|w| w.1.is_empty())
                    && let Some(groups) = self.entries.get(&key)
                {
                    matched = Some((key, groups.clone()));
                    break;
                }
            }
            let (own, groups, pieces) = match matched {
                Some((key, groups)) => {
                    i += key.len();
                    (key, groups, Vec::new())
                }
                None => {
                    let (stem, pieces) = words[i].clone();
                    i += 1;
                    if pieces.is_empty() && self.fillers.contains(&stem) {
                        continue;
                    }
                    let groups = self.entries.get(&vec![stem.clone()]).cloned();
                    (vec![stem], groups.unwrap_or_default(), pieces)
                }
            };
            let mut variants = vec![Variant {
                terms: own.clone(),
                weight: 1.0,
            }];
            for piece in pieces {
                push_variant(&mut variants, vec![piece], PIECE_WEIGHT);
            }
            for g in groups {
                for entry in &self.groups[g] {
                    push_variant(&mut variants, entry.clone(), SYNONYM_WEIGHT);
                }
            }
            if concepts.iter().any(|c| c.own == own) {
                continue;
            }
            concepts.push(Concept { own, variants });
        }
        concepts
    }
}

fn push_variant(variants: &mut Vec<Variant>, terms: Vec<String>, weight: f32) {
    if let Some(v) = variants.iter_mut().find(|v| v.terms == terms) {
        v.weight = v.weight.max(weight);
    } else {
        variants.push(Variant { terms, weight });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyzer;

    fn read(q: &str) -> Vec<Concept> {
        let mut a = analyzer();
        QueryReader::new(&mut a, &[]).read(&mut a, q)
    }

    fn owns(q: &str) -> Vec<String> {
        read(q).into_iter().map(|c| c.own.join(" ")).collect()
    }

    fn says(concept: &Concept, words: &str) -> bool {
        concept.variants.iter().any(|v| v.terms.join(" ") == words)
    }

    #[test]
    fn fillers_go_and_meaningful_small_words_stay() {
        assert_eq!(
            owns("please show me all of my open tickets"),
            ["show", "all", "open", "ticket"]
        );
        assert_eq!(
            owns("files not ignored without a readme"),
            ["file", "not", "ignor", "without", "readm"]
        );
    }

    #[test]
    fn a_thesaurus_phrase_is_one_concept_with_its_synonyms() {
        let concepts = read("review my pull requests");
        assert_eq!(concepts[1].own, ["pull", "request"]);
        assert!(says(&concepts[1], "pr"));
        assert!(says(&concepts[1], "merg request"));
        assert!(says(&concepts[0], "feedback"));
    }

    #[test]
    fn verbs_and_nouns_reach_their_synonyms() {
        let concepts = read("erase folder");
        assert!(says(&concepts[0], "delet") && says(&concepts[0], "remov"));
        assert!(says(&concepts[1], "directori"));
        let v = concepts[1]
            .variants
            .iter()
            .find(|v| v.terms == ["directori"])
            .unwrap();
        assert!((v.weight - SYNONYM_WEIGHT).abs() < f32::EPSILON);
    }

    #[test]
    fn a_compound_is_one_concept_with_weak_pieces() {
        let concepts = read("GitHub issues");
        assert_eq!(concepts[0].own, ["github"]);
        assert!(says(&concepts[0], "git"));
        assert_eq!(concepts[1].own, ["issu"]);
    }

    #[test]
    fn user_groups_extend_the_thesaurus() {
        let mut a = analyzer();
        let reader = QueryReader::new(&mut a, &[vec!["runbook".into(), "playbook".into()]]);
        let concepts = reader.read(&mut a, "open the runbook");
        assert!(says(&concepts[1], "playbook"));
    }

    #[test]
    fn a_long_query_is_read_only_so_far() {
        let q = (0..100)
            .map(|i| format!("w{i}x"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(read(&q).len(), MAX_CONCEPTS);
    }
}
