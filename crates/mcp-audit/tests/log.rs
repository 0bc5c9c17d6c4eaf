//! The writer: durability, resumption, torn tails, back-pressure, failure handling,
//! rotation and witnesses, against real files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{config, event, keys, open, segment, write_log};
use mcp_audit::{
    AuditLog, AuditLogConfig, AuditLogError, Backend, BackendError, BoxFuture, Checkpoint, CheckpointSigner,
    FileBackend, FileBackendConfig, FileWitness, OpenError, ReplayError, WebhookWitness, Witness,
    record::EncodedRecord, verify_dir,
};
use tokio::sync::Semaphore;

#[tokio::test]
async fn a_reopened_log_continues_the_chain_and_the_tree() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &signer, 7, 5).await;
    let log = open(dir.path(), &signer, config(5));
    assert_eq!(log.size(), 7);
    assert_eq!(log.latest_checkpoint().unwrap().size, 7, "close signs a final checkpoint");
    assert_eq!(log.append(&event(7)).await.unwrap(), 7);
    let last = log.close().await.unwrap().unwrap();
    assert_eq!(last.size, 8);
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.entries, report.unanchored), (8, 0));
    assert!(matches!(log.append(&event(9)).await, Err(AuditLogError::Closed)));
}

#[tokio::test]
async fn entries_that_would_break_the_log_are_refused() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, config(5));
    for bad in ["[1]", "\"x\"", "{\"a\":1}\n{\"b\":2}", "{\"a\":", "{} {}"] {
        assert_eq!(log.append_canonical(bad.to_owned()).await, Err(AuditLogError::InvalidEntry), "{bad:?}");
    }
    assert_eq!(log.append_canonical("{\"a\":1}".to_owned()).await, Ok(0));
    log.close().await.unwrap();
}

#[tokio::test]
async fn a_torn_tail_is_set_aside_and_reported() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &signer, 4, 100).await;
    // A crash mid-write: part of a record without its newline.
    let mut bytes = std::fs::read(segment(dir.path())).unwrap();
    let clean = bytes.len();
    bytes.extend_from_slice(br#"{"entry":{"timestamp_ms":17"#);
    std::fs::write(segment(dir.path()), &bytes).unwrap();

    let (backend, resume) =
        FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap();
    let torn = resume.torn_tail.clone().expect("torn tail reported");
    assert_eq!(torn.bytes, 27);
    let kept = std::fs::read(torn.kept_at.as_deref().unwrap()).unwrap();
    assert!(kept.starts_with(br#"{"entry""#), "the torn bytes are kept, not dropped");
    assert_eq!(std::fs::metadata(segment(dir.path())).unwrap().len(), clean as u64);
    assert_eq!(resume.next_seq, 4);
    let log = AuditLog::start(backend, resume, keys(), signer_copy(&signer), config(100), vec![]);
    assert_eq!(log.append(&event(4)).await.unwrap(), 4);
    log.close().await.unwrap();
    assert!(verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap().is_ok());
}

#[tokio::test]
async fn a_torn_checkpoint_is_set_aside_and_the_log_reopens() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &signer, 5, 100).await;
    let path = dir.path().join("checkpoints.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let clean = bytes.len();
    bytes.extend_from_slice(br#"{"key_id":"e0","ro"#);
    std::fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), &signer, config(100));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), clean as u64);
    assert_eq!(log.append(&event(5)).await.unwrap(), 5);
    log.close().await.unwrap();
    assert!(verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap().is_ok());

    // A complete line that is not a checkpoint is damage, not a crash.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"size\":1}\n");
    std::fs::write(&path, &bytes).unwrap();
    let error =
        FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap_err();
    assert!(matches!(error, OpenError::Replay(ReplayError::Damaged { .. })), "{error}");
}

#[tokio::test]
async fn a_damaged_or_truncated_log_is_not_reopened() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &signer, 6, 3).await;
    let original = common::read_lines(&segment(dir.path()));
    let public = signer.public_key();

    let mut damaged = original.clone();
    damaged[2] = "not json".into();
    common::write_lines(&segment(dir.path()), &damaged);
    let error = FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()).unwrap_err();
    assert!(matches!(error, OpenError::Replay(ReplayError::Damaged { .. })), "{error}");
    assert_eq!(common::read_lines(&segment(dir.path())), damaged, "a damaged log is left as found");

    common::write_lines(&segment(dir.path()), &original[..4]);
    let error = FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()).unwrap_err();
    assert!(matches!(error, OpenError::Replay(ReplayError::Truncated { found: 4, expected: 6 })), "{error}");

    let mut edited = original.clone();
    edited[4] = edited[4].replace("\"ok\"", "\"no\"");
    assert_ne!(edited, original);
    common::write_lines(&segment(dir.path()), &edited);
    let error = FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()).unwrap_err();
    assert!(
        matches!(&error, OpenError::Replay(ReplayError::Damaged { detail, .. }) if detail.contains("chain MAC")),
        "an edited record is caught by its chain MAC: {error}"
    );

    common::write_lines(&segment(dir.path()), &original);
    let stranger = CheckpointSigner::generate().unwrap();
    let mut forged: Checkpoint =
        serde_json::from_str(&common::read_lines(&dir.path().join("checkpoints.jsonl"))[1]).unwrap();
    forged.signature = stranger.sign(forged.size, forged.root_hash().unwrap(), forged.timestamp_ms).signature;
    std::fs::write(dir.path().join("checkpoints.jsonl"), format!("{}\n", forged.to_line())).unwrap();
    assert!(matches!(
        FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()),
        Err(OpenError::Replay(ReplayError::UntrustedCheckpoint { .. }))
    ));
}

#[tokio::test]
async fn a_reopened_writer_never_signs_over_an_edit_after_its_newest_checkpoint() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &signer, 6, 4).await;
    // Drop the final checkpoint (size 6), then edit record 5: only the chain can tell.
    let checkpoints = common::read_lines(&dir.path().join("checkpoints.jsonl"));
    common::write_lines(&dir.path().join("checkpoints.jsonl"), &checkpoints[..1]);
    let mut lines = common::read_lines(&segment(dir.path()));
    lines[5] = lines[5].replace("\"missing_role\"", "\"missing_rolf\"");
    common::write_lines(&segment(dir.path()), &lines);
    let error =
        FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap_err();
    assert!(matches!(error, OpenError::Replay(ReplayError::Damaged { .. })), "{error}");
    // A checkpoint under another key is not trusted either.
    common::write_lines(&segment(dir.path()), &common::read_lines(&segment(dir.path())));
    let stranger = CheckpointSigner::generate().unwrap();
    let forged = stranger.sign(99, [0; 32], 1).to_line();
    common::write_lines(&dir.path().join("checkpoints.jsonl"), &[checkpoints[0].clone(), forged]);
    let error =
        FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap_err();
    assert!(matches!(error, OpenError::Replay(ReplayError::UntrustedCheckpoint { size: 99, .. })), "{error}");
}

#[tokio::test]
async fn only_one_writer_at_a_time() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap();
    let second = FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys());
    assert!(matches!(second, Err(OpenError::Locked(_))));
    drop(first);
    assert!(FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).is_ok());
}

#[tokio::test]
async fn segments_rotate_and_verify_as_one_log() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    common::write_rotated(dir.path(), &signer, 2, 30, 7).await;
    let segments = mcp_audit::file::segments(dir.path()).unwrap();
    assert!(segments.len() > 5, "{segments:?}");
    for (_, path) in &segments {
        assert!(!std::fs::read(path).unwrap().contains(&0), "{}: sealed without padding", path.display());
    }
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 60, "{report:?}");
    // A whole segment removed from the middle is a deletion.
    std::fs::remove_file(&segments[2].1).unwrap();
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.has(mcp_audit::ProblemKind::Deleted, Some(segments[2].0)), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_distinct_contiguous_seqs() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, AuditLogConfig { queue_capacity: 64, ..config(500) });
    let tasks: Vec<_> = (0..2_000)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(&event(i)).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..2_000).collect::<Vec<_>>());
    log.close().await.unwrap();
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 2_000, "{:?}", report.problems);
}

/// A backend that waits for permits (to hold the writer) and can be told to fail.
struct Gated {
    inner: FileBackend,
    gate: Arc<Semaphore>,
    fail: Arc<AtomicBool>,
}

impl Backend for Gated {
    fn append(&mut self, records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.gate.acquire().await.unwrap().forget();
            if self.fail.load(Ordering::SeqCst) {
                return Err(BackendError("disk on fire".into()));
            }
            self.inner.append(records).await
        })
    }

    fn append_checkpoint<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.inner.append_checkpoint(checkpoint)
    }

    // The gate is awaited, so this wrapper runs as a task (not `BLOCKING`); closing
    // is forwarded.
    fn close(&mut self) -> BoxFuture<'_, Result<(), BackendError>> {
        self.inner.close()
    }
}

fn gated(
    dir: &std::path::Path,
    signer: &CheckpointSigner,
    config: AuditLogConfig,
) -> (AuditLog, Arc<Semaphore>, Arc<AtomicBool>) {
    let (inner, resume) =
        FileBackend::open(FileBackendConfig::new(dir), &signer.public_key(), &keys()).unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let fail = Arc::new(AtomicBool::new(false));
    let backend = Gated { inner, gate: Arc::clone(&gate), fail: Arc::clone(&fail) };
    (AuditLog::start(backend, resume, keys(), signer_copy(signer), config, vec![]), gate, fail)
}

#[tokio::test]
async fn a_full_queue_makes_callers_wait_and_drops_nothing() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (log, gate, _) =
        gated(dir.path(), &signer, AuditLogConfig { queue_capacity: 4, max_batch: 4, ..config(1000) });
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(&event(i)).await })
        })
        .collect();
    // The writer holds one batch at the gate; the queue fills; the rest wait.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(log.waiting() > 0, "callers wait when the queue is full");
    assert!(log.queue_depth() <= 4);
    assert_eq!(log.size(), 0, "nothing acknowledged before it is written");
    gate.add_permits(1_000);
    let mut seqs: Vec<u64> = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_storage_failure_refuses_entries_then_recovers_without_a_gap() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let retry_after = Duration::from_millis(200);
    let (log, gate, fail) = gated(dir.path(), &signer, AuditLogConfig { retry_after, ..config(1000) });
    gate.add_permits(10_000);
    assert_eq!(log.append(&event(0)).await.unwrap(), 0);

    fail.store(true, Ordering::SeqCst);
    let error = log.append(&event(1)).await.unwrap_err();
    assert!(
        matches!(&error, AuditLogError::StorageFailed(reason) if reason.contains("disk on fire")),
        "{error}"
    );
    assert!(log.ready().is_err(), "the log says it is not ready (callers fail closed)");
    fail.store(false, Ordering::SeqCst);
    assert!(
        matches!(log.append(&event(2)).await, Err(AuditLogError::Unavailable(_))),
        "refused until the retry time"
    );

    tokio::time::sleep(retry_after * 2).await;
    assert_eq!(log.append(&event(3)).await.unwrap(), 1, "the failed entry took no seq");
    assert!(log.ready().is_ok());
    log.close().await.unwrap();
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 2, "{report:?}");
}

#[tokio::test]
async fn checkpoints_reach_witnesses_and_are_checked_against_them() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let witness_dir = tempfile::tempdir().unwrap();
    let witness_file = witness_dir.path().join("witness.jsonl");

    // A webhook witness: a real HTTP server on 127.0.0.1 that keeps what it is sent.
    rustls::crypto::ring::default_provider().install_default().ok();
    let received: Arc<std::sync::Mutex<Vec<Checkpoint>>> = Arc::default();
    let kept = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/checkpoints",
        axum::routing::post(move |body: String| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let witnesses: Vec<Arc<dyn Witness>> = vec![
        Arc::new(FileWitness::new(&witness_file)),
        Arc::new(WebhookWitness::new(reqwest::Client::new(), url)),
    ];
    let (backend, resume) =
        FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys()).unwrap();
    let log = AuditLog::start(backend, resume, keys(), signer_copy(&signer), config(4), witnesses);
    for i in 0..10 {
        log.append(&event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    for _ in 0..100 {
        if received.lock().unwrap().len() == 3
            && std::fs::read_to_string(&witness_file).is_ok_and(|t| t.lines().count() == 3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sizes: Vec<u64> = received.lock().unwrap().iter().map(|c| c.size).collect();
    assert_eq!(sizes, [4, 8, 10]);
    let witnessed = mcp_audit::file::read_checkpoints(&witness_file).unwrap().checkpoints;
    assert_eq!(witnessed.iter().map(|c| c.size).collect::<Vec<_>>(), [4, 8, 10]);

    // Someone cuts the tail and the local checkpoints with it: the witness still knows.
    let lines = common::read_lines(&segment(dir.path()));
    common::write_lines(&segment(dir.path()), &lines[..6]);
    let local = common::read_lines(&dir.path().join("checkpoints.jsonl"));
    common::write_lines(&dir.path().join("checkpoints.jsonl"), &local[..1]);
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok(), "the local files alone are consistent");
    let report =
        mcp_audit::proof::verify_dir_with(dir.path(), &signer.public_key(), Some(&keys()), &witnessed)
            .unwrap();
    assert!(report.has(mcp_audit::ProblemKind::Truncated, Some(6)), "{:?}", report.problems);
}

fn signer_copy(signer: &CheckpointSigner) -> CheckpointSigner {
    CheckpointSigner::from_pem(&signer.to_pem()).unwrap()
}

#[tokio::test]
async fn each_durable_batch_reports_its_commit_time_once() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, config(100));
    let commits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&commits);
    assert!(log.observe_commits(move |took| seen.lock().unwrap().push(took)));
    assert!(!log.observe_commits(|_| {}), "only the first observer is kept");
    for i in 0..3 {
        log.append(&event(i)).await.unwrap();
    }
    let commits = commits.lock().unwrap().clone();
    // Sequential appends are three batches; each one was synced before its ack.
    assert_eq!(commits.len(), 3);
    assert_eq!(log.batches(), 3);
    log.close().await.unwrap();
}
