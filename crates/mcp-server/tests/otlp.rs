//! Spans reach a real OTLP/HTTP receiver with the expected names, parent/child structure
//! and attributes, and a caller's `traceparent` (header or MCP `_meta`) keeps its trace.
//!
//! One test per binary: it installs the process-wide subscriber.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::telemetry::{Lines, Receiver, attr, install};
use serde_json::json;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const META_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const META_SPAN: &str = "b7ad6b7169203331";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_in_the_callers_trace() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let lines = Lines::default();
    let guard = install(&endpoint, &lines);
    let server = common::start(common::Options::default()).await;
    let token = server.support();

    // 1. The caller's trace arrives as an HTTP header. Its flags say "not sampled": the
    // caller cannot switch export off (at ratio 1, everything is exported).
    let session = server.session(Some(&token)).await;
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let reply = server
        .post_with(
            Some(&token),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                   "params": {"name": "customers.get_customer", "arguments": {"customer_id": "c-1"}}}),
            &[("traceparent", &traceparent), ("x-request-id", "req-otlp-1")],
        )
        .await;
    assert_eq!(reply.tool_outcome(), "ok");

    // 2. The caller's trace arrives in `_meta` (SEP-414) and outranks the header.
    let reply = server
        .post_with(
            Some(&token),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": "call-42", "method": "tools/call",
                   "params": {"name": "customers.delete_customer", "arguments": {"customer_id": "c-1"},
                              "_meta": {"traceparent": format!("00-{META_TRACE}-{META_SPAN}-01")}}}),
            &[("traceparent", &traceparent), ("x-request-id", "req-otlp-2")],
        )
        .await;
    assert_eq!(reply.tool_outcome(), "missing_role");

    // 3. A malformed traceparent starts a new trace instead of failing the request.
    let reply = server
        .post_with(
            Some(&token),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 43, "method": "tools/call",
                   "params": {"name": "server_time", "arguments": {}}}),
            &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01")],
        )
        .await;
    assert_eq!(reply.tool_outcome(), "ok");

    guard.flush();
    let calls = receiver.wait_for("tools/call customers.get_customer", 1).await;
    let call = &calls[0];
    let http_spans = receiver.wait_for("POST", 4).await;

    // Header case: HTTP span is the child of the caller's span, the tool span the child
    // of the HTTP span, all in the caller's trace.
    assert_eq!(hex(&call.trace_id), CALLER_TRACE);
    let parent =
        http_spans.iter().find(|s| s.span_id == call.parent_span_id).expect("the HTTP span is the parent");
    assert_eq!(hex(&parent.trace_id), CALLER_TRACE);
    assert_eq!(hex(&parent.parent_span_id), CALLER_SPAN);
    assert_eq!(attr(&parent.attributes, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(&parent.attributes, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attr(&parent.attributes, "request_id").as_deref(), Some("req-otlp-1"));
    // SpanKind::Server is 2 in OTLP.
    assert_eq!(call.kind, 2);
    assert_eq!(parent.kind, 2);
    for (key, value) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "customers.get_customer"),
        ("jsonrpc.request.id", "41"),
        ("request_id", "req-otlp-1"),
        ("palisade.outcome", "ok"),
        ("trace_id", CALLER_TRACE),
    ] {
        assert_eq!(attr(&call.attributes, key).as_deref(), Some(value), "{key}");
    }
    let principal = attr(&call.attributes, "enduser.pseudo.id").unwrap();
    assert!(principal.starts_with("pid_"), "{principal}");
    assert!(attr(&call.attributes, "palisade.tenant").unwrap().starts_with("tid_"));
    // The audit entry's sequence number ties the span to the audit log.
    let seq: usize = attr(&call.attributes, "palisade.audit.seq").unwrap().parse().unwrap();
    let entry = &server.audit.events()[seq];
    assert_eq!(entry.request_id, "req-otlp-1");
    assert_eq!(entry.tool.as_deref(), Some("customers.get_customer"));
    // Routine events stay in the logs; spans carry only warnings and errors as events.
    assert!(call.events.is_empty(), "{:?}", call.events);

    // `_meta` case: the tool span hangs under the span named in `_meta`.
    let denied = &receiver.wait_for("tools/call customers.delete_customer", 1).await[0];
    assert_eq!(hex(&denied.trace_id), META_TRACE);
    assert_eq!(hex(&denied.parent_span_id), META_SPAN);
    assert_eq!(attr(&denied.attributes, "palisade.outcome").as_deref(), Some("denied"));
    assert_eq!(attr(&denied.attributes, "error.type").as_deref(), Some("missing_role"));
    assert_eq!(attr(&denied.attributes, "jsonrpc.request.id").as_deref(), Some("call-42"));

    // Malformed case: a fresh trace, not the caller's garbage.
    let fresh = &receiver.wait_for("tools/call server_time", 1).await[0];
    assert_ne!(hex(&fresh.trace_id), CALLER_TRACE);
    assert!(!hex(&fresh.trace_id).starts_with("4bf92f3577b34da6a3ce929d0e0e47"));
    assert_eq!(fresh.trace_id.len(), 16);

    // Log lines: JSON, and the call's line names request, trace, outcome and audit seq.
    let logs = lines.json();
    let finished: Vec<_> = logs.iter().filter(|l| l["message"] == "tool call finished").collect();
    assert_eq!(finished.len(), 3, "{logs:#?}");
    let first =
        finished.iter().find(|l| l["span"]["request_id"] == "req-otlp-1").expect("the first call's line");
    assert_eq!(first["span"]["trace_id"], CALLER_TRACE);
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["audit_seq"], json!(seq));
}
