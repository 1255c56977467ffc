//! The adapter on a tiny BERT the test builds itself (random weights, a 40-word vocabulary,
//! the files sentence-transformers writes): loading, pooling, batching, refusals.

use mcpproxy_application::ports::Embedder;

use crate::BertEmbedder;
use crate::fixture::write_tiny_model as tiny_model;

fn texts(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn vectors_are_unit_length_deterministic_and_tell_texts_apart() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), false).unwrap();
    let model = BertEmbedder::open(dir.path()).unwrap();
    let input = texts(&[
        "list files in a directory",
        "send mail",
        "LIST Files in a directory",
    ]);
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
    tiny_model(dir.path(), false).unwrap();
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
    tiny_model(dir.path(), true).unwrap();
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
    tiny_model(dir.path(), false).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let err = BertEmbedder::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(err.contains("not a BERT-family model"), "{err}");
}
