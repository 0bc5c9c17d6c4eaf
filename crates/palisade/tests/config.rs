//! `palisade serve --config`: a deployment from a file, secrets from the environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const SECRET: &str = "config-test-secret-0123456789abcdef-xyz";
const PUBLIC: &str = "https://mcp.example.test/mcp";

#[tokio::test]
async fn a_configured_server_uses_its_public_url_as_the_audience() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC}\"\ndata_dir = \"{}\"\n\n[auth]\njwt_secret_env = \"MY_SECRET\"\napi_keys = false\n\n[limits]\nrate_per_second = 100\n\n[observe.metrics]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("MY_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut endpoint = None;
    let mut listening = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("MCP endpoint: ") {
            endpoint = Some(url.trim().to_owned());
        }
        if let Some(addr) = line.strip_prefix("Listening:    ") {
            listening = Some(addr.trim().to_owned());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(endpoint.as_deref(), Some(PUBLIC));
    let base = format!("http://{}", listening.unwrap());
    let http = reqwest::Client::new();

    let metadata: serde_json::Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], PUBLIC);

    let mint = |aud: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args([
                "token", "mint", "--sub", "alice", "--tenant", "acme", "--roles", "support", "--scopes",
                "read", "--aud", aud,
            ])
            .env("PALISADE_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let status = |token: String| {
        let http = http.clone();
        let body = initialize.clone();
        let url = format!("{base}/mcp");
        async move {
            http.post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(mint(PUBLIC)).await, 200, "a token for the public URL is accepted");
    assert_eq!(status(mint(&format!("{base}/mcp"))).await, 401, "a token for the internal address is not");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_config_holding_a_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("palisade.toml");
    std::fs::write(&config, "[auth]\njwt_secret = \"this-should-never-be-in-a-file-0123456789\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secrets are never read from the config file"), "{stderr}");
    assert!(!stderr.contains("this-should-never-be"), "the error does not echo the secret");
}
