//! W3C Trace Context in and out: HTTP headers and MCP `_meta`.
//!
//! One trace spans agent → MCP server → tool when every hop takes the caller's
//! `traceparent` (and `tracestate`) as the parent of its own span and passes its own
//! span on. HTTP carries them as headers; MCP requests carry them in `params._meta`
//! under the unprefixed keys `traceparent`, `tracestate` and `baggage` (SEP-414, part of
//! the 2026-07-28 specification). A malformed value is ignored: it never fails a
//! request, and the span starts a new trace.
//!
//! ```
//! use observe::propagation::{context_from_meta, trace_id_of_context};
//!
//! let meta = serde_json::json!({
//!     "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
//! });
//! let cx = context_from_meta(meta.as_object().unwrap()).expect("a valid parent");
//! assert_eq!(trace_id_of_context(&cx).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
//! ```

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::{Map, Value};

/// The `_meta` and header keys of W3C Trace Context.
pub const TRACEPARENT: &str = "traceparent";
/// The vendor-specific companion of [`TRACEPARENT`].
pub const TRACESTATE: &str = "tracestate";

/// Whether `value` has the exact shape W3C Trace Context requires of a `traceparent`:
/// `VV-TTTTTTTT…(32)-PPPP…(16)-FF`, lower-case hex, version not `ff`, and for version
/// `00` nothing after the flags. The OpenTelemetry propagator alone accepts some
/// malformed ids (a 30-digit trace id, for one), so values are checked here first.
#[must_use]
pub fn is_well_formed_traceparent(value: &str) -> bool {
    let bytes = value.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes.get(range).is_some_and(|b| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
    };
    let dash = |i: usize| bytes.get(i) == Some(&b'-');
    let shape = hex(0..2) && dash(2) && hex(3..35) && dash(35) && hex(36..52) && dash(52) && hex(53..55);
    let version_ok = match bytes.get(0..2) {
        Some(b"ff") => false,
        Some(b"00") => bytes.len() == 55,
        // A later version may append fields after another dash.
        _ => bytes.len() == 55 || dash(55),
    };
    shape && version_ok
}

/// A carrier's `traceparent`, passed on only when well-formed.
fn checked<'a>(key: &str, value: Option<&'a str>) -> Option<&'a str> {
    value.filter(|v| key != TRACEPARENT || is_well_formed_traceparent(v))
}

struct HeaderCarrier<'a>(&'a HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        checked(key, self.0.get(key).and_then(|v| v.to_str().ok()))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderSink<'a>(&'a mut HeaderMap);

impl Injector for HeaderSink<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

struct MetaCarrier<'a>(&'a Map<String, Value>);

impl Extractor for MetaCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        checked(key, self.0.get(key).and_then(Value::as_str))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct MetaSink<'a>(&'a mut Map<String, Value>);

impl Injector for MetaSink<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

fn remote(cx: Context) -> Option<Context> {
    cx.span().span_context().is_valid().then_some(cx)
}

/// The caller's trace context from HTTP headers, when a valid `traceparent` is there.
#[must_use]
pub fn context_from_headers(headers: &HeaderMap) -> Option<Context> {
    remote(TraceContextPropagator::new().extract(&HeaderCarrier(headers)))
}

/// [`context_from_headers`] without the `Context` around it, for the HTTP layer's hot
/// path: the `traceparent` is checked by [`is_well_formed_traceparent`], then its
/// fixed-position fields are read directly (the propagator would split it into a vector
/// and allocate the context). A test holds the two to the same answers.
pub(crate) fn span_context_from_headers(headers: &HeaderMap) -> Option<SpanContext> {
    let value = headers.get(TRACEPARENT)?.to_str().ok()?;
    if !is_well_formed_traceparent(value) {
        return None;
    }
    let trace_id = TraceId::from_hex(value.get(3..35)?).ok()?;
    let span_id = SpanId::from_hex(value.get(36..52)?).ok()?;
    let flags = u8::from_str_radix(value.get(53..55)?, 16).ok()?;
    // As the propagator does: an unparsable `tracestate` is dropped, not the parent.
    let state = headers
        .get(TRACESTATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context =
        SpanContext::new(trace_id, span_id, TraceFlags::new(flags) & TraceFlags::SAMPLED, true, state);
    context.is_valid().then_some(context)
}

/// A trace id as 32 lower-case hex digits, formatted on the stack.
pub(crate) struct TraceIdHex([u8; 32]);

impl TraceIdHex {
    pub(crate) fn new(id: TraceId) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(id.to_bytes()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits were written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The caller's trace context from an MCP request's `_meta`, when a valid
/// `traceparent` is there.
#[must_use]
pub fn context_from_meta(meta: &Map<String, Value>) -> Option<Context> {
    if !meta.contains_key(TRACEPARENT) {
        return None;
    }
    remote(TraceContextPropagator::new().extract(&MetaCarrier(meta)))
}

/// The context to pass on for `span`: its own when exported, else none.
fn outgoing(span: &tracing::Span) -> Option<Context> {
    crate::export::span_context_of(span).map(|context| Context::new().with_remote_span_context(context))
}

/// Writes `span`'s trace context into outgoing HTTP headers (nothing when `span` is
/// not exported).
pub fn inject_headers(span: &tracing::Span, headers: &mut HeaderMap) {
    if let Some(cx) = outgoing(span) {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderSink(headers));
    }
}

/// Writes `span`'s trace context into an outgoing MCP request's `_meta` (nothing when
/// `span` is not exported).
pub fn inject_meta(span: &tracing::Span, meta: &mut Map<String, Value>) {
    if let Some(cx) = outgoing(span) {
        TraceContextPropagator::new().inject_context(&cx, &mut MetaSink(meta));
    }
}

/// The trace id (32 hex digits) of a context, when it has a valid span.
#[must_use]
pub fn trace_id_of_context(cx: &Context) -> Option<String> {
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id().to_string())
}

/// The trace id of a `tracing` span: its OpenTelemetry trace id when trace export is
/// installed, otherwise none.
#[must_use]
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    crate::export::span_context_of(span).map(|context| context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn only_valid_traceparents_become_parents() {
        let cases: &[(&str, bool)] = &[
            (VALID, true),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
            // All-zero trace or span ids are invalid by the W3C rules.
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
            // Version ff is forbidden; upper case and short fields are malformed.
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", false),
            ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false),
            // A later version may carry more fields after the flags.
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false),
            ("", false),
            ("garbage", false),
        ];
        for (value, valid) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(value).unwrap());
            assert_eq!(context_from_headers(&headers).is_some(), *valid, "header {value:?}");
            let meta = serde_json::json!({ TRACEPARENT: value });
            assert_eq!(context_from_meta(meta.as_object().unwrap()).is_some(), *valid, "_meta {value:?}");
        }
        assert!(context_from_headers(&HeaderMap::new()).is_none());
        let not_a_string = serde_json::json!({ TRACEPARENT: 7 });
        assert!(context_from_meta(not_a_string.as_object().unwrap()).is_none());
    }

    #[test]
    fn the_direct_header_parse_answers_as_the_propagator_does() {
        let traceparents = [
            VALID,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ];
        let tracestates = [None, Some("vendor=abc,other=x"), Some("not a valid=state="), Some("")];
        for traceparent in traceparents {
            for tracestate in tracestates {
                let mut headers = HeaderMap::new();
                headers.insert(TRACEPARENT, HeaderValue::from_str(traceparent).unwrap());
                if let Some(state) = tracestate {
                    headers.insert(TRACESTATE, HeaderValue::from_str(state).unwrap());
                }
                let expected = context_from_headers(&headers).map(|cx| cx.span().span_context().clone());
                assert_eq!(span_context_from_headers(&headers), expected, "{traceparent} / {tracestate:?}");
            }
        }
        assert_eq!(span_context_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn trace_ids_print_as_32_hex_digits() {
        for hex in [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00000000000000000000000000000001",
            "ffffffffffffffffffffffffffffffff",
        ] {
            let id = TraceId::from_hex(hex).unwrap();
            assert_eq!(TraceIdHex::new(id).as_str(), hex);
            assert_eq!(TraceIdHex::new(id).as_str(), id.to_string());
        }
    }

    #[test]
    fn the_trace_id_and_state_come_through() {
        let meta = serde_json::json!({ TRACEPARENT: VALID, TRACESTATE: "vendor=abc" });
        let cx = context_from_meta(meta.as_object().unwrap()).unwrap();
        assert_eq!(trace_id_of_context(&cx).unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let span = cx.span();
        assert_eq!(span.span_context().trace_state().get("vendor"), Some("abc"));
        assert!(span.span_context().is_remote());
    }
}
