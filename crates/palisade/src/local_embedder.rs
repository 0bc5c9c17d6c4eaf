//! The in-process MiniLM embedder `palisade scan` uses (the injection detector's learned
//! layer, semantic tool ranking): the model files from the cache `cargo xtask
//! fetch-models` fills, and a runtime to wait on the embedder from synchronous code.

use embeddings::{Embedder as _, ModelPaths, OnnxConfig, OnnxEmbedder};

/// The embedder and its runtime.
pub(crate) struct LocalEmbedder {
    runtime: tokio::runtime::Runtime,
    embedder: OnnxEmbedder,
}

impl LocalEmbedder {
    /// Loads the model from the cache, reading at most `max_tokens` tokens per text.
    pub(crate) fn load(max_tokens: usize) -> Result<Self, String> {
        let paths = ModelPaths::from_env().map_err(|e| e.to_string())?;
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
