//! One setup call: the `tracing` subscriber with JSON logs, the OTLP exporter and the
//! redaction layer.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::SpanExporter as _;
use tracing::Dispatch;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, ObserveConfig, OtlpConfig, Rotation};
use crate::export::{ExportLayer, Limits, Pipeline};
use crate::json::{JsonFields, JsonLines};
use crate::log_writer::LogWriterGuard;
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
    /// A background thread (the log writer, the span exporter) could not start.
    #[error("cannot start a thread: {0}")]
    Thread(String),
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
    export: Option<Pipeline>,
    /// The log writer thread: dropping it writes out every queued line.
    logs: Option<LogWriterGuard>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").field("exporting", &self.export.is_some()).finish()
    }
}

impl TelemetryGuard {
    /// Exports every finished span now; returns once the exporter answered (or after
    /// twice the export timeout).
    pub fn flush(&self) {
        if let Some(export) = &self.export
            && !export.flush()
        {
            tracing::warn!("flushing spans timed out");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Exports what is queued and shuts the exporter down.
        drop(self.export.take());
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

    let (export, export_layer) = match &config.otlp {
        Some(otlp) => {
            let (pipeline, layer) = export_pipeline(otlp, scrubber)?;
            (Some(pipeline), Some(layer))
        }
        None => (None, None),
    };
    // Spans of traces the gate dropped are skipped by the layer itself (`sampling`).
    let otel_layer: Option<ExportLayer> = export_layer;

    let gate = config.otlp.as_ref().map(|otlp| crate::sampling::ExportGate { ratio: otlp.sample_ratio });
    let subscriber = tracing_subscriber::registry().with(gate).with(otel_layer).with(log_layer).with(filter);
    Ok((Dispatch::new(subscriber), TelemetryGuard { export, logs: log_worker }))
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

/// Lines go to a writer thread (see [`crate::log_writer`]): the request path formats a
/// line and appends it to a shared buffer; the write system call happens off it.
fn off_the_request_path(
    writer: impl std::io::Write + Send + 'static,
) -> Result<(BoxMakeWriter, LogWriterGuard), ObserveError> {
    let (writer, guard) =
        crate::log_writer::start(writer).map_err(|e| ObserveError::Thread(format!("the log writer: {e}")))?;
    Ok((BoxMakeWriter::new(writer), guard))
}

fn log_destination(config: &ObserveConfig) -> Result<(BoxMakeWriter, LogWriterGuard), ObserveError> {
    let Some(file) = &config.log.file else {
        return off_the_request_path(std::io::stdout());
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
    off_the_request_path(appender)
}

fn export_pipeline(
    otlp: &OtlpConfig,
    scrubber: Arc<dyn SecretScrubber>,
) -> Result<(Pipeline, ExportLayer), ObserveError> {
    if !(0.0..=1.0).contains(&otlp.sample_ratio) {
        return Err(ObserveError::Otlp(format!("sample_ratio {} is outside 0.0..=1.0", otlp.sample_ratio)));
    }
    let endpoint = url_check(&otlp.endpoint)?;
    let timeout = Duration::from_millis(otlp.timeout_ms.max(1));
    // The HTTP client is built without a bundled TLS provider (the workspace uses ring);
    // install it unless the process already chose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The blocking HTTP client must not be built on an async runtime's thread (it
    // starts its own runtime, and tokio refuses nesting); the export worker then uses
    // it from its own thread. Building on a fresh thread is right either way.
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
    let mut exporter = ScrubbingSpanExporter::new(exporter, scrubber);
    exporter.set_resource(
        &opentelemetry_sdk::Resource::builder().with_service_name(otlp.service_name.clone()).build(),
    );
    // Every span that reaches the export layer is kept: the decision was made before
    // spans opened (`sampling`).
    Pipeline::start(exporter, Limits::default(), timeout.saturating_mul(2))
        .map_err(|e| ObserveError::Thread(format!("the span exporter: {e}")))
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
