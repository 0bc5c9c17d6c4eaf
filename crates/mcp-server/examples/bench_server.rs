//! The server side of `cargo xtask bench server`: one tool (`echo`) behind one of three
//! configurations, so the load generator can compare what each layer costs.
//!
//! ```text
//! bench_server bare   # anonymous callers, a public tool: rmcp + our dispatch only (with a
//!                     # per-address limit it never reaches)
//! bench_server auth   # JWT authentication + a role and a scope guard
//! bench_server full   # auth + guards + per-principal rate limit + concurrency limits
//!                     # + the durable audit log (file, group commit, HMAC chain, Merkle checkpoints)
//! ```
//!
//! Prints `LISTEN <addr>` once serving. The HS256 secret comes from `BENCH_JWT_SECRET`.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// The palisade binary's allocator, so the bench measures the server as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::sync::Arc;

use mcp_audit::{AuditLog, AuditLogConfig, CheckpointSigner, FileBackend, FileBackendConfig, HmacKeyring};
use mcp_auth::{Algorithm, JwtAuth, JwtOptions, ProtectedResourceMetadata};
use mcp_server::{DurableAudit, Json, McpServer, Quota, Tool};
use serde_json::{Value, json};

async fn echo() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// The real audit log, in a temporary directory (`BENCH_AUDIT_DIR` to keep it).
fn durable_audit(dir: &std::path::Path) -> Arc<DurableAudit> {
    let signer = CheckpointSigner::generate().unwrap();
    let keys = HmacKeyring::from_text("bench-audit-hmac-key-0123456789abcdefghij").unwrap();
    let (backend, resume) =
        FileBackend::open(FileBackendConfig::new(dir), &signer.public_key(), &keys).unwrap();
    // `BENCH_AUDIT_NICE` overrides the writer thread's niceness, for A/B runs.
    let mut config = AuditLogConfig::default();
    if let Ok(nice) = std::env::var("BENCH_AUDIT_NICE") {
        config.writer_nice = nice.parse().expect("BENCH_AUDIT_NICE: a niceness, 0 to 19");
    }
    let log = AuditLog::start(backend, resume, keys, signer, config, vec![]);
    if std::env::var_os("BENCH_AUDIT_STATS").is_some() {
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                eprintln!("audit: {} entries in {} batches", log.size(), log.batches());
            }
        });
    }
    Arc::new(DurableAudit::new(log))
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "full".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let secret = std::env::var("BENCH_JWT_SECRET")
        .unwrap_or_else(|_| "bench-secret-0123456789abcdef0123456789".into());
    let auth = || {
        Arc::new(
            JwtAuth::new(secret.as_bytes(), Algorithm::HS256, JwtOptions::for_audience(&resource)).unwrap(),
        )
    };
    let builder = McpServer::builder("bench", "0");
    let scratch = tempfile::tempdir().unwrap();
    let audit_dir = std::env::var_os("BENCH_AUDIT_DIR").map_or_else(|| scratch.path().to_owned(), Into::into);
    // "observed": "full" plus what observe adds in a deployment: JSON log lines (to a
    // file, each call's line written), spans, and the server's metrics.
    let _telemetry = (mode == "observed").then(|| {
        let config = observe::ObserveConfig {
            log: observe::LogConfig {
                file: Some(observe::LogFile {
                    directory: scratch.path().join("logs"),
                    prefix: "bench".into(),
                    rotation: observe::Rotation::Never,
                    keep: None,
                }),
                ..observe::LogConfig::default()
            },
            ..observe::ObserveConfig::default()
        };
        let (dispatch, guard) =
            observe::build(&config, Arc::new(observe::BuiltinScrubber::new()), None).unwrap();
        tracing::dispatcher::set_global_default(dispatch).unwrap();
        guard
    });
    let builder = if mode == "observed" {
        let metrics = observe::Metrics::new();
        builder.metrics(observe::ServerMetrics::register(&metrics, observe::TenantLabels::Off).unwrap())
    } else {
        builder
    };
    let server = match mode.as_str() {
        // Anonymous servers get a default limit of 20 calls per second per address; the
        // load comes from one address, so bare mode sets a limit it never reaches (as full
        // mode does for principals) and measures served calls, not refusals.
        "bare" => builder
            .allow_anonymous()
            .rate_limit(Quota::per_second(std::num::NonZeroU32::new(1_000_000).unwrap()))
            .tool(Tool::new("echo", echo).read_only().public()),
        "auth" => builder
            .auth(auth())
            .resource(ProtectedResourceMetadata::new(&resource))
            .tool(Tool::new("echo", echo).read_only().roles(["bench"]).scopes(["read"])),
        _ => builder
            .auth(auth())
            .resource(ProtectedResourceMetadata::new(&resource))
            .rate_limit(Quota::per_second(std::num::NonZeroU32::new(1_000_000).unwrap()))
            .max_concurrency(1024, 256)
            .audit(durable_audit(&audit_dir))
            .tool(Tool::new("echo", echo).read_only().roles(["bench"]).scopes(["read"])),
    }
    .build()
    .unwrap();
    println!("LISTEN {addr}");
    std::io::stdout().flush().unwrap();
    server.serve(listener, std::future::pending()).await.unwrap();
}
