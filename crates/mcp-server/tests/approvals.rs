//! The approval workflow on the wire: request, grant (four eyes, same tenant), single use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use mcp_server::{AuditEvent, Decision};
use serde_json::{Value, json};

async fn grant(s: &TestServer, token: &str, id: &str) -> (u16, Value) {
    let response =
        s.http.post(format!("{}/approvals/{id}/grant", s.base)).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_refund_needs_another_approver_of_the_same_tenant_and_a_grant_is_used_once() {
    let s = start(Options { approvals: true, ..Options::default() }).await;
    let alice = s.token("alice", "acme", &["support", "approver"], &["read"]);
    let bob = s.token("bob", "acme", &["approver"], &["read"]);
    let carol = s.token("carol", "globex", &["approver"], &["read"]);
    let dave = s.token("dave", "acme", &["support"], &["read"]);
    let args = json!({"customer_id": "c-1"});

    let first = s.call(Some(&alice), "refund", args.clone()).await;
    assert_eq!(first.tool_outcome(), "approval_required");
    let id = first.body["result"]["structuredContent"]["error"]["approval_id"].as_str().unwrap().to_owned();

    assert_eq!(grant(&s, &alice, &id).await.1["error"], "self_approval", "four eyes");
    assert_eq!(grant(&s, &carol, &id).await.0, 404, "another tenant's request does not exist for carol");
    assert_eq!(grant(&s, &dave, &id).await.1["error"], "missing_role");
    assert_eq!(grant(&s, &bob, "apr_nonexistent").await.0, 404);
    let (status, granted) = grant(&s, &bob, &id).await;
    assert_eq!(status, 200, "{granted}");
    let token = granted["grant"].as_str().unwrap().to_owned();
    assert_eq!(grant(&s, &bob, &id).await.0, 404, "a request is granted once");

    let meta = json!({ "dev.palisade/approval": token });
    let other_args = s.call_with_meta(&alice, "refund", json!({"customer_id": "c-9"}), meta.clone()).await;
    assert_eq!(other_args.tool_outcome(), "approval_invalid", "bound to the arguments");
    let someone_else = s.call_with_meta(&dave, "refund", args.clone(), meta.clone()).await;
    assert_eq!(someone_else.tool_outcome(), "approval_invalid", "bound to the requester");
    let approved = s.call_with_meta(&alice, "refund", args.clone(), meta.clone()).await;
    assert_eq!(approved.tool_outcome(), "ok", "{:?}", approved.body);
    let replay = s.call_with_meta(&alice, "refund", args, meta).await;
    assert_eq!(replay.tool_outcome(), "approval_invalid", "single use");

    let steps: Vec<(String, Decision)> =
        s.audit.events().into_iter().map(|e| (e.method, e.decision)).collect();
    assert!(steps.contains(&("approvals/grant".to_owned(), Decision::Allowed)), "the grant is audited");
    assert!(
        steps.iter().any(|(m, d)| m == "approvals/grant"
            && matches!(d, Decision::Denied { code } if code == "self_approval"))
    );
}

#[test]
fn a_tool_requiring_approval_without_the_workflow_does_not_build() {
    async fn noop() -> String {
        String::new()
    }
    let err = mcp_server::McpServer::builder("x", "0")
        .allow_anonymous()
        .tool(mcp_server::Tool::new("refund", noop).requires_approval())
        .build()
        .unwrap_err();
    assert_eq!(err, mcp_server::BuildError::ApprovalsNotConfigured("refund".into()));
}

/// The grant endpoint refuses a credential in its query string, as the MCP endpoint does.
#[tokio::test]
async fn a_token_in_the_grant_query_is_refused() {
    let s = start(Options { approvals: true, ..Options::default() }).await;
    let bob = s.token("bob", "acme", &["approver"], &["read"]);
    let response =
        s.http.post(format!("{}/approvals/apr_x/grant?access_token={bob}", s.base)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    // Without the query, the same request is judged on its headers (here: none).
    let response = s.http.post(format!("{}/approvals/apr_x/grant", s.base)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata="), "a 401 names the metadata, as at /mcp: {challenge}");
}

/// Refusals before the approver is known are audited as at the MCP endpoint (by the
/// door, as `http` refusals of an unauthenticated source); what is decided about a known
/// approver is audited once, by the grant endpoint itself.
#[tokio::test]
async fn every_grant_refusal_is_audited_once() {
    let s = start(Options { approvals: true, ..Options::default() }).await;
    let bob = s.token("bob", "acme", &["approver"], &["read"]);
    let url = format!("{}/approvals/apr_x/grant", s.base);
    assert_eq!(s.http.post(format!("{url}?access_token={bob}")).send().await.unwrap().status(), 400);
    assert_eq!(s.http.post(&url).send().await.unwrap().status(), 401);
    assert_eq!(s.http.post(&url).bearer_auth("not-a-token").send().await.unwrap().status(), 401);
    assert_eq!(grant(&s, &bob, "apr_x").await.0, 404);

    let events = s.audit.events();
    let door: Vec<(&str, &str, bool)> = events
        .iter()
        .filter(|e| e.method == "http")
        .map(|e| {
            assert!(!e.request_id.is_empty(), "door refusals carry their request id: {e:?}");
            assert_eq!(
                e.metadata.get("endpoint"),
                Some(&json!("/approvals/{id}/grant")),
                "the route, not the id"
            );
            (e.outcome.as_str(), e.auth_method.as_str(), e.metadata.contains_key("source"))
        })
        .collect();
    assert_eq!(
        door,
        [
            ("token_in_query", "none", true),
            ("missing_credentials", "none", true),
            ("unrecognized_credential", "none", true)
        ],
        "{events:?}"
    );
    let decided: Vec<&AuditEvent> = events.iter().filter(|e| e.method == "approvals/grant").collect();
    assert_eq!(decided.len(), 1, "a known approver's refusal is audited once: {events:?}");
    assert_eq!(decided[0].decision, Decision::Denied { code: "approval_not_found".into() });
    assert!(
        !decided[0].request_id.is_empty() && decided[0].request_id != "apr_x",
        "a request id, not the path"
    );
    assert_eq!(decided[0].metadata["approval_id"], "apr_x");
    // An id of any length from the URL goes into the log bounded.
    let long = "a".repeat(5000);
    assert_eq!(grant(&s, &bob, &long).await.0, 404);
    let logged = s.audit.events().into_iter().rfind(|e| e.method == "approvals/grant").unwrap();
    assert_eq!(logged.metadata["approval_id"].as_str().unwrap().len(), 64);
}

/// A retried call finds its open request instead of opening another, and one principal
/// cannot hold more than its share of open requests: past it, its calls are refused
/// without a request while other principals still get theirs.
#[tokio::test]
async fn open_requests_are_reused_and_capped_per_principal() {
    let s = start(Options { approvals: true, ..Options::default() }).await;
    let alice = s.token("alice", "acme", &["support"], &["read"]);
    let dave = s.token("dave", "acme", &["support"], &["read"]);
    let approval_id = |reply: &Reply| {
        reply.body["result"]["structuredContent"]["error"]["approval_id"].as_str().map(str::to_owned)
    };
    let first = s.call(Some(&alice), "refund", json!({"customer_id": "c-0"})).await;
    let again = s.call(Some(&alice), "refund", json!({"customer_id": "c-0"})).await;
    assert!(approval_id(&first).is_some());
    assert_eq!(approval_id(&first), approval_id(&again), "the same call, the same request");

    // 16 open requests in all (c-0 and 15 more), then no more for alice.
    for n in 1..16 {
        let reply = s.call(Some(&alice), "refund", json!({"customer_id": format!("c-{n}")})).await;
        assert!(approval_id(&reply).is_some(), "request {n}: {:?}", reply.body);
    }
    let over = s.call(Some(&alice), "refund", json!({"customer_id": "c-16"})).await;
    assert_eq!(over.tool_outcome(), "approval_required");
    assert_eq!(approval_id(&over), None, "past the cap no request is opened");
    let known = s.call(Some(&alice), "refund", json!({"customer_id": "c-3"})).await;
    assert!(approval_id(&known).is_some(), "an open request is still found");
    let other = s.call(Some(&dave), "refund", json!({"customer_id": "c-16"})).await;
    assert!(approval_id(&other).is_some(), "another principal is unaffected");
}

/// A browser request from a foreign origin is refused at the grant endpoint too, even
/// with an approver's valid token, and the refusal is audited; no grant is issued.
#[tokio::test]
async fn a_foreign_origin_cannot_grant() {
    let s = start(Options { approvals: true, ..Options::default() }).await;
    let alice = s.token("alice", "acme", &["support"], &["read"]);
    let bob = s.token("bob", "acme", &["approver"], &["read"]);
    let first = s.call(Some(&alice), "refund", json!({"customer_id": "c-1"})).await;
    let id = first.body["result"]["structuredContent"]["error"]["approval_id"].as_str().unwrap().to_owned();
    let response = s
        .http
        .post(format!("{}/approvals/{id}/grant", s.base))
        .header("origin", "https://evil.example")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let events = s.audit.events();
    assert!(
        events.iter().any(|e| e.method == "http"
            && e.metadata.get("endpoint") == Some(&json!("/approvals/{id}/grant"))
            && matches!(&e.decision, Decision::Denied { .. })),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.method == "approvals/grant"), "the handler never ran");
    // The request is still open: the approver, from the right place, can grant it.
    assert_eq!(grant(&s, &bob, &id).await.0, 200);
}
