//! [`HttpTraceLayer`]: a span, a trace parent and metrics for every HTTP request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::metrics::ServerMetrics;
use crate::propagation::{TraceIdHex, span_context_from_headers};

/// The method as spans record it: extension methods are caller-chosen text, so only the
/// standard ones are named.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// One HTTP request in the metrics, from the call to its answer or its drop.
struct InFlight {
    metrics: Option<ServerMetrics>,
    started: Instant,
}

impl InFlight {
    fn start(metrics: Option<ServerMetrics>) -> Self {
        if let Some(metrics) = &metrics {
            metrics.http().2.inc();
        }
        Self { metrics, started: Instant::now() }
    }

    fn finish(&mut self, status: &str) {
        if let Some(metrics) = self.metrics.take() {
            let (requests, duration, in_flight) = metrics.http();
            in_flight.dec();
            duration.observe(self.started.elapsed().as_secs_f64());
            requests.with_label_values(&[status]).inc();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish("cancelled");
    }
}

/// The request's span, placed in the request's extensions so that work the request
/// starts elsewhere (rmcp runs MCP handlers on their own tasks) can hang its spans
/// under it.
#[derive(Debug, Clone)]
pub struct HttpSpan {
    /// The request's span.
    pub span: tracing::Span,
    /// Its trace id, when it has one (exported, or the caller's): spans under it are in
    /// the same trace.
    pub trace_id: Option<std::sync::Arc<str>>,
    /// Whether its trace is exported (see [`crate::sampling`]); spans under it follow.
    pub exported: bool,
}

/// Wraps an HTTP service: each request gets a server span (its parent taken from a
/// valid `traceparent` header), a `trace_id` field for log correlation, an in-flight
/// gauge, a status-code counter and a latency histogram.
///
/// The span records the method and the status code, never the path or query (they can
/// carry identifiers) nor any header. Inner layers add fields to the current span,
/// such as `request_id`.
#[derive(Debug, Clone)]
pub struct HttpTraceLayer {
    metrics: Option<ServerMetrics>,
}

impl HttpTraceLayer {
    /// Spans, and metrics into `metrics` when given.
    #[must_use]
    pub fn new(metrics: Option<ServerMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for HttpTraceLayer {
    type Service = HttpTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTrace { inner, metrics: self.metrics.clone() }
    }
}

/// The service made by [`HttpTraceLayer`].
#[derive(Debug, Clone)]
pub struct HttpTrace<S> {
    inner: S,
    metrics: Option<ServerMetrics>,
}

impl<S, B, R> tower::Service<Request<B>> for HttpTrace<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let method = method_label(request.method());
        let parent = span_context_from_headers(request.headers());
        let exported = crate::sampling::export_ratio().is_some_and(crate::sampling::draw);
        macro_rules! http_span {
            ($target:expr) => {
                tracing::info_span!(
                    target: $target,
                    "http.request",
                    otel.name = method,
                    otel.kind = "server",
                    http.request.method = method,
                    http.response.status_code = Empty,
                    otel.status_code = Empty,
                    request_id = Empty,
                    trace_id = Empty,
                )
            };
        }
        let span = if exported {
            http_span!("observe::http")
        } else {
            http_span!(crate::sampling::UNSAMPLED_TARGET)
        };
        let mut trace_id = None;
        if !span.is_disabled() {
            if exported {
                if let Some(parent) = &parent {
                    crate::export::set_remote_parent(&span, parent);
                }
                trace_id = crate::export::span_context_of(&span).map(|context| context.trace_id());
            } else {
                // Not exported: the caller's trace id still ties our lines to its trace.
                trace_id = parent.as_ref().map(opentelemetry::trace::SpanContext::trace_id);
            }
        }
        let trace_id = trace_id.map(|id| {
            let hex = TraceIdHex::new(id);
            span.record("trace_id", hex.as_str());
            std::sync::Arc::from(hex.as_str())
        });
        request.extensions_mut().insert(HttpSpan { span: span.clone(), trace_id, exported });
        // Counted until answered, or until the client goes away and the future is
        // dropped (then under `cancelled`): the in-flight gauge cannot drift.
        let mut pending = InFlight::start(self.metrics.clone());
        let response = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let result = response.await;
            let status = result.as_ref().ok().map(|r| r.status());
            if let Some(status) = status {
                span.record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            pending.finish(status.as_ref().map_or("error", http::StatusCode::as_str));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn extension_methods_never_reach_a_span() {
        assert_eq!(method_label(&http::Method::POST), "POST");
        for hostile in ["EYJHBGCIOIJIUZI1NIJ9", "PSK_SECRET", "X-CUSTOM"] {
            assert_eq!(method_label(&http::Method::from_bytes(hostile.as_bytes()).unwrap()), "_OTHER");
        }
    }
}
