//! The tool search index: tantivy, BM25, in `<data_dir>/index`, and how queries are read.
//!
//! Each upstream tool is one document with four searched fields: its name (and titles), the
//! products its server serves (the server's name, derived and user-given aliases), its
//! description and its parameters. Every text goes through one analyzer: identifiers split
//! (`getUserById`, `get_user_by_id` → `get user by id`, and `GitHub` also whole), lowercased,
//! English-stemmed. A query is read into concepts — fillers dropped, thesaurus phrases kept
//! whole — and each concept matches its own words or, weaker, its synonyms; an exact name
//! (or `server:tool`) match comes first. Each hit says how much of the query it covers, which
//! lets the use case tell when nothing fits. The index is rebuilt, empty, when it is missing,
//! unreadable or written by another analyzer — the catalog then fills it from storage. Every
//! write runs off the async runtime.
#![forbid(unsafe_code)]

mod aliases;
mod analysis;
mod document;
mod index;
mod mirror;
mod query;
mod ranking;
mod thesaurus;
mod words;

pub use index::{OpenError, SearchOptions, TantivyIndex};
pub use ranking::Tuning;
pub use words::split_words;
