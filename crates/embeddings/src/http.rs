//! [`HttpEmbedder`]: an OpenAI-compatible `/v1/embeddings` endpoint, for teams that host
//! their own embedding model (vLLM, llama.cpp server, Ollama, text-embeddings-inference).

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::{BoxFuture, EmbedError, Embedder, Embeddings, normalise};

/// Embeds through `POST {base}/v1/embeddings`. Vectors are checked for count and
/// dimension and normalised to unit length (servers differ on whether they normalise).
/// The server's truncation is not visible here, so [`Embeddings::truncated`] is empty.
pub struct HttpEmbedder {
    client: reqwest::Client,
    url: String,
    model: String,
    dimension: usize,
    api_key: Option<SecretString>,
    max_texts: usize,
}

impl std::fmt::Debug for HttpEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEmbedder")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

impl HttpEmbedder {
    /// An embedder for `model` at `base` (e.g. `http://127.0.0.1:8000`), whose vectors
    /// have `dimension` entries. Give a `client` with the timeouts and TLS you want.
    #[must_use]
    pub fn new(client: reqwest::Client, base: &str, model: impl Into<String>, dimension: usize) -> Self {
        Self {
            client,
            url: format!("{}/v1/embeddings", base.trim_end_matches('/')),
            model: model.into(),
            dimension,
            api_key: None,
            max_texts: 1_024,
        }
    }

    /// Sends `Authorization: Bearer <key>` with every request.
    #[must_use]
    pub fn with_api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    async fn call(&self, texts: &[String]) -> Result<Embeddings, EmbedError> {
        if texts.len() > self.max_texts {
            return Err(EmbedError::TooManyTexts { count: texts.len(), max: self.max_texts });
        }
        if texts.is_empty() {
            return Ok(Embeddings { vectors: Vec::new(), truncated: Vec::new() });
        }
        let mut request =
            self.client.post(&self.url).json(&serde_json::json!({ "model": self.model, "input": texts }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| EmbedError::Remote(format!("{}: {e}", self.url)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(EmbedError::Remote(format!("{} answered {status}", self.url)));
        }
        // Bounded read: a generous 64 bytes of JSON per number, plus room for the envelope.
        let limit = texts.len().saturating_mul(self.dimension).saturating_mul(64).saturating_add(64 * 1024);
        let too_large = || EmbedError::Remote(format!("{}: answer larger than {limit} bytes", self.url));
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| EmbedError::Remote(format!("{}: {e}", self.url)))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let body: Response = serde_json::from_slice(&bytes)
            .map_err(|e| EmbedError::Remote(format!("{}: unreadable answer: {e}", self.url)))?;
        if body.data.len() != texts.len() {
            return Err(EmbedError::Remote(format!("{} vectors for {} texts", body.data.len(), texts.len())));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in body.data {
            if item.embedding.len() != self.dimension {
                return Err(EmbedError::Remote(format!(
                    "a vector of {} entries, expected {}",
                    item.embedding.len(),
                    self.dimension
                )));
            }
            if item.embedding.iter().any(|x| !x.is_finite()) {
                return Err(EmbedError::Remote("a vector with a non-finite entry".into()));
            }
            let slot = vectors
                .get_mut(item.index)
                .ok_or_else(|| EmbedError::Remote(format!("index {} out of range", item.index)))?;
            if slot.replace(item.embedding).is_some() {
                return Err(EmbedError::Remote(format!("index {} answered twice", item.index)));
            }
        }
        let vectors = vectors
            .into_iter()
            .map(|v| {
                let mut v = v.ok_or_else(|| EmbedError::Remote("a text without a vector".into()))?;
                if !normalise(&mut v) {
                    return Err(EmbedError::Remote("a zero vector".into()));
                }
                Ok(v)
            })
            .collect::<Result<_, EmbedError>>()?;
        Ok(Embeddings { vectors, truncated: Vec::new() })
    }
}

impl Embedder for HttpEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embeddings, EmbedError>> {
        Box::pin(self.call(texts))
    }
}
