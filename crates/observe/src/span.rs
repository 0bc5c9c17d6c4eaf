//! The tool-call span and the correlation fields it carries.
//!
//! One `tools/call` is one span, named `tools/call {tool}` as the OpenTelemetry
//! conventions for MCP name it. It carries everything that ties the request together
//! across the operator's tools:
//!
//! | field | what it joins |
//! |---|---|
//! | `request_id` | the HTTP `X-Request-ID` and the audit entry's `request_id` |
//! | `jsonrpc.request.id` | the MCP request id the client chose |
//! | `trace_id` | the trace in the collector (also on every log line in the span) |
//! | `palisade.audit.seq` | the audit entry's sequence number (`palisade audit prove SEQ`) |
//!
//! The caller appears only as a [`PrivacyId`](identity_types::PrivacyId)
//! (`enduser.pseudo.id`), the tenant only as its keyed hash.

use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use tracing::field::Empty;

use crate::http::HttpSpan;
use crate::metrics::Outcome;
use crate::propagation::{context_from_meta, trace_id_of_context};

/// What the tool-call span is opened with.
#[derive(Debug, Clone, Copy)]
pub struct ToolCallFields<'a> {
    /// The tool's name (bounded by the caller).
    pub tool: &'a str,
    /// The server's request id.
    pub request_id: &'a str,
    /// The JSON-RPC id of the MCP request, as text.
    pub jsonrpc_id: &'a str,
    /// The caller's pseudonym, when authenticated.
    pub principal: Option<&'a str>,
    /// The tenant's pseudonym, when the caller has a tenant.
    pub tenant: Option<&'a str>,
}

/// Opens the span of one tool call.
///
/// Its parent is the caller's trace context from `meta` (`params._meta.traceparent`)
/// when valid, otherwise the HTTP request's span, otherwise the current span.
#[must_use]
pub fn tool_call_span(
    fields: &ToolCallFields<'_>,
    meta: Option<&Map<String, Value>>,
    http: Option<&HttpSpan>,
) -> tracing::Span {
    let ToolCallFields { tool, request_id, jsonrpc_id, principal, tenant } = *fields;
    let parent = http.map_or_else(tracing::Span::current, |h| h.span.clone());
    // The caller's context from `_meta` decides the trace; otherwise the HTTP span's
    // trace goes on. Known before the span opens, so it is a field from the start.
    let remote = meta.and_then(context_from_meta);
    let remote_trace = remote.as_ref().and_then(trace_id_of_context);
    let trace_id = remote_trace.as_deref().or_else(|| http.and_then(|h| h.trace_id.as_deref()));
    // The request's decision, so the tool span and the HTTP span are always exported
    // together or not at all (a span the exporter cannot see would hand its events and
    // children to whichever exported span is nearest); a call without an HTTP request
    // (stdio) draws its own.
    let exported = match http {
        Some(h) => h.exported,
        None => crate::sampling::export_ratio().is_some_and(crate::sampling::draw),
    };
    macro_rules! tool_span {
        ($target:expr) => {
            tracing::info_span!(
                target: $target,
                parent: &parent,
                "mcp.tools_call",
                // Formatted only when a subscriber wants the span.
                otel.name = %format_args!("tools/call {tool}"),
                otel.kind = "server",
                mcp.method.name = "tools/call",
                gen_ai.tool.name = tool,
                jsonrpc.request.id = jsonrpc_id,
                request_id,
                enduser.pseudo.id = principal,
                palisade.tenant = tenant,
                trace_id,
                palisade.outcome = Empty,
                palisade.audit.seq = Empty,
                otel.status_code = Empty,
                error.type = Empty,
            )
        };
    }
    let span =
        if exported { tool_span!("observe::span") } else { tool_span!(crate::sampling::UNSAMPLED_TARGET) };
    if exported && !span.is_disabled() {
        if let Some(cx) = remote {
            crate::export::set_remote_parent(&span, cx.span().span_context());
        } else if trace_id.is_none()
            && let Some(id) = crate::propagation::trace_id_of(&span)
        {
            // A trace that starts here (stdio): its id is known once the span exists.
            span.record("trace_id", id.as_str());
        }
    }
    span
}

/// Whether a subscriber wants tool-call spans at all: when not, the caller can skip
/// computing their fields (a tenant pseudonym is an HMAC).
#[must_use]
pub fn tool_call_spans_enabled() -> bool {
    tracing::enabled!(kind: tracing::metadata::Kind::SPAN, target: "observe::span", tracing::Level::INFO)
        || tracing::enabled!(
            kind: tracing::metadata::Kind::SPAN,
            target: crate::sampling::UNSAMPLED_TARGET,
            tracing::Level::INFO
        )
}

/// Records how the call ended on its span: the outcome, the error code when it failed,
/// and the audit sequence number when an entry was written.
pub fn record_outcome(span: &tracing::Span, outcome: Outcome, code: &str, audit_seq: Option<u64>) {
    span.record("palisade.outcome", outcome.as_str());
    if outcome != Outcome::Ok {
        span.record("error.type", code);
        if outcome == Outcome::Error || outcome == Outcome::TimedOut {
            span.record("otel.status_code", "ERROR");
        }
    }
    if let Some(seq) = audit_seq {
        span.record("palisade.audit.seq", seq);
    }
}
