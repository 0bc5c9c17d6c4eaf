//! The audit hook: one [`AuditEvent`] per decision, handed to an [`AuditSink`].
//!
//! The server records refused authentications, unknown tools, guard denials, rate-limit
//! refusals and every completed call. The tamper-evident log implements [`AuditSink`];
//! [`MemoryAuditSink`] keeps events in memory for tests; [`DurableAudit`] puts them in
//! [`mcp_audit`]'s tamper-evident log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use mcp_audit::{AuditEvent, Decision};
use mcp_audit::{AuditLog, AuditLogError};
use serde_json::Value;

use crate::handler::BoxFuture;

/// The audit log could not accept an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit sink unavailable: {0}")]
pub struct AuditError(pub String);

/// Where audit events go.
///
/// [`AuditSink::ready`] is asked before a tool runs: when the sink has been failing, the
/// call is refused ([`ToolError::AuditUnavailable`](crate::ToolError::AuditUnavailable))
/// before it can have effects. A failure that starts while a call runs is caught when its
/// entry is recorded: the caller then gets the same error instead of the result.
pub trait AuditSink: Send + Sync + 'static {
    /// Whether events can be accepted now.
    ///
    /// # Errors
    /// The reason the sink cannot accept events.
    fn ready(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Records one event; resolves once the sink has accepted it, with the entry's
    /// sequence number when the sink numbers its entries (logs and spans carry it, so
    /// an operator can go from a trace to the audit entry and its proof).
    fn record(&self, event: AuditEvent) -> BoxFuture<Result<Option<u64>, AuditError>>;

    /// Makes everything recorded so far durable and covered (for the tamper-evident log,
    /// by a signed checkpoint). The server calls it once it has drained on shutdown.
    fn flush(&self) -> BoxFuture<Result<(), AuditError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Keeps events in memory (tests, demos).
#[derive(Debug, Default)]
pub struct MemoryAuditSink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAuditSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every event so far.
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl AuditSink for MemoryAuditSink {
    fn record(&self, event: AuditEvent) -> BoxFuture<Result<Option<u64>, AuditError>> {
        let mut events = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = u64::try_from(events.len()).ok();
        events.push(event);
        Box::pin(async move { Ok(seq) })
    }
}

/// Discards events; the default when no sink is configured.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) -> BoxFuture<Result<Option<u64>, AuditError>> {
        Box::pin(async { Ok(None) })
    }
}

/// What the server does when the audit log cannot store an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditFailureMode {
    /// Refuse tool calls that cannot be audited (the default).
    #[default]
    FailClosed,
    /// Let calls run and count the lost events, logging each loss as an error.
    /// Choose it only when availability outranks the record.
    FailOpen,
}

/// The server's audit hook on an [`AuditLog`]: every decision becomes a chained,
/// checkpointed entry, acknowledged once durable.
#[derive(Debug)]
pub struct DurableAudit {
    log: AuditLog,
    mode: AuditFailureMode,
    lost: std::sync::Arc<AtomicU64>,
}

impl DurableAudit {
    /// Fail-closed auditing to `log`.
    #[must_use]
    pub fn new(log: AuditLog) -> Self {
        Self { log, mode: AuditFailureMode::FailClosed, lost: std::sync::Arc::default() }
    }

    /// Chooses the failure mode; fail-open is announced in the log when chosen.
    #[must_use]
    pub fn failure_mode(mut self, mode: AuditFailureMode) -> Self {
        if mode == AuditFailureMode::FailOpen {
            tracing::warn!("audit is FAIL-OPEN: tool calls will run even when they cannot be audited");
        }
        self.mode = mode;
        self
    }

    /// The log behind the hook.
    #[must_use]
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Events lost while failing open.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

fn on_failure(
    mode: AuditFailureMode,
    lost: &AtomicU64,
    error: &AuditLogError,
) -> Result<Option<u64>, AuditError> {
    match mode {
        AuditFailureMode::FailClosed => Err(AuditError(error.to_string())),
        AuditFailureMode::FailOpen => {
            let lost = lost.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(%error, lost, "audit event LOST (fail-open)");
            Ok(None)
        }
    }
}

impl AuditSink for DurableAudit {
    fn ready(&self) -> Result<(), AuditError> {
        match (self.log.ready(), self.mode) {
            (Err(error), AuditFailureMode::FailClosed) => Err(AuditError(error.to_string())),
            _ => Ok(()),
        }
    }

    fn record(&self, event: AuditEvent) -> BoxFuture<Result<Option<u64>, AuditError>> {
        // `append` encodes the event on this task; only chaining and the write are serialised.
        let (log, mode, lost) = (self.log.clone(), self.mode, std::sync::Arc::clone(&self.lost));
        Box::pin(async move {
            match log.append(&event).await {
                Ok(seq) => Ok(Some(seq)),
                Err(error) => on_failure(mode, &lost, &error),
            }
        })
    }

    fn flush(&self) -> BoxFuture<Result<(), AuditError>> {
        let log = self.log.clone();
        Box::pin(async move { log.flush().await.map(drop).map_err(|e| AuditError(e.to_string())) })
    }
}

/// Makes the copy of a call's arguments that its audit entry records.
pub trait ArgumentRedactor: Send + Sync + 'static {
    /// The copy to record for a call of `tool` with `arguments`.
    fn redact(&self, tool: &str, arguments: &Value) -> Value;
}

/// Replaces the values of sensitive fields, at any depth, with `"[REDACTED]"` and
/// shortens long strings, so an audit entry shows what was asked without holding
/// secrets or bulk data.
///
/// A field is sensitive when its name, ignoring case and everything but letters and
/// digits, *contains* one of the configured names: `password` catches `newPassword`
/// and `password_confirmation`, `apikey` catches `X-Api-Key`. Matching errs towards
/// redacting too much, because an audit log cannot be edited afterwards.
///
/// ```
/// use mcp_server::{ArgumentRedactor, RedactFields};
/// let redactor = RedactFields::sensitive();
/// let copy = redactor.redact("users.update", &serde_json::json!({"id": "u1", "Password": "hunter2"}));
/// assert_eq!(copy, serde_json::json!({"id": "u1", "Password": "[REDACTED]"}));
/// ```
#[derive(Debug, Clone)]
pub struct RedactFields {
    /// Lower-case field names whose values are replaced.
    names: Vec<String>,
    /// Strings longer than this many characters are cut.
    max_string_chars: usize,
}

impl RedactFields {
    /// Redacts fields whose names contain one of `names` (case and punctuation ignored).
    #[must_use]
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self { names: names.into_iter().map(|n| normalize(n.as_ref())).collect(), max_string_chars: 256 }
    }

    /// Fields that commonly hold secrets or personal data: passwords, tokens, keys,
    /// card and account numbers, national ids, e-mail addresses and phone numbers.
    #[must_use]
    pub fn sensitive() -> Self {
        Self::new([
            "password",
            "passwd",
            "passphrase",
            "secret",
            "token",
            "apikey",
            "authorization",
            "cookie",
            "privatekey",
            "credential",
            "cardnumber",
            "creditcard",
            "cvv",
            "cvc",
            "iban",
            "accountnumber",
            "ssn",
            "nationalid",
            "taxid",
            "email",
            "phone",
        ])
    }

    /// Redacts these fields too.
    #[must_use]
    pub fn also<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.names.extend(names.into_iter().map(|n| normalize(n.as_ref())));
        self
    }

    /// Cuts strings longer than `chars` characters (default 256).
    #[must_use]
    pub fn max_string_chars(mut self, chars: usize) -> Self {
        self.max_string_chars = chars;
        self
    }

    fn copy(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, member)| {
                        let name = normalize(key);
                        let copied = if self.names.iter().any(|n| !n.is_empty() && name.contains(n.as_str()))
                        {
                            Value::String("[REDACTED]".into())
                        } else {
                            self.copy(member)
                        };
                        (key.clone(), copied)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|item| self.copy(item)).collect()),
            Value::String(text) if text.chars().count() > self.max_string_chars => {
                let mut cut: String = text.chars().take(self.max_string_chars).collect();
                cut.push('…');
                Value::String(cut)
            }
            other => other.clone(),
        }
    }
}

/// Lower case, letters and digits only: `X-Api-Key`, `x_api_key` and `xApiKey` agree.
fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

impl ArgumentRedactor for RedactFields {
    fn redact(&self, _tool: &str, arguments: &Value) -> Value {
        self.copy(arguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_table() {
        let redactor = RedactFields::sensitive().max_string_chars(4);
        let cases = [
            (json!({"a": 1}), json!({"a": 1})),
            (
                json!({"API-Key": "k", "apiKey": "k"}),
                json!({"API-Key": "[REDACTED]", "apiKey": "[REDACTED]"}),
            ),
            (
                json!({"accessToken": 1, "clientSecret": 2, "privateKey": 3, "cardNumber": 4, "x-api-key": 5}),
                json!({"accessToken": "[REDACTED]", "clientSecret": "[REDACTED]", "privateKey": "[REDACTED]",
                       "cardNumber": "[REDACTED]", "x-api-key": "[REDACTED]"}),
            ),
            (
                json!({"newPassword": "a", "password_confirmation": "b", "id_token": "c", "customer_id": "d"}),
                json!({"newPassword": "[REDACTED]", "password_confirmation": "[REDACTED]", "id_token": "[REDACTED]",
                       "customer_id": "d"}),
            ),
            (
                json!({"user": {"email": "a@b.c", "name": "Ann"}}),
                json!({"user": {"email": "[REDACTED]", "name": "Ann"}}),
            ),
            (json!([{"token": {"nested": true}}]), json!([{"token": "[REDACTED]"}])),
            (json!({"q": "abcdefgh"}), json!({"q": "abcd…"})),
            (json!({"q": "abcd"}), json!({"q": "abcd"})),
            (json!("plain"), json!("plai…")),
        ];
        for (input, expected) in cases {
            assert_eq!(redactor.redact("t", &input), expected, "{input}");
        }
    }
}
