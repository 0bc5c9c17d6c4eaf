//! The `[observe]` configuration section.
//!
//! ```
//! let config: observe::ObserveConfig = serde_json::from_value(serde_json::json!({
//!     "log": { "format": "json", "filter": "info,palisade=debug",
//!              "file": { "directory": "/var/log/palisade", "rotation": "daily", "keep": 7 } },
//!     "otlp": { "endpoint": "http://127.0.0.1:4318/v1/traces", "sample_ratio": 0.25 },
//!     "metrics": { "listen": "127.0.0.1:9464", "bearer_token_env": "PALISADE_METRICS_TOKEN" }
//! }))?;
//! assert_eq!(config.otlp.unwrap().sample_ratio, 0.25);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything observability needs, with defaults that are safe to run with: JSON logs
/// to stdout at `info`, no trace export, and metrics on loopback only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ObserveConfig {
    /// Log lines.
    pub log: LogConfig,
    /// Trace export over OTLP; off when absent.
    pub otlp: Option<OtlpConfig>,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
}

/// How log lines look and where they go.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (one object per line, for a log pipeline) or `text` (for a terminal).
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info,mcp_server=debug`. `RUST_LOG`, when set,
    /// takes precedence so an operator can turn up verbosity without editing files.
    pub filter: String,
    /// Write to rotated files instead of stdout.
    pub file: Option<LogFile>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Json, filter: "info".into(), file: None }
    }
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Rotated log files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// The directory the files go in (created if missing).
    pub directory: PathBuf,
    /// The file name prefix; files are named `PREFIX.DATE.jsonl`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// When a new file starts.
    #[serde(default)]
    pub rotation: Rotation,
    /// How many files to keep; older ones are deleted. `None` keeps all.
    #[serde(default)]
    pub keep: Option<usize>,
}

fn default_prefix() -> String {
    "palisade".into()
}

/// When a new log file starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// Every hour.
    Hourly,
    /// Every day.
    #[default]
    Daily,
    /// Never: one file.
    Never,
}

/// Trace export to an OpenTelemetry collector, OTLP over HTTP with protobuf bodies.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    /// The fraction of requests whose traces are exported, 0.0 to 1.0, drawn once per
    /// request before any span opens (see [`crate::sampling`]). Nothing the caller sends
    /// decides it: a `traceparent` arrives before authentication.
    #[serde(default = "one")]
    pub sample_ratio: f64,
    /// The `service.name` resource attribute.
    #[serde(default = "default_service")]
    pub service_name: String,
    /// How long one export may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn one() -> f64 {
    1.0
}

fn default_service() -> String {
    "palisade".into()
}

fn default_timeout_ms() -> u64 {
    5_000
}

/// Where `/metrics` is served and who may read it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// The address to bind: loopback by default, because metrics describe the
    /// deployment to whoever can read them.
    pub listen: SocketAddr,
    /// The name of an environment variable holding a bearer token that scrapes must
    /// present. Required when `listen` is not a loopback address.
    pub bearer_token_env: Option<String>,
    /// Add a `tenant` label (a keyed hash, never the tenant id) to tool-call counters.
    /// Off by default: each tenant multiplies the series.
    pub tenant_label: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            bearer_token_env: None,
            tenant_label: false,
        }
    }
}
