//! The privacy sweep: drive authenticated calls with a known user id, e-mail and bearer
//! token (and a handler that logs secrets it should not), capture every log line, span
//! and metric, and find none of them anywhere.
//!
//! One test per binary: it installs the process-wide subscriber.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::telemetry::{Lines, Receiver, install, span_strings};
use identity_types::{Role, Scope, TenantId};
use mcp_auth::{Algorithm, JwtAuth, JwtOptions, TokenSpec};
use mcp_server::{Args, Json, Tool, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const USER_ID: &str = "u-7f3a9c-alice";
const EMAIL: &str = "alice.liddell@example.com";
const TENANT: &str = "wonderland-corp";
const DB_PASSWORD: &str = "hunter2-db-secret";
const PASSPHRASE: &str = "correct horse battery staple";

#[derive(Deserialize, JsonSchema)]
struct Upstream {
    /// A credential for the upstream (tools do receive secrets in arguments).
    token: String,
}

/// A careless handler: it logs the credential it was given, inline and as a field, and
/// a connection string with a password.
async fn careless(Args(a): Args<Upstream>) -> Result<Json<Value>, ToolError> {
    tracing::info!("calling upstream with Authorization: Bearer {}", a.token);
    tracing::warn!(api_key = %a.token, dsn = %format!("postgres://svc:{DB_PASSWORD}@db:5432/main"), "upstream retry");
    // A credential with spaces under a secret name, a token after a newline, a boolean
    // under a secret name (it must stay valid JSON).
    tracing::warn!(password = PASSPHRASE, has_api_key = true, "upstream said:\n{}", a.token);
    Ok(Json(json!({ "ok": true })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identity_or_secret_reaches_logs_spans_or_metrics() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let lines = Lines::default();
    let guard = install(&endpoint, &lines);
    let metrics = observe::Metrics::new();
    let server_metrics = observe::ServerMetrics::register(
        &metrics,
        observe::TenantLabels::Hashed(identity_types::PrivacyKey::from_array(&[3u8; 32])),
    )
    .unwrap();
    let server = common::start(common::Options {
        metrics: Some(server_metrics),
        extra_tools: vec![Tool::new("careless", careless).roles(["support"])],
        ..common::Options::default()
    })
    .await;

    let spec = || {
        TokenSpec::new(USER_ID)
            .tenant(TenantId::new(TENANT).unwrap())
            .roles([Role::new("support").unwrap()])
            .scopes([Scope::new("read").unwrap()])
            .claim("email", json!(EMAIL))
            .claim("preferred_username", json!(EMAIL))
    };
    let token = server.jwt.create_token(&spec()).unwrap();
    // The same claims under a key the server does not trust: refused at the door.
    let forged = JwtAuth::new(
        b"some-other-signing-secret-0123456789",
        Algorithm::HS256,
        JwtOptions::for_audience(&server.resource),
    )
    .unwrap()
    .create_token(&spec())
    .unwrap();

    let session = server.session(Some(&token)).await;
    let list = server
        .post(Some(&token), Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(list.status, 200);
    for (tool, arguments, expect) in [
        ("customers.get_customer", json!({"customer_id": "c-1"}), "not_found"),
        ("customers.delete_customer", json!({"customer_id": "c-1"}), "missing_role"),
        ("careless", json!({"token": token}), "ok"),
        ("no_such_tool", json!({}), "jsonrpc-error -32602"),
    ] {
        let reply = server.call_in(Some(&token), &session, tool, arguments).await;
        assert_eq!(reply.tool_outcome(), expect, "{tool}");
    }
    let refused =
        server.post(Some(&forged), None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    assert_eq!(refused.status, 401);
    // A token in the query string is refused too, and must not be logged from the URL.
    let in_query = server
        .http
        .post(format!("{}/mcp?access_token={token}", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 400);

    guard.flush();
    receiver.wait_for("tools/call careless", 1).await;
    // Let the last batch land.
    tokio::time::sleep(Duration::from_millis(200)).await;
    guard.flush();

    let logs = lines.text();
    // Every line is JSON, scrubbing included.
    let parsed = lines.json();
    assert!(
        parsed.iter().any(|l| l["password"] == "[REDACTED]" && l["has_api_key"] == "[REDACTED]"),
        "{logs}"
    );
    let spans: Vec<String> = receiver.all().iter().flat_map(span_strings).collect();
    let metrics_text = metrics.render();
    assert!(logs.lines().count() >= 7, "too few log lines to mean anything:\n{logs}");
    assert!(spans.len() > 50, "too few span strings to mean anything");

    let signature = token.rsplit('.').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let forbidden = [
        ("user id", USER_ID),
        ("e-mail", EMAIL),
        ("tenant id", TENANT),
        ("bearer token", token.as_str()),
        ("token payload", payload),
        ("token signature", signature),
        ("forged token", forged.as_str()),
        ("database password", DB_PASSWORD),
        ("passphrase", PASSPHRASE),
        ("passphrase's tail", "battery staple"),
    ];
    for (what, secret) in forbidden {
        for (place, text) in [("logs", logs.as_str()), ("metrics", metrics_text.as_str())] {
            assert!(!text.contains(secret), "the {what} reached the {place}:\n{text}");
        }
        for s in &spans {
            assert!(!s.contains(secret), "the {what} reached a span: {s}");
        }
    }

    // Identities are there, as pseudonyms; the careless handler's secrets were caught.
    assert!(logs.contains("\"enduser.pseudo.id\":\"pid_"), "no pseudonymous principal in the logs");
    assert!(logs.contains("[REDACTED]"), "the careless handler's lines were not scrubbed");
    assert!(spans.iter().any(|s| s.contains("[REDACTED]")), "no scrubbed span event");
    assert!(metrics_text.contains("tenant=\"tid_"), "no hashed tenant label");
}
