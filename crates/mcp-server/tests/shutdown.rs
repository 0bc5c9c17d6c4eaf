//! Graceful shutdown: a call in progress finishes and is audited, a client holding a
//! session's event stream open cannot keep the server from stopping, and a call that
//! outlives the grace is cancelled and audited as such before the final flush.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mcp_server::{Json, Tool};
use serde_json::{Value, json};

static LINGER_STARTED: AtomicBool = AtomicBool::new(false);
static LONG_STARTED: AtomicBool = AtomicBool::new(false);
static LONG_DROPPED: AtomicBool = AtomicBool::new(false);

async fn linger() -> Json<Value> {
    LINGER_STARTED.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    Json(json!({ "done": true }))
}

/// Sets `LONG_DROPPED` when the handler's future is dropped unfinished.
struct OnDrop;

impl Drop for OnDrop {
    fn drop(&mut self) {
        LONG_DROPPED.store(true, Ordering::SeqCst);
    }
}

async fn long() -> Json<Value> {
    let guard = OnDrop;
    LONG_STARTED.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    std::mem::forget(guard);
    Json(json!({ "done": true }))
}

/// Waits until `flag` is set (the handler is running), at most 10 s.
async fn started(flag: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the handler never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
        started(&LINGER_STARTED).await;
        stop.send(()).unwrap();
    });
    assert_eq!(reply.tool_outcome(), "ok", "the call in progress finished: {:?}", reply.body);
    tokio::time::timeout(Duration::from_secs(10), &mut s.serving)
        .await
        .expect("the server stopped although a client held a stream open")
        .unwrap();
    drop(stream);
    let audited =
        s.audit.events().into_iter().find(|e| e.tool.as_deref() == Some("linger")).expect("audited");
    assert_eq!(audited.outcome, "ok");
}

/// A call still running when the grace is over is cancelled (its future dropped), is
/// audited as `cancelled` before the server returns, and the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outliving_the_grace_are_cancelled_and_audited() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let grace = Duration::from_millis(300);
    let mut s = start(Options {
        shutdown: Some(stopped),
        shutdown_grace: Some(grace),
        extra_tools: vec![Tool::new("long", long).timeout(Duration::from_secs(60)).roles(["admin"])],
        ..Options::default()
    })
    .await;
    let admin = s.admin();
    let session = s.session(Some(&admin)).await;
    let (reply, stopped_at) = tokio::join!(s.call_in(Some(&admin), &session, "long", json!({})), async {
        started(&LONG_STARTED).await;
        stop.send(()).unwrap();
        Instant::now()
    });
    assert_ne!(reply.tool_outcome(), "ok");
    tokio::time::timeout(Duration::from_secs(10), &mut s.serving).await.expect("the server stopped").unwrap();
    assert!(stopped_at.elapsed() >= grace, "the grace was given: {:?}", stopped_at.elapsed());
    assert!(LONG_DROPPED.load(Ordering::SeqCst), "the handler was stopped, not left running");
    let audited = s
        .audit
        .events()
        .into_iter()
        .find(|e| e.tool.as_deref() == Some("long"))
        .expect("audited before the server returned");
    assert_eq!(audited.outcome, "cancelled");
}
