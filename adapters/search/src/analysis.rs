//! How text becomes search terms, the same way for tools and queries: identifiers split
//! (and kept whole), lowercased, English-stemmed.

use tantivy::tokenizer::{
    Language, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

use crate::words::word_spans;

/// The name the analyzer is registered under. A change to what it produces must change the
/// name: the index checks its schema at open and rebuilds when it differs.
pub const ANALYZER: &str = "mcpproxy_tool_words_v1";

/// Splits text into words: every piece of a compound identifier, and the compound whole.
#[derive(Debug, Clone, Default)]
pub struct WordTokenizer;

/// The words of one text, produced eagerly (texts are short).
#[derive(Debug)]
pub struct WordStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let tokens = word_spans(text)
            .into_iter()
            .enumerate()
            .map(|(position, (from, to, word))| Token {
                offset_from: from,
                offset_to: to,
                position,
                text: acronym_singular(word),
                position_length: 1,
            })
            .collect();
        WordStream { tokens, next: 0 }
    }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// `prs` → `pr`, `mrs` → `mr`, `pdfs` → `pdf`: the plural of an acronym, which the English
/// stemmer keeps (it strips an `s` only after a vowel).
fn acronym_singular(mut word: String) -> String {
    let vowel = |c: char| "aeiouy".contains(c);
    if word.len() >= 3
        && word.ends_with('s')
        && !word.ends_with("ss")
        && !word[..word.len() - 1].chars().any(vowel)
        && word.chars().all(|c| c.is_ascii_alphabetic())
    {
        word.pop();
    }
    word
}

/// The analyzer of every text field of the index.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer)
        .filter(RemoveLongFilter::limit(40))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms `text` gives, in order (a compound comes before its pieces).
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_plurals_meet_their_sentence_forms() {
        let mut a = analyzer();
        assert_eq!(
            terms(&mut a, "listPullRequests"),
            ["listpullrequest", "list", "pull", "request"]
        );
        assert_eq!(
            terms(&mut a, "list pull requests"),
            ["list", "pull", "request"]
        );
        assert_eq!(
            terms(&mut a, "deleting repositories"),
            ["delet", "repositori"]
        );
        assert_eq!(terms(&mut a, "delete_repository"), ["delet", "repositori"]);
        assert_eq!(terms(&mut a, "GitHub"), ["github", "git", "hub"]);
        assert_eq!(terms(&mut a, "my PRs"), ["my", "pr"]);
    }
}
