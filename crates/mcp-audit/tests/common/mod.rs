//! Shared helpers for the audit tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::Path;

use identity_types::{PrivacyKey, TenantId};
use mcp_audit::{
    AuditEvent, AuditLog, AuditLogConfig, CheckpointSigner, Decision, FileBackend, FileBackendConfig,
    HmacKeyring,
};
use serde_json::{Map, Value};

pub const HMAC_KEY: &str = "test-hmac-key-0123456789-abcdefghij-klmnop";

pub fn keys() -> HmacKeyring {
    HmacKeyring::from_text(HMAC_KEY).unwrap()
}

/// An event with every field filled in, distinct per `n`.
pub fn event(n: u64) -> AuditEvent {
    let privacy = PrivacyKey::new(&[7; 32]).unwrap();
    let user = identity_types::ClientId::new(format!("user-{n}")).unwrap();
    let key = identity_types::IsolationKey::for_principal(Some(&TenantId::new("acme").unwrap()), &user);
    let mut metadata = Map::new();
    metadata.insert("rows".into(), Value::from(n));
    AuditEvent {
        timestamp_ms: 1_700_000_000_000 + n,
        request_id: format!("req-{n}"),
        principal: Some(privacy.pseudonymize(&key)),
        tenant: Some(TenantId::new("acme").unwrap()),
        auth_method: "jwt".into(),
        method: "tools/call".into(),
        tool: Some("orders.list_orders".into()),
        decision: if n % 3 == 2 {
            Decision::Denied { code: "missing_role".into() }
        } else {
            Decision::Allowed
        },
        outcome: if n % 3 == 2 { "missing_role".into() } else { "ok".into() },
        duration_us: 100 + n,
        arguments_sha256: Some(hex_of(n, 1)),
        arguments: None,
        result_sha256: Some(hex_of(n, 2)),
        metadata,
    }
}

fn hex_of(n: u64, salt: u8) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, &[&n.to_be_bytes()[..], &[salt]].concat());
    hex::encode(digest.as_ref())
}

pub fn config(checkpoint_every: u64) -> AuditLogConfig {
    AuditLogConfig { checkpoint_every, ..AuditLogConfig::default() }
}

/// Opens the log in `dir` with `signer`.
pub fn open(dir: &Path, signer: &CheckpointSigner, config: AuditLogConfig) -> AuditLog {
    let (backend, resume) =
        FileBackend::open(FileBackendConfig::new(dir), &signer.public_key(), &keys()).unwrap();
    let signer = CheckpointSigner::from_pem(&signer.to_pem()).unwrap();
    AuditLog::start(backend, resume, keys(), signer, config, vec![])
}

/// Writes `n` entries (sequentially) and closes the log.
pub async fn write_log(dir: &Path, signer: &CheckpointSigner, n: u64, checkpoint_every: u64) {
    let log = open(dir, signer, config(checkpoint_every));
    for i in 0..n {
        assert_eq!(log.append(&event(i)).await.unwrap(), i);
    }
    log.close().await.unwrap();
}

/// Writes `rounds` × `per_round` entries in 2,000-byte segments, reopening and closing
/// the log each round (so the log rotates and resumes).
pub async fn write_rotated(
    dir: &Path,
    signer: &CheckpointSigner,
    rounds: u64,
    per_round: u64,
    checkpoint_every: u64,
) {
    for round in 0..rounds {
        let (backend, resume) = FileBackend::open(
            FileBackendConfig { max_segment_bytes: 2_000, ..FileBackendConfig::new(dir) },
            &signer.public_key(),
            &keys(),
        )
        .unwrap();
        let signer = CheckpointSigner::from_pem(&signer.to_pem()).unwrap();
        let log = AuditLog::start(backend, resume, keys(), signer, config(checkpoint_every), vec![]);
        for i in 0..per_round {
            log.append(&event(round * per_round + i)).await.unwrap();
        }
        log.close().await.unwrap();
    }
}

pub fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join("segment-00000000000000000000.jsonl")
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
