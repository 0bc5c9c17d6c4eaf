//! [`AuditLog`]: the bounded queue, the group-commit writer, checkpoints and failure
//! handling, over any [`Backend`].
//!
//! Callers hand the log an event and wait for its sequence number. Between them and the
//! storage sits a bounded queue: when it is full, callers wait (back-pressure), and
//! nothing is ever dropped to make room. One writer (a task, or for a blocking backend a
//! thread of its own) drains the queue in batches, chains and hashes each record, hands
//! the batch to the backend, and acknowledges every entry of the batch only after the
//! backend says it is durable. While one batch is
//! being synced the next one gathers, so the fsync cost is shared by every entry that
//! arrived meanwhile (group commit) and latency stays bounded by about one sync.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::chain::HmacKeyring;
use crate::checkpoint::{Checkpoint, CheckpointSigner};
use crate::event::AuditEvent;
use crate::merkle::{CompactRange, Hash};
use crate::record::{EncodedRecord, encode};
use crate::replay::ResumeState;
use crate::witness::Witness;

/// A boxed future, as the backend and witness traits return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// Durable storage for records and checkpoints.
pub trait Backend: Send + 'static {
    /// Whether the backend's futures block the thread that polls them (file I/O done
    /// in place). The log then runs its writer on a thread of its own, so a blocking
    /// write never holds up an async worker, and each batch costs no hand-off to a
    /// blocking pool and back. Backends that really await (a database client) keep the
    /// default and run as a task on the caller's runtime. A backend that wraps another
    /// must forward this (and [`Backend::close`]).
    const BLOCKING: bool = false;

    /// Appends records; resolves once they are on stable storage. On error nothing of
    /// the batch may remain visible (the backend rolls back what it wrote).
    fn append(&mut self, records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Stores a checkpoint durably.
    fn append_checkpoint<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Called when the log closes, after its final checkpoint (also when that
    /// checkpoint failed): tidies the storage and lets go of it (the file backend cuts
    /// off its preallocated padding and releases the writer lock). Nothing is appended
    /// after. Must be idempotent: a second close finds nothing to do.
    fn close(&mut self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Why an entry was not logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditLogError {
    /// The backend failed; the entry is not stored.
    #[error("audit storage failed: {0}")]
    StorageFailed(String),
    /// The backend failed recently and the log is refusing entries until it retries.
    #[error("audit storage unavailable since a failure: {0}")]
    Unavailable(String),
    /// The log was closed.
    #[error("audit log closed")]
    Closed,
    /// The entry given to [`AuditLog::append_canonical`] is not one JSON object on one line.
    #[error("an audit entry must be one JSON object on one line")]
    InvalidEntry,
}

/// Tuning for [`AuditLog`].
#[derive(Debug, Clone)]
pub struct AuditLogConfig {
    /// Entries waiting to be written before callers wait (back-pressure).
    pub queue_capacity: usize,
    /// Most entries written in one batch.
    pub max_batch: usize,
    /// A checkpoint after this many new entries…
    pub checkpoint_every: u64,
    /// …or after this long with new entries, whichever comes first.
    pub checkpoint_interval: Duration,
    /// After a storage failure, how long to refuse entries before trying again.
    pub retry_after: Duration,
    /// The niceness (Linux scheduling priority, 0 to 19) of the writer thread of a
    /// [`Backend::BLOCKING`] backend; it is only ever lowered to this, never raised.
    /// Default 5: while the cores are busy serving calls, the writer runs a little later
    /// and finds more entries waiting, so each sync serves more of them (at 32
    /// concurrent calls, 9 to 14 % less server CPU per call and more calls per second
    /// than at 0, in interleaved runs of the server bench); on an idle machine it runs at
    /// once. The cost: on a machine saturated by other work the writer gets about a third
    /// of a nice-0 thread's share, and every audited call waits on it. 0 leaves the thread
    /// as it was started. Ignored on other systems.
    pub writer_nice: u8,
}

impl Default for AuditLogConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 16_384,
            max_batch: 4_096,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
            writer_nice: 5,
        }
    }
}

enum Msg {
    Append { entry: String, ack: oneshot::Sender<Result<u64, AuditLogError>> },
    Flush { ack: oneshot::Sender<Result<Option<Checkpoint>, AuditLogError>> },
    Close { ack: oneshot::Sender<Result<Option<Checkpoint>, AuditLogError>> },
}

#[derive(Debug, Default)]
struct Health {
    failed: AtomicBool,
    reason: std::sync::Mutex<String>,
    size: AtomicU64,
    batches: AtomicU64,
    queued: AtomicU64,
    checkpoint: std::sync::Mutex<Option<Checkpoint>>,
    on_commit: CommitObserver,
}

/// Told how long each batch took to reach stable storage (a metrics histogram).
type CommitCallback = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

#[derive(Default)]
struct CommitObserver(std::sync::OnceLock<CommitCallback>);

impl std::fmt::Debug for CommitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "CommitObserver(set)" } else { "CommitObserver(unset)" })
    }
}

impl Health {
    fn set_failed(&self, reason: Option<&str>) {
        if let Some(reason) = reason {
            *self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = reason.to_owned();
        }
        self.failed.store(reason.is_some(), Ordering::SeqCst);
    }
}

/// The tamper-evident audit log (cheap to clone; all clones feed one writer).
///
/// ```no_run
/// # async fn demo(event: mcp_audit::AuditEvent) -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_audit::{AuditLog, AuditLogConfig, FileBackend, FileBackendConfig, HmacKeyring, CheckpointSigner};
///
/// let signer = CheckpointSigner::generate()?;
/// let keys = HmacKeyring::from_text(&std::env::var("AUDIT_HMAC_KEY")?)?;
/// let (backend, resume) = FileBackend::open(FileBackendConfig::new("/var/lib/palisade/audit"), &signer.public_key(), &keys)?;
/// let log = AuditLog::start(backend, resume, keys, signer, AuditLogConfig::default(), vec![]);
/// let seq = log.append(&event).await?;   // returns once the entry is on disk
/// log.close().await?;                    // final checkpoint
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    health: Arc<Health>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("size", &self.size()).finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer: a task on the current Tokio runtime, or, for a
    /// [`Backend::BLOCKING`] backend, a thread of its own (named `audit-writer`).
    ///
    /// Should the operating system refuse the thread, the error is logged and the log
    /// starts closed: every append fails with [`AuditLogError::Closed`]. On that thread
    /// the checkpoint timer runs on the thread's own clock, and the
    /// [`observe_commits`](Self::observe_commits) callback is called there. Witnesses run
    /// as tasks on the caller's runtime either way.
    ///
    /// # Panics
    /// Outside a Tokio runtime, unless the backend is [`Backend::BLOCKING`] and there
    /// are no witnesses.
    #[must_use]
    pub fn start<B: Backend>(
        backend: B,
        resume: ResumeState,
        keys: HmacKeyring,
        signer: CheckpointSigner,
        config: AuditLogConfig,
        witnesses: Vec<Arc<dyn Witness>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let health = Arc::new(Health::default());
        health.size.store(resume.next_seq, Ordering::SeqCst);
        *health.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            resume.last_checkpoint.clone();
        let writer = Writer {
            backend,
            keys,
            signer,
            next_seq: resume.next_seq,
            last_mac: resume.last_mac,
            tree: resume.tree,
            checkpointed: resume.last_checkpoint.map_or(0, |c| c.size),
            config,
            health: Arc::clone(&health),
            retry_at: None,
            witnesses: start_witnesses(witnesses),
        };
        if B::BLOCKING {
            // The writer's own single-threaded runtime drives its channel and checkpoint
            // timer; the callers' runtime is never blocked by a write or a sync. The
            // runtime is built on that thread, so nothing of it is dropped here.
            let nice = writer.config.writer_nice.min(19);
            let spawned = std::thread::Builder::new().name("audit-writer".into()).spawn(move || {
                lower_priority(nice);
                match tokio::runtime::Builder::new_current_thread().enable_time().build() {
                    Ok(runtime) => runtime.block_on(writer.run(rx)),
                    // Dropping the writer closes the queue: the log refuses entries.
                    Err(error) => tracing::error!(%error, "the audit writer's runtime could not start; the audit log is closed"),
                }
            });
            if let Err(error) = spawned {
                // Fail closed: without its writer the log refuses every entry (`Closed`)
                // and reports itself not ready.
                tracing::error!(%error, "the audit writer thread could not start; the audit log is closed");
            }
        } else {
            tokio::spawn(writer.run(rx));
        }
        Self { tx, health }
    }

    /// Appends one event; resolves with its sequence number once it is durable.
    ///
    /// # Errors
    /// [`AuditLogError`] when the entry could not be stored.
    pub async fn append(&self, event: &AuditEvent) -> Result<u64, AuditLogError> {
        // Encoding happens here, on the caller's task, so it runs in parallel; the
        // writer only chains, hashes and writes. The encoder always yields one object on
        // one line, so no check is needed on this path.
        self.enqueue(event.canonical()).await
    }

    /// Appends an entry already in canonical JSON.
    ///
    /// # Errors
    /// [`AuditLogError::InvalidEntry`] unless `entry` is one JSON object on one line;
    /// otherwise [`AuditLogError`] when the entry could not be stored.
    pub async fn append_canonical(&self, entry: String) -> Result<u64, AuditLogError> {
        // One record per line, and the entry must be an object: anything else would make
        // the log unreadable when it is reopened.
        let object = entry.starts_with('{') && entry.ends_with('}');
        if !object || entry.contains('\n') || serde_json::from_str::<serde::de::IgnoredAny>(&entry).is_err() {
            return Err(AuditLogError::InvalidEntry);
        }
        self.enqueue(entry).await
    }

    async fn enqueue(&self, entry: String) -> Result<u64, AuditLogError> {
        let (ack, done) = oneshot::channel();
        self.health.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.tx.send(Msg::Append { entry, ack }).await;
        self.health.queued.fetch_sub(1, Ordering::Relaxed);
        sent.map_err(|_| AuditLogError::Closed)?;
        done.await.map_err(|_| AuditLogError::Closed)?
    }

    /// Whether the log is accepting entries: `Err` while a storage failure is fresh.
    ///
    /// # Errors
    /// [`AuditLogError::Unavailable`] or [`AuditLogError::Closed`].
    pub fn ready(&self) -> Result<(), AuditLogError> {
        if self.tx.is_closed() {
            return Err(AuditLogError::Closed);
        }
        if self.health.failed.load(Ordering::SeqCst) {
            let reason = self.health.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            return Err(AuditLogError::Unavailable(reason));
        }
        Ok(())
    }

    /// Entries durably stored so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.health.size.load(Ordering::SeqCst)
    }

    /// Batches written so far: `size() / batches()` is the mean group-commit size.
    #[must_use]
    pub fn batches(&self) -> u64 {
        self.health.batches.load(Ordering::Relaxed)
    }

    /// Callers currently waiting for queue space (back-pressure in action).
    #[must_use]
    pub fn waiting(&self) -> u64 {
        self.health.queued.load(Ordering::Relaxed)
    }

    /// Calls `observe` with the duration of every successful batch write (encode aside:
    /// the backend's write and sync), for a latency histogram. Only the first observer
    /// set is kept; returns whether this one was.
    pub fn observe_commits(&self, observe: impl Fn(std::time::Duration) + Send + Sync + 'static) -> bool {
        self.health.on_commit.0.set(Arc::new(observe)).is_ok()
    }

    /// Entries in the queue, not yet written.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The newest checkpoint.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.health.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Writes everything queued so far and a checkpoint covering it.
    ///
    /// # Errors
    /// [`AuditLogError`] when storage fails.
    pub async fn flush(&self) -> Result<Option<Checkpoint>, AuditLogError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Msg::Flush { ack }).await.map_err(|_| AuditLogError::Closed)?;
        done.await.map_err(|_| AuditLogError::Closed)?
    }

    /// Writes everything queued, a final checkpoint, and stops the writer. Later
    /// appends fail with [`AuditLogError::Closed`].
    ///
    /// # Errors
    /// [`AuditLogError`] when storage fails.
    pub async fn close(&self) -> Result<Option<Checkpoint>, AuditLogError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Msg::Close { ack }).await.map_err(|_| AuditLogError::Closed)?;
        done.await.map_err(|_| AuditLogError::Closed)?
    }
}

struct Writer<B> {
    backend: B,
    keys: HmacKeyring,
    signer: CheckpointSigner,
    next_seq: u64,
    last_mac: Hash,
    tree: CompactRange,
    checkpointed: u64,
    config: AuditLogConfig,
    health: Arc<Health>,
    retry_at: Option<(Instant, String)>,
    witnesses: Vec<(mpsc::Sender<Checkpoint>, JoinHandle<()>)>,
}

/// Starts one task per witness, so checkpoints reach each in order and a slow witness
/// never stalls the log (it misses checkpoints instead, with a warning).
fn start_witnesses(witnesses: Vec<Arc<dyn Witness>>) -> Vec<(mpsc::Sender<Checkpoint>, JoinHandle<()>)> {
    witnesses
        .into_iter()
        .map(|witness| {
            let (tx, mut rx) = mpsc::channel::<Checkpoint>(64);
            let task = tokio::spawn(async move {
                while let Some(checkpoint) = rx.recv().await {
                    if let Err(error) = witness.publish(&checkpoint).await {
                        tracing::warn!(%error, size = checkpoint.size, "checkpoint witness failed");
                    }
                }
            });
            (tx, task)
        })
        .collect()
}

impl<B: Backend> Writer<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut inbox = Vec::with_capacity(self.config.max_batch);
        let period = self.config.checkpoint_interval.max(Duration::from_millis(1));
        // `interval` ticks at once; the first timed checkpoint is one period away.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = rx.recv_many(&mut inbox, self.config.max_batch.max(1)) => {
                    if received == 0 {
                        // Every handle is gone: checkpoint what is there and stop.
                        let _ = self.close().await;
                        return;
                    }
                    if self.process(&mut inbox).await {
                        rx.close();
                        // Anything already queued behind the close is refused, not lost silently.
                        while let Ok(msg) = rx.try_recv() {
                            refuse(msg, &AuditLogError::Closed);
                        }
                        return;
                    }
                }
                _ = ticker.tick(), if self.tree.size() > self.checkpointed => {
                    if let Err(error) = self.checkpoint().await {
                        tracing::error!(%error, "audit checkpoint failed");
                    }
                }
            }
        }
    }

    /// Handles one batch; returns true when the log was closed.
    async fn process(&mut self, inbox: &mut Vec<Msg>) -> bool {
        let mut appends = Vec::with_capacity(inbox.len());
        let mut controls = Vec::new();
        for msg in inbox.drain(..) {
            match msg {
                Msg::Append { entry, ack } => appends.push((entry, ack)),
                control => controls.push(control),
            }
        }
        if !appends.is_empty() {
            self.write(appends).await;
        }
        let mut closed = false;
        for control in controls {
            let result = match control {
                Msg::Close { .. } => self.close().await,
                _ => self.checkpoint().await,
            };
            match control {
                Msg::Flush { ack } => {
                    let _ = ack.send(result);
                }
                Msg::Close { ack } => {
                    // Give witnesses the final checkpoint before saying the log is closed
                    // (bounded: an unreachable witness must not hold up shutdown).
                    for (sender, task) in self.witnesses.drain(..) {
                        drop(sender);
                        if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                            tracing::warn!("a checkpoint witness did not finish within 5 s of closing");
                        }
                    }
                    let _ = ack.send(result);
                    closed = true;
                }
                Msg::Append { .. } => {}
            }
        }
        if self.tree.size().saturating_sub(self.checkpointed) >= self.config.checkpoint_every
            && let Err(error) = self.checkpoint().await
        {
            tracing::error!(%error, "audit checkpoint failed");
        }
        closed
    }

    async fn write(&mut self, appends: Vec<(String, oneshot::Sender<Result<u64, AuditLogError>>)>) {
        if let Some((at, reason)) = &self.retry_at
            && Instant::now() < *at
        {
            let error = AuditLogError::Unavailable(reason.clone());
            for (_, ack) in appends {
                let _ = ack.send(Err(error.clone()));
            }
            return;
        }
        // Build the batch from copies of the chain state; commit them only on success.
        let key = self.keys.active();
        let mut last_mac = self.last_mac;
        let mut tree = self.tree.clone();
        let mut records = Vec::with_capacity(appends.len());
        for (i, (entry, _)) in appends.iter().enumerate() {
            let record = encode(entry, self.next_seq + i as u64, key, &last_mac);
            last_mac = record.mac;
            tree.push(record.leaf);
            records.push(record);
        }
        let count = records.len() as u64;
        let started = Instant::now();
        match self.backend.append(records).await {
            Ok(()) => {
                if let Some(observe) = self.health.on_commit.0.get() {
                    observe(started.elapsed());
                }
                let first = self.next_seq;
                self.next_seq += count;
                self.last_mac = last_mac;
                self.tree = tree;
                self.health.size.store(self.next_seq, Ordering::SeqCst);
                self.health.batches.fetch_add(1, Ordering::Relaxed);
                if self.retry_at.take().is_some() {
                    tracing::warn!("audit storage recovered");
                    self.health.set_failed(None);
                }
                for (i, (_, ack)) in appends.into_iter().enumerate() {
                    let _ = ack.send(Ok(first + i as u64));
                }
            }
            Err(BackendError(reason)) => {
                tracing::error!(%reason, entries = count, "audit storage failed; refusing entries");
                self.retry_at = Some((Instant::now() + self.config.retry_after, reason.clone()));
                self.health.set_failed(Some(&reason));
                let error = AuditLogError::StorageFailed(reason);
                for (_, ack) in appends {
                    let _ = ack.send(Err(error.clone()));
                }
            }
        }
    }

    /// The final checkpoint, then the backend's own closing (even when the checkpoint
    /// failed, so the storage is let go of); the first error is returned.
    async fn close(&mut self) -> Result<Option<Checkpoint>, AuditLogError> {
        let checkpoint = self.checkpoint().await;
        let closed = self.backend.close().await.map_err(|BackendError(reason)| {
            tracing::error!(%reason, "closing the audit storage failed");
            AuditLogError::StorageFailed(reason)
        });
        let checkpoint = checkpoint?;
        closed.map(|()| checkpoint)
    }

    async fn checkpoint(&mut self) -> Result<Option<Checkpoint>, AuditLogError> {
        let size = self.tree.size();
        if size == self.checkpointed && size > 0 {
            return Ok(self
                .health
                .checkpoint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone());
        }
        if size == 0 {
            return Ok(None);
        }
        let checkpoint = self.signer.sign(size, self.tree.root(), identity_types::unix_now_ms());
        if let Err(BackendError(reason)) = self.backend.append_checkpoint(&checkpoint).await {
            self.health.set_failed(Some(&reason));
            self.retry_at = Some((Instant::now() + self.config.retry_after, reason.clone()));
            return Err(AuditLogError::StorageFailed(reason));
        }
        self.checkpointed = size;
        *self.health.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(checkpoint.clone());
        for (witness, _) in &self.witnesses {
            if witness.try_send(checkpoint.clone()).is_err() {
                tracing::warn!(size, "checkpoint witness is behind; this checkpoint was not exported to it");
            }
        }
        Ok(Some(checkpoint))
    }
}

fn refuse(msg: Msg, error: &AuditLogError) {
    match msg {
        Msg::Append { ack, .. } => {
            let _ = ack.send(Err(error.clone()));
        }
        Msg::Flush { ack } | Msg::Close { ack } => {
            let _ = ack.send(Err(error.clone()));
        }
    }
}

/// Lowers the calling thread's scheduling priority to niceness `nice`, never raising
/// it: a process that already runs nicer keeps its niceness (raising priority could
/// succeed with a privilege, and would invert the intent). Best effort: a refusal is
/// logged and the writer runs as it is.
#[cfg(target_os = "linux")]
fn lower_priority(nice: u8) {
    // On Linux a thread id names the thread alone for `getpriority` / `setpriority`.
    let thread = rustix::thread::gettid();
    let wanted = i32::from(nice);
    match rustix::process::getpriority_process(Some(thread)) {
        Ok(current) if current >= wanted => {}
        _ => {
            if let Err(error) = rustix::process::setpriority_process(Some(thread), wanted) {
                tracing::warn!(%error, nice, "could not lower the audit writer's priority");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: u8) {}
