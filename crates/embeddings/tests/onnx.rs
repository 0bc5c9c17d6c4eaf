//! `OnnxEmbedder` against the real model: agreement with sentence-transformers' pooling
//! computed by Python's onnxruntime (`tests/data/make_reference.py`), paraphrases,
//! truncation, concurrency, and clear errors for missing files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use common::{cosine, model_paths};
use embeddings::{EmbedError, Embedder, ModelPaths, OnnxConfig, OnnxEmbedder};

struct Reference {
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
    tokens: Vec<usize>,
}

fn reference() -> Reference {
    let text = include_str!("data/reference.json");
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let strings = |key: &str| -> Vec<String> {
        value[key].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
    };
    Reference {
        sentences: strings("sentences"),
        vectors: value["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
            .collect(),
        tokens: value["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agrees_with_sentence_transformers_within_1e4_cosine() {
    let Some(paths) = model_paths() else { return };
    let embedder = OnnxEmbedder::new(&paths, OnnxConfig::default()).unwrap();
    let reference = reference();
    // One batch, as the reference was computed.
    let out = embedder.embed(&reference.sentences).await.unwrap();
    assert_eq!(out.vectors.len(), reference.sentences.len());
    for (i, (got, want)) in out.vectors.iter().zip(&reference.vectors).enumerate() {
        assert_eq!(got.len(), 384);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "vector {i} has norm {norm}");
        let similarity = cosine(got, want);
        assert!(
            similarity >= 1.0 - 1e-4,
            "{:?}: cosine {similarity} to the reference",
            reference.sentences[i]
        );
    }
    // Only the 400-word text exceeds the 256-token window; it is truncated and reported.
    let long: Vec<usize> =
        reference.tokens.iter().enumerate().filter(|(_, t)| **t >= 256).map(|(i, _)| i).collect();
    assert_eq!(out.truncated, long);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_are_closer_than_unrelated_sentences() {
    let Some(paths) = model_paths() else { return };
    let embedder = OnnxEmbedder::new(&paths, OnnxConfig::default()).unwrap();
    let reference = reference();
    let v = embedder.embed(&reference.sentences[..8]).await.unwrap().vectors;
    // Pairs (0,1), (2,3), (4,5), (6,7) are paraphrases; every cross pair is unrelated.
    for pair in 0..4 {
        let (a, b) = (2 * pair, 2 * pair + 1);
        let close = cosine(&v[a], &v[b]);
        for other in (0..8).filter(|&o| o / 2 != pair) {
            assert!(close > cosine(&v[a], &v[other]) + 0.1, "{a}~{b} ({close}) vs {a}~{other}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_vectors_they_would_get_alone() {
    let Some(paths) = model_paths() else { return };
    let config = OnnxConfig { workers: 2, intra_threads: 1, ..OnnxConfig::default() };
    let embedder = Arc::new(OnnxEmbedder::new(&paths, config).unwrap());
    let reference = reference();
    let mut alone = Vec::new();
    for sentence in &reference.sentences {
        alone.push(embedder.embed(std::slice::from_ref(sentence)).await.unwrap().vectors.remove(0));
    }
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let (embedder, sentence) =
                (Arc::clone(&embedder), reference.sentences[n % reference.sentences.len()].clone());
            tokio::spawn(async move { (n, embedder.embed(&[sentence]).await.unwrap()) })
        })
        .collect();
    for task in tasks {
        let (n, out) = task.await.unwrap();
        let i = n % reference.sentences.len();
        // Batched with others (padded to their length), the vector is the same up to the
        // int8 model's dynamic quantisation, which sees the whole batch.
        let similarity = cosine(&out.vectors[0], &alone[i]);
        assert!(similarity >= 1.0 - 1e-4, "task {n}: cosine {similarity}");
        assert_eq!(out.truncated.is_empty(), reference.tokens[i] < 256);
    }
}

#[test]
fn missing_files_are_named_with_the_fix() {
    let dir = std::env::temp_dir().join("palisade-no-models-here");
    let paths = ModelPaths::in_cache(&dir);
    let error = OnnxEmbedder::new(&paths, OnnxConfig::default()).unwrap_err();
    assert!(
        matches!(&error, EmbedError::LibraryMissing { path, .. } if path == &paths.onnxruntime),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("libonnxruntime") && message.contains("cargo xtask fetch-models"), "{message}");

    // With the library present but the model missing, the model is named.
    if let Some(real) = ModelPaths::from_env().ok().filter(|p| p.check().is_ok()) {
        let paths = ModelPaths { model: dir.join("model.onnx"), ..real };
        let error = OnnxEmbedder::new(&paths, OnnxConfig::default()).unwrap_err();
        assert!(
            matches!(&error, EmbedError::ModelMissing { path, .. } if path.ends_with("model.onnx")),
            "{error}"
        );
        assert!(error.to_string().contains("cargo xtask fetch-models"));
    }
}

#[tokio::test]
async fn request_bounds() {
    let Some(paths) = model_paths() else { return };
    let config = OnnxConfig { max_texts_per_request: 4, ..OnnxConfig::default() };
    let embedder = OnnxEmbedder::new(&paths, config).unwrap();
    assert!(matches!(
        embedder.embed(&vec!["x".to_owned(); 5]).await,
        Err(EmbedError::TooManyTexts { count: 5, max: 4 })
    ));
    assert!(embedder.embed(&[]).await.unwrap().vectors.is_empty());
    assert_eq!(embedder.model_id(), "all-MiniLM-L6-v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn int8_activations_stay_close_to_the_exported_vectors() {
    let Some(paths) = model_paths() else { return };
    if !ModelPaths::int8_activations_supported() {
        eprintln!("SKIPPED: this CPU has no VNNI; callers keep the exported model here");
        return;
    }
    let fast = paths.clone().with_int8_activations();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !ci && fast.check().is_err() {
        eprintln!("SKIPPED: {} is missing; run `cargo xtask fetch-models`", fast.model.display());
        return;
    }
    let exported = OnnxEmbedder::new(&paths, OnnxConfig::default()).unwrap();
    let int8 = OnnxEmbedder::new(&fast, OnnxConfig::default()).unwrap();
    let reference = reference();
    let want = exported.embed(&reference.sentences).await.unwrap();
    let got = int8.embed(&reference.sentences).await.unwrap();
    for (i, (a, b)) in got.vectors.iter().zip(&want.vectors).enumerate() {
        let similarity = cosine(a, b);
        // Quantizing the activations costs some agreement, never the meaning.
        assert!(similarity >= 0.97, "{:?}: cosine {similarity}", reference.sentences[i]);
    }
    // Paraphrases still land closer than unrelated sentences.
    let texts: Vec<String> =
        ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell today."]
            .map(str::to_owned)
            .to_vec();
    let v = int8.embed(&texts).await.unwrap().vectors;
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
}
