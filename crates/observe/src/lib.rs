//! # observe
//!
//! Traces, metrics and logs that let an operator answer "what happened to request X,
//! for which tenant, how long did each step take, what was refused and why" from the
//! tools they already run, while no raw user id, e-mail, token or secret reaches a
//! metric, a span or a log line.
//!
//! - [`init`]: one call installs the `tracing` subscriber: JSON-lines logs (stdout or
//!   rotated files, written by a writer thread), OpenTelemetry export over OTLP/HTTP
//!   with protobuf bodies and per-request ratio sampling ([`sampling`]), all behind the
//!   redaction layer ([`scrub`]). Spans reach the exporter through this crate's own
//!   layer, which keeps the request path's share small; [`set_remote_parent`] and
//!   [`span_context_of`] are its two handles on a span.
//! - [`propagation`]: W3C `traceparent`/`tracestate` from and into HTTP headers and
//!   MCP `_meta`, so one trace spans agent → MCP server → tool.
//! - [`Metrics`] and [`ServerMetrics`]: Prometheus families with bounded labels, and
//!   [`metrics_router`] for `/metrics`, optionally behind its own bearer token.
//! - [`HttpTraceLayer`] and [`span::tool_call_span`]: the spans the server opens, with
//!   the fields that correlate them ([`span`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use observe::{BuiltinScrubber, ObserveConfig};
//!
//! let config = ObserveConfig::default(); // JSON logs to stdout, metrics on 127.0.0.1:9464
//! let _guard = observe::init(&config, Arc::new(BuiltinScrubber::new()))?;
//! tracing::info!(principal = "pid_…", "ready"); // one JSON line, scrubbed
//! # Ok::<(), observe::ObserveError>(())
//! ```

mod config;
mod endpoint;
pub mod export;
mod http;
pub mod json;
mod log_writer;
mod metrics;
pub mod propagation;
pub mod sampling;
pub mod scrub;
pub mod span;
mod telemetry;

pub use config::{LogConfig, LogFile, LogFormat, MetricsConfig, ObserveConfig, OtlpConfig, Rotation};
pub use endpoint::{CONTENT_TYPE, check_exposure, metrics_router};
pub use export::{set_remote_parent, span_context_of};
pub use http::{HttpSpan, HttpTrace, HttpTraceLayer};
pub use metrics::{
    LATENCY_BUCKETS, Metrics, Outcome, ServerMetrics, TenantLabels, ToolCall, ToolMetrics, UNKNOWN_TOOL,
};
/// The error of metric registration (an invalid or duplicate name).
pub use prometheus::Error as MetricsError;
pub use scrub::{BuiltinScrubber, ChainScrubber, SecretScrubber};
pub use telemetry::{ObserveError, TelemetryGuard, build, init};
