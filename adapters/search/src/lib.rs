//! The tool search index: tantivy, BM25, in `<data_dir>/index`.
//!
//! Each upstream tool is one document. A tool's name is split into words (`getUserById`,
//! `get_user_by_id` and `get-user-by-id` all give "get user by id") and weighted above its
//! description and its parameters; an exact name (or `server:tool`) match comes first. The
//! index is rebuilt, empty, when it is missing or unreadable — the catalog then fills it from
//! storage. Every write runs off the async runtime.
#![forbid(unsafe_code)]

mod index;
mod words;

pub use index::{OpenError, TantivyIndex};
pub use words::split_words;
