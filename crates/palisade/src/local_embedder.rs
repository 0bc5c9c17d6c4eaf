//! The in-process MiniLM embedder `palisade scan` uses (the injection detector's learned
//! layer, semantic tool ranking): the model files from the cache `cargo xtask
//! fetch-models` fills, and a runtime to wait on the embedder from synchronous code.

use embeddings::{Embedder as _, ModelPaths, OnnxConfig, OnnxEmbedder};

/// Which model variant a caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activations {
    /// The exported model: float activations, the vectors sentence-transformers gives.
    Float,
    /// Int8 activations: faster, close to the exported vectors, for a classifier that
    /// was measured with them.
    Int8,
}

/// The embedder and its runtime.
pub(crate) struct LocalEmbedder {
    runtime: tokio::runtime::Runtime,
    embedder: OnnxEmbedder,
}

impl LocalEmbedder {
    /// Loads the model from the cache, reading at most `max_tokens` tokens per text; with
    /// `Activations::Int8`, the faster variant ([`ModelPaths::with_int8_activations`]).
    pub(crate) fn load(max_tokens: usize, activations: Activations) -> Result<Self, String> {
        let mut paths = ModelPaths::from_env().map_err(|e| e.to_string())?;
        if activations == Activations::Int8 {
            paths = paths.with_int8_activations();
        }
        let embedder = OnnxEmbedder::new(&paths, OnnxConfig { max_tokens, ..OnnxConfig::default() })
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start a runtime: {e}"))?;
        Ok(Self { runtime, embedder })
    }

    /// The length of every vector.
    pub(crate) fn dimension(&self) -> usize {
        self.embedder.dimension()
    }

    /// One unit-length vector per text, in order.
    pub(crate) fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let embedded = self.runtime.block_on(self.embedder.embed(texts)).map_err(|e| e.to_string())?;
        Ok(embedded.vectors)
    }
}
