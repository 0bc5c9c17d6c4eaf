//! The audit hook: one [`AuditEvent`] per decision, handed to an [`AuditSink`].
//!
//! The server records refused authentications, unknown tools, guard denials, rate-limit
//! refusals and every completed call. The tamper-evident log implements [`AuditSink`];
//! [`MemoryAuditSink`] keeps events in memory for tests.

use std::sync::Mutex;

use identity_types::{PrivacyId, TenantId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::handler::BoxFuture;

/// What was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The call ran (its outcome is in [`AuditEvent::outcome`]).
    Allowed,
    /// The request was refused before any handler ran.
    Denied {
        /// The stable machine code of the refusal.
        code: String,
    },
}

/// One audited decision. Identities appear only as [`PrivacyId`]s; arguments and
/// results only as SHA-256 digests of their canonical JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The request id.
    pub request_id: String,
    /// The caller's pseudonym; `None` for anonymous or unauthenticated callers.
    pub principal: Option<PrivacyId>,
    /// The caller's tenant.
    pub tenant: Option<TenantId>,
    /// How the caller authenticated (`jwt`, `api_key`, …), or `anonymous`.
    pub auth_method: String,
    /// The MCP method (`tools/call`, `tools/list`) or `http` for transport-level refusals.
    pub method: String,
    /// The tool, for tool calls.
    pub tool: Option<String>,
    /// Allowed or denied, with the code.
    #[serde(flatten)]
    pub decision: Decision,
    /// `ok`, or the error code the call ended with.
    pub outcome: String,
    /// Wall-clock duration in microseconds.
    pub duration_us: u64,
    /// SHA-256 (hex) of the canonical JSON arguments.
    pub arguments_sha256: Option<String>,
    /// SHA-256 (hex) of the canonical JSON result.
    pub result_sha256: Option<String>,
    /// Metadata the handler attached to its response.
    pub metadata: Map<String, Value>,
}

/// The audit log could not accept an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit sink unavailable: {0}")]
pub struct AuditError(pub String);

/// Where audit events go.
///
/// [`AuditSink::ready`] is asked before a tool runs: when it fails, the call is refused
/// ([`ToolError::AuditUnavailable`](crate::ToolError::AuditUnavailable)), so nothing
/// happens that cannot be recorded.
pub trait AuditSink: Send + Sync + 'static {
    /// Whether events can be accepted now.
    ///
    /// # Errors
    /// The reason the sink cannot accept events.
    fn ready(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Records one event; resolves once the sink has accepted it.
    fn record(&self, event: AuditEvent) -> BoxFuture<Result<(), AuditError>>;
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
    fn record(&self, event: AuditEvent) -> BoxFuture<Result<(), AuditError>> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event);
        Box::pin(async { Ok(()) })
    }
}

/// Discards events; the default when no sink is configured.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) -> BoxFuture<Result<(), AuditError>> {
        Box::pin(async { Ok(()) })
    }
}
