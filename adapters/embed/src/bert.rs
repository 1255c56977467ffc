//! The BERT-family sentence model run with candle (built with the `candle` feature).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use mcpproxy_application::ports::{EmbedError, Embedder};

use crate::LoadError;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Texts embedded in one forward pass: bounds memory and keeps padding waste small.
const BATCH: usize = 32;
/// The longest input read (tokens, with [CLS]/[SEP]), whatever the model folder allows:
/// sentence models of this size are trained on 128-token inputs, a tool's name and first
/// sentences say what it does, and the cost grows with the length.
const MAX_TOKENS: usize = 128;

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    Mean,
    Cls,
}

/// A local sentence-embedding model.
pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    pooling: Pooling,
    name: String,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("name", &self.name)
            .field("pooling", &self.pooling)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn json(path: &Path) -> Result<serde_json::Value, LoadError> {
    serde_json::from_slice(&read(path)?).map_err(|e| LoadError::Model {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

impl BertEmbedder {
    /// Loads the model in `dir` (see the crate docs for the files it needs).
    pub fn open(dir: &Path) -> Result<Self, LoadError> {
        let config_path = dir.join("config.json");
        let config: Config =
            serde_json::from_value(json(&config_path)?).map_err(|e| LoadError::Model {
                path: config_path.clone(),
                reason: e.to_string(),
            })?;
        let weights_path = dir.join("model.safetensors");
        let weights = read(&weights_path)?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).map_err(
            |e| LoadError::Model {
                path: weights_path.clone(),
                reason: e.to_string(),
            },
        )?;
        let model = BertModel::load(vb, &config).map_err(|e| LoadError::Model {
            path: weights_path,
            reason: e.to_string(),
        })?;

        let max_tokens = Self::max_tokens(dir, &config)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_bytes(read(&tokenizer_path)?).map_err(|e| LoadError::Model {
                path: tokenizer_path.clone(),
                reason: e.to_string(),
            })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| LoadError::Model {
                path: tokenizer_path,
                reason: e.to_string(),
            })?;
        // Each batch is padded to its longest text (the mask hides the padding).
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: u32::try_from(config.pad_token_id).unwrap_or(0),
            ..PaddingParams::default()
        }));

        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = if pooling_path.exists()
            && json(&pooling_path)?["pooling_mode_cls_token"].as_bool() == Some(true)
        {
            Pooling::Cls
        } else {
            Pooling::Mean
        };
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        Ok(Self {
            model,
            tokenizer,
            pooling,
            name,
        })
    }

    /// `sentence_bert_config.json`'s `max_seq_length`, within what the model can take.
    fn max_tokens(dir: &Path, config: &Config) -> Result<usize, LoadError> {
        let path = dir.join("sentence_bert_config.json");
        let wanted = if path.exists() {
            json(&path)?["max_seq_length"]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(MAX_TOKENS)
        } else {
            MAX_TOKENS
        };
        Ok(wanted
            .min(MAX_TOKENS)
            .min(config.max_position_embeddings)
            .max(2))
    }

    fn embed_batch(&self, texts: &[String]) -> candle_core::Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(candle_core::Error::msg)?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let device = &self.model.device;
        let ids = Tensor::from_vec(ids, (rows, width), device)?;
        let mask = Tensor::from_vec(mask, (rows, width), device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        let norms = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12, f32::MAX)?;
        pooled.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

impl Embedder for BertEmbedder {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Texts of like length share a batch, so little of it is padding; the answer keeps
        // the order asked.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            let vectors = self
                .embed_batch(&batch)
                .map_err(|e| EmbedError(format!("{}: {e}", self.name)))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn model(&self) -> String {
        self.name.clone()
    }
}
