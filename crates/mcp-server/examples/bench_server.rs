//! The server side of `cargo xtask bench server`: one tool (`echo`) behind one of three
//! configurations, so the load generator can compare what each layer costs.
//!
//! ```text
//! bench_server bare   # anonymous callers, a public tool: rmcp + our dispatch only
//! bench_server auth   # JWT authentication + a role and a scope guard
//! bench_server full   # auth + guards + per-principal rate limit + concurrency limits + audit hook
//! ```
//!
//! Prints `LISTEN <addr>` once serving. The HS256 secret comes from `BENCH_JWT_SECRET`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_auth::{Algorithm, JwtAuth, JwtOptions, ProtectedResourceMetadata};
use mcp_server::{AuditError, AuditEvent, AuditSink, BoxFuture, Json, McpServer, Quota, Tool};
use serde_json::{Value, json};

async fn echo() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// Counts events: the audit hook's cost without a log behind it.
#[derive(Default)]
struct CountingSink(AtomicU64);

impl AuditSink for CountingSink {
    fn record(&self, _event: AuditEvent) -> BoxFuture<Result<(), AuditError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
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
    let server = match mode.as_str() {
        "bare" => builder.allow_anonymous().tool(Tool::new("echo", echo).read_only().public()),
        "auth" => builder
            .auth(auth())
            .resource(ProtectedResourceMetadata::new(&resource))
            .tool(Tool::new("echo", echo).read_only().roles(["bench"]).scopes(["read"])),
        _ => builder
            .auth(auth())
            .resource(ProtectedResourceMetadata::new(&resource))
            .rate_limit(Quota::per_second(std::num::NonZeroU32::new(1_000_000).unwrap()))
            .max_concurrency(1024, 256)
            .audit(Arc::new(CountingSink::default()))
            .tool(Tool::new("echo", echo).read_only().roles(["bench"]).scopes(["read"])),
    }
    .build()
    .unwrap();
    println!("LISTEN {addr}");
    std::io::stdout().flush().unwrap();
    server.serve(listener, std::future::pending()).await.unwrap();
}
