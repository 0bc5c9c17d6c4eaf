//! Which traces are exported is decided by trace id, never by the caller's sampled flag
//! (it arrives before authentication); dropped traces still tie log lines to the
//! caller's trace id.
//!
//! One test per binary: it installs the process-wide subscriber.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::telemetry::{Lines, Receiver, install_sampling};
use serde_json::json;

/// At 0.5, a trace id whose low 64 bits are small is kept, one whose are large dropped.
const KEPT: &str = "4bf92f3577b34da60000000000000001";
const DROPPED: &str = "4bf92f3577b34da6ffffffffffffffff";
const SPAN: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_decides_not_the_callers_flag() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let lines = Lines::default();
    let guard = install_sampling(&endpoint, &lines, 0.5);
    let server = common::start(common::Options::default()).await;
    let token = server.support();
    let session = server.session(Some(&token)).await;

    // (trace id, caller's flags, request id): the flags try to force the opposite.
    for (trace, flags, request_id) in [(KEPT, "00", "req-kept"), (DROPPED, "01", "req-dropped")] {
        let traceparent = format!("00-{trace}-{SPAN}-{flags}");
        let reply = server
            .post_with(
                Some(&token),
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                       "params": {"name": "server_time", "arguments": {}}}),
                &[("traceparent", &traceparent), ("x-request-id", request_id)],
            )
            .await;
        assert_eq!(reply.tool_outcome(), "ok");
    }
    guard.flush();
    let exported = receiver.wait_for("tools/call server_time", 1).await;
    // Give a wrongly exported span time to arrive before concluding it did not.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    guard.flush();
    let traces: Vec<String> = receiver.all().iter().map(|s| hex(&s.trace_id)).collect();
    assert!(traces.iter().all(|t| t != DROPPED), "a dropped trace was exported: {traces:?}");
    assert_eq!(hex(&exported[0].trace_id), KEPT, "the caller's 00 flag did not stop a kept trace");

    // Both calls are in the logs with the caller's trace id, exported or not.
    let logs = lines.json();
    for (trace, request_id) in [(KEPT, "req-kept"), (DROPPED, "req-dropped")] {
        let line = logs
            .iter()
            .find(|l| l["message"] == "tool call finished" && l["span"]["request_id"] == request_id)
            .unwrap_or_else(|| panic!("no line for {request_id}: {logs:#?}"));
        assert_eq!(line["span"]["trace_id"], trace, "{line}");
    }
}
