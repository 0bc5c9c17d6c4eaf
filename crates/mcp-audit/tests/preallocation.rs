//! The file backend's preallocated segments: zero padding ahead of the records while a
//! writer has the log open, plain JSON lines once it is closed, and what a crash can
//! leave behind (holes of zeros in the unsynced tail) told apart from damage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::path::Path;

use common::{config, event, keys, open, segment, write_log};
use mcp_audit::file::{TORN_WINDOW, segment_content};
use mcp_audit::{
    CheckpointSigner, FileBackend, FileBackendConfig, OpenError, ReplayError, read_dir, verify_dir,
};

fn copy_log(from: &Path, to: &Path) {
    for name in ["segment-00000000000000000000.jsonl", "checkpoints.jsonl"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

#[tokio::test]
async fn a_live_segment_is_padded_and_a_closed_one_is_plain_lines() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, config(100));
    for i in 0..5 {
        assert_eq!(log.append(&event(i)).await.unwrap(), i);
    }
    log.flush().await.unwrap();

    let live = std::fs::read(segment(dir.path())).unwrap();
    let records = segment_content(&live).len();
    assert!(live.len() > records, "zeros are laid ahead of the records");
    assert!(live[records..].iter().all(|&b| b == 0));
    assert_eq!(live[records - 1], b'\n');
    // Readers see the records, not the padding.
    assert_eq!(read_dir(dir.path()).unwrap().lines.len(), 5);
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 5, "{report:?}");

    // The process dies now (a copy of the files as they are): the log reopens from the
    // padded segment and continues where the records end.
    let crashed = tempfile::tempdir().unwrap();
    copy_log(dir.path(), crashed.path());
    let (_, resume) =
        FileBackend::open(FileBackendConfig::new(crashed.path()), &signer.public_key(), &keys()).unwrap();
    assert_eq!((resume.next_seq, resume.torn_tail), (5, None));
    let reopened = open(crashed.path(), &signer, config(100));
    assert_eq!(reopened.append(&event(5)).await.unwrap(), 5);
    reopened.close().await.unwrap();
    let report = verify_dir(crashed.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 6, "{report:?}");

    // Closing cuts the padding off.
    log.close().await.unwrap();
    for dir in [dir.path(), crashed.path()] {
        let closed = std::fs::read(segment(dir)).unwrap();
        assert!(!closed.contains(&0) && closed.ends_with(b"\n"), "a closed segment is plain JSON lines");
    }
}

/// About 3 MiB queued at once (the splitting into pieces is unit-tested in `file.rs`):
/// every entry is acknowledged once and the log verifies.
#[tokio::test]
async fn megabytes_queued_at_once_are_stored_and_verify() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, config(100_000));
    let padding = "x".repeat(4_000);
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..800u64 {
        let log = log.clone();
        let mut event = event(i);
        event.metadata.insert("padding".into(), padding.clone().into());
        appends.spawn(async move { log.append(&event).await.unwrap() });
    }
    let mut seqs = appends.join_all().await;
    seqs.sort_unstable();
    assert_eq!(seqs, (0..800).collect::<Vec<_>>());
    log.close().await.unwrap();
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == 800, "{report:?}");
}

/// Zeros over `line` (placed at file offset `at`) from its start to the next sector
/// boundary, as a power loss leaves a sector of an unsynced write.
fn with_hole(line: &[u8], at: u64) -> Vec<u8> {
    let mut line = line.to_vec();
    let end = usize::try_from((at + 1).next_multiple_of(512) - at).unwrap().min(line.len() - 1);
    line[..end].fill(0);
    line
}

/// Zeros inside `line` that neither start nor end on a sector boundary.
fn with_misaligned_zeros(line: &[u8], at: u64) -> Vec<u8> {
    let mut line = line.to_vec();
    let start = (20..).find(|i| !(at + i).is_multiple_of(512) && !(at + i + 10).is_multiple_of(512)).unwrap();
    line[usize::try_from(start).unwrap()..usize::try_from(start + 10).unwrap()].fill(0);
    line
}

/// Writes `events` (sequence numbers from 0) and closes the log.
async fn write_events(dir: &Path, signer: &CheckpointSigner, events: Vec<mcp_audit::AuditEvent>) {
    let log = open(dir, signer, config(100));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(log.append(event).await.unwrap(), i as u64);
    }
    log.close().await.unwrap();
}

fn lines_of(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path).unwrap().split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

/// What a crash can leave after the last record, and what it cannot.
#[tokio::test]
async fn what_follows_the_last_record_is_torn_or_damage() {
    let signer = CheckpointSigner::generate().unwrap();
    // The log the tails are appended to: 4 records, closed. Records 4 and 5 as written
    // come from a longer log; so does an oversized record 4 (larger than the window).
    let base = tempfile::tempdir().unwrap();
    write_log(base.path(), &signer, 4, 100).await;
    let clean = std::fs::read(segment(base.path())).unwrap();
    let at = clean.len() as u64;
    let longer = tempfile::tempdir().unwrap();
    write_log(longer.path(), &signer, 6, 100).await;
    let lines = lines_of(&segment(longer.path()));
    let (next, after) = (lines[4].clone(), lines[5].clone());
    let oversized = tempfile::tempdir().unwrap();
    let mut big = event(4);
    big.metadata.insert("padding".into(), "x".repeat(usize::try_from(TORN_WINDOW).unwrap() + 4096).into());
    write_events(oversized.path(), &signer, (0..4).map(event).chain([big]).collect()).await;
    let big = lines_of(&segment(oversized.path()))[4].clone();
    assert!(big.len() as u64 > TORN_WINDOW);

    let edited = String::from_utf8(next.clone()).unwrap().replacen("req-4", "req-9", 1).into_bytes();
    assert_ne!(edited, next);
    let after_at = at + next.len() as u64;
    let padding = vec![0u8; 64 * 1024];
    let beyond_window = vec![b'x'; usize::try_from(TORN_WINDOW).unwrap() + 1];

    enum Expect {
        Resumes { next_seq: u64, torn: Option<usize> },
        Damaged,
    }
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "the next record, whole",
            [&next[..], &padding].concat(),
            Expect::Resumes { next_seq: 5, torn: None },
        ),
        (
            "the next record cut short",
            [&next[..40], &padding].concat(),
            Expect::Resumes { next_seq: 4, torn: Some(40) },
        ),
        (
            "the next record with a lost sector",
            [&with_hole(&next, at)[..], &padding].concat(),
            Expect::Resumes { next_seq: 4, torn: Some(next.len()) },
        ),
        (
            "a lost sector, then a whole record",
            [&with_hole(&next, at)[..], &after, &padding].concat(),
            Expect::Resumes { next_seq: 4, torn: Some(next.len() + after.len()) },
        ),
        (
            "a whole record, then one with a lost sector",
            [&next[..], &with_hole(&after, after_at), &padding].concat(),
            Expect::Resumes { next_seq: 5, torn: Some(after.len()) },
        ),
        (
            "an oversized record with a lost sector, alone",
            [&with_hole(&big, at)[..], &padding].concat(),
            Expect::Resumes { next_seq: 4, torn: Some(big.len()) },
        ),
        ("the next record edited", [&edited[..], &padding].concat(), Expect::Damaged),
        ("the next record edited, then another", [&edited[..], &after].concat(), Expect::Damaged),
        (
            "the next record edited, then one with a lost sector",
            [&edited[..], &with_hole(&after, after_at), &padding].concat(),
            Expect::Damaged,
        ),
        (
            "zeros that are not a lost sector",
            [&with_misaligned_zeros(&next, at)[..], &padding].concat(),
            Expect::Damaged,
        ),
        ("a line that is not a record", b"not json\n".to_vec(), Expect::Damaged),
        (
            "a lost sector, then more than one write could leave",
            [&with_hole(&next, at)[..], &beyond_window].concat(),
            Expect::Damaged,
        ),
        (
            "an oversized record with a lost sector, then another",
            [&with_hole(&big, at)[..], &after].concat(),
            Expect::Damaged,
        ),
    ];

    for (name, tail, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_log(base.path(), dir.path());
        let bytes = [&clean[..], &tail].concat();
        std::fs::write(segment(dir.path()), &bytes).unwrap();
        let opened = FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys());
        match (expect, opened) {
            (Expect::Resumes { next_seq, torn }, Ok((_, resume))) => {
                assert_eq!(resume.next_seq, next_seq, "{name}");
                assert_eq!(resume.torn_tail.as_ref().map(|t| t.bytes), torn.map(|n| n as u64), "{name}");
                if let Some(torn) = resume.torn_tail {
                    let kept = std::fs::read(torn.kept_at.unwrap()).unwrap();
                    assert_eq!(kept.len() as u64, torn.bytes, "{name}: the torn bytes, without the padding");
                    let kept_records = at + segment_content(&tail).len() as u64 - torn.bytes;
                    assert_eq!(std::fs::metadata(segment(dir.path())).unwrap().len(), kept_records, "{name}");
                }
            }
            (Expect::Damaged, Err(OpenError::Replay(ReplayError::Damaged { .. }))) => {
                assert_eq!(std::fs::read(segment(dir.path())).unwrap(), bytes, "{name}: left as found");
            }
            (_, outcome) => panic!("{name}: unexpected {:?}", outcome.map(|(_, resume)| resume.next_seq)),
        }
    }
}

#[tokio::test]
async fn zeros_after_a_sealed_segment_are_reported() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    common::write_rotated(dir.path(), &signer, 2, 10, 100).await;
    let segments = mcp_audit::file::segments(dir.path()).unwrap();
    assert!(segments.len() > 2);
    let first = &segments[0].1;
    let mut bytes = std::fs::read(first).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(first, &bytes).unwrap();
    let report = verify_dir(dir.path(), &signer.public_key(), Some(&keys())).unwrap();
    assert!(!report.is_ok(), "{report:?}");
    assert!(
        report.problems.iter().any(|p| p.detail.contains("zero bytes after the records of a sealed segment")),
        "{:?}",
        report.problems
    );
    let reopened = FileBackend::open(FileBackendConfig::new(dir.path()), &signer.public_key(), &keys());
    assert!(matches!(reopened, Err(OpenError::Replay(ReplayError::Damaged { .. }))));
}

/// The file backend's writer is a thread of its own, at the configured niceness.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_writer_thread_runs_at_a_lower_priority() {
    fn niceness(stat: &Path) -> Option<i64> {
        let stat = std::fs::read_to_string(stat).ok()?;
        // Field 19 is the niceness; the fields after the command name start at 3.
        stat.rsplit_once(')')?.1.split_whitespace().nth(16)?.parse().ok()
    }
    /// The audit writer threads of this process, by thread id (threads come and go
    /// while this reads: a vanished one is skipped).
    fn writers() -> Vec<(String, i64)> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(Result::ok)
            .map(|task| task.path())
            .filter(|task| {
                std::fs::read_to_string(task.join("comm")).is_ok_and(|c| c.trim() == "audit-writer")
            })
            .filter_map(|task| {
                Some((task.file_name()?.to_string_lossy().into_owned(), niceness(&task.join("stat"))?))
            })
            .collect()
    }
    // Lowering is unprivileged, raising is not done: a test run that is already nicer
    // than 5 keeps its niceness.
    let expected = niceness(Path::new("/proc/self/stat")).unwrap().max(5);
    // Other tests of this binary may have writers of their own (under `cargo test`):
    // only the one this test starts is looked at.
    let before: Vec<String> = writers().into_iter().map(|(tid, _)| tid).collect();
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &signer, config(100));
    log.append(&event(0)).await.unwrap();
    let started: Vec<i64> =
        writers().into_iter().filter(|(tid, _)| !before.contains(tid)).map(|(_, nice)| nice).collect();
    assert!(!started.is_empty(), "the log started a writer thread");
    assert!(started.contains(&expected), "{started:?}, expected {expected}");
    log.close().await.unwrap();
}

/// A tmpfs of a given size, unmounted on drop. Mounting needs root (CAP_SYS_ADMIN);
/// without it the test that needs one says so and skips.
#[cfg(target_os = "linux")]
struct SmallVolume {
    mount_point: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl SmallVolume {
    fn mount(kib: u64) -> Option<Self> {
        let mount_point = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0700"), "palisade-test"])
            .arg(mount_point.path())
            .stderr(std::process::Stdio::piped())
            .output();
        match status {
            Ok(out) if out.status.success() => Some(Self { mount_point }),
            other => {
                eprintln!(
                    "\n*** SKIPPED: this test needs a small volume and could not mount a tmpfs ({other:?}); run it as root to exercise the full-volume path ***\n"
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }
}

#[cfg(target_os = "linux")]
impl Drop for SmallVolume {
    fn drop(&mut self) {
        // Lazily: a failed assertion may leave the log's files open.
        let _ = std::process::Command::new("umount").arg("-l").arg(self.mount_point.path()).status();
    }
}

/// The padding is an optimisation, never a reason to refuse an entry: on a volume with
/// less room than one padding chunk the writer appends without it, whether it sees that
/// coming (the free-space reserve) or runs into a full volume (no reserve). Once the
/// records themselves no longer fit, appends fail with a typed error and nothing
/// acknowledged is lost; once space is freed, the log takes entries again.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_volume_costs_the_padding_before_any_entry() {
    // The default reserve sees the full volume coming; 0 turns the check off, so the
    // writer runs into ENOSPC and falls back from there.
    for reserve in [FileBackendConfig::new("").padding_reserve_bytes, 0] {
        let Some(volume) = SmallVolume::mount(1024) else { return };
        fill_a_small_volume(&volume, reserve).await;
    }
}

#[cfg(target_os = "linux")]
async fn fill_a_small_volume(volume: &SmallVolume, reserve: u64) {
    // Another file holds most of the volume: about 256 KiB stay free, a quarter of
    // one padding chunk.
    let filler = volume.path().join("filler");
    std::fs::write(&filler, vec![1u8; 768 * 1024]).unwrap();
    let dir = volume.path().join("audit");
    let signer = CheckpointSigner::generate().unwrap();
    let (backend, resume) = FileBackend::open(
        FileBackendConfig { padding_reserve_bytes: reserve, ..FileBackendConfig::new(&dir) },
        &signer.public_key(),
        &keys(),
    )
    .unwrap();
    let config =
        mcp_audit::AuditLogConfig { retry_after: std::time::Duration::from_millis(20), ..config(100) };
    let log = mcp_audit::AuditLog::start(
        backend,
        resume,
        keys(),
        CheckpointSigner::from_pem(&signer.to_pem()).unwrap(),
        config,
        vec![],
    );
    let mut acknowledged = 0u64;
    let error = loop {
        match log.append(&event(acknowledged)).await {
            Ok(seq) => {
                assert_eq!(seq, acknowledged);
                acknowledged += 1;
            }
            Err(error) => break error,
        }
        assert!(acknowledged < 10_000, "a 1 MiB volume cannot hold this many entries");
    };
    assert!(matches!(error, mcp_audit::AuditLogError::StorageFailed(_)), "reserve {reserve}: {error:?}");
    assert!(
        acknowledged > 100,
        "reserve {reserve}: entries fill the free space, {acknowledged} acknowledged"
    );
    let report = verify_dir(&dir, &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == acknowledged, "reserve {reserve}: {report:?}");

    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(log.append(&event(acknowledged)).await.unwrap(), acknowledged);
    log.close().await.unwrap();
    let report = verify_dir(&dir, &signer.public_key(), Some(&keys())).unwrap();
    assert!(report.is_ok() && report.entries == acknowledged + 1, "reserve {reserve}: {report:?}");
}
