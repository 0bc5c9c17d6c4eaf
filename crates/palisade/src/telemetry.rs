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
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let findings: Vec<_> =
            self.scanner.scan(text).into_iter().filter(|f| f.entity != Entity::IpAddress).collect();
        if findings.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for finding in findings {
            let (start, end) = json_safe(bytes, finding.start, finding.end);
            if start < at || start >= end {
                continue;
            }
            out.push_str(&text[at..start]);
            out.push_str("[REDACTED:");
            out.push_str(finding.entity.label());
            out.push(']');
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Shrinks a finding so that replacing it cannot break a JSON string escape: lines are
/// scrubbed after JSON encoding, so a finding must neither start just after an escaping
/// backslash (leaving `\[`) nor end just after one (leaving a lone `\` before `"`).
fn json_safe(bytes: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    let escaping_run = |pos: usize| bytes[..pos].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1;
    while start < end && start > 0 && escaping_run(start) {
        start += 1;
    }
    while end > start && escaping_run(end) {
        end -= 1;
    }
    // Stay on character boundaries (a shrink by one byte could land inside one).
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    while start < end && !text.is_char_boundary(start) {
        start += 1;
    }
    while end > start && !text.is_char_boundary(end) {
        end -= 1;
    }
    (start, end)
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
    let hits = Arc::clone(auth);
    metrics
        .counter_fn(
            "palisade_auth_token_cache_hits_total",
            "Verified-token cache lookups that found the token (no signature check needed).",
            move || hits.stats().token_cache_hits,
        )
        .map_err(fail)?;
    let misses = Arc::clone(auth);
    metrics
        .counter_fn(
            "palisade_auth_token_cache_misses_total",
            "Verified-token cache lookups that missed (the token was verified in full).",
            move || misses.stats().token_cache_misses,
        )
        .map_err(fail)?;
    let fetches = Arc::clone(auth);
    metrics
        .counter_fn(
            "palisade_auth_jwks_refreshes_total",
            "Fetches of remote JSON Web Key Sets, scheduled or for an unknown kid.",
            move || fetches.stats().key_set_fetches,
        )
        .map_err(fail)?;
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

    use super::*;

    #[test]
    fn guardrails_secrets_and_emails_are_scrubbed_and_json_stays_valid() {
        let scrubber = scrubber();
        let cases = [
            r#"{"message":"mail alice.liddell@example.com now"}"#,
            r#"{"message":"line\nalice.liddell@example.com"}"#,
            r#"{"message":"quoted \"alice.liddell@example.com\" done"}"#,
            r#"{"message":"key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD used"}"#,
            r#"{"message":"aws AKIAZ7SKPC2LQFOVIWEB here"}"#,
            r#"{"message":"dsn \"postgres://svc:pw@db:5432/x\" ok"}"#,
        ];
        let card = r#"{"message":"card 4111 1111 1111 1111 charged"}"#;
        assert!(
            matches!(scrubber.scrub(card), Cow::Borrowed(_)),
            "number-shaped data is not scanned in logs"
        );
        for line in cases {
            let out = scrubber.scrub(line);
            assert!(out.contains("[REDACTED"), "{line} -> {out}");
            for secret in [
                "alice.liddell@example.com",
                "sk-proj-abcdefghijklmnop",
                "AKIAZ7SKPC2LQFOVIWEB",
                "svc:pw@",
                "4111 1111",
            ] {
                assert!(!out.contains(secret), "{line} -> {out}");
            }
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{line} -> {out}: {e}"));
        }
        let plain = r#"{"message":"listening on 127.0.0.1:8080","level":"INFO"}"#;
        assert!(matches!(scrubber.scrub(plain), Cow::Borrowed(_)), "addresses and plain text are kept");
    }

    #[test]
    fn json_safe_never_splits_an_escape() {
        let text = br#"a\"bc\\d"#;
        // Starts right after an escaping backslash: moves past the escaped character.
        assert_eq!(json_safe(text, 2, 4), (3, 4));
        // Ends right after an escaping backslash: stops before it.
        assert_eq!(json_safe(text, 3, 6), (3, 5));
        // An escaped backslash (even run) is a complete escape: nothing moves.
        assert_eq!(json_safe(text, 3, 7), (3, 7));
    }
}
