//! The tamper table: every edit an attacker with write access to the log files (but
//! not the keys) can make is detected and classified.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{keys, read_lines, segment, write_lines, write_log};
use mcp_audit::{Checkpoint, CheckpointSigner, HmacKeyring, ProblemKind, Report, verify_dir};

const ENTRIES: u64 = 20;

/// A fresh log of 20 entries with checkpoints at 5, 10, 15 and 20.
async fn fresh_log(signer: &CheckpointSigner) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), signer, ENTRIES, 5).await;
    dir
}

fn verify(dir: &Path, signer: &CheckpointSigner, keys: Option<&HmacKeyring>) -> Report {
    verify_dir(dir, &signer.public_key(), keys).unwrap()
}

/// Changes one character of the value that follows `"field":` in `line`.
fn flip_field(line: &str, field: &str) -> String {
    let marker = format!("\"{field}\":");
    let start = line.find(&marker).unwrap_or_else(|| panic!("{field} not in {line}")) + marker.len();
    let offset = line[start..].find(|c: char| c.is_ascii_alphanumeric()).unwrap() + start;
    let old = line.as_bytes()[offset];
    let new = match old {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => old + 1,
        b'9' => b'0',
        _ => b'a',
    };
    let mut out = line.as_bytes().to_vec();
    out[offset] = new;
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_untouched_log_verifies() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let report = verify(dir.path(), &signer, Some(&keys()));
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.entries, report.checkpoints_verified, report.unanchored), (ENTRIES, 4, 0));
    assert!(report.chain_checked);
    let without_key = verify(dir.path(), &signer, None);
    assert!(without_key.is_ok() && !without_key.chain_checked);
}

#[tokio::test]
async fn one_byte_changed_in_each_field_is_found() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let original = read_lines(&segment(dir.path()));
    // seq 8 is a denial (8 % 3 == 2), so it has every field including `code`.
    let fields = [
        ("timestamp_ms", ProblemKind::Modified),
        ("request_id", ProblemKind::Modified),
        ("principal", ProblemKind::Modified),
        ("tenant", ProblemKind::Modified),
        ("auth_method", ProblemKind::Modified),
        ("method", ProblemKind::Modified),
        ("tool", ProblemKind::Modified),
        ("decision", ProblemKind::Modified),
        ("code", ProblemKind::Modified),
        ("outcome", ProblemKind::Modified),
        ("duration_us", ProblemKind::Modified),
        ("arguments_sha256", ProblemKind::Modified),
        ("result_sha256", ProblemKind::Modified),
        ("metadata", ProblemKind::Modified),
        ("mac", ProblemKind::Modified),
        ("seq", ProblemKind::Modified),
        // A key id changed between records under the known key is an edit, not a rotation.
        ("kid", ProblemKind::Modified),
    ];
    for (field, kind) in fields {
        let mut lines = original.clone();
        lines[8] = flip_field(&lines[8], field);
        assert_ne!(lines[8], original[8]);
        write_lines(&segment(dir.path()), &lines);
        let report = verify(dir.path(), &signer, Some(&keys()));
        assert!(report.has(kind, Some(8)), "{field}: expected {kind} at seq 8, got {:?}", report.problems);
        assert!(
            report.problems.iter().all(|p| p.seq.is_none_or(|s| s == 8)),
            "{field}: only seq 8 is blamed: {:?}",
            report.problems
        );
        // Without the HMAC key the tree still catches it, between checkpoints 5 and 10.
        let report = verify(dir.path(), &signer, None);
        assert!(!report.is_ok(), "{field}: not detected without the HMAC key");
    }
    write_lines(&segment(dir.path()), &original);
    assert!(verify(dir.path(), &signer, Some(&keys())).is_ok());
}

#[tokio::test]
async fn structural_edits_are_classified() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let original = read_lines(&segment(dir.path()));
    type Edit = fn(&mut Vec<String>);
    let cases: Vec<(&str, Edit, ProblemKind, u64)> = vec![
        ("first entry deleted", |l| drop(l.remove(0)), ProblemKind::Deleted, 0),
        ("middle entry deleted", |l| drop(l.remove(7)), ProblemKind::Deleted, 7),
        ("last entry deleted", |l| drop(l.pop()), ProblemKind::Truncated, 19),
        ("two entries swapped", |l| l.swap(7, 8), ProblemKind::Reordered, 7),
        ("entry duplicated", |l| l.insert(8, l[7].clone()), ProblemKind::Duplicated, 7),
        ("forged entry inserted", |l| l.insert(8, flip_field(&l[7], "outcome")), ProblemKind::Inserted, 7),
        ("tail cut after a checkpoint", |l| l.truncate(12), ProblemKind::Truncated, 12),
    ];
    for (what, edit, kind, seq) in cases {
        let mut lines = original.clone();
        edit(&mut lines);
        write_lines(&segment(dir.path()), &lines);
        for key in [Some(keys()), None] {
            let report = verify(dir.path(), &signer, key.as_ref());
            assert!(
                report.has(kind, Some(seq)),
                "{what} (HMAC key: {}): expected {kind} at {seq}, got {:?}",
                key.is_some(),
                report.problems
            );
        }
    }
}

#[tokio::test]
async fn checkpoint_tampering_and_wrong_keys_are_found() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let path = dir.path().join("checkpoints.jsonl");
    let original = read_lines(&path);
    let mut checkpoints: Vec<Checkpoint> =
        original.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(checkpoints.iter().map(|c| c.size).collect::<Vec<_>>(), [5, 10, 15, 20]);

    // A signature replaced (with another valid checkpoint's signature).
    checkpoints[1].signature = checkpoints[0].signature.clone();
    write_lines(&path, &checkpoints.iter().map(Checkpoint::to_line).collect::<Vec<_>>());
    let report = verify(dir.path(), &signer, Some(&keys()));
    assert!(report.has(ProblemKind::BadSignature, Some(10)), "{:?}", report.problems);

    // A root rewritten (with a re-signature the attacker cannot make).
    let mut forged = serde_json::from_str::<Checkpoint>(&original[1]).unwrap();
    forged.root = hex::encode([0xab; 32]);
    write_lines(&path, &[original[0].clone(), forged.to_line()]);
    assert!(verify(dir.path(), &signer, None).has(ProblemKind::BadSignature, Some(10)));

    // A checkpoint line that is not one.
    write_lines(&path, &[original[0].clone(), "{\"size\":".into()]);
    assert!(verify(dir.path(), &signer, None).has(ProblemKind::Malformed, None));

    // The wrong checkpoint key, the wrong HMAC key.
    write_lines(&path, &original);
    let stranger = CheckpointSigner::generate().unwrap();
    let report = verify(dir.path(), &stranger, Some(&keys()));
    assert!(
        report.has(ProblemKind::UnknownKey, Some(5)) && report.checkpoints_verified == 0,
        "{:?}",
        report.problems
    );
    let wrong_hmac = HmacKeyring::from_text("another-key-another-key-another-key-!!").unwrap();
    let report = verify(dir.path(), &signer, Some(&wrong_hmac));
    assert!(report.has(ProblemKind::UnknownKey, Some(0)), "{:?}", report.problems);

    // A rotated HMAC key ring holding the old key verifies.
    let rotated =
        HmacKeyring::new(["a-brand-new-key-a-brand-new-key-a-brand-new-key", common::HMAC_KEY]).unwrap();
    assert!(verify(dir.path(), &signer, Some(&rotated)).is_ok());
}

#[tokio::test]
async fn entries_after_the_last_checkpoint_are_reported_unanchored() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let path = dir.path().join("checkpoints.jsonl");
    let lines = read_lines(&path);
    write_lines(&path, &lines[..2]);
    let report = verify(dir.path(), &signer, Some(&keys()));
    assert!(report.is_ok());
    assert_eq!((report.checkpoints_verified, report.unanchored), (2, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_and_sequential_verification_agree_on_a_large_tampered_log() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path(), &signer, common::config(3_000));
    let tasks: Vec<_> = (0..12_000)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(&common::event(i)).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    log.close().await.unwrap();
    let mut lines = read_lines(&segment(dir.path()));
    // Edits on both sides of where the work is split between threads.
    lines[5_999] = flip_field(&lines[5_999], "outcome");
    lines.swap(6_000, 6_001);
    lines.remove(9_000);
    lines[11_000] = "garbage".into();
    write_lines(&segment(dir.path()), &lines);

    let parallel = verify(dir.path(), &signer, Some(&keys()));
    let keyring = keys();
    let public = signer.public_key();
    let mut sequential = mcp_audit::Verifier::new(&public, Some(&keyring));
    for (i, line) in lines.iter().enumerate() {
        sequential.push_line(line.as_bytes(), || {
            format!("{}:{}", segment(dir.path()).file_name().unwrap().to_string_lossy(), i + 1)
        });
    }
    let checkpoints = mcp_audit::read_dir(dir.path()).unwrap().checkpoints;
    let sequential = sequential.finish(&checkpoints);
    assert_eq!(parallel.problems, sequential.problems);
    for (kind, seq) in [
        (ProblemKind::Reordered, Some(6_000)),
        (ProblemKind::Deleted, Some(9_000)),
        (ProblemKind::Malformed, None),
    ] {
        assert!(parallel.has(kind, seq), "{kind} {seq:?}: {:?}", parallel.problems);
    }
    assert!(
        parallel.problems.iter().any(|p| p.kind == ProblemKind::Modified && p.seq.is_some()),
        "{:?}",
        parallel.problems
    );
}

#[tokio::test]
async fn one_problem_does_not_hide_another() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = fresh_log(&signer).await;
    let mut lines = read_lines(&segment(dir.path()));
    // Without the HMAC key: an edit at seq 5 plus an unrelated duplicate at seq 2.
    lines[5] = flip_field(&lines[5], "outcome");
    lines.insert(3, lines[2].clone());
    write_lines(&segment(dir.path()), &lines);
    let cp_path = dir.path().join("checkpoints.jsonl");
    let mut checkpoints = read_lines(&cp_path);
    // And a forged checkpoint claiming a much larger log.
    let mut forged: Checkpoint = serde_json::from_str(&checkpoints[0]).unwrap();
    forged.size = 1_000;
    checkpoints.push(forged.to_line());
    write_lines(&cp_path, &checkpoints);

    let report = verify(dir.path(), &signer, None);
    assert!(report.has(ProblemKind::Duplicated, Some(2)), "{:?}", report.problems);
    assert!(report.has(ProblemKind::BadSignature, Some(1_000)), "{:?}", report.problems);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::Modified && p.detail.contains("checkpoint at size 10")),
        "the edit is still reported: {:?}",
        report.problems
    );
    assert!(
        !report.has(ProblemKind::Truncated, None),
        "an untrusted checkpoint claims nothing: {:?}",
        report.problems
    );
}
