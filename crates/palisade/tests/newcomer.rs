//! What a newcomer gets from `palisade serve --example customer-ops` with nothing set:
//! a generated signing secret kept in the data directory, a banner with working demo
//! tokens for two tenants, `/healthz`, and tokens whose audience is the `resource` of the
//! protected-resource metadata (the fixed interface scripts and docs rely on).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

struct Started {
    child: Child,
    endpoint: String,
    /// (tenant, token) from the banner.
    tokens: Vec<(String, String)>,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the example on `dir` without `PALISADE_JWT_SECRET` and reads its banner.
fn start_bare(dir: &std::path::Path) -> Started {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--example", "customer-ops", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("PALISADE_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut endpoint, mut tokens, mut tenant) = (None, Vec::new(), None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("MCP endpoint: ") {
            endpoint = Some(url.trim().to_owned());
        } else if let Some(token) = line.strip_prefix("    eyJ") {
            tokens
                .push((tenant.take().expect("a user line before its token"), format!("eyJ{}", token.trim())));
        } else if line.starts_with("  ") && !line.starts_with("    ") && !line.contains('=') {
            // "  <sub> <tenant> <roles> <scopes>"
            tenant = line.split_whitespace().nth(1).map(str::to_owned);
        } else if line.starts_with("Try:") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Started { child, endpoint: endpoint.expect("the banner names the endpoint"), tokens }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

async fn list_tools(http: &reqwest::Client, endpoint: &str, token: &str) -> u16 {
    http.post(endpoint)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_example_runs_on_nothing_but_its_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_bare(dir.path());
    let http = reqwest::Client::new();
    let base = first.endpoint.trim_end_matches("/mcp").to_owned();

    // The secret was generated into the data directory, private.
    let secret = dir.path().join("jwt.secret");
    assert!(std::fs::metadata(&secret).unwrap().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    }

    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], first.endpoint.as_str());

    // Demo tokens of both demo tenants, with the fixed claim names, for this resource.
    for tenant in ["acme", "globex"] {
        let (_, token) = first.tokens.iter().find(|(t, _)| t == tenant).expect("a demo token of each tenant");
        let claims = claims(token);
        assert_eq!(claims["aud"], metadata["resource"], "{claims}");
        assert_eq!(claims["tenant_id"], tenant);
        assert!(
            claims["sub"].is_string() && claims["roles"].is_array() && claims["scope"].is_string(),
            "{claims}"
        );
        assert_eq!(list_tools(&http, &first.endpoint, token).await, 200, "{tenant}'s demo token works");
    }

    // The secret outlives the process: a token from the first run works on the second.
    let (_, token) = first.tokens[0].clone();
    drop(first);
    let second = start_bare(dir.path());
    let endpoint = second.endpoint.clone();
    // The second run listens on another port, so the first run's tokens name another
    // audience; that the key is the same shows in the first token's signature, which
    // still verifies against the stored secret, and the second run's tokens work.
    assert_eq!(list_tools(&http, &endpoint, &second.tokens[0].1).await, 200);
    let stored = std::fs::read(&secret).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, stored.trim_ascii());
    for token in [token.as_str(), second.tokens[0].1.as_str()] {
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            ring::hmac::verify(&key, signing_input.as_bytes(), &signature).is_ok(),
            "both runs sign with the stored secret"
        );
    }
}
