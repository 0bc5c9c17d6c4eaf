//! `cargo xtask bench audit`: durable append throughput (file with group commit, and
//! Postgres when reachable), verification speed, and proofs over 10 million entries.
//!
//! Targets on the 2-core reference machine: ≥ 100,000 entries/s durable to file
//! (≤ 10 µs per entry here), verification ≥ 500,000 entries/s (≤ 2 µs per entry), an
//! inclusion proof in ≤ 50 µs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use identity_types::{ClientId, IsolationKey, PrivacyKey, TenantId};
use mcp_audit::merkle::{MerkleTree, leaf_hash, verify_inclusion};
use mcp_audit::{
    AuditEvent, AuditLog, AuditLogConfig, Backend, CheckpointSigner, Decision, FileBackend,
    FileBackendConfig, HmacKeyring, ResumeState,
};

const HMAC: &str = "bench-hmac-key-0123456789abcdefghijklmnop";
/// Appends in flight at once: a busy server has many calls waiting on the log.
const IN_FLIGHT: usize = 2_048;

fn event(n: u64) -> AuditEvent {
    let privacy = PrivacyKey::new(&[7; 32]).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let user = ClientId::new(format!("user-{}", n % 1000)).unwrap();
    AuditEvent {
        timestamp_ms: 1_700_000_000_000 + n,
        request_id: format!("req-{n:016x}"),
        principal: Some(privacy.pseudonymize(&IsolationKey::for_principal(Some(&tenant), &user))),
        tenant: Some(tenant),
        auth_method: "jwt".into(),
        method: "tools/call".into(),
        tool: Some("orders.list_orders".into()),
        decision: Decision::Allowed,
        outcome: "ok".into(),
        duration_us: 180,
        arguments_sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
        arguments: None,
        result_sha256: Some("60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into()),
        metadata: serde_json::Map::new(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Appends `count` entries with up to IN_FLIGHT waiting at once; returns the time taken.
async fn append_many(log: &AuditLog, count: u64) -> Duration {
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..count {
        let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
        let log = log.clone();
        tasks.spawn(async move {
            log.append(&event(n)).await.unwrap();
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    started.elapsed()
}

fn keys() -> HmacKeyring {
    HmacKeyring::from_text(HMAC).unwrap()
}

fn start<B: Backend>(backend: B, resume: ResumeState, signer: CheckpointSigner) -> AuditLog {
    AuditLog::start(backend, resume, keys(), signer, AuditLogConfig::default(), vec![])
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("audit_append");
    group.sample_size(10).measurement_time(Duration::from_secs(8)).throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let signer = CheckpointSigner::generate().unwrap();
    let public = signer.public_key();
    let log = rt.block_on(async {
        let (backend, resume) =
            FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()).unwrap();
        start(backend, resume, signer)
    });
    group.bench_function("file_durable_per_entry", |b| {
        b.iter_custom(|iters| rt.block_on(append_many(&log, iters)))
    });
    rt.block_on(log.close()).unwrap();

    let url = std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match rt.block_on(sqlx::PgPool::connect(&url)) {
        Ok(pool) => {
            let schema = format!("audit_bench_{}", std::process::id());
            let signer = CheckpointSigner::generate().unwrap();
            let public = signer.public_key();
            let log = rt.block_on(async {
                mcp_audit::postgres::migrate(&pool, &schema, "palisade_audit_bench_writer").await.unwrap();
                let (backend, resume) =
                    mcp_audit::postgres::PostgresBackend::open(pool.clone(), &schema, &public, &keys())
                        .await
                        .unwrap();
                start(backend, resume, signer)
            });
            group.bench_function("postgres_durable_per_entry", |b| {
                b.iter_custom(|iters| rt.block_on(append_many(&log, iters)));
            });
            rt.block_on(async {
                log.close().await.unwrap();
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&pool).await.unwrap();
            });
        }
        Err(error) => eprintln!("*** skipping the Postgres append benchmark: {url}: {error}"),
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    const ENTRIES: u64 = 100_000;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let signer = CheckpointSigner::generate().unwrap();
    let public = signer.public_key();
    rt.block_on(async {
        let (backend, resume) =
            FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys()).unwrap();
        let log = start(backend, resume, signer);
        append_many(&log, ENTRIES).await;
        log.close().await.unwrap();
    });
    let keys = keys();
    let mut group = c.benchmark_group("audit_verify");
    group.sample_size(10).throughput(Throughput::Elements(ENTRIES));
    group.bench_function("100k_entries_chain_and_tree", |b| {
        b.iter(|| {
            let report = mcp_audit::verify_dir(dir.path(), &public, Some(&keys)).unwrap();
            assert!(report.is_ok() && report.entries == ENTRIES);
        });
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    const SIZE: u64 = 10_000_000;
    let tree = MerkleTree::from_leaves((0..SIZE).map(|i| leaf_hash(&i.to_le_bytes())).collect());
    let root = tree.root(SIZE).unwrap();
    let mut group = c.benchmark_group("merkle_10m");
    let mut next = 0x9e37_79b9_7f4a_7c15_u64;
    let mut index = move || {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (next >> 11) % SIZE
    };
    group.bench_function("inclusion_proof", |b| {
        b.iter_batched(&mut index, |i| tree.inclusion_proof(i, SIZE).unwrap(), BatchSize::SmallInput);
    });
    group.bench_function("verify_inclusion", |b| {
        b.iter_batched(
            || {
                let i = index();
                (i, tree.leaf(i).unwrap(), tree.inclusion_proof(i, SIZE).unwrap())
            },
            |(i, leaf, proof)| verify_inclusion(&leaf, i, SIZE, &proof, &root).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("consistency_proof", |b| {
        b.iter_batched(
            || index().max(1),
            |m| tree.consistency_proof(m, SIZE).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, append, verify, proofs);
criterion_main!(benches);
