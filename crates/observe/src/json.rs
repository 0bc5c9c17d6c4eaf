//! JSON-lines log formatting that costs one pass per line.
//!
//! `tracing-subscriber`'s own JSON format stores each span's fields as a JSON object,
//! parses it back into a map for every event that prints the span, and parses and
//! re-serialises it for every `Span::record`. On the request path that was most of the
//! logging cost (measured in `cargo xtask bench observe`). Here a span's fields are kept
//! as a JSON object *body* (`"k":v,"k2":v2`): recording appends to it, and an event
//! copies it into its line as it is. The line looks like this:
//!
//! ```text
//! {"timestamp":"2026-11-25T22:43:19.123456Z","level":"INFO","target":"mcp_server::service",
//!  "message":"tool call finished","outcome":"ok",
//!  "span":{"name":"mcp.tools_call","request_id":"req-1","trace_id":"4bf9…",…}}
//! ```
//!
//! `span` is the innermost span; with `spans` the line also lists the outer ones
//! (outermost first), so a log line inside a tool call still shows the HTTP request it
//! belongs to. Fields named `otel.*` steer the OpenTelemetry layer and are left out.
//!
//! Values are scrubbed one by one *before* JSON escaping, never the finished line: a
//! scrubber then sees the text as it was (a secret after a newline is not glued to the
//! `n` of `\n`), and a replacement can never break an escape or swallow JSON structure.
//! A field whose name says it holds a credential ([`is_secret_name`](crate::scrub::is_secret_name)) is replaced whole,
//! numbers and booleans included.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::scrub::{FieldName, REDACTED, SecretScrubber, classify_field, needs_no_scan_classified};

/// Span fields as a JSON object body, appended to on `record`, each value scrubbed.
#[derive(Clone)]
pub struct JsonFields {
    scrubber: Arc<dyn SecretScrubber>,
}

/// One JSON object per event, with the current span's fields (see the module docs).
#[derive(Clone)]
pub struct JsonLines {
    scrubber: Arc<dyn SecretScrubber>,
}

impl JsonFields {
    /// Span fields scrubbed by `scrubber`.
    pub fn new(scrubber: Arc<dyn SecretScrubber>) -> Self {
        Self { scrubber }
    }
}

impl JsonLines {
    /// Lines whose values `scrubber` scrubs.
    pub fn new(scrubber: Arc<dyn SecretScrubber>) -> Self {
        Self { scrubber }
    }
}

impl fmt::Debug for JsonFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonFields")
    }
}

impl fmt::Debug for JsonLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonLines")
    }
}

/// Writes `text` as a JSON string, quotes included (RFC 8259 escaping).
pub(crate) fn write_json_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    // Most values (ids, names, codes) need no escape: one check over the bytes, in
    // blocks without an early exit so that it compiles to vector instructions, then
    // the text in one write. (This function ran for every field of every line and
    // was the formatter's largest cost, byte by byte.)
    let plain = text
        .as_bytes()
        .chunks(16)
        .all(|block| !block.iter().fold(false, |hit, &b| hit | (b < 0x20) | (b == b'"') | (b == b'\\')));
    if plain {
        out.write_str("\"")?;
        out.write_str(text)?;
        return out.write_str("\"");
    }
    out.write_str("\"")?;
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.write_str(&text[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_str(escape)?;
        }
        start = i + 1;
    }
    out.write_str(&text[start..])?;
    out.write_str("\"")
}

/// The keys every line has; event fields may not take them.
const RESERVED_KEYS: &[&str] = &["timestamp", "level", "target", "span", "spans"];

/// Writes fields as `"name":value` pairs, comma-separated, skipping `otel.*`; every
/// string is scrubbed before it is escaped.
struct PairVisitor<'a, W: fmt::Write> {
    out: &'a mut W,
    scrubber: &'a dyn SecretScrubber,
    /// Whether a pair has been written (a comma goes before the next).
    any: bool,
    /// The event's `message`, kept aside so it can lead the line.
    message: Option<&'a mut String>,
    result: fmt::Result,
}

impl<W: fmt::Write> PairVisitor<'_, W> {
    /// Writes the key; false when the field is skipped or writing failed.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name.starts_with("otel.") || self.result.is_err() {
            return false;
        }
        if self.any {
            self.result = self.out.write_str(",");
        }
        self.any = true;
        // An event field named like one of the line's own keys is written as
        // `field.NAME`: it cannot shadow the real level or timestamp for a parser that
        // keeps the last of two equal keys.
        let reserved = self.message.is_some() && RESERVED_KEYS.contains(&name);
        self.result = self
            .result
            .and_then(|()| {
                if reserved {
                    write_json_str(self.out, &format!("field.{name}"))
                } else {
                    write_json_str(self.out, name)
                }
            })
            .and_then(|()| self.out.write_str(":"));
        self.result.is_ok()
    }

    /// A non-string value, unless the name says it is a credential.
    fn raw(&mut self, field: &Field, value: impl fmt::Display) {
        if self.key(field) {
            self.result = if classify_field(field.name()) == FieldName::Secret {
                write_json_str(self.out, REDACTED)
            } else {
                write!(self.out, "{value}")
            };
        }
    }

    fn text(&mut self, field: &Field, value: &str) {
        if !self.key(field) {
            return;
        }
        let class = classify_field(field.name());
        self.result = if class == FieldName::Secret {
            write_json_str(self.out, REDACTED)
        } else if needs_no_scan_classified(class, value) {
            write_json_str(self.out, value)
        } else {
            write_json_str(self.out, &self.scrubber.scrub(value))
        };
    }
}

impl<W: fmt::Write> Visit for PairVisitor<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message"
            && let Some(message) = self.message.as_deref_mut()
        {
            message.push_str(value);
            return;
        }
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message"
            && let Some(message) = self.message.as_deref_mut()
        {
            let _ = write!(message, "{value:?}");
            return;
        }
        let text = format!("{value:?}");
        self.text(field, &text);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, value);
        } else {
            // JSON has no NaN or infinity: say it as text.
            self.text(field, &value.to_string());
        }
    }
}

thread_local! {
    /// Where a new span's fields are rendered before going into its (empty) storage in
    /// one piece: written there field by field, the storage would be reallocated half a
    /// dozen times per span, and on a busy server every allocation contends with the
    /// span exporter's thread.
    static SPAN_FIELDS: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
}

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        SPAN_FIELDS.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                let mut visitor = PairVisitor {
                    out: &mut *buffer,
                    scrubber: &*self.scrubber,
                    any: false,
                    message: None,
                    result: Ok(()),
                };
                fields.record(&mut visitor);
                visitor.result?;
                writer.write_str(&buffer)
            }
            // Re-entered (a field's Debug opened a span): write directly.
            Err(_) => {
                let mut visitor = PairVisitor {
                    out: &mut writer,
                    scrubber: &*self.scrubber,
                    any: false,
                    message: None,
                    result: Ok(()),
                };
                fields.record(&mut visitor);
                visitor.result
            }
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let any = !current.fields.is_empty();
        current.fields.reserve(64);
        let mut visitor = PairVisitor {
            out: &mut current.fields,
            scrubber: &*self.scrubber,
            any,
            message: None,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"target\":", meta.level())?;
        write_json_str(&mut writer, meta.target())?;

        let mut fields = String::with_capacity(256);
        let mut message = String::with_capacity(64);
        let mut visitor = PairVisitor {
            out: &mut fields,
            scrubber: &*self.scrubber,
            any: false,
            message: Some(&mut message),
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_str(",\"message\":")?;
        write_json_str(&mut writer, &self.scrubber.scrub(&message))?;
        if !fields.is_empty() {
            writer.write_char(',')?;
            writer.write_str(&fields)?;
        }

        if let Some(scope) = ctx.event_scope() {
            let mut spans = scope.from_root().peekable();
            let mut outer = Vec::new();
            while let Some(span) = spans.next() {
                if spans.peek().is_some() {
                    outer.push(span);
                    continue;
                }
                writer.write_str(",\"span\":{\"name\":")?;
                write_json_str(&mut writer, span.name())?;
                write_span_fields(&mut writer, &span)?;
                writer.write_char('}')?;
            }
            if !outer.is_empty() {
                writer.write_str(",\"spans\":[")?;
                for (i, span) in outer.iter().enumerate() {
                    if i > 0 {
                        writer.write_char(',')?;
                    }
                    writer.write_str("{\"name\":")?;
                    write_json_str(&mut writer, span.name())?;
                    write_span_fields(&mut writer, span)?;
                    writer.write_char('}')?;
                }
                writer.write_char(']')?;
            }
        }
        writer.write_str("}\n")
    }
}

fn write_span_fields<S>(
    writer: &mut Writer<'_>,
    span: &tracing_subscriber::registry::SpanRef<'_, S>,
) -> fmt::Result
where
    S: for<'a> LookupSpan<'a>,
{
    let extensions = span.extensions();
    if let Some(fields) = extensions.get::<FormattedFields<JsonFields>>()
        && !fields.fields.is_empty()
    {
        writer.write_char(',')?;
        writer.write_str(&fields.fields)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        for text in [
            "plain",
            "",
            "quote \" and \\ backslash",
            "line\nbreak\ttab\r",
            "\u{0}\u{1f}bell\u{7}",
            "ünï ✓",
            "delete \u{7f} needs no escape",
            // The escape check works in 16-byte blocks: escapes at and around the edges.
            "0123456789abcdef",
            "0123456789abcde\"",
            "0123456789abcdef\"",
            "0123456789abcdef0123456789abcdef\\",
            "0123456789abcdef0123456789abcde\n0",
        ] {
            let mut out = String::new();
            write_json_str(&mut out, text).unwrap();
            let back: String = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(back, text);
        }
    }

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

    #[test]
    fn lines_parse_and_carry_the_span_fields_as_recorded() {
        let capture = Capture::default();
        let sink = capture.clone();
        let scrubber: Arc<dyn SecretScrubber> = Arc::new(crate::BuiltinScrubber::new());
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new(Arc::clone(&scrubber)))
            .event_format(JsonLines::new(Arc::clone(&scrubber)))
            .with_writer(move || sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let outer =
                tracing::info_span!("http.request", otel.name = "POST", request_id = tracing::field::Empty);
            let _outer = outer.enter();
            outer.record("request_id", "req-\"1\"");
            let inner = tracing::info_span!("mcp.tools_call", tool = "get", seq = tracing::field::Empty);
            inner.record("seq", 7_u64);
            let _inner = inner.enter();
            tracing::info!(
                outcome = "ok",
                ratio = 0.5,
                huge = f64::INFINITY,
                ok = true,
                n = -3_i64,
                "tool call {}",
                "finished"
            );
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new(Arc::clone(&scrubber)))
                    .event_format(JsonLines::new(Arc::clone(&scrubber)))
                    .with_writer({
                        let sink = capture.clone();
                        move || sink.clone()
                    }),
            ),
            || {
                tracing::warn!(value = ?Some(1), "outside any span");
                // Hostile: a secret after a newline, credentials under secret names (a
                // number, a boolean, a value with spaces), a forged trusted field.
                tracing::warn!(
                    password = "correct horse battery",
                    has_api_key = true,
                    pin_token = 1234_u64,
                    level = "DEBUG",
                    trace_id = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl",
                    "upstream said:\neyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl and Bearer abcdef123456"
                );
            },
        );

        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "tool call finished");
        assert_eq!(line["outcome"], "ok");
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["huge"], "inf");
        assert_eq!(line["ok"], true);
        assert_eq!(line["n"], -3);
        assert_eq!(line["span"], serde_json::json!({"name": "mcp.tools_call", "tool": "get", "seq": 7}));
        assert_eq!(line["spans"], serde_json::json!([{"name": "http.request", "request_id": "req-\"1\""}]));
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["message"], "outside any span");
        assert_eq!(lines[1]["value"], "Some(1)");
        assert!(lines[1].get("span").is_none());
        let hostile = &lines[2];
        assert_eq!(hostile["password"], REDACTED);
        assert_eq!(hostile["has_api_key"], REDACTED);
        assert_eq!(hostile["pin_token"], REDACTED);
        assert_eq!(hostile["level"], "WARN", "an event field cannot shadow the level");
        assert_eq!(hostile["field.level"], "DEBUG");
        assert!(
            !text.contains("eyJzdWIi") && !text.contains("horse") && !text.contains("abcdef123456"),
            "{text}"
        );
        assert_eq!(hostile["message"], "upstream said:\n[REDACTED] and Bearer [REDACTED]");
    }
}
