//! Exporting checkpoints to an outside witness.
//!
//! A checkpoint kept only beside the log it covers proves little against someone who
//! can replace both. Copies held elsewhere (another disk, another host, another
//! organisation) make truncation and rewriting detectable by anyone who compares.

use std::io::Write as _;
use std::path::PathBuf;

use crate::checkpoint::Checkpoint;
use crate::log::BoxFuture;

/// Receives every checkpoint the log signs, in order.
pub trait Witness: Send + Sync + 'static {
    /// Publishes one checkpoint.
    ///
    /// # Errors
    /// A description of the failure (logged; the log carries on).
    fn publish<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<(), String>>;
}

/// Appends checkpoints as JSON lines to a file (fsynced), e.g. on a separate volume.
/// `palisade audit verify --witness FILE` checks the log against it.
#[derive(Debug, Clone)]
pub struct FileWitness {
    path: PathBuf,
}

impl FileWitness {
    /// A witness writing to `path` (created if missing).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl Witness for FileWitness {
    fn publish<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<(), String>> {
        let path = self.path.clone();
        let line = checkpoint.to_line();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                file.write_all(format!("{line}\n").as_bytes())?;
                file.sync_data()
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.path.display()))
        })
    }
}

/// POSTs each checkpoint as JSON to a URL (an outside service that keeps them).
#[derive(Debug, Clone)]
pub struct WebhookWitness {
    client: reqwest::Client,
    url: String,
}

impl WebhookWitness {
    /// A witness POSTing to `url` with the given client (configure TLS and timeouts on it).
    #[must_use]
    pub fn new(client: reqwest::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

impl Witness for WebhookWitness {
    fn publish<'a>(&'a self, checkpoint: &'a Checkpoint) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(checkpoint.to_line())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("witness answered {}", response.status()))
            }
        })
    }
}
