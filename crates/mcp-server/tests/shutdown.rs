//! Graceful shutdown: a call in progress finishes and is audited, and a client holding a
//! session's event stream open cannot keep the server from stopping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use mcp_server::{Json, Tool};
use serde_json::{Value, json};

async fn linger() -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(400)).await;
    Json(json!({ "done": true }))
}

async fn long() -> Json<Value> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Json(json!({ "done": true }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_calls_and_closes_open_streams() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let mut s = start(Options {
        shutdown: Some(stopped),
        extra_tools: vec![Tool::new("linger", linger).roles(["admin"])],
        ..Options::default()
    })
    .await;
    let admin = s.admin();
    let session = s.session(Some(&admin)).await;
    // The session's standalone event stream, held open as a client would.
    let stream = s
        .http
        .get(format!("{}/mcp", s.base))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200, "the event stream is open");

    let (reply, ()) = tokio::join!(s.call_in(Some(&admin), &session, "linger", json!({})), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
    });
    assert_eq!(
        reply.tool_outcome(),
        "ok",
        "the call in progress finished: {} {:?}",
        reply.status,
        reply.body
    );
    tokio::time::timeout(Duration::from_secs(10), &mut s.serving)
        .await
        .expect("the server stopped although a client held a stream open")
        .unwrap();
    drop(stream);
    let audited =
        s.audit.events().into_iter().find(|e| e.tool.as_deref() == Some("linger")).expect("audited");
    assert_eq!(audited.outcome, "ok");
}

/// A call still running when the grace is over is cancelled, and the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outliving_the_grace_are_cancelled() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let mut s = start(Options {
        shutdown: Some(stopped),
        shutdown_grace: Some(Duration::from_millis(200)),
        extra_tools: vec![Tool::new("long", long).timeout(Duration::from_secs(30)).roles(["admin"])],
        ..Options::default()
    })
    .await;
    let admin = s.admin();
    let session = s.session(Some(&admin)).await;
    let started = std::time::Instant::now();
    let (reply, ()) = tokio::join!(s.call_in(Some(&admin), &session, "long", json!({})), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).unwrap();
    });
    assert_ne!(reply.tool_outcome(), "ok");
    tokio::time::timeout(Duration::from_secs(10), &mut s.serving).await.expect("the server stopped").unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}
