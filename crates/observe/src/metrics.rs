//! Prometheus metrics: the server's families, counters read from other components at
//! scrape time, and the `/metrics` endpoint.
//!
//! Built on the `prometheus` crate rather than `metrics` + `metrics-exporter-prometheus`
//! because its metrics belong to a [`Registry`] value instead of a process-wide
//! recorder: two servers in one process (tests, an embedding host) keep separate counts,
//! and the hot path is an atomic add on a label child resolved once at startup.
//!
//! Label cardinality is bounded by construction: tools are labelled by registered name
//! (anything else is [`UNKNOWN_TOOL`]), outcomes by the six [`Outcome`]s, refusals by
//! their fixed codes, and tenants only when configured, as a keyed hash.
//!
//! ```
//! use observe::{Metrics, Outcome, ServerMetrics, TenantLabels};
//!
//! let metrics = Metrics::new();
//! let server = ServerMetrics::register(&metrics, TenantLabels::Off)?;
//! let tool = server.tool("get_customer");
//! let call = tool.start();
//! call.finish(Outcome::Denied, None);
//! let text = metrics.render();
//! assert!(text.contains(r#"palisade_mcp_tool_calls_total{outcome="denied",tool="get_customer"} 1"#));
//! # Ok::<(), prometheus::Error>(())
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use identity_types::{PrivacyKey, TenantId};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The label value for a tool name the server does not know (bounded cardinality).
pub const UNKNOWN_TOOL: &str = "_unknown";

/// A set of metrics and its text rendering. Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry, for registering metrics of one's own.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a counter whose value `read` gives at each scrape: for totals that
    /// another component keeps (token cache hits, key-set fetches).
    ///
    /// # Errors
    /// The name is invalid or taken.
    pub fn counter_fn(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(Pulling::new(name, help, MetricType::COUNTER, read)?))
    }

    /// Registers a gauge whose value `read` gives at each scrape (queue depths).
    ///
    /// # Errors
    /// The name is invalid or taken.
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(Pulling::new(name, help, MetricType::GAUGE, read)?))
    }

    /// Registers a histogram of durations in seconds and returns it.
    ///
    /// # Errors
    /// The name is invalid or taken.
    pub fn duration_histogram(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
    ) -> Result<Histogram, prometheus::Error> {
        let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
        self.registry.register(Box::new(histogram.clone()))?;
        Ok(histogram)
    }

    /// Everything in the Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only on a metric the registry already validated.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A counter or gauge read from a closure at scrape time.
struct Pulling {
    desc: Desc,
    kind: MetricType,
    read: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl Pulling {
    fn new(
        name: &str,
        help: &str,
        kind: MetricType,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<Self, prometheus::Error> {
        let desc = Desc::new(name.to_owned(), help.to_owned(), Vec::new(), std::collections::HashMap::new())?;
        Ok(Self { desc, kind, read: Box::new(read) })
    }
}

impl Collector for Pulling {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Scrapes see at most 2^53 exactly; a total that large is not a concern here.
        #[allow(clippy::cast_precision_loss)]
        let value = (self.read)() as f64;
        let mut metric = proto::Metric::default();
        if self.kind == MetricType::COUNTER {
            let mut counter = proto::Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(self.kind);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

/// How a tool call ended, as the metrics and the tool span count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The tool returned a result.
    Ok,
    /// The tool ran and failed, or the server could not finish the call.
    Error,
    /// A guard or policy refused the call (including an approval still missing).
    Denied,
    /// The caller was not authenticated, or not enough for this tool.
    Unauthenticated,
    /// A rate limit or the concurrency limit turned the call away.
    RateLimited,
    /// The tool did not answer in time.
    TimedOut,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Self; 6] =
        [Self::Ok, Self::Error, Self::Denied, Self::Unauthenticated, Self::RateLimited, Self::TimedOut];

    /// The label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Denied => "denied",
            Self::Unauthenticated => "unauthenticated",
            Self::RateLimited => "rate_limited",
            Self::TimedOut => "timed_out",
        }
    }

    /// The position in [`Outcome::ALL`] (declaration order).
    const fn index(self) -> usize {
        self as usize
    }
}

/// Whether tool-call counters carry a tenant label.
#[derive(Clone, Default)]
pub enum TenantLabels {
    /// No tenant label (the default: each tenant multiplies the series).
    #[default]
    Off,
    /// A `tenant` label holding a keyed hash of the tenant id (`tid_…`), never the id.
    Hashed(PrivacyKey),
}

impl std::fmt::Debug for TenantLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "Off",
            Self::Hashed(_) => "Hashed",
        })
    }
}

/// Latency buckets for tool calls and HTTP requests, in seconds: 100 µs to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// The MCP server's metric families. Register once per server; clone freely.
#[derive(Clone)]
pub struct ServerMetrics {
    inner: Arc<ServerFamilies>,
}

struct ServerFamilies {
    tool_calls: IntCounterVec,
    tool_duration: HistogramVec,
    tool_in_flight: IntGaugeVec,
    tenants: TenantLabels,
    http_requests: IntCounterVec,
    http_duration: Histogram,
    http_in_flight: IntGauge,
    refusals: IntCounterVec,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics").field("tenants", &self.inner.tenants).finish_non_exhaustive()
    }
}

impl ServerMetrics {
    /// Creates the server's families in `metrics`.
    ///
    /// # Errors
    /// The families are already registered there.
    pub fn register(metrics: &Metrics, tenants: TenantLabels) -> Result<Self, prometheus::Error> {
        let registry = metrics.registry();
        let call_labels: &[&str] = match tenants {
            TenantLabels::Off => &["tool", "outcome"],
            TenantLabels::Hashed(_) => &["tool", "outcome", "tenant"],
        };
        let tool_calls = IntCounterVec::new(
            Opts::new("palisade_mcp_tool_calls_total", "MCP tools/call requests by tool and outcome."),
            call_labels,
        )?;
        let tool_duration = HistogramVec::new(
            HistogramOpts::new(
                "palisade_mcp_tool_call_duration_seconds",
                "Time from a tools/call reaching the server to its answer, audit included.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["tool"],
        )?;
        let tool_in_flight = IntGaugeVec::new(
            Opts::new("palisade_mcp_tool_calls_in_flight", "tools/call requests being handled now."),
            &["tool"],
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new("palisade_http_requests_total", "HTTP requests answered, by status code."),
            &["status"],
        )?;
        let http_duration = Histogram::with_opts(
            HistogramOpts::new("palisade_http_request_duration_seconds", "HTTP request latency.")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let http_in_flight =
            IntGauge::new("palisade_http_requests_in_flight", "HTTP requests being handled now.")?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "palisade_http_refusals_total",
                "Requests refused at the HTTP door (authentication, origin, session, size, parse), by reason.",
            ),
            &["reason"],
        )?;
        for collector in [
            Box::new(tool_calls.clone()) as Box<dyn Collector>,
            Box::new(tool_duration.clone()),
            Box::new(tool_in_flight.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(http_in_flight.clone()),
            Box::new(refusals.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Self {
            inner: Arc::new(ServerFamilies {
                tool_calls,
                tool_duration,
                tool_in_flight,
                tenants,
                http_requests,
                http_duration,
                http_in_flight,
                refusals,
            }),
        })
    }

    /// The pre-resolved series of one tool; resolve once per registered tool (and once
    /// for [`UNKNOWN_TOOL`]), then count calls without hashing labels.
    #[must_use]
    pub fn tool(&self, name: &str) -> ToolMetrics {
        let families = &self.inner;
        let calls = match families.tenants {
            TenantLabels::Off => {
                Some(Outcome::ALL.map(|o| families.tool_calls.with_label_values(&[name, o.as_str()])))
            }
            TenantLabels::Hashed(_) => None,
        };
        ToolMetrics {
            inner: Arc::new(ToolSeries {
                name: name.into(),
                calls,
                duration: families.tool_duration.with_label_values(&[name]),
                in_flight: families.tool_in_flight.with_label_values(&[name]),
                families: Arc::clone(&self.inner),
            }),
        }
    }

    /// The HTTP families, for [`HttpTraceLayer`](crate::HttpTraceLayer).
    pub(crate) fn http(&self) -> (&IntCounterVec, &Histogram, &IntGauge) {
        (&self.inner.http_requests, &self.inner.http_duration, &self.inner.http_in_flight)
    }

    /// Counts one refusal at the HTTP door. `reason` must come from a bounded set (the
    /// server's refusal codes, or `http_STATUS`), never from the request.
    pub fn refusal(&self, reason: &str) {
        self.inner.refusals.with_label_values(&[reason]).inc();
    }
}

/// One tool's series. Cheap to clone.
#[derive(Clone)]
pub struct ToolMetrics {
    inner: Arc<ToolSeries>,
}

struct ToolSeries {
    name: Box<str>,
    calls: Option<[IntCounter; 6]>,
    duration: Histogram,
    in_flight: IntGauge,
    families: Arc<ServerFamilies>,
}

impl std::fmt::Debug for ToolMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolMetrics").field("tool", &self.inner.name).finish_non_exhaustive()
    }
}

impl ToolMetrics {
    /// Marks a call in flight until [`ToolCall::finish`] (or drop, which counts it as
    /// an error: a call that vanished did not succeed).
    pub fn start(&self) -> ToolCall {
        self.inner.in_flight.inc();
        ToolCall { series: Some(Arc::clone(&self.inner)), started: Instant::now() }
    }
}

/// A tool call in flight.
#[must_use = "finish the call to count its outcome"]
pub struct ToolCall {
    series: Option<Arc<ToolSeries>>,
    started: Instant,
}

impl std::fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCall").field("started", &self.started).finish_non_exhaustive()
    }
}

impl ToolCall {
    /// Counts the call under `outcome` and records its duration; with tenant labels on,
    /// `tenant` is hashed into the label.
    pub fn finish(mut self, outcome: Outcome, tenant: Option<&TenantId>) -> Duration {
        let elapsed = self.started.elapsed();
        if let Some(series) = self.series.take() {
            count(&series, outcome, tenant, elapsed);
        }
        elapsed
    }
}

impl Drop for ToolCall {
    fn drop(&mut self) {
        if let Some(series) = self.series.take() {
            count(&series, Outcome::Error, None, self.started.elapsed());
        }
    }
}

fn count(series: &ToolSeries, outcome: Outcome, tenant: Option<&TenantId>, elapsed: Duration) {
    series.in_flight.dec();
    series.duration.observe(elapsed.as_secs_f64());
    match (&series.calls, &series.families.tenants) {
        (Some(calls), _) => calls[outcome.index()].inc(),
        (None, TenantLabels::Hashed(key)) => {
            let label = tenant.map_or_else(|| "none".to_owned(), |t| key.pseudonymize_tenant(t).to_string());
            series.families.tool_calls.with_label_values(&[&*series.name, outcome.as_str(), &label]).inc();
        }
        (None, TenantLabels::Off) => {}
    }
}
