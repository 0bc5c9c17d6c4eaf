//! The development token endpoint: client_credentials, hashed secrets, scope narrowing,
//! throttling, and off by default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use identity_types::{ClientId, Role, Scope, TenantId};
use mcp_auth::{Algorithm, AuthProvider, AuthRequest, JwtAuth, JwtOptions, ProtectedResourceMetadata};
use mcp_server::{DevClient, Json, McpServer, MemoryAuditSink, TokenEndpointConfig, Tool};
use serde_json::{Value, json};

const SECRET: &[u8] = b"token-endpoint-test-secret-0123456789";
const CLIENT_SECRET: &str = "svc-secret-4f9a8b7c6d5e4f3a2b1c";

async fn ping() -> Json<Value> {
    Json(json!({}))
}

async fn start(enabled: bool) -> (String, JwtAuth) {
    let (base, jwt, _) = start_audited(enabled).await;
    (base, jwt)
}

async fn start_audited(enabled: bool) -> (String, JwtAuth, Arc<MemoryAuditSink>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/mcp");
    let jwt = || JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(&resource)).unwrap();
    let client = DevClient::new(
        ClientId::new("svc").unwrap(),
        CLIENT_SECRET,
        Some(TenantId::new("acme").unwrap()),
        vec![Role::new("support").unwrap()],
        vec![Scope::new("read").unwrap(), Scope::new("write").unwrap()],
    );
    let config = TokenEndpointConfig::new(Arc::new(jwt()), vec![client]);
    assert!(!format!("{config:?}").contains(CLIENT_SECRET), "the secret is not kept");
    let audit = Arc::new(MemoryAuditSink::new());
    let mut builder = McpServer::builder("t", "0")
        .audit(Arc::clone(&audit) as Arc<dyn mcp_server::AuditSink>)
        .auth(Arc::new(jwt()))
        .resource(ProtectedResourceMetadata::new(&resource))
        .tool(Tool::new("ping", ping));
    if enabled {
        builder = builder.dev_token_endpoint(config);
    }
    let server = builder.build().unwrap();
    tokio::spawn(async move { server.serve(listener, std::future::pending()).await.unwrap() });
    (base, jwt(), audit)
}

async fn request(
    base: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().post(format!("{base}/auth/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn client_credentials_issue_short_lived_tokens_the_server_accepts() {
    let (base, verifier) = start(true).await;
    let (status, headers, body) = request(
        &base,
        &[("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", CLIENT_SECRET)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let token = body["access_token"].as_str().unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let ctx = verifier.authenticate(AuthRequest::new(&h, None)).await.unwrap();
    assert_eq!(ctx.client_id().as_str(), "svc");
    assert_eq!(ctx.tenant().unwrap().as_str(), "acme");
    assert!(ctx.has_all_scopes(["read", "write"]) && ctx.credential_id().is_some(), "scopes and a jti");

    let (status, _, body) = request(
        &base,
        &[("grant_type", "client_credentials"), ("scope", "read")],
        Some(("svc", CLIENT_SECRET)),
    )
    .await;
    assert_eq!(status, 200, "HTTP Basic works too");
    assert_eq!(body["scope"], "read", "a client may ask for fewer scopes");
}

#[tokio::test]
async fn bad_requests_get_rfc6749_errors() {
    let (base, _) = start(true).await;
    /// (case, form fields, HTTP Basic credentials, expected status, expected `error`)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong secret",
            vec![("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", "nope")],
            None,
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "who"),
                ("client_secret", CLIENT_SECRET),
            ],
            None,
            401,
            "invalid_client",
        ),
        ("no credentials", vec![("grant_type", "client_credentials")], None, 401, "invalid_client"),
        (
            "password grant",
            vec![("grant_type", "password"), ("client_id", "svc"), ("client_secret", CLIENT_SECRET)],
            None,
            400,
            "unsupported_grant_type",
        ),
        (
            "scope beyond the client's",
            vec![("grant_type", "client_credentials"), ("scope", "read admin")],
            Some(("svc", CLIENT_SECRET)),
            400,
            "invalid_scope",
        ),
    ];
    for (name, form, basic, status, error) in cases {
        let (got, headers, body) = request(&base, &form, basic).await;
        assert_eq!((got, body["error"].as_str().unwrap_or("")), (status, error), "{name}: {body}");
        if status == 401 {
            assert!(headers.contains_key("www-authenticate"), "{name}");
        }
    }
}

#[tokio::test]
async fn the_endpoint_is_throttled_per_peer() {
    let (base, _) = start(true).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses
            .push(request(&base, &[("grant_type", "client_credentials")], Some(("svc", "wrong"))).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
}

#[tokio::test]
async fn the_endpoint_is_off_unless_enabled() {
    let (base, _) = start(false).await;
    let (status, _, _) =
        request(&base, &[("grant_type", "client_credentials")], Some(("svc", CLIENT_SECRET))).await;
    assert!(status == 404 || status == 405, "{status}");
}

/// Every request is audited once: decisions by the endpoint (with the request id the
/// caller got back), refusals before a decision (a body that is not a form, throttling)
/// by the door, naming the endpoint and budgeted per address.
#[tokio::test]
async fn every_request_is_audited_once() {
    let (base, _, audit) = start_audited(true).await;
    let granted = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .form(&[("grant_type", "client_credentials")])
        .basic_auth("svc", Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let request_id = granted.headers()["x-request-id"].to_str().unwrap().to_owned();
    let not_a_form = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), 400);
    let body: Value = not_a_form.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "an RFC 6749 error, not the framework's rejection");
    for _ in 0..12 {
        request(&base, &[("grant_type", "client_credentials")], Some(("svc", "wrong"))).await;
    }

    let events = audit.events();
    let decided: Vec<_> = events.iter().filter(|e| e.method == "auth/token").collect();
    // The throttle (10 per address) counts every request, the malformed one included:
    // the grant, that one and 8 wrong secrets pass, the last 4 are slowed down.
    assert_eq!(decided.len(), 1 + 8, "the grant and eight wrong secrets: {events:?}");
    assert_eq!(decided[0].request_id, request_id);
    let door: Vec<(&str, Option<&Value>)> = events
        .iter()
        .filter(|e| e.method == "http")
        .map(|e| (e.outcome.as_str(), e.metadata.get("endpoint")))
        .collect();
    let endpoint = json!("/auth/token");
    assert_eq!(
        door,
        [
            ("invalid_request", Some(&endpoint)),
            ("slow_down", Some(&endpoint)),
            ("slow_down", Some(&endpoint)),
            ("slow_down", Some(&endpoint)),
            ("slow_down", Some(&endpoint))
        ],
        "{events:?}"
    );
}
