//! A tiny model for tests, built on the spot: the adapter's own tests and the end-to-end
//! tests run the real loading and inference code on it, and no model is ever downloaded or
//! committed.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use serde_json::json;

use crate::LoadError;

const WORDS: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "list",
    "files",
    "in",
    "a",
    "directory",
    "create",
    "issue",
    "send",
    "mail",
    "delete",
    "branch",
    "open",
    "pull",
    "request",
    "the",
    "my",
    "to",
    "of",
    "and",
    "read",
    "write",
    "search",
    "web",
    "page",
    "run",
    "query",
    "##s",
    "##ing",
    "##ed",
    "git",
    "hub",
    "calendar",
    "event",
    ".",
    ",",
    ":",
];

fn failed(dir: &Path, e: impl std::fmt::Display) -> LoadError {
    LoadError::Model {
        path: dir.to_owned(),
        reason: e.to_string(),
    }
}

fn write(path: &Path, value: &serde_json::Value) -> Result<(), LoadError> {
    std::fs::write(path, value.to_string()).map_err(|e| LoadError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Weights from a fixed-seed generator (xorshift), scaled like BERT's initialiser.
fn seeded(name: &str, shape: &[usize]) -> Vec<f32> {
    let mut state = name.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    let n: usize = shape.iter().product();
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Top 24 bits to [-1, 1), times the spread BERT starts from (and then some, so
            // that texts differ clearly).
            ((state >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 0.5
        })
        .collect()
}

/// Writes a tiny model folder (2 layers, 16 dimensions, a 40-word vocabulary) in the layout
/// and formats of a real one. Its weights are pseudo-random but the same on every run, so a
/// test that ranks with it ranks the same way each time.
pub fn write_tiny_model(dir: &Path, pooling_cls: bool) -> Result<(), LoadError> {
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": WORDS.len(), "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
        "classifier_dropout": null
    });
    write(&dir.join("config.json"), &config)?;
    let parsed: Config = serde_json::from_value(config).map_err(|e| failed(dir, e))?;
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    BertModel::load(vb, &parsed).map_err(|e| failed(dir, e))?;
    {
        let data = vars.data().lock().map_err(|e| failed(dir, e))?;
        for (name, var) in data.iter() {
            // Layer norms keep their ones and zeros; everything else gets seeded values.
            if name.contains("LayerNorm") {
                continue;
            }
            let shape = var.dims().to_vec();
            let values = Tensor::from_vec(seeded(name, &shape), shape, &Device::Cpu)
                .map_err(|e| failed(dir, e))?;
            var.set(&values).map_err(|e| failed(dir, e))?;
        }
    }
    vars.save(dir.join("model.safetensors"))
        .map_err(|e| failed(dir, e))?;

    let vocab: serde_json::Map<String, serde_json::Value> = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_owned(), json!(i)))
        .collect();
    let special: Vec<serde_json::Value> = (0..4)
        .map(|i| {
            json!({"id": i, "content": WORDS[i], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
            "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
            "vocab": vocab}
    });
    write(&dir.join("tokenizer.json"), &tokenizer)?;
    let pooling_dir = dir.join("1_Pooling");
    std::fs::create_dir_all(&pooling_dir).map_err(|e| failed(&pooling_dir, e))?;
    write(
        &pooling_dir.join("config.json"),
        &json!({"word_embedding_dimension": 16, "pooling_mode_cls_token": pooling_cls,
            "pooling_mode_mean_tokens": !pooling_cls}),
    )?;
    write(
        &dir.join("sentence_bert_config.json"),
        &json!({"max_seq_length": 32, "do_lower_case": false}),
    )
}
