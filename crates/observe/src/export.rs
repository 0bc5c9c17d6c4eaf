//! Span export: from `tracing` spans to OTLP, with as little as possible on the request path.
//!
//! The server opens two kinds of exported span per request (the HTTP span and the
//! tool-call span, see [`crate::span`]). The export layer records each one's ids, times,
//! name and fields into a small buffer kept with the span; when the span closes, that
//! buffer is copied into a shared batch under a short lock. A worker thread swaps the
//! batch out, builds the OpenTelemetry [`SpanData`] and hands it to the exporter.
//!
//! Why not the `tracing-opentelemetry` bridge: it builds a full OpenTelemetry span beside
//! every `tracing` span, with one allocation per attribute, and the exporter's thread
//! frees them, so the request thread and the exporter's thread contend in the allocator.
//! `cargo xtask bench observe` measured that at more than twice the 5 µs budget per call.
//! Here, everything the request thread allocates for a span (the buffer, its field
//! list) is freed by the request thread, and everything the exporter needs is allocated
//! on the exporter's thread. The batch's own buffers are reused from one export to the
//! next.
//!
//! What a span carries, as the bridge did:
//! - its name: `otel.name` when recorded, otherwise the span's name;
//! - its kind from `otel.kind` (`server`, `client`, `producer`, `consumer`, `internal`);
//! - its status from `otel.status_code` (`ERROR` or `OK`) and `otel.status_description`;
//! - every other field as an attribute (a field recorded twice keeps its last value);
//! - the events (`WARN` and `ERROR` only) that happened inside
//!   it, named by their message, with `level`, `target` and their fields as attributes.
//!
//! - an `ERROR` event inside a span marks it failed (status `ERROR`) unless
//!   `otel.status_code` said otherwise;
//! - at most 128 attributes, 128 events and 64 KiB of field text per span (later ones
//!   are counted as dropped, as OpenTelemetry's span limits do).
//!
//! Unlike the bridge, a span ends when it closes (its last handle is dropped), not at
//! its last exit; `follows_from` links and the bridge's `exception` event for `error`
//! fields are not produced.
//!
//! The parent is the nearest exported span above it (explicit parent first, else the
//! current span), or a caller's context set with [`set_remote_parent`]; a span with
//! neither starts a trace. Export is lossy under overload, as OpenTelemetry's own batch
//! processor is: when the queue holds 8,192 finished spans, further spans are
//! counted and dropped, and the count is logged.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, SpanData, SpanEvents, SpanExporter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// How much the export queue holds and how often it is emptied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Finished spans held at most; beyond this, spans are dropped and counted.
    pub(crate) max_queue: usize,
    /// Spans per export request; reaching it wakes the worker early.
    pub(crate) max_batch: usize,
    /// The longest a finished span waits before it is exported.
    pub(crate) delay: Duration,
}

impl Default for Limits {
    /// OpenTelemetry's batch defaults, with a larger queue: the server opens two spans
    /// per request and can finish tens of thousands of requests a second.
    fn default() -> Self {
        Self { max_queue: 8_192, max_batch: 512, delay: Duration::from_secs(5) }
    }
}

/// Events kept per span; later ones are counted as dropped (OpenTelemetry's default
/// span limit).
const MAX_EVENTS: usize = 128;
/// Attributes kept per span or event; later ones are counted as dropped.
const MAX_ATTRIBUTES: usize = 128;
/// Text kept per span; fields recorded beyond it are counted as dropped attributes. A
/// long-lived span that records a field over and over keeps its earlier values' text.
const MAX_SPAN_TEXT: usize = 64 * 1024;

/// A field's value, with text kept in the owning buffer's `text`.
#[derive(Debug, Clone, Copy)]
enum FieldValue {
    Text(usize, usize),
    I64(i64),
    F64(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy)]
struct FieldEntry {
    key: &'static str,
    value: FieldValue,
}

#[derive(Debug, Clone, Copy)]
enum Name {
    Static(&'static str),
    Text(usize, usize),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

/// An event recorded inside a span; its fields are in the owner's `event_fields`.
#[derive(Debug, Clone)]
struct EventRecord {
    time: SystemTime,
    name: Name,
    fields: Range<usize>,
}

/// Where a span sits in its trace.
#[derive(Debug, Clone)]
struct Ids {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    trace_state: Option<TraceState>,
}

/// What is recorded while a span is open, kept in the span's extensions.
#[derive(Debug)]
struct LiveSpan {
    ids: Ids,
    start: SystemTime,
    name: Name,
    kind: SpanKind,
    status: StatusCode,
    status_description: Option<(usize, usize)>,
    text: String,
    fields: Vec<FieldEntry>,
    events: Vec<EventRecord>,
    event_fields: Vec<FieldEntry>,
    dropped_attributes: u32,
    dropped_events: u32,
}

impl Ids {
    /// The span's own context (every span recorded here is exported: sampled).
    fn span_context(&self) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            TraceFlags::SAMPLED,
            false,
            self.trace_state.clone().unwrap_or_default(),
        )
    }
}

impl LiveSpan {
    /// A recorder of span fields into this span's buffer.
    fn recorder(&mut self) -> Recorder<'_> {
        Recorder {
            text: &mut self.text,
            fields: &mut self.fields,
            dropped: Some(&mut self.dropped_attributes),
            special: Some(Special {
                name: &mut self.name,
                kind: &mut self.kind,
                status: &mut self.status,
                status_description: &mut self.status_description,
            }),
            message: None,
        }
    }
}

/// Writes visited fields into a span's buffer: span fields (`special` on), or an
/// event's fields (then the message names the event).
struct Recorder<'a> {
    text: &'a mut String,
    fields: &'a mut Vec<FieldEntry>,
    /// Counts fields not kept (past [`MAX_ATTRIBUTES`] or [`MAX_SPAN_TEXT`]).
    dropped: Option<&'a mut u32>,
    special: Option<Special<'a>>,
    message: Option<&'a mut Option<Name>>,
}

/// The span-level fields that are not attributes.
struct Special<'a> {
    name: &'a mut Name,
    kind: &'a mut SpanKind,
    status: &'a mut StatusCode,
    status_description: &'a mut Option<(usize, usize)>,
}

impl Recorder<'_> {
    fn push_text(&mut self, write: impl FnOnce(&mut String)) -> (usize, usize) {
        let start = self.text.len();
        write(self.text);
        (start, self.text.len())
    }

    fn set(&mut self, key: &'static str, value: FieldValue) {
        // A field recorded again (a span's outcome, its trace id) keeps its last value;
        // text of the earlier one stays in the buffer, unreferenced.
        if let Some(entry) = self.fields.iter_mut().find(|e| e.key == key) {
            entry.value = value;
        } else if self.fields.len() < MAX_ATTRIBUTES {
            self.fields.push(FieldEntry { key, value });
        } else {
            self.drop_one();
        }
    }

    fn drop_one(&mut self) {
        if let Some(dropped) = self.dropped.as_deref_mut() {
            *dropped = dropped.saturating_add(1);
        }
    }

    fn text_field(&mut self, field: &Field, write: impl FnOnce(&mut String)) {
        let key = field.name();
        if let Some(special) = self.special.as_mut() {
            match key {
                "otel.name" => {
                    let start = self.text.len();
                    write(self.text);
                    *special.name = Name::Text(start, self.text.len());
                    return;
                }
                "otel.kind" | "otel.status_code" => {
                    // Compared, not kept.
                    let start = self.text.len();
                    write(self.text);
                    let value = &self.text[start..];
                    let is = |word: &str| value.eq_ignore_ascii_case(word);
                    if key == "otel.kind" {
                        *special.kind = if is("server") {
                            SpanKind::Server
                        } else if is("client") {
                            SpanKind::Client
                        } else if is("producer") {
                            SpanKind::Producer
                        } else if is("consumer") {
                            SpanKind::Consumer
                        } else {
                            SpanKind::Internal
                        };
                    } else {
                        *special.status = if is("error") {
                            StatusCode::Error
                        } else if is("ok") {
                            StatusCode::Ok
                        } else {
                            StatusCode::Unset
                        };
                    }
                    self.text.truncate(start);
                    return;
                }
                "otel.status_description" => {
                    let start = self.text.len();
                    write(self.text);
                    *special.status_description = Some((start, self.text.len()));
                    return;
                }
                _ => {}
            }
        }
        if key == "message"
            && let Some(message) = self.message.as_mut()
        {
            let start = self.text.len();
            write(self.text);
            **message = Some(Name::Text(start, self.text.len()));
            return;
        }
        if self.text.len() >= MAX_SPAN_TEXT {
            self.drop_one();
            return;
        }
        let (start, end) = self.push_text(write);
        self.set(key, FieldValue::Text(start, end));
    }
}

impl Visit for Recorder<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text_field(field, |text| text.push_str(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` fields arrive here as a Debug that prints their Display.
        self.text_field(field, |text| {
            let _ = write!(text, "{value:?}");
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text_field(field, |text| {
            let _ = write!(text, "{value}");
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.set(field.name(), FieldValue::I64(value)),
            // OTLP integers are signed: larger values travel as text.
            Err(_) => self.text_field(field, |text| {
                let _ = write!(text, "{value}");
            }),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), FieldValue::Bool(value));
    }
}

/// A finished span in the shared batch; ranges index the batch's vectors.
#[derive(Debug)]
struct FinishedSpan {
    ids: Ids,
    start: SystemTime,
    end: SystemTime,
    name: Name,
    kind: SpanKind,
    status: StatusCode,
    status_description: Option<(usize, usize)>,
    fields: Range<usize>,
    events: Range<usize>,
    dropped_attributes: u32,
    dropped_events: u32,
}

/// Finished spans waiting for export: flat vectors, so that appending a span copies
/// into capacity kept from earlier batches instead of allocating.
#[derive(Debug, Default)]
struct Batch {
    spans: Vec<FinishedSpan>,
    fields: Vec<FieldEntry>,
    events: Vec<EventRecord>,
    text: String,
}

fn shift_name(name: Name, by: usize) -> Name {
    match name {
        Name::Text(start, end) => Name::Text(start + by, end + by),
        name @ Name::Static(_) => name,
    }
}

impl FieldEntry {
    /// The same field with its text `by` bytes further on (copied into a larger buffer).
    fn shifted(self, by: usize) -> Self {
        let value = match self.value {
            FieldValue::Text(start, end) => FieldValue::Text(start + by, end + by),
            other => other,
        };
        Self { key: self.key, value }
    }
}

impl Batch {
    fn append(&mut self, live: &LiveSpan, end: SystemTime) {
        let by = self.text.len();
        self.text.push_str(&live.text);
        let fields_start = self.fields.len();
        self.fields.extend(live.fields.iter().map(|f| f.shifted(by)));
        let fields = fields_start..self.fields.len();
        let event_fields_at = self.fields.len();
        self.fields.extend(live.event_fields.iter().map(|f| f.shifted(by)));
        let events_start = self.events.len();
        self.events.extend(live.events.iter().map(|e| EventRecord {
            time: e.time,
            name: shift_name(e.name, by),
            fields: e.fields.start + event_fields_at..e.fields.end + event_fields_at,
        }));
        self.spans.push(FinishedSpan {
            ids: live.ids.clone(),
            start: live.start,
            end,
            name: shift_name(live.name, by),
            kind: live.kind.clone(),
            status: live.status,
            status_description: live.status_description.map(|(s, e)| (s + by, e + by)),
            fields,
            events: events_start..self.events.len(),
            dropped_attributes: live.dropped_attributes,
            dropped_events: live.dropped_events,
        });
    }

    /// Empties the batch, keeping the capacity a typical batch needs (a burst's peak is
    /// given back).
    fn clear(&mut self, keep_spans: usize) {
        self.spans.clear();
        self.fields.clear();
        self.events.clear();
        self.text.clear();
        self.spans.shrink_to(keep_spans);
        self.fields.shrink_to(keep_spans * 16);
        self.events.shrink_to(keep_spans);
        self.text.shrink_to(keep_spans * 512);
    }

    fn text_of(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn name(&self, name: Name) -> Cow<'static, str> {
        match name {
            Name::Static(name) => Cow::Borrowed(name),
            Name::Text(start, end) => Cow::Owned(self.text_of(start, end).to_owned()),
        }
    }

    fn key_values(&self, fields: Range<usize>) -> Vec<KeyValue> {
        self.fields
            .get(fields)
            .unwrap_or_default()
            .iter()
            .map(|f| {
                let value = match f.value {
                    FieldValue::Text(start, end) => {
                        Value::String(StringValue::from(self.text_of(start, end).to_owned()))
                    }
                    FieldValue::I64(v) => Value::I64(v),
                    FieldValue::F64(v) => Value::F64(v),
                    FieldValue::Bool(v) => Value::Bool(v),
                };
                KeyValue::new(Key::from_static_str(f.key), value)
            })
            .collect()
    }

    /// The OpenTelemetry form of one finished span (on the exporter's thread).
    fn span_data(&self, span: &FinishedSpan, scope: &InstrumentationScope) -> SpanData {
        let mut events = SpanEvents::default();
        events.dropped_count = span.dropped_events;
        events.events = self
            .events
            .get(span.events.clone())
            .unwrap_or_default()
            .iter()
            .map(|e| Event::new(self.name(e.name), e.time, self.key_values(e.fields.clone()), 0))
            .collect();
        let status = match span.status {
            StatusCode::Unset => Status::Unset,
            StatusCode::Ok => Status::Ok,
            StatusCode::Error => Status::error(
                span.status_description.map(|(s, e)| self.text_of(s, e).to_owned()).unwrap_or_default(),
            ),
        };
        SpanData {
            span_context: span.ids.span_context(),
            parent_span_id: span.ids.parent_span_id,
            parent_span_is_remote: span.ids.parent_is_remote,
            span_kind: span.kind.clone(),
            name: self.name(span.name),
            start_time: span.start,
            end_time: span.end,
            attributes: self.key_values(span.fields.clone()),
            dropped_attributes_count: span.dropped_attributes,
            events,
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    batch: Batch,
    dropped: u64,
    flush_wanted: u64,
    flush_done: u64,
    closing: bool,
    /// The worker has returned (or panicked): nothing will be exported any more.
    finished: bool,
}

/// The batch shared between request threads and the export worker.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the worker: a full batch, a flush, shutdown.
    wake: Condvar,
    /// Wakes flushers: an export finished.
    done: Condvar,
    limits: Limits,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // The state stays consistent across a panic (appends are plain copies).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, live: &LiveSpan, end: SystemTime) {
        let mut state = self.lock();
        if state.closing || state.finished {
            return;
        }
        if state.batch.spans.len() >= self.limits.max_queue {
            state.dropped += 1;
            return;
        }
        state.batch.append(live, end);
        let full = state.batch.spans.len() == self.limits.max_batch;
        drop(state);
        if full {
            self.wake.notify_one();
        }
    }
}

/// The `tracing` layer that records exported spans (see the module docs).
#[derive(Debug)]
pub(crate) struct ExportLayer {
    queue: Arc<Queue>,
}

/// The ids of the nearest exported span at or above `span`.
fn nearest_exported<S>(span: tracing_subscriber::registry::SpanRef<'_, S>) -> Option<Ids>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span.scope().find_map(|span| span.extensions().get::<LiveSpan>().map(|live| live.ids.clone()))
}

/// Whether a span is exported: everything but the spans of dropped traces
/// ([`crate::sampling::UNSAMPLED_TARGET`]). Checked in the layer rather than through a
/// per-layer filter, whose bookkeeping on every span and event cost more than the
/// check (`cargo xtask bench observe`).
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() != crate::sampling::UNSAMPLED_TARGET
}

impl<S> Layer<S> for ExportLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !exported(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let parent = if let Some(parent) = attrs.parent() {
            ctx.span(parent).and_then(nearest_exported)
        } else if attrs.is_contextual() {
            ctx.lookup_current().and_then(nearest_exported)
        } else {
            None
        };
        let generator = RandomIdGenerator::default();
        let ids = match parent {
            Some(parent) => Ids {
                trace_id: parent.trace_id,
                span_id: generator.new_span_id(),
                parent_span_id: parent.span_id,
                parent_is_remote: false,
                trace_state: parent.trace_state,
            },
            None => Ids {
                trace_id: generator.new_trace_id(),
                span_id: generator.new_span_id(),
                parent_span_id: SpanId::INVALID,
                parent_is_remote: false,
                trace_state: None,
            },
        };
        let field_count = attrs.metadata().fields().len();
        let mut live = LiveSpan {
            ids,
            start: SystemTime::now(),
            name: Name::Static(attrs.metadata().name()),
            kind: SpanKind::Internal,
            status: StatusCode::Unset,
            status_description: None,
            text: String::with_capacity(256),
            fields: Vec::with_capacity(field_count),
            events: Vec::new(),
            event_fields: Vec::new(),
            dropped_attributes: 0,
            dropped_events: 0,
        };
        attrs.record(&mut live.recorder());
        span.extensions_mut().insert(live);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(live) = extensions.get_mut::<LiveSpan>() else { return };
        values.record(&mut live.recorder());
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        // Warnings and errors become span events; routine events stay in the logs (the
        // span's own fields already say how the call ended).
        if *event.metadata().level() > tracing::Level::WARN || !exported(event.metadata()) {
            return;
        }
        let Some(span) = ctx
            .event_span(event)
            .and_then(|span| span.scope().find(|span| span.extensions().get::<LiveSpan>().is_some()))
        else {
            return;
        };
        let metadata = event.metadata();
        // Recorded before the span's lock is taken: a field's `Debug` may itself log or
        // open spans, which would need that lock on this thread.
        let mut text = String::new();
        let mut own = Vec::with_capacity(metadata.fields().len() + 2);
        let mut message = None;
        event.record(&mut Recorder {
            text: &mut text,
            fields: &mut own,
            dropped: None,
            special: None,
            message: Some(&mut message),
        });
        for (key, value) in [("level", metadata.level().as_str()), ("target", metadata.target())] {
            let at = text.len();
            text.push_str(value);
            own.push(FieldEntry { key, value: FieldValue::Text(at, text.len()) });
        }
        let time = SystemTime::now();
        let mut extensions = span.extensions_mut();
        let Some(live) = extensions.get_mut::<LiveSpan>() else { return };
        // An error inside a span marks it failed unless it says otherwise.
        if *metadata.level() == tracing::Level::ERROR && live.status == StatusCode::Unset {
            live.status = StatusCode::Error;
        }
        if live.events.len() >= MAX_EVENTS {
            live.dropped_events += 1;
            return;
        }
        let by = live.text.len();
        live.text.push_str(&text);
        let start = live.event_fields.len();
        live.event_fields.extend(own.iter().take(MAX_ATTRIBUTES).map(|f| f.shifted(by)));
        live.events.push(EventRecord {
            time,
            name: message.map_or(Name::Static(metadata.name()), |name| shift_name(name, by)),
            fields: start..live.event_fields.len(),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let live = span.extensions_mut().remove::<LiveSpan>();
        if let Some(live) = live {
            self.queue.push(&live, SystemTime::now());
        }
    }
}

/// Reads the recorded state of `span`, when it is exported.
fn read_live<R>(span: &tracing::Span, f: impl FnOnce(&LiveSpan) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let extensions = data.extensions();
        extensions.get::<LiveSpan>().map(f)
    })
    .flatten()
}

/// Runs `f` on the recorded state of `span`, when it is exported.
fn with_live<R>(span: &tracing::Span, f: impl FnOnce(&mut LiveSpan) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        extensions.get_mut::<LiveSpan>().map(f)
    })
    .flatten()
}

/// The OpenTelemetry context of an exported span; `None` when the span is not exported
/// (disabled, unsampled, or no export installed).
#[must_use]
pub fn span_context_of(span: &tracing::Span) -> Option<SpanContext> {
    read_live(span, |live| live.ids.span_context())
}

/// Makes a caller's span (from `traceparent`) the parent of `span`: `span` joins the
/// caller's trace. Call it right after opening `span`, before anything opens under it.
/// Returns whether `span` is exported (otherwise nothing changes).
pub fn set_remote_parent(span: &tracing::Span, parent: &SpanContext) -> bool {
    if !parent.is_valid() {
        return false;
    }
    with_live(span, |live| {
        live.ids.trace_id = parent.trace_id();
        live.ids.parent_span_id = parent.span_id();
        live.ids.parent_is_remote = parent.is_remote();
        let state = parent.trace_state();
        live.ids.trace_state = (*state != TraceState::NONE).then(|| state.clone());
    })
    .is_some()
}

/// The export worker and the queue it drains; [`crate::TelemetryGuard`] owns it.
#[derive(Debug)]
pub(crate) struct Pipeline {
    queue: Arc<Queue>,
    worker: Option<JoinHandle<()>>,
    /// How long [`Pipeline::flush`] waits for an export.
    flush_wait: Duration,
}

impl Pipeline {
    /// Starts the worker thread that exports through `exporter`.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        limits: Limits,
        flush_wait: Duration,
    ) -> std::io::Result<(Self, ExportLayer)> {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            limits,
        });
        let scope = InstrumentationScope::builder("palisade").build();
        let worker = {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("palisade-span-export".into())
                .spawn(move || export_worker(&queue, &exporter, &scope))?
        };
        Ok((Self { queue: Arc::clone(&queue), worker: Some(worker), flush_wait }, ExportLayer { queue }))
    }

    /// Exports every span finished so far; returns once the exporter answered, or after
    /// the flush wait.
    pub(crate) fn flush(&self) -> bool {
        let mut state = self.queue.lock();
        state.flush_wanted += 1;
        let ticket = state.flush_wanted;
        self.queue.wake.notify_one();
        let state = self
            .queue
            .done
            .wait_timeout_while(state, self.flush_wait, |state| state.flush_done < ticket && !state.finished)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        state.flush_done >= ticket
    }
}

impl Drop for Pipeline {
    /// Exports what is queued, shuts the exporter down and joins the worker.
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.closing = true;
        self.queue.wake.notify_one();
        // Bounded: a collector that never answers must not hold the process at exit.
        // The worker gives up after its first failed export once closing (see
        // `export_worker`); past this wait it is left to finish on its own.
        let state = self
            .queue
            .done
            .wait_timeout_while(state, self.flush_wait.saturating_mul(2), |state| !state.finished)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let finished = state.finished;
        drop(state);
        if let Some(worker) = self.worker.take()
            && finished
        {
            let _ = worker.join();
        }
    }
}

/// At most one warning about failed exports per this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Marks the queue finished when the worker returns or unwinds, so that flushes and
/// shutdown stop waiting and later spans are not queued.
struct Finished<'a>(&'a Queue);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        self.0.done.notify_all();
    }
}

fn export_worker<E: SpanExporter>(queue: &Queue, exporter: &E, scope: &InstrumentationScope) {
    let _finished = Finished(queue);
    let limits = queue.limits;
    let mut spare = Batch::default();
    let mut last_warning: Option<Instant> = None;
    let mut failed = 0_u64;
    let mut dropped = 0_u64;
    loop {
        let (ticket, closing) = {
            let state = queue.lock();
            let mut state = queue
                .wake
                .wait_timeout_while(state, limits.delay, |state| {
                    !state.closing
                        && state.flush_wanted <= state.flush_done
                        && state.batch.spans.len() < limits.max_batch
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            std::mem::swap(&mut state.batch, &mut spare);
            dropped += std::mem::take(&mut state.dropped);
            (state.flush_wanted, state.closing)
        };
        for chunk in spare.spans.chunks(limits.max_batch.max(1)) {
            let data: Vec<SpanData> = chunk.iter().map(|span| spare.span_data(span, scope)).collect();
            if let Err(error) = futures_executor::block_on(exporter.export(data)) {
                failed += 1;
                if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    tracing::warn!(%error, failed_exports = failed, "exporting spans failed");
                    last_warning = Some(Instant::now());
                    failed = 0;
                }
                if closing {
                    // Shutting down: one timeout is all the exit waits for.
                    break;
                }
            }
        }
        if dropped > 0 && last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(dropped, "span export queue full: spans dropped");
            last_warning = Some(Instant::now());
            dropped = 0;
        }
        spare.clear(limits.max_batch);
        queue.lock().flush_done = ticket;
        queue.done.notify_all();
        if closing {
            if let Err(error) = exporter.shutdown() {
                tracing::warn!(%error, "shutting the span exporter down failed");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Mutex as StdMutex;

    use opentelemetry_sdk::error::OTelSdkResult;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<StdMutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn attr(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
    }

    fn setup(limits: Limits) -> (Collect, Pipeline, tracing::Dispatch) {
        let collect = Collect::default();
        let (pipeline, layer) = Pipeline::start(collect.clone(), limits, Duration::from_secs(5)).unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        (collect, pipeline, dispatch)
    }

    #[test]
    fn spans_carry_names_kinds_status_fields_events_and_parents() {
        let (collect, pipeline, dispatch) = setup(Limits::default());
        tracing::dispatcher::with_default(&dispatch, || {
            let outer = tracing::info_span!(
                "http.request",
                otel.name = "POST",
                otel.kind = "server",
                count = 3_u64,
                huge = u64::MAX,
                ratio = 0.5,
                flag = true,
                later = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let inner = tracing::info_span!(parent: &outer, "mcp.tools_call", otel.name = %format_args!("tools/call {}", "echo"));
            inner.in_scope(|| tracing::warn!(code = "x", "something odd"));
            outer.record("later", "first");
            outer.record("later", "second");
            outer.record("otel.status_code", "ERROR");
            drop(inner);
            drop(outer);
        });
        assert!(pipeline.flush());
        let spans = collect.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 2);
        let inner = spans.iter().find(|s| s.name == "tools/call echo").unwrap();
        let outer = spans.iter().find(|s| s.name == "POST").unwrap();
        assert_eq!(outer.span_kind, SpanKind::Server);
        assert_eq!(inner.span_kind, SpanKind::Internal);
        assert_eq!(outer.parent_span_id, SpanId::INVALID);
        assert_eq!(inner.parent_span_id, outer.span_context.span_id());
        assert_eq!(inner.span_context.trace_id(), outer.span_context.trace_id());
        assert!(matches!(outer.status, Status::Error { .. }));
        assert_eq!(attr(outer, "count"), Some(Value::I64(3)));
        assert_eq!(attr(outer, "huge"), Some(Value::from(u64::MAX.to_string())));
        assert_eq!(attr(outer, "ratio"), Some(Value::F64(0.5)));
        assert_eq!(attr(outer, "flag"), Some(Value::Bool(true)));
        assert_eq!(attr(outer, "later"), Some(Value::from("second")));
        assert_eq!(outer.attributes.iter().filter(|kv| kv.key.as_str() == "later").count(), 1);
        assert!(attr(outer, "otel.name").is_none() && attr(outer, "otel.kind").is_none());
        assert_eq!(inner.events.len(), 1);
        let event = &inner.events[0];
        assert_eq!(event.name, "something odd");
        let event_attr =
            |key: &str| event.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone());
        assert_eq!(event_attr("level"), Some(Value::from("WARN")));
        assert_eq!(event_attr("code"), Some(Value::from("x")));
        assert!(outer.end_time >= outer.start_time);
    }

    #[test]
    fn an_error_inside_marks_the_span_failed_and_limits_hold() {
        let (collect, pipeline, dispatch) = setup(Limits::default());
        tracing::dispatcher::with_default(&dispatch, || {
            let failed = tracing::info_span!("failed");
            failed.in_scope(|| tracing::error!(level = "shadow", "store down"));
            drop(failed);
            let busy = tracing::info_span!("busy", n = tracing::field::Empty);
            busy.in_scope(|| {
                for i in 0..200 {
                    tracing::warn!(i, "again");
                }
            });
            for i in 0..5_000_u64 {
                busy.record("n", tracing::field::display(format!("value {i:0>40}")));
            }
            drop(busy);
        });
        assert!(pipeline.flush());
        let spans = collect.0.lock().unwrap().clone();
        let failed = spans.iter().find(|s| s.name == "failed").unwrap();
        assert!(matches!(failed.status, Status::Error { .. }));
        // The event's own `level` field does not replace the level attribute.
        let levels: Vec<_> = failed.events[0]
            .attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "level")
            .map(|kv| kv.value.clone())
            .collect();
        assert!(levels.contains(&Value::from("ERROR")), "{levels:?}");
        let busy = spans.iter().find(|s| s.name == "busy").unwrap();
        assert_eq!(busy.events.len(), MAX_EVENTS);
        assert_eq!(busy.events.dropped_count, 200 - 128);
        assert!(busy.dropped_attributes_count > 0, "text past the cap is counted");
        assert!(matches!(busy.status, Status::Unset));
    }

    #[test]
    fn a_remote_parent_puts_the_span_in_the_callers_trace() {
        let (collect, pipeline, dispatch) = setup(Limits::default());
        let caller = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "abc")]).unwrap(),
        );
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request");
            assert!(set_remote_parent(&span, &caller));
            let child = tracing::info_span!(parent: &span, "child");
            let context = span_context_of(&child).unwrap();
            assert_eq!(context.trace_id(), caller.trace_id());
            assert_eq!(context.trace_state().get("vendor"), Some("abc"));
            // Not a span of this subscriber: nothing to set.
            assert!(!set_remote_parent(&tracing::Span::none(), &caller));
        });
        assert!(pipeline.flush());
        let spans = collect.0.lock().unwrap().clone();
        let request = spans.iter().find(|s| s.name == "request").unwrap();
        assert_eq!(request.parent_span_id, caller.span_id());
        assert!(request.parent_span_is_remote);
        let child = spans.iter().find(|s| s.name == "child").unwrap();
        assert_eq!(child.parent_span_id, request.span_context.span_id());
        assert!(!child.parent_span_is_remote);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_growing() {
        // A delay long enough that nothing is exported until the flush.
        let limits = Limits { max_queue: 4, max_batch: 100, delay: Duration::from_secs(3600) };
        let (collect, pipeline, dispatch) = setup(limits);
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..10 {
                drop(tracing::info_span!("s"));
            }
        });
        assert_eq!(pipeline.queue.lock().dropped, 6);
        assert!(pipeline.flush());
        assert_eq!(collect.0.lock().unwrap().len(), 4);
    }

    #[test]
    fn shutdown_exports_what_is_queued() {
        let limits = Limits { max_queue: 100, max_batch: 100, delay: Duration::from_secs(3600) };
        let (collect, pipeline, dispatch) = setup(limits);
        tracing::dispatcher::with_default(&dispatch, || drop(tracing::info_span!("last")));
        drop(pipeline);
        assert_eq!(collect.0.lock().unwrap().len(), 1);
        // After shutdown, spans are not queued.
        tracing::dispatcher::with_default(&dispatch, || drop(tracing::info_span!("late")));
        assert_eq!(collect.0.lock().unwrap().len(), 1);
    }
}
