//! Hostile input on the request decoding and dispatch path: clear errors, no panics, and
//! the server keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

async fn raw(
    s: &TestServer,
    token: &str,
    session: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = s
        .http
        .post(format!("{}/mcp", s.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", content_type)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn still_serving(s: &TestServer, token: &str) {
    let reply = s.call(Some(token), "customers.get_customer", json!({"customer_id": "c-1"})).await;
    assert_eq!(reply.tool_outcome(), "ok", "the server still serves after hostile input");
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let s = start(Options::default()).await;
    let token = s.support();
    let session = s.session(Some(&token)).await;
    let json = "application/json";
    // A body that is not JSON gets 400 and the JSON-RPC parse error (-32700); JSON that is
    // not a JSON-RPC message is refused by rmcp (400 or 415, with a message naming the
    // decoding error); a decodable message with bad content gets a JSON-RPC error.
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, &str, Vec<u8>, &[u16])> = vec![
        ("not JSON", json, b"{not json".to_vec(), &[400]),
        ("invalid UTF-8", json, vec![0xff, 0xfe, 0x7b], &[400]),
        ("empty body", json, Vec::new(), &[400]),
        ("cut short", json, br#"{"jsonrpc":"2.0","id":1,"method":"pi"#.to_vec(), &[400]),
        ("trailing bytes", json, br#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#.to_vec(), &[400]),
        ("wrong content type", "text/plain", br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec(), &[415]),
        ("oversized body", json, vec![b' '; 2 * 1024 * 1024], &[413]),
        ("100k-deep nesting", json, deep.into_bytes(), &[400, 415]),
        ("a JSON string", json, br#""hello""#.to_vec(), &[400, 415]),
    ];
    for (name, content_type, body, allowed) in cases {
        let not_json =
            content_type == json && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err();
        let (status, text) = raw(&s, &token, Some(&session), content_type, body).await;
        assert!(allowed.contains(&status), "{name}: status {status}, body {text:.200}");
        assert!(!text.is_empty(), "{name}: the refusal says why");
        if not_json && status == 400 && name != "100k-deep nesting" {
            let reply: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(reply["error"]["code"], -32700, "{name}: {text}");
            assert_eq!(reply["id"], Value::Null);
        }
    }
    let unknown = s
        .post(Some(&token), Some(&session), json!({"jsonrpc": "2.0", "id": 9, "method": "no/such/method"}))
        .await;
    assert_eq!(unknown.body["error"]["code"], -32601, "{:?}", unknown.body);
    let bad_params = s
        .post(
            Some(&token),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": 5}}),
        )
        .await;
    assert!(bad_params.body["error"]["code"].is_number(), "{:?}", bad_params.body);
    still_serving(&s, &token).await;
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    token: String,
    session: String,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (server, token, session) = runtime.block_on(async {
            let server = start(Options::default()).await;
            let token = server.support();
            let session = server.session(Some(&token)).await;
            (server, token, session)
        });
        Shared { runtime, server, token, session }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::hash_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tools/call".to_owned()),
        Just("tools/list".to_owned()),
        Just("initialize".to_owned()),
        Just("ping".to_owned()),
        ".{0,30}",
    ]
}

/// Random JSON-RPC messages (any method, params, ids, tool names and arguments), then a
/// normal call: every answer is a client error at worst, and service goes on.
#[test]
fn random_messages_never_break_the_server() {
    let shared = shared();
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
    let strategy = (method(), json_value(), json_value(), ".{0,20}", json_value());
    runner
        .run(&strategy, |(method, params, id, tool, args)| {
            let bodies = [
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "customers.get_customer", "arguments": args}}),
                params.clone(),
            ];
            for body in bodies {
                let bytes = serde_json::to_vec(&body).unwrap();
                let (status, _) =
                    shared.runtime.block_on(raw(&shared.server, &shared.token, Some(&shared.session), "application/json", bytes));
                prop_assert!(status < 500, "status {} for {}", status, body);
            }
            Ok(())
        })
        .unwrap();
    shared.runtime.block_on(still_serving(&shared.server, &shared.token));
}
