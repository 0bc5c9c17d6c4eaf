//! One setup call: the `tracing` subscriber with JSON logs, the OTLP exporter and the
//! redaction layer.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, ObserveConfig, OtlpConfig, Rotation};
use crate::json::{JsonFields, JsonLines};
use crate::scrub::{ScrubbingMakeWriter, ScrubbingSpanExporter, SecretScrubber};

/// Setting up observability failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The log filter directive does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The directive given.
        filter: String,
        /// What the parser said.
        reason: String,
    },
    /// The log directory cannot be used.
    #[error("cannot write logs to {directory}: {reason}")]
    LogFile {
        /// The directory configured.
        directory: String,
        /// What went wrong.
        reason: String,
    },
    /// The OTLP settings are unusable.
    #[error("invalid OTLP settings: {0}")]
    Otlp(String),
    /// A subscriber is already installed for the process.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
    /// The metrics endpoint is configured unsafely or cannot be served.
    #[error("metrics endpoint: {0}")]
    Metrics(String),
}

/// Keeps the exporter and the log writer alive; on drop, flushes spans still queued
/// and shuts the exporter down.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// The log writer thread: dropping it writes out every queued line.
    logs: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").field("exporting", &self.provider.is_some()).finish()
    }
}

impl TelemetryGuard {
    /// Exports every finished span now; returns once the exporter answered.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.force_flush()
        {
            tracing::warn!(%error, "flushing spans failed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "shutting the span exporter down failed");
        }
        // Last: lines logged while the exporter shut down are written too.
        drop(self.logs.take());
    }
}

/// Builds the subscriber described by `config` without installing it.
///
/// `logs` replaces the configured log destination (tests capture lines this way);
/// everything written passes `scrubber` either way. Span export, when configured,
/// passes it too.
///
/// # Errors
/// [`ObserveError`] when the filter, the log directory or the OTLP settings are unusable.
pub fn build(
    config: &ObserveConfig,
    scrubber: Arc<dyn SecretScrubber>,
    logs: Option<BoxMakeWriter>,
) -> Result<(Dispatch, TelemetryGuard), ObserveError> {
    let mut filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.trim().is_empty() => directive,
        _ => config.log.filter.clone(),
    };
    // rmcp logs client notifications verbatim at `info` and whole requests at `debug`:
    // client data that the scrubbers can only partly recognise. Unless the directive
    // names rmcp itself, it logs warnings and errors only.
    if !filter.contains("rmcp") {
        filter.push_str(",rmcp=warn");
    }
    let filter = EnvFilter::try_new(&filter)
        .map_err(|e| ObserveError::Filter { filter: filter.clone(), reason: e.to_string() })?;

    let (writer, log_worker) = match logs {
        Some(writer) => (writer, None),
        None => {
            let (writer, worker) = log_destination(config)?;
            (writer, Some(worker))
        }
    };
    let log_layer = match config.log.format {
        // Values are scrubbed one by one before escaping (see `json`).
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new(Arc::clone(&scrubber)))
            .event_format(JsonLines::new(Arc::clone(&scrubber)))
            .with_writer(writer)
            .boxed(),
        // Text lines have no structure to keep: the finished line is scrubbed.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(ScrubbingMakeWriter::new(writer, Arc::clone(&scrubber)))
            .boxed(),
    };

    let provider = config.otlp.as_ref().map(|otlp| tracer_provider(otlp, scrubber)).transpose()?;
    let otel_layer = provider.as_ref().map(|provider| {
        // Source locations and thread names on every span cost attributes nobody
        // queries; the span names and fields say where a span comes from.
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("palisade"))
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_threads(false)
            // Entering a span would also make its OpenTelemetry context the thread's
            // current one (a thread-local push and pop per poll). Propagation here reads
            // a span's context explicitly (`propagation::inject_*`), so it is not needed.
            .with_context_activation(false)
            // Spans, and warnings and errors as span events; routine events stay in the
            // logs (the span's own fields already say how the call ended).
            // Spans of traces the gate dropped never reach the bridge (`sampling`).
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.target() != crate::sampling::UNSAMPLED_TARGET
                    && (meta.is_span() || *meta.level() <= tracing::Level::WARN)
            }))
    });

    let gate = config.otlp.as_ref().map(|otlp| crate::sampling::ExportGate { ratio: otlp.sample_ratio });
    let subscriber = tracing_subscriber::registry().with(gate).with(otel_layer).with(log_layer).with(filter);
    Ok((Dispatch::new(subscriber), TelemetryGuard { provider, logs: log_worker }))
}

/// Builds the subscriber and installs it for the whole process. Call once, early in
/// `main`, before any async runtime starts. (Records of crates that use the `log`
/// facade rather than `tracing` are not collected.)
///
/// # Errors
/// As [`build`], and [`ObserveError::AlreadyInstalled`] when a subscriber is installed.
pub fn init(
    config: &ObserveConfig,
    scrubber: Arc<dyn SecretScrubber>,
) -> Result<TelemetryGuard, ObserveError> {
    let (dispatch, guard) = build(config, scrubber, None)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| ObserveError::AlreadyInstalled)?;
    Ok(guard)
}

/// Lines go to a writer thread through a bounded queue: the request path formats a line
/// and hands it over, the write system call happens off it (`cargo xtask bench observe`:
/// writing each line on the request path cost about 1 µs more per call). The queue is not lossy: when it is full, the request waits
/// (back-pressure) rather than dropping a line.
fn off_the_request_path(
    writer: impl std::io::Write + Send + 'static,
) -> (BoxMakeWriter, tracing_appender::non_blocking::WorkerGuard) {
    // The writer thread drains every queued line, then flushes: under load one system
    // call writes many lines; when quiet, each line is written as it comes.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // Bounds the queue's memory (lines are a few hundred bytes to a few KiB).
        .buffered_lines_limit(16_384)
        .thread_name("palisade-log-writer")
        .finish(std::io::BufWriter::with_capacity(64 * 1024, writer));
    (BoxMakeWriter::new(writer), guard)
}

fn log_destination(
    config: &ObserveConfig,
) -> Result<(BoxMakeWriter, tracing_appender::non_blocking::WorkerGuard), ObserveError> {
    let Some(file) = &config.log.file else {
        return Ok(off_the_request_path(std::io::stdout()));
    };
    let rotation = match file.rotation {
        Rotation::Hourly => tracing_appender::rolling::Rotation::HOURLY,
        Rotation::Daily => tracing_appender::rolling::Rotation::DAILY,
        Rotation::Never => tracing_appender::rolling::Rotation::NEVER,
    };
    let mut builder = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(rotation)
        .filename_prefix(&file.prefix)
        .filename_suffix("jsonl");
    if let Some(keep) = file.keep {
        builder = builder.max_log_files(keep.max(1));
    }
    let appender = builder.build(&file.directory).map_err(|e| ObserveError::LogFile {
        directory: file.directory.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(off_the_request_path(appender))
}

fn tracer_provider(
    otlp: &OtlpConfig,
    scrubber: Arc<dyn SecretScrubber>,
) -> Result<SdkTracerProvider, ObserveError> {
    if !(0.0..=1.0).contains(&otlp.sample_ratio) {
        return Err(ObserveError::Otlp(format!("sample_ratio {} is outside 0.0..=1.0", otlp.sample_ratio)));
    }
    let endpoint = url_check(&otlp.endpoint)?;
    let timeout = Duration::from_millis(otlp.timeout_ms.max(1));
    // The HTTP client is built without a bundled TLS provider (the workspace uses ring);
    // install it unless the process already chose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The blocking HTTP client must not be built on an async runtime's thread (it
    // starts its own runtime, and tokio refuses nesting); the batch processor then
    // uses it from its own thread. Building on a fresh thread is right either way.
    let exporter = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(endpoint)
                    .with_timeout(timeout)
                    .build()
            })
            .join()
    })
    .map_err(|_| ObserveError::Otlp("building the exporter panicked".into()))?
    .map_err(|e| ObserveError::Otlp(e.to_string()))?;
    let processor = BatchSpanProcessor::builder(ScrubbingSpanExporter::new(exporter, scrubber)).build();
    let resource =
        opentelemetry_sdk::Resource::builder().with_service_name(otlp.service_name.clone()).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        // The decision is made before spans open (`sampling`): spans of dropped traces
        // never reach the bridge, so everything that does is kept.
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource)
        .build())
}

/// The endpoint must be an `http` or `https` URL without credentials in it (those
/// would end up in error messages and logs).
fn url_check(endpoint: &str) -> Result<String, ObserveError> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| ObserveError::Otlp("the endpoint must be an http(s) URL".into()))?;
    if !matches!(scheme, "http" | "https") {
        return Err(ObserveError::Otlp(format!("unsupported scheme {scheme:?}: use http or https")));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(ObserveError::Otlp("the endpoint needs a host and must not carry credentials".into()));
    }
    Ok(endpoint.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::scrub::BuiltinScrubber;

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let scrubber: Arc<dyn SecretScrubber> = Arc::new(BuiltinScrubber::new());
        let otlp = |endpoint: &str, ratio: f64| ObserveConfig {
            otlp: Some(OtlpConfig {
                endpoint: endpoint.into(),
                sample_ratio: ratio,
                service_name: "t".into(),
                timeout_ms: 100,
            }),
            ..ObserveConfig::default()
        };
        for (config, expect) in [
            (otlp("ftp://x/v1/traces", 1.0), "unsupported scheme"),
            (otlp("127.0.0.1:4318", 1.0), "http(s) URL"),
            (otlp("http://user:pw@collector/v1/traces", 1.0), "credentials"),
            (otlp("http://collector/v1/traces", 1.5), "sample_ratio"),
            (otlp("http://collector/v1/traces", f64::NAN), "sample_ratio"),
        ] {
            let error = build(&config, Arc::clone(&scrubber), None).expect_err("refused");
            assert!(error.to_string().contains(expect), "{error} lacks {expect:?}");
        }
        let mut config = ObserveConfig::default();
        config.log.filter = "info,[[[".into();
        if std::env::var_os("RUST_LOG").is_none() {
            assert!(matches!(build(&config, scrubber, None), Err(ObserveError::Filter { .. })));
        }
    }
}
