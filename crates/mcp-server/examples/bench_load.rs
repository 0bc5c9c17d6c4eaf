//! The load generator of `cargo xtask bench server`: `concurrency` workers calling `echo`
//! for `seconds`, then one JSON line of results. In the 2025-11-25 era (the default) each
//! worker opens its own MCP session; with `ERA` = `2026-07-28` every call is a stateless
//! request carrying its protocol version and capabilities in `_meta`.
//!
//! ```text
//! bench_load URL TOKEN|- CONCURRENCY SECONDS [ERA]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use serde_json::json;

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    era: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut request = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", era)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if era >= "2026-07-28" {
        // Stateless requests name their method (and tool) in headers, for routing.
        request = request.header("mcp-method", body["method"].as_str().unwrap_or_default());
        if let Some(name) = body["params"]["name"].as_str() {
            request = request.header("mcp-name", name);
        }
    }
    request.send().await.unwrap()
}

async fn worker(url: String, token: Option<String>, era: String, until: Instant) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let token = token.as_deref();
    let stateless = era.as_str() >= "2026-07-28";
    let session = if stateless {
        None
    } else {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": era, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}});
        let response = post(&http, &url, token, None, &era, &init).await;
        assert_eq!(response.status(), 200, "initialize");
        let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = response.bytes().await;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        post(&http, &url, token, Some(&session), &era, &initialized).await;
        Some(session)
    };
    let mut call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {}}});
    if stateless {
        call["params"]["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": era,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
    }
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let response = post(&http, &url, token, session.as_deref(), &era, &call).await;
        let status = response.status();
        let body = response.bytes().await.unwrap();
        assert!(status.is_success(), "call failed: HTTP {status}");
        if let Err(problem) = check_result(&body) {
            panic!("call failed: {problem}");
        }
        latencies.push(started.elapsed());
    }
    latencies
}

/// The answer must be a tool result with `isError: false`: a refusal (rate limit,
/// guard) is a tool error inside an HTTP 200, and a load test that counted refusals as
/// calls would measure the refusal path (an earlier version of this check compared a
/// 14-byte marker against 13-byte windows and never fired). A substring test keeps the
/// client's share of the machine small; `echo` returns nothing that could contain
/// either marker.
fn check_result(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    if text.contains(r#""isError":false"#) && !text.contains(r#""isError":true"#) {
        Ok(())
    } else {
        Err(format!("not a successful tool result: {}", text.chars().take(300).collect::<String>()))
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let (url, token, concurrency, seconds) = (
        args[1].clone(),
        (args[2] != "-").then(|| args[2].clone()),
        args[3].parse::<usize>().unwrap(),
        args[4].parse::<f64>().unwrap(),
    );
    let era = args.get(5).cloned().unwrap_or_else(|| "2025-11-25".to_owned());
    // One client thread: the machine has two cores, and the server needs the other.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(worker(url.clone(), token.clone(), era.clone(), until)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    println!(
        "{}",
        json!({ "calls": latencies.len(), "seconds": elapsed, "rps": latencies.len() as f64 / elapsed, "p50_us": pct(0.50), "p99_us": pct(0.99) })
    );
}
