//! The adapter on a tiny BERT the test builds itself (random weights, a 40-word vocabulary,
//! the files sentence-transformers writes): loading, pooling, batching, refusals.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use serde_json::json;

use super::*;

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "list", "files", "in", "a", "directory", "create",
    "issue", "send", "mail", "delete", "branch", "open", "pull", "request", "the", "my", "to",
    "of", "and", "read", "write", "search", "web", "page", "run", "query", "##s", "##ing", "##ed",
    "git", "hub", "calendar", "event", ".", ",", ":",
];

/// Writes a tiny model folder: the same files, the same formats, as a real one.
pub(crate) fn tiny_model(dir: &Path, pooling_cls: bool) {
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": WORDS.len(), "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
        "classifier_dropout": null
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let parsed: Config = serde_json::from_value(config).unwrap();
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    BertModel::load(vb, &parsed).unwrap();
    vars.save(dir.join("model.safetensors")).unwrap();

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
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(
        dir.join("1_Pooling").join("config.json"),
        json!({"word_embedding_dimension": 16, "pooling_mode_cls_token": pooling_cls,
            "pooling_mode_mean_tokens": !pooling_cls})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        json!({"max_seq_length": 32, "do_lower_case": false}).to_string(),
    )
    .unwrap();
}

fn texts(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn vectors_are_unit_length_deterministic_and_tell_texts_apart() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), false);
    let model = BertEmbedder::open(dir.path()).unwrap();
    let input = texts(&["list files in a directory", "send mail", "LIST Files in a directory"]);
    let vectors = model.embed(&input).unwrap();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), 16);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
    }
    assert!(close(&vectors[0], &vectors[2]), "the tokenizer lowercases");
    assert!(!close(&vectors[0], &vectors[1]));
    assert!(close(&model.embed(&input).unwrap()[1], &vectors[1]));
}

#[test]
fn padding_in_a_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), false);
    let model = BertEmbedder::open(dir.path()).unwrap();
    let alone = model.embed(&texts(&["send mail"])).unwrap();
    let long = "read the web page and write my calendar event to git hub";
    let batched = model.embed(&texts(&[long, "send mail"])).unwrap();
    assert!(close(&alone[0], &batched[1]), "the mask hides the padding");
    // More texts than one batch holds come back in order.
    let many: Vec<String> = (0..BATCH + 5)
        .map(|i| if i % 2 == 0 { "send mail" } else { long }.to_owned())
        .collect();
    let out = model.embed(&many).unwrap();
    assert_eq!(out.len(), many.len());
    assert!(close(&out[BATCH + 4], &alone[0]));
}

#[test]
fn long_texts_are_cut_to_the_model_length_and_cls_pooling_is_read() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), true);
    let model = BertEmbedder::open(dir.path()).unwrap();
    assert_eq!(model.pooling, Pooling::Cls);
    let long = "list files in a directory ".repeat(40);
    let out = model.embed(&[long]).unwrap();
    assert_eq!(out[0].len(), 16);
}

#[test]
fn a_folder_without_the_model_files_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = BertEmbedder::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    tiny_model(dir.path(), false);
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let err = BertEmbedder::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(err.contains("not a BERT-family model"), "{err}");
}
