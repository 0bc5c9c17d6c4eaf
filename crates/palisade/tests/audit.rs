//! The example deployment's audit log, black-box: what the server writes verifies with
//! the CLI after a graceful shutdown, survives kill -9 under load without losing an
//! acknowledged entry, and any edit is caught.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Deployment, error_code, mint, start, start_in};
use serde_json::{Value, json};

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// SIGTERM, then wait for a clean exit.
fn stop_gracefully(d: &mut Deployment) {
    let status = Command::new("kill").args(["-TERM", &d.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = d.child.try_wait().unwrap() {
            assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
            return;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(dir: &Path, with_hmac: bool) -> Output {
    let log = dir.join("audit");
    let key = log.join("checkpoint.pub");
    let hmac = std::fs::read_to_string(dir.join("audit-hmac.secret")).unwrap();
    let mut args =
        vec!["audit", "verify", "--log", log.to_str().unwrap(), "--public-key", key.to_str().unwrap()];
    if with_hmac {
        args.extend(["--hmac-key-env", "TEST_AUDIT_HMAC"]);
    }
    palisade(&args, &[("TEST_AUDIT_HMAC", hmac.trim())])
}

/// `palisade audit verify-proof` with only the proof and the public key.
fn verify_proof(proof: &Path, key: &Path) -> Output {
    palisade(
        &["audit", "verify-proof", "--proof", proof.to_str().unwrap(), "--public-key", key.to_str().unwrap()],
        &[],
    )
}

fn read_checkpoint_sizes(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("audit/checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["size"].as_u64().unwrap())
        .collect()
}

fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join("audit/segment-00000000000000000000.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_verifies_after_shutdown_and_proofs_check_out() {
    let mut d = start();
    let support = mint(&d, "alice", "acme", "support", "read write");
    assert_eq!(
        error_code(&d.call(&support, "customers.search_customers", json!({"query": "a"})).await),
        "ok"
    );
    assert_eq!(
        error_code(&d.call(&support, "customers.delete_customer", json!({"customer_id": "x"})).await),
        "missing_role"
    );
    stop_gracefully(&mut d);
    let dir = d.dir.path().to_owned();
    assert!(dir.join("audit/checkpoint.pub").is_file());
    assert!(!dir.join("audit/audit-checkpoint.key").exists(), "the signing key is kept away from the log");

    for with_hmac in [false, true] {
        let out = verify(&dir, with_hmac);
        assert!(
            out.status.success(),
            "verify (hmac {with_hmac}): {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout(&out).contains("0 entries after the newest verified checkpoint"), "{}", stdout(&out));
        assert_eq!(stdout(&out).contains("chain checked"), with_hmac);
    }
    let log_text = std::fs::read_to_string(segment(&dir)).unwrap();
    assert!(
        !log_text.contains("alice") && !log_text.contains(&support),
        "no raw identity or token in the log"
    );

    // An inclusion proof, checked with only the proof and the public key.
    let log = dir.join("audit");
    let proof = palisade(&["audit", "prove", "--log", log.to_str().unwrap(), "--seq", "1"], &[]);
    assert!(proof.status.success(), "{}", String::from_utf8_lossy(&proof.stderr));
    let proof_path = dir.join("proof.json");
    std::fs::write(&proof_path, &proof.stdout).unwrap();
    let key = log.join("checkpoint.pub");
    let checked = verify_proof(&proof_path, &key);
    assert!(
        checked.status.success() && stdout(&checked).starts_with("ok: entry 1 is in the log"),
        "{}",
        stdout(&checked)
    );
    let mut forged: Value = serde_json::from_slice(&proof.stdout).unwrap();
    forged["record"] = Value::String(forged["record"].as_str().unwrap().replace("acme", "acmf"));
    std::fs::write(&proof_path, forged.to_string()).unwrap();
    let refused = verify_proof(&proof_path, &key);
    assert!(!refused.status.success());

    // A second run on the same data: a second checkpoint, and a consistency proof that
    // the new tree extends the old one.
    let first_size = read_checkpoint_sizes(&dir)[0];
    let mut d = start_in(std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap()));
    let support = mint(&d, "alice", "acme", "support", "read");
    assert_eq!(
        error_code(&d.call(&support, "customers.search_customers", json!({"query": "b"})).await),
        "ok"
    );
    stop_gracefully(&mut d);
    let dir = d.dir.path().to_owned();
    let sizes = read_checkpoint_sizes(&dir);
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    let consistency = palisade(
        &[
            "audit",
            "consistency",
            "--log",
            log.to_str().unwrap(),
            "--from",
            &first_size.to_string(),
            "--to",
            &sizes[1].to_string(),
        ],
        &[],
    );
    assert!(consistency.status.success(), "{}", String::from_utf8_lossy(&consistency.stderr));
    std::fs::write(&proof_path, &consistency.stdout).unwrap();
    let checked = verify_proof(&proof_path, &key);
    assert!(
        checked.status.success() && stdout(&checked).contains("extends the tree of"),
        "{}",
        stdout(&checked)
    );
    let log_text = std::fs::read_to_string(segment(&dir)).unwrap();

    // One byte changed in the log: verify fails and says what and where.
    let tampered = log_text.replacen("\"missing_role\"", "\"missing_rolf\"", 1);
    assert_ne!(tampered, log_text);
    std::fs::write(segment(&dir), tampered).unwrap();
    for with_hmac in [false, true] {
        let out = verify(&dir, with_hmac);
        assert!(!out.status.success());
        assert!(stdout(&out).contains("modified"), "{}", stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_entry() {
    let d = start();
    let tokens: Vec<String> =
        (0..12).map(|i| mint(&d, &format!("load-{i}"), "acme", "support", "read")).collect();
    let d = std::sync::Arc::new(d);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for (w, token) in tokens.into_iter().enumerate() {
        let (d, stop) = (std::sync::Arc::clone(&d), std::sync::Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            let session = d.session(&token).await;
            let mut acknowledged = Vec::new();
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let arguments = json!({"query": format!("w{w}-n{n}")});
                let body = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                    "params": {"name": "customers.search_customers", "arguments": arguments}});
                // After the kill, requests fail: that is the point.
                let Some((200, _, reply)) = d.try_rpc(&token, Some(&session), body).await else { break };
                if error_code(&reply["result"]) == "ok" {
                    acknowledged.push(arguments);
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // kill -9: no shutdown, no flush, no final checkpoint.
    let pid = d.child.id();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.unwrap());
    }
    assert!(acknowledged.len() > 50, "the load ran: {} acknowledged calls", acknowledged.len());

    // Restart on the same data: the log resumes (a torn tail, if any, is set aside).
    let d = std::sync::Arc::into_inner(d).unwrap();
    let mut d = restart(d);
    let support = mint(&d, "after", "acme", "support", "read");
    assert_eq!(
        error_code(&d.call(&support, "customers.search_customers", json!({"query": "after"})).await),
        "ok"
    );
    stop_gracefully(&mut d);
    let dir = d.dir.path().to_owned();
    let out = verify(&dir, true);
    assert!(out.status.success(), "{}", stdout(&out));

    let logged: HashSet<String> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "jsonl")
                && p.file_name().unwrap().to_string_lossy().starts_with("segment-")
        })
        .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| {
            serde_json::from_str::<Value>(&l).unwrap()["entry"]["arguments_sha256"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    for arguments in &acknowledged {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, identity_types::canonical_json(arguments).as_bytes());
        assert!(
            logged.contains(&hex::encode(digest.as_ref())),
            "acknowledged call {arguments} is missing from the log"
        );
    }
}

fn restart(mut d: Deployment) -> Deployment {
    let _ = d.child.wait();
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    drop(d);
    start_in(dir)
}

/// Runs `palisade serve` on `dir` expecting it to refuse to start; returns its stderr.
fn refused_start(dir: &Path) -> String {
    let mut child = common::serve_command(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "the server must refuse to start");
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return stderr;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trust_anchor_cannot_be_swapped_with_the_log() {
    let mut d = start();
    let support = mint(&d, "alice", "acme", "support", "read");
    assert_eq!(
        error_code(&d.call(&support, "customers.search_customers", json!({"query": "a"})).await),
        "ok"
    );
    stop_gracefully(&mut d);
    let dir = d.dir.path().to_owned();
    let key = dir.join("audit-checkpoint.key");
    let public = dir.join("audit/checkpoint.pub");

    // The signing key removed: no fresh key is made for a log that has checkpoints.
    std::fs::rename(&key, dir.join("key.bak")).unwrap();
    let stderr = refused_start(&dir);
    assert!(stderr.contains("signing key is missing"), "{stderr}");
    std::fs::rename(dir.join("key.bak"), &key).unwrap();

    // The public key beside the log replaced: refused at start, and by verify --key-id.
    let original = std::fs::read_to_string(&public).unwrap();
    let expected_id = mcp_audit::CheckpointPublicKey::from_pem(&original).unwrap().key_id().to_owned();
    let stranger = mcp_audit::CheckpointSigner::generate().unwrap();
    std::fs::write(&public, stranger.public_key().to_pem()).unwrap();
    assert!(refused_start(&dir).contains("does not match the checkpoint signing key"));
    let log = dir.join("audit");
    let out = palisade(
        &[
            "audit",
            "verify",
            "--log",
            log.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
            "--key-id",
            &expected_id,
        ],
        &[],
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("was replaced"));
    std::fs::write(&public, original).unwrap();
    let out = palisade(
        &[
            "audit",
            "verify",
            "--log",
            log.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
            "--key-id",
            &expected_id,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains(&expected_id), "verify names the key it trusted");
}
