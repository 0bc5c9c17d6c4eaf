//! A running example deployment: the real `palisade` binary on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const SECRET: &str = "customer-ops-test-secret-0123456789abcdef";

pub struct Deployment {
    pub child: Child,
    pub endpoint: String,
    /// The `/metrics` URL from the banner.
    pub metrics: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start() -> Deployment {
    start_in(tempfile::tempdir().unwrap())
}

/// `palisade serve --example customer-ops` on ephemeral ports, with its data in `dir`
/// and the shared test secret.
pub fn serve_command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command
        .args([
            "serve",
            "--example",
            "customer-ops",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("PALISADE_JWT_SECRET", SECRET);
    command
}

/// Starts the example on `dir` (which may hold an earlier run's data).
pub fn start_in(dir: tempfile::TempDir) -> Deployment {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut child = serve_command(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut endpoint, mut metrics) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("MCP endpoint: ") {
            endpoint = Some(url.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("Metrics: ") {
            metrics = Some(url.trim().to_owned());
            break;
        }
    }
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Deployment {
        child,
        endpoint: endpoint.expect("the banner names the endpoint"),
        metrics: metrics.expect("the banner names the metrics endpoint"),
        http: reqwest::Client::new(),
        dir,
    }
}

pub fn mint(deployment: &Deployment, sub: &str, tenant: &str, roles: &str, scopes: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "token",
            "mint",
            "--sub",
            sub,
            "--tenant",
            tenant,
            "--roles",
            roles,
            "--scopes",
            scopes,
            "--aud",
            &deployment.endpoint,
        ])
        .env("PALISADE_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Deployment {
    pub async fn rpc(&self, token: &str, session: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
        self.try_rpc(token, session, body).await.expect("the server answers")
    }

    /// As `rpc`, but `None` when the connection fails (the server is gone).
    pub async fn try_rpc(
        &self,
        token: &str,
        session: Option<&str>,
        body: Value,
    ) -> Option<(u16, Option<String>, Value)> {
        let mut request = self
            .http
            .post(&self.endpoint)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let session = response.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.ok()?;
        let body = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str(d.trim()).ok())
            .or_else(|| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        Some((status, session, body))
    }

    pub async fn session(&self, token: &str) -> String {
        let (status, session, _) = self
            .rpc(token, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
            .await;
        assert_eq!(status, 200);
        let session = session.unwrap();
        self.rpc(token, Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        session
    }

    pub async fn tools(&self, token: &str) -> Vec<String> {
        let session = self.session(token).await;
        let (_, _, body) =
            self.rpc(token, Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn call(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let session = self.session(token).await;
        let (_, _, body) = self
            .rpc(token, Some(&session), json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await;
        body["result"].clone()
    }
}

pub fn error_code(result: &Value) -> &str {
    if result["isError"] == json!(true) {
        result["structuredContent"]["error"]["code"].as_str().unwrap_or("?")
    } else {
        "ok"
    }
}
