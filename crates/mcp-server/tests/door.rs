//! The door: authentication, metadata, Origin, query tokens, request ids, sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use identity_types::{Role, Scope, TenantId};
use mcp_auth::TokenSpec;
use serde_json::json;

fn initialize() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

#[tokio::test]
async fn no_token_gets_401_with_a_challenge_pointing_at_the_metadata() {
    let s = start(Options::default()).await;
    let reply = s.post(None, None, initialize()).await;
    assert_eq!(reply.status, 401);
    let challenge = reply.www_authenticate();
    assert_eq!(
        challenge,
        format!(r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#, s.base)
    );

    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let meta: serde_json::Value =
            s.http.get(format!("{}{path}", s.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["resource"], json!(s.resource), "{path}");
        assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_invalid_token() {
    let s = start(Options::default()).await;
    let wrong_audience =
        s.jwt.create_token(&TokenSpec::new("sam").audience("https://elsewhere.test/mcp")).unwrap();
    let cases = [
        ("garbage", "not-a-jwt.x.y".to_owned(), "malformed_token"),
        ("wrong audience", wrong_audience, "invalid_audience"),
    ];
    for (name, token, code) in cases {
        let reply = s.post(Some(&token), None, initialize()).await;
        assert_eq!(reply.status, 401, "{name}");
        assert!(
            reply.www_authenticate().contains(r#"error="invalid_token""#),
            "{name}: {}",
            reply.www_authenticate()
        );
        assert_eq!(reply.body["error"], json!(code), "{name}");
    }
    let refused = s.audit.events().iter().filter(|e| e.method == "http").count();
    assert_eq!(refused, 2, "every refused authentication is audited");
}

#[tokio::test]
async fn a_token_expiring_mid_session_is_refused_on_the_next_request() {
    let s = start(Options::default()).await;
    let short = s
        .jwt
        .create_token(
            &TokenSpec::new("sam")
                .tenant(TenantId::new("acme").unwrap())
                .roles([Role::new("support").unwrap()])
                .scopes([Scope::new("read").unwrap()])
                .ttl(std::time::Duration::from_secs(1)),
        )
        .unwrap();
    let session = s.session(Some(&short)).await;
    let first =
        s.call_in(Some(&short), &session, "customers.get_customer", json!({"customer_id": "c-1"})).await;
    assert_eq!(first.tool_outcome(), "ok", "{} {:?}", first.status, first.body);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply =
        s.call_in(Some(&short), &session, "customers.get_customer", json!({"customer_id": "c-1"})).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["error"], json!("token_expired"));
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let s = start(Options::default()).await;
    let token = s.support();
    let reply = s
        .http
        .post(format!("{}/mcp?access_token={token}", s.base))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert!(reply.headers()["www-authenticate"].to_str().unwrap().contains("invalid_request"));
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_own_origin_allowed() {
    let s = start(Options::default()).await;
    let token = s.support();
    let send = |origin: String| {
        s.http
            .post(format!("{}/mcp", s.base))
            .header("accept", "application/json, text/event-stream")
            .header("origin", origin)
            .bearer_auth(&token)
            .json(&initialize())
            .send()
    };
    assert_eq!(send("https://evil.example".into()).await.unwrap().status(), 403);
    assert_eq!(send(s.base.clone()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn request_ids_are_accepted_when_safe_and_replaced_otherwise() {
    let s = start(Options::default()).await;
    let send = |id: &'static str| {
        s.http
            .post(format!("{}/mcp", s.base))
            .header("accept", "application/json, text/event-stream")
            .header("x-request-id", id)
            .json(&initialize())
            .send()
    };
    let echoed = send("trace-123.abc").await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-123.abc");
    let replaced = send("bad id with spaces").await.unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 22);
}

#[tokio::test]
async fn a_session_of_one_principal_is_not_found_for_another() {
    let s = start(Options::default()).await;
    let alice = s.support();
    let bob = s.admin();
    let session = s.session(Some(&alice)).await;
    let stolen =
        s.post(Some(&bob), Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    assert_eq!(stolen.status, 404, "a session id is never a credential");
    let deleted = s
        .http
        .delete(format!("{}/mcp", s.base))
        .bearer_auth(&bob)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404, "nor can another principal end it");
    let own = s
        .post(Some(&alice), Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn health_and_readiness() {
    let s = start(Options::default()).await;
    assert_eq!(s.http.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200);
    assert_eq!(s.http.get(format!("{}/readyz", s.base)).send().await.unwrap().status(), 200);
}

/// DNS rebinding: a request naming a foreign host is refused before any MCP processing,
/// whatever its credentials.
#[tokio::test]
async fn a_foreign_host_is_refused() {
    let s = start(Options::default()).await;
    let reply = s.post_with(Some(&s.support()), None, initialize(), &[("host", "evil.example")]).await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    let own = s.post(Some(&s.support()), None, initialize()).await;
    assert_eq!(own.status, 200);
}
