//! `HttpEmbedder` against a local OpenAI-compatible `/v1/embeddings` server on 127.0.0.1
//! that answers in shuffled order, unnormalised, and, on request, wrongly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use embeddings::{EmbedError, Embedder, HttpEmbedder};
use serde_json::{Value, json};

/// Each text's vector is [len, 1, 0, 0] times 3 (so not unit length); special texts make
/// the server misbehave in one way each.
async fn serve(
    State(expected_key): State<&'static str>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth != format!("Bearer {expected_key}") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad key"})));
    }
    let inputs: Vec<String> =
        body["input"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    if inputs.iter().any(|t| t == "fail") {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "boom"})));
    }
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let dims = if t == "short" { 3 } else { 4 };
            let mut v = vec![0.0f32; dims];
            if t != "zero" {
                v[0] = 3.0 * t.len() as f32;
                v[1] = 3.0;
            }
            json!({"object": "embedding", "index": if t == "dup" { 0 } else { i }, "embedding": v})
        })
        .collect();
    if inputs.iter().any(|t| t == "drop") {
        data.pop();
    }
    data.reverse();
    let padding = if inputs.iter().any(|t| t == "huge") { "x".repeat(200_000) } else { String::new() };
    (
        StatusCode::OK,
        Json(json!({"object": "list", "model": body["model"], "data": data, "padding": padding})),
    )
}

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/v1/embeddings", post(serve)).with_state("k-123");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().unwrap()
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn answers_come_back_in_order_and_unit_length() {
    let base = start().await;
    let embedder = HttpEmbedder::new(client(), &base, "my-model", 4).with_api_key("k-123".to_owned().into());
    assert_eq!((embedder.model_id(), embedder.dimension()), ("my-model", 4));
    let out = embedder.embed(&texts(&["a", "bbbb", "cc"])).await.unwrap();
    for (vector, text) in out.vectors.iter().zip(["a", "bbbb", "cc"]) {
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        let ratio = vector[0] / vector[1];
        assert!((ratio - text.len() as f32).abs() < 1e-4, "{text}: vector {vector:?} is another text's");
    }
    assert!(embedder.embed(&[]).await.unwrap().vectors.is_empty());
}

#[tokio::test]
async fn unusable_answers_are_typed_errors() {
    let base = start().await;
    let good = HttpEmbedder::new(client(), &base, "m", 4).with_api_key("k-123".to_owned().into());
    let cases: [(&[&str], &str); 6] = [
        (&["fail"], "500"),
        (&["ok", "zero"], "a zero vector"),
        (&["huge"], "answer larger than"),
        (&["ok", "short"], "3 entries, expected 4"),
        (&["ok", "drop"], "1 vectors for 2 texts"),
        (&["ok", "dup"], "answered twice"),
    ];
    for (input, expected) in cases {
        match good.embed(&texts(input)).await {
            Err(EmbedError::Remote(message)) => assert!(message.contains(expected), "{input:?}: {message}"),
            other => panic!("{input:?}: {other:?}"),
        }
    }
    let wrong_key = HttpEmbedder::new(client(), &base, "m", 4).with_api_key("nope".to_owned().into());
    assert!(matches!(wrong_key.embed(&texts(&["a"])).await, Err(EmbedError::Remote(m)) if m.contains("401")));
    assert!(!format!("{wrong_key:?}").contains("nope"), "the key never appears in Debug output");
    let nobody = HttpEmbedder::new(client(), "http://127.0.0.1:1", "m", 4);
    assert!(matches!(nobody.embed(&texts(&["a"])).await, Err(EmbedError::Remote(_))));
}
