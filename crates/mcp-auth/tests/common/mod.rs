//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use mcp_auth::{AuthError, AuthProvider, AuthRequest};
use ring::hmac;
use serde_json::Value;

pub const AUDIENCE: &str = "https://mcp.test/mcp";
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret-42";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture JSON")
}

pub fn now() -> u64 {
    identity_types::unix_now()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs arbitrary header and payload JSON with HS256, so tests can build tokens no
/// well-behaved library would.
pub fn hs256(secret: &[u8], header: &Value, payload: &Value) -> String {
    let signing_input =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), signing_input.as_bytes());
    format!("{signing_input}.{}", b64(tag.as_ref()))
}

/// Claims of a token that passes every check of the default test provider.
pub fn good_claims() -> Value {
    serde_json::json!({
        "sub": "alice", "aud": AUDIENCE, "exp": now() + 600, "iat": now(),
        "tenant_id": "acme", "roles": ["support"], "scope": "read write", "jti": "jti-1",
    })
}

pub fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
    headers
}

pub async fn check_with(
    provider: &dyn AuthProvider,
    headers: &HeaderMap,
) -> Result<identity_types::ClientContext, AuthError> {
    provider.authenticate(AuthRequest::new(headers, Some("127.0.0.1".parse().unwrap()))).await
}

pub async fn check(
    provider: &dyn AuthProvider,
    token: &str,
) -> Result<identity_types::ClientContext, AuthError> {
    check_with(provider, &bearer(token)).await
}

/// Serves `router` on an ephemeral loopback port; returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}
