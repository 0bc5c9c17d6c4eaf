//! Test doubles for the operator's side: an OTLP/HTTP receiver on 127.0.0.1 that decodes
//! the protobuf bodies, and a log writer that keeps every line.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// Spans received, flattened out of their resource and scope envelopes.
#[derive(Clone, Default)]
pub struct Receiver {
    pub spans: Arc<Mutex<Vec<Span>>>,
    pub requests: Arc<Mutex<u32>>,
}

impl Receiver {
    /// Serves `POST /v1/traces` on 127.0.0.1; returns the endpoint URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let this = self.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let this = this.clone();
                async move {
                    assert_eq!(
                        headers.get("content-type").and_then(|v| v.to_str().ok()),
                        Some("application/x-protobuf"),
                        "OTLP/HTTP with protobuf bodies"
                    );
                    let request =
                        ExportTraceServiceRequest::decode(body).expect("a valid OTLP protobuf body");
                    *this.requests.lock().unwrap() += 1;
                    let mut spans = this.spans.lock().unwrap();
                    for resource in request.resource_spans {
                        for scope in resource.scope_spans {
                            spans.extend(scope.spans);
                        }
                    }
                    // An empty ExportTraceServiceResponse.
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1/traces")
    }

    /// Waits until a span named `name` has arrived (spans are exported in batches).
    pub async fn wait_for(&self, name: &str, count: usize) -> Vec<Span> {
        for _ in 0..100 {
            let found: Vec<Span> =
                self.spans.lock().unwrap().iter().filter(|s| s.name == name).cloned().collect();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let names: Vec<String> = self.spans.lock().unwrap().iter().map(|s| s.name.clone()).collect();
        panic!("{count} span(s) named {name:?} never arrived; got {names:?}");
    }

    pub fn all(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

/// A string attribute of a span, or an int rendered as text.
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    })
}

/// Every string a span carries: name, attribute keys and values, event names and
/// attributes, status message.
pub fn span_strings(span: &Span) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    let push_attrs = |attributes: &[KeyValue], out: &mut Vec<String>| {
        for kv in attributes {
            out.push(kv.key.clone());
            out.push(format!("{:?}", kv.value));
        }
    };
    push_attrs(&span.attributes, &mut out);
    for event in &span.events {
        out.push(event.name.clone());
        push_attrs(&event.attributes, &mut out);
    }
    if let Some(status) = &span.status {
        out.push(status.message.clone());
    }
    out
}

/// Keeps every log line written.
#[derive(Clone, Default)]
pub struct Lines(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Each line parsed as JSON (every line must be JSON).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.text().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

/// Installs observe for the whole process (each test binary holds one test): logs into
/// `lines`, spans to `endpoint`.
pub fn install(endpoint: &str, lines: &Lines) -> observe::TelemetryGuard {
    install_sampling(endpoint, lines, 1.0)
}

/// As [`install`], exporting the given share of traces.
pub fn install_sampling(endpoint: &str, lines: &Lines, sample_ratio: f64) -> observe::TelemetryGuard {
    let config = observe::ObserveConfig {
        log: observe::LogConfig { filter: "debug,h2=off,hyper=off,reqwest=off".into(), ..Default::default() },
        otlp: Some(observe::OtlpConfig {
            endpoint: endpoint.to_owned(),
            sample_ratio,
            service_name: "mcp-server-test".into(),
            timeout_ms: 2_000,
        }),
        ..Default::default()
    };
    let writer = {
        let lines = lines.clone();
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || lines.clone())
    };
    let (dispatch, guard) =
        observe::build(&config, Arc::new(observe::BuiltinScrubber::new()), Some(writer)).unwrap();
    tracing::dispatcher::set_global_default(dispatch).unwrap();
    guard
}
