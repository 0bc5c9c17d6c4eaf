//! [`OnnxEmbedder`]: all-MiniLM-L6-v2 on ONNX Runtime, off the async executor.
//!
//! Requests go through a bounded channel to dedicated worker threads, each owning one ONNX
//! Runtime session (a session runs one batch at a time). A worker that becomes free takes
//! every request already queued, up to [`OnnxConfig::max_batch`] texts, and, if
//! [`OnnxConfig::max_wait`] is set, waits that long for more: concurrent callers share
//! one inference run instead of queueing behind each other, and a lone caller pays no
//! added latency by default.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::{mpsc, oneshot};

use crate::{BoxFuture, EmbedError, Embedder, Embeddings, ModelPaths, normalise};

/// The model's output width.
const DIMENSION: usize = 384;
/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2: the default window.
pub const MAX_TOKENS: usize = 256;

/// How an [`OnnxEmbedder`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnnxConfig {
    /// Worker threads, each with its own session (default 1).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session (default 2).
    pub intra_threads: usize,
    /// Most texts in one inference run (default 32).
    pub max_batch: usize,
    /// How long a free worker waits for more requests to fill a batch (default zero: it
    /// takes what is queued and starts).
    pub max_wait: Duration,
    /// Most texts in one request (default 1,024).
    pub max_texts_per_request: usize,
    /// Requests that may wait in the queue before callers are held back (default 256).
    pub queue: usize,
    /// Tokens per text, at most (default [`MAX_TOKENS`], sentence-transformers' window;
    /// clamped to `1..=MAX_TOKENS`). A head trained on shorter windows, like the injection
    /// detector's (128), should be given what it was trained on; inference time grows
    /// with the window.
    pub max_tokens: usize,
}

impl Default for OnnxConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            intra_threads: 2,
            max_batch: 32,
            max_wait: Duration::ZERO,
            max_texts_per_request: 1_024,
            queue: 256,
            max_tokens: MAX_TOKENS,
        }
    }
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Embeddings, EmbedError>>,
}

/// all-MiniLM-L6-v2 with sentence-transformers' pooling. See the module docs.
pub struct OnnxEmbedder {
    jobs: mpsc::Sender<Job>,
    config: OnnxConfig,
    /// Dropping the embedder closes `jobs`; each worker then drains the queue and ends.
    /// The handles are detached, never joined, so a drop cannot block an async executor.
    _workers: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder").field("config", &self.config).finish_non_exhaustive()
    }
}

/// ONNX Runtime allows one environment per process; every embedder shares it, and the
/// library of the first successful load serves them all (it cannot be loaded twice).
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// Serialises first loads; only a success is kept, so a failed load can be retried.
static LOADING: Mutex<()> = Mutex::new(());

fn environment(paths: &ModelPaths) -> Result<&'static ort::environment::Environment, EmbedError> {
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment);
    }
    let _loading = LOADING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment);
    }
    let failed = |reason: String| EmbedError::LibraryMissing { path: paths.onnxruntime.clone(), reason };
    let environment = ort::init_from(&paths.onnxruntime)
        .map_err(|e| failed(e.to_string()))?
        .with_name("palisade-embeddings")
        .build()
        .map_err(|e| failed(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| environment))
}

fn load_tokenizer(paths: &ModelPaths, max_tokens: usize) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(&paths.tokenizer)
        .map_err(|e| EmbedError::ModelMissing { path: paths.tokenizer.clone(), reason: e.to_string() })?;
    // The shipped tokenizer.json pads and truncates to 128; sentence-transformers uses a
    // 256-token window (the default here) and pads to the longest text of the batch.
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens.clamp(1, MAX_TOKENS),
            ..TruncationParams::default()
        }))
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id: 0,
        pad_token: "[PAD]".into(),
        ..PaddingParams::default()
    }));
    Ok(tokenizer)
}

impl OnnxEmbedder {
    /// Loads ONNX Runtime, the tokenizer and the model, and starts the workers.
    ///
    /// # Errors
    /// [`EmbedError::LibraryMissing`] or [`EmbedError::ModelMissing`], naming the path and
    /// the fix; [`EmbedError::Inference`] if ONNX Runtime rejects the model.
    pub fn new(paths: &ModelPaths, config: OnnxConfig) -> Result<Self, EmbedError> {
        paths.check()?;
        let environment = environment(paths)?;
        let tokenizer = Arc::new(load_tokenizer(paths, config.max_tokens)?);
        let (jobs, receiver) = mpsc::channel(config.queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut workers = Vec::new();
        for n in 0..config.workers.max(1) {
            let session = Session::builder(environment)
                .and_then(|b| b.with_intra_threads(config.intra_threads.max(1)).map_err(ort::Error::from))
                .and_then(|mut b| b.commit_from_file(&paths.model))
                .map_err(|e| EmbedError::ModelMissing { path: paths.model.clone(), reason: e.to_string() })?;
            let worker = Worker {
                session,
                tokenizer: Arc::clone(&tokenizer),
                receiver: Arc::clone(&receiver),
                config,
            };
            let handle = std::thread::Builder::new()
                .name(format!("embeddings-{n}"))
                .spawn(move || worker.run())
                .map_err(|e| EmbedError::Inference(format!("could not start a worker thread: {e}")))?;
            workers.push(handle);
        }
        Ok(Self { jobs, config, _workers: workers })
    }
}

impl Embedder for OnnxEmbedder {
    fn model_id(&self) -> &str {
        "all-MiniLM-L6-v2"
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embeddings, EmbedError>> {
        Box::pin(async move {
            if texts.len() > self.config.max_texts_per_request {
                return Err(EmbedError::TooManyTexts {
                    count: texts.len(),
                    max: self.config.max_texts_per_request,
                });
            }
            if texts.is_empty() {
                return Ok(Embeddings { vectors: Vec::new(), truncated: Vec::new() });
            }
            let (reply, answer) = oneshot::channel();
            self.jobs.send(Job { texts: texts.to_vec(), reply }).await.map_err(|_| EmbedError::WorkerGone)?;
            answer.await.map_err(|_| EmbedError::WorkerGone)?
        })
    }
}

struct Worker {
    session: Session,
    tokenizer: Arc<Tokenizer>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    config: OnnxConfig,
}

impl Worker {
    fn run(mut self) {
        while let Some(mut jobs) = self.next_batch() {
            // Callers that gave up (a timeout, a dropped request) cost nothing more.
            jobs.retain(|job| !job.reply.is_closed());
            if jobs.is_empty() {
                continue;
            }
            let texts: Vec<&str> = jobs.iter().flat_map(|job| job.texts.iter().map(String::as_str)).collect();
            let result = self.embed_all(&texts);
            let mut offset = 0;
            for job in jobs {
                let count = job.texts.len();
                let answer = match &result {
                    Ok(all) => Ok(Embeddings {
                        vectors: all.vectors[offset..offset + count].to_vec(),
                        truncated: all
                            .truncated
                            .iter()
                            .filter(|&&i| (offset..offset + count).contains(&i))
                            .map(|i| i - offset)
                            .collect(),
                    }),
                    Err(error) => Err(EmbedError::Inference(error.to_string())),
                };
                offset += count;
                // The caller may have gone away; nothing to do then.
                let _ = job.reply.send(answer);
            }
        }
    }

    /// Blocks for the next request, then gathers queued ones up to `max_batch` texts (and
    /// up to `max_wait`). `None` once the embedder is dropped and the queue is empty.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let mut receiver = self.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = receiver.blocking_recv()?;
        let mut texts = first.texts.len();
        let mut jobs = vec![first];
        let deadline = Instant::now() + self.config.max_wait;
        while texts < self.config.max_batch {
            match receiver.try_recv() {
                Ok(job) => {
                    texts += job.texts.len();
                    jobs.push(job);
                }
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(100).min(deadline - Instant::now()));
                }
                Err(_) => break,
            }
        }
        Some(jobs)
    }

    fn embed_all(&mut self, texts: &[&str]) -> Result<Embeddings, EmbedError> {
        let mut out = Embeddings { vectors: Vec::with_capacity(texts.len()), truncated: Vec::new() };
        for (chunk_index, chunk) in texts.chunks(self.config.max_batch.max(1)).enumerate() {
            let base = chunk_index * self.config.max_batch.max(1);
            let (vectors, truncated) = self.embed_chunk(chunk)?;
            out.vectors.extend(vectors);
            out.truncated.extend(truncated.into_iter().map(|i| base + i));
        }
        Ok(out)
    }

    /// One inference run: tokenize, pad to the longest, run, mean-pool, normalise.
    fn embed_chunk(&mut self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, Vec<usize>), EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let batch = encodings.len();
        let length = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(batch * length);
        let mut mask = Vec::with_capacity(batch * length);
        let mut truncated = Vec::new();
        for (i, encoding) in encodings.iter().enumerate() {
            if encoding.get_ids().len() != length {
                return Err(EmbedError::Tokenizer("the batch was not padded to one length".into()));
            }
            ids.extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
            mask.extend(encoding.get_attention_mask().iter().map(|&m| i64::from(m)));
            if !encoding.get_overflowing().is_empty() {
                truncated.push(i);
            }
        }
        let shape = vec![i64::try_from(batch).unwrap_or(i64::MAX), i64::try_from(length).unwrap_or(i64::MAX)];
        let types = vec![0i64; ids.len()];
        let inference = |e: ort::Error| EmbedError::Inference(e.to_string());
        let inputs = ort::inputs![
            "input_ids" => Tensor::from_array((shape.clone(), ids)).map_err(inference)?,
            "attention_mask" => Tensor::from_array((shape.clone(), mask.clone())).map_err(inference)?,
            "token_type_ids" => Tensor::from_array((shape, types)).map_err(inference)?,
        ];
        let outputs = self.session.run(inputs).map_err(inference)?;
        let (hidden_shape, hidden) =
            outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(inference)?;
        let expected = [batch, length, DIMENSION].map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        if **hidden_shape != expected {
            return Err(EmbedError::Inference(format!("unexpected output shape {:?}", &**hidden_shape)));
        }
        let vectors = (0..batch)
            .map(|b| {
                let mut pooled = vec![0f32; DIMENSION];
                let mut weight = 0f32;
                for t in 0..length {
                    if mask[b * length + t] == 0 {
                        continue;
                    }
                    weight += 1.0;
                    let row = &hidden[(b * length + t) * DIMENSION..(b * length + t + 1) * DIMENSION];
                    for (acc, x) in pooled.iter_mut().zip(row) {
                        *acc += x;
                    }
                }
                for x in &mut pooled {
                    *x /= weight.max(1e-9);
                }
                // A pooled BERT state is never zero; if it were, it stays zero rather than NaN.
                let _ = normalise(&mut pooled);
                pooled
            })
            .collect();
        Ok((vectors, truncated))
    }
}
