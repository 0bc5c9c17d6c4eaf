//! Whether a trace is exported is Palisade's decision alone: a caller's sampled flag
//! cannot switch export on (here, at ratio 0) nor off (`otlp.rs`, at ratio 1, sends
//! `-00`), and a dropped trace still ties the log lines to the caller's trace id.
//!
//! One test per binary: it installs the process-wide subscriber.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::telemetry::{Lines, Receiver, install_sampling};
use serde_json::json;

const TRACE: &str = "4bf92f3577b34da60000000000000001";
const SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cannot_switch_export_on() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let lines = Lines::default();
    let guard = install_sampling(&endpoint, &lines, 0.0);
    let server = common::start(common::Options::default()).await;
    let token = server.support();
    let session = server.session(Some(&token)).await;
    let traceparent = format!("00-{TRACE}-{SPAN}-01");
    for (request_id, headers_parent, meta_parent) in
        [("req-header", true, false), ("req-meta", false, true), ("req-both", true, true)]
    {
        let mut params = json!({"name": "server_time", "arguments": {}});
        if meta_parent {
            params["_meta"] = json!({"traceparent": traceparent});
        }
        let mut headers = vec![("x-request-id", request_id)];
        if headers_parent {
            headers.push(("traceparent", traceparent.as_str()));
        }
        let reply = server
            .post_with(
                Some(&token),
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}),
                &headers,
            )
            .await;
        assert_eq!(reply.tool_outcome(), "ok");
    }
    guard.flush();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    guard.flush();
    assert!(receiver.all().is_empty(), "spans were exported at ratio 0: {:?}", receiver.all());
    assert_eq!(*receiver.requests.lock().unwrap(), 0);

    // The calls are in the logs, with the caller's trace id, though nothing was exported.
    let logs = lines.json();
    for request_id in ["req-header", "req-meta", "req-both"] {
        let line = logs
            .iter()
            .find(|l| l["message"] == "tool call finished" && l["span"]["request_id"] == request_id)
            .unwrap_or_else(|| panic!("no line for {request_id}: {logs:#?}"));
        assert_eq!(line["span"]["trace_id"], TRACE, "{line}");
    }
}
