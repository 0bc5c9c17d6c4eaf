//! Tool listing and calling: guards, tenants, anonymous callers, limits, audit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mcp_server::Decision;
use serde_json::json;

#[tokio::test]
async fn each_caller_sees_only_the_tools_its_guards_allow() {
    let s = start(Options::default()).await;
    let viewer = s.token("vic", "acme", &["viewer"], &["read"]);
    let support = s.list_tools(Some(&s.support())).await;
    let admin = s.list_tools(Some(&s.admin())).await;
    let viewer = s.list_tools(Some(&viewer)).await;
    assert_eq!(viewer, ["server_time"]);
    assert_eq!(support, ["customers.get_customer", "server_time", "cart_put", "cart_get", "visits"]);
    let expected_admin = [
        "customers.get_customer",
        "customers.delete_customer",
        "server_time",
        "cart_put",
        "cart_get",
        "visits",
        "slow",
    ];
    assert_eq!(admin, expected_admin);
}

#[tokio::test]
async fn the_listing_is_marked_private_and_carries_schemas_and_annotations() {
    let s = start(Options::default()).await;
    let token = s.support();
    let session = s.session(Some(&token)).await;
    let reply = s
        .post(Some(&token), Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    let tool = &reply.body["result"]["tools"][0];
    assert_eq!(tool["name"], "customers.get_customer");
    assert_eq!(tool["inputSchema"]["properties"]["customer_id"]["type"], "string");
    assert_eq!(tool["annotations"]["readOnlyHint"], true);
}

#[tokio::test]
async fn a_guarded_call_is_refused_with_the_denial_code() {
    let s = start(Options::default()).await;
    let reply = s.call(Some(&s.support()), "customers.delete_customer", json!({"customer_id": "c-1"})).await;
    assert_eq!(reply.tool_outcome(), "missing_role");
    let message = reply.body["result"]["structuredContent"]["error"]["message"].as_str().unwrap();
    assert_eq!(message, "access denied: requires one of the roles: admin");
    // Admin without the write scope: the role guard passes, the scope guard refuses, and
    // the refusal is an HTTP 403 scope challenge naming the scope (step-up authorization).
    let no_write = s.token("ada", "globex", &["admin"], &["read"]);
    let step_up = s.call(Some(&no_write), "customers.delete_customer", json!({"customer_id": "c-2"})).await;
    assert_eq!(step_up.status, 403);
    assert_eq!(
        step_up.www_authenticate(),
        format!(
            r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp", error="insufficient_scope", scope="write""#,
            s.base
        )
    );
    assert_eq!(
        s.call(Some(&s.admin()), "customers.delete_customer", json!({"customer_id": "c-2"}))
            .await
            .tool_outcome(),
        "ok"
    );
    let denied = s
        .audit
        .events()
        .into_iter()
        .filter(|e| matches!(&e.decision, Decision::Denied { code } if code == "missing_role"))
        .count();
    assert_eq!(denied, 1, "the denial is audited");
}

#[tokio::test]
async fn another_tenants_customer_is_not_found_not_forbidden() {
    let s = start(Options::default()).await;
    let acme = s.support();
    let own = s.call(Some(&acme), "customers.get_customer", json!({"customer_id": "c-1"})).await;
    assert_eq!(own.body["result"]["structuredContent"]["name"], "Ada Acme");
    let foreign = s.call(Some(&acme), "customers.get_customer", json!({"customer_id": "c-2"})).await;
    let missing = s.call(Some(&acme), "customers.get_customer", json!({"customer_id": "c-404"})).await;
    assert_eq!(foreign.tool_outcome(), "not_found");
    assert_eq!(
        foreign.body["result"]["structuredContent"]["error"]["message"].as_str().unwrap().replace("c-2", "X"),
        missing.body["result"]["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .replace("c-404", "X"),
        "a foreign record and a missing one look the same"
    );
}

#[tokio::test]
async fn unknown_tools_and_bad_arguments_name_the_problem() {
    let s = start(Options::default()).await;
    let token = s.support();
    let unknown = s.call(Some(&token), "customers.nope", json!({})).await;
    assert_eq!(unknown.body["error"]["code"], -32602);
    assert!(unknown.body["error"]["message"].as_str().unwrap().contains("unknown tool: customers.nope"));
    let bad = s.call(Some(&token), "customers.get_customer", json!({"customer_id": 5})).await;
    assert_eq!(bad.tool_outcome(), "invalid_arguments");
    let message = bad.body["result"]["structuredContent"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("customer_id: invalid type: integer `5`"), "{message}");
    let missing = s.call(Some(&token), "customers.get_customer", json!({})).await;
    let message = missing.body["result"]["structuredContent"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("missing field `customer_id`"), "{message}");
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let too_deep = s.call(Some(&token), "customers.get_customer", json!({"customer_id": deep})).await;
    assert_eq!(too_deep.tool_outcome(), "invalid_arguments");
}

#[tokio::test]
async fn timeouts_say_the_outcome_is_unknown() {
    let s = start(Options::default()).await;
    let reply = s.call(Some(&s.admin()), "slow", json!({})).await;
    assert_eq!(reply.tool_outcome(), "timeout");
    assert!(
        reply.body["result"]["structuredContent"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outcome is unknown")
    );
}

#[tokio::test]
async fn anonymous_callers_reach_only_public_tools_when_admitted() {
    let closed = start(Options::default()).await;
    assert_eq!(
        closed
            .post(
                None,
                None,
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
            )
            .await
            .status,
        401
    );

    let open = start(Options { anonymous: true, ..Options::default() }).await;
    assert_eq!(open.list_tools(None).await, ["server_time"]);
    assert_eq!(open.call(None, "server_time", json!({})).await.tool_outcome(), "ok");
    assert_eq!(
        open.call(None, "customers.get_customer", json!({"customer_id": "c-1"})).await.tool_outcome(),
        "unauthenticated"
    );
    // A bad credential is still refused: anonymity is for callers with none.
    assert_eq!(
        open.post(
            Some("junk.junk.junk"),
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn rate_limits_are_per_principal_and_anonymous_callers_cannot_drain_others() {
    let s = start(Options { anonymous: true, quota: Some(per_minute(3)), ..Options::default() }).await;
    let alice = s.support();
    let anon_session = s.session(None).await;
    let mut anon_outcomes = Vec::new();
    for _ in 0..6 {
        anon_outcomes.push(s.call_in(None, &anon_session, "server_time", json!({})).await.tool_outcome());
    }
    assert!(anon_outcomes.iter().any(|o| o == "rate_limited"), "{anon_outcomes:?}");
    let session = s.session(Some(&alice)).await;
    assert_eq!(
        s.call_in(Some(&alice), &session, "server_time", json!({})).await.tool_outcome(),
        "ok",
        "alice has her own bucket"
    );
    let limited = s.call_in(None, &anon_session, "server_time", json!({})).await;
    assert!(limited.body["result"]["structuredContent"]["error"]["retry_after_ms"].is_number());
}

#[tokio::test]
async fn a_state_handle_from_one_user_is_refused_for_another() {
    let s = start(Options::default()).await;
    let alice = s.support();
    let bob = s.token("bob", "acme", &["support"], &["read"]);
    let put = s.call(Some(&alice), "cart_put", json!({"items": "3 widgets"})).await;
    let handle = put.body["result"]["structuredContent"]["handle"].as_str().unwrap().to_owned();
    let own = s.call(Some(&alice), "cart_get", json!({"handle": handle})).await;
    assert_eq!(own.body["result"]["structuredContent"]["items"], "3 widgets");
    let stolen = s.call(Some(&bob), "cart_get", json!({"handle": handle})).await;
    assert_eq!(stolen.tool_outcome(), "not_found", "a handle is a name, never a credential");
    let forged = s.call(Some(&alice), "cart_get", json!({"handle": "st_not-a-handle"})).await;
    assert_eq!(forged.tool_outcome(), "invalid_arguments");
}

#[tokio::test]
async fn session_state_belongs_to_one_session_of_one_principal() {
    let s = start(Options::default()).await;
    let alice = s.support();
    let bob = s.token("bob", "acme", &["support"], &["read"]);
    let count = |reply: Reply| reply.body["result"]["structuredContent"]["visits"].as_u64().unwrap();
    let first = s.session(Some(&alice)).await;
    assert_eq!(count(s.call_in(Some(&alice), &first, "visits", json!({})).await), 1);
    assert_eq!(count(s.call_in(Some(&alice), &first, "visits", json!({})).await), 2);
    let second = s.session(Some(&alice)).await;
    assert_eq!(
        count(s.call_in(Some(&alice), &second, "visits", json!({})).await),
        1,
        "another session starts afresh"
    );
    let bobs = s.session(Some(&bob)).await;
    assert_eq!(
        count(s.call_in(Some(&bob), &bobs, "visits", json!({})).await),
        1,
        "another principal starts afresh"
    );
    assert_eq!(count(s.call_in(Some(&alice), &first, "visits", json!({})).await), 3);
}

#[tokio::test]
async fn a_failing_tool_trips_its_circuit_breaker_and_recovers() {
    use std::sync::atomic::Ordering;
    let backend = Arc::new(Flaky::default());
    let s = start(Options { flaky: Some(Arc::clone(&backend)), ..Options::default() }).await;
    let token = s.support();
    let session = s.session(Some(&token)).await;
    let call = || s.call_in(Some(&token), &session, "flaky", json!({}));

    // Three backend failures in a row open the circuit.
    backend.failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(call().await.tool_outcome(), "internal_error");
    }
    assert_eq!(backend.calls.load(Ordering::SeqCst), 3);
    // Open: refused at once, the backend is left alone, and the refusal says when to retry.
    let refused = call().await;
    assert_eq!(refused.tool_outcome(), "unavailable");
    assert!(
        refused.body["result"]["structuredContent"]["error"]["retry_after_ms"].as_u64().unwrap() <= 1_000
    );
    assert_eq!(backend.calls.load(Ordering::SeqCst), 3, "nothing reached the failing backend");
    let audited = s.audit.events().into_iter().filter(|e| e.outcome == "unavailable").count();
    assert_eq!(audited, 1, "the refusal is audited");

    // After the cooldown one trial goes through; it fails, so the circuit opens again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(call().await.tool_outcome(), "internal_error");
    assert_eq!(call().await.tool_outcome(), "unavailable");
    // The backend recovers; the next trial succeeds and closes the circuit.
    backend.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..3 {
        assert_eq!(call().await.tool_outcome(), "ok");
    }
    assert_eq!(backend.calls.load(Ordering::SeqCst), 7);
}

async fn refund_all() -> mcp_server::Json<serde_json::Value> {
    mcp_server::Json(json!({ "refunded": 0 }))
}

/// A tool whose guards need several scopes (one of them twice): the challenge names each
/// needed scope once, and a caller with all of them gets through.
#[tokio::test]
async fn the_scope_challenge_names_every_needed_scope_once() {
    let s = start(Options {
        extra_tools: vec![
            mcp_server::Tool::new("refund_all", refund_all)
                .roles(["admin"])
                .scopes(["write"])
                .guard(mcp_guards::HasScope::new(["billing:write", "write"]).unwrap()),
        ],
        ..Options::default()
    })
    .await;
    let read_only = s.token("ada", "globex", &["admin"], &["read"]);
    let refused = s.call(Some(&read_only), "refund_all", json!({})).await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.www_authenticate(),
        format!(
            r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp", error="insufficient_scope", scope="billing:write write""#,
            s.base
        )
    );
    let both = s.token("ada", "globex", &["admin"], &["read", "write", "billing:write"]);
    assert_eq!(s.call(Some(&both), "refund_all", json!({})).await.tool_outcome(), "ok");
}

/// Anonymous callers are partitioned by address: one address that exhausts its bucket
/// leaves another's untouched (never one shared anonymous bucket).
#[tokio::test]
async fn anonymous_callers_are_limited_per_address() {
    let mut s = start(Options { anonymous: true, quota: Some(per_minute(3)), ..Options::default() }).await;
    let from =
        |ip: [u8; 4]| reqwest::Client::builder().local_address(std::net::IpAddr::from(ip)).build().unwrap();
    s.http = from([127, 0, 0, 2]);
    let first = s.session(None).await;
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(s.call_in(None, &first, "server_time", json!({})).await.tool_outcome());
    }
    assert!(outcomes.iter().any(|o| o == "rate_limited"), "{outcomes:?}");
    s.http = from([127, 0, 0, 3]);
    let second = s.session(None).await;
    assert_eq!(
        s.call_in(None, &second, "server_time", json!({})).await.tool_outcome(),
        "ok",
        "another address has its own bucket"
    );
}

/// The stateless 2026-07-28 era, request by request: identity from each request's own
/// headers, lists per caller and marked private, guards and refusals as in the session era.
#[tokio::test]
async fn the_stateless_era_authenticates_and_guards_every_request() {
    let s = start(Options::default()).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let support = s.stateless(Some(&s.support()), list.clone()).await;
    assert_eq!(support.status, 200, "{:?}", support.body);
    assert_eq!(support.body["result"]["cacheScope"], "private", "{:?}", support.body);
    let admin = s.stateless(Some(&s.admin()), list.clone()).await;
    assert!(admin.tool_names().contains(&"customers.delete_customer".to_owned()));
    assert!(
        !support.tool_names().contains(&"customers.delete_customer".to_owned()),
        "{:?}",
        support.tool_names()
    );

    let call = |name: &str, arguments: serde_json::Value| json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let refused = s
        .stateless(Some(&s.support()), call("customers.delete_customer", json!({"customer_id": "c-1"})))
        .await;
    assert_eq!(refused.tool_outcome(), "missing_role");
    let anonymous = s.stateless(None, call("customers.get_customer", json!({"customer_id": "c-1"}))).await;
    assert_eq!(anonymous.status, 401);
    let own =
        s.stateless(Some(&s.support()), call("customers.get_customer", json!({"customer_id": "c-1"}))).await;
    assert_eq!(own.tool_outcome(), "ok", "{:?}", own.body);
}

static RESOLVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An extractor that counts its resolutions (as a database pool would count the
/// connections it opens).
struct Counted;

impl mcp_server::FromContext for Counted {
    fn from_context(_ctx: &mcp_server::RequestContext) -> Result<Self, mcp_server::ToolError> {
        RESOLVED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Self)
    }
}

async fn counted(_resource: Counted) -> mcp_server::Json<serde_json::Value> {
    mcp_server::Json(json!({ "ok": true }))
}

/// Extractors are resolved only for calls that passed authentication, guards and rate
/// limiting: a refused call never opens what a handler would use.
#[tokio::test]
async fn extractors_are_resolved_only_for_admitted_calls() {
    use std::sync::atomic::Ordering::SeqCst;
    let s = start(Options {
        quota: Some(per_minute(2)),
        extra_tools: vec![mcp_server::Tool::new("counted", counted).roles(["admin"])],
        ..Options::default()
    })
    .await;
    // Refused by a guard.
    assert_eq!(s.call(Some(&s.support()), "counted", json!({})).await.tool_outcome(), "missing_role");
    // Refused at the door.
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "counted", "arguments": {}}});
    assert_eq!(s.post(None, None, call).await.status, 401);
    assert_eq!(RESOLVED.load(SeqCst), 0);
    // Admitted, then rate limited: only the admitted calls resolve the extractor.
    let admin = s.admin();
    let session = s.session(Some(&admin)).await;
    let outcomes: Vec<String> = {
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            outcomes.push(s.call_in(Some(&admin), &session, "counted", json!({})).await.tool_outcome());
        }
        outcomes
    };
    let admitted = outcomes.iter().filter(|o| *o == "ok").count();
    assert!(outcomes.iter().any(|o| o == "rate_limited"), "{outcomes:?}");
    assert_eq!(RESOLVED.load(SeqCst), admitted, "{outcomes:?}");
}

/// Holds its slot for `MS` milliseconds.
async fn hold<const MS: u64>() -> mcp_server::Json<serde_json::Value> {
    tokio::time::sleep(Duration::from_millis(MS)).await;
    mcp_server::Json(json!({ "held": true }))
}

/// A tool limited to 2 calls in flight, 1 per principal: a principal's second call is
/// refused at once (`overloaded`), another principal's runs beside it, and a call beyond
/// the global limit waits its turn instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_limited_per_principal_and_queued_globally() {
    let s = start(Options {
        extra_tools: vec![
            mcp_server::Tool::new("hold", hold::<300>).roles(["support", "admin"]).max_concurrency(2, 1),
        ],
        ..Options::default()
    })
    .await;
    let (ada, sam) = (s.admin(), s.support());
    let bob = s.token("bob", "acme", &["support"], &["read"]);
    let (ada_1, ada_2, sam_1, bob_1) = (
        s.session(Some(&ada)).await,
        s.session(Some(&ada)).await,
        s.session(Some(&sam)).await,
        s.session(Some(&bob)).await,
    );
    let after = |ms| tokio::time::sleep(Duration::from_millis(ms));
    let started = std::time::Instant::now();
    let (first, second, other, queued) = tokio::join!(
        s.call_in(Some(&ada), &ada_1, "hold", json!({})),
        async {
            after(100).await;
            s.call_in(Some(&ada), &ada_2, "hold", json!({})).await
        },
        s.call_in(Some(&sam), &sam_1, "hold", json!({})),
        async {
            after(100).await;
            s.call_in(Some(&bob), &bob_1, "hold", json!({})).await
        },
    );
    let elapsed = started.elapsed();
    let mut ada_outcomes = [first.tool_outcome(), second.tool_outcome()];
    ada_outcomes.sort();
    assert_eq!(ada_outcomes, ["ok", "overloaded"], "a principal's second call in flight is refused");
    assert_eq!(other.tool_outcome(), "ok", "another principal runs beside it");
    assert_eq!(queued.tool_outcome(), "ok", "beyond the global limit a call waits, it is not refused");
    // Three calls of 300 ms, at most two at a time: at least 600 ms in all.
    assert!(elapsed >= Duration::from_millis(590), "the third call waited for a slot: {elapsed:?}");
}

/// A tool's timeout starts once the call holds its slots: a call still queued for a
/// global slot when its time is up is refused as `overloaded` (it never ran, and says
/// so), not reported as a timeout of unknown outcome, and it does not count against the
/// tool's circuit breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_past_its_timeout_never_ran_and_trips_no_circuit() {
    let s = start(Options {
        extra_tools: vec![
            mcp_server::Tool::new("hold_briefly", hold::<150>)
                .roles(["support", "admin"])
                .max_concurrency(1, 1)
                .timeout(Duration::from_millis(200))
                .circuit_breaker(1, Duration::from_secs(60)),
        ],
        ..Options::default()
    })
    .await;
    let (ada, sam) = (s.admin(), s.support());
    let bob = s.token("bob", "acme", &["support"], &["read"]);
    let (ada_1, sam_1, bob_1) =
        (s.session(Some(&ada)).await, s.session(Some(&sam)).await, s.session(Some(&bob)).await);
    let after = |ms| tokio::time::sleep(Duration::from_millis(ms));
    // ada runs 0-150 ms, sam queues and runs 150-300 ms, bob queues from 40 ms: by
    // 240 ms (his 200 ms) he still has no slot.
    let (first, second, third) = tokio::join!(
        s.call_in(Some(&ada), &ada_1, "hold_briefly", json!({})),
        async {
            after(20).await;
            s.call_in(Some(&sam), &sam_1, "hold_briefly", json!({})).await
        },
        async {
            after(40).await;
            s.call_in(Some(&bob), &bob_1, "hold_briefly", json!({})).await
        },
    );
    assert_eq!(
        [first.tool_outcome(), second.tool_outcome(), third.tool_outcome()],
        ["ok", "ok", "overloaded"]
    );
    // The breaker opens on one failure: had the queued call counted as a timeout, this
    // call would be refused as `unavailable`.
    let again = s.call_in(Some(&bob), &bob_1, "hold_briefly", json!({})).await;
    assert_eq!(again.tool_outcome(), "ok");
    let refused =
        s.audit.events().into_iter().find(|e| e.outcome == "overloaded").expect("the refusal is audited");
    assert_eq!(refused.decision, mcp_server::Decision::Denied { code: "overloaded".into() });
}

static LAYERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A layer that appends `name` to the response's `trace` metadata.
fn stamp(
    name: &'static str,
) -> tower::util::MapResponseLayer<impl Fn(mcp_server::ToolResponse) -> mcp_server::ToolResponse + Clone> {
    tower::util::MapResponseLayer::new(move |response: mcp_server::ToolResponse| {
        let mut trace = response.metadata().get("trace").cloned().unwrap_or_else(|| json!([]));
        trace.as_array_mut().unwrap().push(json!(name));
        response.with_metadata("trace", trace)
    })
}

/// Layers of one's own wrap tool, router and server in that order, inside the built-in
/// middleware: a call refused by a guard never reaches them.
#[tokio::test]
async fn layers_of_ones_own_wrap_tool_router_and_server() {
    let s = start(Options {
        extra_routers: vec![
            mcp_server::McpRouter::new("reports").layer(stamp("router")).tool(
                mcp_server::Tool::new("daily", refund_all)
                    .roles(["admin"])
                    .layer(tower::util::MapRequestLayer::new(|ctx: mcp_server::RequestContext| {
                        LAYERED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        ctx
                    }))
                    .layer(stamp("tool")),
            ),
        ],
        server_layer: Some(Box::new(|builder: mcp_server::McpServerBuilder| builder.layer(stamp("server")))),
        ..Options::default()
    })
    .await;
    assert_eq!(s.call(Some(&s.support()), "reports.daily", json!({})).await.tool_outcome(), "missing_role");
    assert_eq!(LAYERED.load(std::sync::atomic::Ordering::SeqCst), 0, "a refused call never reaches a layer");
    assert_eq!(s.call(Some(&s.admin()), "reports.daily", json!({})).await.tool_outcome(), "ok");
    assert_eq!(LAYERED.load(std::sync::atomic::Ordering::SeqCst), 1);
    let event = s
        .audit
        .events()
        .into_iter()
        .find(|e| e.tool.as_deref() == Some("reports.daily") && e.outcome == "ok")
        .unwrap();
    assert_eq!(event.metadata["trace"], json!(["tool", "router", "server"]));
}

mcp_server::tool_fn! {
    /// Today's report for your tenant.
    ///
    /// Read-only: it changes nothing.
    async fn todays_report() -> mcp_server::Json<serde_json::Value> {
        mcp_server::Json(json!({ "rows": 0 }))
    }
}

/// A handler's doc comment becomes its tool's description.
#[tokio::test]
async fn a_doc_comment_is_the_description() {
    let s = start(Options {
        extra_tools: vec![
            mcp_server::Tool::new("todays_report", todays_report).doc(todays_report::DOC).roles(["support"]),
        ],
        ..Options::default()
    })
    .await;
    let token = s.support();
    let session = s.session(Some(&token)).await;
    let listing = s
        .post(Some(&token), Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    let tool = listing.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "todays_report")
        .unwrap()
        .clone();
    assert_eq!(tool["description"], "Today's report for your tenant.\n\nRead-only: it changes nothing.");
    assert_eq!(s.call_in(Some(&token), &session, "todays_report", json!({})).await.tool_outcome(), "ok");
}

/// A tool's own rate limit binds that tool alone, per principal.
#[tokio::test]
async fn a_tool_rate_limit_binds_that_tool_per_principal() {
    let s = start(Options {
        extra_tools: vec![
            mcp_server::Tool::new("export", refund_all)
                .roles(["support", "admin"])
                .rate_limit(mcp_server::Quota::per_minute(std::num::NonZeroU32::new(1).unwrap())),
        ],
        ..Options::default()
    })
    .await;
    let (sam, ada) = (s.support(), s.admin());
    let session = s.session(Some(&sam)).await;
    assert_eq!(s.call_in(Some(&sam), &session, "export", json!({})).await.tool_outcome(), "ok");
    assert_eq!(s.call_in(Some(&sam), &session, "export", json!({})).await.tool_outcome(), "rate_limited");
    assert_eq!(
        s.call_in(Some(&sam), &session, "server_time", json!({})).await.tool_outcome(),
        "ok",
        "other tools are not limited"
    );
    assert_eq!(
        s.call(Some(&ada), "export", json!({})).await.tool_outcome(),
        "ok",
        "another principal has its own bucket"
    );
}

/// A quota of `n` calls a minute: refusals that do not depend on the machine's speed.
fn per_minute(n: u32) -> mcp_server::Quota {
    mcp_server::Quota::per_minute(std::num::NonZeroU32::new(n).unwrap())
}
