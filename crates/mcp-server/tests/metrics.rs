//! `/metrics` serves valid Prometheus text (parsed here) that counts calls under the
//! right labels, and refuses scrapes without its bearer token.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use prometheus_parse::{Scrape, Value};
use serde_json::json;

const SCRAPE_TOKEN: &str = "scrape-token-0123456789";

async fn serve_metrics(metrics: observe::Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    observe::check_exposure(addr, Some(SCRAPE_TOKEN)).unwrap();
    let app = observe::metrics_router(metrics, Some(SCRAPE_TOKEN));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/metrics")
}

fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(ref buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_parse_and_count_each_outcome_under_its_labels() {
    let metrics = observe::Metrics::new();
    let server_metrics = observe::ServerMetrics::register(&metrics, observe::TenantLabels::Off).unwrap();
    let server =
        common::start(common::Options { metrics: Some(server_metrics), ..common::Options::default() }).await;
    let url = serve_metrics(metrics).await;

    let support = server.support();
    assert_eq!(
        server
            .call(Some(&support), "customers.get_customer", json!({"customer_id": "c-1"}))
            .await
            .tool_outcome(),
        "ok"
    );
    // Denied by a guard: support lacks the admin role.
    assert_eq!(
        server
            .call(Some(&support), "customers.delete_customer", json!({"customer_id": "c-1"}))
            .await
            .tool_outcome(),
        "missing_role"
    );
    assert_eq!(server.call(Some(&server.admin()), "slow", json!({})).await.tool_outcome(), "timeout");
    let unknown = server.call(Some(&support), "no_such_tool", json!({})).await;
    assert!(unknown.tool_outcome().starts_with("jsonrpc-error"));
    // Refused at the door: a bad token.
    let refused = server
        .post(Some("not-a-token"), None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(refused.status, 401);

    // Without the bearer token: 401 and no metrics.
    let http = reqwest::Client::new();
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.text().await.unwrap().is_empty());
    let wrong = http.get(&url).bearer_auth("scrape-token-0123456780").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let response = http.get(&url).bearer_auth(SCRAPE_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], observe::CONTENT_TYPE);
    let text = response.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text");

    let calls = "palisade_mcp_tool_calls_total";
    assert_eq!(sample(&scrape, calls, &[("tool", "customers.get_customer"), ("outcome", "ok")]), Some(1.0));
    assert_eq!(
        sample(&scrape, calls, &[("tool", "customers.delete_customer"), ("outcome", "denied")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, calls, &[("tool", "customers.delete_customer"), ("outcome", "ok")]),
        Some(0.0)
    );
    assert_eq!(sample(&scrape, calls, &[("tool", "slow"), ("outcome", "timed_out")]), Some(1.0));
    assert_eq!(sample(&scrape, calls, &[("tool", "_unknown"), ("outcome", "error")]), Some(1.0));
    // The unknown tool's name is not a label value anywhere.
    assert!(!text.contains("no_such_tool"));
    assert_eq!(
        sample(&scrape, "palisade_mcp_tool_calls_in_flight", &[("tool", "customers.get_customer")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "palisade_mcp_tool_call_duration_seconds_count",
            &[("tool", "customers.get_customer")]
        ),
        Some(1.0)
    );
    let reason = refused.body["error"].as_str().expect("the refusal names its code").to_owned();
    assert_eq!(
        sample(&scrape, "palisade_http_refusals_total", &[("reason", reason.as_str())]),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&scrape, "palisade_http_requests_total", &[("status", "200")]).unwrap() >= 8.0);
    assert_eq!(sample(&scrape, "palisade_http_requests_total", &[("status", "401")]), Some(1.0));
    assert_eq!(sample(&scrape, "palisade_http_requests_in_flight", &[]), Some(0.0));

    // Every family has HELP and TYPE; no label anywhere holds a principal.
    let families: HashMap<_, _> = scrape.docs.iter().collect();
    for family in
        ["palisade_mcp_tool_calls_total", "palisade_http_requests_total", "palisade_http_refusals_total"]
    {
        assert!(families.contains_key(&family.to_owned()), "{family} has no HELP");
    }
    for s in &scrape.samples {
        for (key, value) in s.labels.iter() {
            assert!(
                ["tool", "outcome", "status", "reason", "le"].contains(&key.as_str()),
                "label {key}={value}"
            );
        }
    }
}

#[tokio::test]
async fn tenant_labels_are_hashed_never_the_tenant() {
    let metrics = observe::Metrics::new();
    let key = identity_types::PrivacyKey::from_array(&[9u8; 32]);
    let server_metrics =
        observe::ServerMetrics::register(&metrics, observe::TenantLabels::Hashed(key.clone())).unwrap();
    let server =
        common::start(common::Options { metrics: Some(server_metrics), ..common::Options::default() }).await;
    assert_eq!(
        server
            .call(Some(&server.support()), "customers.get_customer", json!({"customer_id": "c-1"}))
            .await
            .tool_outcome(),
        "ok"
    );
    let text = metrics.render();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let tenant = key.pseudonymize_tenant(&identity_types::TenantId::new("acme").unwrap()).to_string();
    assert!(tenant.starts_with("tid_"));
    assert_eq!(
        sample(
            &scrape,
            "palisade_mcp_tool_calls_total",
            &[("tool", "customers.get_customer"), ("outcome", "ok"), ("tenant", tenant.as_str())]
        ),
        Some(1.0)
    );
    assert!(!text.contains("acme"), "the tenant id leaked:\n{text}");
}

#[test]
fn exposure_off_loopback_needs_a_token() {
    let public: std::net::SocketAddr = "0.0.0.0:9464".parse().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:9464".parse().unwrap();
    assert!(observe::check_exposure(public, None).is_err());
    assert!(observe::check_exposure(public, Some("short")).is_err());
    assert!(observe::check_exposure(public, Some(SCRAPE_TOKEN)).is_ok());
    assert!(observe::check_exposure(loopback, None).is_ok());
}
