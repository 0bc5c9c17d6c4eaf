//! Background tasks run after the response and are awaited by graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use mcp_server::{BackgroundTasks, Json, McpServer, Tool};
use serde_json::{Value, json};

/// Queues 300 ms of work and answers at once.
async fn notify(tasks: BackgroundTasks) -> Json<Value> {
    tasks.spawn(tokio::time::sleep(Duration::from_millis(300)));
    Json(json!({ "queued": true }))
}

/// Queues work that never ends.
async fn hang(tasks: BackgroundTasks) -> Json<Value> {
    tasks.spawn(std::future::pending());
    Json(json!({ "queued": true }))
}

#[tokio::test]
async fn background_work_runs_after_the_response_and_shutdown_waits_for_it() {
    let (elapsed, _) = call_then_stop("notify", Duration::from_secs(30)).await;
    assert!(elapsed >= Duration::from_millis(300), "shutdown waited for the background task: {elapsed:?}");
}

/// Work that never finishes holds shutdown for the grace, not for ever.
#[tokio::test]
async fn shutdown_waits_for_background_work_at_most_the_grace() {
    let (elapsed, response_time) = call_then_stop("hang", Duration::from_millis(400)).await;
    assert!(response_time < Duration::from_millis(300), "the response did not wait");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
        "shutdown gave up on the task after the grace: {elapsed:?}"
    );
}

/// Calls `tool` on a server with `grace`, stops the server at once, and returns how long
/// from the call until `serve` returned, and how long the call's response took.
async fn call_then_stop(tool: &str, grace: Duration) -> (Duration, Duration) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = McpServer::builder("bg", "0")
        .allow_anonymous()
        .shutdown_grace(grace)
        .tool(Tool::new("notify", notify).public())
        .tool(Tool::new("hang", hang).public())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Arc::new(server);
    let serving = {
        let server = Arc::clone(&server);
        tokio::spawn(async move { server.serve(listener, async { stopped.await.unwrap_or(()) }).await })
    };
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<String>| {
        let mut request = http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), Some(session.clone()))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let reply = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}),
        Some(session),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(reply.contains("queued"), "{reply}");
    let response_time = started.elapsed();
    assert!(response_time < Duration::from_millis(300), "the response does not wait for background work");
    // Ask the server to stop at once.
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    (started.elapsed(), response_time)
}
