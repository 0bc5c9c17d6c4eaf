//! Observability for `palisade serve`: the `[observe]` section put to work.
//!
//! Logs and spans pass two scrubbers: observe's built-in one (HTTP credentials, JWTs,
//! URL passwords, secret-named pairs) and the guardrails' detectors (provider keys,
//! private keys, e-mail addresses, card numbers...), joined through observe's
//! `SecretScrubber` trait so observe itself does not depend on guardrails.

use std::borrow::Cow;
use std::sync::Arc;

use guardrails::pii::{Entity, PiiScanner};
use mcp_audit::AuditLog;
use mcp_auth::AuthProvider;
use observe::{
    BuiltinScrubber, ChainScrubber, Metrics, ObserveConfig, SecretScrubber, ServerMetrics, TenantLabels,
};

/// The guardrails' detectors as a log scrubber: every credential detector and e-mail
/// addresses. Number-shaped personal data (cards, SSNs, IBANs) is not looked for in log
/// lines: every timestamp and id sets those detectors off, which tripled the cost of a
/// line (`cargo xtask bench observe`), and the server never logs arguments or results.
/// IP addresses are kept: operators need peer and listen addresses.
pub(crate) struct GuardrailsScrubber {
    scanner: PiiScanner,
}

impl GuardrailsScrubber {
    pub(crate) fn new() -> Self {
        Self { scanner: PiiScanner::with_entities(|e| e.is_secret() || e == Entity::EmailAddress) }
    }
}

impl SecretScrubber for GuardrailsScrubber {
    /// Scrubs one value as it was logged (observe's JSON formatter scrubs values before
    /// escaping them, so no JSON structure or escape is ever in `text`).
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let findings: Vec<_> =
            self.scanner.scan(text).into_iter().filter(|f| f.entity != Entity::IpAddress).collect();
        if findings.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for finding in findings {
            // Findings come in order without overlaps; a defensive skip otherwise.
            if finding.start < at || finding.start >= finding.end {
                continue;
            }
            out.push_str(&text[at..finding.start]);
            out.push_str("[REDACTED:");
            out.push_str(finding.entity.label());
            out.push(']');
            at = finding.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Both scrubbers, observe's first.
pub(crate) fn scrubber() -> Arc<dyn SecretScrubber> {
    Arc::new(ChainScrubber::new(BuiltinScrubber::new(), GuardrailsScrubber::new()))
}

/// Installs logging and tracing. With the stdio transport, stdout carries the protocol,
/// so logs that would go to stdout go to stderr.
pub(crate) fn init(config: &ObserveConfig, stdio: bool) -> Result<observe::TelemetryGuard, String> {
    let writer = (config.log.file.is_none() && stdio)
        .then(|| tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr));
    let (dispatch, guard) =
        observe::build(config, scrubber(), writer).map_err(|e| format!("[observe] {e}"))?;
    tracing::dispatcher::set_global_default(dispatch)
        .map_err(|_| "a tracing subscriber is already installed")?;
    Ok(guard)
}

/// Picks one total out of the authentication counters.
type AuthPick = fn(mcp_auth::AuthStats) -> u64;

/// The server's metrics, plus the counters that authentication and the audit log keep.
pub(crate) fn metrics(
    config: &ObserveConfig,
    privacy: &identity_types::PrivacyKey,
    auth: &Arc<dyn AuthProvider>,
    audit_log: &AuditLog,
) -> Result<(Metrics, ServerMetrics), String> {
    let metrics = Metrics::new();
    let tenants =
        if config.metrics.tenant_label { TenantLabels::Hashed(privacy.clone()) } else { TenantLabels::Off };
    let fail = |e: observe::MetricsError| format!("metrics: {e}");
    let server = ServerMetrics::register(&metrics, tenants).map_err(fail)?;
    let auth_counters: [(&str, &str, AuthPick); 3] = [
        (
            "palisade_auth_token_cache_hits_total",
            "Verified-token cache lookups that found the token (no signature check needed).",
            |s| s.token_cache_hits,
        ),
        (
            "palisade_auth_token_cache_misses_total",
            "Verified-token cache lookups that missed (the token was verified in full).",
            |s| s.token_cache_misses,
        ),
        (
            "palisade_auth_jwks_refreshes_total",
            "Fetches of remote JSON Web Key Sets, scheduled or for an unknown kid.",
            |s| s.key_set_fetches,
        ),
    ];
    for (name, help, pick) in auth_counters {
        let auth = Arc::clone(auth);
        metrics.counter_fn(name, help, move || pick(auth.stats())).map_err(fail)?;
    }
    let queue = audit_log.clone();
    metrics
        .gauge_fn("palisade_audit_queue_depth", "Audit entries queued, not yet durable.", move || {
            u64::try_from(queue.queue_depth()).unwrap_or(u64::MAX)
        })
        .map_err(fail)?;
    let size = audit_log.clone();
    metrics
        .counter_fn(
            "palisade_audit_entries_total",
            "Audit entries durably stored (the log's size).",
            move || size.size(),
        )
        .map_err(fail)?;
    let sync = metrics
        .duration_histogram(
            "palisade_audit_sync_duration_seconds",
            "Time to write and fsync one group-commit batch of audit entries.",
            observe::LATENCY_BUCKETS,
        )
        .map_err(fail)?;
    audit_log.observe_commits(move |took| sync.observe(took.as_secs_f64()));
    Ok((metrics, server))
}

/// Binds the metrics endpoint (checked for exposure first) and serves it until
/// `shutdown` resolves.
pub(crate) async fn serve_metrics(
    config: &ObserveConfig,
    metrics: Metrics,
    env: impl Fn(&str) -> Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<std::net::SocketAddr>, String> {
    let section = &config.metrics;
    if !section.enabled {
        return Ok(None);
    }
    let token = match &section.bearer_token_env {
        Some(var) => {
            Some(env(var).ok_or_else(|| format!("[observe.metrics] bearer_token_env: {var} is not set"))?)
        }
        None => None,
    };
    observe::check_exposure(section.listen, token.as_deref())
        .map_err(|e| format!("[observe.metrics] {e}"))?;
    let listener = tokio::net::TcpListener::bind(section.listen)
        .await
        .map_err(|e| format!("[observe.metrics] {}: {e}", section.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = observe::metrics_router(metrics, token.as_deref());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Everything `serve` logs goes through observe's JSON formatter with both scrubbers:
    /// hostile messages and fields, each line still JSON and none holding the secrets.
    #[test]
    fn hostile_lines_are_scrubbed_and_stay_json() {
        let capture = Capture::default();
        let sink = capture.clone();
        let writer = tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || sink.clone());
        let (dispatch, _guard) = observe::build(&ObserveConfig::default(), scrubber(), Some(writer)).unwrap();
        let secrets = [
            "alice.liddell@example.com",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            "AKIAZ7SKPC2LQFOVIWEB",
            "svc:it's@",
            "hunter2",
        ];
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("mail alice.liddell@example.com now");
            tracing::info!("bell\u{7}alice.liddell@example.com after a control character");
            tracing::info!("line\nalice.liddell@example.com after a newline");
            tracing::info!(user = "\"alice.liddell@example.com\"", "quoted in a field");
            tracing::info!("key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD used");
            tracing::info!(dsn = "postgres://svc:it's@db/main", "a quote in the password");
            tracing::info!(note = "aws AKIAZ7SKPC2LQFOVIWEB", db_password = "hunter2", "fields");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 7, "{text}");
        for line in text.lines() {
            let parsed: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(parsed["message"].is_string(), "{line}");
            for secret in secrets {
                assert!(!line.contains(secret), "{secret} in {line}");
            }
        }
        assert!(text.contains("[REDACTED:EMAIL]"), "{text}");
    }

    #[test]
    fn number_shaped_data_and_addresses_are_left_to_the_reader() {
        let scrubber = GuardrailsScrubber::new();
        assert!(matches!(scrubber.scrub("card 4111 1111 1111 1111 charged"), Cow::Borrowed(_)));
        assert!(matches!(scrubber.scrub("listening on 127.0.0.1:8080"), Cow::Borrowed(_)));
        assert_eq!(scrubber.scrub("to ada@example.com"), "to [REDACTED:EMAIL]");
    }
}
