//! The server on the tamper-evident log: every decision lands as a verifiable entry,
//! pseudonymous; a failing log refuses calls (fail closed) unless told to fail open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Options, start};
use mcp_audit::{
    AuditLog, AuditLogConfig, Backend, BackendError, BoxFuture, Checkpoint, CheckpointSigner, FileBackend,
    FileBackendConfig, HmacKeyring, record::EncodedRecord, verify_dir,
};
use mcp_server::{AuditFailureMode, DurableAudit};
use serde_json::{Value, json};

const HMAC: &str = "server-test-hmac-key-0123456789abcdefghijkl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_a_verifiable_pseudonymous_entry() {
    let dir = tempfile::tempdir().unwrap();
    let signer = CheckpointSigner::generate().unwrap();
    let public = signer.public_key();
    let keys = HmacKeyring::from_text(HMAC).unwrap();
    let (backend, resume) = FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys).unwrap();
    let config = AuditLogConfig { checkpoint_every: 1_000_000, ..AuditLogConfig::default() };
    let log = AuditLog::start(backend, resume, keys.clone(), signer, config, vec![]);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let s = start(Options {
        audit: Some(Arc::new(DurableAudit::new(log.clone()))),
        shutdown: Some(stopped),
        ..Options::default()
    })
    .await;

    let support = s.support();
    assert_eq!(
        s.call(Some(&support), "customers.get_customer", json!({"customer_id": "c-1"})).await.tool_outcome(),
        "ok"
    );
    assert_eq!(
        s.call(Some(&support), "customers.delete_customer", json!({"customer_id": "c-1"}))
            .await
            .tool_outcome(),
        "missing_role"
    );
    assert_eq!(
        s.call(Some(&support), "no_such_tool", json!({})).await.tool_outcome(),
        "jsonrpc-error -32602"
    );
    assert_eq!(s.post(Some("not-a-token"), None, json!({})).await.status, 401);

    // A graceful shutdown flushes: a signed checkpoint covers every entry.
    stop.send(()).unwrap();
    s.serving.await.unwrap();
    let report = verify_dir(dir.path(), &public, Some(&keys)).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.unanchored, 0, "the shutdown checkpoint covers everything");

    let contents = mcp_audit::read_dir(dir.path()).unwrap();
    let entries: Vec<Value> =
        contents.lines.iter().map(|l| serde_json::from_slice::<Value>(l).unwrap()["entry"].clone()).collect();
    let find = |outcome: &str| {
        entries.iter().find(|e| e["outcome"] == outcome).unwrap_or_else(|| panic!("{outcome}: {entries:#?}"))
    };
    let ok = find("ok");
    assert_eq!(
        (ok["decision"].as_str(), ok["tool"].as_str()),
        (Some("allowed"), Some("customers.get_customer"))
    );
    assert!(ok["principal"].as_str().unwrap().starts_with("pid_"));
    assert_eq!(ok["tenant"], "acme");
    assert_eq!(ok["arguments_sha256"].as_str().unwrap().len(), 64);
    let denied = find("missing_role");
    assert_eq!(
        (denied["decision"].as_str(), denied["code"].as_str()),
        (Some("denied"), Some("missing_role"))
    );
    assert_eq!(find("unknown_tool")["decision"], "denied");
    let refused = entries.iter().find(|e| e["method"] == "http").expect("the refused authentication");
    assert_eq!(refused["principal"], Value::Null);

    // No raw identity or secret anywhere in the files.
    for (_, path) in mcp_audit::file::segments(dir.path()).unwrap() {
        let text = std::fs::read_to_string(path).unwrap();
        for secret in ["\"sam\"", support.as_str(), "not-a-token", "c-1\""] {
            assert!(!text.contains(secret), "{secret} leaked into the audit log");
        }
    }
}

/// A backend whose disk is gone.
struct Broken;

impl Backend for Broken {
    fn append(&mut self, _records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async { Err(BackendError("No space left on device".into())) })
    }
    fn append_checkpoint<'a>(
        &'a mut self,
        _checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async { Err(BackendError("No space left on device".into())) })
    }
}

fn broken_log() -> AuditLog {
    let keys = HmacKeyring::from_text(HMAC).unwrap();
    AuditLog::start(
        Broken,
        Default::default(),
        keys,
        CheckpointSigner::generate().unwrap(),
        AuditLogConfig::default(),
        vec![],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_log_refuses_calls_by_default() {
    let s =
        start(Options { audit: Some(Arc::new(DurableAudit::new(broken_log()))), ..Options::default() }).await;
    let support = s.support();
    for attempt in 0..2 {
        let reply = s.call(Some(&support), "customers.get_customer", json!({"customer_id": "c-1"})).await;
        assert_eq!(reply.tool_outcome(), "audit_unavailable", "attempt {attempt}: {:?}", reply.body);
        assert!(!reply.body.to_string().contains("Ada Acme"), "no result leaves without its audit entry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_is_a_choice_and_counts_what_it_loses() {
    let audit = Arc::new(DurableAudit::new(broken_log()).failure_mode(AuditFailureMode::FailOpen));
    let s = start(Options { audit: Some(audit.clone()), ..Options::default() }).await;
    let support = s.support();
    for _ in 0..2 {
        assert_eq!(
            s.call(Some(&support), "customers.get_customer", json!({"customer_id": "c-1"}))
                .await
                .tool_outcome(),
            "ok"
        );
    }
    assert_eq!(audit.lost(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_at_the_door_is_audited_with_its_code() {
    let s = start(Options::default()).await;
    let support = s.support();
    let url = format!("{}/mcp", s.base);
    let post = |extra: &[(&str, &str)], body: String| {
        let mut request = s
            .http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        request
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    .to_string();
    let bearer = format!("Bearer {support}");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "origin_not_allowed",
            post(&[("origin", "https://evil.example"), ("authorization", &bearer)], init.clone()),
            403,
        ),
        ("token_in_query", s.http.post(format!("{url}?access_token=abc")).body(init.clone()), 400),
        ("missing_credentials", post(&[], init.clone()), 401),
        (
            "session_not_found",
            post(&[("authorization", &bearer), ("mcp-session-id", "no-such-session")], init.clone()),
            404,
        ),
        (
            "body_too_large",
            post(&[("authorization", &bearer)], format!("{{\"x\":\"{}\"}}", "a".repeat(2 << 20))),
            413,
        ),
    ];
    for (code, request, status) in cases {
        let before = s.audit.events().len();
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let request_id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        let events = s.audit.events();
        let event = events[before..]
            .iter()
            .find(|e| e.method == "http")
            .unwrap_or_else(|| panic!("{code} not audited"));
        assert_eq!(event.outcome, code);
        assert_eq!(event.request_id, request_id, "the entry carries the request id the caller saw");
        if code == "session_not_found" || code == "body_too_large" {
            assert!(
                event.principal.is_some() && event.tenant.is_some(),
                "{code}: who was refused is recorded"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_copies_are_off_by_default_and_redacted_when_on() {
    let arguments = json!({"customer_id": "c-1", "password": "hunter2", "note": "n".repeat(300)});
    let plain = start(Options::default()).await;
    let support = plain.support();
    assert_eq!(
        plain.call(Some(&support), "customers.get_customer", arguments.clone()).await.tool_outcome(),
        "ok"
    );
    let event = plain
        .audit
        .events()
        .into_iter()
        .find(|e| e.tool.as_deref() == Some("customers.get_customer"))
        .unwrap();
    assert_eq!(event.arguments, None, "only the digest by default");
    assert!(event.arguments_sha256.is_some());
    assert!(!event.canonical().contains("\"arguments\""), "the field is absent, not null");

    let redacting = start(Options {
        audit_arguments: Some(Arc::new(mcp_server::RedactFields::sensitive().max_string_chars(8))),
        ..Options::default()
    })
    .await;
    let support = redacting.support();
    assert_eq!(
        redacting.call(Some(&support), "customers.get_customer", arguments).await.tool_outcome(),
        "ok"
    );
    let event = redacting
        .audit
        .events()
        .into_iter()
        .find(|e| e.tool.as_deref() == Some("customers.get_customer"))
        .unwrap();
    assert_eq!(
        event.arguments,
        Some(json!({"customer_id": "c-1", "password": "[REDACTED]", "note": "nnnnnnnn…"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_refusals_is_counted_not_written_one_by_one() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let s = start(Options { shutdown: Some(stopped), ..Options::default() }).await;
    const FLOOD: u64 = 400;
    for _ in 0..FLOOD {
        assert_eq!(s.post(None, None, json!({})).await.status, 401);
    }
    // An authenticated caller's refusals are never budgeted.
    assert_eq!(s.post(Some(&s.support()), Some("no-such-session"), json!({})).await.status, 404);
    stop.send(()).unwrap();
    s.serving.await.unwrap();

    let events: Vec<_> = s.audit.events().into_iter().filter(|e| e.method == "http").collect();
    let individual: Vec<_> = events.iter().filter(|e| e.outcome == "missing_credentials").collect();
    assert!(individual.len() < 200, "the flood was budgeted: {} entries", individual.len());
    let carried: u64 = individual
        .iter()
        .filter_map(|e| e.metadata.get("unrecorded_refusals_before").and_then(Value::as_u64))
        .sum();
    let summarized: u64 = events
        .iter()
        .filter(|e| e.outcome == "refusals_counted")
        .map(|e| e.metadata["count"].as_u64().unwrap())
        .sum();
    assert_eq!(individual.len() as u64 + carried + summarized, FLOOD, "every refusal is accounted for");
    let source = individual[0].metadata["source"].as_str().unwrap();
    assert!(source.starts_with("pid_"), "the address appears only as a pseudonym");
    assert!(events.iter().any(|e| e.outcome == "session_not_found" && e.principal.is_some()));
}
