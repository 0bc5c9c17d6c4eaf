//! [`ToolError`]: why a tool call failed, as the caller sees it.

use std::time::Duration;

use identity_types::{ErrorClass, ErrorCode};
use mcp_guards::{Denial, DenialDetail};
use serde_json::{Value, json};

/// A failed tool call. Each variant has a stable machine code; the server turns it into
/// an MCP tool error (`isError: true`) whose structured content is
/// `{"error": {"code": …, "message": …}}`, so a model can read why and a client can
/// match on the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The thing asked for does not exist, or the caller may not know it exists (another
    /// tenant's record looks exactly like a missing one).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. cancelling a shipped order).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A guard or policy refused the call.
    #[error("{}", .0.public_message(DenialDetail::Named))]
    Denied(Denial),
    /// The tool needs approval: an approver must grant the named request, and the call be
    /// retried with the grant in `_meta["dev.palisade/approval"]`.
    #[error(
        "this call needs approval: ask an approver to grant request {approval_id}, then retry with the grant in _meta[\"dev.palisade/approval\"]"
    )]
    ApprovalRequired {
        /// The approval request to grant.
        approval_id: String,
    },
    /// The tool needs an authenticated caller.
    #[error("authentication is required")]
    Unauthenticated,
    /// The caller exceeded its rate limit.
    #[error("rate limit exceeded; retry after {} ms", retry_after.as_millis())]
    RateLimited {
        /// When the next call would be admitted.
        retry_after: Duration,
    },
    /// Too many calls are in flight (for this caller or in total).
    #[error("too many concurrent calls; retry shortly")]
    Overloaded,
    /// The call did not finish in time. It may still have had effects.
    #[error("the call timed out after {} ms; its outcome is unknown", after.as_millis())]
    Timeout {
        /// The configured timeout.
        after: Duration,
    },
    /// The call was cancelled by the client or by shutdown.
    #[error("the call was cancelled")]
    Cancelled,
    /// The tool's circuit breaker is open after repeated failures; nothing was run.
    #[error("the tool is failing and temporarily unavailable; retry after {} ms", retry_after.as_millis())]
    Unavailable {
        /// When the next trial call will be let through.
        retry_after: Duration,
    },
    /// The tool ran, but the server's content policy withheld its result (an injection
    /// attempt in the data, a credential that must not leave): see the audit entry.
    #[error("the tool ran, but its result was withheld by the server's content policy")]
    ResultWithheld,
    /// The audit log could not record the call, so it was refused (fail closed).
    #[error("the call was refused because it could not be audited")]
    AuditUnavailable,
    /// Something failed inside the server. The message says only that; details go to
    /// the server's log under the request id.
    #[error("internal error (request {request_id})")]
    Internal {
        /// The request id to quote to the operator.
        request_id: String,
    },
}

impl ToolError {
    /// The error's structured content.
    #[must_use]
    pub fn to_json(&self, detail: DenialDetail) -> Value {
        let message = match self {
            Self::Denied(denial) => denial.public_message(detail),
            other => other.to_string(),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        match self {
            Self::ApprovalRequired { approval_id } => error["approval_id"] = json!(approval_id),
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after } => {
                error["retry_after_ms"] = json!(retry_after.as_millis() as u64)
            }
            Self::Denied(denial) => {
                if let Some(retry) = denial.retry_after() {
                    error["retry_after_ms"] = json!(retry.as_millis() as u64);
                }
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

impl ErrorCode for ToolError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Unauthenticated => ErrorClass::Unauthenticated,
            Self::Denied(denial) => denial.class(),
            Self::InvalidArguments(_) => ErrorClass::InvalidInput,
            _ => ErrorClass::AccessDenied,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Denied(denial) => denial.code().as_str(),
            Self::ApprovalRequired { .. } => "approval_required",
            Self::Unauthenticated => "unauthenticated",
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Timeout { .. } => "timeout",
            Self::Cancelled => "cancelled",
            Self::Unavailable { .. } => "unavailable",
            Self::ResultWithheld => "result_withheld",
            Self::AuditUnavailable => "audit_unavailable",
            Self::Internal { .. } => "internal_error",
        }
    }
}

impl From<Denial> for ToolError {
    fn from(denial: Denial) -> Self {
        Self::Denied(denial)
    }
}
